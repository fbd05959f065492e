//! [`RedisCacheStore`]: entries in Redis (cargo feature `redis`), shared by every process and
//! machine that uses it; each entry ends by Redis's own expiry at its time to live, and a
//! short lock per question lets one of N workers fetch it while the others wait.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tollgate:cache:e:<key>` | hash | one entry (`body` as sent; expires with the entry) |
//! | `tollgate:cache:idx:<provider>` | sorted set | the provider's entry keys by when they were stored |
//! | `tollgate:cache:counts:<provider>` | hash | `hits`, `misses`, `credits_saved`, `rows_saved` |
//! | `tollgate:cache:lock:<key>` | string | the worker fetching `<key>` (ends by itself) |
//!
//! `<key>` is the cache's SHA-256 key: no API key and no request value is written. Redis's
//! `maxmemory` policy bounds the size (the store sets no cap of its own).

use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{
    CacheError, CacheFuture, CacheStore, Entry, Event, ProviderStats, Purge, millis, wall_ms,
};
use crate::vocab::Unit;

const PREFIX: &str = "tollgate:cache";

/// Deletes a lock only if this worker holds it. KEYS[1] = lock, ARGV[1] = owner.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Entries in Redis, shared across processes and machines.
#[derive(Clone)]
pub struct RedisCacheStore {
    connection: ConnectionManager,
    owner: String,
    unlock: redis::Script,
}

impl std::fmt::Debug for RedisCacheStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisCacheStore")
    }
}

fn failed(error: redis::RedisError) -> CacheError {
    CacheError::Store(format!("Redis: {error}"))
}

fn entry_key(key: &str) -> String {
    format!("{PREFIX}:e:{key}")
}

fn index_key(provider: &str) -> String {
    format!("{PREFIX}:idx:{provider}")
}

fn counts_key(provider: &str) -> String {
    format!("{PREFIX}:counts:{provider}")
}

impl RedisCacheStore {
    /// Connects to `url` (`redis://host:port/db`); the connection manager reconnects by itself.
    pub async fn connect(url: &str) -> Result<RedisCacheStore, CacheError> {
        let connection = crate::redis_store::connection(url).await.map_err(failed)?;
        Ok(RedisCacheStore {
            connection,
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            unlock: redis::Script::new(UNLOCK),
        })
    }

    /// Every provider with an index or counts.
    async fn providers(&self) -> Result<Vec<String>, CacheError> {
        let mut connection = self.connection.clone();
        let mut found = std::collections::BTreeSet::new();
        for pattern in [format!("{PREFIX}:idx:*"), format!("{PREFIX}:counts:*")] {
            let keys: Vec<String> = connection.keys(&pattern).await.map_err(failed)?;
            for key in keys {
                if let Some(p) = key.rsplit(':').next() {
                    found.insert(p.to_owned());
                }
            }
        }
        Ok(found.into_iter().collect())
    }
}

