//! Budgets by credit type and by period: RocketReach's credit types refused one by one against
//! the sandbox, and daily and monthly budgets that renew at their hour on tokio's paused clock
//! (the client's own store, a shared `LocalStore`) and on Redis's clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tollgate::shared::{Claim, Reserved, Settlement, Store};
use tollgate::{Budget, Error, LocalStore, Period, Shared};
use tollgate_sandbox::{Provider, Sandbox, seed};
use tollgate_tests::hostile::{Hostile, Reply};
use tollgate_tests::redis_server::RedisServer;

const SPIDER_KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";

/// `YYYY-MM-DDTHH:MM:SSZ` as a time.
fn at(text: &str) -> SystemTime {
    let seconds = chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp();
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap())
}

fn refusal(error: &Error) -> &tollgate::cost::CostRefusal {
    match error {
        Error::CostRefused(r) => r,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn budgets_per_credit_type_refuse_the_right_type_on_rocketreach() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&warnings);
    let client = tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_KEY)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .rate_limit(None)
        .budget(Budget::credits(100))
        .budget(Budget::credits(2).of_type("company_export"))
        .budget(Budget::credits(3).of_type("lookup"))
        .on_budget_warning(move |w| seen.lock().unwrap().push(w.to_string()))
        .build()
        .unwrap();
    let company = || client.create_company_lookup().domain("stripe.com").send();
    let person = |name: &'static str| {
        client
            .create_person_lookup()
            .name(name)
            .current_employer("Salesforce")
            .send()
    };
    // 1 company_export; then lookup + person_export + company_export.
    company().await.unwrap();
    client
        .create_person_and_company_lookup()
        .linkedin_url("https://www.linkedin.com/in/ada-lovelace")
        .send()
        .await
        .unwrap();
    // Both company exports are spent: a company lookup is refused, a person lookup is not.
    let error = company().await.unwrap_err();
    let r = refusal(&error);
    assert_eq!(
        (r.credit_type.as_deref(), r.needed, r.remaining, r.period),
        (Some("company_export"), 1, 0, Period::Total)
    );
    assert_eq!(
        error.to_string(),
        "refused before sending: create_company_lookup may cost up to 1 `company_export` credits but the budget of \
         `company_export` credits has 0 left"
    );
    person("Marc Benioff").await.unwrap();
    person("Parker Harris").await.unwrap();
    // Three lookup credits spent: the fourth person is refused by the lookup budget.
    let error = person("Bret Taylor").await.unwrap_err();
    assert_eq!(
        (
            refusal(&error).credit_type.as_deref(),
            refusal(&error).remaining
        ),
        (Some("lookup"), 0)
    );
    // The sandbox charged what the client let through: 1 + 3 + 2 + 2.
    let spent = |account: &tollgate_rocketreach::types::UserModel, t: &str| {
        account
            .credit_usage
            .iter()
            .find(|u| u.credit_type.as_deref() == Some(t))
            .and_then(|u| u.used.and_then(tollgate::CreditAmount::finite))
    };
    let account = client.get_account().send().await.unwrap();
    assert_eq!(spent(&account, "lookup"), Some(3));
    assert_eq!(spent(&account, "person_export"), Some(3));
    assert_eq!(spent(&account, "company_export"), Some(2));
    assert_eq!(client.runtime().ledger().spent(), 8);
    // Each typed budget warned at its own crossings, naming its type.
    let warnings = warnings.lock().unwrap().clone();
    assert!(
        warnings.contains(
            &"95% of the RocketReach budget of `company_export` credits is spent: 2 of 2 credits"
                .to_string()
        )
    );
    assert!(warnings.contains(
        &"80% of the RocketReach budget of `lookup` credits is spent: 3 of 3 credits".to_string()
    ));
    assert_eq!(warnings.len(), 4, "{warnings:?}");

    // A type the provider does not bill is a setting error naming the types it does.
    let error = tollgate_rocketreach::Client::builder()
        .api_key(seed::ROCKETREACH_KEY)
        .budget(Budget::credits(5).of_type("lookups"))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid client setting: RocketReach has no credit type `lookups`; its charges use: lookup, \
         person_export, company_export, universal"
    );
}

fn spider(
    url: &str,
    builder_budget: Budget,
    shared: Option<&Shared>,
) -> tollgate_spidernews::Client {
    let mut builder = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(url)
        .rate_limit(None)
        .budget(builder_budget);
    if let Some(shared) = shared {
        builder = builder.shared(shared.clone());
    }
    builder.build().unwrap()
}

/// A connections call that reserves 30 rows and is charged 30.
async fn thirty(client: &tollgate_spidernews::Client) -> Result<(), Error> {
    client
        .list_connections()
        .connection_limit(NonZeroU64::new(10).unwrap())
        .send()
        .await
        .map(drop)
}

