//! The tollgate runtime on the wire, through the generated clients, against mock servers on
//! 127.0.0.1: retries, waits, budget refusals, rate limiting, auth headers and error envelopes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollgate::{Budget, RateLimitPlan, RetryPolicy};
use tollgate_tests::hostile::{Hostile, Reply};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RR_TOKEN: &str = "u-test-token-123456789";
const ENRICH_KEY: &str = "sk_test_0123456789abcdef";
const SPIDER_KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";
const ROCKET_KEY: &str = "3e7k0123456789abcdef0123456789abcdef";

fn requestrocket(server: &MockServer) -> tollgate_requestrocket::Client {
    tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap()
}

fn clients_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"clients": [], "message": "Success"}))
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_waits_that_long_and_retries_once() {
    let server = Hostile::start(|_, n| {
        if n == 0 {
            Reply::json(
                429,
                serde_json::json!({"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED", "status": 429}),
            )
            .header("Retry-After", "1")
        } else {
            Reply::json(200, serde_json::json!({"clients": [], "message": "Success"}))
        }
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(None)
        .build()
        .unwrap();
    let answer = client.list_clients().send().await.unwrap();
    assert_eq!(answer.message.as_deref(), Some("Success"));
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one retry");
    // Exactly the wait the server asked for (tokio's paused clock).
    assert_eq!(seen[1].at - seen[0].at, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn two_503s_then_200_succeeds_on_the_third_attempt() {
    let server = Hostile::start(|_, n| {
        if n < 2 {
            Reply::json(503, serde_json::json!({"error": "down"}))
        } else {
            Reply::json(
                200,
                serde_json::json!({"clients": [], "message": "Success"}),
            )
        }
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(None)
        .build()
        .unwrap();
    let answer = client.list_clients().send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    // Backoff 0.5 s then 1 s, each drawn between half and all of it.
    let (first, second) = (seen[1].at - seen[0].at, seen[2].at - seen[1].at);
    assert!(
        first >= Duration::from_millis(250) && first <= Duration::from_millis(500),
        "{first:?}"
    );
    assert!(
        second >= Duration::from_millis(500) && second <= Duration::from_millis(1000),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_503_forever_stops_at_the_attempt_limit_with_the_history() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            serde_json::json!({"error": "Service unavailable", "code": "INTERNAL_ERROR", "status": 503}),
        ))
        .mount(&server)
        .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.uri())
        .rate_limit(None)
        .retry(RetryPolicy::default().with_base(Duration::from_millis(10)))
        .build()
        .unwrap();

    let err = client.list_clients().send().await.unwrap_err();
    assert_eq!(received(&server).await, 3);
    let api = err.api().expect("an API error");
    assert_eq!((api.status, api.attempts), (503, 3));
    assert_eq!(
        api.history,
        [tollgate::retry::AttemptOutcome::Status(503); 3]
    );
    assert_eq!(
        api.stopped,
        Some(tollgate::retry::StopReason::AttemptsExhausted)
    );
    assert_eq!(api.message.as_deref(), Some("Service unavailable"));
    assert_eq!(api.code.as_deref(), Some("INTERNAL_ERROR"));
    assert_eq!(
        err.to_string(),
        "RequestRocket answered HTTP 503 to list_clients: Service unavailable (INTERNAL_ERROR) after 3 attempts [503, 503, 503]; not retried: attempts exhausted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_fails_at_once_with_the_wait() {
    let server = Hostile::start(|_, _| {
        Reply::json(429, serde_json::json!({"error": "slow down"})).header("Retry-After", "120")
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(None)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = client.list_clients().send().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "no sleep");
    assert_eq!(server.seen().len(), 1);
    match err {
        tollgate::Error::RetryLater {
            wait,
            status,
            attempts,
            ..
        } => {
            assert_eq!(
                (wait, status, attempts),
                (Duration::from_secs(120), Some(429), 1)
            );
        }
        other => panic!("expected RetryLater, got {other:?}"),
    }
}

#[tokio::test]
async fn enrichs_retry_after_body_field_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wallets/balance"))
        .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "statusCode": 429, "error": "Too Many Requests", "message": "Rate limit exceeded, please retry later", "retryAfter": 90
        })))
        .mount(&server)
        .await;
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    match client.get_wallet_balance().send().await.unwrap_err() {
        tollgate::Error::RetryLater { wait, .. } => assert_eq!(wait, Duration::from_secs(90)),
        other => panic!("expected RetryLater, got {other:?}"),
    }
}

#[tokio::test]
async fn a_charged_post_that_times_out_is_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/email-validation"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body =
        tollgate_enrich::types::EmailValidationRequest::builder().email("sarah.chen@stripe.com");
    let err = client.validate_email().body(body).send().await.unwrap_err();
    assert!(
        matches!(err, tollgate::Error::Transport { timeout: true, .. }),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        received(&server).await,
        1,
        "the POST reached the server once and was not re-sent"
    );
    // The ledger keeps the most it may have cost.
    assert_eq!(client.runtime().ledger().spent(), 1);
}

