//! Jobs and pages through the generated clients, against mock servers on 127.0.0.1: an Enrich
//! batch submitted, polled and fetched in one call; a RocketReach lookup waited for; page/limit
//! and start/next pagination as streams.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use futures::TryStreamExt;
use tollgate::jobs::JobOptions;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ENRICH_KEY: &str = "sk_test_0123456789abcdef";
const RR_TOKEN: &str = "u-test-token-123456789";
const ROCKET_KEY: &str = "3e7k0123456789abcdef0123456789abcdef";

fn fast() -> JobOptions {
    JobOptions {
        interval: Duration::from_millis(20),
        deadline: Some(Duration::from_secs(5)),
    }
}

#[tokio::test]
async fn an_enrich_batch_is_submitted_polled_and_fetched_in_one_call() {
    let server = MockServer::start().await;
    let id = "665a1f4e2c3b7800129dce01";
    Mock::given(method("POST"))
        .and(path("/email-validation/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"batchId": id, "status": "queued", "itemCount": 3},
            "meta": {"creditsReserved": 3, "creditsPerItem": 1, "estimatedCredits": 3}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let status = |s: &str, done: i64| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"batchId": id, "status": s, "totalItems": 3, "processedItems": done}
        }))
    };
    Mock::given(method("GET"))
        .and(path(format!("/email-validation/batch/{id}")))
        .respond_with(status("processing", 1))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/email-validation/batch/{id}")))
        .respond_with(status("completed", 3))
        .mount(&server)
        .await;
    let result = |e: &str| serde_json::json!({"email": e, "result": "valid", "message": "ok", "isCatchAll": false, "confidence": "high"});
    Mock::given(method("GET"))
        .and(path(format!("/email-validation/batch/{id}/results")))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"batchId": id, "status": "completed", "results": [result("a@x.co"), result("b@x.co"), result("c@x.co")]},
            "meta": {"creditsUsed": 3, "creditsRefunded": 0}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let mut reports = Vec::new();
    let results = client
        .validate_emails(
            vec!["a@x.co".into(), "b@x.co".into(), "c@x.co".into()],
            &fast(),
            |p| reports.push(*p),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[2].email.as_deref(), Some("c@x.co"));
    assert_eq!(reports.len(), 2);
    assert_eq!((reports[0].done, reports[0].total), (1, Some(3)));
    // Reserved 3 on submit; the settlement (3 used, 0 refunded) confirms the reservation and
    // moves nothing, so the batch cost 3, not 3 + 3.
    let entries = client.runtime().ledger().entries();
    let ops: Vec<(&str, i64, i64)> = entries
        .iter()
        .map(|e| (e.operation.as_str(), e.charged, e.refunded))
        .collect();
    assert_eq!(ops, vec![("validate_email_batch", 3, 0)]);
    assert_eq!(client.runtime().ledger().spent(), 3);
}

#[tokio::test]
async fn a_failed_batch_is_an_error_and_a_slow_one_hits_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email-finder/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"success": true, "data": {"batchId": "b1", "status": "queued", "itemCount": 1}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/email-finder/batch/b1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"success": true, "data": {"batchId": "b1", "status": "failed"}}),
        ))
        .mount(&server)
        .await;
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let lead: tollgate_enrich::types::Lead = serde_json::from_value(
        serde_json::json!({"firstName": "Emily", "lastName": "Zhang", "domain": "figma.com"}),
    )
    .unwrap();
    let err = client
        .find_emails(vec![lead.clone()], &fast(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job email finder b1 failed: the batch failed"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email-finder/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"success": true, "data": {"batchId": "b2", "status": "queued", "itemCount": 1}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/email-finder/batch/b2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"success": true, "data": {"batchId": "b2", "status": "processing"}}),
        ))
        .mount(&server)
        .await;
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let options = JobOptions {
        interval: Duration::from_millis(20),
        deadline: Some(Duration::from_millis(100)),
    };
    let err = client
        .find_emails(vec![lead], &options, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, tollgate::Error::Deadline { .. }), "{err:?}");
}

#[tokio::test]
async fn a_rocketreach_lookup_is_waited_for_until_complete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/person/checkStatus"))
        .and(query_param("ids", "5244"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!([{"id": 5244, "status": "searching"}])),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/person/checkStatus"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!([{"id": 5244, "status": "complete", "name": "Jane Example"}]),
        ))
        .mount(&server)
        .await;
    let client = tollgate_rocketreach::Client::builder()
        .api_key(ROCKET_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let profile = client
        .wait_for_lookup(
            5244,
            tollgate_rocketreach::helpers::Family::Legacy,
            &fast(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(profile.name.as_deref(), Some("Jane Example"));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn rocketreach_search_rows_follow_start_and_next() {
    let server = MockServer::start().await;
    let page = |start: i64, next: i64, names: &[&str]| {
        let rows: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"name": n}))
            .collect();
        ResponseTemplate::new(201).set_body_json(serde_json::json!({"profiles": rows, "pagination": {"start": start, "next": next, "total": 5}}))
    };
    use wiremock::matchers::body_partial_json;
    Mock::given(method("POST"))
        .and(path("/person/search"))
        .and(body_partial_json(serde_json::json!({"start": 1})))
        .respond_with(page(1, 3, &["a", "b"]))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/person/search"))
        .and(body_partial_json(serde_json::json!({"start": 3})))
        .respond_with(page(3, 5, &["c", "d"]))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/person/search"))
        .and(body_partial_json(serde_json::json!({"start": 5})))
        .respond_with(page(5, 7, &["e"]))
        .mount(&server)
        .await;
    let client = tollgate_rocketreach::Client::builder()
        .api_key(ROCKET_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let input: tollgate_rocketreach::types::PersonSearchInput = serde_json::from_value(
        serde_json::json!({"query": {"current_title": ["Engineer"]}, "page_size": 2}),
    )
    .unwrap();
    let rows: Vec<_> = client
        .person_search_rows(input)
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.name.clone().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn requestrocket_page_limit_lists_stream_every_item() {
    let server = MockServer::start().await;
    let clients = |ids: std::ops::Range<u32>, page: i64| {
        let list: Vec<_> = ids
            .map(|i| serde_json::json!({"clientId": format!("c{i}")}))
            .collect();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"clients": list, "message": "Success", "pagination": {"page": page, "limit": 100, "total": 250, "pages": 3}}))
    };
    for (page, range) in [(1, 0..100), (2, 100..200), (3, 200..250)] {
        Mock::given(method("GET"))
            .and(path("/clients"))
            .and(query_param("page", page.to_string()))
            .and(query_param("limit", "100"))
            .respond_with(clients(range, page))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let all: Vec<_> = client.all_clients().try_collect().await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[249].client_id.as_deref(), Some("c249"));
}
