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
//! A job runs in phases, each in a module of its own:
//! 1. [`prepare`]: everything is checked before anything is paid (the input's columns, the
//!    output path, the journal, the key), the job's lock is taken (one runner per job), and
//!    the input is streamed into the journal in chunks;
//! 2. [`settle`]: what an earlier run left in flight is settled with the provider's own
//!    records where the provider keeps them (Enrich's wallet), and what the user asked to
//!    send again is planned again;
//! 3. [`batches`] or [`items`]: the calls, each journaled before it is sent;
//! 4. [`output`]: the results, streamed from the journal in input order into a file renamed
//!    into place once complete.

mod batches;
mod call;
mod forecast;
mod hook;
mod items;
mod kind;
mod output;
mod prepare;
mod settle;

pub use output::Format;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use tollgate::{Ledger, Usage};

pub use self::kind::{Kind, clip};
use crate::config::Target;
use crate::error::CliError;
use crate::journal::{Counts, Journal, Payer, Pending};
use serde_json::Value;

/// What a bulk command was asked.
#[derive(Clone, Debug)]
pub struct JobArgs {
    /// The kind.
    pub kind: Kind,
    /// The input file.
    pub input: PathBuf,
    /// The output file (`None`: standard output).
    pub output: Option<PathBuf>,
    /// The cache file in use (`None`: no cache), which the output must never replace.
    pub cache: Option<PathBuf>,
    /// The output's format (`--format`); `None`: from the output file's extension, or
    /// `--json` on standard output.
    pub format: Option<Format>,
    /// JSON lines on standard output (`--json`).
    pub json: bool,
    /// No progress bar and no summary line (`--quiet`).
    pub quiet: bool,
    /// Items per provider batch.
    pub batch_size: usize,
    /// The wait between polls of a batch.
    pub poll: Duration,
    /// Send again the calls whose outcome is unknown.
    pub resubmit_unknown: bool,
    /// Send again the items of batches the provider no longer knows.
    pub resubmit_lost: bool,
    /// Wait for another process running the same job instead of refusing.
    pub wait: bool,
    /// How long a run waits for answers still in progress (RocketReach lookups).
    pub deadline: Duration,
    /// Refuse to start when the job is expected to cost more than the budget.
    pub stop_at_forecast: bool,
}

/// What a bulk job did, for its summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// The job's id in the journal.
    pub job: String,
    /// Items read.
    pub items: u64,
    /// Items with a result.
    pub done: u64,
    /// Items the provider refused or answered with an error.
    pub failed: u64,
    /// Input lines skipped as malformed.
    pub skipped_lines: u64,
    /// Items whose call may have been charged and was not answered.
    pub unknown: u64,
    /// Items of batches the provider no longer knows.
    pub lost: u64,
    /// Items paid and still in progress at the provider (RocketReach lookups).
    pub waiting: u64,
    /// What the job spent so far, in the provider's unit (from the journal; unknown calls at
    /// the most they may have cost).
    pub spent: i64,
    /// What the cache saved the job: the cost of the answers it served.
    pub saved: i64,
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

/// New ledger entries since the last look.
struct Cursor {
    ledger: Arc<Ledger>,
    seen: u64,
}

impl Cursor {
    /// Entries the ledger has recorded: calls sent and calls served from the cache.
    fn recorded(ledger: &Ledger) -> u64 {
        let totals = ledger.totals();
        totals.calls.saturating_add(totals.hits)
    }

    fn new(ledger: Arc<Ledger>) -> Cursor {
        let seen = Cursor::recorded(&ledger);
        Cursor { ledger, seen }
    }

    fn take(&mut self) -> Vec<Usage> {
        let calls = Cursor::recorded(&self.ledger);
        let new = usize::try_from(calls.saturating_sub(self.seen)).unwrap_or(usize::MAX);
        self.seen = calls;
        let entries = self.ledger.entries();
        let skip = entries.len().saturating_sub(new);
        entries.into_iter().skip(skip).collect()
    }
}

