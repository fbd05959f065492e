//! The generated Spider News client on the wire, against a mock server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::num::NonZeroU64;

use tollgate_spidernews::Client;
use tollgate_spidernews::types::{ConnectionType, EntityType};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";

/// A mock server that answers one GET of `route` carrying the key with `body`, and a client of
/// it (the server checks when dropped that it was asked once).
async fn answering_once(route: &str, body: serde_json::Value) -> (MockServer, Client) {
    answering(route, ResponseTemplate::new(200).set_body_json(body), 1).await
}

/// A mock server that answers `times` GETs of `route` carrying the key with `answer`, and a
/// client of it (the server checks when dropped that it was asked `times` times).
async fn answering(route: &str, answer: ResponseTemplate, times: u64) -> (MockServer, Client) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route))
        .and(header("x-api-key", KEY))
        .respond_with(answer)
        .expect(times)
        .mount(&server)
        .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .build()
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn list_filters_are_repeated_and_the_key_is_a_header() {
    let body = serde_json::json!({"rows_returned": 0, "connections": []});
    let (server, client) = answering_once("/api/connections", body).await;
    let answer = client
        .list_connections()
        .source_name("Tesla")
        .connection_type(vec![ConnectionType::Deal, ConnectionType::Sanction])
        .target_node_type(vec![EntityType::Org, EntityType::Gpe])
        .connection_limit(NonZeroU64::new(5).unwrap())
        .min_date(chrono::NaiveDate::from_ymd_opt(2024, 5, 30).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.rows_returned, 0);

    let requests = server.received_requests().await.unwrap();
    let query = requests[0].url.query().unwrap().to_owned();
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort_unstable();
    assert_eq!(
        pairs,
        [
            "connection_limit=5",
            "connection_type=Deal",
            "connection_type=Sanction",
            "min_date=2024-05-30",
            "source_name=Tesla",
            "target_node_type=GPE",
            "target_node_type=ORG",
        ]
    );
    // The key travels in the header only, never in the URL.
    assert!(!query.contains(KEY));
    assert!(!requests[0].headers.contains_key("api-version"));
}

#[tokio::test]
async fn insufficient_rows_comes_back_parsed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/pathfinding"))
        .respond_with(ResponseTemplate::new(402).set_body_json(serde_json::json!({
            "message": "Not enough rows", "rows_required": 57, "rows_remaining": 20
        })))
        .mount(&server)
        .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .build()
        .unwrap();
    match client
        .find_paths()
        .source_name("Tesla")
        .target_name("Raytheon")
        .send()
        .await
    {
        Err(tollgate_spidernews::Error::Api(e)) => {
            assert_eq!(e.status, 402);
            assert_eq!(e.kind, tollgate::ErrorKind::OutOfCredits);
            let body: tollgate_spidernews::types::Error = e.body_as().unwrap();
            assert_eq!(
                (body.rows_required, body.rows_remaining),
                (Some(57), Some(20))
            );
        }
        other => panic!("expected a 402, got {other:?}"),
    }
}

#[test]
fn keys_must_be_url_safe_base64() {
    let err = Client::builder()
        .api_key("Gp41Z+GgyZQ9")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("position 5"), "{err}");
}

#[tokio::test]
async fn a_send_future_is_small_and_still_sends() {
    // The runtime's steps live in one box per call: the future `send()` returns is copied whole
    // each time a caller moves it (into `join_all`, a spawned task, a `Vec`), so it must not
    // carry them. It was 4 KB when it did.
    let body = serde_json::json!({"rows_returned": 0, "entities": []});
    let (_server, client) = answering_once("/api/entities", body).await;
    let call = client.list_entities().ent_name("Tesla").send();
    let size = std::mem::size_of_val(&call);
    assert!(size <= 512, "a send() future of {size} bytes");
    assert_eq!(call.await.unwrap().rows_returned, 0);
}

#[tokio::test]
async fn a_success_keeps_its_status_and_headers_and_is_decoded_once() {
    // The runtime reads the body once (for the size limit and the cost) and the generated
    // call decodes those bytes: the answer's status and headers still reach the caller, and
    // what the server sent (not an empty body) is what is decoded.
    let body = serde_json::json!({"rows_returned": 2, "entities": [
        {"ent_uuid": "2fde488e-26be-4c1d-8d4c-000000000001", "ent_name": "Tesla", "ent_type": "ORG",
         "ent_aliases": ["Tesla Inc"], "occurrence_count": "12"},
        {"ent_uuid": "2fde488e-26be-4c1d-8d4c-000000000002", "ent_name": "Tesla Energy",
         "ent_type": "ORG", "ent_aliases": [], "occurrence_count": "3"}]});
    let answer = ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-request-id", "req-7");
    let (_server, client) = answering("/api/entities", answer, 2).await;
    for _ in 0..2 {
        let answer = client
            .list_entities()
            .ent_name("Tesla")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-request-id"], "req-7");
        assert_eq!(answer.headers()["content-type"], "application/json");
        assert_eq!(answer.rows_returned, 2);
        let names: Vec<_> = answer
            .entities
            .iter()
            .map(|e| e.ent_name.as_str())
            .collect();
        assert_eq!(names, ["Tesla", "Tesla Energy"]);
        assert_eq!(answer.entities[0].ent_aliases, ["Tesla Inc"]);
    }
    // Each answer was priced from the same bytes: 2 rows each.
    assert_eq!(client.runtime().ledger().totals().charged, 4);
}