#[tokio::test]
async fn a_free_get_that_times_out_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(clients_ok().set_delay(Duration::from_secs(2)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(clients_ok())
        .mount(&server)
        .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.uri())
        .rate_limit(None)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    client.list_clients().send().await.unwrap();
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_charged_post() {
    // Reserve a port, then start listening on it only after the first attempt has failed.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let started: Arc<Mutex<Option<MockServer>>> = Arc::default();
    let slot = Arc::clone(&started);
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = std::net::TcpListener::bind(address).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("POST"))
            .and(path("/email-validation"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "success": true, "data": {"email": "a@b.co", "result": "valid"}, "meta": {"creditsUsed": 1}
            })))
            .mount(&server)
            .await;
        *slot.lock().unwrap() = Some(server);
    });
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(format!("http://{address}"))
        .rate_limit(None)
        .retry(
            RetryPolicy::default()
                .with_base(Duration::from_millis(400))
                .with_jitter(false),
        )
        .build()
        .unwrap();
    let body = tollgate_enrich::types::EmailValidationRequest::builder().email("a@b.co");
    let answer = client.validate_email().body(body).send().await.unwrap();
    starter.await.unwrap();
    assert_eq!(answer.status(), 200);
    let server = started.lock().unwrap().take().unwrap();
    assert_eq!(received(&server).await, 1);
    assert_eq!(client.runtime().ledger().spent(), 1);
}

#[tokio::test]
async fn the_budget_refuses_before_any_request_reaches_the_server() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(server.uri())
        .budget(Budget::rows(20))
        .build()
        .unwrap();
    let err = client
        .find_paths()
        .source_name("Tesla")
        .target_name("Raytheon")
        .send()
        .await
        .unwrap_err();
    match &err {
        tollgate::Error::CostRefused(refusal) => {
            assert_eq!((refusal.needed, refusal.remaining), (57, 20));
            assert_eq!(refusal.parameter.as_deref(), Some("path_limit"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "refused before sending: find_paths may cost up to 57 rows but the budget has 20 left; lower `path_limit`"
    );
    assert_eq!(received(&server).await, 0);
}

#[tokio::test]
async fn rows_returned_feeds_the_ledger_and_the_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/connections"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"rows_returned": 25, "connections": []})),
        )
        .mount(&server)
        .await;
    let client = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(server.uri())
        .budget(Budget::rows(60))
        .build()
        .unwrap();
    client.list_connections().send().await.unwrap();
    let ledger = client.runtime().ledger();
    assert_eq!(ledger.spent(), 25);
    let entry = &ledger.entries()[0];
    assert_eq!(
        (entry.operation.as_str(), entry.estimated, entry.charged),
        ("list_connections", 30, 25)
    );
    // 35 rows left: a default call (30) fits, then the next one does not.
    client.list_connections().send().await.unwrap();
    let err = client.list_connections().send().await.unwrap_err();
    assert!(
        matches!(err, tollgate::Error::CostRefused(ref r) if r.remaining == 10),
        "{err:?}"
    );
}

