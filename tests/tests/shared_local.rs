//! Clients of one key sharing a pace and a budget through `tollgate::LocalStore`, on tokio's
//! paused clock: the same behaviour `RedisStore` gives across processes (see redis_shared.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::num::NonZeroU64;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tollgate::{Budget, Error, LocalStore, RateLimitPlan, Shared};
use tollgate_tests::hostile::{Hostile, Reply};

const SPIDER_KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";

fn rows(n: i64) -> Reply {
    Reply::json(200, json!({"connections": [], "rows_returned": n}))
}

fn client(url: &str, shared: &Shared, plan: Option<RateLimitPlan>) -> tollgate_spidernews::Client {
    let mut builder = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(url)
        .rate_limit(plan)
        .shared(shared.clone());
    if plan.is_none() {
        // The budget tests: 30 rows for the key.
        builder = builder.budget(Budget::rows(30));
    }
    builder.build().unwrap()
}

fn limit(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

#[tokio::test(start_paused = true)]
async fn two_clients_of_one_key_pace_as_one() {
    let server = Hostile::start(|_, _| rows(0)).await;
    let shared = Shared::new(LocalStore::new());
    let plan = Some(RateLimitPlan::per_second(10));
    let a = client(&server.url(), &shared, plan);
    let b = client(&server.url(), &shared, plan);
    let start = Instant::now();
    let calls = (0..20).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            c.list_connections()
                .connection_limit(limit(1))
                .send()
                .await
                .map(drop)
        }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    // 20 calls at 10/s between them, spaced 101 ms (the limiter's 1% margin): 1.919 s, where
    // each client alone would take 0.909 s.
    assert_eq!(start.elapsed(), Duration::from_millis(1919));
    let seen = server.seen();
    for pair in seen.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(100));
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_seen_by_one_client_holds_the_other() {
    let server = Hostile::start(|seen, n| {
        if n == 0 {
            Reply::json(429, json!({"message": "slow down"})).header("Retry-After", "3")
        } else {
            let _ = seen;
            rows(0)
        }
    })
    .await;
    let shared = Shared::new(LocalStore::new());
    let plan = Some(RateLimitPlan::per_second(10));
    let a = client(&server.url(), &shared, plan);
    let b = client(&server.url(), &shared, plan);
    let start = Instant::now();
    a.list_connections().send().await.unwrap(); // 429, retried after 3 s
    b.list_connections().send().await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[1].at - start >= Duration::from_secs(3));
    assert!(seen[2].at - start >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn two_clients_of_one_key_share_one_budget() {
    let server = Hostile::start(|_, _| rows(3)).await;
    let shared = Shared::new(LocalStore::new());
    let a = client(&server.url(), &shared, None);
    let b = client(&server.url(), &shared, None);
    // Each reserves 15 (3 rows a connection), is charged 3.
    a.list_connections()
        .connection_limit(limit(5))
        .send()
        .await
        .unwrap();
    b.list_connections()
        .connection_limit(limit(5))
        .send()
        .await
        .unwrap();
    // A alone has spent 3 and could reserve 27 of its 30; the key has spent 6.
    let err = a
        .list_connections()
        .connection_limit(limit(9))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CostRefused(r) if r.needed == 27 && r.remaining == 24),
        "{err}"
    );
    assert_eq!(server.seen().len(), 2, "nothing sent");
    let totals = shared
        .store()
        .totals(&shared.scope("Spider News", SPIDER_KEY))
        .await
        .unwrap();
    assert_eq!((totals.charged, totals.reserved, totals.leases), (6, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_ends_holds_its_lease_then_counts_as_possibly_charged() {
    let server = Hostile::start(|_, _| Reply::Hang).await;
    let shared = Shared::new(LocalStore::new()).lease(Duration::from_secs(60));
    let a = client(&server.url(), &shared, None);
    let scope = shared.scope("Spider News", SPIDER_KEY);
    let call = a.list_connections().connection_limit(limit(5)).send();
    // Cancelled after sending: the process "dies" mid-call as far as the store knows.
    let _ = tokio::time::timeout(Duration::from_secs(1), call).await;
    let totals = shared.store().totals(&scope).await.unwrap();
    assert_eq!((totals.reserved, totals.leases), (15, 1));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let totals = shared.store().totals(&scope).await.unwrap();
    assert_eq!((totals.reserved, totals.leases), (0, 0));
    assert_eq!((totals.charged, totals.uncertain), (15, 15));
}

#[tokio::test(start_paused = true)]
async fn store_leases_settle_refuse_and_correct_late_settlements() {
    tollgate_tests::stores::check_budget_semantics(&LocalStore::new(), Duration::from_secs(5))
        .await;
}
