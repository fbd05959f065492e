//! `tollgate demo` runs to completion, and its spending table equals the sandbox's ledgers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use tollgate_sandbox::{Provider, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_every_provider_and_its_table_equals_the_sandbox_ledgers() {
    let sandbox = tollgate_cli::start_sandbox().await.unwrap();
    let summary = tollgate_cli::demo::walk(&sandbox, false, true)
        .await
        .unwrap();
    assert!(summary.ledgers_agree);
    // Read the sandbox's ledgers here, independently of the demo.
    for (provider, key) in [
        (Provider::RocketReach, seed::ROCKETREACH_KEY),
        (Provider::SpiderNews, seed::SPIDERNEWS_KEY),
        (Provider::Enrich, seed::ENRICH_KEY),
        (Provider::RequestRocket, seed::REQUESTROCKET_TOKEN),
    ] {
        let row = summary
            .spending
            .iter()
            .find(|s| s.provider == provider.profile().name)
            .unwrap();
        assert_eq!(
            row.client_ledger,
            sandbox.account(provider, key).unwrap().spent(),
            "{}",
            row.provider
        );
    }
    // Every step charged what the providers' rules say: a lookup of 2 credits, 5 rows of
    // connections, 250 validations less 25 refunded, free RequestRocket calls.
    let spent: Vec<i64> = summary.spending.iter().map(|s| s.client_ledger).collect();
    assert_eq!(spent, vec![2, 5, 225, 0]);
    // Each step reached its provider.
    for provider in Provider::ALL {
        assert!(
            !sandbox.answered(provider).is_empty(),
            "{}",
            provider.name()
        );
    }
}

#[test]
fn tollgate_demo_exits_0_and_reports_agreeing_ledgers_as_json() {
    let out = std::process::Command::new(common::TOLLGATE)
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ledgers_agree"], true);
    assert_eq!(summary["spending"].as_array().unwrap().len(), 4);
    let narration = String::from_utf8_lossy(&out.stderr);
    for step in [
        "1. RocketReach",
        "2. Spider News",
        "3. Enrich",
        "4. RequestRocket",
        "5. A throttled call",
    ] {
        assert!(narration.contains(step), "{narration}");
    }
}