#[tokio::test]
async fn enrich_reports_credits_used_and_settlements() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/email-validation/batch/665a1f4e2c3b7800129dce01/results"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"batchId": "665a1f4e2c3b7800129dce01", "status": "completed", "results": []},
            "meta": {"creditsUsed": 2, "creditsRefunded": 2, "creditsRemaining": 24997}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wallets/balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"organizationId": "o", "balance": 24997, "currency": "credits"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/email-validation/batch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "data": {"batchId": "665a1f4e2c3b7800129dce01", "status": "processing", "totalItems": 4},
            "meta": {"creditsReserved": 4}
        })))
        .mount(&server)
        .await;
    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    // A refund with nothing spent yet cannot take spending below zero: an anomaly.
    client
        .get_email_validation_batch_results()
        .batch_id("665a1f4e2c3b7800129dce01")
        .send()
        .await
        .unwrap();
    assert_eq!(client.runtime().ledger().spent(), 0);
    assert!(client.runtime().ledger().entries()[0].anomaly.is_some());

    let client = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let batch: tollgate_enrich::types::BatchEmailValidationRequest = tollgate_tests::from_json(
        serde_json::json!({"emails": ["a@b.co", "c@d.co", "e@f.co", "g@h.co"]}),
    );
    client
        .validate_email_batch()
        .body(batch)
        .send()
        .await
        .unwrap();
    // The settlement is fetched twice (page after page repeats it): its refund counts once,
    // and what it reports as used was already recorded as the reservation on submit.
    for _ in 0..2 {
        client
            .get_email_validation_batch_results()
            .batch_id("665a1f4e2c3b7800129dce01")
            .send()
            .await
            .unwrap();
    }
    client.get_wallet_balance().send().await.unwrap();
    let ledger = client.runtime().ledger();
    assert_eq!(ledger.spent(), 2, "4 reserved, 2 refunded, once");
    assert_eq!(ledger.entries().len(), 2);
    assert_eq!(
        (ledger.entries()[1].charged, ledger.entries()[1].refunded),
        (0, 2)
    );
    assert_eq!(
        ledger.reported_balance(),
        Some((24997, "get_wallet_balance".to_owned()))
    );
}

#[tokio::test]
async fn each_provider_sends_its_auth_header_and_its_errors_are_parsed() {
    let server = MockServer::start().await;
    // RocketReach: Api-Key; {"detail": ...}; RR-Request-ID.
    Mock::given(method("GET"))
        .and(path("/account/"))
        .and(header("api-key", ROCKET_KEY))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("RR-Request-ID", "85c36d54-8c43-4a97-8a7d-782d8a0f938f")
                .set_body_json(
                    serde_json::json!({"detail": "Please use the Universal Credit endpoints."}),
                ),
        )
        .mount(&server)
        .await;
    // RequestRocket: Authorization with the raw token; {error, code, status}.
    Mock::given(method("GET"))
        .and(path("/clients/nope"))
        .and(header("authorization", RR_TOKEN))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"error": "Invalid client ID", "code": "INVALID_CLIENT_ID", "status": 400}),
        ))
        .mount(&server)
        .await;
    // Enrich: x-api-key; RFC 9457 problem.
    Mock::given(method("POST"))
        .and(path("/email-finder"))
        .and(header("x-api-key", ENRICH_KEY))
        .respond_with(ResponseTemplate::new(402).set_body_json(serde_json::json!({
            "type": "https://dev.enrich.so/errors/insufficient-credits", "title": "Insufficient Credits", "status": 402,
            "detail": "Not enough credits. Required: 10, available: 3", "instance": "/requests/3fa85f64"
        })))
        .mount(&server)
        .await;
    // Spider News: X-API-KEY; {"message": ...}.
    Mock::given(method("GET"))
        .and(path("/api/entities"))
        .and(header("x-api-key", SPIDER_KEY))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"message": "Unknown API key"})),
        )
        .mount(&server)
        .await;

    let rr = tollgate_rocketreach::Client::builder()
        .api_key(ROCKET_KEY)
        .base_url(server.uri())
        .build()
        .unwrap();
    let err = rr.get_account().send().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.message.as_deref()),
        (403, Some("Please use the Universal Credit endpoints."))
    );
    assert_eq!(
        api.request_id.as_deref(),
        Some("85c36d54-8c43-4a97-8a7d-782d8a0f938f")
    );

    let req = requestrocket(&server);
    let err = req.get_client().client_id("nope").send().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.message.as_deref(), api.code.as_deref()),
        (400, Some("Invalid client ID"), Some("INVALID_CLIENT_ID"))
    );

    let enrich = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap();
    let body = tollgate_enrich::types::EmailFinderRequest::builder()
        .first_name("Emily")
        .last_name("Zhang")
        .domain("figma.com");
    let err = enrich.find_email().body(body).send().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status, 402);
    assert_eq!(
        api.message.as_deref(),
        Some("Not enough credits. Required: 10, available: 3")
    );
    assert_eq!(
        api.code.as_deref(),
        Some("https://dev.enrich.so/errors/insufficient-credits")
    );
    assert_eq!(api.request_id.as_deref(), Some("/requests/3fa85f64"));

    let spider = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(server.uri())
        .build()
        .unwrap();
    let err = spider.list_entities().send().await.unwrap_err();
    assert_eq!(
        err.api().unwrap().message.as_deref(),
        Some("Unknown API key")
    );

    // None of them sent progenitor's api-version header.
    for request in server.received_requests().await.unwrap() {
        assert!(
            !request.headers.contains_key("api-version"),
            "{}",
            request.url
        );
    }
}

