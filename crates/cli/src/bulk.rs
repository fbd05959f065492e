//! Bulk jobs: a file of items in, one call or one provider batch per group of items, results out,
//! every step journaled ([`crate::journal`]) so that a job killed at any point (`kill -9`) and
//! started again with the same command resumes: no item sent twice, none lost, batches already
//! accepted by the provider polled instead of resubmitted.
//!
//! | command | items | calls |
//! |---|---|---|
//! | `enrich validate FILE` | e-mail addresses (`email`) | Enrich validation batches |
//! | `enrich find FILE` | leads (`firstName`, `lastName`, `domain`) | Enrich e-mail finder batches |
//! | `rocketreach lookup FILE` | person lookups (`name`, `current_employer`, `linkedin_url`, `email`, `id`, ...) | one lookup each |
//! | `spidernews connections FILE` | queries (`source_name`, `target_name`, `connection_limit`, ...) | one query each |
//!
//! A call whose outcome is unknown (the process stopped while it was in flight) may have been
//! charged: it is not sent again unless `--resubmit-unknown` says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::params;
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate::jobs::JobOptions;
use tollgate::{Ledger, Usage};
use tollgate_sandbox::Provider;

use crate::config::Target;
use crate::error::CliError;
use crate::journal::{Journal, Payer};

/// The kind of a bulk job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `enrich validate FILE`.
    EnrichValidate,
    /// `enrich find FILE`.
    EnrichFind,
    /// `rocketreach lookup FILE`.
    RocketReachLookup,
    /// `spidernews connections FILE`.
    SpiderNewsConnections,
}

impl Kind {
    /// The command that runs it.
    pub fn command(self) -> &'static str {
        match self {
            Kind::EnrichValidate => "enrich validate",
            Kind::EnrichFind => "enrich find",
            Kind::RocketReachLookup => "rocketreach lookup",
            Kind::SpiderNewsConnections => "spidernews connections",
        }
    }

    /// The provider it calls.
    pub fn provider(self) -> Provider {
        match self {
            Kind::EnrichValidate | Kind::EnrichFind => Provider::Enrich,
            Kind::RocketReachLookup => Provider::RocketReach,
            Kind::SpiderNewsConnections => Provider::SpiderNews,
        }
    }

    fn batched(self) -> bool {
        matches!(self, Kind::EnrichValidate | Kind::EnrichFind)
    }

    /// The field a bare value stands for.
    fn single(self) -> &'static str {
        match self {
            Kind::EnrichValidate | Kind::RocketReachLookup => "email",
            Kind::EnrichFind => "domain",
            Kind::SpiderNewsConnections => "source_name",
        }
    }

    /// The item a row stands for, and its identity (two items of one identity are one request).
    fn item(self, fields: Map<String, Value>) -> Result<(Value, String), String> {
        let value = Value::Object(fields);
        match self {
            Kind::EnrichValidate => {
                let row: EmailRow = parse(value)?;
                tollgate_enrich::types::BatchEmailValidationRequestEmailsItem::try_from(
                    row.email.clone(),
                )
                .map_err(|_| format!("not an e-mail address: {:?}", row.email))?;
                let identity = row.email.to_lowercase();
                Ok((Value::String(row.email), identity))
            }
            Kind::EnrichFind => {
                let lead: tollgate_enrich::types::Lead = parse(value)?;
                let identity = lead_identity(
                    lead.first_name.as_str(),
                    lead.last_name.as_str(),
                    lead.domain.as_str(),
                );
                let value = serde_json::to_value(&lead).map_err(|e| e.to_string())?;
                Ok((value, identity))
            }
            Kind::RocketReachLookup => {
                let lookup: Lookup = parse(value)?;
                if lookup == Lookup::default() {
                    return Err("a lookup needs at least one of id, linkedin_url, email, name (with current_employer), phone, npi_number".into());
                }
                let value = serde_json::to_value(&lookup).map_err(|e| e.to_string())?;
                Ok((value.clone(), value.to_string().to_lowercase()))
            }
            Kind::SpiderNewsConnections => {
                let query: Connections = parse(value)?;
                let value = serde_json::to_value(&query).map_err(|e| e.to_string())?;
                Ok((value.clone(), value.to_string()))
            }
        }
    }

    /// The identity of a batch result (the item it answers).
    fn result_identity(self, result: &Value) -> Option<String> {
        let text = |name: &str| result.get(name).and_then(Value::as_str);
        match self {
            Kind::EnrichValidate => text("email").map(str::to_lowercase),
            Kind::EnrichFind => Some(lead_identity(
                text("firstName")?,
                text("lastName")?,
                text("domain")?,
            )),
            _ => None,
        }
    }
}

