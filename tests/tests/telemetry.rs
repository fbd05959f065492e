//! The `metrics` feature through a recorder: a run against the sandbox publishes calls,
//! attempts, what was reserved, charged and refunded, what the cache saved and what the budget
//! has left, and those figures are the sandbox's own ledger's; a 429 is counted with its pause.
//! The recorder is local to the test's thread (a current-thread runtime polls every call
//! there), so the other tests of the binary never reach it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use tollgate::{Budget, Cache, Error};
use tollgate_enrich::types;
use tollgate_sandbox::{Provider, Sandbox, seed};
use tollgate_tests::from_json as body;
use tollgate_tests::hostile::{Hostile, Reply};

/// Every series of the snapshot: `name{label=value,...}` (labels sorted) to its value.
fn series(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn counter(all: &HashMap<String, DebugValue>, name: &str) -> u64 {
    match all.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!(
            "{name}: {other:?}; recorded: {:?}",
            all.keys().collect::<Vec<_>>()
        ),
    }
}

fn in_recorder<T>(run: impl std::future::Future<Output = T>) -> (T, HashMap<String, DebugValue>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = metrics::with_local_recorder(&recorder, || runtime.block_on(run));
    (out, series(&snapshotter))
}

#[test]
fn the_recorder_sees_what_the_sandbox_charged_what_the_cache_saved_and_the_budget_left() {
    let ((spent, left), all) = in_recorder(async {
        let sandbox = Sandbox::start().await.unwrap();
        let en = tollgate_enrich::Client::builder()
            .api_key(seed::ENRICH_KEY)
            .base_url(sandbox.base_url(Provider::Enrich))
            .rate_limit(None)
            .budget(Budget::credits(3))
            .cache(Cache::memory(1 << 20))
            .build()
            .unwrap();
        let validate = |email: &'static str| {
            en.validate_email()
                .body(body::<types::EmailValidationRequest>(
                    json!({ "email": email }),
                ))
                .send()
        };
        for email in ["a@figma.com", "b@figma.com", "c@figma.com"] {
            validate(email).await.unwrap();
        }
        // Served from the cache: nothing sent, 1 credit saved.
        validate("a@figma.com").await.unwrap();
        // Beyond the budget of 3: refused, nothing sent.
        let refused = validate("d@figma.com").await.unwrap_err();
        assert!(matches!(refused, Error::CostRefused(_)), "{refused}");
        let spent = sandbox
            .account(Provider::Enrich, seed::ENRICH_KEY)
            .unwrap()
            .spent();
        let totals = en.runtime().ledger().totals();
        (spent, 3 - totals.spent())
    });
    assert_eq!(spent, 3);
    let labels = "operation=validate_email,provider=Enrich";
    let of = |name: &str, extra: &str| {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        counter(&all, &format!("{name}{{{labels}{extra}}}"))
    };
    let charged = of("tollgate_charged_total", "unit=credits");
    assert_eq!(
        charged,
        u64::try_from(spent).unwrap(),
        "charged is the sandbox's ledger"
    );
    assert_eq!(of("tollgate_reserved_total", "unit=credits"), 3);
    assert_eq!(of("tollgate_refunded_total", "unit=credits"), 0);
    assert_eq!(of("tollgate_saved_total", "unit=credits"), 1);
    assert_eq!(of("tollgate_attempts_total", ""), 3);
    let calls = |outcome: &str| {
        counter(
            &all,
            &format!(
                "tollgate_calls_total{{operation=validate_email,outcome={outcome},provider=Enrich}}"
            ),
        )
    };
    assert_eq!((calls("ok"), calls("cached"), calls("refused")), (3, 1, 1));
    match all.get("tollgate_budget_remaining{provider=Enrich,unit=credits}") {
        Some(DebugValue::Gauge(g)) => assert_eq!(g.into_inner(), left as f64),
        other => panic!("budget gauge: {other:?}"),
    }
    assert_eq!(left, 0);
    assert!(
        all.keys().all(|k| !k.contains(seed::ENRICH_KEY)),
        "a key reached a label"
    );
}

#[test]
fn a_429_is_counted_with_its_pause_and_the_retry_as_an_attempt() {
    let (result, all) = in_recorder(async {
        let server = Hostile::start(|_, n| {
            if n == 0 {
                Reply::json(429, json!({"error": "slow down"})).header("Retry-After", "0")
            } else {
                Reply::json(200, json!({"rows_returned": 0, "entities": []}))
            }
        })
        .await;
        let news = tollgate_spidernews::Client::builder()
            .api_key("Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk")
            .base_url(server.url())
            .build()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), news.list_entities().send()).await
    });
    assert!(matches!(result, Ok(Ok(_))), "{result:?}");
    let labels = "operation=list_entities,provider=Spider News";
    assert_eq!(
        counter(&all, &format!("tollgate_throttled_total{{{labels}}}")),
        1
    );
    assert_eq!(
        counter(&all, &format!("tollgate_pauses_total{{{labels}}}")),
        1
    );
    assert_eq!(
        counter(&all, &format!("tollgate_attempts_total{{{labels}}}")),
        2
    );
    let ok = "tollgate_calls_total{operation=list_entities,outcome=ok,provider=Spider News}";
    assert_eq!(counter(&all, ok), 1);
}

#[tokio::test]
async fn a_budget_warns_once_at_each_threshold_before_it_refuses() {
    let sandbox = Sandbox::start().await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = std::sync::Arc::clone(&seen);
    let en = tollgate_enrich::Client::builder()
        .api_key(seed::ENRICH_KEY)
        .base_url(sandbox.base_url(Provider::Enrich))
        .rate_limit(None)
        .budget(Budget::credits(10))
        .on_budget_warning(move |w| into.lock().unwrap().push(w.clone()))
        .build()
        .unwrap();
    let mut refused = 0;
    for i in 0..12 {
        let email = format!("person{i}@figma.com");
        match en
            .validate_email()
            .body(body::<types::EmailValidationRequest>(
                json!({ "email": email }),
            ))
            .send()
            .await
        {
            Ok(_) => {}
            Err(Error::CostRefused(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 2);
    let warnings = seen.lock().unwrap().clone();
    let at: Vec<(f64, i64)> = warnings.iter().map(|w| (w.threshold, w.spent)).collect();
    // 80% at the 8th credit, 95% at the 10th: once each, though calls went on after them.
    assert_eq!(at, [(0.8, 8), (0.95, 10)]);
    assert_eq!(
        sandbox
            .account(Provider::Enrich, seed::ENRICH_KEY)
            .unwrap()
            .spent(),
        10
    );
    assert!(
        warnings[0]
            .to_string()
            .starts_with("80% of the Enrich budget is spent: 8 of 10")
    );
}
