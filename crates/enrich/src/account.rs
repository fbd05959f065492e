//! What Enrich's wallet says an account was charged, for reconciliation.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use crate::Client;

/// The line of wallet transactions whose description names no operation of the cost rules.
pub const UNATTRIBUTED: &str = "unattributed";

/// Operations whose charges and refunds go together: a batch or job is charged on submit and
/// refunded when its results are read, and whether the wallet names the refund after the submit
/// or after the read is Enrich's choice. Reconciliation puts each group on one line, named after
/// its first operation.
pub const SETTLED_TOGETHER: &[&[&str]] = &[
    &["validate_email_batch", "get_email_validation_batch_results"],
    &["find_email_batch", "get_email_finder_batch_results"],
    &["find_phones_bulk", "get_phone_bulk_job_results"],
    &["reverse_lookup_bulk", "get_reverse_lookup_bulk_results"],
    &[
        "start_company_follower_scrape",
        "get_company_follower_results",
    ],
    &["reveal_leads", "enrich_leads", "get_reveal_job"],
    &["export_leads", "get_export_job"],
];

/// The reconciliation line of `operation`: the first operation of its group in
/// [`SETTLED_TOGETHER`], else itself.
pub fn line_of(operation: &str) -> &str {
    SETTLED_TOGETHER
        .iter()
        .find(|group| group.contains(&operation))
        .and_then(|group| group.first().copied())
        .unwrap_or(operation)
}

impl Client {
    /// What Enrich's wallet says this key was charged between two UTC days (`YYYY-MM-DD`,
    /// both included; `None`: no bound), per line ([`line_of`]: an operation, or a batch's
    /// submit with its results), net of refunds, read through the free
    /// `GET /wallets/transactions` (every page, 100 at a time). A transaction is put on the
    /// operation its description starts with when that is an operation of the cost rules
    /// (the sandbox's descriptions are `validate_email (…)`), else on [`UNATTRIBUTED`]. Set
    /// the figures against tollgate's, put on the same lines with [`line_of`], with
    /// [`tollgate::reconcile`].
    pub async fn account_spending(
        &self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<BTreeMap<String, i64>, tollgate::Error> {
        let mut spent: BTreeMap<String, i64> = BTreeMap::new();
        let per_page = NonZeroU64::new(100).unwrap_or(NonZeroU64::MIN);
        let mut page = NonZeroU64::MIN;
        loop {
            let answer = self
                .list_wallet_transactions()
                .limit(per_page)
                .page(page)
                .send()
                .await?
                .into_inner();
            let Some(data) = answer.data else { break };
            if data.transactions.is_empty() {
                break;
            }
            for t in &data.transactions {
                let day = t
                    .created_at
                    .as_deref()
                    .and_then(|at| at.get(..10))
                    .unwrap_or("");
                if since.is_some_and(|s| day < s) || until.is_some_and(|u| day > u) {
                    continue;
                }
                let label = line_of(operation_of(t.description.as_deref().unwrap_or("")));
                let sum = spent.entry(label.to_owned()).or_default();
                // Deductions are negative amounts, refunds positive.
                *sum = sum.saturating_sub(t.amount.unwrap_or(0));
            }
            let pages = data.pagination.and_then(|p| p.total_pages).unwrap_or(0);
            let number = i64::try_from(page.get()).unwrap_or(i64::MAX);
            if number >= pages {
                break;
            }
            page = page.saturating_add(1);
        }
        Ok(spent)
    }
}

/// The operation a transaction's description starts with, when the cost rules have it.
fn operation_of(description: &str) -> &'static str {
    let first = description
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let cost = &crate::PROFILE.cost;
    cost.rules
        .iter()
        .map(|(op, _)| *op)
        .chain(cost.settlements.iter().copied())
        .find(|op| *op == first)
        .unwrap_or(UNATTRIBUTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_and_its_results_are_one_line_and_every_grouped_operation_is_priced_or_settles() {
        assert_eq!(
            line_of("get_email_validation_batch_results"),
            "validate_email_batch"
        );
        assert_eq!(line_of("enrich_leads"), "reveal_leads");
        assert_eq!(line_of("validate_email"), "validate_email");
        let cost = &crate::PROFILE.cost;
        for operation in SETTLED_TOGETHER.iter().flat_map(|g| g.iter()) {
            assert!(
                cost.rules.iter().any(|(op, _)| op == operation)
                    || cost.settlements.contains(operation),
                "{operation} is neither priced nor a settlement"
            );
        }
        assert_eq!(
            operation_of("validate_email (a lookup) in batch 1"),
            "validate_email"
        );
        assert_eq!(operation_of("Monthly top-up"), UNATTRIBUTED);
    }
}