#[test]
fn key_format_errors_are_typed_and_happen_before_any_request() {
    let err = tollgate_enrich::Client::builder()
        .api_key("pk_live_123")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "the Enrich API key must start with `sk_`");
    let err = tollgate_requestrocket::Client::builder()
        .api_key("token")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the RequestRocket API key must start with `u-`"
    );
    let err = tollgate_rocketreach::Client::builder()
        .api_key("")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "the RocketReach API key is empty");
    let err = tollgate_spidernews::Client::builder()
        .api_key("abc def")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("whitespace at position 3"),
        "{err}"
    );
    // A budget in the wrong unit is refused too.
    let err = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url("http://127.0.0.1:9")
        .budget(Budget::credits(5))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid client setting: Spider News bills in rows, but the budget is in credits"
    );
}

#[test]
fn the_rows_calculator_through_the_runtime() {
    let client = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap();
    let runtime = client.runtime();
    let request = |query: &str| {
        reqwest::Request::new(
            reqwest::Method::GET,
            format!("http://127.0.0.1:9/api/x?{query}").parse().unwrap(),
        )
    };
    assert_eq!(
        runtime
            .max_cost("list_entities", &request("limit=10000"))
            .unwrap(),
        10_000
    );
    assert_eq!(
        runtime
            .max_cost("list_connections", &request("connection_limit=10"))
            .unwrap(),
        30
    );
    assert_eq!(
        runtime
            .max_cost("find_paths", &request("path_limit=10"))
            .unwrap(),
        190
    );
    assert_eq!(runtime.max_cost("list_entities", &request("")).unwrap(), 10);
    assert_eq!(
        runtime.max_cost("list_connections", &request("")).unwrap(),
        30
    );
    assert_eq!(runtime.max_cost("find_paths", &request("")).unwrap(), 57);
    // The constants are configuration.
    let client = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url("http://127.0.0.1:9")
        .cost_rule(
            "find_paths",
            tollgate::cost::CostRule::QueryLimit {
                parameter: "path_limit",
                per_unit: 21,
                default: 3,
            },
        )
        .build()
        .unwrap();
    assert_eq!(
        client
            .runtime()
            .max_cost("find_paths", &request("path_limit=10"))
            .unwrap(),
        210
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_1000_calls_paces_itself_to_50_per_second() {
    let start = tokio::time::Instant::now();
    let (_, throttled) = pace(1000, rolling_window(50)).await;
    assert_eq!(throttled, 0, "no 429s");
    // 1000 calls at one per 20.2 ms (20 ms and the limiter's 1% margin): the first at once,
    // 999 spaced: 20.1798 s on tokio's clock, which ends a sleep on its next 1 ms tick; the
    // schedule does not add those ticks up (1,000 calls, at most one tick late in all).
    let expected = Duration::from_micros(999 * 20_200);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(1),
        "{elapsed:?}"
    );
}

use futures::StreamExt;

/// A server's verdict: at most `limit` requests in any rolling second.
fn rolling_window(limit: usize) -> impl Fn(tokio::time::Instant) -> bool + Send + Sync + 'static {
    let window: Arc<Mutex<VecDeque<tokio::time::Instant>>> = Arc::default();
    move |at| {
        let mut w = window.lock().unwrap();
        while w
            .front()
            .is_some_and(|t| at.duration_since(*t) >= Duration::from_secs(1))
        {
            w.pop_front();
        }
        w.push_back(at);
        w.len() <= limit
    }
}

/// `calls` calls, 64 at a time, from a client at a plan of 50 per second, against a server
/// answering 429 when `verdict` refuses a request's arrival time. Returns the arrivals and the
/// number of 429s.
async fn pace(
    calls: usize,
    verdict: impl Fn(tokio::time::Instant) -> bool + Send + Sync + 'static,
) -> (Vec<tokio::time::Instant>, usize) {
    let throttled = Arc::new(Mutex::new(0_usize));
    let t = Arc::clone(&throttled);
    let server = Hostile::start(move |seen, _| {
        if verdict(seen.at) {
            Reply::json(
                200,
                serde_json::json!({"clients": [], "message": "Success"}),
            )
        } else {
            *t.lock().unwrap() += 1;
            Reply::json(429, serde_json::json!({"error": "slow"})).header("Retry-After", "1")
        }
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(Some(RateLimitPlan::per_second(50)))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let requests = (0..calls).map(|_| {
        let client = client.clone();
        async move { client.list_clients().send().await.map(|r| r.status()) }
    });
    let results: Vec<_> = futures::stream::iter(requests)
        .buffer_unordered(64)
        .collect()
        .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), calls);
    let arrivals = server.seen().iter().map(|s| s.at).collect();
    let throttled = *throttled.lock().unwrap();
    (arrivals, throttled)
}

