//! Prices pinned by the providers' own worked examples (docs/providers/), with the expected
//! figures written here as the providers state them, computed by neither the runtime's cost
//! rules nor the sandbox: a misreading both implementations share fails these.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use serde_json::json;
use tollgate_sandbox::{Provider, Sandbox, seed};

const JOB: Duration = Duration::from_millis(200);

/// Enrich's Credits page: a bulk phone lookup of 100 e-mails reserves 100 x 500 = 50,000; 90
/// are found and 10 are not, so 45,000 are charged and 5,000 refunded.
#[tokio::test]
async fn enrich_bulk_phones_100_emails_90_found() {
    let sandbox = Sandbox::builder().job_duration(JOB).start().await.unwrap();
    let client = tollgate_enrich::Client::builder()
        .api_key(seed::ENRICH_KEY)
        .base_url(sandbox.base_url(Provider::Enrich))
        .rate_limit(None)
        .build()
        .unwrap();
    // 10 addresses the sandbox finds no phone for (they name `nobody`).
    let emails: Vec<String> = (0..100)
        .map(|i| {
            if i < 10 {
                format!("nobody.{i}@figma.com")
            } else {
                format!("person.{i}@figma.com")
            }
        })
        .collect();
    let body: tollgate_enrich::types::PhoneBatchRequest =
        tollgate_tests::from_json(json!({ "emails": emails }));
    let submitted = client.find_phones_bulk().body(body).send().await.unwrap();
    assert_eq!(
        submitted.meta.as_ref().unwrap().credits_reserved,
        Some(50_000)
    );
    assert_eq!(client.runtime().ledger().spent(), 50_000);
    let job = submitted.data.as_ref().unwrap().batch_id.clone().unwrap();
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    let settled = client
        .get_phone_bulk_job_results()
        .job_id(job.as_str())
        .send()
        .await
        .unwrap();
    let meta = settled.meta.as_ref().unwrap();
    assert_eq!(
        (meta.credits_used, meta.credits_refunded),
        (Some(45_000), Some(5_000))
    );
    assert_eq!(client.runtime().ledger().spent(), 45_000);
    let account = sandbox.account(Provider::Enrich, seed::ENRICH_KEY).unwrap();
    assert_eq!(account.spent(), 45_000);
}

/// Enrich's Lead Finder search: "pages 1-3 or the first 75 results, whichever comes first" are
/// free, then 1 credit per result. Page 2 of 100 (results 101-200) costs 100; page 1 of 100
/// costs the 25 past the first 75; page 3 of 25 (results 51-75) is free.
#[test]
fn enrich_lead_finder_search_pages() {
    let rule = tollgate_enrich::PROFILE.cost.rule("search_leads");
    let cost = |page: i64, size: i64| {
        rule.max_cost(&tollgate::cost::RequestView::from_parts(
            "",
            Some(json!({"filters": {}, "page": page, "pageSize": size})),
        ))
        .unwrap()
    };
    assert_eq!(cost(2, 100), 100);
    assert_eq!(cost(1, 100), 25);
    assert_eq!(cost(3, 25), 0);
    assert_eq!(cost(4, 25), 25);
}

/// RocketReach: a legacy person lookup spends a lookup credit and a person export credit (2);
/// a universal lookup revealing the professional e-mail (2) and the phone (6) spends 8.
#[tokio::test]
async fn rocketreach_lookup_and_reveal_prices() {
    let sandbox = Sandbox::start().await.unwrap();
    let legacy = tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_KEY)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .build()
        .unwrap();
    legacy
        .create_person_lookup()
        .email("ada@figma.com")
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.runtime().ledger().spent(), 2);
    assert_eq!(
        sandbox
            .account(Provider::RocketReach, seed::ROCKETREACH_KEY)
            .unwrap()
            .spent(),
        2
    );
    let universal = tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_UNIVERSAL_KEY)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .build()
        .unwrap();
    universal
        .create_universal_person_lookup()
        .email("ada@figma.com")
        .reveal_professional_email(true)
        .reveal_phone(true)
        .send()
        .await
        .unwrap();
    assert_eq!(universal.runtime().ledger().spent(), 8);
    assert_eq!(
        sandbox
            .account(Provider::RocketReach, seed::ROCKETREACH_UNIVERSAL_KEY)
            .unwrap()
            .spent(),
        8
    );
}

/// Spider News: `connection_limit=10` needs 30 rows; `path_limit=10` about 190; the documented
/// answer of two connections sharing their source is 3 entities + 2 connections = 5 rows.
#[test]
fn spidernews_rows() {
    let view = |query: &str| tollgate::cost::RequestView::from_parts(query, None);
    let cost = tollgate_spidernews::PROFILE.cost;
    assert_eq!(
        cost.rule("list_connections")
            .max_cost(&view("connection_limit=10"))
            .unwrap(),
        30
    );
    assert_eq!(
        cost.rule("find_paths")
            .max_cost(&view("path_limit=10"))
            .unwrap(),
        190
    );
    assert_eq!(
        cost.rule("list_entities")
            .max_cost(&view("limit=10000"))
            .unwrap(),
        10_000
    );
    let file =
        tollgate_tests::workspace().join("specs/spidernews/examples/connections-apikeys.json");
    let example: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let documented = &example["payload"];
    let counted = tollgate_spidernews::count_rows(documented);
    assert_eq!(
        (counted.entities, counted.connections, counted.rows()),
        (3, 2, 5)
    );
    assert_eq!(documented["rows_returned"], 5);
}
