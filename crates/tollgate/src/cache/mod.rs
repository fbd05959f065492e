//! The answers a user paid for, kept and reused: a cache of paid answers in front of the
//! provider.
//!
//! A metered API bills a repeated question again; tollgate keeps the final answer of every
//! cacheable call and serves the same question from the cache, sending nothing and paying
//! nothing. What is cacheable is provider data ([`crate::Profile::cache`]): each profile names
//! its cacheable operations (reads that charge: lookups, validations, finders, searches), how
//! long each answer stays good, when an answer is final, and how the fields of a request are
//! normalised so that `Sarah.Chen@Stripe.com` and `sarah.chen@stripe.com ` are one question.
//!
//! - **What is kept:** only final answers, as received (status, body, content type), with when
//!   they were stored and what they cost. An answer in progress (RocketReach `searching`) is
//!   never kept; when the free status check later delivers it complete, that is kept as the
//!   answer to the original request. Errors are never kept, except a miss a provider documents
//!   as final and charged ([`Negative`]).
//! - **Scope:** entries belong to one provider and one account (a keyed hash of the API key,
//!   never the key); another key never sees them unless both name one [`Cache::account`].
//! - **A hit** sends nothing, costs nothing, decodes into the same typed value, and is recorded
//!   in the ledger ([`crate::Basis::Cached`]) with what it saved ([`crate::Totals::saved`]).
//! - **Per call:** [`with_control`] bypasses the cache, refreshes an entry (pays again and
//!   replaces it) or sets a maximum age.
//! - **Concurrency:** identical calls in flight together pay once: one goes, the others wait
//!   for its answer (in a process, and across processes on a store that locks).
//! - **Integrity:** every entry carries a SHA-256 checksum; an entry that fails it is a miss
//!   (and a warning), never a wrong answer.
//!
//! ```
//! use std::time::Duration;
//! use tollgate::cache::{Cache, CacheControl};
//!
//! # async fn run() -> Result<(), tollgate::cache::CacheError> {
//! // In memory, at most 64 MiB, answers at most 30 days old.
//! let cache = Cache::memory(64 * 1024 * 1024).max_age(Duration::from_secs(30 * 86_400));
//! // let client = tollgate_enrich::Client::builder().cache(cache.clone()).build()?;
//! // Pay again for one call, and keep its new answer:
//! // tollgate::cache::with_control(CacheControl::refresh(), client.validate_email()...send()).await?;
//! let stats = cache.stats().await?;
//! assert!(stats.is_empty());
//! # let _ = CacheControl::bypass();
//! # Ok(())
//! # }
//! ```

mod memory;
#[cfg(feature = "redis")]
mod redis;
mod rules;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCacheStore;
pub use rules::{CacheProfile, CacheRule, CompletedBy, Negative, Normalize, Ready};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

use crate::shared::Scope;
use crate::vocab::Unit;

/// One kept answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The provider (a scope's provider name).
    pub provider: String,
    /// The operation that answered.
    pub operation: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The answer's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// The answer's body, as received.
    pub body: Bytes,
    /// When it was stored (milliseconds since the Unix epoch, on the cache's clock).
    pub stored_at: u64,
    /// When it stops being served (milliseconds since the Unix epoch).
    pub expires_at: u64,
    /// What the call that fetched it cost.
    pub cost: i64,
    /// The unit of `cost`.
    pub unit: Unit,
    /// SHA-256 over the key and every field above (hex).
    pub checksum: String,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds personal data: its size only.
        f.debug_struct("Entry")
            .field("provider", &self.provider)
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("bytes", &self.body.len())
            .field("stored_at", &self.stored_at)
            .field("expires_at", &self.expires_at)
            .field("cost", &self.cost)
            .finish()
    }
}

