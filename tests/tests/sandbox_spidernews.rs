//! The Spider News client end to end against the sandbox: every operation called and decoded,
//! the sandbox's row ledger equal to what the client recorded, the 402 pre-flight refusal, and
//! injected faults retried.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::num::NonZeroU64;

use tollgate_sandbox::spidernews::EXAMPLE_KEY;
use tollgate_sandbox::{Provider, Sandbox};
use tollgate_spidernews::Client;
use tollgate_spidernews::types::{ConnectionType, EntityType, EntityTypeValue};

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(EXAMPLE_KEY)
        .base_url(sandbox.base_url(Provider::SpiderNews))
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_operation_answers_and_the_ledgers_agree() {
    let sandbox = Sandbox::start().await.unwrap();
    let client = client(&sandbox);

    let found = client
        .list_entities()
        .ent_name("Facebook")
        .send()
        .await
        .unwrap();
    let names: Vec<(&str, Option<f64>)> = found
        .entities
        .iter()
        .map(|e| (e.ent_name.as_str(), e.sml))
        .collect();
    assert_eq!(names[0].0, "Facebook");
    assert_eq!(
        found.entities[0].occurrence_count.as_deref(),
        Some("151"),
        "ties by occurrence"
    );
    assert!(
        names
            .iter()
            .any(|(n, s)| *n == "Facebook Inc" && (s.unwrap() - 0.692_307_7).abs() < 1e-6),
        "{names:?}"
    );
    assert_eq!(
        found.rows_returned,
        i64::try_from(found.entities.len()).unwrap()
    );

    let orgs = client
        .list_entities()
        .ent_type(vec![EntityType::Org])
        .limit(NonZeroU64::new(5).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(orgs.entities.len(), 5);
    assert!(
        orgs.entities
            .iter()
            .all(|e| matches!(e.ent_type, EntityTypeValue::Known(EntityType::Org)))
    );
    assert!(orgs.entities.iter().all(|e| e.sml.is_none()));

    let kelley = client
        .list_connections()
        .source_name("Kelley")
        .send()
        .await
        .unwrap();
    assert_eq!(kelley.connections.len(), 2);
    assert_eq!(
        kelley.rows_returned, 5,
        "3 unique nodes + 2 unique edges, as documented"
    );
    assert_eq!(
        tollgate_spidernews::count_rows(&serde_json::to_value(&*kelley).unwrap()).rows(),
        5
    );

    let paths = client
        .find_paths()
        .source_name("Tesla")
        .target_name("Raytheon")
        .send()
        .await
        .unwrap();
    assert!(!paths.paths.is_empty());
    let first = &paths.paths[0];
    assert!(first.len() <= 9);
    let ends = |c: &tollgate_spidernews::types::Connection| {
        [
            c.source_entity.ent_name.clone(),
            c.target_entity.ent_name.clone(),
        ]
    };
    assert!(ends(&first[0]).contains(&"Tesla".to_owned()));
    assert!(ends(first.last().unwrap()).contains(&"Raytheon".to_owned()));

    let deals = client
        .list_connections()
        .connection_type(vec![ConnectionType::Deal])
        .send()
        .await
        .unwrap();
    assert!(
        deals
            .connections
            .iter()
            .all(|c| format!("{:?}", c.connection_data.type_).contains("Deal"))
    );

    // What the sandbox billed equals what the client recorded.
    let billed = tollgate_sandbox::spidernews::DEFAULT_ROWS
        - sandbox.spidernews().rows_left(EXAMPLE_KEY).unwrap();
    assert_eq!(client.runtime().ledger().spent(), billed);
    assert!(billed > 0);
}

#[tokio::test]
async fn the_sandbox_refuses_what_the_key_cannot_afford_and_bad_input() {
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.spidernews().set_rows(EXAMPLE_KEY, 25);
    let client = client(&sandbox);
    // 30 rows may come back; 25 are left: 402 with the numbers.
    let err = client.list_connections().send().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status, 402);
    assert_eq!(api.body.as_ref().unwrap()["rows_required"], 30);
    assert_eq!(api.body.as_ref().unwrap()["rows_remaining"], 25);
    assert_eq!(sandbox.spidernews().rows_left(EXAMPLE_KEY), Some(25));

    // An unknown key: 401. A bad UUID: 400. Pathfinding without a target: 400.
    let stranger = Client::builder()
        .api_key("AAAA")
        .base_url(sandbox.base_url(Provider::SpiderNews))
        .build()
        .unwrap();
    assert_eq!(
        stranger.list_entities().send().await.unwrap_err().status(),
        Some(401)
    );
    // The client types UUIDs: a malformed one never leaves it.
    let err = client
        .list_connections()
        .source_uuid("not-a-uuid")
        .connection_limit(NonZeroU64::new(1).unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, tollgate::Error::InvalidRequest(ref m) if m.contains("source_uuid")),
        "{err:?}"
    );
    // The sandbox refuses one from any other client.
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/api/connections?source_uuid=not-a-uuid",
            sandbox.base_url(Provider::SpiderNews)
        ))
        .header("X-API-KEY", EXAMPLE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("source_uuid") && message.contains("uuid"),
        "{message}"
    );
    let err = client
        .find_paths()
        .source_name("Tesla")
        .path_limit(NonZeroU64::new(1).unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn both_list_forms_and_both_key_forms_are_accepted() {
    let sandbox = Sandbox::start().await.unwrap();
    let base = sandbox.base_url(Provider::SpiderNews);
    let http = reqwest::Client::new();
    let get = |query: &str| http.get(format!("{base}/api/entities?{query}")).send();
    let comma: serde_json::Value = get(&format!(
        "api_key={EXAMPLE_KEY}&ent_type=ORG,%20PERSON&limit=50"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let repeated: serde_json::Value = get(&format!(
        "api_key={EXAMPLE_KEY}&ent_type=ORG&ent_type=PERSON&limit=50"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(comma, repeated);
    let unknown = get(&format!("api_key={EXAMPLE_KEY}&ent_type=WEAPON"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn injected_faults_are_retried_by_the_client() {
    let sandbox = Sandbox::start().await.unwrap();
    let client = client(&sandbox);
    sandbox.faults().fail_next(1, 429, Some(1));
    let answer = client
        .list_entities()
        .ent_name("Tesla")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.entities[0].ent_name, "Tesla");
    assert_eq!(sandbox.faults().state().fail.map_or(0, |f| f.count), 0);
    sandbox.faults().invalid_json_next(1);
    let err = client.list_entities().send().await.unwrap_err();
    assert!(
        matches!(err, tollgate::Error::InvalidResponse { .. }),
        "{err:?}"
    );
}
