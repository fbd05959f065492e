//! Settling what an earlier run left in flight, with the provider before the user.
//!
//! A run that stopped (killed, crashed, the machine lost power) between sending a call and
//! journaling its answer leaves that call `sending`. It becomes *unknown*: it may have been
//! charged. Before asking the user, the job asks the provider what it documents:
//!
//! - **Enrich batches**: the wallet's transactions (`GET /wallets/transactions`, free) since
//!   the batch was sent. A deduction of exactly the batch's reservation that names a batch id
//!   this job does not know is that batch: it is adopted (polled and collected as if its
//!   answer had come). When the wallet shows no deduction of that amount since the batch was
//!   sent (less [`CLOCK_MARGIN`]), the batch was certainly not charged: it is sent again
//!   automatically (deductions that name a batch this job already knows are that batch's).
//!   Otherwise (deductions of that amount that name no batch) it stays unknown,
//!   with the evidence in its note and on standard error.
//! - **RocketReach lookups and Spider News queries**: neither provider documents a record
//!   that ties a charge to one call, so an unknown call stays unknown.
//!
//! Unknown calls count as possibly charged at their maximum in `tollgate usage` until settled;
//! `--resubmit-unknown` sends them again (each resubmission records its own charge), and
//! `--resubmit-lost` sends again the items of batches the provider no longer knows.

use std::collections::HashSet;

use chrono::{DateTime, Duration as Span, Utc};

use super::Job;
use crate::error::CliError;
use crate::journal::{BatchRow, BatchState};

/// How far the provider's clock may be behind ours: transactions this much older than a
/// batch's send time still count as evidence for it.
pub const CLOCK_MARGIN: std::time::Duration = std::time::Duration::from_secs(120);

/// Transactions read per page, and pages read at most (10,000 transactions).
const PAGE: u64 = 100;
const MAX_PAGES: u64 = 100;

/// One wallet deduction, as evidence.
#[derive(Clone, Debug)]
struct Deduction {
    amount: i64,
    at: Option<DateTime<Utc>>,
    batch: Option<String>,
}

/// The first 24-hex-digit word of a description (Enrich's batch ids).
fn batch_id_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 24 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Job<'_> {
    /// Settles what earlier runs left in flight, then plans again what the user asked to send
    /// again.
    pub(super) async fn settle_unknown_and_resubmit(&mut self) -> Result<(), CliError> {
        self.journal.mark_interrupted(&self.id)?;
        let unknown = self.journal.batches_in(&self.id, BatchState::Unknown)?;
        if !unknown.is_empty() && self.clients.enrich().is_some() {
            self.settle_with_wallet(&unknown).await?;
        }
        if self.args.resubmit_unknown {
            let n = self.journal.resubmit(&self.id, BatchState::Unknown)?;
            if n > 0 {
                eprintln!(
                    "sending again {n} item(s) whose earlier call may have been charged (--resubmit-unknown): they may be charged twice"
                );
            }
        }
        if self.args.resubmit_lost {
            let n = self.journal.resubmit(&self.id, BatchState::Lost)?;
            if n > 0 {
                eprintln!(
                    "sending again {n} item(s) of batches the provider no longer knows (--resubmit-lost): they are charged again"
                );
            }
        }
        Ok(())
    }

    /// The wallet's deductions since `since`, newest first.
    async fn deductions(&self, since: DateTime<Utc>) -> Result<Vec<Deduction>, tollgate::Error> {
        let Some(client) = self.clients.enrich() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer = client
                .list_wallet_transactions()
                .page(page)
                .limit(PAGE)
                .send()
                .await?
                .into_inner();
            let data = answer.data.unwrap_or_default();
            let count = data.transactions.len();
            let mut older = false;
            for t in data.transactions {
                let at = t.created_at.as_deref().and_then(parse_time);
                if at.is_some_and(|at| at < since) {
                    older = true;
                    continue;
                }
                let Some(amount) = t.amount.filter(|a| *a < 0) else {
                    continue;
                };
                out.push(Deduction {
                    amount: amount.saturating_neg(),
                    at,
                    batch: t.description.as_deref().and_then(batch_id_in),
                });
            }
            let last = data
                .pagination
                .and_then(|p| Some(p.page? >= p.total_pages?))
                .unwrap_or(false);
            if older || last || count < usize::try_from(PAGE).unwrap_or(usize::MAX) {
                break;
            }
        }
        Ok(out)
    }

    async fn settle_with_wallet(&mut self, unknown: &[BatchRow]) -> Result<(), CliError> {
        let margin = Span::from_std(CLOCK_MARGIN).unwrap_or_default();
        let sent = |b: &BatchRow| b.sent_at.as_deref().and_then(parse_time);
        let Some(earliest) = unknown.iter().filter_map(sent).min() else {
            return Ok(());
        };
        let deductions = match self.deductions(earliest - margin).await {
            Ok(d) => d,
            Err(error) => {
                eprintln!(
                    "could not read the wallet to settle {} batch(es) left in flight: {error}",
                    unknown.len()
                );
                return Ok(());
            }
        };
        let mut known: HashSet<String> = self
            .journal
            .known_batch_ids(&self.id)?
            .into_iter()
            .collect();
        let mut used = vec![false; deductions.len()];
        for batch in unknown {
            let Some(at) = sent(batch) else { continue };
            let from = at - margin;
            let matching: Vec<usize> = deductions
                .iter()
                .enumerate()
                // A deduction naming a batch this job knows is that batch's, accounted for.
                .filter(|(i, d)| {
                    !used[*i]
                        && d.amount == batch.reserved
                        && d.at.is_none_or(|t| t >= from)
                        && d.batch.as_ref().is_none_or(|id| !known.contains(id))
                })
                .map(|(i, _)| i)
                .collect();
            let adopted = matching.iter().copied().find(|i| {
                deductions[*i]
                    .batch
                    .as_ref()
                    .is_some_and(|id| !known.contains(id))
            });
            if let Some(i) = adopted {
                used[i] = true;
                let provider_id = deductions[i].batch.clone().unwrap_or_default();
                known.insert(provider_id.clone());
                let note = format!(
                    "adopted: the wallet shows a deduction of {} for batch {provider_id} after it was sent",
                    batch.reserved
                );
                eprintln!("batch {}: {note}", batch.seq);
                self.journal
                    .adopt_batch(&self.id, batch.seq, &provider_id, &note)?;
            } else if matching.is_empty() {
                eprintln!(
                    "batch {}: not charged (the wallet shows no deduction of {} since it was sent at {at}): sending it again",
                    batch.seq, batch.reserved
                );
                self.journal.batch_not_sent(
                    &self.id,
                    batch.seq,
                    super::payer("", "", &self.id),
                    &[],
                )?;
            } else {
                let note = format!(
                    "unknown: the wallet shows {} deduction(s) of {} since it was sent at {at} that name no batch (it may be one of them)",
                    matching.len(),
                    batch.reserved
                );
                eprintln!("batch {}: {note}", batch.seq);
                self.journal.note_batch(&self.id, batch.seq, &note)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_id_is_found_in_a_description() {
        assert_eq!(
            batch_id_in("Batch refund — 1 unfound lead in batch 665b12cf3e4c9200138eaf10"),
            Some("665b12cf3e4c9200138eaf10".into())
        );
        assert_eq!(batch_id_in("Email finder: emily.zhang@figma.com"), None);
    }
}
