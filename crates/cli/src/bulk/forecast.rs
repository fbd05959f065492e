//! Where a bulk job will end: its expected cost, from what its settled items cost (items the
//! cache answered at nothing, refunds and misses included), beside the worst case, and the
//! item at about which a budget runs out.

/// A job's forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Forecast {
    /// What the whole job is expected to cost.
    pub expected: i64,
    /// The most the whole job may cost: what is settled, and every other item at the most an
    /// item may cost (`None` while that is not known).
    pub worst: Option<i64>,
    /// The item (counted in the job's order) at about which the budget runs out, if it will.
    pub runs_out_at: Option<u64>,
}

/// `n` as a float (counts and amounts here are far below 2⁵³).
fn float(n: i64) -> f64 {
    n as f64
}

impl Forecast {
    /// The forecast of a job of `total` items of which `settled` have cost `cost` in all; an
    /// item costs at most `most_per_item` (0: not known yet); the job may spend `budget` in
    /// all. `None` before any item is settled: nothing is observed yet.
    pub(crate) fn new(
        cost: i64,
        settled: u64,
        total: u64,
        most_per_item: f64,
        budget: Option<i64>,
    ) -> Option<Forecast> {
        if settled == 0 || total == 0 {
            return None;
        }
        let settled_f = float(i64::try_from(settled).unwrap_or(i64::MAX));
        let left = float(i64::try_from(total.saturating_sub(settled)).unwrap_or(i64::MAX));
        let per_item = float(cost) / settled_f;
        let round = |x: f64| x.round().clamp(0.0, 9.0e18) as i64;
        let expected = round(float(cost) + per_item * left);
        let worst = (most_per_item > 0.0).then(|| round(float(cost) + most_per_item * left));
        let runs_out_at = match budget {
            Some(limit) if expected > limit && per_item > 0.0 => {
                let more = (float(limit.saturating_sub(cost).max(0)) / per_item).floor();
                let more = u64::try_from(round(more)).unwrap_or(0);
                Some(settled.saturating_add(more).min(total))
            }
            _ => None,
        };
        Some(Forecast {
            expected,
            worst,
            runs_out_at,
        })
    }

    /// What the progress bar says of it.
    pub(crate) fn describe(&self, unit: &str) -> String {
        let mut out = format!("about {} {unit} in all", self.expected);
        if let Some(worst) = self.worst {
            out.push_str(&format!(" (at most {worst})"));
        }
        if let Some(item) = self.runs_out_at {
            out.push_str(&format!("; the budget runs out at about item {item}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_is_expected_to_cost_what_the_settled_items_cost_each() {
        // 1,000 of 10,000 settled for 600 (40% refunded): 6,000 expected, 10 each at most.
        let f = Forecast::new(600, 1_000, 10_000, 1.0, None).unwrap();
        assert_eq!(
            (f.expected, f.worst, f.runs_out_at),
            (6_000, Some(9_600), None)
        );
        // A budget of 3,000 runs out at about item 5,000.
        let f = Forecast::new(600, 1_000, 10_000, 1.0, Some(3_000)).unwrap();
        assert_eq!(f.runs_out_at, Some(5_000));
        assert_eq!(
            f.describe("credits"),
            "about 6000 credits in all (at most 9600); the budget runs out at about item 5000"
        );
        // Nothing settled yet: no forecast. Everything free so far: never runs out.
        assert_eq!(Forecast::new(0, 0, 10, 1.0, Some(1)), None);
        let free = Forecast::new(0, 5, 10, 0.0, Some(0)).unwrap();
        assert_eq!(
            (free.expected, free.worst, free.runs_out_at),
            (0, None, None)
        );
        // A budget already spent: it runs out at the next item.
        let spent = Forecast::new(100, 10, 20, 10.0, Some(50)).unwrap();
        assert_eq!(spent.runs_out_at, Some(10));
    }
}