impl Entry {
    /// The checksum of this entry under `key`.
    pub fn compute_checksum(&self, key: &str) -> String {
        let mut hash = Sha256::new();
        for part in [
            key.as_bytes(),
            self.provider.as_bytes(),
            self.operation.as_bytes(),
            &self.status.to_be_bytes(),
            self.content_type.as_deref().unwrap_or("").as_bytes(),
            &self.body,
            &self.stored_at.to_be_bytes(),
            &self.expires_at.to_be_bytes(),
            &self.cost.to_be_bytes(),
            self.unit.to_string().as_bytes(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hex(&hash.finalize())
    }

    /// Whether the entry is intact under `key`.
    pub fn verify(&self, key: &str) -> bool {
        self.checksum == self.compute_checksum(key)
    }

    /// Whether this is a kept miss (an error status).
    pub fn is_negative(&self) -> bool {
        !(200..300).contains(&self.status)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache file cannot be opened or read.
    #[error(
        "the cache file {path} cannot be used: {reason}. Move it aside or delete it (with its -wal and -shm files, if any) to start an empty cache"
    )]
    Unreadable {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The store failed an operation.
    #[error("the cache store failed: {0}")]
    Store(String),
}

/// What a store counts per provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProviderStats {
    /// The provider.
    pub provider: String,
    /// Entries held (expired ones not yet removed included).
    pub entries: u64,
    /// Bytes of the bodies held.
    pub bytes: u64,
    /// Calls answered from the cache.
    pub hits: u64,
    /// Cacheable calls that had to be sent.
    pub misses: u64,
    /// Credits the hits saved.
    pub credits_saved: i64,
    /// Rows the hits saved.
    pub rows_saved: i64,
}

/// What to remove from a cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Only this provider's entries (a scope's provider name: `enrich`, `rocketreach`, ...).
    pub provider: Option<String>,
    /// Only entries stored at least this long ago.
    pub older_than: Option<Duration>,
}

/// A count a store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call answered from the cache, saving `saved` of `unit`.
    Hit {
        /// What the kept answer had cost.
        saved: i64,
        /// Its unit.
        unit: Unit,
    },
    /// A cacheable call that had to be sent.
    Miss,
}

/// What a [`CacheStore`] operation returns: a boxed future of its answer or a [`CacheError`].
pub type CacheFuture<'a, T> = BoxFuture<'a, Result<T, CacheError>>;

/// How a fetch that missed ends ([`CacheStore::settle`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Missed<'a> {
    /// The answer to keep, when it is kept.
    pub entry: Option<Entry>,
    /// The provider whose miss is counted.
    pub provider: &'a str,
    /// Whether the lock on the key was taken (and is to be released).
    pub unlock: bool,
}

/// Where entries live. Every operation is atomic; a user can bring their own store.
pub trait CacheStore: Send + Sync + fmt::Debug {
    /// The entry under `key`, if any (expired or not: the cache decides).
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Entry>>;
    /// Stores `entry` under `key`, replacing any, within the store's size cap (oldest entries
    /// go first).
    fn put<'a>(&'a self, key: &'a str, entry: Entry) -> CacheFuture<'a, ()>;
    /// Removes the entry under `key`.
    fn remove<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()>;
    /// Counts a hit or a miss of `provider`.
    fn count<'a>(&'a self, provider: &'a str, event: Event) -> CacheFuture<'a, ()>;
    /// What the store holds and counted, per provider.
    fn stats(&self) -> CacheFuture<'_, Vec<ProviderStats>>;
    /// Removes what `purge` names (at `now`, ms since the Unix epoch); returns how many
    /// entries went.
    fn purge<'a>(&'a self, purge: &'a Purge, now: u64) -> CacheFuture<'a, u64>;
    /// Takes a short lock on `key` for `hold`, so that one process of many fetches it:
    /// `true` when taken. Stores of one process need none (the default: always taken).
    fn lock<'a>(&'a self, key: &'a str, hold: Duration) -> CacheFuture<'a, bool> {
        let _ = (key, hold);
        Box::pin(async { Ok(true) })
    }
    /// Releases a lock taken with [`CacheStore::lock`].
    fn unlock<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        let _ = key;
        Box::pin(async { Ok(()) })
    }
    /// Ends a fetch of `key` that missed: counts the miss of `provider`, stores `entry` (when
    /// the answer is kept) and releases the lock (when it was taken). A store may do it in one
    /// step; by default it is [`CacheStore::count`], [`CacheStore::put`] and
    /// [`CacheStore::unlock`] in turn.
    fn settle<'a>(&'a self, key: &'a str, missed: Missed<'a>) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            self.count(missed.provider, Event::Miss).await?;
            if let Some(entry) = missed.entry {
                self.put(key, entry).await?;
            }
            if missed.unlock {
                self.unlock(key).await?;
            }
            Ok(())
        })
    }
}

/// What one call does with the cache ([`with_control`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheMode {
    /// Serve a fresh kept answer; keep a new one.
    #[default]
    Use,
    /// Neither read nor write: the call goes to the provider as if there were no cache.
    Bypass,
    /// Pay again and replace the kept answer.
    Refresh,
}

