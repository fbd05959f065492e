//! The journal: an embedded SQLite database (WAL mode) that records every bulk job's items, the
//! provider's batch ids and every charge, each change in one transaction, so a job killed at any
//! point resumes where the last committed change left it. Every SQL statement of the command
//! lives in this module, one method per change of state.
//!
//! | table | one row per |
//! |---|---|
//! | `jobs` | bulk job: its kind, provider, target, input file and the input's SHA-256 |
//! | `items` | input item: its line, the item, its [`ItemState`], its batch, its result or error |
//! | `batches` | provider batch: its [`BatchState`], the provider's id, when it was sent, what it reserved |
//! | `problems` | malformed input line: its number and what is wrong |
//! | `charges` | call that cost (or may have cost) something: provider, target, operation, day, amounts |
//! | `runners` | job being run: the process that holds its lock ([`lock`]) |
//!
//! A call is journaled before it is sent: its batch or item is marked `sending` and a charge row
//! of basis `pending` holds the most it may cost, in one transaction. When the answer comes, the
//! same transaction that records it replaces that row with what the call cost. A row still
//! `pending` after a crash is counted as possibly charged at its maximum until the provider's
//! own records settle it.
//!
//! Queries go by index (`items (job, state, line)`, `items (job, identity)`, `items (job,
//! batch)`), so each step of a job costs in proportion to its own items, not to the job's size.

pub mod lock;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, params};
use serde::Serialize;
use tollgate::Usage;

pub use self::state::{BatchState, ItemState};
use crate::error::CliError;

/// The journal's layout version (`PRAGMA user_version`).
const VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    provider TEXT NOT NULL,
    target TEXT NOT NULL,
    input TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created TEXT NOT NULL,
    ingested INTEGER NOT NULL DEFAULT 0
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
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_state ON items (job, state, line);
CREATE INDEX IF NOT EXISTS items_by_identity ON items (job, identity);
CREATE INDEX IF NOT EXISTS items_by_batch ON items (job, batch);
CREATE TABLE IF NOT EXISTS batches (
    job TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    provider_id TEXT,
    sent_at TEXT,
    reserved INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    PRIMARY KEY (job, seq)
);
CREATE INDEX IF NOT EXISTS batches_by_state ON batches (job, state, seq);
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
    batch INTEGER,
    line INTEGER,
    unit TEXT NOT NULL,
    estimated INTEGER NOT NULL,
    charged INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    basis TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_by_job ON charges (job, batch, line);
CREATE TABLE IF NOT EXISTS runners (
    job TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since TEXT NOT NULL,
    heartbeat INTEGER NOT NULL,
    token TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
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

/// A job as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// Its id (the command and the start of the fingerprint).
    pub id: String,
    /// The command that runs it (`enrich validate`).
    pub kind: String,
    /// The provider.
    pub provider: String,
    /// The target's label.
    pub target: String,
    /// The input file (canonical path).
    pub input: String,
    /// The SHA-256 of the command, the target, the input's path and its bytes.
    pub fingerprint: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Whether every line of the input is in the journal.
    pub ingested: bool,
}

/// One item of a job, as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its line in the input (1-based; the header is line 1 of a CSV file).
    pub line: i64,
    /// The item (JSON).
    pub item: String,
    /// What makes two items the same request (duplicates are sent once).
    pub identity: String,
    /// Its state.
    pub state: ItemState,
    /// Its batch, for batch jobs.
    pub batch: Option<i64>,
    /// Its result (JSON), once done.
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One provider batch of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRow {
    /// Its sequence number in the job.
    pub seq: i64,
    /// Its state.
    pub state: BatchState,
    /// The provider's id, once accepted.
    pub provider_id: Option<String>,
    /// When its submit was sent (RFC 3339, UTC, milliseconds).
    pub sent_at: Option<String>,
    /// The most its submit may cost (reserved on submit by the provider).
    pub reserved: i64,
    /// How many items it carries.
    pub size: i64,
    /// What the provider or the settlement said of it (a lost batch's answer, the evidence of
    /// an unknown one).
    pub note: Option<String>,
}

/// How many items of a job are in each outcome (duplicates counted with their original's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every item.
    pub items: u64,
    /// Done.
    pub done: u64,
    /// Failed.
    pub failed: u64,
    /// Unknown.
    pub unknown: u64,
    /// Lost at the provider.
    pub lost: u64,
    /// Paid, and still being worked on at the provider.
    pub waiting: u64,
}

impl Counts {
    /// Items with their final outcome.
    pub fn finished(&self) -> u64 {
        self.done + self.failed + self.lost
    }
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

/// What a call of a job is, in the charges table: a batch (by sequence) or an item (by line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOf {
    /// A batch submit.
    Batch(i64),
    /// An item's own call.
    Line(i64),
}

impl CallOf {
    fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            CallOf::Batch(seq) => (Some(seq), None),
            CallOf::Line(line) => (None, Some(line)),
        }
    }
}

/// The most a call may cost, journaled before it is sent.
#[derive(Clone, Copy, Debug)]
pub struct Pending<'a> {
    /// Who pays.
    pub payer: Payer<'a>,
    /// The operation.
    pub operation: &'a str,
    /// The unit.
    pub unit: &'a str,
    /// The most it may cost.
    pub most: i64,
}

