//! The journal: an embedded SQLite database (WAL mode) that records every bulk job's items, the
//! provider's batch ids and every charge, each change in one transaction, so a job killed at any
//! point resumes where the last committed change left it.
//!
//! | table | one row per |
//! |---|---|
//! | `jobs` | bulk job: its kind, provider, target, input file and fingerprint |
//! | `items` | input item: its line, the item, its state, its batch, its result or error |
//! | `batches` | provider batch: its items, its state, the provider's id |
//! | `problems` | malformed input line: its number and what is wrong |
//! | `charges` | call that cost something: provider, target, operation, day, amounts |
//!
//! An item is `pending`, `planned` (in a batch not yet accepted), `submitted` (in an accepted
//! batch), `sending` (its own call is in flight), `done`, `failed`, `duplicate` (same as an
//! earlier line, which it copies) or `unknown` (its call was in flight when a run stopped: it
//! may have been charged, so it is not sent again unless asked). A batch is `planned`,
//! `sending`, `accepted`, `settled` or `unknown`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tollgate::Usage;

use crate::error::CliError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    provider TEXT NOT NULL,
    target TEXT NOT NULL,
    input TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    job TEXT NOT NULL,
    line INTEGER NOT NULL,
    item TEXT NOT NULL,
    identity TEXT NOT NULL,
    state TEXT NOT NULL,
    batch INTEGER,
    result TEXT,
    error TEXT,
    PRIMARY KEY (job, line)
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (job, state);
CREATE TABLE IF NOT EXISTS batches (
    job TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    provider_id TEXT,
    PRIMARY KEY (job, seq)
);
CREATE TABLE IF NOT EXISTS problems (
    job TEXT NOT NULL,
    line INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job, line)
);
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    target TEXT NOT NULL,
    operation TEXT NOT NULL,
    job TEXT,
    unit TEXT NOT NULL,
    estimated INTEGER NOT NULL,
    charged INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    basis TEXT NOT NULL,
    status INTEGER NOT NULL
);
";

/// The journal's database.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// One item of a job, as the journal holds it.
#[derive(Clone, Debug)]
pub struct Item {
    /// Its line in the input (1-based; the header is line 1 of a CSV file).
    pub line: i64,
    /// The item (JSON).
    pub item: String,
    /// What makes two items the same request (duplicates are sent once).
    pub identity: String,
    /// Its state.
    pub state: String,
    /// Its batch, for batch jobs.
    pub batch: Option<i64>,
    /// Its result (JSON), once done.
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A charge where it is recorded: the provider and target of the client that paid it.
#[derive(Clone, Copy, Debug)]
pub struct Payer<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The target's label (`production`, `sandbox`, a base URL).
    pub target: &'a str,
    /// The job, for charges of a bulk job.
    pub job: Option<&'a str>,
}

