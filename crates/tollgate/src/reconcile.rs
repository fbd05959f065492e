//! Reconciliation: what a provider says an account was charged, set against what tollgate
//! recorded for the same key, line by line, with the operations most likely responsible for a
//! difference.
//!
//! A provider reports its figures per credit type (RocketReach's legacy account:
//! `credit_usage[].used`) or per operation (Enrich's wallet transactions name the operation that
//! charged); tollgate records per operation. [`Reconciliation::new`] brings both to the
//! provider's lines: per operation as they are, per credit type by sharing each operation's
//! spending between its credit types ([`CostModel::credit_split`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use tollgate::reconcile::{Lines, Reconciliation};
//!
//! # let model = tollgate::cost::CostModel {
//! #     unit: tollgate::Unit::Credits,
//! #     rules: &[],
//! #     actual: &[],
//! #     refunded: None,
//! #     settlements: &[],
//! #     credit_types: &[("create_company_lookup", &[("company_export", 1)])],
//! # };
//! // The provider says 3 company exports; tollgate recorded 2 company lookups.
//! let provider = BTreeMap::from([("company_export".to_string(), 3)]);
//! let recorded = BTreeMap::from([("create_company_lookup".to_string(), 2)]);
//! let r = Reconciliation::new("RocketReach", &model, Lines::CreditType, provider, recorded);
//! assert!(!r.is_clean());
//! assert_eq!(r.lines[0].difference, 1);
//! assert_eq!(r.lines[0].suspects, ["create_company_lookup"]);
//! ```

use std::collections::BTreeMap;

use crate::cost::CostModel;
use crate::vocab::Unit;

/// What the provider's figures are given by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lines {
    /// Per credit type (the names of the cost model's `credit_types`).
    CreditType,
    /// Per operation id.
    Operation,
}

/// One line of a reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// The credit type or operation.
    pub label: String,
    /// What the provider says was charged (net of refunds).
    pub provider: i64,
    /// What tollgate recorded (net of refunds; calls whose outcome is unknown at their most).
    pub recorded: i64,
    /// `provider - recorded`: positive when the provider charged more than tollgate saw.
    pub difference: i64,
    /// When the line differs: the operations most likely responsible, the most used first
    /// (for a credit type, every operation that spends it; for an operation, itself).
    pub suspects: Vec<String>,
}

/// A provider's figures set against tollgate's.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    /// The provider.
    pub provider: &'static str,
    /// The unit.
    pub unit: Unit,
    /// What the lines are.
    pub by: Lines,
    /// One line per credit type or operation either side knows, in name order.
    pub lines: Vec<Line>,
}

impl Reconciliation {
    /// Sets `provider_figures` (per [`Lines`]) against `recorded` (per operation: what
    /// tollgate recorded as spent), with `model`'s credit types.
    pub fn new(
        provider: &'static str,
        model: &CostModel,
        by: Lines,
        provider_figures: BTreeMap<String, i64>,
        recorded: BTreeMap<String, i64>,
    ) -> Reconciliation {
        let mut ours: BTreeMap<String, i64> = BTreeMap::new();
        // For each line, the operations that put something in it, with what they put.
        let mut sources: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for (operation, spent) in &recorded {
            let shares = match by {
                Lines::Operation => vec![(operation.clone(), *spent)],
                Lines::CreditType => model
                    .credit_split(operation, *spent)
                    .into_iter()
                    .map(|(t, s)| (t.to_owned(), s))
                    .collect(),
            };
            for (label, share) in shares {
                let sum = ours.entry(label.clone()).or_default();
                *sum = sum.saturating_add(share);
                sources
                    .entry(label)
                    .or_default()
                    .push((share, operation.clone()));
            }
        }
        let mut labels: Vec<String> = provider_figures
            .keys()
            .chain(ours.keys())
            .cloned()
            .collect();
        labels.sort();
        labels.dedup();
        let lines = labels
            .into_iter()
            .map(|label| {
                let provider = provider_figures.get(&label).copied().unwrap_or(0);
                let recorded = ours.get(&label).copied().unwrap_or(0);
                let difference = provider.saturating_sub(recorded);
                let suspects = if difference == 0 {
                    Vec::new()
                } else {
                    suspects(
                        model,
                        by,
                        &label,
                        sources.remove(&label).unwrap_or_default(),
                    )
                };
                Line {
                    label,
                    provider,
                    recorded,
                    difference,
                    suspects,
                }
            })
            .collect();
        Reconciliation {
            provider,
            unit: model.unit,
            by,
            lines,
        }
    }

    /// Whether every line agrees.
    pub fn is_clean(&self) -> bool {
        self.lines.iter().all(|l| l.difference == 0)
    }
}

/// The operations most likely behind a difference on `label`: the ones tollgate saw put
/// something in it, the most first, then (for a credit type) every other operation of the
/// cost model that spends it.
fn suspects(
    model: &CostModel,
    by: Lines,
    label: &str,
    mut seen: Vec<(i64, String)>,
) -> Vec<String> {
    seen.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut out: Vec<String> = seen.into_iter().map(|(_, op)| op).collect();
    match by {
        Lines::Operation if out.is_empty() => out.push(label.to_owned()),
        Lines::Operation => {}
        Lines::CreditType => {
            for (operation, weights) in model.credit_types {
                if weights.iter().any(|(t, w)| *t == label && *w > 0)
                    && !out.iter().any(|o| o == operation)
                {
                    out.push((*operation).to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: CostModel = crate::cost::tests::THREE_TYPES;

    fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn credit_types_agree_after_a_clean_run_and_name_the_operations_otherwise() {
        let recorded = map(&[("person", 4), ("company", 1)]);
        let clean = Reconciliation::new(
            "RocketReach",
            &MODEL,
            Lines::CreditType,
            map(&[("lookup", 2), ("person_export", 2), ("company_export", 1)]),
            recorded.clone(),
        );
        assert!(clean.is_clean(), "{clean:?}");
        let drift = Reconciliation::new(
            "RocketReach",
            &MODEL,
            Lines::CreditType,
            map(&[("lookup", 2), ("person_export", 2), ("company_export", 2)]),
            recorded,
        );
        assert!(!drift.is_clean());
        let line = drift
            .lines
            .iter()
            .find(|l| l.label == "company_export")
            .unwrap();
        assert_eq!((line.provider, line.recorded, line.difference), (2, 1, 1));
        assert_eq!(line.suspects, ["company", "both"]);
        assert!(drift.lines.iter().filter(|l| l.difference != 0).count() == 1);
    }

    #[test]
    fn operations_are_their_own_suspects_and_unknown_lines_show() {
        let r = Reconciliation::new(
            "Enrich",
            &MODEL,
            Lines::Operation,
            map(&[("validate_email", 11), ("made_elsewhere", 5)]),
            map(&[("validate_email", 10)]),
        );
        let lines: Vec<(&str, i64, Vec<String>)> = r
            .lines
            .iter()
            .map(|l| (l.label.as_str(), l.difference, l.suspects.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                ("made_elsewhere", 5, vec!["made_elsewhere".to_owned()]),
                ("validate_email", 1, vec!["validate_email".to_owned()]),
            ]
        );
    }
}