/// Per-call cache settings, set around a call with [`with_control`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// What the call does with the cache.
    pub mode: CacheMode,
    /// Serve only answers at most this old (beside the cache's own maximum).
    pub max_age: Option<Duration>,
}

impl CacheControl {
    /// Calls that neither read nor write the cache.
    pub fn bypass() -> Self {
        CacheControl {
            mode: CacheMode::Bypass,
            max_age: None,
        }
    }

    /// Calls that pay again and replace what is kept.
    pub fn refresh() -> Self {
        CacheControl {
            mode: CacheMode::Refresh,
            max_age: None,
        }
    }

    /// Calls served only from answers at most `age` old.
    pub fn max_age(age: Duration) -> Self {
        CacheControl {
            mode: CacheMode::Use,
            max_age: Some(age),
        }
    }
}

tokio::task_local! {
    static CONTROL: CacheControl;
}

/// Runs `call` (one or more calls of a client) under `control`.
pub async fn with_control<F: Future>(control: CacheControl, call: F) -> F::Output {
    CONTROL.scope(control, call).await
}

pub(crate) fn current_control() -> CacheControl {
    CONTROL.try_with(|c| *c).unwrap_or_default()
}

/// The cache's clock: milliseconds since the Unix epoch.
#[derive(Clone)]
pub enum Clock {
    /// The wall clock at the cache's creation, advanced by tokio's clock (so tests on tokio's
    /// paused clock move it).
    Tokio {
        /// The wall clock when the cache was created.
        start: SystemTime,
        /// tokio's clock then.
        at: tokio::time::Instant,
    },
    /// A clock the caller moves (tests, replays).
    Manual(Arc<std::sync::atomic::AtomicU64>),
}

impl Clock {
    /// The default clock.
    pub fn tokio() -> Clock {
        Clock::Tokio {
            start: SystemTime::now(),
            at: tokio::time::Instant::now(),
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        match self {
            Clock::Tokio { start, at } => {
                let now = *start + at.elapsed();
                now.duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            }
            Clock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::Tokio { .. } => f.write_str("Clock::Tokio"),
            Clock::Manual(_) => f.write_str("Clock::Manual"),
        }
    }
}

/// The wall clock, in milliseconds since the Unix epoch (locks between processes, Redis
/// expiry: times other processes read).
#[cfg(any(feature = "sqlite", feature = "redis"))]
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The cache a client reads and fills: a store, a clock, a maximum age and the calls in
/// flight. Cheap to clone (clones share everything); give one to several clients (of any
/// providers) with `ClientBuilder::cache`.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    store: Arc<dyn CacheStore>,
    clock: Clock,
    max_age: Option<Duration>,
    account: Option<String>,
    lock_hold: Duration,
    flights: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    writes: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .field("max_age", &self.inner.max_age)
            .field("account", &self.inner.account)
            .finish()
    }
}

/// How long a process holds another's lock on a key at most (a fetch that died).
pub const DEFAULT_LOCK_HOLD: Duration = Duration::from_secs(30);

impl Cache {
    /// A cache in `store`.
    pub fn new(store: impl CacheStore + 'static) -> Cache {
        Cache::from_arc(Arc::new(store))
    }