/// A job in progress: what every phase after [`prepare`] works with.
struct Job<'a> {
    args: &'a JobArgs,
    target: &'a Target,
    journal: &'a mut Journal,
    id: String,
    clients: call::Clients,
    /// The same provider's client in dry-run mode: prices each call before it is sent.
    pricer: call::Clients,
    cursor: Cursor,
    stop: Stop,
    pause: hook::PauseAt,
    bar: ProgressBar,
    /// Unique items with their final outcome, for the progress bar.
    finished: u64,
    /// When the bar last showed the job's spending (read from the journal at most every
    /// [`SPENT_EVERY`], so that a step's cost does not grow with the charges already made).
    spent_shown: Option<std::time::Instant>,
    /// The most one item of a call priced so far may cost (for the forecast's worst case).
    most_per_item: std::cell::Cell<f64>,
}

/// How often the progress bar's spending is read from the journal.
const SPENT_EVERY: Duration = Duration::from_millis(250);

impl Job<'_> {
    fn payer(&self) -> (String, String) {
        (
            self.args.kind.provider().name().to_owned(),
            self.target.label.clone(),
        )
    }

    fn unit(&self) -> String {
        self.args.kind.provider().profile().cost.unit.to_string()
    }

    /// Prices a call of `group` with the dry-run client: what the journal records as pending
    /// before the call is sent.
    async fn priced(&self, group: &[&Value]) -> Result<Priced, CliError> {
        let price = call::price(self.args.kind, &self.pricer, group).await?;
        if !group.is_empty() && !price.cached {
            let each = price.most as f64 / group.len() as f64;
            self.most_per_item.set(self.most_per_item.get().max(each));
        }
        let (provider, target) = self.payer();
        Ok(Priced {
            price,
            unit: self.unit(),
            provider,
            target,
        })
    }

    /// Moves the progress bar by `n` finished items and shows the spending.
    fn advance(&mut self, n: u64) -> Result<(), CliError> {
        let before = self.finished;
        self.finished = self.finished.saturating_add(n);
        self.bar.set_position(self.finished);
        // Shown at most every SPENT_EVERY, and each time the job passes a tenth of its items
        // (so the forecast after the first tenth is always there).
        let total = self.bar.length().unwrap_or(self.finished).max(1);
        let tenth = |done: u64| done.saturating_mul(10) / total;
        if self
            .spent_shown
            .is_some_and(|at| at.elapsed() < SPENT_EVERY)
            && tenth(self.finished) == tenth(before)
        {
            return Ok(());
        }
        self.spent_shown = Some(std::time::Instant::now());
        let spent = self.journal.job_spent(&self.id)?;
        let unit = self.unit();
        // An item job's charges are its items' (the few in flight aside): what it spent is
        // what its settled items cost. A batch job's in-flight batches hold reservations.
        let settled = match self.args.kind.family() {
            Some(_) => self.journal.job_settled_cost(&self.id)?,
            None => spent,
        };
        let budget = self.target.max_cost;
        let most = self.most_per_item.get();
        match forecast::Forecast::new(settled, self.finished, total, most, budget) {
            Some(f) => {
                tracing::info!(
                    target: "tollgate_cli::forecast",
                    done = self.finished,
                    total,
                    spent,
                    expected = f.expected,
                    worst = f.worst,
                    runs_out_at = f.runs_out_at,
                    "forecast"
                );
                self.bar
                    .set_message(format!("{spent} {unit}, {}", f.describe(&unit)));
            }
            None => self.bar.set_message(format!("{spent} {unit}")),
        }
        Ok(())
    }
}

/// A call priced before it is sent: its most and who pays it.
struct Priced {
    price: call::Price,
    unit: String,
    provider: String,
    target: String,
}

impl Priced {
    /// Who pays, for `job`.
    fn payer<'a>(&'a self, job: &'a str) -> Payer<'a> {
        payer(&self.provider, &self.target, job)
    }

    /// The journal's pending record of the call, for `job`.
    fn pending<'a>(&'a self, job: &'a str) -> Pending<'a> {
        Pending {
            payer: self.payer(job),
            operation: &self.price.operation,
            unit: &self.unit,
            most: self.price.most,
        }
    }
}

/// An item as `journal` holds it (the JSON the input reader wrote); anything else means the
/// journal was changed outside tollgate.
fn item_value(journal: &Journal, line: i64, item: &str) -> Result<Value, CliError> {
    serde_json::from_str(item).map_err(|e| CliError::CorruptJournal {
        path: journal.path().to_path_buf(),
        detail: format!("the item of input line {line} is not JSON ({e})"),
    })
}

/// Who pays a job's calls, from owned strings.
fn payer<'a>(provider: &'a str, target: &'a str, job: &'a str) -> Payer<'a> {
    Payer {
        provider,
        target,
        job: Some(job),
    }
}

