//! One check of a `tollgate::shared::Store`'s budget semantics, run against every store
//! (`LocalStore` on tokio's paused clock, `RedisStore` on a real server).

use std::time::Duration;

use tollgate::shared::{Claim, Reserved, Scope, Settlement, Store};

/// Reserves, refuses, settles, lets a lease end unsettled (by sleeping past `lease`) and
/// corrects it with a late settlement, checking the totals at each step.
pub async fn check_budget_semantics(store: &dyn Store, lease: Duration) {
    let scope = Scope::new("enrich", "sk_live_secret", b"team");
    let id = |r: Reserved| match r {
        Reserved::Lease(id) => id,
        other => panic!("expected a lease, got {other:?}"),
    };
    let one = id(store
        .reserve(&scope, Claim::new(Some(100), 60, lease))
        .await
        .unwrap());
    assert_eq!(
        store
            .reserve(&scope, Claim::new(Some(100), 50, lease))
            .await
            .unwrap(),
        Reserved::Refused { remaining: 40 }
    );
    let two = id(store
        .reserve(&scope, Claim::new(Some(100), 40, lease))
        .await
        .unwrap());
    let settled = |charged, refunded| Settlement {
        charged,
        refunded,
        uncertain: false,
    };
    store.settle(&scope, one, settled(60, 10)).await.unwrap();
    tokio::time::sleep(lease * 2).await;
    // Two's lease ended unsettled: counted as possibly charged.
    let t = store.totals(&scope).await.unwrap();
    assert_eq!(
        (t.charged, t.refunded, t.uncertain, t.reserved, t.leases),
        (100, 10, 40, 0, 0)
    );
    // Its late settlement corrects it.
    store.settle(&scope, two, settled(5, 0)).await.unwrap();
    let t = store.totals(&scope).await.unwrap();
    assert_eq!((t.charged, t.uncertain, t.spent()), (65, 0, 55));
    assert_eq!(t.days.values().next(), Some(&(65, 10, 0)));
}