    /// A cache in a shared store.
    pub fn from_arc(store: Arc<dyn CacheStore>) -> Cache {
        Cache {
            inner: Arc::new(CacheInner {
                store,
                clock: Clock::tokio(),
                max_age: None,
                account: None,
                lock_hold: DEFAULT_LOCK_HOLD,
                flights: Mutex::new(HashMap::new()),
                writes: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A cache in memory, holding at most `max_bytes` of bodies (oldest entries go first).
    pub fn memory(max_bytes: u64) -> Cache {
        Cache::new(MemoryStore::new(max_bytes))
    }

    fn with(self, f: impl FnOnce(&mut CacheInner)) -> Cache {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| CacheInner {
            store: Arc::clone(&shared.store),
            clock: shared.clock.clone(),
            max_age: shared.max_age,
            account: shared.account.clone(),
            lock_hold: shared.lock_hold,
            flights: Mutex::new(HashMap::new()),
            writes: Mutex::new(Vec::new()),
        });
        let mut inner = inner;
        f(&mut inner);
        Cache {
            inner: Arc::new(inner),
        }
    }

    /// Serves no answer older than `age` (entries also end at their operation's time to live).
    pub fn max_age(self, age: Duration) -> Cache {
        self.with(|c| c.max_age = Some(age))
    }

    /// Shares entries between every key used under `name` (by default an entry belongs to the
    /// key that paid for it, and another key never sees it).
    pub fn account(self, name: impl Into<String>) -> Cache {
        let name = name.into();
        self.with(|c| c.account = Some(name))
    }

    /// Uses `clock` instead of the wall clock advanced by tokio's.
    pub fn clock(self, clock: Clock) -> Cache {
        self.with(|c| c.clock = clock)
    }

    /// How long another process's lock on a key is waited for at most.
    pub fn lock_hold(self, hold: Duration) -> Cache {
        self.with(|c| c.lock_hold = hold)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CacheStore> {
        &self.inner.store
    }

    /// Now, on the cache's clock (ms since the Unix epoch).
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// What the store holds and counted, per provider.
    pub async fn stats(&self) -> Result<Vec<ProviderStats>, CacheError> {
        self.inner.store.stats().await
    }

    /// Removes what `purge` names; returns how many entries went.
    pub async fn purge(&self, purge: &Purge) -> Result<u64, CacheError> {
        self.inner.store.purge(purge, self.now()).await
    }

    /// The scope entries of `key` at `provider` belong to.
    pub(crate) fn scope(&self, provider: &str, key: &str) -> Scope {
        match &self.inner.account {
            Some(name) => Scope::new(provider, &format!("account:{name}"), SCOPE_SECRET),
            None => Scope::new(provider, key, SCOPE_SECRET),
        }
    }

    /// The oldest an entry may be when served under `control`, in ms.
    fn oldest(&self, control: CacheControl) -> Option<u64> {
        let age = match (self.inner.max_age, control.max_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        Some(self.now().saturating_sub(millis(age)))
    }

    /// The entry under `key` if it is intact and fresh under `control`.
    pub(crate) async fn fresh(&self, key: &str, control: CacheControl) -> Option<Entry> {
        let entry = match self.inner.store.get(key).await {
            Ok(entry) => entry?,
            Err(error) => {
                tracing::warn!(%error, "the cache could not be read; the call is sent");
                return None;
            }
        };
        if !entry.verify(key) {
            tracing::warn!(
                operation = entry.operation,
                "a cache entry failed its checksum; it is dropped and the call is sent"
            );
            let _ = self.inner.store.remove(key).await;
            return None;
        }
        let now = self.now();
        if entry.expires_at <= now || self.oldest(control).is_some_and(|o| entry.stored_at < o) {
            return None;
        }
        Some(entry)
    }

    /// Stores an answer under `key` for `ttl`, from now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn keep(
        &self,
        key: &str,
        scope: &Scope,
        operation: &str,
        status: u16,
        content_type: Option<String>,
        body: Bytes,
        ttl: Duration,
        cost: i64,
        unit: Unit,
    ) {
        self.keep_write(Write {
            at: self.now(),
            key: key.to_owned(),
            scope: scope.clone(),
            operation: operation.to_owned(),
            status,
            content_type,
            body,
            ttl,
            cost,
            unit,
        })
        .await;
    }

    pub(crate) async fn count(&self, provider: &str, event: Event) {
        if let Err(error) = self.inner.store.count(provider, event).await {
            tracing::debug!(%error, "the cache could not count a hit or miss");
        }
    }

    /// Counts a hit or a miss in the background (a served answer does not wait for a write);
    /// [`Cache::flush`] waits for it.
    pub(crate) fn count_later(&self, provider: &str, event: Event) {
        let cache = self.clone();
        let provider = provider.to_owned();
        self.track(tokio::spawn(async move {
            cache.count(&provider, event).await;
        }));
    }

    fn track(&self, task: tokio::task::JoinHandle<()>) {
        let mut writes = crate::sync::lock(&self.inner.writes);
        if writes.len() > 64 {
            writes.retain(|t| !t.is_finished());
        }
        writes.push(task);
    }

    /// Waits until this process is the one fetching `key`: identical calls in flight share
    /// one fetch. The guard ends the flight.
    pub(crate) async fn flight(&self, key: &str) -> Flight {
        let lock = {
            let mut flights = crate::sync::lock(&self.inner.flights);
            if flights.len() > 64 {
                flights.retain(|_, w| w.strong_count() > 0);
            }
            match flights.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    flights.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        let local = lock.lock_owned().await;
        // Across processes: the store's lock, waited for up to the hold.
        let deadline = tokio::time::Instant::now() + self.inner.lock_hold;
        let mut locked = false;
        loop {
            match self.inner.store.lock(key, self.inner.lock_hold).await {
                Ok(true) => {
                    locked = true;
                    break;
                }
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(false) => break,
                Err(error) => {
                    tracing::debug!(%error, "the cache store could not lock; fetching anyway");
                    break;
                }
            }
        }
        Flight {
            _local: local,
            store: locked.then(|| (Arc::clone(&self.inner.store), key.to_owned())),
        }
    }

    /// Finishes a fetch in the background: counts the miss, writes what is to be kept, then
    /// ends the flight (so callers waiting for it find the answer). The caller has its answer
    /// at once; [`Cache::flush`] waits for every such write.
    pub(crate) fn finish(&self, flight: Flight, provider: String, write: Option<Write>) {
        let cache = self.clone();
        let task = tokio::spawn(async move {
            let mut flight = flight;
            let locked = flight.store.take().map(|(_, key)| key);
            let store = &cache.inner.store;
            let entry = write.map(|w| (w.key.clone(), cache.entry(w)));
            let missed = |entry, unlock| Missed {
                entry,
                provider: &provider,
                unlock,
            };
            let settled = match (entry, locked) {
                // Kept under the key the flight locked: one step.
                (Some((key, entry)), Some(lock)) if key == lock => {
                    store.settle(&key, missed(Some(entry), true)).await
                }
                // Kept under another key (an answer in progress waits under its id).
                (Some((key, entry)), lock) => {
                    let result = store.settle(&key, missed(Some(entry), false)).await;
                    if let Some(lock) = lock {
                        let _ = store.unlock(&lock).await;
                    }
                    result
                }
                (None, Some(lock)) => store.settle(&lock, missed(None, true)).await,
                (None, None) => store.count(&provider, Event::Miss).await,
            };
            if let Err(error) = settled {
                tracing::warn!(%error, "the answer could not be kept in the cache");
            }
            drop(flight);
        });
        self.track(task);
    }

    /// Writes `write` now (not in the background).
    pub(crate) async fn keep_write(&self, write: Write) {
        let key = write.key.clone();
        let entry = self.entry(write);
        if let Err(error) = self.inner.store.put(&key, entry).await {
            tracing::warn!(%error, "the answer could not be kept in the cache");
        }
    }

    /// The sealed entry of a write.
    fn entry(&self, w: Write) -> Entry {
        let mut entry = Entry {
            provider: w.scope.provider.clone(),
            operation: w.operation,
            status: w.status,
            content_type: w.content_type,
            body: w.body,
            stored_at: w.at,
            expires_at: w.at.saturating_add(millis(w.ttl)),
            cost: w.cost,
            unit: w.unit,
            checksum: String::new(),
        };
        entry.checksum = entry.compute_checksum(&w.key);
        entry
    }

    /// Waits until every answer fetched so far is written to the store (the `tollgate` command
    /// calls it before it exits; a process that ends without it may lose the last answers'
    /// entries, never an answer).
    pub async fn flush(&self) {
        let writes: Vec<tokio::task::JoinHandle<()>> =
            std::mem::take(&mut *crate::sync::lock(&self.inner.writes));
        for write in writes {
            let _ = write.await;
        }
    }
}

/// An answer to keep, written in the background by [`Cache::finish`].
pub(crate) struct Write {
    /// When it was fetched, on the cache's clock.
    pub at: u64,
    pub key: String,
    pub scope: Scope,
    pub operation: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub ttl: Duration,
    pub cost: i64,
    pub unit: Unit,
}

/// One fetch of a key in flight; dropping it lets the next caller in.
pub(crate) struct Flight {
    _local: tokio::sync::OwnedMutexGuard<()>,
    store: Option<(Arc<dyn CacheStore>, String)>,
}

impl Flight {
    pub(crate) async fn end(mut self) {
        if let Some((store, key)) = self.store.take() {
            let _ = store.unlock(&key).await;
        }
    }
}

const SCOPE_SECRET: &[u8] = b"tollgate cache scope v1";

/// A request's identity: the operation, its path, its query (parameters in any order) and its
/// JSON body (keys in any order), with the profile's named fields normalised.
pub fn identity(
    profile: &CacheProfile,
    operation: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let v = match profile.normalize(&k) {
                Some(n) => n.apply(&v),
                None => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    out.push_str(operation);
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    for (k, v) in pairs {
        out.push_str(&serde_json::to_string(&(k, v)).unwrap_or_default());
    }
    out.push('\n');
    if let Some(body) = body {
        canonical(profile, None, body, &mut out);
    }
    out
}

/// Writes `value` with object keys sorted and named fields normalised.
fn canonical(profile: &CacheProfile, field: Option<Normalize>, value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(profile, profile.normalize(k), &map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(profile, field, v, out);
            }
            out.push(']');
        }
        Value::String(s) => {
            let s = match field {
                Some(n) => n.apply(s),
                None => s.clone(),
            };
            out.push_str(&Value::String(s).to_string());
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The store key of `identity` in `scope`: SHA-256 of both (hex). It holds no key and no
/// request value.
pub fn key(scope: &Scope, identity: &str) -> String {
    let mut hash = Sha256::new();
    for part in [
        b"tollgate cache v1".as_slice(),
        scope.provider.as_bytes(),
        scope.fingerprint.as_bytes(),
        identity.as_bytes(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex(&hash.finalize())
}

/// The key under which an answer in progress waits for its completion.
pub(crate) fn pending_key(scope: &Scope, operation: &str, id: &str) -> String {
    key(scope, &format!("pending\n{operation}\n{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROFILE: CacheProfile = CacheProfile {
        rules: &[],
        fields: &[("email", Normalize::Email), ("emails", Normalize::Email)],
    };

    #[test]
    fn one_question_in_any_spelling_has_one_identity() {
        let a = identity(
            &PROFILE,
            "op",
            "/v1/x",
            "b=2&email=Sarah%40Stripe.com",
            Some(&json!({"emails": [" A@B.com "], "z": 1, "a": {"y": 1, "x": 2}})),
        );
        let b = identity(
            &PROFILE,
            "op",
            "/v1/x",
            "email=sarah%40stripe.com&b=2",
            Some(&json!({"a": {"x": 2, "y": 1}, "z": 1, "emails": ["a@b.com"]})),
        );
        assert_eq!(a, b);
        let other = identity(
            &PROFILE,
            "op",
            "/v1/x",
            "email=sarah%40stripe.com&b=3",
            None,
        );
        assert_ne!(a, other);
    }

    #[test]
    fn keys_differ_by_account_and_hold_no_value() {
        let cache = Cache::memory(1 << 20);
        let one = cache.scope("Enrich", "sk_one");
        let two = cache.scope("Enrich", "sk_two");
        let id = identity(&PROFILE, "op", "/", "email=a%40b.com", None);
        assert_ne!(key(&one, &id), key(&two, &id));
        assert!(!key(&one, &id).contains("a@b"));
        let shared = cache.clone().account("team");
        assert_eq!(
            key(&shared.scope("Enrich", "sk_one"), &id),
            key(&shared.scope("Enrich", "sk_two"), &id)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn entries_end_at_their_time_to_live_on_tokios_clock() {
        let cache = Cache::memory(1 << 20);
        let scope = cache.scope("Enrich", "sk_one");
        let key = key(&scope, "question");
        cache
            .keep(
                &key,
                &scope,
                "validate_email",
                200,
                None,
                Bytes::from_static(b"{}"),
                Duration::from_secs(3_600),
                1,
                Unit::Credits,
            )
            .await;
        let control = CacheControl::default();
        assert!(cache.fresh(&key, control).await.is_some());
        tokio::time::advance(Duration::from_secs(3_599)).await;
        assert!(cache.fresh(&key, control).await.is_some());
        assert!(
            cache
                .fresh(&key, CacheControl::max_age(Duration::from_secs(60)))
                .await
                .is_none(),
            "older than the call's maximum age"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.fresh(&key, control).await.is_none(), "expired");
    }

    #[tokio::test]
    async fn the_memory_store_evicts_the_oldest_first() {
        let cache = Cache::memory(10);
        let scope = cache.scope("Enrich", "sk_one");
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            cache
                .keep(
                    name,
                    &scope,
                    "op",
                    200,
                    None,
                    Bytes::from(vec![b'x'; 4]),
                    Duration::from_secs(60),
                    i64::try_from(i).unwrap(),
                    Unit::Credits,
                )
                .await;
            tokio::task::yield_now().await;
        }
        let control = CacheControl::default();
        assert!(
            cache.fresh("a", control).await.is_none(),
            "the oldest went first"
        );
        assert!(cache.fresh("b", control).await.is_some());
        assert!(cache.fresh("c", control).await.is_some());
    }
}