/// Spending of one provider, target, operation and day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The day (UTC, `YYYY-MM-DD`), when rows are grouped by day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The provider, when rows are grouped by provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The target, when rows are grouped by target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The operation, when rows are grouped by operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The bulk job (empty for single calls), when rows are grouped by job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The credit type (the provider's cost rules share each charge between the types its
    /// operation spends), when rows are grouped by credit type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_type: Option<String>,
    /// The unit (every row is of one unit: credits and rows never add up).
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
    /// The part of `charged` only possibly charged: calls whose answer never came, counted at
    /// the most they may have cost.
    pub uncertain: i64,
    /// Calls served from the cache (not in `calls`).
    pub cached: i64,
    /// What the calls served from the cache saved.
    pub saved: i64,
}

/// What `tollgate usage` groups spending by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageBy {
    /// The UTC day.
    Day,
    /// The provider.
    Provider,
    /// The target (a provider's base URL by name: `production`, `sandbox`, ...).
    Target,
    /// The operation.
    Operation,
    /// The bulk job.
    Job,
    /// The credit type (RocketReach's `lookup`, `person_export`, ...; the unit's name for a
    /// provider with one).
    CreditType,
}

impl UsageBy {
    /// Every grouping, by its command-line name.
    pub const NAMES: [&'static str; 6] = [
        "day",
        "provider",
        "target",
        "operation",
        "job",
        "credit-type",
    ];

    /// The grouping named `name`.
    pub fn from_name(name: &str) -> Option<UsageBy> {
        Some(match name {
            "day" => UsageBy::Day,
            "provider" => UsageBy::Provider,
            "target" => UsageBy::Target,
            "operation" => UsageBy::Operation,
            "job" => UsageBy::Job,
            "credit-type" => UsageBy::CreditType,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            UsageBy::Day => "day",
            UsageBy::Provider => "provider",
            UsageBy::Target => "target",
            UsageBy::Operation => "operation",
            UsageBy::Job => "COALESCE(job, '')",
            // Not a column: shared out of (provider, operation) after the query.
            UsageBy::CreditType => "provider, operation",
        }
    }
}

/// Which spending `tollgate usage` reports, and grouped how.
#[derive(Clone, Debug)]
pub struct UsageQuery {
    /// The first day (UTC, `YYYY-MM-DD`), included.
    pub since: Option<String>,
    /// The last day, included.
    pub until: Option<String>,
    /// The groupings, in order (rows are also always split by unit).
    pub by: Vec<UsageBy>,
}

impl Default for UsageQuery {
    /// Every day, by day, provider, target and operation.
    fn default() -> Self {
        UsageQuery {
            since: None,
            until: None,
            by: vec![
                UsageBy::Day,
                UsageBy::Provider,
                UsageBy::Target,
                UsageBy::Operation,
            ],
        }
    }
}

/// Puts the journal in WAL mode (kept in the file: a journal made by an earlier run already
/// is). Two processes opening a new journal at once both ask for it, and SQLite answers the
/// one that cannot take the file's exclusive lock "database is locked" at once, without its
/// busy timeout: that one asks again, for up to 10 s.
fn write_ahead_log(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> CliError + '_ {
    move |source| classify(path, source)
}

/// A SQLite error as the command reports it: a damaged file gets its own advice.
fn classify(path: &Path, source: rusqlite::Error) -> CliError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => CliError::CorruptJournal {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        _ => CliError::Journal {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn now_text() -> (String, String) {
    let now = chrono::Utc::now();
    (
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        now.format("%Y-%m-%d").to_string(),
    )
}

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        line: r.get(0)?,
        item: r.get(1)?,
        identity: r.get(2)?,
        state: r.get(3)?,
        batch: r.get(4)?,
        result: r.get(5)?,
        error: r.get(6)?,
    })
}

fn batch_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchRow> {
    Ok(BatchRow {
        seq: r.get(0)?,
        state: r.get(1)?,
        provider_id: r.get(2)?,
        sent_at: r.get(3)?,
        reserved: r.get(4)?,
        size: r.get(5)?,
        note: r.get(6)?,
    })
}

const BATCH_COLUMNS: &str = "seq, state, provider_id, sent_at, reserved, size, note";

