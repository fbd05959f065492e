//! A call's reservation against a budget, from its start to its settlement.

use std::fmt;
use std::sync::Arc;

use super::ledger::{Basis, Ledger, Usage};
use crate::vocab::{Period, Unit};

/// A spending limit attached to a client, in the provider's unit: overall or for one credit
/// type ([`CostModel::credit_types`](crate::cost::CostModel::credit_types)), for good or per
/// [`Period`]. A client may have several: each call must fit in every one that applies.
///
/// ```
/// use tollgate::{Budget, Period};
///
/// // 1,000 lookup credits a day, and 50 company exports in all.
/// let daily = Budget::credits(1_000).of_type("lookup").renewing(Period::Daily);
/// let exports = Budget::credits(50).of_type("company_export");
/// assert_eq!(daily.to_string(), "daily budget of `lookup` credits");
/// assert_eq!(exports.period, Period::Total);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// The unit.
    pub unit: Unit,
    /// The most the client may spend (in each period, for a renewing budget).
    pub limit: i64,
    /// The credit type the budget limits (`None`: every charge).
    pub credit_type: Option<String>,
    /// When the budget renews.
    pub period: Period,
}

impl Budget {
    /// A budget of `limit` in `unit`.
    pub fn new(unit: Unit, limit: i64) -> Self {
        Budget {
            unit,
            limit,
            credit_type: None,
            period: Period::Total,
        }
    }

    /// A budget of `limit` credits.
    pub fn credits(limit: i64) -> Self {
        Budget::new(Unit::Credits, limit)
    }

    /// A budget of `limit` rows.
    pub fn rows(limit: i64) -> Self {
        Budget::new(Unit::Rows, limit)
    }

    /// The same budget for one credit type only (a name of the provider's cost rules).
    pub fn of_type(mut self, credit_type: impl Into<String>) -> Self {
        self.credit_type = Some(credit_type.into());
        self
    }

    /// The same budget, renewing every `period`.
    pub fn renewing(mut self, period: Period) -> Self {
        self.period = period;
        self
    }

    /// Whether `other` limits the same thing (credit type and period): a client keeps one of
    /// each.
    pub fn same_kind(&self, other: &Budget) -> bool {
        self.credit_type == other.credit_type && self.period == other.period
    }
}

impl fmt::Display for Budget {
    /// "budget", "daily budget", "budget of `lookup` credits", ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, self.period, self.credit_type.as_deref(), self.unit)
    }
}

fn describe(
    f: &mut fmt::Formatter<'_>,
    period: Period,
    credit_type: Option<&str>,
    unit: Unit,
) -> fmt::Result {
    match period {
        Period::Total => f.write_str("budget")?,
        Period::Daily => f.write_str("daily budget")?,
        Period::Monthly { .. } => f.write_str("monthly budget")?,
    }
    if let Some(t) = credit_type {
        write!(f, " of `{t}` {unit}")?;
    }
    Ok(())
}

/// A request refused before it was sent because its maximum cost exceeds what the budget has left.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CostRefusal {
    /// The operation.
    pub operation: String,
    /// The unit.
    pub unit: Unit,
    /// The most the request may cost (of the budget's credit type, for a typed budget).
    pub needed: i64,
    /// What the budget has left (in its period, for a renewing budget).
    pub remaining: i64,
    /// The parameter to lower, when one sets the cost.
    pub parameter: Option<String>,
    /// The credit type of the budget that refused (`None`: the overall budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_type: Option<String>,
    /// The period of the budget that refused.
    #[serde(default, skip_serializing_if = "is_total")]
    pub period: Period,
}

impl CostRefusal {
    /// A refusal of `operation` by the overall budget: it needed `needed` of `unit`, the
    /// budget had `remaining` left.
    pub fn new(operation: &str, unit: Unit, needed: i64, remaining: i64) -> CostRefusal {
        CostRefusal {
            operation: operation.to_owned(),
            unit,
            needed,
            remaining,
            parameter: None,
            credit_type: None,
            period: Period::Total,
        }
    }
}