/// Requests in each whole second after the first arrival.
fn per_window(arrivals: &[tokio::time::Instant]) -> Vec<usize> {
    let start = arrivals[0];
    let mut counts = vec![0_usize; 40];
    for at in arrivals {
        let second = usize::try_from((*at - start).as_secs()).unwrap();
        if second < counts.len() {
            counts[second] += 1;
        }
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn a_plan_is_used_to_the_full_without_a_429_against_a_rolling_window() {
    // At most 50 in any rolling second.
    let (arrivals, throttled) = pace(2000, rolling_window(50)).await;
    assert_eq!(throttled, 0, "no 429");
    let counts = per_window(&arrivals);
    // 2,000 calls at 50 a second less the limiter's 1% margin (49.5 a second): every whole
    // window holds 49 or 50, at least 98% of the plan (the goal).
    assert!(
        counts[..39].iter().all(|c| (49..=50).contains(c)),
        "{counts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plan_never_trips_a_token_bucket_either() {
    // A bucket of 5 tokens refilled at 50 a second.
    let bucket = Arc::new(Mutex::new((5.0_f64, None::<tokio::time::Instant>)));
    let (arrivals, throttled) = pace(2000, move |at| {
        let mut b = bucket.lock().unwrap();
        let (tokens, last) = *b;
        let refilled = last.map_or(tokens, |l| {
            (tokens + at.duration_since(l).as_secs_f64() * 50.0).min(5.0)
        });
        let allowed = refilled >= 1.0;
        *b = (if allowed { refilled - 1.0 } else { refilled }, Some(at));
        allowed
    })
    .await;
    assert_eq!(throttled, 0, "no 429");
    assert!(
        per_window(&arrivals)[..39]
            .iter()
            .all(|c| (49..=50).contains(c))
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_429_pause_the_client_resumes_at_the_rate_not_with_a_burst() {
    let server = Hostile::start(|_, n| {
        if n == 10 {
            Reply::json(429, serde_json::json!({"error": "slow"})).header("Retry-After", "2")
        } else {
            Reply::json(
                200,
                serde_json::json!({"clients": [], "message": "Success"}),
            )
        }
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(Some(RateLimitPlan::per_second(50)))
        .build()
        .unwrap();
    let calls = (0..40).map(|_| {
        let client = client.clone();
        async move { client.list_clients().send().await.map(|r| r.status()) }
    });
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));
    let seen = server.seen();
    let pause_at = seen[10].at;
    let resume = pause_at + Duration::from_secs(2);
    // Nothing during the pause (but a request already admitted when the 429 came back).
    let during = seen
        .iter()
        .filter(|s| s.at > pause_at + Duration::from_millis(50) && s.at < resume)
        .count();
    assert_eq!(during, 0, "the pause is kept");
    let after: Vec<_> = seen
        .iter()
        .filter(|s| s.at >= resume)
        .map(|s| s.at)
        .collect();
    assert!(after.len() > 20);
    // Spaced at the rate (20 ms), never a burst.
    assert!(
        after
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_millis(20)),
        "{:?}",
        after.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_answer_read_by_the_runtime_keeps_its_url() {
    let server = MockServer::start().await;
    // Asked once (checked when the server is dropped).
    Mock::given(path("/clients"))
        .respond_with(clients_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = requestrocket(&server);
    let url = format!("{}/clients?page=2", server.uri());
    // A request built by hand, with progenitor's header (the generated code no longer adds
    // it): the runtime does not send it.
    let request = reqwest::Client::new()
        .get(&url)
        .header("api-version", "1.0")
        .build()
        .unwrap();
    let answer = client
        .runtime()
        .send(request, "list_clients")
        .await
        .unwrap();
    // The body was read into memory (for the size limit and the cost) and the answer built
    // again around it; its URL is the one asked, not reqwest's placeholder.
    assert_eq!(answer.url().as_str(), url);
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["message"], "Success");
    let received = server.received_requests().await.unwrap();
    assert!(!received[0].headers.contains_key("api-version"));
}
