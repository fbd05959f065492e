//! Rate limits and budgets shared by every client of one key, in one process or many.
//!
//! A provider limits and bills per key, so twenty workers on five machines with one key must
//! pace and spend as one. A [`Store`] holds, per provider and key:
//!
//! - **the pace**: GCRA (a theoretical arrival time per key) and a pause until a time, so a 429
//!   or `X-RateLimit-Remaining: 0` seen by one worker holds every worker of the key;
//! - **the budget**: what was charged, refunded, possibly charged and reserved; each
//!   reservation is a lease, so a worker killed mid-call does not hold credits forever (when the
//!   lease ends, its maximum is counted as possibly charged, as a cancelled call is in process);
//! - **totals per day**.
//!
//! Two stores: [`LocalStore`] (in memory: clients of one process share it through an `Arc`;
//! always available) and `RedisStore` (cargo feature `redis`: every operation one atomic Lua
//! script, for clients in many processes). A client uses one through
//! [`crate::ClientBuilder::shared`]; without it, nothing changes.
//!
//! Keys are never stored: a store sees a provider name and a [`Scope`] fingerprint, a keyed
//! hash (HMAC-SHA-256) of the key.
//!
//! **When the store fails** (Redis unreachable): a call that needs the budget fails closed
//! ([`crate::Error::SharedStore`], nothing sent); pacing falls back to the client's own limiter
//! at the plan's rate divided by [`Shared::workers`], with a warning.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::vocab::Period;
pub use crate::vocab::Settlement;

/// Where a key's shared state lives: its provider and a fingerprint of the key; for a budget of
/// one credit type or one that renews, the credit type and the period too (each budget of a key
/// is kept apart; the pace is the key's, with neither).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The provider (a profile's name, lowercase, no spaces).
    pub provider: String,
    /// A keyed hash of the API key (hex), never the key.
    pub fingerprint: String,
    /// The credit type of the budget kept here (`None`: every charge).
    pub credit_type: Option<String>,
    /// When the budget kept here renews: a store counts spending in the current period only
    /// (on its own clock: Redis's, or tokio's for [`LocalStore`]).
    pub period: Period,
}

impl Scope {
    /// The one scope of a store that belongs to a single client (no key needs telling apart).
    pub(crate) fn own() -> Scope {
        Scope {
            provider: String::from("own"),
            fingerprint: String::new(),
            credit_type: None,
            period: Period::Total,
        }
    }

    /// The scope of the same key's budget of `credit_type` (`None`: every charge), renewing
    /// every `period`.
    pub fn budget(&self, credit_type: Option<&str>, period: Period) -> Scope {
        Scope {
            provider: self.provider.clone(),
            fingerprint: self.fingerprint.clone(),
            credit_type: credit_type.map(str::to_owned),
            period,
        }
    }

    /// Whether this scope keeps the key's overall budget for good (the pace's scope too).
    pub fn is_overall(&self) -> bool {
        self.credit_type.is_none() && self.period == Period::Total
    }

    /// The scope of `key` at `provider`, fingerprinted with `secret`.
    pub fn new(provider: &str, key: &str, secret: &[u8]) -> Scope {
        let provider: String = provider
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let fingerprint = match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(provider.as_bytes());
                mac.update(b":");
                mac.update(key.as_bytes());
                mac.finalize()
                    .into_bytes()
                    .iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
            // HMAC takes keys of any length; this cannot happen.
            Err(_) => String::from("unkeyed"),
        };
        Scope {
            provider,
            fingerprint,
            credit_type: None,
            period: Period::Total,
        }
    }
}

/// What the pace says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A slot is reserved: send after this wait.
    After(Duration),
    /// The next slot is further away than the caller waits (a long pause): nothing reserved.
    Beyond(Duration),
}

/// A reservation's outcome from the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Reserved under this lease id.
    Lease(u64),
    /// Refused: only this much is left.
    Refused {
        /// What the budget has left.
        remaining: i64,
    },
}

/// Totals of a scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SharedTotals {
    /// Everything charged (possibly charged included).
    pub charged: i64,
    /// Everything refunded.
    pub refunded: i64,
    /// The part of `charged` only possibly charged (calls never answered, leases that ended).
    pub uncertain: i64,
    /// What live leases reserve.
    pub reserved: i64,
    /// Live leases.
    pub leases: u64,
    /// Per UTC day (`YYYY-MM-DD`): (charged, refunded, uncertain).
    pub days: BTreeMap<String, (i64, i64, i64)>,
}

impl SharedTotals {
    /// Charged minus refunded, never below zero.
    pub fn spent(&self) -> i64 {
        self.charged.saturating_sub(self.refunded).max(0)
    }
}

