//! Each rule: a document that breaks it, and the valid base document that passes.

use serde_json::{Value, json};

use super::{Policy, Rule, validate};

/// A small document that follows every rule.
fn base() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things/{id}": {
                "get": {
                    "operationId": "get_thing",
                    "parameters": [
                        {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "404": {"description": "nf", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        "429": {"description": "slow", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                },
                "post": {
                    "operationId": "create_thing",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "responses": {
                        "201": {"description": "made", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "400": {"$ref": "#/components/responses/BadRequest"}
                    }
                }
            }
        },
        "components": {
            "responses": {
                "BadRequest": {"description": "bad", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Thing": {"type": "object", "properties": {
                    "id": {"type": "integer"},
                    "state": {"$ref": "#/components/schemas/State"},
                    "kind": {"type": "string", "enum": ["only"]}
                }},
                "State": {"oneOf": [
                    {"title": "Known", "allOf": [{"$ref": "#/components/schemas/KnownState"}]},
                    {"title": "Other", "type": "string", "not": {"enum": ["a", "b"]}}
                ]},
                "KnownState": {"type": "string", "enum": ["a", "b"]},
                "Error": {"type": "object", "properties": {"detail": {"type": "string"}}}
            }
        }
    })
}

/// The rules broken by `doc`, with their messages.
fn broken(doc: &Value) -> Vec<(Rule, String)> {
    match validate(
        doc,
        &Policy {
            forbid_response_formats: vec!["date-time".into()],
        },
    ) {
        Ok(_) => Vec::new(),
        Err(findings) => findings
            .into_iter()
            .map(|f| (f.rule, f.to_string()))
            .collect(),
    }
}

/// Asserts that `doc` breaks exactly `rule` (possibly several times) and that every message
/// contains `needle`.
fn assert_breaks(doc: &Value, rule: Rule, needle: &str) {
    let found = broken(doc);
    assert!(
        !found.is_empty(),
        "expected [{}], the document passed",
        rule.name()
    );
    for (r, message) in &found {
        assert_eq!(*r, rule, "unexpected finding: {message}");
        assert!(message.contains(needle), "`{needle}` not in: {message}");
        assert!(
            message.starts_with(&format!("[{}] ", rule.name())),
            "{message}"
        );
    }
}

/// Sets (or adds) the value at `pointer`.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    let parent = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match parent {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(list) => list[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{pointer}: the parent is not a container"),
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = &key.replace("~1", "/").replace("~0", "~");
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap_or_else(|| panic!("no {pointer}"));
}

const GET: &str = "/paths/~1things~1{id}/get";
const POST: &str = "/paths/~1things~1{id}/post";

#[test]
fn the_base_document_passes() {
    assert_eq!(broken(&base()), Vec::new());
}

#[test]
fn structure() {
    let mut doc = base();
    set(
        &mut doc,
        "/info/contact",
        json!({"email": ["email protected"]}),
    );
    assert_breaks(
        &doc,
        Rule::Structure,
        "info.contact.email: not valid OpenAPI 3.0: invalid type: sequence",
    );
    let mut doc = base();
    set(&mut doc, "/openapi", json!("3.1.0"));
    assert_breaks(&doc, Rule::Structure, "progenitor reads only 3.0.x");
}

#[test]
fn operation_id_missing_or_duplicated() {
    let mut doc = base();
    remove(&mut doc, &format!("{GET}/operationId"));
    assert_breaks(&doc, Rule::OperationId, "GET /things/{id}: no operationId");
    let mut doc = base();
    set(&mut doc, &format!("{POST}/operationId"), json!("get_thing"));
    assert_breaks(
        &doc,
        Rule::OperationId,
        "POST /things/{id} (get_thing): operationId `get_thing` is used twice",
    );
}

#[test]
fn path_reference() {
    let mut doc = base();
    set(
        &mut doc,
        "/paths/~1other",
        json!({"$ref": "#/components/pathItems/Other"}),
    );
    assert_breaks(
        &doc,
        Rule::PathReference,
        "/other: the path item is a reference",
    );
}

