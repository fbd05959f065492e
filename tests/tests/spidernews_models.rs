//! Snapshots of the generated Spider News models: the JSON Schema of every model, and every
//! documented example payload of `specs/spidernews/examples/` decoded into its generated type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate_spidernews::types;

tollgate_tests::model_schemas!(
    "spidernews",
    tollgate_spidernews::types,
    [
        Connection,
        ConnectionData,
        ConnectionType,
        ConnectionTypeValue,
        ConnectionTypeValueOther,
        ConnectionsResponse,
        EntitiesResponse,
        Entity,
        EntityRef,
        EntityType,
        EntityTypeValue,
        EntityTypeValueOther,
        Error,
        Path,
        PathfindingResponse,
    ]
);

tollgate_tests::examples!("spidernews", tollgate_spidernews::types, {
    entities_facebook: EntitiesResponse <= "entities-facebook.json";
    entities_raul_castro: EntitiesResponse <= "entities-raul-castro.json";
    entities_facebook_two_facets: EntitiesResponse <= "entities-facebook-two-facets.json";
    entities_without_name: EntitiesResponse <= "entities-without-name.json";
    connections_apikeys: ConnectionsResponse <= "connections-apikeys.json";
    connections_unknown_type_and_field: ConnectionsResponse <= "connections-unknown-type-and-field.json";
    pathfinding_modelled: PathfindingResponse <= "pathfinding-modelled.json";
    pathfinding_no_path: PathfindingResponse <= "pathfinding-no-path.json";
    error_insufficient_rows: Error <= "error-insufficient-rows.json";
});

#[test]
fn unknown_types_decode_as_other() {
    let answer: types::ConnectionsResponse = tollgate_tests::decode_example(
        "spidernews",
        "ConnectionsResponse",
        "connections-unknown-type-and-field.json",
    );
    let connection = &answer.connections[0];
    match &connection.connection_data.type_ {
        Some(types::ConnectionTypeValue::Other(other)) => assert_eq!(other.as_str(), "Invests"),
        unexpected => panic!("expected Other(\"Invests\"), got {unexpected:?}"),
    }
    assert!(matches!(
        connection.source_entity.ent_type,
        types::EntityTypeValue::Known(types::EntityType::Org)
    ));
    assert!(
        matches!(&connection.target_entity.ent_type, types::EntityTypeValue::Other(t) if t.as_str() == "WEAPON")
    );
}

#[test]
fn the_twelve_entity_types_and_twenty_five_connection_types() {
    let entity_types = [
        "ORG",
        "PRODUCT",
        "GPE",
        "PERSON",
        "TITLE",
        "FAC",
        "TECHNOLOGY",
        "LAW",
        "LOC",
        "NORP",
        "THREAT",
        "EVENT",
    ];
    for t in entity_types {
        let parsed: types::EntityType = t.parse().unwrap();
        assert_eq!(parsed.to_string(), t);
    }
    let connection_types = [
        "Coop",
        "Oppo",
        "Legal",
        "Deal",
        "GoodsTran",
        "Sanction",
        "Merger",
        "Acquisition",
        "IsPartOf",
        "IsA",
        "HasTitle",
        "Competitors",
        "EquivalentTo",
        "BetterThan",
        "IsSubclassOf",
        "WorksFor",
        "Owns",
        "OperatesIn",
        "IsFrom",
        "Uses",
        "Produces",
        "Affects",
        "Prevents",
        "ParticipatesIn",
        "KnownAssociates",
    ];
    for t in connection_types {
        let parsed: types::ConnectionType = t.parse().unwrap();
        assert_eq!(parsed.to_string(), t);
    }
    // Request enums are closed: a typo is refused before any request.
    assert!("Org".parse::<types::EntityType>().is_err());
}

#[test]
fn sml_is_optional_and_article_date_nullable() {
    let answer: types::EntitiesResponse = tollgate_tests::decode_example(
        "spidernews",
        "EntitiesResponse",
        "entities-without-name.json",
    );
    assert_eq!(answer.entities[0].sml, None);
    let paths: types::PathfindingResponse = tollgate_tests::decode_example(
        "spidernews",
        "PathfindingResponse",
        "pathfinding-modelled.json",
    );
    assert_eq!(paths.paths[0][1].connection_data.article_date, None);
    assert_eq!(
        paths.paths[0][0].connection_data.article_date.as_deref(),
        Some("2020-01-10")
    );
}