/// Runs (or resumes) a bulk job. Returns its summary; a job that stopped before its end is
/// [`CliError::Interrupted`] (its summary is printed first).
pub async fn run(
    args: &JobArgs,
    target: &Target,
    journal: &mut Journal,
    stop: Stop,
) -> Result<Summary, CliError> {
    let prepared = prepare::prepare(args, target, journal).await?;
    let Some(prepared) = prepared else {
        // A dry run: priced, nothing sent or journaled.
        return Ok(Summary {
            unit: args.kind.provider().profile().cost.unit.to_string(),
            ..Summary::default()
        });
    };
    let prepare::Prepared {
        id,
        clients,
        pricer,
        lock,
        output,
        finished,
        total,
    } = prepared;
    let cursor = Cursor::new(clients.ledger());
    let mut job = Job {
        args,
        target,
        journal,
        id,
        clients,
        pricer,
        cursor,
        stop,
        pause: hook::PauseAt::from_env(),
        bar: if args.quiet {
            ProgressBar::hidden()
        } else {
            progress_bar(total)
        },
        finished,
        spent_shown: None,
        most_per_item: std::cell::Cell::new(0.0),
    };
    job.advance(0)?;
    let mut outcome = job.settle_unknown_and_resubmit().await;
    if outcome.is_ok() {
        outcome = if args.kind.family().is_some() {
            job.run_batches().await
        } else {
            job.run_items().await
        };
    }
    job.bar.finish_and_clear();
    crate::output::warn_on(None);
    let summary = job.finish(&output)?;
    lock.release();
    outcome?;
    if job.stop.requested() {
        return Err(CliError::Stopped(format!(
            "stopped; the journal ({}) is consistent: run the same command again to resume",
            job.journal.path().display()
        )));
    }
    if summary.unknown > 0 {
        return Err(CliError::Interrupted(format!(
            "{} item(s) were in flight when an earlier run stopped and the provider's records \
             cannot tell whether they were charged; they were not sent again and count as \
             possibly charged in `tollgate usage`. Check the provider's usage, then run the same \
             command with --resubmit-unknown to send them again (charging again if they were)",
            summary.unknown
        )));
    }
    if summary.waiting > 0 {
        return Err(CliError::Interrupted(format!(
            "{} lookup(s) are paid and still in progress at the provider after waiting {}; \
             run the same command again to keep waiting (they are never looked up again)",
            summary.waiting,
            humantime::format_duration(args.deadline)
        )));
    }
    if summary.lost > 0 {
        return Err(CliError::Interrupted(format!(
            "{} item(s) are in batches the provider no longer knows (listed in the output with \
             the provider's answer); run the same command with --resubmit-lost to send them \
             again, which charges them again",
            summary.lost
        )));
    }
    Ok(summary)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(crate::output::bar_style(None));
    crate::output::warn_on(Some(&bar));
    bar
}

impl Job<'_> {
    /// Writes the output (when every item has its final outcome) and the summary.
    fn finish(&mut self, output: &output::Output) -> Result<Summary, CliError> {
        let counts: Counts = self.journal.counts(&self.id)?;
        let skipped = self.journal.problems(&self.id)?.len();
        let summary = Summary {
            job: self.id.clone(),
            items: counts.items,
            done: counts.done,
            failed: counts.failed,
            skipped_lines: u64::try_from(skipped).unwrap_or(u64::MAX),
            unknown: counts.unknown,
            lost: counts.lost,
            waiting: counts.waiting,
            spent: self.journal.job_spent(&self.id)?,
            saved: self.journal.job_saved(&self.id)?,
            unit: self.unit(),
        };
        // Written when every item has its final outcome; until then, nothing (a rerun writes it).
        if counts.finished() == counts.items {
            output.write(self.journal, &self.id)?;
        }
        let lost = if summary.lost > 0 {
            format!(", {} lost at the provider", summary.lost)
        } else {
            String::new()
        };
        if self.args.quiet {
            return Ok(summary);
        }
        let saved = if summary.saved > 0 {
            format!(", saved {} {} by the cache", summary.saved, summary.unit)
        } else {
            String::new()
        };
        eprintln!(
            "{}: {} items: {} done, {} failed, {} unknown{lost}; {} malformed line(s) skipped; spent {} {}{saved} (journal: {})",
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