#[test]
fn path_parameters() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/0/required"),
        json!(false),
    );
    // openapiv3 itself refuses an optional path parameter.
    assert!(!broken(&doc).is_empty());
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/0/name"),
        json!("thing_id"),
    );
    let found = broken(&doc);
    assert!(
        found.iter().all(|(r, _)| *r == Rule::PathParameter),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(_, m)| m.contains("`thing_id` does not appear in the path")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(_, m)| m.contains("`{id}` in the path has no path parameter")),
        "{found:?}"
    );
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/0/style"),
        json!("label"),
    );
    assert_breaks(&doc, Rule::PathParameter, "only `simple` is supported");
}

#[test]
fn parameter_styles() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/1/style"),
        json!("deepObject"),
    );
    assert_breaks(
        &doc,
        Rule::ParameterStyle,
        "query parameter `q` has style DeepObject",
    );
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/1"),
        json!({"name": "session", "in": "cookie", "schema": {"type": "string"}}),
    );
    assert_breaks(&doc, Rule::ParameterStyle, "cookie parameter `session`");
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/1"),
        json!({"name": "q", "in": "query", "content": {"application/json": {"schema": {"type": "object"}}}}),
    );
    assert_breaks(&doc, Rule::ParameterStyle, "parameter `q` uses `content`");
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/1/explode"),
        json!(false),
    );
    assert_breaks(
        &doc,
        Rule::ParameterStyle,
        "query parameter `q` has `explode: false`",
    );
}

#[test]
fn several_request_content_types() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{POST}/requestBody/content/application~1x-www-form-urlencoded"),
        json!({"schema": {"$ref": "#/components/schemas/Thing"}}),
    );
    assert_breaks(
        &doc,
        Rule::SingleRequestContentType,
        "POST /things/{id} (create_thing): the request body lists 2 content types (application/json, application/x-www-form-urlencoded)",
    );
}

#[test]
fn unsupported_request_content_type() {
    let mut doc = base();
    let body = doc
        .pointer(&format!("{POST}/requestBody/content/application~1json"))
        .unwrap()
        .clone();
    remove(
        &mut doc,
        &format!("{POST}/requestBody/content/application~1json"),
    );
    set(
        &mut doc,
        &format!("{POST}/requestBody/content/multipart~1form-data"),
        body,
    );
    assert_breaks(
        &doc,
        Rule::RequestContentType,
        "`multipart/form-data` cannot be sent",
    );
}

#[test]
fn inline_response_schema() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/200/content/application~1json/schema"),
        json!({"type": "object"}),
    );
    assert_breaks(
        &doc,
        Rule::InlineResponseSchema,
        "GET /things/{id} (get_thing): response 200: the JSON body schema is inline",
    );
    // Also inline on an error response.
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/404/content/application~1json/schema"),
        json!({"type": "object"}),
    );
    let found = broken(&doc);
    assert!(
        found
            .iter()
            .any(|(r, m)| *r == Rule::InlineResponseSchema && m.contains("response 404")),
        "{found:?}"
    );
}

#[test]
fn different_success_schemas() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/202"),
        json!({"description": "accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
    );
    assert_breaks(
        &doc,
        Rule::OneSuccessSchema,
        "the success responses carry different bodies (200: #/components/schemas/Thing; 202: #/components/schemas/Error)",
    );
    // A success without a body next to one with a body is also two types.
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/204"),
        json!({"description": "empty"}),
    );
    assert_breaks(&doc, Rule::OneSuccessSchema, "204: no body");
}

#[test]
fn different_error_schemas() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/429/content/application~1json/schema"),
        json!({"$ref": "#/components/schemas/Thing"}),
    );
    assert_breaks(
        &doc,
        Rule::OneErrorSchema,
        "the error responses carry different bodies (404: #/components/schemas/Error; 429: #/components/schemas/Thing)",
    );
    // An error without a body next to errors with one.
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/500"),
        json!({"description": "oops"}),
    );
    assert_breaks(&doc, Rule::OneErrorSchema, "500: no body");
}

#[test]
fn missing_error_schema() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/404"),
        json!({"description": "nf"}),
    );
    set(
        &mut doc,
        &format!("{GET}/responses/429"),
        json!({"description": "slow"}),
    );
    assert_breaks(
        &doc,
        Rule::ErrorSchema,
        "the error responses (404, 429) have no JSON schema",
    );
    let mut doc = base();
    remove(&mut doc, &format!("{GET}/responses/404"));
    remove(&mut doc, &format!("{GET}/responses/429"));
    assert_breaks(&doc, Rule::ErrorSchema, "no error responses are declared");
}

