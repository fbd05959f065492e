//! Early warnings: a typed event each time a client's spending crosses a share of its budget
//! (80% and 95% by default), before the budget refuses anything.

use std::fmt;
use std::sync::Arc;

use crate::vocab::{Period, Unit};

/// The shares of a budget at which a client warns, by default: 80% and 95%.
pub const DEFAULT_THRESHOLDS: [f64; 2] = [0.8, 0.95];

/// A client's spending crossed `threshold` of its budget.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BudgetWarning {
    /// The provider.
    pub provider: &'static str,
    /// The unit of the budget.
    pub unit: Unit,
    /// The share of the budget crossed (0.8 for 80%).
    pub threshold: f64,
    /// What the client has spent (charged minus refunded, possibly charged included).
    pub spent: i64,
    /// The budget's limit.
    pub limit: i64,
    /// The credit type of the budget (`None`: the overall budget).
    pub credit_type: Option<String>,
    /// When the budget renews (what is spent counts in its current period).
    pub period: Period,
}

impl fmt::Display for BudgetWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut budget = crate::cost::Budget::new(self.unit, self.limit).renewing(self.period);
        budget.credit_type = self.credit_type.clone();
        write!(
            f,
            "{:.0}% of the {} {budget} is spent: {} of {} {}",
            self.threshold * 100.0,
            self.provider,
            self.spent,
            self.limit,
            self.unit
        )
    }
}

/// What a client does when its spending crosses a threshold (besides a `tracing` warning):
/// give it to [`crate::ClientBuilder::on_budget_warning`].
#[derive(Clone)]
pub struct WarningHook(pub(crate) Arc<dyn Fn(&BudgetWarning) + Send + Sync>);

impl WarningHook {
    /// A hook that calls `f`.
    pub fn new(f: impl Fn(&BudgetWarning) + Send + Sync + 'static) -> WarningHook {
        WarningHook(Arc::new(f))
    }
}

impl fmt::Debug for WarningHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WarningHook(..)")
    }
}

/// The thresholds of one budget and how many of them spending has crossed: each fires once
/// per crossing (a refund that brings spending back under one re-arms it).
#[derive(Debug)]
pub(crate) struct Thresholds {
    shares: Vec<f64>,
    crossed: std::sync::Mutex<usize>,
    hook: Option<WarningHook>,
}

impl Thresholds {
    /// `shares` (each between 0 and 1, others dropped), in order.
    pub(crate) fn new(shares: &[f64], hook: Option<WarningHook>) -> Thresholds {
        let mut shares: Vec<f64> = shares
            .iter()
            .copied()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
            .collect();
        shares.sort_by(f64::total_cmp);
        shares.dedup();
        Thresholds {
            shares,
            crossed: std::sync::Mutex::new(0),
            hook,
        }
    }

    /// Spending is now `spent` of `limit`: warns of every threshold crossed since last time.
    /// `budget` is the budget's unit, credit type and period.
    pub(crate) fn observe(
        &self,
        provider: &'static str,
        (unit, credit_type, period): (Unit, Option<&str>, Period),
        spent: i64,
        limit: i64,
    ) {
        if limit <= 0 || self.shares.is_empty() {
            return;
        }
        let share = spent as f64 / limit as f64;
        let reached = self.shares.iter().take_while(|s| share >= **s).count();
        let newly: Vec<f64> = {
            let mut crossed = crate::sync::lock(&self.crossed);
            let before = *crossed;
            *crossed = reached;
            self.shares
                .get(before..reached)
                .map(<[f64]>::to_vec)
                .unwrap_or_default()
        };
        for threshold in newly {
            let warning = BudgetWarning {
                provider,
                unit,
                threshold,
                spent,
                limit,
                credit_type: credit_type.map(str::to_owned),
                period,
            };
            tracing::warn!(
                provider,
                threshold,
                spent,
                limit,
                unit = %unit,
                "{warning}"
            );
            if let Some(hook) = &self.hook {
                (hook.0)(&warning);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_fires_once_per_crossing() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        let hook = WarningHook::new(move |w| into.lock().unwrap().push((w.threshold, w.spent)));
        let thresholds = Thresholds::new(&[0.95, 0.8, 2.0, f64::NAN, 0.8], Some(hook));
        let budget = (Unit::Credits, None, Period::Total);
        let observe = |spent| thresholds.observe("Enrich", budget, spent, 100);
        observe(50);
        observe(80);
        observe(85);
        // A jump over both at once fires both.
        let fired = || seen.lock().unwrap().clone();
        assert_eq!(fired(), [(0.8, 80)]);
        observe(100);
        assert_eq!(fired(), [(0.8, 80), (0.95, 100)]);
        observe(120);
        // A refund back under 80% re-arms both; crossing again warns again.
        observe(60);
        observe(96);
        assert_eq!(fired(), [(0.8, 80), (0.95, 100), (0.8, 96), (0.95, 96)]);
        // Without a limit, nothing.
        thresholds.observe("Enrich", budget, 1_000, 0);
        assert_eq!(fired().len(), 4);
        assert_eq!(
            BudgetWarning {
                provider: "Enrich",
                unit: Unit::Credits,
                threshold: 0.8,
                spent: 812,
                limit: 1000,
                credit_type: None,
                period: Period::Total,
            }
            .to_string(),
            "80% of the Enrich budget is spent: 812 of 1000 credits"
        );
        assert_eq!(
            BudgetWarning {
                provider: "RocketReach",
                unit: Unit::Credits,
                threshold: 0.95,
                spent: 96,
                limit: 100,
                credit_type: Some("lookup".into()),
                period: Period::Daily,
            }
            .to_string(),
            "95% of the RocketReach daily budget of `lookup` credits is spent: 96 of 100 credits"
        );
    }
}