/// Reports a store's failure once per outage (a warning), and its recovery.
#[derive(Debug, Default)]
pub(crate) struct Outage(std::sync::atomic::AtomicBool);

impl Outage {
    /// Warns `what` (with `error`) unless this outage was already reported.
    pub(crate) fn report(&self, what: &str, error: &StoreError) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %error, "{what}");
        }
    }

    /// The store answered: the next failure is a new outage.
    pub(crate) fn recovered(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the command.
    #[error("the shared store is unavailable: {0}")]
    Unavailable(String),
}

/// A place where clients of one key share their pace and budget. Every operation is atomic.
///
/// A scope's budget counts its current period only ([`Scope::period`]): `reserve`, `settle`
/// and `totals` start the period's totals from zero when the store's clock has passed into a
/// new one (reservations in flight stay reserved).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Reserves the next request slot of `scope` by `pace`, unless a pause (a server's) holds
    /// the scope for longer than its cap. A slot further away than the cap by the plan alone
    /// is reserved: a slow plan is waited for.
    fn acquire<'a>(&'a self, scope: &'a Scope, pace: Pace) -> StoreFuture<'a, Admission>;

    /// Holds every request of `scope` for `wait` (a longer pause already set stays).
    fn pause<'a>(&'a self, scope: &'a Scope, wait: Duration) -> StoreFuture<'a, ()>;

    /// Reserves what `claim` asks under its lease, unless its limit (when set) would be passed.
    fn reserve<'a>(&'a self, scope: &'a Scope, claim: Claim) -> StoreFuture<'a, Reserved>;

    /// Ends the lease `id` with what the call cost. A lease that already ended (counted as
    /// possibly charged) is corrected to the settlement. [`NO_LEASE`] (or any id that was never
    /// a lease) records spending made outside a lease: a resumed job's earlier runs. Returns
    /// what the scope has spent (charged minus refunded, never below zero) in its current
    /// period, after the settlement.
    fn settle<'a>(&'a self, scope: &'a Scope, id: u64, cost: Settlement) -> StoreFuture<'a, i64>;

    /// The totals of `scope` (ended leases are counted first).
    fn totals<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, SharedTotals>;
}

/// What a [`Store`] operation returns: a boxed future of its answer or a [`StoreError`].
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// The request slot [`Store::acquire`] is asked for: one request per `interval`, `burst`
/// requests at once, unless a pause holds the scope for longer than `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pace {
    /// The plan's spacing between requests.
    pub interval: Duration,
    /// How many requests the plan allows at once (at least 1).
    pub burst: u32,
    /// The longest pause (a server's) worth waiting for; a longer one is refused.
    pub cap: Duration,
}

impl Pace {
    /// One request per `interval`, `burst` at once, waiting out pauses up to `cap`.
    pub fn new(interval: Duration, burst: u32, cap: Duration) -> Pace {
        Pace {
            interval,
            burst,
            cap,
        }
    }
}

/// What [`Store::reserve`] is asked to hold: `amount` under a lease of `lease`, unless
/// `limit` (when set) would be passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The budget of the scope's current period, if it has one.
    pub limit: Option<i64>,
    /// What the call may cost at most (below zero counts as zero).
    pub amount: i64,
    /// How long the reservation holds before it counts as possibly charged.
    pub lease: Duration,
}

impl Claim {
    /// `amount` under a lease of `lease`, within `limit` when set.
    pub fn new(limit: Option<i64>, amount: i64, lease: Duration) -> Claim {
        Claim {
            limit,
            amount,
            lease,
        }
    }
}

/// A store and how a client uses it; give it to [`crate::ClientBuilder::shared`].
#[derive(Clone, Debug)]
pub struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) workers: u32,
    pub(crate) lease: Duration,
    pub(crate) secret: Vec<u8>,
}

/// The lease id no reservation has: settling it records spending made outside a lease.
pub const NO_LEASE: u64 = 0;

/// The default lease of a reservation: longer than any call with its retries.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15 * 60);

/// The default secret of the key fingerprints.
const DEFAULT_SECRET: &[u8] = b"tollgate shared state v1";

impl Shared {
    /// Clients given this (or a clone) share the store.
    pub fn new(store: impl Store) -> Shared {
        Shared::from_arc(Arc::new(store))
    }

    /// From a store already shared.
    pub fn from_arc(store: Arc<dyn Store>) -> Shared {
        Shared {
            store,
            workers: 1,
            lease: DEFAULT_LEASE,
            secret: DEFAULT_SECRET.to_vec(),
        }
    }