impl Journal {
    /// The default journal: `<data dir>/tollgate/journal.sqlite3` (on Linux,
    /// `~/.local/share/tollgate/journal.sqlite3`).
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("tollgate").join("journal.sqlite3"))
    }

    /// Opens (creating when needed) the journal at `path`, and checks it before anything is
    /// sent: SQLite's `quick_check` passes, its layout is this version's, and it takes a write.
    pub fn open(path: &Path) -> Result<Journal, CliError> {
        let memory = path == Path::new(":memory:");
        if !memory
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        }
        if path.is_dir() {
            return Err(CliError::Usage(format!(
                "--journal {}: is a directory; give a file",
                path.display()
            )));
        }
        let err = sql(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&err)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(&err)?;
        if check != "ok" {
            return Err(CliError::CorruptJournal {
                path: path.to_path_buf(),
                detail: check,
            });
        }
        if !memory {
            write_ahead_log(&conn).map_err(&err)?;
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        let mut conn = conn;
        // The layout check, the schema and its version in one write transaction, so that two
        // processes opening a new journal at once never see each other's half-made one. The
        // write also refuses a read-only journal before any call is sent.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&err)?;
        let has_jobs: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs')",
                [],
                |r| r.get(0),
            )
            .map_err(&err)?;
        if has_jobs && version != VERSION {
            return Err(CliError::CorruptJournal {
                path: path.to_path_buf(),
                detail: format!(
                    "its layout is version {version}, this tollgate reads version {VERSION}"
                ),
            });
        }
        tx.execute_batch(SCHEMA).map_err(&err)?;
        tx.pragma_update(None, "user_version", VERSION)
            .map_err(&err)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?1)",
            params![now_text().0],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
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
    fn atomically<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, CliError> {
        let path = self.path.clone();
        // IMMEDIATE: the write lock is taken up front (waiting under the busy timeout). A deferred
        // transaction that reads and then writes fails at once with SQLITE_BUSY when another
        // process wrote in between (WAL cannot upgrade its snapshot), busy timeout or not.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql(&path))?;
        let value = f(&tx).map_err(sql(&path))?;
        tx.commit().map_err(sql(&path))?;
        Ok(value)
    }

    /// Takes the lock of job `id` (see [`lock`]).
    pub fn lock(&mut self, id: &str, wait: bool) -> Result<lock::RunnerLock, CliError> {
        let path = self.path.clone();
        lock::acquire(&mut self.conn, &path, id, wait)
    }

    // ---- charges ---------------------------------------------------------------------------

    /// Records `entries` (ledger entries of calls) that cost or refunded something.
    fn record(
        tx: &Transaction<'_>,
        payer: Payer<'_>,
        of: Option<CallOf>,
        entries: &[Usage],
    ) -> rusqlite::Result<()> {
        let (at, day) = now_text();
        let (batch, line) = of.map_or((None, None), CallOf::columns);
        let mut insert = tx.prepare_cached(
            "INSERT INTO charges (at, day, provider, target, operation, job, batch, line, unit, estimated, charged, refunded, basis, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        // A call served from the cache is journaled with what it saved in `estimated` (it
        // charged nothing), so `usage` can say what the cache saved.
        for e in entries.iter().filter(|e| {
            e.charged != 0
                || e.refunded != 0
                || (e.basis == tollgate::Basis::Cached && e.saved != 0)
        }) {
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
                batch,
                line,
                e.unit.to_string(),
                if e.basis == tollgate::Basis::Cached {
                    e.saved
                } else {
                    e.estimated
                },
                e.charged,
                e.refunded,
                basis,
                e.status
            ])?;
        }
        Ok(())
    }

    /// Records `entries` of a call outside any job, in a transaction of their own.
    pub fn record_now(&mut self, payer: Payer<'_>, entries: &[Usage]) -> Result<(), CliError> {
        self.atomically(|tx| Journal::record(tx, payer, None, entries))
    }

    fn insert_pending(
        tx: &Transaction<'_>,
        pending: Pending<'_>,
        of: CallOf,
    ) -> rusqlite::Result<()> {
        if pending.most == 0 {
            return Ok(());
        }
        let (at, day) = now_text();
        let (batch, line) = of.columns();
        tx.execute(
            "INSERT INTO charges (at, day, provider, target, operation, job, batch, line, unit, estimated, charged, refunded, basis, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 0, 'pending', 0)",
            params![
                at,
                day,
                pending.payer.provider,
                pending.payer.target,
                pending.operation,
                pending.payer.job,
                batch,
                line,
                pending.unit,
                pending.most
            ],
        )
        .map(drop)
    }

    /// Replaces the `pending` row of a call with what it cost (`entries`); when `entries`
    /// record nothing and `maybe` says the call may have been charged, the row stays as
    /// possibly charged at its maximum (basis `uncertain`).
    fn settle_pending(
        tx: &Transaction<'_>,
        job: &str,
        of: CallOf,
        payer: Payer<'_>,
        entries: &[Usage],
        maybe: bool,
    ) -> rusqlite::Result<()> {
        let (batch, line) = of.columns();
        let recorded = entries.iter().any(|e| e.charged != 0 || e.refunded != 0);
        if maybe && !recorded {
            tx.execute(
                "UPDATE charges SET basis = 'uncertain' WHERE job = ?1 AND batch IS ?2 AND line IS ?3 AND basis = 'pending'",
                params![job, batch, line],
            )?;
        } else {
            tx.execute(
                "DELETE FROM charges WHERE job = ?1 AND batch IS ?2 AND line IS ?3 AND basis = 'pending'",
                params![job, batch, line],
            )?;
        }
        Journal::record(tx, payer, Some(of), entries)
    }

    /// Spending per day, provider, target and operation, oldest day first. Calls whose
    /// outcome is unknown count as possibly charged at their maximum.
    pub fn usage(&self) -> Result<Vec<UsageRow>, CliError> {
        self.usage_by(&UsageQuery::default())
    }

    /// Spending between two days, grouped as `query` says (and by unit), in the order of its
    /// groupings.
    pub fn usage_by(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, CliError> {
        if query.by.contains(&UsageBy::CreditType) {
            return self.usage_by_credit_type(query);
        }
        let mut by: Vec<UsageBy> = Vec::new();
        for b in &query.by {
            if !by.contains(b) {
                by.push(*b);
            }
        }
        let mut columns: Vec<&str> = by.iter().map(|b| b.column()).collect();
        columns.push("unit");
        let group = columns.join(", ");
        let sql = format!(
            "SELECT {group},
                    SUM(CASE WHEN basis = 'cached' THEN 0 ELSE 1 END), SUM(charged), SUM(refunded),
                    SUM(CASE WHEN basis IN ('uncertain', 'pending') THEN charged ELSE 0 END),
                    SUM(CASE WHEN basis = 'cached' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN basis = 'cached' THEN estimated ELSE 0 END)
             FROM charges WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)
             GROUP BY {group} ORDER BY {group}"
        );
        let mut statement = self.conn.prepare(&sql).map_err(self.err())?;
        let n = by.len();
        let rows = statement
            .query_map(params![query.since, query.until], |r| {
                let mut row = UsageRow {
                    day: None,
                    provider: None,
                    target: None,
                    operation: None,
                    job: None,
                    credit_type: None,
                    unit: r.get(n)?,
                    calls: r.get(n + 1)?,
                    charged: r.get(n + 2)?,
                    refunded: r.get(n + 3)?,
                    spent: 0,
                    uncertain: r.get(n + 4)?,
                    cached: r.get(n + 5)?,
                    saved: r.get(n + 6)?,
                };
                row.spent = row.charged.saturating_sub(row.refunded);
                for (i, b) in by.iter().enumerate() {
                    let value: Option<String> = r.get(i)?;
                    match b {
                        UsageBy::Day => row.day = value,
                        UsageBy::Provider => row.provider = value,
                        UsageBy::Target => row.target = value,
                        UsageBy::Operation => row.operation = value,
                        UsageBy::Job => row.job = value,
                        UsageBy::CreditType => {}
                    }
                }
                Ok(row)
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// [`Journal::usage_by`] with a credit type among the groupings: rows are read by the
    /// other groupings and by provider and operation, each row's charges are shared between
    /// the credit types of its operation (by its provider's cost rules), and the shares are
    /// added up by the groupings asked for.
    fn usage_by_credit_type(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, CliError> {
        let mut inner = query.clone();
        inner.by = query
            .by
            .iter()
            .copied()
            .filter(|b| *b != UsageBy::CreditType)
            .chain([UsageBy::Provider, UsageBy::Operation])
            .collect();
        let keep = |b: UsageBy| query.by.contains(&b);
        let mut grouped: BTreeMap<(Vec<String>, String), UsageRow> = BTreeMap::new();
        for row in self.usage_by(&inner)? {
            let operation = row.operation.clone().unwrap_or_default();
            let model = tollgate_providers::Provider::ALL
                .into_iter()
                .find(|p| Some(p.name()) == row.provider.as_deref())
                .map(|p| p.profile().cost);
            let shares = |amount: i64| match &model {
                Some(model) => model.credit_split(&operation, amount),
                None => vec![("unknown", amount)],
            };
            let (charged, refunded) = (shares(row.charged), shares(row.refunded));
            let (uncertain, saved) = (shares(row.uncertain), shares(row.saved));
            for (i, (credit_type, charged)) in charged.into_iter().enumerate() {
                let part = |list: &[(&str, i64)]| list.get(i).map_or(0, |s| s.1);
                let mut typed = UsageRow {
                    provider: row.provider.clone().filter(|_| keep(UsageBy::Provider)),
                    operation: row.operation.clone().filter(|_| keep(UsageBy::Operation)),
                    credit_type: Some(credit_type.to_owned()),
                    charged,
                    refunded: part(&refunded),
                    uncertain: part(&uncertain),
                    saved: part(&saved),
                    ..row.clone()
                };
                typed.spent = typed.charged.saturating_sub(typed.refunded);
                let key: Vec<String> = query
                    .by
                    .iter()
                    .map(|b| {
                        match b {
                            UsageBy::Day => &typed.day,
                            UsageBy::Provider => &typed.provider,
                            UsageBy::Target => &typed.target,
                            UsageBy::Operation => &typed.operation,
                            UsageBy::Job => &typed.job,
                            UsageBy::CreditType => &typed.credit_type,
                        }
                        .clone()
                        .unwrap_or_default()
                    })
                    .collect();
                match grouped.entry((key, typed.unit.clone())) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(typed);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        let sum = o.get_mut();
                        sum.calls = sum.calls.saturating_add(typed.calls);
                        sum.charged = sum.charged.saturating_add(typed.charged);
                        sum.refunded = sum.refunded.saturating_add(typed.refunded);
                        sum.spent = sum.spent.saturating_add(typed.spent);
                        sum.uncertain = sum.uncertain.saturating_add(typed.uncertain);
                        sum.cached = sum.cached.saturating_add(typed.cached);
                        sum.saved = sum.saved.saturating_add(typed.saved);
                    }
                }
            }
        }
        Ok(grouped.into_values().collect())
    }

    /// What `provider` spent at `target` between `since` and `until` (UTC days, included;
    /// `None`: no bound), per operation: charged minus refunded, calls of unknown outcome at
    /// their most.
    pub fn spent_by_operation(
        &self,
        provider: &str,
        target: &str,
        (since, until): (Option<String>, Option<String>),
    ) -> Result<BTreeMap<String, i64>, CliError> {
        let rows = self.usage_by(&UsageQuery {
            since,
            until,
            by: vec![UsageBy::Provider, UsageBy::Target, UsageBy::Operation],
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            if row.provider.as_deref() == Some(provider) && row.target.as_deref() == Some(target) {
                let sum: &mut i64 = out.entry(row.operation.unwrap_or_default()).or_default();
                *sum = sum.saturating_add(row.spent);
            }
        }
        Ok(out)
    }

    /// What job `id` has spent so far (charged minus refunded, unknown calls at their most).
    pub fn job_spent(&self, id: &str) -> Result<i64, CliError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(charged), 0) - COALESCE(SUM(refunded), 0) FROM charges WHERE job = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// What the settled part of job `id` cost (charged minus refunded): its single calls and
    /// the batches whose results are collected, not what batches in flight reserved.
    pub fn job_settled_cost(&self, id: &str) -> Result<i64, CliError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(charged - refunded), 0) FROM charges WHERE job = ?1 AND (batch IS NULL OR batch IN (SELECT seq FROM batches WHERE job = ?1 AND state = ?2))",
                params![id, BatchState::Settled],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// What the cache saved job `id` (calls served from it, at what they had cost).
    pub fn job_saved(&self, id: &str) -> Result<i64, CliError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(estimated), 0) FROM charges WHERE job = ?1 AND basis = 'cached'",
                params![id],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    // ---- jobs and input ----------------------------------------------------------------------

    /// Job `id`, when the journal has it.
    pub fn job(&self, id: &str) -> Result<Option<JobRow>, CliError> {
        self.conn
            .query_row(
                "SELECT id, kind, provider, target, input, fingerprint, created, ingested FROM jobs WHERE id = ?1",
                params![id],
                |r| {
                    Ok(JobRow {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        provider: r.get(2)?,
                        target: r.get(3)?,
                        input: r.get(4)?,
                        fingerprint: r.get(5)?,
                        created: r.get(6)?,
                        ingested: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Records a new job (nothing when it exists: the caller holds its lock).
    pub fn create_job(&mut self, job: &JobRow) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO jobs (id, kind, provider, target, input, fingerprint, created, ingested)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
                params![
                    job.id,
                    job.kind,
                    job.provider,
                    job.target,
                    job.input,
                    job.fingerprint,
                    job.created
                ],
            )
            .map(drop)
        })
    }

    /// The last input line job `id` holds (an item or a problem), 0 when none: where an
    /// interrupted ingest goes on.
    pub fn last_line(&self, id: &str) -> Result<i64, CliError> {
        self.conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(line) FROM items WHERE job = ?1), 0),
                            COALESCE((SELECT MAX(line) FROM problems WHERE job = ?1), 0))",
                params![id],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Records a chunk of the input in one transaction: items (each `pending`, or
    /// `duplicate` when an earlier item has its identity) and malformed lines.
    pub fn ingest(
        &mut self,
        id: &str,
        items: &[(i64, String, String)],
        problems: &[(i64, String)],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO items (job, line, item, identity, state)
                 VALUES (?1, ?2, ?3, ?4,
                   CASE WHEN EXISTS (SELECT 1 FROM items INDEXED BY items_by_identity WHERE job = ?1 AND identity = ?4)
                        THEN ?6 ELSE ?5 END)",
            )?;
            for (line, item, identity) in items {
                insert.execute(params![
                    id,
                    line,
                    item,
                    identity,
                    ItemState::Pending,
                    ItemState::Duplicate
                ])?;
            }
            let mut problem = tx.prepare_cached(
                "INSERT OR REPLACE INTO problems (job, line, message) VALUES (?1, ?2, ?3)",
            )?;
            for (line, message) in problems {
                problem.execute(params![id, line, message])?;
            }
            Ok(())
        })
    }

    /// Marks job `id` as holding every line of its input.
    pub fn mark_ingested(&mut self, id: &str) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute("UPDATE jobs SET ingested = 1 WHERE id = ?1", params![id])
                .map(drop)
        })
    }

    /// Malformed lines of job `id`: (line, message), by line.
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

    // ---- items -----------------------------------------------------------------------------

    /// Up to `limit` items of job `id` in `state`, by line, after line `after`.
    pub fn items_in(
        &self,
        id: &str,
        state: ItemState,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Item>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT line, item, identity, state, batch, result, error FROM items INDEXED BY items_by_state
                 WHERE job = ?1 AND state = ?2 AND line > ?3 ORDER BY line LIMIT ?4",
            )
            .map_err(self.err())?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![id, state, after, limit], item_row)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// How many items of job `id` are in each outcome, a duplicate counted with its
    /// original's.
    pub fn counts(&self, id: &str) -> Result<Counts, CliError> {
        // Two queries, each through an index: the unique items by state, then each duplicate
        // with its original's state (looked up by identity). One LEFT JOIN of both made
        // SQLite scan the job's items once per item.
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT state, COUNT(*) FROM items INDEXED BY items_by_state
                 WHERE job = ?1 AND state != ?2 GROUP BY state
                 UNION ALL
                 SELECT COALESCE(
                     (SELECT o.state FROM items o INDEXED BY items_by_identity
                      WHERE o.job = d.job AND o.identity = d.identity AND o.state != ?2 LIMIT 1),
                     d.state), COUNT(*)
                 FROM items d INDEXED BY items_by_state
                 WHERE d.job = ?1 AND d.state = ?2 GROUP BY 1",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id, ItemState::Duplicate], |r| {
                Ok((r.get::<_, ItemState>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        let mut counts = Counts::default();
        for row in rows {
            let (state, n) = row.map_err(self.err())?;
            let n = u64::try_from(n).unwrap_or(0);
            counts.items += n;
            match state {
                ItemState::Done => counts.done += n,
                ItemState::Failed => counts.failed += n,
                ItemState::Unknown => counts.unknown += n,
                ItemState::Lost => counts.lost += n,
                ItemState::Waiting => counts.waiting += n,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Unique items of job `id` (duplicates left out) with their final outcome, and all of
    /// them: (finished, total), for the progress bar.
    pub fn progress(&self, id: &str) -> Result<(u64, u64), CliError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(state IN (?2, ?3, ?4)), 0), COUNT(*) FROM items WHERE job = ?1 AND state != ?5",
                params![
                    id,
                    ItemState::Done,
                    ItemState::Failed,
                    ItemState::Lost,
                    ItemState::Duplicate
                ],
                |r| {
                    Ok((
                        u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    ))
                },
            )
            .map_err(self.err())
    }

    /// Calls `f` with every item of job `id` in line order, a duplicate carrying its
    /// original's state, result and error. Streams from the database: memory stays flat
    /// whatever the job's size.
    pub fn each_output(
        &self,
        id: &str,
        mut f: impl FnMut(Item) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut query = self
            .conn
            .prepare(
                "SELECT d.line, d.item, d.identity, COALESCE(o.state, d.state), d.batch,
                        COALESCE(o.result, d.result), COALESCE(o.error, d.error)
                 FROM items d
                 LEFT JOIN items o INDEXED BY items_by_identity ON d.state = 'duplicate' AND o.job = d.job
                      AND o.identity = d.identity AND o.state != 'duplicate'
                 WHERE d.job = ?1 ORDER BY d.line",
            )
            .map_err(self.err())?;
        let mut rows = query.query(params![id]).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            f(item_row(row).map_err(self.err())?)?;
        }
        Ok(())
    }

    /// Marks item `line` as `sending` and journals the most its call may cost, before it is
    /// sent.
    pub fn begin_item(
        &mut self,
        id: &str,
        line: i64,
        pending: Pending<'_>,
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE items SET state = ?3 WHERE job = ?1 AND line = ?2",
                params![id, line, ItemState::Sending],
            )?;
            Journal::insert_pending(tx, pending, CallOf::Line(line))
        })
    }

    /// Records the answer to item `line`'s call: its new state, result or error, and what it
    /// cost. `maybe`: the call may have been charged without an answer.
    #[allow(clippy::too_many_arguments)] // one state change: every column it writes
    pub fn item_answered(
        &mut self,
        id: &str,
        line: i64,
        state: ItemState,
        result: Option<&str>,
        error: Option<&str>,
        payer: Payer<'_>,
        entries: &[Usage],
        maybe: bool,
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE items SET state = ?3, result = ?4, error = ?5 WHERE job = ?1 AND line = ?2",
                params![id, line, state, result, error],
            )?;
            Journal::settle_pending(tx, id, CallOf::Line(line), payer, entries, maybe)
        })
    }

    // ---- batches ---------------------------------------------------------------------------

    /// Puts up to `size` pending items of job `id` (by line) into a new planned batch, in one
    /// transaction. Returns the batch's sequence number, or `None` when nothing is pending.
    pub fn plan_batch(&mut self, id: &str, size: usize) -> Result<Option<i64>, CliError> {
        let size = i64::try_from(size.max(1)).unwrap_or(i64::MAX);
        self.atomically(|tx| {
            let any: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM items INDEXED BY items_by_state WHERE job = ?1 AND state = ?2)",
                params![id, ItemState::Pending],
                |r| r.get(0),
            )?;
            if !any {
                return Ok(None);
            }
            let seq: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM batches WHERE job = ?1",
                params![id],
                |r| r.get(0),
            )?;
            let moved = tx.execute(
                "UPDATE items SET state = ?3, batch = ?4 WHERE job = ?1 AND line IN
                   (SELECT line FROM items INDEXED BY items_by_state WHERE job = ?1 AND state = ?2 ORDER BY line LIMIT ?5)",
                params![id, ItemState::Pending, ItemState::Planned, seq, size],
            )?;
            tx.execute(
                "INSERT INTO batches (job, seq, state, size) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    seq,
                    BatchState::Planned,
                    i64::try_from(moved).unwrap_or(0)
                ],
            )?;
            Ok(Some(seq))
        })
    }

    /// Batches of job `id` in `state`, by sequence.
    pub fn batches_in(&self, id: &str, state: BatchState) -> Result<Vec<BatchRow>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(&format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE job = ?1 AND state = ?2 ORDER BY seq"
            ))
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id, state], batch_row)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The provider ids of every batch of job `id` that has one.
    pub fn known_batch_ids(&self, id: &str) -> Result<Vec<String>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT provider_id FROM batches WHERE job = ?1 AND provider_id IS NOT NULL",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id], |r| r.get(0))
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The items of batch `seq` of job `id` in `state`, by line.
    pub fn batch_items(&self, id: &str, seq: i64, state: ItemState) -> Result<Vec<Item>, CliError> {
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT line, item, identity, state, batch, result, error FROM items INDEXED BY items_by_batch
                 WHERE job = ?1 AND batch = ?2 AND state = ?3 ORDER BY line",
            )
            .map_err(self.err())?;
        let rows = query
            .query_map(params![id, seq, state], item_row)
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Marks batch `seq` as `sending` (with when, and what it may cost) before its submit is
    /// sent.
    pub fn begin_batch(
        &mut self,
        id: &str,
        seq: i64,
        pending: Pending<'_>,
    ) -> Result<(), CliError> {
        let (at, _) = now_text();
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, sent_at = ?4, reserved = ?5 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Sending, at, pending.most],
            )?;
            Journal::insert_pending(tx, pending, CallOf::Batch(seq))
        })
    }

    /// The provider accepted batch `seq` as `provider_id`: recorded with its cost in one
    /// transaction, the moment the answer arrives.
    pub fn batch_accepted(
        &mut self,
        id: &str,
        seq: i64,
        provider_id: &str,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, provider_id = ?4 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Accepted, provider_id],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?4 WHERE job = ?1 AND batch = ?2 AND state = ?3",
                params![id, seq, ItemState::Planned, ItemState::Submitted],
            )?;
            Journal::settle_pending(tx, id, CallOf::Batch(seq), payer, entries, false)
        })
    }

    /// Batch `seq`'s submit was certainly not charged (refused before sending or before any
    /// charge, or found absent from the provider's records): planned again.
    pub fn batch_not_sent(
        &mut self,
        id: &str,
        seq: i64,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, sent_at = NULL WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Planned],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?3 WHERE job = ?1 AND batch = ?2 AND state = ?4",
                params![id, seq, ItemState::Planned, ItemState::Unknown],
            )?;
            tx.execute(
                "DELETE FROM charges WHERE job = ?1 AND batch = ?2 AND basis IN ('pending', 'uncertain')",
                params![id, seq],
            )?;
            Journal::record(tx, payer, Some(CallOf::Batch(seq)), entries)
        })
    }

    /// Batch `seq`'s submit may have been charged and its answer never came: its items are
    /// unknown, its pending charge stays as possibly charged.
    pub fn batch_unknown(
        &mut self,
        id: &str,
        seq: i64,
        note: &str,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, note = ?4 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Unknown, note],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?4 WHERE job = ?1 AND batch = ?2 AND state = ?3",
                params![id, seq, ItemState::Planned, ItemState::Unknown],
            )?;
            Journal::settle_pending(tx, id, CallOf::Batch(seq), payer, entries, true)
        })
    }

    /// The provider refused item `line` of batch `seq` by its place in the batch, before any
    /// charge: the item fails with the provider's message and leaves the batch, which is sent
    /// again without it.
    pub fn drop_from_batch(
        &mut self,
        id: &str,
        seq: i64,
        line: i64,
        error: &str,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE items SET state = ?3, error = ?4, batch = NULL WHERE job = ?1 AND line = ?2",
                params![id, line, ItemState::Failed, error],
            )?;
            tx.execute(
                "UPDATE batches SET state = ?3, sent_at = NULL, size = size - 1 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Planned],
            )?;
            Journal::settle_pending(tx, id, CallOf::Batch(seq), payer, entries, false)
        })
    }

    /// Adopts batch `seq` (unknown) as the provider's `provider_id`, found in the provider's
    /// records: accepted, its items submitted, its charge no longer uncertain.
    pub fn adopt_batch(
        &mut self,
        id: &str,
        seq: i64,
        provider_id: &str,
        note: &str,
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, provider_id = ?4, note = ?5 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Accepted, provider_id, note],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?4 WHERE job = ?1 AND batch = ?2 AND state = ?3",
                params![id, seq, ItemState::Unknown, ItemState::Submitted],
            )?;
            tx.execute(
                "UPDATE charges SET basis = 'estimated' WHERE job = ?1 AND batch = ?2 AND basis IN ('pending', 'uncertain')",
                params![id, seq],
            )
            .map(drop)
        })
    }

    /// Notes the evidence on batch `seq` (still unknown).
    pub fn note_batch(&mut self, id: &str, seq: i64, note: &str) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET note = ?3 WHERE job = ?1 AND seq = ?2",
                params![id, seq, note],
            )
            .map(drop)
        })
    }

    /// Records batch `seq`'s results: each submitted item whose identity has a result is done,
    /// the rest failed (`missing`), the batch settled, and what the fetch refunded.
    pub fn batch_settled(
        &mut self,
        id: &str,
        seq: i64,
        results: &HashMap<String, String>,
        missing: &str,
        payer: Payer<'_>,
        entries: &[Usage],
    ) -> Result<(), CliError> {
        self.atomically(|tx| {
            let mut done = tx.prepare_cached(
                "UPDATE items INDEXED BY items_by_identity SET state = ?5, result = ?4
                 WHERE job = ?1 AND identity = ?2 AND batch = ?3 AND state = ?6",
            )?;
            for (identity, result) in results {
                done.execute(params![
                    id,
                    identity,
                    seq,
                    result,
                    ItemState::Done,
                    ItemState::Submitted
                ])?;
            }
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?4, error = ?5 WHERE job = ?1 AND batch = ?2 AND state = ?3",
                params![id, seq, ItemState::Submitted, ItemState::Failed, missing],
            )?;
            tx.execute(
                "UPDATE batches SET state = ?3 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Settled],
            )?;
            Journal::record(tx, payer, Some(CallOf::Batch(seq)), entries)
        })
    }

    /// Batch `seq` has no item left to send (the provider refused each one by name): settled
    /// with nothing in it.
    pub fn batch_emptied(&mut self, id: &str, seq: i64) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, note = 'every item of it was refused' WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Settled],
            )
            .map(drop)
        })
    }

    /// The provider no longer knows batch `seq`: the batch and its items are lost, with the
    /// provider's answer.
    pub fn batch_lost(&mut self, id: &str, seq: i64, message: &str) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = ?3, note = ?4 WHERE job = ?1 AND seq = ?2",
                params![id, seq, BatchState::Lost, message],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_batch SET state = ?4, error = ?5 WHERE job = ?1 AND batch = ?2 AND state = ?3",
                params![id, seq, ItemState::Submitted, ItemState::Lost, message],
            )
            .map(drop)
        })
    }

    /// After a stop: what was in flight has an unknown outcome (its pending charge stays,
    /// counted as possibly charged).
    pub fn mark_interrupted(&mut self, id: &str) -> Result<(), CliError> {
        self.atomically(|tx| {
            tx.execute(
                "UPDATE items INDEXED BY items_by_state SET state = ?3 WHERE job = ?1 AND state = ?2 AND batch IN
                   (SELECT seq FROM batches WHERE job = ?1 AND state = ?4)",
                params![
                    id,
                    ItemState::Planned,
                    ItemState::Unknown,
                    BatchState::Sending
                ],
            )?;
            tx.execute(
                "UPDATE batches SET state = ?3, note = 'its submit was in flight when a run stopped'
                 WHERE job = ?1 AND state = ?2",
                params![id, BatchState::Sending, BatchState::Unknown],
            )?;
            tx.execute(
                "UPDATE items INDEXED BY items_by_state SET state = ?3, error = 'its call was in flight when a run stopped'
                 WHERE job = ?1 AND state = ?2",
                params![id, ItemState::Sending, ItemState::Unknown],
            )?;
            tx.execute(
                "UPDATE charges SET basis = 'uncertain' WHERE job = ?1 AND basis = 'pending'",
                params![id],
            )
            .map(drop)
        })
    }

    /// Sends again, on the user's word, the items of batches in `state` (unknown or lost) and
    /// the unknown items of item jobs: their old batches are marked resubmitted (what they
    /// may have cost stays recorded), the items pending. Returns how many items.
    pub fn resubmit(&mut self, id: &str, state: BatchState) -> Result<u64, CliError> {
        let item_state = if state == BatchState::Lost {
            ItemState::Lost
        } else {
            ItemState::Unknown
        };
        self.atomically(|tx| {
            let n = tx.execute(
                "UPDATE items INDEXED BY items_by_state SET state = ?3, batch = NULL, error = NULL WHERE job = ?1 AND state = ?2",
                params![id, item_state, ItemState::Pending],
            )?;
            tx.execute(
                "UPDATE batches SET state = ?3 WHERE job = ?1 AND state = ?2",
                params![id, state, BatchState::Resubmitted],
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Journal;

    /// Every statement of this module that picks items of a job by state, batch or identity,
    /// as SQLite's planner runs it here: it must search an index (`items_by_*`), never scan the
    /// job's items. Without this, SQLite (which has no statistics on a new journal) walks the
    /// primary key `(job, line)` over every item of the job, once per step: a square in the
    /// job's size.
    #[test]
    fn every_step_of_a_job_reads_its_items_through_an_index() {
        let journal = Journal::open(std::path::Path::new(":memory:")).unwrap();
        let source = include_str!("mod.rs");
        let mut checked = 0;
        for literal in source.split('"').skip(1).step_by(2) {
            let sql = literal.split_whitespace().collect::<Vec<_>>().join(" ");
            let picks = ["AND state = ?", "AND batch = ?", "identity = ?"]
                .iter()
                .any(|f| sql.contains(f));
            if !(sql.starts_with("SELECT") || sql.starts_with("UPDATE"))
                || !sql.contains("items")
                || !picks
            {
                continue;
            }
            let mut plan = journal
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let count = plan.parameter_count();
            let params: Vec<rusqlite::types::Value> = vec![rusqlite::types::Value::Null; count];
            let lines: Vec<String> = plan
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                lines.iter().any(|l| l.contains("items_by_"))
                    && !lines.iter().any(|l| l.starts_with("SCAN items")),
                "{sql}\n{lines:#?}"
            );
            checked += 1;
        }
        assert!(checked >= 12, "only {checked} statements found");
    }
}
