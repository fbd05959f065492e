//! Item jobs (RocketReach lookups, Spider News queries): one call per unique item, each
//! journaled as `sending` with the most it may cost before it is sent, and its answer with
//! what it cost in the same transaction that records it. A lookup answered while RocketReach
//! is still searching is journaled `waiting` with its id; the job then polls the free status
//! check, several ids a request, until each is complete or failed (or the run's deadline).

use std::collections::HashMap;

use serde_json::Value;

use super::call::{self, Answer, Failure};
use super::kind::Kind;
use super::{Job, clip, item_value};
use crate::error::CliError;
use crate::journal::ItemState;

/// Items read from the journal at a time.
const PAGE: usize = 500;

/// Lookup ids asked about in one status check.
const IDS_PER_CHECK: usize = 50;

/// When a RocketReach lookup's answer is final: the provider profile's rule, which the cache
/// reads too (its status pointer, the complete and in-progress values).
fn lookup_ready() -> Option<tollgate::cache::Ready> {
    tollgate_rocketreach::PROFILE
        .cache
        .rule("create_person_lookup")?
        .ready
}

/// A lookup answer's status, read where its profile says.
fn status_of(answer: &Value, ready: &tollgate::cache::Ready) -> Option<String> {
    answer
        .pointer(ready.pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The lookup id of an answer still in progress, if it is one.
fn in_progress(kind: Kind, answer: &Value) -> Option<i64> {
    if kind != Kind::RocketReachLookup {
        return None;
    }
    let ready = lookup_ready()?;
    let status = status_of(answer, &ready)?;
    ready
        .in_progress
        .contains(&status.as_str())
        .then(|| answer.get("id").and_then(Value::as_i64))
        .flatten()
}

impl Job<'_> {
    pub(super) async fn run_items(&mut self) -> Result<(), CliError> {
        let mut after = 0;
        loop {
            let page = self
                .journal
                .items_in(&self.id, ItemState::Pending, after, PAGE)?;
            let Some(last) = page.last() else {
                return self.wait_in_progress().await;
            };
            after = last.line;
            for item in page {
                if self.stop.requested() {
                    return Ok(());
                }
                if let Err(error) = self.one(item.line, &item.item).await {
                    // Out of budget or credits: the lookups already paid for are still
                    // collected (the status checks are free) before the job stops.
                    if error.stops_spending()
                        && let Err(waiting) = self.wait_in_progress().await
                    {
                        eprintln!("tollgate: collecting the lookups in progress: {waiting}");
                    }
                    return Err(error);
                }
            }
        }
    }

    async fn one(&mut self, line: i64, item: &str) -> Result<(), CliError> {
        let value = item_value(self.journal, line, item)?;
        let priced = self.priced(&[&value]).await?;
        let who = priced.payer(&self.id);
        self.journal
            .begin_item(&self.id, line, priced.pending(&self.id))?;
        let answer = call::send(self.args.kind, &self.clients, &[&value]).await;
        self.pause.reach("item");
        let entries = self.cursor.take();
        let uncertain = entries
            .iter()
            .any(|e| e.basis == tollgate::Basis::Uncertain);
        let mut stop_with = None;
        let (state, result, error, maybe) = match answer {
            Ok(Answer::Result(v)) if in_progress(self.args.kind, &v).is_some() => {
                (ItemState::Waiting, Some(v.to_string()), None, false)
            }
            Ok(Answer::Result(v)) => (ItemState::Done, Some(v.to_string()), None, false),
            Ok(Answer::Batch(_)) => (ItemState::Done, None, None, false),
            Err(error) => match Failure::of(error, uncertain, None) {
                // The provider answered about this item (not found, bad input): its outcome.
                Failure::Refused { error, .. } if is_about_the_item(&error) => (
                    ItemState::Failed,
                    None,
                    Some(clip(&error.to_string())),
                    false,
                ),
                // About the account or the client (key, credits, throttling): stop, the item
                // stays pending, nothing was charged.
                Failure::Refused { error, .. } | Failure::NotSent(error) => {
                    stop_with = Some(error);
                    (ItemState::Pending, None, None, false)
                }
                Failure::Unknown(error) => {
                    let message = clip(&error.to_string());
                    eprintln!("{}:{line}: {message}", self.args.input.display());
                    (ItemState::Unknown, None, Some(message), true)
                }
            },
        };
        self.journal.item_answered(
            &self.id,
            line,
            state,
            result.as_deref(),
            error.as_deref(),
            who,
            &entries,
            maybe,
        )?;
        self.advance(u64::from(state.is_final()))?;
        match stop_with {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Job<'_> {
    /// Polls the free status check for every lookup of the job still in progress, several
    /// ids a request, every `--poll-interval`, until each is complete (its profile is the
    /// result) or failed, or the run's `--deadline` passes (they stay `waiting`; a rerun
    /// keeps waiting and never looks them up again).
    async fn wait_in_progress(&mut self) -> Result<(), CliError> {
        let deadline = tokio::time::Instant::now() + self.args.deadline;
        loop {
            let mut waiting: Vec<(i64, i64)> = Vec::new();
            let mut after = 0;
            loop {
                let page = self
                    .journal
                    .items_in(&self.id, ItemState::Waiting, after, PAGE)?;
                let Some(last) = page.last() else { break };
                after = last.line;
                for item in page {
                    let id = item
                        .result
                        .as_deref()
                        .and_then(|r| serde_json::from_str::<Value>(r).ok())
                        .and_then(|v| v.get("id").and_then(Value::as_i64));
                    if let Some(id) = id {
                        waiting.push((item.line, id));
                    }
                }
            }
            if waiting.is_empty() || self.stop.requested() {
                return Ok(());
            }
            for group in waiting.chunks(IDS_PER_CHECK) {
                self.pause.reach("waiting");
                self.check(group).await?;
            }
            if tokio::time::Instant::now() + self.args.poll > deadline {
                return Ok(());
            }
            if self
                .stop
                .or_stop(tokio::time::sleep(self.args.poll))
                .await
                .is_none()
            {
                return Ok(());
            }
        }
    }

    /// One status check of `group` (`(line, lookup id)`): complete profiles become results,
    /// failed lookups failures; the rest keep waiting.
    async fn check(&mut self, group: &[(i64, i64)]) -> Result<(), CliError> {
        let Some(client) = self.clients.rocketreach() else {
            return Ok(());
        };
        let ids: Vec<i64> = group.iter().map(|(_, id)| *id).collect();
        let answer = client.check_person_lookup_status().ids(ids).send().await;
        let profiles = match answer {
            Ok(profiles) => profiles.into_inner().0,
            // The ids are no longer known (RocketReach forgot them): say so once per run.
            Err(error) if error.kind() == Some(tollgate::ErrorKind::NotFound) => {
                let message = format!(
                    "RocketReach no longer knows these lookups ({}); they were paid",
                    clip(&error.to_string())
                );
                for (line, _) in group {
                    self.settle_waiting(*line, ItemState::Failed, None, Some(&message))?;
                }
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        let by_id: HashMap<i64, Value> = profiles
            .into_iter()
            .filter_map(|p| {
                let v = serde_json::to_value(p).ok()?;
                Some((v.get("id").and_then(Value::as_i64)?, v))
            })
            .collect();
        let Some(ready) = lookup_ready() else {
            return Ok(());
        };
        for (line, id) in group {
            let Some(profile) = by_id.get(id) else {
                continue;
            };
            match status_of(profile, &ready).as_deref() {
                Some(s) if ready.complete.contains(&s) => {
                    self.settle_waiting(*line, ItemState::Done, Some(&profile.to_string()), None)?;
                }
                Some("failed") => {
                    self.settle_waiting(
                        *line,
                        ItemState::Failed,
                        None,
                        Some("RocketReach could not complete the lookup (status failed)"),
                    )?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn settle_waiting(
        &mut self,
        line: i64,
        state: ItemState,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), CliError> {
        let entries = self.cursor.take();
        let (provider, label) = self.payer();
        let who = super::payer(&provider, &label, &self.id);
        self.journal
            .item_answered(&self.id, line, state, result, error, who, &entries, false)?;
        self.advance(1)
    }
}

/// Whether a provider's error answer is about the item itself (its outcome), not about the
/// account or the client.
fn is_about_the_item(error: &tollgate::Error) -> bool {
    matches!(
        error.kind(),
        Some(tollgate::ErrorKind::BadRequest | tollgate::ErrorKind::NotFound)
    )
}
