//! [`SqliteStore`]: entries in one SQLite file (write-ahead log, created readable by its owner
//! only), shared by every process that opens it, with a size cap and locks between processes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    CacheError, CacheFuture, CacheStore, Entry, Event, Missed, ProviderStats, Purge, millis,
    wall_ms,
};
use crate::vocab::Unit;

/// The layout of the file; another is refused with advice.
const LAYOUT: i64 = 1;

/// Entries in a SQLite file. Every process that opens the file shares its entries, its counts
/// and its locks (so N processes asking for one person pay once). At most `max_bytes` of
/// bodies: when a new entry does not fit, the oldest go first.
pub struct SqliteStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    max_bytes: u64,
    conn: Mutex<Connection>,
    /// This store's lock owner id (process id and a random part).
    owner: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("max_bytes", &self.inner.max_bytes)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or creates, readable by its owner only) the cache file at `path`.
    pub fn open(path: impl AsRef<Path>, max_bytes: u64) -> Result<SqliteStore, CacheError> {
        let path = path.as_ref().to_path_buf();
        let unreadable = |reason: String| CacheError::Unreadable {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unreadable(e.to_string()))?;
        }
        if !path.exists() {
            create_private(&path).map_err(|e| unreadable(e.to_string()))?;
        }
        let conn = Connection::open(&path).map_err(|e| unreadable(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| unreadable(e.to_string()))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| unreadable(e.to_string()))?;
        if version != 0 && version != LAYOUT {
            return Err(unreadable(format!(
                "its layout is version {version}, this tollgate reads version {LAYOUT}"
            )));
        }
        // SQLite answers a second switch to WAL at once, without its busy timeout: retried.
        let mut tries = 0;
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if tries < 50 && e.to_string().contains("locked") => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(unreadable(e.to_string())),
            }
        }
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL;
             BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS entries (
                 key TEXT PRIMARY KEY,
                 provider TEXT NOT NULL,
                 operation TEXT NOT NULL,
                 status INTEGER NOT NULL,
                 content_type TEXT,
                 body BLOB NOT NULL,
                 stored_at INTEGER NOT NULL,
                 expires_at INTEGER NOT NULL,
                 cost INTEGER NOT NULL,
                 unit TEXT NOT NULL,
                 checksum TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS entries_by_age ON entries (stored_at);
             CREATE TABLE IF NOT EXISTS counts (
                 provider TEXT PRIMARY KEY,
                 hits INTEGER NOT NULL DEFAULT 0,
                 misses INTEGER NOT NULL DEFAULT 0,
                 credits_saved INTEGER NOT NULL DEFAULT 0,
                 rows_saved INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE IF NOT EXISTS size (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
             INSERT OR IGNORE INTO size (id, bytes) VALUES (1, 0);
             CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
             PRAGMA user_version = 1;
             COMMIT;",
        )
        .map_err(|e| unreadable(e.to_string()))?;
        Ok(SqliteStore {
            inner: std::sync::Arc::new(Inner {
                path,
                max_bytes,
                conn: Mutex::new(conn),
                owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CacheError> {
        self.inner.run(f)
    }

    /// Runs a write on tokio's blocking threads, so that the file's locks and syncs never hold
    /// up the calls of the runtime's workers.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Inner) -> rusqlite::Result<T> + Send + 'static,
    ) -> CacheFuture<'static, T> {
        let inner = std::sync::Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || inner.run_with(f))
                .await
                .map_err(|e| CacheError::Store(format!("a cache write stopped: {e}")))?
        })
    }
}

impl Inner {
    fn run_with<T>(
        &self,
        f: impl FnOnce(&mut Connection, &Inner) -> rusqlite::Result<T>,
    ) -> Result<T, CacheError> {
        let mut conn = crate::sync::lock(&self.conn);
        let result = f(&mut conn, self);
        drop(conn);
        result.map_err(|e| self.error(e))
    }

    fn error(&self, e: rusqlite::Error) -> CacheError {
        match e {
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
                ) =>
            {
                CacheError::Unreadable {
                    path: self.path.display().to_string(),
                    reason: e.to_string(),
                }
            }
            other => CacheError::Store(other.to_string()),
        }
    }

    fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CacheError> {
        self.run_with(|c, _| f(c))
    }
}

