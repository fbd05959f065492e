//! Fault injection through the sandbox, seen by the generated clients: a reset connection, a
//! truncated body, invalid JSON, failure statuses and latency; and the admin API that sets
//! faults and accounts from any language.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use serde_json::json;
use tollgate_sandbox::{FaultState, Provider, Sandbox, seed};

fn rocketreach(sandbox: &Sandbox) -> tollgate_rocketreach::Client {
    tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_KEY)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .rate_limit(None)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_reset_connection_is_retried_for_a_free_read_and_not_for_a_charged_call() {
    let sandbox = Sandbox::start().await.unwrap();
    let rr = rocketreach(&sandbox);

    sandbox.faults().reset_next(1);
    let account = rr.get_account().send().await.unwrap();
    assert_eq!(
        account.credit_usage.len(),
        3,
        "answered on the second attempt (lookup, person_export, company_export)"
    );
    assert_eq!(sandbox.faults().state().reset, 0, "the fault was used");

    sandbox.faults().reset_next(1);
    let err = rr
        .create_person_lookup()
        .return_cached_emails(true)
        .email("ada@figma.com")
        .send()
        .await
        .unwrap_err();
    let err = err;
    assert!(matches!(err, tollgate::Error::Transport { .. }), "{err:?}");
    assert_eq!(
        sandbox
            .answered(Provider::RocketReach)
            .get("create_person_lookup"),
        None,
        "a charged lookup whose connection dropped is never resent"
    );
    assert_eq!(
        sandbox
            .account(Provider::RocketReach, seed::ROCKETREACH_KEY)
            .unwrap()
            .spent(),
        0
    );
}

#[tokio::test]
async fn truncated_bodies_and_invalid_json_are_typed_errors_and_the_next_call_works() {
    let sandbox = Sandbox::start().await.unwrap();
    let rr = rocketreach(&sandbox);

    // An answer that stops half way is a typed transport error, never a half-read value.
    sandbox.faults().truncate_next(1);
    let cut = rr.get_account().send().await.unwrap_err();
    assert!(matches!(cut, tollgate::Error::Transport { .. }), "{cut:?}");
    assert_eq!(sandbox.faults().state().truncate, 0, "the fault was used");

    // A charged lookup whose answer stops half way is not resent: the client gets a typed
    // error, and records the most it may have cost, which is what the sandbox took.
    sandbox.faults().truncate_next(1);
    let truncated = rr
        .create_person_lookup()
        .return_cached_emails(true)
        .email("ada@figma.com")
        .send()
        .await
        .unwrap_err();
    let truncated = truncated;
    assert!(
        matches!(
            truncated,
            tollgate::Error::Transport { .. } | tollgate::Error::InvalidResponse { .. }
        ),
        "{truncated:?}"
    );
    assert_eq!(
        sandbox
            .answered(Provider::RocketReach)
            .get("create_person_lookup"),
        Some(&1)
    );
    assert_eq!(
        sandbox
            .account(Provider::RocketReach, seed::ROCKETREACH_KEY)
            .unwrap()
            .spent(),
        rr.runtime().ledger().spent()
    );

    sandbox.faults().invalid_json_next(1);
    let invalid = rr.get_account().send().await.unwrap_err();
    assert!(
        matches!(
            invalid,
            tollgate::Error::InvalidResponse { status: 200, .. }
        ),
        "{invalid:?}"
    );

    rr.get_account().send().await.unwrap();

    // On the wire: the announced length is not what arrives.
    sandbox.faults().truncate_next(1);
    let url = format!("{}/account/", sandbox.base_url(Provider::RocketReach));
    let response = reqwest::Client::new()
        .get(url)
        .header("Api-Key", seed::ROCKETREACH_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "the body stops half way");
}

#[tokio::test]
async fn failure_statuses_are_retried_and_latency_delays_every_answer() {
    let sandbox = Sandbox::start().await.unwrap();
    let rr = rocketreach(&sandbox);

    // Waits are checked exactly on tokio's paused clock in `runtime.rs`; here, that the
    // sandbox's faults are met and retried through.
    sandbox.faults().fail_next(2, 503, None);
    rr.get_account().send().await.unwrap();
    assert_eq!(sandbox.faults().state().fail.unwrap().count, 0);

    sandbox.faults().fail_next(1, 429, Some(1));
    rr.get_account().send().await.unwrap();
    assert_eq!(sandbox.faults().state().fail.unwrap().count, 0);

    // Latency: an answer slower than the client's timeout times out.
    sandbox.faults().set_latency(Duration::from_millis(300));
    rr.get_account().send().await.unwrap();
    let impatient = tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_KEY)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .timeout(Duration::from_millis(100))
        .retry(tollgate::RetryPolicy::default().with_max_attempts(1))
        .build()
        .unwrap();
    let timeout = impatient.get_account().send().await.unwrap_err();
    assert!(
        matches!(timeout, tollgate::Error::Transport { timeout: true, .. }),
        "{timeout:?}"
    );
    sandbox.faults().clear();
    assert_eq!(sandbox.faults().state(), FaultState::default());
}