fn lead_identity(first: &str, last: &str, domain: &str) -> String {
    format!("{}|{}|{}", first, last, domain).to_lowercase()
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRow {
    email: String,
}

/// One RocketReach person lookup (the lookup's query parameters).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linkedin_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_employer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    npi_number: Option<i64>,
}

/// One Spider News connections query.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Connections {
    #[serde(skip_serializing_if = "Option::is_none")]
    source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_uuid: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_uuid: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_limit: Option<std::num::NonZeroU64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_date: Option<chrono::NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_date: Option<chrono::NaiveDate>,
}

/// What a bulk command was asked.
#[derive(Clone, Debug)]
pub struct JobArgs {
    /// The kind.
    pub kind: Kind,
    /// The input file.
    pub input: PathBuf,
    /// The output file (`None`: standard output). CSV unless its extension is `.jsonl`,
    /// `.ndjson` or `.json`.
    pub output: Option<PathBuf>,
    /// JSON lines on standard output (`--json`).
    pub json: bool,
    /// Items per provider batch.
    pub batch_size: usize,
    /// The wait between polls of a batch.
    pub poll: Duration,
    /// Send again the calls whose outcome is unknown.
    pub resubmit_unknown: bool,
}

/// What a bulk job did, for its summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// The job's id in the journal.
    pub job: String,
    /// Items read.
    pub items: usize,
    /// Items with a result.
    pub done: usize,
    /// Items the provider refused or answered with an error.
    pub failed: usize,
    /// Input lines skipped as malformed.
    pub skipped_lines: usize,
    /// Items whose call may have been charged and was not answered.
    pub unknown: usize,
    /// What the job spent so far, in the provider's unit (from the journal).
    pub spent: i64,
    /// The unit.
    pub unit: String,
}

/// Stops a job between steps (Ctrl-C).
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>, Arc<tokio::sync::Notify>);

impl Stop {
    /// Asks the job to stop after the step in flight.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
        self.1.notify_waiters();
    }

    fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Runs `wait` (a poll: safe to abandon) unless a stop comes first.
    async fn or_stop<T>(&self, wait: impl Future<Output = T>) -> Option<T> {
        if self.requested() {
            return None;
        }
        tokio::select! {
            value = wait => Some(value),
            () = self.1.notified() => None,
        }
    }
}

/// FNV-1a, 64 bits: a stable fingerprint of a job's input (the same file and command resume
/// the same job; a changed file is a new job).
fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The test hook `TOLLGATE_CLI_PAUSE_AT=<point>:<n>`: at the `n`-th time the job reaches
/// `point`, it says so on standard error and waits forever, so a test can kill it there with
/// SIGKILL. Points: `submitted` (a batch accepted, not yet journaled), `accepted` (journaled),
/// `results` (a batch's results fetched, not yet journaled), `settled`, `item` (an item's call
/// answered, not yet journaled).
#[derive(Debug, Default)]
struct PauseAt {
    point: Option<(String, u64)>,
    seen: std::collections::BTreeMap<&'static str, u64>,
}

impl PauseAt {
    fn from_env() -> PauseAt {
        let point = std::env::var("TOLLGATE_CLI_PAUSE_AT").ok().and_then(|v| {
            let (name, n) = v.split_once(':')?;
            Some((name.to_owned(), n.parse().ok()?))
        });
        PauseAt {
            point,
            seen: Default::default(),
        }
    }

