//! 200 clients at once against one sandbox, all on one account per provider: no ledger entry
//! is lost, and what the sandbox took equals the sum of what the clients recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tollgate::jobs::JobOptions;
use tollgate_sandbox::seed::PlanSeed;
use tollgate_sandbox::{AccountSeed, Provider, Sandbox};

const CLIENTS: usize = 200;

fn unlimited(key: &str, balance: i64) -> AccountSeed {
    AccountSeed {
        key: key.into(),
        credits: Some(balance),
        rows: Some(balance),
        universal: false,
        plan: Some(PlanSeed::Named("none".into())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_lose_no_ledger_entry() {
    let sandbox = Arc::new(
        Sandbox::builder()
            .job_duration(Duration::from_millis(100))
            .start()
            .await
            .unwrap(),
    );
    let enrich_key = "sk_concurrency_000000000001";
    let rocket_key = "concurrencyrocketreach000000001";
    let spider_key = "concurrency-spider-key-0001";
    sandbox
        .add_account(Provider::Enrich, unlimited(enrich_key, 1_000_000))
        .unwrap();
    sandbox
        .add_account(Provider::RocketReach, unlimited(rocket_key, 1_000_000))
        .unwrap();
    sandbox
        .add_account(Provider::SpiderNews, unlimited(spider_key, 1_000_000))
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let sandbox = Arc::clone(&sandbox);
        tasks.push(tokio::spawn(async move {
            let enrich = tollgate_enrich::Client::builder()
                .api_key(enrich_key)
                .base_url(sandbox.base_url(Provider::Enrich))
                .rate_limit(None)
                .build()
                .unwrap();
            let rocket = tollgate_rocketreach::Client::builder()
                .api_key(rocket_key)
                .base_url(sandbox.base_url(Provider::RocketReach))
                .rate_limit(None)
                .build()
                .unwrap();
            let spider = tollgate_spidernews::Client::builder()
                .api_key(spider_key)
                .base_url(sandbox.base_url(Provider::SpiderNews))
                .rate_limit(None)
                .build()
                .unwrap();
            // A single lookup (found, or free when the e-mail is nobody's), a batch reserved
            // and settled, a charged RocketReach lookup, and a Spider News query.
            let email = if i % 4 == 0 {
                format!("nobody{i}@figma.com")
            } else {
                format!("person{i}@figma.com")
            };
            let body: tollgate_enrich::types::EmailFinderRequest = serde_json::from_value(
                json!({"firstName": if i % 4 == 0 { "Nobody" } else { "Ada" }, "lastName": format!("L{i}"), "domain": "figma.com"}),
            )
            .unwrap();
            enrich.find_email().body(body).send().await.unwrap();
            let options = JobOptions {
                interval: Duration::from_millis(50),
                deadline: Some(Duration::from_secs(60)),
            };
            enrich
                .validate_emails(vec![email, format!("other{i}@stripe.com")], &options, |_| {})
                .await
                .unwrap();
            rocket
                .create_company_lookup()
                .domain(format!("company{i}.com"))
                .send()
                .await
                .unwrap();
            spider
                .list_connections()
                .source_name(if i % 2 == 0 { "Kelley" } else { "Tesla" })
                .send()
                .await
                .unwrap();
            (
                enrich.runtime().ledger().spent(),
                rocket.runtime().ledger().spent(),
                spider.runtime().ledger().spent(),
            )
        }));
    }
    let mut sums = (0, 0, 0);
    for task in tasks {
        let (e, r, s) = task.await.unwrap();
        sums = (sums.0 + e, sums.1 + r, sums.2 + s);
    }

    let enrich = sandbox.account(Provider::Enrich, enrich_key).unwrap();
    let rocket = sandbox.account(Provider::RocketReach, rocket_key).unwrap();
    let spider = sandbox.account(Provider::SpiderNews, spider_key).unwrap();
    assert_eq!(enrich.spent(), sums.0);
    assert_eq!(rocket.spent(), sums.1);
    assert_eq!(spider.spent(), sums.2);
    assert_eq!(enrich.remaining(), 1_000_000 - sums.0);
    // Every charge is there: per client, the finder charge (150 of 200 find something), the
    // batch reservation and its refund (50 of 200 have an unfound e-mail).
    let charges = enrich.charges();
    assert_eq!(
        charges
            .iter()
            .filter(|c| c.operation == "find_email")
            .count(),
        150
    );
    assert_eq!(
        charges
            .iter()
            .filter(|c| c.note == "batch reservation")
            .count(),
        CLIENTS
    );
    assert_eq!(
        charges
            .iter()
            .filter(|c| c.note == "batch settlement")
            .count(),
        50
    );
    // 150 x 10 for the finder, 200 x 2 reserved - 50 refunded for the batches.
    assert_eq!(sums.0, 150 * 10 + 200 * 2 - 50);
    assert_eq!(sums.1, 200);
    assert_eq!(rocket.charges().len(), CLIENTS);
    // Kelley's 2 connections bill 5 rows; Tesla's bill what they return (checked per answer
    // by the Spider News test); the sum is the same on both sides.
    assert!(sums.2 >= 100 * 5, "{}", sums.2);
}