    /// How many workers share the key: when the store fails, each paces at the plan's rate
    /// divided by this.
    pub fn workers(mut self, workers: u32) -> Shared {
        self.workers = workers.max(1);
        self
    }

    /// How long a reservation holds before it counts as possibly charged (a worker killed
    /// mid-call). Default 15 minutes.
    pub fn lease(mut self, lease: Duration) -> Shared {
        self.lease = lease;
        self
    }

    /// The secret of the key fingerprints (every worker of a team must use the same one).
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> Shared {
        self.secret = secret.into();
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The scope of `key` at `provider` under this secret.
    pub fn scope(&self, provider: &str, key: &str) -> Scope {
        Scope::new(provider, key, &self.secret)
    }
}

impl<S: Store> From<S> for Shared {
    fn from(store: S) -> Shared {
        Shared::new(store)
    }
}

// ---------------------------------------------------------------------------------------------
// In memory.

/// A store in memory: clients of one process that share it (through [`Shared`] clones) pace
/// and spend as one. Time is tokio's clock: the calendar of renewing budgets is the wall clock
/// when the store was made, moved on by tokio's clock since (so a paused clock's
/// `tokio::time::advance` crosses midnight too).
#[derive(Debug)]
pub struct LocalStore {
    state: Mutex<HashMap<Scope, LocalState>>,
    next: AtomicU64,
    /// The wall-clock time (Unix seconds) at `origin`.
    wall: f64,
    origin: tokio::time::Instant,
}

impl Default for LocalStore {
    fn default() -> LocalStore {
        LocalStore::starting_at(std::time::SystemTime::now())
    }
}

#[derive(Debug, Default)]
struct LocalState {
    /// The period the totals count (renewing budgets).
    window: i64,
    tat: Option<tokio::time::Instant>,
    paused_until: Option<tokio::time::Instant>,
    totals: SharedTotals,
    leases: HashMap<u64, (i64, tokio::time::Instant)>,
    /// Leases that ended unsettled: their amounts, counted as possibly charged.
    ended: HashMap<u64, i64>,
}

/// Today (UTC) as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    utc_day(std::time::SystemTime::now())
}

/// Today (UTC) as `YYYY-MM-DD`, formatted once a day (the store adds to it on every call).
fn today_cached() -> std::sync::Arc<String> {
    static DAY: Mutex<Option<(u64, std::sync::Arc<String>)>> = Mutex::new(None);
    let number = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let mut cached = crate::sync::lock(&DAY);
    match &*cached {
        Some((n, day)) if *n == number => std::sync::Arc::clone(day),
        _ => {
            let day = std::sync::Arc::new(today());
            *cached = Some((number, std::sync::Arc::clone(&day)));
            day
        }
    }
}

/// The UTC day of `time` as `YYYY-MM-DD` (chrono's calendar).
fn utc_day(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y-%m-%d")
        .to_string()
}

impl LocalState {
    /// Starts a new period's totals when `window` is not the one counted (leases in flight
    /// stay reserved: they settle in the new period).
    fn roll(&mut self, window: i64) {
        if window != self.window {
            self.window = window;
            let t = &mut self.totals;
            (t.charged, t.refunded, t.uncertain) = (0, 0, 0);
        }
    }

    fn sweep(&mut self, now: tokio::time::Instant) {
        let ended: Vec<u64> = self
            .leases
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some((amount, _)) = self.leases.remove(&id) {
                self.totals.reserved = self.totals.reserved.saturating_sub(amount);
                self.add(amount, 0, amount);
                self.ended.insert(id, amount);
            }
        }
        self.totals.leases = self.leases.len() as u64;
    }

    fn add(&mut self, charged: i64, refunded: i64, uncertain: i64) {
        let t = &mut self.totals;
        t.charged = t.charged.saturating_add(charged);
        t.refunded = t.refunded.saturating_add(refunded);
        t.uncertain = t.uncertain.saturating_add(uncertain);
        let day = match t.days.get_mut(today_cached().as_str()) {
            Some(day) => day,
            None => t.days.entry(today()).or_default(),
        };
        day.0 = day.0.saturating_add(charged);
        day.1 = day.1.saturating_add(refunded);
        day.2 = day.2.saturating_add(uncertain);
    }
}

impl LocalStore {
    /// An empty store.
    pub fn new() -> LocalStore {
        LocalStore::default()
    }

    /// An empty store whose calendar reads `time` now (simulations, and tests of renewing
    /// budgets on tokio's paused clock).
    pub fn starting_at(time: std::time::SystemTime) -> LocalStore {
        let wall = match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => after.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        LocalStore {
            state: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            wall,
            origin: tokio::time::Instant::now(),
        }
    }