type Fields = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    Option<u64>,
    Option<u64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl CacheStore for RedisCacheStore {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Entry>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let fields: Fields = redis::cmd("HMGET")
                .arg(entry_key(key))
                .arg(&[
                    "provider",
                    "operation",
                    "status",
                    "content_type",
                    "body",
                    "stored_at",
                    "expires_at",
                    "cost",
                    "unit",
                    "checksum",
                ])
                .query_async(&mut connection)
                .await
                .map_err(failed)?;
            let (
                Some(provider),
                Some(operation),
                Some(status),
                content_type,
                Some(body),
                Some(stored_at),
                Some(expires_at),
                Some(cost),
                Some(unit),
                Some(checksum),
            ) = fields
            else {
                return Ok(None);
            };
            Ok(Some(Entry {
                provider,
                operation,
                status: u16::try_from(status).unwrap_or(0),
                content_type: content_type.filter(|c| !c.is_empty()),
                body: Bytes::from(body),
                stored_at,
                expires_at,
                cost,
                unit: if unit == "rows" {
                    Unit::Rows
                } else {
                    Unit::Credits
                },
                checksum,
            }))
        })
    }

    fn put<'a>(&'a self, key: &'a str, entry: Entry) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let ttl = entry.expires_at.saturating_sub(wall_ms()).max(1);
            let name = entry_key(key);
            let _: () = redis::pipe()
                .atomic()
                .del(&name)
                .hset_multiple(
                    &name,
                    &[
                        ("provider", entry.provider.as_bytes()),
                        ("operation", entry.operation.as_bytes()),
                        ("status", entry.status.to_string().as_bytes()),
                        (
                            "content_type",
                            entry.content_type.as_deref().unwrap_or("").as_bytes(),
                        ),
                        ("body", entry.body.as_ref()),
                        ("stored_at", entry.stored_at.to_string().as_bytes()),
                        ("expires_at", entry.expires_at.to_string().as_bytes()),
                        ("cost", entry.cost.to_string().as_bytes()),
                        ("unit", entry.unit.to_string().as_bytes()),
                        ("checksum", entry.checksum.as_bytes()),
                    ],
                )
                .pexpire(&name, i64::try_from(ttl).unwrap_or(i64::MAX))
                .zadd(index_key(&entry.provider), key, entry.stored_at)
                .query_async(&mut connection)
                .await
                .map_err(failed)?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: () = connection.del(entry_key(key)).await.map_err(failed)?;
            Ok(())
        })
    }

    fn count<'a>(&'a self, provider: &'a str, event: Event) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let name = counts_key(provider);
            let mut pipe = redis::pipe();
            match event {
                Event::Hit { saved, unit } => {
                    pipe.hincr(&name, "hits", 1).hincr(
                        &name,
                        match unit {
                            Unit::Credits => "credits_saved",
                            Unit::Rows => "rows_saved",
                        },
                        saved,
                    );
                }
                Event::Miss => {
                    pipe.hincr(&name, "misses", 1);
                }
            }
            let _: () = pipe.query_async(&mut connection).await.map_err(failed)?;
            Ok(())
        })
    }

    fn stats(&self) -> CacheFuture<'_, Vec<ProviderStats>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let mut out = Vec::new();
            for provider in self.providers().await? {
                let index = index_key(&provider);
                let keys: Vec<String> = connection.zrange(&index, 0, -1).await.map_err(failed)?;
                let mut stats = ProviderStats {
                    provider: provider.clone(),
                    ..ProviderStats::default()
                };
                for key in keys {
                    let bytes: u64 = redis::cmd("HSTRLEN")
                        .arg(entry_key(&key))
                        .arg("body")
                        .query_async(&mut connection)
                        .await
                        .map_err(failed)?;
                    let exists: bool = connection.exists(entry_key(&key)).await.map_err(failed)?;
                    if exists {
                        stats.entries += 1;
                        stats.bytes += bytes;
                    } else {
                        // Ended by Redis's expiry: out of the index too.
                        let _: () = connection.zrem(&index, &key).await.map_err(failed)?;
                    }
                }
                let counts: std::collections::HashMap<String, i64> = connection
                    .hgetall(counts_key(&provider))
                    .await
                    .map_err(failed)?;
                let get = |name: &str| counts.get(name).copied().unwrap_or(0);
                stats.hits = u64::try_from(get("hits")).unwrap_or(0);
                stats.misses = u64::try_from(get("misses")).unwrap_or(0);
                stats.credits_saved = get("credits_saved");
                stats.rows_saved = get("rows_saved");
                out.push(stats);
            }
            Ok(out)
        })
    }

    fn purge<'a>(&'a self, purge: &'a Purge, now: u64) -> CacheFuture<'a, u64> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let before = purge
                .older_than
                .map_or(u64::MAX, |d| now.saturating_sub(millis(d)));
            let providers = match &purge.provider {
                Some(p) => vec![p.clone()],
                None => self.providers().await?,
            };
            let mut gone = 0;
            for provider in providers {
                let index = index_key(&provider);
                let keys: Vec<String> = connection
                    .zrangebyscore(&index, "-inf", before)
                    .await
                    .map_err(failed)?;
                for key in &keys {
                    let removed: u64 = connection.del(entry_key(key)).await.map_err(failed)?;
                    gone += removed;
                    let _: () = connection.zrem(&index, key).await.map_err(failed)?;
                }
                if purge.older_than.is_none() {
                    let _: () = connection
                        .del(counts_key(&provider))
                        .await
                        .map_err(failed)?;
                }
            }
            Ok(gone)
        })
    }

    fn lock<'a>(&'a self, key: &'a str, hold: Duration) -> CacheFuture<'a, bool> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let taken: Option<String> = redis::cmd("SET")
                .arg(format!("{PREFIX}:lock:{key}"))
                .arg(&self.owner)
                .arg("NX")
                .arg("PX")
                .arg(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1))
                .query_async(&mut connection)
                .await
                .map_err(failed)?;
            Ok(taken.is_some())
        })
    }

    fn unlock<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .unlock
                .key(format!("{PREFIX}:lock:{key}"))
                .arg(&self.owner)
                .invoke_async(&mut connection)
                .await
                .map_err(failed)?;
            Ok(())
        })
    }
}