#[tokio::test(start_paused = true)]
async fn a_daily_budget_renews_at_midnight_utc_on_the_paused_clock() {
    let server =
        Hostile::start(|_, _| Reply::json(200, json!({"connections": [], "rows_returned": 30})))
            .await;
    // A store whose calendar starts one minute before midnight.
    let shared = Shared::new(LocalStore::starting_at(at("2026-12-06T23:59:00Z")));
    let daily = Budget::rows(60).renewing(Period::Daily);
    let client = spider(&server.url(), daily.clone(), Some(&shared));
    thirty(&client).await.unwrap();
    thirty(&client).await.unwrap();
    let error = thirty(&client).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "refused before sending: list_connections may cost up to 30 rows but the daily budget \
         has 0 left (it renews at midnight UTC); lower `connection_limit`"
    );
    assert_eq!(refusal(&error).period, Period::Daily);
    tokio::time::advance(Duration::from_secs(59)).await; // 23:59:59
    assert!(thirty(&client).await.is_err(), "not yet midnight");
    tokio::time::advance(Duration::from_secs(1)).await; // 00:00:00
    thirty(&client).await.unwrap();
    let scope = shared
        .scope("Spider News", SPIDER_KEY)
        .budget(None, Period::Daily);
    let totals = shared.store().totals(&scope).await.unwrap();
    assert_eq!(
        totals.charged, 30,
        "the new day counts only its own spending"
    );
    assert_eq!(server.seen().len(), 3);

    // The client's own store: the same budget, renewed by a day of tokio's clock (whatever
    // the wall clock's hour, 24 hours cross one midnight).
    let own = spider(&server.url(), daily, None);
    thirty(&own).await.unwrap();
    thirty(&own).await.unwrap();
    assert!(thirty(&own).await.is_err());
    tokio::time::advance(Duration::from_secs(86_400)).await;
    thirty(&own).await.unwrap();
    assert_eq!(
        own.runtime().ledger().spent(),
        90,
        "the ledger keeps every charge"
    );
}

#[tokio::test(start_paused = true)]
async fn an_overall_and_a_monthly_budget_both_hold() {
    let server =
        Hostile::start(|_, _| Reply::json(200, json!({"connections": [], "rows_returned": 30})))
            .await;
    let shared = Shared::new(LocalStore::starting_at(at("2027-02-27T12:00:00Z")));
    let client = tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(server.url())
        .rate_limit(None)
        .budget(Budget::rows(90))
        .budget(Budget::rows(30).renewing(Period::Monthly { day: 31 }))
        .shared(shared)
        .build()
        .unwrap();
    thirty(&client).await.unwrap();
    assert_eq!(
        refusal(&thirty(&client).await.unwrap_err()).period,
        Period::Monthly { day: 31 }
    );
    // February has 28 days: the period anchored on the 31st renews on the 28th.
    tokio::time::advance(Duration::from_secs(12 * 3600)).await;
    thirty(&client).await.unwrap();
    tokio::time::advance(Duration::from_secs(31 * 86_400)).await; // March 31
    thirty(&client).await.unwrap();
    tokio::time::advance(Duration::from_secs(31 * 86_400)).await;
    // The monthly budget has renewed, the overall one (90) has not.
    let error = thirty(&client).await.unwrap_err();
    assert_eq!(
        (refusal(&error).period, refusal(&error).remaining),
        (Period::Total, 0)
    );
}

/// A Redis store whose clock reads `time` now (Redis's clock cannot be set).
async fn redis_at(url: &str, time: SystemTime) -> tollgate::RedisStore {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let (seconds, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut connection)
        .await
        .unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
    let ahead = time.duration_since(now).unwrap();
    tollgate::RedisStore::connect(url)
        .await
        .unwrap()
        .clock_ahead(ahead)
}

#[tokio::test]
async fn renewing_budgets_renew_on_redis_clock() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server =
        Hostile::start(|_, _| Reply::json(200, json!({"connections": [], "rows_returned": 30})))
            .await;
    let daily = Budget::rows(30).renewing(Period::Daily);
    // Ten seconds before midnight on Redis's clock: one call fills the day.
    let before = Shared::new(redis_at(&redis.url(), at("2031-03-04T23:59:50Z")).await);
    let client = spider(&server.url(), daily.clone(), Some(&before));
    thirty(&client).await.unwrap();
    let error = thirty(&client).await.unwrap_err();
    assert_eq!(refusal(&error).period, Period::Daily);
    // Twenty seconds later (another worker's view of the same Redis): a new day.
    let after = Shared::new(redis_at(&redis.url(), at("2031-03-05T00:00:10Z")).await);
    let client = spider(&server.url(), daily, Some(&after));
    thirty(&client).await.unwrap();
    assert!(thirty(&client).await.is_err());

    // A monthly budget anchored on the 31st, through the store itself: February 2031 has 28
    // days, so it renews on the 28th.
    let scope = after
        .scope("Spider News", SPIDER_KEY)
        .budget(Some("rows"), Period::Monthly { day: 31 });
    let fill = async |store: &dyn Store| {
        let lease = store
            .reserve(&scope, Claim::new(Some(10), 10, Duration::from_secs(60)))
            .await
            .unwrap();
        let Reserved::Lease(id) = lease else {
            return lease;
        };
        let settlement = Settlement {
            charged: 10,
            refunded: 0,
            uncertain: false,
        };
        assert_eq!(store.settle(&scope, id, settlement).await.unwrap(), 10);
        lease
    };
    let feb27 = redis_at(&redis.url(), at("2031-02-27T23:59:50Z")).await;
    assert!(matches!(fill(&feb27).await, Reserved::Lease(_)));
    assert_eq!(fill(&feb27).await, Reserved::Refused { remaining: 0 });
    let feb28 = redis_at(&redis.url(), at("2031-02-28T00:00:10Z")).await;
    assert!(
        matches!(fill(&feb28).await, Reserved::Lease(_)),
        "renewed on the 28th"
    );
    let mar30 = redis_at(&redis.url(), at("2031-03-30T23:59:00Z")).await;
    assert_eq!(fill(&mar30).await, Reserved::Refused { remaining: 0 });
    let mar31 = redis_at(&redis.url(), at("2031-03-31T00:00:01Z")).await;
    assert!(
        matches!(fill(&mar31).await, Reserved::Lease(_)),
        "and on the 31st"
    );
    assert_eq!(mar31.totals(&scope).await.unwrap().charged, 10);
}