    /// The store's calendar now, in Unix seconds.
    fn unix_now(&self) -> i64 {
        let since = tokio::time::Instant::now().saturating_duration_since(self.origin);
        (self.wall + since.as_secs_f64()).floor() as i64
    }

    fn with<T>(&self, scope: &Scope, f: impl FnOnce(&mut LocalState) -> T) -> T {
        let window = match scope.period {
            Period::Total => 0,
            period => period.window(self.unix_now()),
        };
        let mut all = crate::sync::lock(&self.state);
        // The scope is cloned only the first time it is seen.
        let state = match all.get_mut(scope) {
            Some(state) => state,
            None => all.entry(scope.clone()).or_insert_with(|| LocalState {
                window,
                ..LocalState::default()
            }),
        };
        state.roll(window);
        f(state)
    }
}

impl Store for LocalStore {
    fn acquire<'a>(&'a self, scope: &'a Scope, pace: Pace) -> StoreFuture<'a, Admission> {
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            Ok(self.with(scope, |s| {
                if let Some(until) = s.paused_until.filter(|u| *u > now + pace.cap) {
                    return Admission::Beyond(until - now);
                }
                let tat = s.tat.unwrap_or(now);
                let ahead = pace.interval.saturating_mul(pace.burst.max(1) - 1);
                let earliest = tat.checked_sub(ahead).unwrap_or(now);
                let slot = [now, earliest, s.paused_until.unwrap_or(now)]
                    .into_iter()
                    .max()
                    .unwrap_or(now);
                let wait = slot - now;
                s.tat = Some(tat.max(slot) + pace.interval);
                Admission::After(wait)
            }))
        })
    }

    fn pause<'a>(&'a self, scope: &'a Scope, wait: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            let until = now
                .checked_add(wait)
                .unwrap_or(now + Duration::from_secs(86_400 * 365));
            self.with(scope, |s| {
                if s.paused_until.is_none_or(|p| p < until) {
                    s.paused_until = Some(until);
                }
            });
            Ok(())
        })
    }

    fn reserve<'a>(&'a self, scope: &'a Scope, claim: Claim) -> StoreFuture<'a, Reserved> {
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            Ok(self.with(scope, |s| {
                s.sweep(now);
                let used = s.totals.spent().saturating_add(s.totals.reserved);
                if let Some(limit) = claim.limit
                    && used.saturating_add(claim.amount) > limit
                {
                    return Reserved::Refused {
                        remaining: limit.saturating_sub(used).max(0),
                    };
                }
                if claim.amount > 0 {
                    s.totals.reserved = s.totals.reserved.saturating_add(claim.amount);
                    s.leases.insert(id, (claim.amount, now + claim.lease));
                    s.totals.leases = s.leases.len() as u64;
                }
                Reserved::Lease(id)
            }))
        })
    }

    fn settle<'a>(&'a self, scope: &'a Scope, id: u64, cost: Settlement) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            Ok(self.with(scope, |s| {
                s.sweep(now);
                let Settlement {
                    charged,
                    refunded,
                    uncertain,
                } = cost;
                if let Some((amount, _)) = s.leases.remove(&id) {
                    s.totals.reserved = s.totals.reserved.saturating_sub(amount);
                    s.add(charged, refunded, if uncertain { charged } else { 0 });
                } else if let Some(amount) = s.ended.remove(&id) {
                    // Counted as possibly charged when its lease ended: now it is known.
                    if !uncertain {
                        s.add(charged.saturating_sub(amount), refunded, -amount);
                    }
                } else {
                    s.add(charged, refunded, if uncertain { charged } else { 0 });
                }
                s.totals.leases = s.leases.len() as u64;
                s.totals.spent()
            }))
        })
    }

    fn totals<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, SharedTotals> {
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            Ok(self.with(scope, |s| {
                s.sweep(now);
                s.totals.clone()
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        let at = |secs| std::time::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(utc_day(at(0)), "1970-01-01");
        assert_eq!(utc_day(at(951_782_400)), "2000-02-29");
        assert_eq!(utc_day(at(1_796_083_199)), "2026-11-30");
    }

    #[test]
    fn a_fingerprint_is_keyed_and_never_the_key() {
        let a = Scope::new("Spider News", "secret-key-123", b"team a");
        let b = Scope::new("Spider News", "secret-key-123", b"team b");
        assert_eq!(a.provider, "spidernews");
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 32);
        assert!(!a.fingerprint.contains("secret"));
    }
}