/// Creates `path` readable and writable by its owner only.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Stores `entry` under `key` within `max` bytes of bodies (the oldest go first), in `tx`.
fn put_in(tx: &Connection, key: &str, entry: &Entry, max: i64) -> rusqlite::Result<()> {
    let size = i64::try_from(entry.body.len()).unwrap_or(i64::MAX);
    let old: Option<i64> = tx
        .prepare_cached("SELECT length(body) FROM entries WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        tx.prepare_cached("DELETE FROM entries WHERE key = ?1")?
            .execute([key])?;
        tx.prepare_cached("UPDATE size SET bytes = max(0, bytes - ?1)")?
            .execute([old])?;
    }
    if size > max {
        return Ok(());
    }
    let mut total: i64 = tx
        .prepare_cached("SELECT bytes FROM size")?
        .query_row([], |r| r.get(0))?;
    while total.saturating_add(size) > max {
        let oldest: Option<(String, i64)> = tx
            .prepare_cached("SELECT key, length(body) FROM entries ORDER BY stored_at LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((gone, bytes)) = oldest else { break };
        tx.prepare_cached("DELETE FROM entries WHERE key = ?1")?
            .execute([&gone])?;
        total = total.saturating_sub(bytes);
    }
    tx.prepare_cached(
        "INSERT INTO entries (key, provider, operation, status, content_type, body, stored_at, expires_at, cost, unit, checksum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        key,
        entry.provider,
        entry.operation,
        i64::from(entry.status),
        entry.content_type,
        entry.body.as_ref(),
        to_sql(entry.stored_at),
        to_sql(entry.expires_at),
        entry.cost,
        entry.unit.to_string(),
        entry.checksum,
    ])?;
    tx.prepare_cached("UPDATE size SET bytes = ?1")?
        .execute([total.saturating_add(size)])?;
    Ok(())
}

/// Counts `event` of `provider`.
fn count_in(c: &Connection, provider: &str, event: Event) -> rusqlite::Result<()> {
    let (hits, misses, credits, rows) = match event {
        Event::Hit {
            saved,
            unit: Unit::Credits,
        } => (1, 0, saved, 0),
        Event::Hit {
            saved,
            unit: Unit::Rows,
        } => (1, 0, 0, saved),
        Event::Miss => (0, 1, 0, 0),
    };
    c.prepare_cached(
        "INSERT INTO counts (provider, hits, misses, credits_saved, rows_saved) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (provider) DO UPDATE SET hits = hits + ?2, misses = misses + ?3,
             credits_saved = credits_saved + ?4, rows_saved = rows_saved + ?5",
    )?
    .execute(params![provider, hits, misses, credits, rows])?;
    Ok(())
}