/// Spending of one provider, target, operation and day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The day (UTC, `YYYY-MM-DD`).
    pub day: String,
    /// The provider.
    pub provider: String,
    /// The target.
    pub target: String,
    /// The operation.
    pub operation: String,
    /// The unit.
    pub unit: String,
    /// Calls that cost something or were refunded.
    pub calls: i64,
    /// Charged.
    pub charged: i64,
    /// Refunded.
    pub refunded: i64,
    /// Charged minus refunded. Negative for an operation that only settles (refunds) what
    /// another reserved, such as batch results: sum the rows of a provider for its spending.
    pub spent: i64,
    /// The part of `charged` only possibly charged (calls whose answer never came).
    pub uncertain: i64,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> CliError + '_ {
    move |source| CliError::Journal {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// The default journal: `<data dir>/tollgate/journal.sqlite3` (on Linux,
    /// `~/.local/share/tollgate/journal.sqlite3`).
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("tollgate").join("journal.sqlite3"))
    }

    /// Opens (creating when needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, CliError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql(path))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql(path))?;
        conn.execute_batch(SCHEMA).map_err(sql(path))?;
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> CliError + '_ {
        sql(&self.path)
    }

    /// Runs `f` in one transaction: all of it is recorded, or none.
    pub fn atomically<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, CliError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        let value = f(&tx).map_err(sql(&path))?;
        tx.commit().map_err(sql(&path))?;
        Ok(value)
    }

    /// Records `entries` (ledger entries of calls) that cost or refunded something.
    pub fn record(
        tx: &rusqlite::Transaction<'_>,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> rusqlite::Result<()> {
        let now = chrono::Utc::now();
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let day = now.format("%Y-%m-%d").to_string();
        let mut insert = tx.prepare_cached(
            "INSERT INTO charges (at, day, provider, target, operation, job, unit, estimated, charged, refunded, basis, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for e in entries.iter().filter(|e| e.charged != 0 || e.refunded != 0) {
            let basis = serde_json::to_value(e.basis)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            insert.execute(params![
                at,
                day,
                payer.provider,
                payer.target,
                e.operation,
                payer.job,
                e.unit.to_string(),
                e.estimated,
                e.charged,
                e.refunded,
                basis,
                e.status
            ])?;
        }
        Ok(())
    }

    /// Records `entries` in a transaction of their own.
    pub fn record_now(&mut self, payer: Payer<'_>, entries: &[Usage]) -> Result<(), CliError> {
        self.atomically(|tx| Journal::record(tx, payer, entries))
    }

    /// Spending per day, provider, target and operation, oldest day first.
    pub fn usage(&self) -> Result<Vec<UsageRow>, CliError> {
        let mut query = self
            .conn
            .prepare(
                "SELECT day, provider, target, operation, unit, COUNT(*), SUM(charged), SUM(refunded),
                        SUM(CASE WHEN basis = 'uncertain' THEN charged ELSE 0 END)
                 FROM charges GROUP BY day, provider, target, operation, unit
                 ORDER BY day, provider, target, operation",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map([], |r| {
                let charged: i64 = r.get(6)?;
                let refunded: i64 = r.get(7)?;
                Ok(UsageRow {
                    day: r.get(0)?,
                    provider: r.get(1)?,
                    target: r.get(2)?,
                    operation: r.get(3)?,
                    unit: r.get(4)?,
                    calls: r.get(5)?,
                    charged,
                    refunded,
                    spent: charged.saturating_sub(refunded),
                    uncertain: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The fingerprint of job `id`, when the journal has it.
    pub fn job_fingerprint(&self, id: &str) -> Result<Option<String>, CliError> {
        self.conn
            .query_row(
                "SELECT fingerprint FROM jobs WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Items of job `id` in one of `states` (all items when `states` is empty), by line.
    pub fn items(&self, id: &str, states: &[&str]) -> Result<Vec<Item>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT line, item, identity, state, batch, result, error FROM items
                 WHERE job = ?1 ORDER BY line",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id], |r| {
                Ok(Item {
                    line: r.get(0)?,
                    item: r.get(1)?,
                    identity: r.get(2)?,
                    state: r.get(3)?,
                    batch: r.get(4)?,
                    result: r.get(5)?,
                    error: r.get(6)?,
                })
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let item = row.map_err(self.err())?;
            if states.is_empty() || states.contains(&item.state.as_str()) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Batches of job `id` in `state`, by sequence: (seq, provider id).
    pub fn batches(&self, id: &str, state: &str) -> Result<Vec<(i64, Option<String>)>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT seq, provider_id FROM batches WHERE job = ?1 AND state = ?2 ORDER BY seq",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id, state], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Malformed lines of job `id`: (line, message).
    pub fn problems(&self, id: &str) -> Result<Vec<(i64, String)>, CliError> {
        let mut query = self
            .conn
            .prepare("SELECT line, message FROM problems WHERE job = ?1 ORDER BY line")
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// What job `id` has spent so far (charged minus refunded).
    pub fn job_spent(&self, id: &str) -> Result<i64, CliError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(charged), 0) - COALESCE(SUM(refunded), 0) FROM charges WHERE job = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(self.err())
    }
}