    fn reach(&mut self, point: &'static str) {
        let count = self.seen.entry(point).or_default();
        *count += 1;
        if let Some((name, n)) = &self.point
            && name == point
            && *n == *count
        {
            eprintln!("tollgate: paused at {point}:{n}");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// New ledger entries since the last look.
struct Cursor {
    ledger: Arc<Ledger>,
    seen: u64,
}

impl Cursor {
    fn new(ledger: Arc<Ledger>) -> Cursor {
        let seen = ledger.totals().calls;
        Cursor { ledger, seen }
    }

    fn take(&mut self) -> Vec<Usage> {
        let calls = self.ledger.totals().calls;
        let new = usize::try_from(calls.saturating_sub(self.seen)).unwrap_or(usize::MAX);
        self.seen = calls;
        let entries = self.ledger.entries();
        let skip = entries.len().saturating_sub(new);
        entries.into_iter().skip(skip).collect()
    }
}

/// The clients a job may need (only its provider's is built).
enum Clients {
    Enrich(tollgate_enrich::Client),
    RocketReach(tollgate_rocketreach::Client),
    SpiderNews(tollgate_spidernews::Client),
}

impl Clients {
    /// The client a job of `kind` needs, for `target`.
    fn new(kind: Kind, target: &Target) -> Result<Clients, CliError> {
        Ok(match kind.provider() {
            Provider::Enrich => Clients::Enrich(target.client()?),
            Provider::RocketReach => Clients::RocketReach(target.client()?),
            _ => Clients::SpiderNews(target.client()?),
        })
    }

    fn ledger(&self) -> Arc<Ledger> {
        match self {
            Clients::Enrich(c) => c.runtime().ledger_handle(),
            Clients::RocketReach(c) => c.runtime().ledger_handle(),
            Clients::SpiderNews(c) => c.runtime().ledger_handle(),
        }
    }
}

/// A job in progress.
struct Job<'a> {
    args: &'a JobArgs,
    target: &'a Target,
    journal: &'a mut Journal,
    id: String,
    clients: Clients,
    cursor: Cursor,
    stop: Stop,
    pause: PauseAt,
    bar: ProgressBar,
}

/// Runs (or resumes) a bulk job. Returns its summary; a job that stopped before its end is
/// [`CliError::Interrupted`] (its summary is printed first).
pub async fn run(
    args: &JobArgs,
    target: &Target,
    journal: &mut Journal,
    stop: Stop,
) -> Result<Summary, CliError> {
    let text = std::fs::read(&args.input).map_err(|e| CliError::io(&args.input, e))?;
    let text = String::from_utf8(text)
        .map_err(|_| CliError::Usage(format!("{} is not UTF-8 text", args.input.display())))?;
    let canonical = std::fs::canonicalize(&args.input).unwrap_or_else(|_| args.input.clone());
    let (rows, mut problems) = crate::input::rows(&args.input, &text, args.kind.single())?;
    let mut items = Vec::with_capacity(rows.len());
    for (line, fields) in rows {
        match args.kind.item(fields) {
            Ok((item, identity)) => items.push((line, item, identity)),
            Err(message) => problems.push((line, message)),
        }
    }
    problems.sort();
    for (line, message) in &problems {
        eprintln!("{}:{line}: {message} (skipped)", args.input.display());
    }
    if target.dry_run {
        return dry_run(args, target, &items).await;
    }
    let id = format!(
        "{}-{}",
        args.kind.command().replace(' ', "-"),
        fingerprint(&[
            args.kind.command().as_bytes(),
            target.label.as_bytes(),
            canonical.to_string_lossy().as_bytes(),
            text.as_bytes(),
        ])
    );
    let clients = Clients::new(args.kind, target)?;
    let resumed = journal.job_fingerprint(&id)?.is_some();
    if resumed {
        // What earlier runs spent: refunds of it (batch settlements) are then credited.
        clients.ledger().carry_over(
            "earlier runs of this job",
            args.kind.provider().profile().cost.unit,
            journal.job_spent(&id)?,
        );
    }
    let cursor = Cursor::new(clients.ledger());
    if resumed {
        eprintln!("resuming job {id} from {}", journal.path().display());
    } else {
        ingest(journal, &id, args, target, &canonical, &items, &problems)?;
    }
    recover(journal, &id, args.resubmit_unknown)?;
    let total = u64::try_from(items.len()).unwrap_or(u64::MAX);
    let bar = progress_bar(total);
    let mut job = Job {
        args,
        target,
        journal,
        id,
        clients,
        cursor,
        stop,
        pause: PauseAt::from_env(),
        bar,
    };
    job.show_progress()?;
    let outcome = if args.kind.batched() {
        job.run_batches().await
    } else {
        job.run_items().await
    };
    job.bar.finish_and_clear();
    let summary = job.finish()?;
    outcome?;
    if job.stop.requested() {
        return Err(CliError::Interrupted(format!(
            "stopped; the journal ({}) is consistent: run the same command again to resume",
            job.journal.path().display()
        )));
    }
    if summary.unknown > 0 {
        return Err(CliError::Interrupted(format!(
            "{} item(s) were in flight when an earlier run stopped and may have been charged; \
             they were not sent again. Check the provider's usage, then run the same command \
             with --resubmit-unknown to send them again",
            summary.unknown
        )));
    }
    Ok(summary)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{bar:30} {pos}/{len} items  {per_sec}  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn ingest(
    journal: &mut Journal,
    id: &str,
    args: &JobArgs,
    target: &Target,
    canonical: &Path,
    items: &[(i64, Value, String)],
    problems: &[(i64, String)],
) -> Result<(), CliError> {
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    journal.atomically(|tx| {
        tx.execute(
            "INSERT INTO jobs (id, kind, provider, target, input, fingerprint, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                args.kind.command(),
                args.kind.provider().name(),
                target.label,
                canonical.to_string_lossy(),
                id,
                created
            ],
        )?;
        let mut seen = std::collections::HashSet::new();
        let mut insert = tx.prepare(
            "INSERT INTO items (job, line, item, identity, state) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (line, item, identity) in items {
            let state = if seen.insert(identity.as_str()) {
                "pending"
            } else {
                "duplicate"
            };
            insert.execute(params![id, line, item.to_string(), identity, state])?;
        }
        let mut problem = tx.prepare("INSERT INTO problems (job, line, message) VALUES (?1, ?2, ?3)")?;
        for (line, message) in problems {
            problem.execute(params![id, line, message])?;
        }
        Ok(())
    })
}

/// After a stop: what was in flight has an unknown outcome (or is sent again when asked).
fn recover(journal: &mut Journal, id: &str, resubmit: bool) -> Result<(), CliError> {
    journal.atomically(|tx| {
        tx.execute(
            "UPDATE batches SET state = 'unknown' WHERE job = ?1 AND state = 'sending'",
            params![id],
        )?;
        tx.execute(
            "UPDATE items SET state = 'unknown' WHERE job = ?1 AND state = 'sending'",
            params![id],
        )?;
        mark_unknown_batch_items(tx, id)?;
        if resubmit {
            tx.execute(
                "UPDATE batches SET state = 'planned' WHERE job = ?1 AND state = 'unknown'",
                params![id],
            )?;
            tx.execute(
                "UPDATE items SET state = CASE WHEN batch IS NULL THEN 'pending' ELSE 'planned' END
                 WHERE job = ?1 AND state = 'unknown'",
                params![id],
            )?;
        }
        Ok(())
    })
}

/// The items of batches whose outcome is unknown are unknown too.
fn mark_unknown_batch_items(tx: &rusqlite::Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE items SET state = 'unknown' WHERE job = ?1 AND state = 'planned'
         AND batch IN (SELECT seq FROM batches WHERE job = ?1 AND state = 'unknown')",
        params![id],
    )
    .map(drop)
}

/// Prices the job without sending or journaling anything.
async fn dry_run(
    args: &JobArgs,
    target: &Target,
    items: &[(i64, Value, String)],
) -> Result<Summary, CliError> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&Value> = items
        .iter()
        .filter(|(_, _, identity)| seen.insert(identity.as_str()))
        .map(|(_, item, _)| item)
        .collect();
    let mut most = 0_i64;
    let groups: Vec<Vec<&Value>> = if args.kind.batched() {
        unique
            .chunks(args.batch_size.max(1))
            .map(<[&Value]>::to_vec)
            .collect()
    } else {
        unique.iter().map(|v| vec![*v]).collect()
    };
    let clients = Clients::new(args.kind, target)?;
    for group in &groups {
        match call(args.kind, &clients, group).await {
            Err(tollgate::Error::DryRun { max_cost, .. }) => {
                most = most.saturating_add(max_cost);
            }
            Err(other) => return Err(other.into()),
            Ok(_) => {}
        }
    }
    let unit = args.kind.provider().profile().cost.unit;
    println!(
        "dry run: {} may cost up to {most} {unit} for {} item(s) in {} call(s); nothing was sent",
        args.kind.command(),
        unique.len(),
        groups.len()
    );
    Ok(Summary {
        items: items.len(),
        unit: unit.to_string(),
        ..Summary::default()
    })
}

