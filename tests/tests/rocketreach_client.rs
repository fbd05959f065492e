//! The generated RocketReach client on the wire, against a mock server on 127.0.0.1: the three
//! Account operations through the builder interface, the credential header, no `api-version`
//! header, and the error envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate::CreditAmount;
use tollgate_rocketreach::{Client, Error, types};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "3e7k0123456789abcdef0123456789abcdef";

fn client(server: &MockServer) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(server.uri())
        .build()
        .unwrap()
}

/// Fails the request unless it carries the key and no `api-version` header.
fn authorized(request: &Request) -> bool {
    request.headers.get("api-key").map(|v| v.as_bytes()) == Some(KEY.as_bytes())
        && !request.headers.contains_key("api-version")
}

#[tokio::test]
async fn get_account_sends_the_key_and_decodes_inf() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/"))
        .and(authorized)
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": 123456, "state": "registered",
            "credit_usage": [{"credit_type": "company_export", "allocated": "inf", "used": 12, "remaining": "inf"}],
            "rate_limits": [{"action": "person_search", "duration": "month", "limit": null, "used": 10, "remaining": null}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let account = client(&server)
        .get_account()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.id, Some(123456));
    assert_eq!(
        account.credit_usage[0].remaining,
        Some(CreditAmount::Unlimited)
    );
    assert_eq!(account.rate_limits[0].limit, None);
}

#[tokio::test]
async fn create_new_api_key_posts_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/account/key/"))
        .and(authorized)
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({"api_key": KEY})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"api_key": "9abk00000000000000000000000000000000"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;

    let body = types::ApiKey {
        api_key: Some(KEY.into()),
    };
    let new_key = client(&server)
        .create_new_api_key()
        .body(body)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        new_key.api_key.unwrap().expose(),
        "9abk00000000000000000000000000000000"
    );
}

#[tokio::test]
async fn get_universal_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/universal/account/"))
        .and(authorized)
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": 1, "api_key": KEY, "daily_api_limit": "10",
            "credit_usage": {"credits_allocated": 100, "credits_used": 50, "credits_remaining": 50}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let account = client(&server)
        .get_universal_account()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        account.credit_usage,
        Some(types::UniversalCreditsUserModelWithExtraAttributesCreditUsage::Summary(ref s)) if s.credits_remaining == Some(50)
    ));
    assert!(!format!("{account:?}").contains(KEY));
}

#[tokio::test]
async fn errors_come_back_with_the_parsed_envelope() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            serde_json::json!({"detail": "Please use the Universal Credit endpoints."}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/universal/account/"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(serde_json::json!({"detail": "Request was throttled. Expected available in 7 seconds."})),
        )
        .mount(&server)
        .await;

    let client = client(&server);
    match client.get_account().send().await {
        Err(Error::Api(error)) => {
            assert_eq!(error.status, 403);
            assert_eq!(error.kind, tollgate::ErrorKind::WrongPlanFamily);
            assert_eq!(
                error.message.as_deref(),
                Some("Please use the Universal Credit endpoints.")
            );
            // The envelope decodes into the generated type too.
            let body: tollgate_rocketreach::types::ErrorBody = error.body_as().unwrap();
            assert_eq!(
                body.detail.as_deref(),
                Some("Please use the Universal Credit endpoints.")
            );
        }
        other => panic!("expected a 403 error response, got {other:?}"),
    }
    match client.get_universal_account().send().await {
        Err(error) => {
            assert!(error.is_throttled(), "{error:?}");
            let api = error.api().unwrap();
            assert_eq!(api.status, 429);
            assert_eq!(api.retry_after, Some(std::time::Duration::from_secs(7)));
            assert!(
                api.message
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("Request was throttled")
            );
        }
        other => panic!("expected a 429 error response, got {other:?}"),
    }
}

#[test]
fn malformed_keys_are_refused_before_any_request() {
    let err = Client::builder()
        .api_key("3e7k 0123")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the RocketReach API key contains whitespace at position 4; remove it (a trailing newline from a file or a copy-paste?)"
    );
    let err = Client::builder()
        .api_key(KEY)
        .base_url("not a url")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid base URL `not a url`"),
        "{err}"
    );
}

#[test]
fn the_client_debug_output_hides_the_key() {
    let client = Client::builder()
        .api_key(KEY)
        .base_url("http://127.0.0.1:9/")
        .build()
        .unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("RocketReach"), "{shown}");
}