fn unit_of(text: &str) -> Unit {
    if text == "rows" {
        Unit::Rows
    } else {
        Unit::Credits
    }
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl CacheStore for SqliteStore {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Entry>> {
        let found = self.run(|c| {
            c.prepare_cached(
                "SELECT provider, operation, status, content_type, body, stored_at, expires_at, cost, unit, checksum
                 FROM entries WHERE key = ?1",
            )?
            .query_row([key], |r| {
                    let status: i64 = r.get(2)?;
                    Ok(Entry {
                        provider: r.get(0)?,
                        operation: r.get(1)?,
                        status: u16::try_from(status).unwrap_or(0),
                        content_type: r.get(3)?,
                        body: Bytes::from(r.get::<_, Vec<u8>>(4)?),
                        stored_at: from_sql(r.get(5)?),
                        expires_at: from_sql(r.get(6)?),
                        cost: r.get(7)?,
                        unit: unit_of(&r.get::<_, String>(8)?),
                        checksum: r.get(9)?,
                    })
                })
            .optional()
        });
        Box::pin(async move { found })
    }

    fn put<'a>(&'a self, key: &'a str, entry: Entry) -> CacheFuture<'a, ()> {
        let key = key.to_owned();
        self.write(move |c, inner| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            put_in(&tx, &key, &entry, to_sql(inner.max_bytes))?;
            tx.commit()
        })
    }

    fn settle<'a>(&'a self, key: &'a str, missed: Missed<'a>) -> CacheFuture<'a, ()> {
        // The miss, the entry and the lock's end in one transaction.
        let (key, provider) = (key.to_owned(), missed.provider.to_owned());
        let (entry, unlock) = (missed.entry, missed.unlock);
        self.write(move |c, inner| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            count_in(&tx, &provider, Event::Miss)?;
            if let Some(entry) = &entry {
                put_in(&tx, &key, entry, to_sql(inner.max_bytes))?;
            }
            if unlock {
                tx.prepare_cached("DELETE FROM locks WHERE key = ?1 AND owner = ?2")?
                    .execute(params![key, inner.owner])?;
            }
            tx.commit()
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        let done = self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let old: Option<i64> = tx
                .query_row(
                    "SELECT length(body) FROM entries WHERE key = ?1",
                    [key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(old) = old {
                tx.execute("DELETE FROM entries WHERE key = ?1", [key])?;
                tx.execute("UPDATE size SET bytes = max(0, bytes - ?1)", [old])?;
            }
            tx.commit()
        });
        Box::pin(async move { done })
    }

    fn count<'a>(&'a self, provider: &'a str, event: Event) -> CacheFuture<'a, ()> {
        let provider = provider.to_owned();
        self.write(move |c, _| count_in(c, &provider, event))
    }

    fn stats(&self) -> CacheFuture<'_, Vec<ProviderStats>> {
        let out = self.run(|c| {
            let mut by = std::collections::BTreeMap::<String, ProviderStats>::new();
            let mut held = c.prepare(
                "SELECT provider, count(*), coalesce(sum(length(body)), 0) FROM entries GROUP BY provider",
            )?;
            let rows = held.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })?;
            for row in rows {
                let (p, n, bytes) = row?;
                let s = by.entry(p).or_default();
                s.entries = from_sql(n);
                s.bytes = from_sql(bytes);
            }
            let mut counted = c.prepare(
                "SELECT provider, hits, misses, credits_saved, rows_saved FROM counts",
            )?;
            let rows = counted.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (p, hits, misses, credits, rows) = row?;
                let s = by.entry(p).or_default();
                s.hits = from_sql(hits);
                s.misses = from_sql(misses);
                s.credits_saved = credits;
                s.rows_saved = rows;
            }
            Ok(by
                .into_iter()
                .map(|(provider, mut s)| {
                    s.provider = provider;
                    s
                })
                .collect())
        });
        Box::pin(async move { out })
    }

    fn purge<'a>(&'a self, purge: &'a Purge, now: u64) -> CacheFuture<'a, u64> {
        let before = purge
            .older_than
            .map_or(i64::MAX, |d| to_sql(now.saturating_sub(millis(d))));
        let done = self.run(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "DELETE FROM entries WHERE (?1 IS NULL OR provider = ?1) AND stored_at <= ?2",
                params![purge.provider, before],
            )?;
            if purge.older_than.is_none() {
                tx.execute(
                    "DELETE FROM counts WHERE ?1 IS NULL OR provider = ?1",
                    params![purge.provider],
                )?;
            }
            tx.execute(
                "UPDATE size SET bytes = (SELECT coalesce(sum(length(body)), 0) FROM entries)",
                [],
            )?;
            tx.commit()?;
            Ok(n as u64)
        });
        Box::pin(async move { done })
    }

    fn lock<'a>(&'a self, key: &'a str, hold: Duration) -> CacheFuture<'a, bool> {
        let now = to_sql(wall_ms());
        let until = now.saturating_add(to_sql(millis(hold)));
        let taken = self.run(|c| {
            let insert = |c: &Connection| {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO locks (key, owner, until) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![key, self.inner.owner, until])
            };
            if insert(c)? == 1 {
                return Ok(true);
            }
            // Held: by a live fetch, or by one that died (its time is up): that one is cleared.
            let cleared = c
                .prepare_cached("DELETE FROM locks WHERE key = ?1 AND until <= ?2")?
                .execute(params![key, now])?;
            Ok(cleared == 1 && insert(c)? == 1)
        });
        Box::pin(async move { taken })
    }

    fn unlock<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        let key = key.to_owned();
        self.write(move |c, inner| {
            c.execute(
                "DELETE FROM locks WHERE key = ?1 AND owner = ?2",
                params![key, inner.owner],
            )
            .map(|_| ())
        })
    }
}
