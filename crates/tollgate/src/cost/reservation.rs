//! A call's reservation against a budget, from its start to its settlement.

use std::fmt;
use std::sync::Arc;

use super::ledger::{Basis, Ledger, Usage};
use crate::vocab::Unit;

/// A spending limit attached to a client, in the provider's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// The unit.
    pub unit: Unit,
    /// The most the client may spend.
    pub limit: i64,
}

impl Budget {
    /// A budget of `limit` in `unit`.
    pub fn new(unit: Unit, limit: i64) -> Self {
        Budget { unit, limit }
    }

    /// A budget of `limit` credits.
    pub fn credits(limit: i64) -> Self {
        Budget {
            unit: Unit::Credits,
            limit,
        }
    }

    /// A budget of `limit` rows.
    pub fn rows(limit: i64) -> Self {
        Budget {
            unit: Unit::Rows,
            limit,
        }
    }
}

/// A request refused before it was sent because its maximum cost exceeds what the budget has left.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CostRefusal {
    /// The operation.
    pub operation: String,
    /// The unit.
    pub unit: Unit,
    /// The most the request may cost.
    pub needed: i64,
    /// What the budget has left.
    pub remaining: i64,
    /// The parameter to lower, when one sets the cost.
    pub parameter: Option<String>,
}

impl fmt::Display for CostRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} may cost up to {} {} but the budget has {} left",
            self.operation, self.needed, self.unit, self.remaining
        )?;
        if let Some(p) = &self.parameter {
            write!(f, "; lower `{p}`")?;
        }
        Ok(())
    }
}

impl Ledger {
    /// Reserves `amount` for a call if it fits in `budget` (or always, without a budget). The
    /// reservation is a guard: however the call ends, it is settled, released, or recorded as
    /// possibly charged.
    pub fn reserve(
        self: &Arc<Self>,
        budget: Option<Budget>,
        operation: &str,
        amount: i64,
        parameter: Option<&'static str>,
        unit: Unit,
    ) -> Result<Reservation, CostRefusal> {
        let amount = amount.max(0);
        self.hold(budget.map(|b| b.limit), amount)
            .map_err(|remaining| CostRefusal {
                operation: operation.to_owned(),
                unit,
                needed: amount,
                remaining,
                parameter: parameter.map(str::to_owned),
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