#[test]
fn default_response() {
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/responses/default"),
        json!({"description": "any", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
    );
    assert_breaks(
        &doc,
        Rule::DefaultResponse,
        "a `default` response counts as both success and error",
    );
}

#[test]
fn schema_references() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/id",
        json!({"$ref": "#/components/schemas/Missing"}),
    );
    assert_breaks(
        &doc,
        Rule::SchemaReference,
        "#/components/schemas/Thing/properties/id: `$ref: #/components/schemas/Missing`: there is no schema `Missing`",
    );
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/id",
        json!({"$ref": "other.yaml#/Thing"}),
    );
    assert_breaks(
        &doc,
        Rule::SchemaReference,
        "may only reference `#/components/schemas/<name>`",
    );
}

#[test]
fn schema_not() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/State/oneOf/1/not",
        json!({"$ref": "#/components/schemas/KnownState"}),
    );
    assert_breaks(
        &doc,
        Rule::SchemaNot,
        "#/components/schemas/State/oneOf/1: `not` must be exactly `{enum: [...]}`",
    );
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/State/oneOf/1/not",
        json!({"enum": ["a", 1]}),
    );
    assert_breaks(&doc, Rule::SchemaNot, "`not` must be exactly");
}

#[test]
fn closed_response_enum() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/state",
        json!({"$ref": "#/components/schemas/KnownState"}),
    );
    assert_breaks(
        &doc,
        Rule::ClosedResponseEnum,
        "GET /things/{id} (get_thing): response 200 application/json -> Thing.state -> KnownState: the enum [\"a\", \"b\"] is closed",
    );
    // A closed enum only in a request is fine.
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Input",
        json!({"type": "string", "enum": ["x", "y"]}),
    );
    set(
        &mut doc,
        &format!("{GET}/parameters/1/schema"),
        json!({"$ref": "#/components/schemas/Input"}),
    );
    assert_eq!(broken(&doc), Vec::new());
}

#[test]
fn constrained_response_string() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/name",
        json!({"type": "string", "maxLength": 32}),
    );
    assert_breaks(
        &doc,
        Rule::ConstrainedResponseString,
        "-> Thing.name: a response string with maxLength",
    );
    // The same limit on a request-only schema is fine.
    let mut doc = base();
    set(
        &mut doc,
        &format!("{GET}/parameters/1/schema"),
        json!({"type": "string", "maxLength": 32, "pattern": "^a"}),
    );
    assert_eq!(broken(&doc), Vec::new());
}

#[test]
fn response_format() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/updated",
        json!({"type": "string", "format": "date-time"}),
    );
    assert_breaks(
        &doc,
        Rule::ResponseFormat,
        "`format: date-time` is forbidden in this provider's responses",
    );
    // Allowed when the provider's policy does not forbid it.
    assert!(validate(&doc, &Policy::default()).is_ok());
}

#[test]
fn secret_field() {
    let mut doc = base();
    set(
        &mut doc,
        "/components/schemas/Thing/properties/api_key",
        json!({"type": "string"}),
    );
    assert_breaks(
        &doc,
        Rule::SecretField,
        "#/components/schemas/Thing/properties/api_key: `api_key` holds a credential but is a plain string",
    );
    set(
        &mut doc,
        "/components/schemas/Thing/properties/api_key",
        json!({"type": "string", "format": "password"}),
    );
    assert_eq!(broken(&doc), Vec::new());
    // Through a reference as well.
    set(
        &mut doc,
        "/components/schemas/Key",
        json!({"type": "string"}),
    );
    set(
        &mut doc,
        "/components/schemas/Thing/properties/webhook_secret",
        json!({"$ref": "#/components/schemas/Key"}),
    );
    assert_breaks(
        &doc,
        Rule::SecretField,
        "`webhook_secret` holds a credential",
    );
}

#[test]
fn every_finding_is_reported_at_once() {
    let mut doc = base();
    remove(&mut doc, &format!("{GET}/operationId"));
    set(
        &mut doc,
        &format!("{GET}/responses/200/content/application~1json/schema"),
        json!({"type": "object"}),
    );
    let rules: Vec<Rule> = broken(&doc).into_iter().map(|(r, _)| r).collect();
    assert!(
        rules.contains(&Rule::OperationId) && rules.contains(&Rule::InlineResponseSchema),
        "{rules:?}"
    );
}