/// What one call of a job answered: the batch id (batch jobs) or the result (item jobs).
enum Answer {
    Batch(String),
    Result(Value),
}

/// Sends one call of a job: a batch of `group` or one item.
async fn call(kind: Kind, clients: &Clients, group: &[&Value]) -> Result<Answer, tollgate::Error> {
    use tollgate_enrich::types as enrich;
    let invalid = |e: String| tollgate::Error::InvalidRequest(e);
    let batch_id = |data: Option<enrich::BatchSubmitData>| {
        data.and_then(|d| d.batch_id)
            .map(Answer::Batch)
            .ok_or_else(|| {
                tollgate::Error::Other("Enrich accepted the batch but sent no batchId".into())
            })
    };
    match (kind, clients) {
        (Kind::EnrichValidate, Clients::Enrich(client)) => {
            let emails = group
                .iter()
                .map(|v| {
                    enrich::BatchEmailValidationRequestEmailsItem::try_from(
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                    .map_err(|e| invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let answer = client
                .validate_email_batch()
                .body(enrich::BatchEmailValidationRequest {
                    emails,
                    webhook_url: None,
                })
                .send()
                .await?;
            batch_id(answer.into_inner().data)
        }
        (Kind::EnrichFind, Clients::Enrich(client)) => {
            let leads = group
                .iter()
                .map(|v| parse::<enrich::Lead>((*v).clone()).map_err(invalid))
                .collect::<Result<Vec<_>, _>>()?;
            let answer = client
                .find_email_batch()
                .body(enrich::BatchEmailFinderRequest {
                    leads,
                    webhook_url: None,
                })
                .send()
                .await?;
            batch_id(answer.into_inner().data)
        }
        (Kind::RocketReachLookup, Clients::RocketReach(client)) => {
            let item = group.first().copied().cloned().unwrap_or_default();
            let q: Lookup = parse(item).map_err(invalid)?;
            let mut request = client.create_person_lookup();
            if let Some(v) = q.id {
                request = request.id(v);
            }
            if let Some(v) = q.linkedin_url {
                request = request.linkedin_url(v);
            }
            if let Some(v) = q.email {
                request = request.email(v);
            }
            if let Some(v) = q.name {
                request = request.name(v);
            }
            if let Some(v) = q.current_employer {
                request = request.current_employer(v);
            }
            if let Some(v) = q.title {
                request = request.title(v);
            }
            if let Some(v) = q.phone {
                request = request.phone(v);
            }
            if let Some(v) = q.npi_number {
                request = request.npi_number(v);
            }
            let answer = request.send().await?;
            Ok(Answer::Result(
                serde_json::to_value(answer.into_inner()).unwrap_or(Value::Null),
            ))
        }
        (Kind::SpiderNewsConnections, Clients::SpiderNews(client)) => {
            let item = group.first().copied().cloned().unwrap_or_default();
            let q: Connections = parse(item).map_err(invalid)?;
            let mut request = client.list_connections();
            if let Some(v) = q.source_name {
                request = request.source_name(v);
            }
            if let Some(v) = q.source_uuid {
                request = request.source_uuid(v);
            }
            if let Some(v) = q.target_name {
                request = request.target_name(v);
            }
            if let Some(v) = q.target_uuid {
                request = request.target_uuid(v);
            }
            if let Some(v) = q.connection_limit {
                request = request.connection_limit(v);
            }
            if let Some(v) = q.min_date {
                request = request.min_date(v);
            }
            if let Some(v) = q.max_date {
                request = request.max_date(v);
            }
            let answer = request.send().await?;
            Ok(Answer::Result(
                serde_json::to_value(answer.into_inner()).unwrap_or(Value::Null),
            ))
        }
        _ => Err(tollgate::Error::Other(
            "internal: a job got another provider's client".into(),
        )),
    }
}

/// Whether an error means the call was refused before anything was charged.
fn refused_before_charge(error: &tollgate::Error, uncertain: bool) -> bool {
    !uncertain
        && matches!(
            error,
            tollgate::Error::CostRefused(_)
                | tollgate::Error::Cost(_)
                | tollgate::Error::InvalidRequest(_)
                | tollgate::Error::RetryLater { .. }
                | tollgate::Error::SharedStore(_)
                | tollgate::Error::Api(_)
        )
}

/// Whether one of a step's ledger entries is a call that may have been charged without an
/// answer.
fn possibly_charged(entries: &[Usage]) -> bool {
    entries
        .iter()
        .any(|e| e.basis == tollgate::Basis::Uncertain)
}

impl Job<'_> {
    fn show_progress(&mut self) -> Result<(), CliError> {
        let items = self.journal.items(&self.id, &["done", "failed"])?;
        self.bar
            .set_position(u64::try_from(items.len()).unwrap_or(u64::MAX));
        let spent = self.journal.job_spent(&self.id)?;
        self.bar.set_message(format!(
            "{spent} {}",
            self.args.kind.provider().profile().cost.unit
        ));
        Ok(())
    }

    async fn run_batches(&mut self) -> Result<(), CliError> {
        // Plan: pending items into batches.
        let pending = self.journal.items(&self.id, &["pending"])?;
        if !pending.is_empty() {
            let id = self.id.clone();
            let size = self.args.batch_size.max(1);
            self.journal.atomically(|tx| {
                let next: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM batches WHERE job = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                for (n, chunk) in pending.chunks(size).enumerate() {
                    let seq = next + i64::try_from(n).unwrap_or(i64::MAX);
                    tx.execute(
                        "INSERT INTO batches (job, seq, state) VALUES (?1, ?2, 'planned')",
                        params![id, seq],
                    )?;
                    for item in chunk {
                        tx.execute(
                            "UPDATE items SET state = 'planned', batch = ?3 WHERE job = ?1 AND line = ?2",
                            params![id, item.line, seq],
                        )?;
                    }
                }
                Ok(())
            })?;
        }
        // Submit every planned batch.
        for (seq, _) in self.journal.batches(&self.id, "planned")? {
            if self.stop.requested() {
                return Ok(());
            }
            self.submit(seq).await?;
        }
        // Poll and collect every accepted batch.
        for (seq, provider_id) in self.journal.batches(&self.id, "accepted")? {
            if self.stop.requested() {
                return Ok(());
            }
            let Some(provider_id) = provider_id else {
                continue;
            };
            self.collect(seq, &provider_id).await?;
        }
        Ok(())
    }

    async fn submit(&mut self, seq: i64) -> Result<(), CliError> {
        let id = self.id.clone();
        let items: Vec<Value> = self
            .journal
            .items(&id, &["planned"])?
            .into_iter()
            .filter(|i| i.batch == Some(seq))
            .filter_map(|i| serde_json::from_str(&i.item).ok())
            .collect();
        self.journal.atomically(|tx| {
            tx.execute(
                "UPDATE batches SET state = 'sending' WHERE job = ?1 AND seq = ?2",
                params![id, seq],
            )
            .map(drop)
        })?;
        let group: Vec<&Value> = items.iter().collect();
        let answer = call(self.args.kind, &self.clients, &group).await;
        let entries = self.cursor.take();
        let uncertain = possibly_charged(&entries);
        let payer_provider = self.args.kind.provider().name();
        let label = self.target.label.clone();
        let payer = Payer {
            provider: payer_provider,
            target: &label,
            job: Some(&id),
        };
        match answer {
            Ok(Answer::Batch(provider_id)) => {
                self.pause.reach("submitted");
                self.journal.atomically(|tx| {
                    tx.execute(
                        "UPDATE batches SET state = 'accepted', provider_id = ?3 WHERE job = ?1 AND seq = ?2",
                        params![id, seq, provider_id],
                    )?;
                    tx.execute(
                        "UPDATE items SET state = 'submitted' WHERE job = ?1 AND batch = ?2 AND state = 'planned'",
                        params![id, seq],
                    )?;
                    Journal::record(tx, payer, &entries)
                })?;
                self.pause.reach("accepted");
                self.show_progress()?;
                Ok(())
            }
            Ok(Answer::Result(_)) => Ok(()),
            Err(error) => {
                let back = if refused_before_charge(&error, uncertain) {
                    "planned"
                } else {
                    "unknown"
                };
                self.journal.atomically(|tx| {
                    tx.execute(
                        "UPDATE batches SET state = ?3 WHERE job = ?1 AND seq = ?2",
                        params![id, seq, back],
                    )?;
                    mark_unknown_batch_items(tx, &id)?;
                    Journal::record(tx, payer, &entries)
                })?;
                Err(error.into())
            }
        }
    }

    async fn collect(&mut self, seq: i64, provider_id: &str) -> Result<(), CliError> {
        let Clients::Enrich(client) = &self.clients else {
            return Ok(());
        };
        let options = JobOptions {
            interval: self.args.poll,
            deadline: None,
        };
        let kind = self.args.kind;
        let waited = self
            .stop
            .or_stop(async {
                match kind {
                    Kind::EnrichFind => {
                        client
                            .wait_email_finder_batch(provider_id, &options, |_| {})
                            .await
                    }
                    _ => {
                        client
                            .wait_email_validation_batch(provider_id, &options, |_| {})
                            .await
                    }
                }
            })
            .await;
        match waited {
            None => return Ok(()),
            Some(result) => result?,
        }
        let results: Vec<Value> = match kind {
            Kind::EnrichFind => {
                client
                    .email_finder_results(provider_id)
                    .map_ok(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .try_collect()
                    .await?
            }
            _ => {
                client
                    .email_validation_results(provider_id)
                    .map_ok(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .try_collect()
                    .await?
            }
        };
        self.pause.reach("results");
        let entries = self.cursor.take();
        let mut by_identity: std::collections::HashMap<String, Value> = Default::default();
        for result in results {
            if let Some(identity) = kind.result_identity(&result) {
                by_identity.entry(identity).or_insert(result);
            }
        }
        let id = self.id.clone();
        let items = self.journal.items(&id, &["submitted"])?;
        let label = self.target.label.clone();
        let payer = Payer {
            provider: kind.provider().name(),
            target: &label,
            job: Some(&id),
        };
        self.journal.atomically(|tx| {
            for item in items.iter().filter(|i| i.batch == Some(seq)) {
                match by_identity.get(&item.identity) {
                    Some(result) => tx.execute(
                        "UPDATE items SET state = 'done', result = ?3 WHERE job = ?1 AND line = ?2",
                        params![id, item.line, result.to_string()],
                    )?,
                    None => tx.execute(
                        "UPDATE items SET state = 'failed', error = ?3 WHERE job = ?1 AND line = ?2",
                        params![id, item.line, "the batch returned no result for this item"],
                    )?,
                };
            }
            tx.execute(
                "UPDATE batches SET state = 'settled' WHERE job = ?1 AND seq = ?2",
                params![id, seq],
            )?;
            Journal::record(tx, payer, &entries)
        })?;
        self.pause.reach("settled");
        self.show_progress()
    }

    async fn run_items(&mut self) -> Result<(), CliError> {
        let id = self.id.clone();
        for item in self.journal.items(&id, &["pending"])? {
            if self.stop.requested() {
                return Ok(());
            }
            self.journal.atomically(|tx| {
                tx.execute(
                    "UPDATE items SET state = 'sending' WHERE job = ?1 AND line = ?2",
                    params![id, item.line],
                )
                .map(drop)
            })?;
            let value: Value = serde_json::from_str(&item.item).unwrap_or(Value::Null);
            let answer = call(self.args.kind, &self.clients, &[&value]).await;
            self.pause.reach("item");
            let entries = self.cursor.take();
            let uncertain = possibly_charged(&entries);
            let label = self.target.label.clone();
            let payer = Payer {
                provider: self.args.kind.provider().name(),
                target: &label,
                job: Some(&id),
            };
            let mut stop_with = None;
            let (state, result, error) = match answer {
                Ok(Answer::Result(v)) => ("done", Some(v.to_string()), None),
                Ok(Answer::Batch(_)) => ("done", None, None),
                // The provider answered: a result of its own (not found, bad input).
                Err(tollgate::Error::Api(api)) => ("failed", None, Some(api.to_string())),
                Err(e) if refused_before_charge(&e, uncertain) => {
                    stop_with = Some(e);
                    ("pending", None, None)
                }
                Err(e) => {
                    eprintln!("line {}: {e}", item.line);
                    ("unknown", None, Some(e.to_string()))
                }
            };
            self.journal.atomically(|tx| {
                tx.execute(
                    "UPDATE items SET state = ?3, result = ?4, error = ?5 WHERE job = ?1 AND line = ?2",
                    params![id, item.line, state, result, error],
                )?;
                Journal::record(tx, payer, &entries)
            })?;
            self.show_progress()?;
            if let Some(e) = stop_with {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Gives duplicates their original's outcome, writes the output (when the job has no
    /// item left to do) and the summary.
    fn finish(&mut self) -> Result<Summary, CliError> {
        let id = self.id.clone();
        let all = self.journal.items(&id, &[])?;
        let mut first: std::collections::HashMap<&str, &crate::journal::Item> = Default::default();
        for item in all.iter().filter(|i| i.state != "duplicate") {
            first.entry(item.identity.as_str()).or_insert(item);
        }
        let resolve = |item: &crate::journal::Item| -> crate::journal::Item {
            if item.state == "duplicate"
                && let Some(original) = first.get(item.identity.as_str())
            {
                let mut copy = (*original).clone();
                copy.line = item.line;
                copy.item = item.item.clone();
                return copy;
            }
            item.clone()
        };
        let resolved: Vec<crate::journal::Item> = all.iter().map(resolve).collect();
        let count = |state: &str| resolved.iter().filter(|i| i.state == state).count();
        let problems = self.journal.problems(&id)?;
        let summary = Summary {
            job: id.clone(),
            items: resolved.len(),
            done: count("done"),
            failed: count("failed"),
            skipped_lines: problems.len(),
            unknown: count("unknown"),
            spent: self.journal.job_spent(&id)?,
            unit: self.args.kind.provider().profile().cost.unit.to_string(),
        };
        if summary.done + summary.failed == summary.items {
            write_output(self.args, &resolved)?;
        }
        eprintln!(
            "{}: {} items: {} done, {} failed, {} unknown; {} malformed line(s) skipped; spent {} {} (journal: {})",
            self.args.kind.command(),
            summary.items,
            summary.done,
            summary.failed,
            summary.unknown,
            summary.skipped_lines,
            summary.spent,
            summary.unit,
            self.journal.path().display()
        );
        Ok(summary)
    }
}

/// One output record: the line, the item, and its result or error.
fn record(item: &crate::journal::Item) -> Value {
    let mut out = Map::new();
    out.insert("line".into(), Value::from(item.line));
    out.insert(
        "input".into(),
        serde_json::from_str(&item.item).unwrap_or(Value::Null),
    );
    out.insert("status".into(), Value::String(item.state.clone()));
    if let Some(result) = &item.result {
        out.insert(
            "result".into(),
            serde_json::from_str(result).unwrap_or(Value::Null),
        );
    }
    if let Some(error) = &item.error {
        out.insert("error".into(), Value::String(error.clone()));
    }
    Value::Object(out)
}

/// Flattens a record for CSV: `input.*` and `result.*` scalars, nested values as JSON.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Value::Object(_) if prefix.is_empty() => flatten(&name, v, out),
                    _ => out.push((name, scalar_text(v))),
                }
            }
        }
        other => out.push((prefix.to_owned(), scalar_text(other))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_output(args: &JobArgs, items: &[crate::journal::Item]) -> Result<(), CliError> {
    let records: Vec<Value> = items.iter().map(record).collect();
    let json = match &args.output {
        Some(path) => crate::input::is_json_lines(path),
        None => args.json,
    };
    let mut text = String::new();
    if json {
        for r in &records {
            text.push_str(&r.to_string());
            text.push('\n');
        }
    } else {
        let rows: Vec<Vec<(String, String)>> = records
            .iter()
            .map(|r| {
                let mut cells = Vec::new();
                flatten("", r, &mut cells);
                cells
            })
            .collect();
        let mut columns: Vec<String> = Vec::new();
        for row in &rows {
            for (name, _) in row {
                if !columns.contains(name) {
                    columns.push(name.clone());
                }
            }
        }
        let mut writer = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| CliError::Usage(format!("writing CSV: {e}"));
        writer.write_record(&columns).map_err(io)?;
        for row in &rows {
            let cells: Vec<&str> = columns
                .iter()
                .map(|c| {
                    row.iter()
                        .find(|(name, _)| name == c)
                        .map_or("", |(_, v)| v.as_str())
                })
                .collect();
            writer.write_record(&cells).map_err(io)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| CliError::Usage(format!("writing CSV: {e}")))?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    match &args.output {
        Some(path) => {
            // Written whole, then renamed: a reader never sees half a file.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, text).map_err(|e| CliError::io(&partial, e))?;
            std::fs::rename(&partial, path).map_err(|e| CliError::io(path, e))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