#[tokio::test]
async fn the_admin_api_sets_faults_and_accounts() {
    let sandbox = Sandbox::start().await.unwrap();
    let admin = format!("http://{}/_sandbox", sandbox.address());
    let http = reqwest::Client::new();

    let set = http
        .put(format!("{admin}/faults"))
        .json(&json!({"fail": {"count": 1, "status": 500}, "latency_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let read: FaultState = http
        .get(format!("{admin}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read.fail.as_ref().unwrap().status, 500);
    // The admin API itself is never faulted; the next provider request is.
    let url = format!("{}/api/entities", sandbox.base_url(Provider::SpiderNews));
    let hit = http
        .get(&url)
        .header("X-API-KEY", seed::SPIDERNEWS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(hit.status(), 500);
    let ok = http
        .get(&url)
        .header("X-API-KEY", seed::SPIDERNEWS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = http
        .put(format!("{admin}/faults"))
        .json(&json!({"explode": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("explode"), "{text}");
    assert_eq!(
        http.delete(format!("{admin}/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    let added = http
        .post(format!("{admin}/accounts/enrich"))
        .json(&json!({"key": "sk_added_by_admin_01", "credits": 42, "plan": "free"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(
        sandbox
            .account(Provider::Enrich, "sk_added_by_admin_01")
            .unwrap()
            .remaining(),
        42
    );
    let wrong_key = http
        .post(format!("{admin}/accounts/enrich"))
        .json(&json!({"key": "no-prefix"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 400);
    let text = wrong_key.text().await.unwrap();
    assert!(text.contains("sk_"), "{text}");
    let wrong_plan = http
        .post(format!("{admin}/accounts/enrich"))
        .json(&json!({"key": "sk_x_000000000001", "plan": "platinum"}))
        .send()
        .await
        .unwrap();
    assert!(wrong_plan.text().await.unwrap().contains("free, growth"));
    let unknown = http
        .post(format!("{admin}/accounts/acme"))
        .json(&json!({"key": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let listing: serde_json::Value = http
        .get(format!("{admin}/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let enrich = listing["enrich"].as_array().unwrap();
    assert!(
        enrich
            .iter()
            .any(|a| a["key"] == "sk_added_by_admin_01" && a["remaining"] == 42)
    );
    let spider = sandbox
        .account(Provider::SpiderNews, seed::SPIDERNEWS_KEY)
        .unwrap();
    assert_eq!(listing["spidernews"][0]["remaining"], spider.remaining());
    assert_eq!(spider.remaining() + spider.spent(), 10_000);
}

#[tokio::test]
async fn one_provider_at_the_root_serves_the_real_paths() {
    let sandbox = Sandbox::builder()
        .only(Provider::Enrich)
        .start()
        .await
        .unwrap();
    let base = sandbox.base_url(Provider::Enrich);
    assert_eq!(base, format!("http://{}/api/v3", sandbox.address()));
    let client = tollgate_enrich::Client::builder()
        .api_key(seed::ENRICH_KEY)
        .base_url(&base)
        .rate_limit(None)
        .build()
        .unwrap();
    let balance = client.get_wallet_balance().send().await.unwrap();
    assert_eq!(
        balance.data.as_ref().unwrap().balance,
        Some(seed::DEFAULT_ENRICH_CREDITS)
    );
    let other = reqwest::get(format!(
        "http://{}/spidernews/api/entities",
        sandbox.address()
    ))
    .await
    .unwrap();
    assert_eq!(other.status(), 404, "only Enrich is served");

    let spider = Sandbox::builder()
        .only(Provider::SpiderNews)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}/api/entities?ent_name=Tesla", spider.address());
    let answer = reqwest::Client::new()
        .get(url)
        .header("X-API-KEY", seed::SPIDERNEWS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}
