//! Before anything is paid: the input's columns, the output path, the journal and the key are
//! checked; the job's id is the SHA-256 of what makes it the same job; the job's lock is taken;
//! the input is streamed into the journal in chunks (an interrupted ingest goes on from its
//! last line).

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::call::{self, Clients};
use super::output::Output;
use super::{JobArgs, clip};
use crate::config::Target;
use crate::error::CliError;
use crate::input::{self, Record};
use crate::journal::lock::RunnerLock;
use crate::journal::{JobRow, Journal};

/// Items per journal transaction while ingesting.
const CHUNK: usize = 5_000;

/// A job ready to run.
pub(super) struct Prepared {
    pub id: String,
    pub clients: Clients,
    pub pricer: Clients,
    pub lock: RunnerLock,
    pub output: Output,
    /// Unique items with their final outcome (progress so far).
    pub finished: u64,
    /// Unique items (the progress bar's length).
    pub total: u64,
}

/// The job's fingerprint: the SHA-256 of its command, its target, its input's path and bytes
/// (read as a stream). The same command on the same file resumes the same job; a changed file
/// is a new job.
fn fingerprint(args: &JobArgs, target: &Target, canonical: &Path) -> Result<String, CliError> {
    let mut hash = Sha256::new();
    for part in [
        args.kind.command().as_bytes(),
        target.label.as_bytes(),
        canonical.to_string_lossy().as_bytes(),
    ] {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_le_bytes());
        hash.update(part);
    }
    let mut file =
        std::fs::File::open(&args.input).map_err(|e| CliError::input(&args.input, &e))?;
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| CliError::input(&args.input, &e))?;
        if n == 0 {
            break;
        }
        hash.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks everything, takes the lock and ingests. `None` for a dry run (priced and printed,
/// nothing sent or journaled).
pub(super) async fn prepare(
    args: &JobArgs,
    target: &Target,
    journal: &mut Journal,
) -> Result<Option<Prepared>, CliError> {
    let kind = args.kind;
    // The input: readable, and its header names the columns the job reads.
    let records = input::open(&args.input, kind.single(), kind.columns(), kind.command())?;
    // The key (checked when the client is built).
    let clients = Clients::new(kind, target)?;
    let canonical =
        std::fs::canonicalize(&args.input).map_err(|e| CliError::input(&args.input, &e))?;
    let fingerprint = fingerprint(args, target, &canonical)?;
    let id = format!(
        "{}-{}",
        kind.command().replace(' ', "-"),
        fingerprint.get(..16).unwrap_or(&fingerprint)
    );
    if target.dry_run {
        dry_run(args, &clients, records).await?;
        forecast_of_earlier_runs(args, target, journal, &id)?;
        return Ok(None);
    }
    // What the journal recorded in the current period of each renewing budget counts in it.
    crate::count_period_spending(clients.runtime(), journal, target).await?;
    let pricer = Clients::new(kind, &target.pricing())?;
    // The output: its file can be created, before any call.
    let output = Output::probe(args, journal.path())?;
    // One runner per job.
    let lock = journal.lock(&id, args.wait)?;
    let existing = journal.job(&id)?;
    if let Some(job) = &existing
        && job.fingerprint != fingerprint
    {
        return Err(CliError::Usage(format!(
            "job {id} in {} was made from other input (its fingerprint differs); move the journal aside or give --journal NEW_FILE",
            journal.path().display()
        )));
    }
    let resumed = existing.as_ref().is_some_and(|j| j.ingested);
    if resumed {
        if !args.quiet {
            eprintln!("resuming job {id} from {}", journal.path().display());
        }
        // What earlier runs spent: it counts against the budget, and refunds of it (batch
        // settlements) are then credited.
        clients
            .runtime()
            .carry_over("earlier runs of this job", journal.job_spent(&id)?)
            .await;
    } else {
        if existing.is_none() {
            journal.create_job(&JobRow {
                id: id.clone(),
                kind: kind.command().to_owned(),
                provider: kind.provider().name().to_owned(),
                target: target.label.clone(),
                input: canonical.to_string_lossy().into_owned(),
                fingerprint,
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ingested: false,
            })?;
        }
        let after = journal.last_line(&id)?;
        ingest(journal, &id, args, records, after)?;
    }
    if args.stop_at_forecast {
        forecast_or_refuse(args, target, journal, &id, &pricer).await?;
    }
    let counts = journal.counts(&id)?;
    if counts.items == 0 {
        let problems = journal.problems(&id)?;
        if let Some((line, message)) = problems.first() {
            return Err(CliError::Usage(format!(
                "{}: no line could be read as an item ({} malformed; the first, line {line}: {message}); nothing was sent",
                args.input.display(),
                problems.len()
            )));
        }
    }
    let (finished, total) = journal.progress(&id)?;
    Ok(Some(Prepared {
        id,
        clients,
        pricer,
        lock,
        output,
        finished,
        total,
    }))
}

/// Streams the input into the journal, [`CHUNK`] items per transaction, skipping lines up to
/// `after` (already ingested by an interrupted run). Malformed lines are reported as they come.
fn ingest(
    journal: &mut Journal,
    id: &str,
    args: &JobArgs,
    records: input::Records,
    after: i64,
) -> Result<(), CliError> {
    let mut items: Vec<(i64, String, String)> = Vec::with_capacity(CHUNK);
    let mut problems: Vec<(i64, String)> = Vec::new();
    let report = |line: i64, message: &str| {
        eprintln!(
            "{}:{line}: {} (skipped)",
            args.input.display(),
            clip(message)
        );
    };
    for record in records {
        match record? {
            Record::Row(line, _) | Record::Problem(line, _) if line <= after => {}
            Record::Row(line, fields) => match args.kind.item(fields) {
                Ok((item, identity)) => items.push((line, item.to_string(), identity)),
                Err(message) => {
                    report(line, &message);
                    problems.push((line, clip(&message)));
                }
            },
            Record::Problem(line, message) => {
                report(line, &message);
                problems.push((line, clip(&message)));
            }
        }
        if items.len() >= CHUNK || problems.len() >= CHUNK {
            journal.ingest(id, &items, &problems)?;
            items.clear();
            problems.clear();
        }
    }
    journal.ingest(id, &items, &problems)?;
    journal.mark_ingested(id)
}

/// A dry run of a job that earlier runs began: what it is expected to cost in all, from the
/// items they settled.
fn forecast_of_earlier_runs(
    args: &JobArgs,
    target: &Target,
    journal: &Journal,
    id: &str,
) -> Result<(), CliError> {
    if !journal.job(id)?.is_some_and(|j| j.ingested) {
        return Ok(());
    }
    let (finished, total) = journal.progress(id)?;
    let settled = journal.job_settled_cost(id)?;
    let budget = target.max_cost;
    if let Some(f) = super::forecast::Forecast::new(settled, finished, total, 0.0, budget) {
        let unit = args.kind.provider().profile().cost.unit.to_string();
        outln!(
            "dry run: earlier runs settled {finished} of its {total} item(s) for {settled} {unit}: it is expected to cost {}",
            f.describe(&unit)
        );
    }
    Ok(())
}

/// `--stop-at-forecast`: refuses a job expected to cost more than the budget, before it sends
/// anything. Expected: from what its settled items cost when an earlier run settled some, else
/// its most (the dry run's figure, items the cache holds at nothing).
async fn forecast_or_refuse(
    args: &JobArgs,
    target: &Target,
    journal: &Journal,
    id: &str,
    pricer: &Clients,
) -> Result<(), CliError> {
    let Some(budget) = target.max_cost else {
        return Err(CliError::Usage(
            "--stop-at-forecast needs a budget: --max-cost N, or budget = N in the config file"
                .into(),
        ));
    };
    let (finished, total) = journal.progress(id)?;
    let settled = journal.job_settled_cost(id)?;
    let (expected, basis) =
        match super::forecast::Forecast::new(settled, finished, total, 0.0, Some(budget)) {
            Some(f) => (
                f.expected,
                format!("from the {finished} item(s) settled so far"),
            ),
            None => {
                let kind = args.kind;
                let records =
                    input::open(&args.input, kind.single(), kind.columns(), kind.command())?;
                let e = estimate(args, pricer, records).await?;
                (e.most, "at its most, before any item is settled".to_owned())
            }
        };
    if expected > budget {
        let unit = args.kind.provider().profile().cost.unit;
        return Err(CliError::Forecast(format!(
            "{} is expected to cost about {expected} {unit} ({basis}), more than the budget of {budget}; nothing was sent (without --stop-at-forecast it runs until the budget refuses)",
            args.kind.command()
        )));
    }
    Ok(())
}

/// What a dry run of a job finds: the most it may cost, its items, calls and cached items.
struct Estimate {
    most: i64,
    items: u64,
    calls: u64,
    cached: u64,
}

/// Prices the job without sending or journaling anything.
async fn dry_run(
    args: &JobArgs,
    clients: &Clients,
    records: input::Records,
) -> Result<(), CliError> {
    let Estimate {
        most,
        items,
        calls,
        cached,
    } = estimate(args, clients, records).await?;
    let kind = args.kind;
    let unit = kind.provider().profile().cost.unit;
    if cached > 0 {
        outln!(
            "dry run: {}: {cached} of {items} item(s) are cached (nothing sent or paid for them); the rest may cost up to {most} {unit} in {calls} call(s); nothing was sent",
            kind.command(),
        );
    } else {
        outln!(
            "dry run: {} may cost up to {most} {unit} for {items} item(s) in {calls} call(s); nothing was sent",
            kind.command(),
        );
    }
    Ok(())
}

/// The most a job may cost, priced by `clients` (dry-run clients: nothing is sent).
async fn estimate(
    args: &JobArgs,
    clients: &Clients,
    records: input::Records,
) -> Result<Estimate, CliError> {
    let kind = args.kind;
    let size = if kind.family().is_some() {
        args.batch_size.max(1)
    } else {
        1
    };
    // Items whose result the cache holds are not priced: a batch job sends only the rest.
    let cached_item = |identity: String| async move {
        match (kind.family(), clients.enrich()) {
            (Some(family), Some(client)) => {
                client
                    .runtime()
                    .has_cached_item(family.single_operation(), &identity)
                    .await
            }
            _ => false,
        }
    };
    let mut seen = HashSet::new();
    let (mut most, mut items, mut calls, mut cached) = (0_i64, 0_u64, 0_u64, 0_u64);
    let mut group: Vec<Value> = Vec::with_capacity(size);
    for record in records {
        let Record::Row(_, fields) = record? else {
            continue;
        };
        let Ok((item, identity)) = kind.item(fields) else {
            continue;
        };
        if seen.insert(identity.clone()) {
            items += 1;
            if cached_item(identity).await {
                cached += 1;
                continue;
            }
            group.push(item);
            if group.len() >= size {
                let (cost, from_cache) = price(kind, clients, &mut group, &mut calls).await?;
                most = most.saturating_add(cost);
                cached += from_cache;
            }
        }
    }
    let (cost, from_cache) = price(kind, clients, &mut group, &mut calls).await?;
    most = most.saturating_add(cost);
    cached += from_cache;
    Ok(Estimate {
        most,
        items,
        calls,
        cached,
    })
}

/// The most one group may cost (emptying it), and how many of its calls the cache would
/// answer (an item job's call priced from the cache is not counted as a call).
async fn price(
    kind: super::Kind,
    clients: &Clients,
    group: &mut Vec<Value>,
    calls: &mut u64,
) -> Result<(i64, u64), CliError> {
    if group.is_empty() {
        return Ok((0, 0));
    }
    let refs: Vec<&Value> = group.iter().collect();
    let price = call::price(kind, clients, &refs).await?;
    group.clear();
    if price.cached {
        return Ok((0, 1));
    }
    *calls += 1;
    Ok((price.most, 0))
}
