//! Item jobs (RocketReach lookups, Spider News queries): one call per unique item, each
//! journaled as `sending` with the most it may cost before it is sent, and its answer with
//! what it cost in the same transaction that records it.

use super::call::{self, Answer, Failure};
use super::{Job, clip, item_value};
use crate::error::CliError;
use crate::journal::ItemState;

/// Items read from the journal at a time.
const PAGE: usize = 500;

impl Job<'_> {
    pub(super) async fn run_items(&mut self) -> Result<(), CliError> {
        let mut after = 0;
        loop {
            let page = self
                .journal
                .items_in(&self.id, ItemState::Pending, after, PAGE)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.line;
            for item in page {
                if self.stop.requested() {
                    return Ok(());
                }
                self.one(item.line, &item.item).await?;
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

/// Whether a provider's error answer is about the item itself (its outcome), not about the
/// account or the client.
fn is_about_the_item(error: &tollgate::Error) -> bool {
    matches!(
        error.kind(),
        Some(tollgate::ErrorKind::BadRequest | tollgate::ErrorKind::NotFound)
    )
}