fn is_total(period: &Period) -> bool {
    *period == Period::Total
}

impl fmt::Display for CostRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} may cost up to {} ", self.operation, self.needed)?;
        if let Some(t) = &self.credit_type {
            write!(f, "`{t}` ")?;
        }
        write!(f, "{} but the ", self.unit)?;
        describe(f, self.period, self.credit_type.as_deref(), self.unit)?;
        write!(f, " has {} left", self.remaining)?;
        if let Some(renewal) = self.period.renewal() {
            write!(f, " ({renewal})")?;
        }
        if let Some(p) = &self.parameter {
            write!(f, "; lower `{p}`")?;
        }
        Ok(())
    }
}

impl Ledger {
    /// Reserves `amount` for a call if it fits in `budget` (or always, without a budget). The
    /// reservation is a guard: however the call ends, it is settled, released, or recorded as
    /// possibly charged. The ledger's own check counts everything it recorded against the
    /// budget's limit: a budget of one credit type or one that renews is kept by a client's
    /// store ([`crate::ClientBuilder::budget`]), not here.
    pub fn reserve(
        self: &Arc<Self>,
        budget: Option<Budget>,
        operation: &str,
        amount: i64,
        parameter: Option<&'static str>,
        unit: Unit,
    ) -> Result<Reservation, CostRefusal> {
        let amount = amount.max(0);
        let (limit, credit_type, period) = match budget {
            Some(b) => (Some(b.limit), b.credit_type, b.period),
            None => (None, None, Period::Total),
        };
        self.hold(limit, amount).map_err(|remaining| CostRefusal {
            operation: operation.to_owned(),
            unit,
            needed: amount,
            remaining,
            parameter: parameter.map(str::to_owned),
            credit_type,
            period,
        })?;
        Ok(Reservation {
            ledger: Arc::clone(self),
            operation: operation.to_owned(),
            unit,
            amount,
            sent: false,
            open: true,
        })
    }
}

/// A call's reservation in the budget: a guard. Settled with what the answer says; released
/// when the request never left; and when it is dropped after the request may have reached the
/// server (a cancelled call, a panic), recorded as possibly charged at its maximum.
#[derive(Debug)]
pub struct Reservation {
    ledger: Arc<Ledger>,
    operation: String,
    unit: Unit,
    amount: i64,
    sent: bool,
    open: bool,
}

impl Reservation {
    /// The amount reserved.
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Marks that the request may now reach the server.
    pub fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// Releases the reservation and records what the call cost.
    pub fn settle(mut self, usage: Usage) {
        self.open = false;
        let record = usage.charged != 0 || usage.refunded != 0 || usage.estimated != 0;
        self.ledger.close(self.amount, record.then_some(usage));
    }

    /// Releases the reservation: nothing was charged.
    pub fn release(mut self) {
        self.open = false;
        self.ledger.close(self.amount, None);
    }

    /// Records the call as possibly charged at its maximum (no answer after it may have been
    /// received), with the status of a partial answer if any.
    pub fn uncertain(mut self, status: u16) {
        self.open = false;
        let usage = self.uncertain_usage(status);
        self.ledger.close(self.amount, usage);
    }

    fn uncertain_usage(&self, status: u16) -> Option<Usage> {
        (self.amount != 0).then(|| Usage {
            operation: self.operation.clone(),
            unit: self.unit,
            estimated: self.amount,
            charged: self.amount,
            refunded: 0,
            status,
            basis: Basis::Uncertain,
            anomaly: None,
            saved: 0,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        if self.sent {
            tracing::debug!(
                operation = self.operation,
                amount = self.amount,
                "call ended without an answer; recorded as possibly charged"
            );
            let usage = self.uncertain_usage(0);
            self.ledger.close(self.amount, usage);
        } else {
            self.ledger.close(self.amount, None);
        }
    }
}
