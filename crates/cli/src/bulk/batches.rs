//! Batch jobs (Enrich): pending items are planned into batches one at a time, each batch's
//! submit is journaled before it is sent and its id the moment the answer comes, and every
//! accepted batch is polled and collected, whatever happens to later submits.

use std::collections::HashMap;

use futures::TryStreamExt;
use serde_json::Value;
use tollgate::jobs::JobOptions;

use super::call::{self, Answer, Failure};
use super::kind::Family;
use super::{Job, clip, item_value, payer};
use crate::error::CliError;
use crate::journal::{BatchState, ItemState};

/// A batch's submit, as it ended.
enum Submitted {
    /// Accepted (its id journaled).
    Accepted,
    /// The provider refused one item by its place: it failed, and the batch is planned again
    /// without it.
    Retry,
}

/// Items read from the journal at a time by the cache pass.
const PAGE: usize = 500;

impl Family {
    /// The single-call operation whose answers an item of this family stands for (its
    /// cache rule sets how long a result is kept).
    pub(super) fn single_operation(self) -> &'static str {
        match self {
            Family::Validation => "validate_email",
            Family::Finder => "find_email",
        }
    }
}

impl Job<'_> {
    /// Answers every pending item whose result is in the cache: done at once, nothing sent,
    /// what it saved journaled. The batches then carry only the rest.
    async fn serve_cached(&mut self, family: Family) -> Result<(), CliError> {
        let Some(client) = self.clients.enrich().cloned() else {
            return Ok(());
        };
        let operation = family.single_operation();
        let mut after = 0;
        let mut served: u64 = 0;
        loop {
            let page = self
                .journal
                .items_in(&self.id, ItemState::Pending, after, PAGE)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.line;
            for item in page {
                let Some(hit) = client
                    .runtime()
                    .cached_item(operation, &item.identity)
                    .await
                else {
                    continue;
                };
                let result = String::from_utf8_lossy(&hit.body).into_owned();
                let entries = self.cursor.take();
                let (provider, label) = self.payer();
                let who = payer(&provider, &label, &self.id);
                self.journal.item_answered(
                    &self.id,
                    item.line,
                    ItemState::Done,
                    Some(&result),
                    None,
                    who,
                    &entries,
                    false,
                )?;
                served += 1;
                self.advance(1)?;
            }
        }
        if served > 0 && !self.args.quiet {
            self.bar.suspend(|| {
                eprintln!(
                    "{served} item{} answered from the cache (nothing sent for them)",
                    if served == 1 { "" } else { "s" }
                );
            });
        }
        Ok(())
    }

    /// Keeps the results of a collected batch for the next job that asks the same. Enrich
    /// settles a batch as a whole (what it charged, what it refunded), not per item: each
    /// result is kept with its share of the batch's net charge `net`, so what the cache later
    /// says it saved adds up to what was paid.
    async fn keep_results(&self, family: Family, by_identity: &HashMap<String, String>, net: i64) {
        let Some(client) = self.clients.enrich() else {
            return;
        };
        let operation = family.single_operation();
        let mut results: Vec<(&String, &String)> = by_identity.iter().collect();
        results.sort();
        let n = i64::try_from(results.len()).unwrap_or(i64::MAX).max(1);
        let net = net.max(0);
        for (i, (identity, result)) in (0_i64..).zip(results) {
            let share = net.saturating_mul(i + 1) / n - net.saturating_mul(i) / n;
            client
                .runtime()
                .keep_item(operation, identity, result.clone().into(), share)
                .await;
        }
    }

    pub(super) async fn run_batches(&mut self) -> Result<(), CliError> {
        let size = self.args.batch_size.max(1);
        if let Some(family) = self.args.kind.family() {
            self.serve_cached(family).await?;
        }
        // Submit: batches planned earlier first, then new ones from the pending items. A
        // submit that fails stops the submitting, never the collecting.
        let mut failure = None;
        'submit: loop {
            let seq = match self
                .journal
                .batches_in(&self.id, BatchState::Planned)?
                .first()
            {
                Some(batch) => batch.seq,
                None => match self.journal.plan_batch(&self.id, size)? {
                    Some(seq) => seq,
                    None => break,
                },
            };
            loop {
                if self.stop.requested() {
                    break 'submit;
                }
                match self.submit(seq).await {
                    Ok(Submitted::Accepted) => break,
                    Ok(Submitted::Retry) => {}
                    Err(e) => {
                        // Refused by the budget while earlier batches are out: what they
                        // refund (items not found) may pay for this one. Collect them, then
                        // try again; stop when nothing is left to collect.
                        if e.stops_spending() && self.collect_accepted().await? > 0 {
                            continue;
                        }
                        failure = Some(e);
                        break 'submit;
                    }
                }
            }
        }
        self.collect_accepted().await?;
        failure.map_or(Ok(()), Err)
    }

    /// Collects every accepted batch (unless stopping); returns how many.
    async fn collect_accepted(&mut self) -> Result<usize, CliError> {
        let mut collected = 0;
        for batch in self.journal.batches_in(&self.id, BatchState::Accepted)? {
            if self.stop.requested() {
                break;
            }
            let Some(provider_id) = batch.provider_id else {
                continue;
            };
            self.collect(batch.seq, &provider_id, batch.reserved)
                .await?;
            collected += 1;
        }
        Ok(collected)
    }

    async fn submit(&mut self, seq: i64) -> Result<Submitted, CliError> {
        let family = self.args.kind.family();
        let items = self
            .journal
            .batch_items(&self.id, seq, ItemState::Planned)?;
        if items.is_empty() {
            // Every item of it was refused: nothing to send.
            self.journal.batch_emptied(&self.id, seq)?;
            return Ok(Submitted::Accepted);
        }
        let values = items
            .iter()
            .map(|i| item_value(self.journal, i.line, &i.item))
            .collect::<Result<Vec<Value>, CliError>>()?;
        let group: Vec<&Value> = values.iter().collect();
        let priced = self.priced(&group).await?;
        let who = priced.payer(&self.id);
        self.journal
            .begin_batch(&self.id, seq, priced.pending(&self.id))?;
        self.pause.reach("sending");
        let answer = call::send(self.args.kind, &self.clients, &group).await;
        let entries = self.cursor.take();
        let uncertain = entries
            .iter()
            .any(|e| e.basis == tollgate::Basis::Uncertain);
        match answer {
            Ok(Answer::Batch(provider_id)) => {
                self.pause.reach("submitted");
                self.journal
                    .batch_accepted(&self.id, seq, &provider_id, who, &entries)?;
                self.pause.reach("accepted");
                Ok(Submitted::Accepted)
            }
            Ok(Answer::Result(_)) => Err(CliError::Usage(
                "internal: a batch submit answered with a result".into(),
            )),
            Err(error) => match Failure::of(error, uncertain, family) {
                Failure::Refused {
                    error,
                    index: Some(i),
                } if i < items.len() => {
                    let item = &items[i];
                    let message = clip(&error.to_string());
                    eprintln!(
                        "{}:{}: refused by the provider: {message} (marked failed; its batch is sent again without it)",
                        self.args.input.display(),
                        item.line
                    );
                    self.journal
                        .drop_from_batch(&self.id, seq, item.line, &message, who, &entries)?;
                    self.advance(1)?;
                    Ok(Submitted::Retry)
                }
                Failure::NotSent(error) | Failure::Refused { error, .. } => {
                    self.journal.batch_not_sent(&self.id, seq, who, &entries)?;
                    Err(error.into())
                }
                Failure::Unknown(error) => {
                    let note = format!(
                        "its submit may have been charged and no answer came: {}",
                        clip(&error.to_string())
                    );
                    self.journal
                        .batch_unknown(&self.id, seq, &note, who, &entries)?;
                    Err(error.into())
                }
            },
        }
    }

    /// Polls batch `seq` (the provider's `provider_id`) until it ends, fetches its results
    /// (which settles its credits) and journals them. A batch the provider no longer knows is
    /// lost: reported, never a reason to stop the job.
    async fn collect(
        &mut self,
        seq: i64,
        provider_id: &str,
        reserved: i64,
    ) -> Result<(), CliError> {
        let Some(client) = self.clients.enrich() else {
            return Ok(());
        };
        let family = self.args.kind.family().unwrap_or(Family::Validation);
        let options = JobOptions {
            interval: self.args.poll,
            deadline: None,
        };
        let waited = self
            .stop
            .or_stop(async {
                match family {
                    Family::Finder => {
                        client
                            .wait_email_finder_batch(provider_id, &options, |_| {})
                            .await
                    }
                    Family::Validation => {
                        client
                            .wait_email_validation_batch(provider_id, &options, |_| {})
                            .await
                    }
                }
            })
            .await;
        let mut missing = "the batch returned no result for this item".to_owned();
        match waited {
            None => return Ok(()),
            Some(Ok(())) => {}
            // A failed batch is still fetched: the fetch settles (refunds) it.
            Some(Err(tollgate::Error::JobFailed { message, .. })) => {
                missing = format!("the batch failed at the provider: {message}");
            }
            Some(Err(error)) if error.kind() == Some(tollgate::ErrorKind::NotFound) => {
                return self.lose(seq, provider_id, reserved, &error);
            }
            Some(Err(error)) => return Err(error.into()),
        }
        let fetched: Result<Vec<Value>, tollgate::Error> = match family {
            Family::Finder => {
                client
                    .email_finder_results(provider_id)
                    .map_ok(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .try_collect()
                    .await
            }
            Family::Validation => {
                client
                    .email_validation_results(provider_id)
                    .map_ok(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                    .try_collect()
                    .await
            }
        };
        let results = match fetched {
            Ok(results) => results,
            Err(error) if error.kind() == Some(tollgate::ErrorKind::NotFound) => {
                return self.lose(seq, provider_id, reserved, &error);
            }
            Err(error) => return Err(error.into()),
        };
        self.pause.reach("results");
        let entries = self.cursor.take();
        let mut by_identity: HashMap<String, String> = HashMap::with_capacity(results.len());
        for result in results {
            if let Some(identity) = self.args.kind.result_identity(&result) {
                by_identity
                    .entry(identity)
                    .or_insert_with(|| result.to_string());
            }
        }
        let (provider, label) = self.payer();
        let who = payer(&provider, &label, &self.id);
        let size = self
            .journal
            .batch_items(&self.id, seq, ItemState::Submitted)?
            .len();
        self.journal
            .batch_settled(&self.id, seq, &by_identity, &missing, who, &entries)?;
        let refunded: i64 = entries.iter().map(|e| e.refunded).sum();
        self.keep_results(family, &by_identity, reserved.saturating_sub(refunded))
            .await;
        self.pause.reach("settled");
        self.advance(u64::try_from(size).unwrap_or(0))
    }

    fn lose(
        &mut self,
        seq: i64,
        provider_id: &str,
        reserved: i64,
        error: &tollgate::Error,
    ) -> Result<(), CliError> {
        let message = format!(
            "the provider no longer knows batch {provider_id}: {}; its submit reserved {reserved} {} (charged when it was accepted)",
            clip(&error.to_string()),
            self.unit()
        );
        eprintln!("batch {seq}: {message}");
        let size = self
            .journal
            .batch_items(&self.id, seq, ItemState::Submitted)?
            .len();
        self.journal.batch_lost(&self.id, seq, &message)?;
        self.advance(u64::try_from(size).unwrap_or(0))
    }
}
