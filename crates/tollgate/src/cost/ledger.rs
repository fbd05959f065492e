//! The ledger: what calls cost, as running totals and a window of recent entries.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::vocab::Unit;

/// How an entry's cost is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The answer said what the call cost (`rows_returned`, `meta.creditsUsed`, ...).
    Reported,
    /// The answer does not say; the estimate (the most it may cost) is recorded.
    Estimated,
    /// No answer came (a timeout, a broken body, a cancelled call) after the request may have
    /// reached the server: recorded as possibly charged at its maximum.
    Uncertain,
    /// Served from the cache ([`crate::cache`]): nothing was sent or charged; `saved` is what
    /// the kept answer had cost.
    Cached,
}

/// One call in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// The operation.
    pub operation: String,
    /// The unit.
    pub unit: Unit,
    /// The most it could have cost (checked before sending).
    pub estimated: i64,
    /// What it cost: as the answer reports it, or the estimate (see [`Usage::basis`]).
    pub charged: i64,
    /// What the answer reports as refunded (batch settlements).
    pub refunded: i64,
    /// The HTTP status of the answer (0 when there was none).
    pub status: u16,
    /// How the cost is known.
    pub basis: Basis,
    /// What the server reported that could not be right (a negative cost, a refund larger than
    /// what was spent, a cost above the maximum), and what was recorded instead.
    pub anomaly: Option<String>,
    /// What a call served from the cache saved (0 for every other call).
    pub saved: i64,
}

/// Running totals of a ledger, kept in O(1) whatever its history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Calls recorded.
    pub calls: u64,
    /// Everything charged (saturating).
    pub charged: i64,
    /// Everything refunded (saturating).
    pub refunded: i64,
    /// The part of `charged` that is only possibly charged ([`Basis::Uncertain`]).
    pub uncertain: i64,
    /// What calls in flight have reserved.
    pub reserved: i64,
    /// Entries whose reported cost was an anomaly.
    pub anomalies: u64,
    /// Calls served from the cache (not counted in `calls`).
    pub hits: u64,
    /// What the calls served from the cache saved (saturating).
    pub saved: i64,
}

impl Totals {
    /// Charged minus refunded, never below zero.
    pub fn spent(&self) -> i64 {
        self.charged.saturating_sub(self.refunded).max(0)
    }
}

/// How many recent entries a ledger keeps by default.
pub const DEFAULT_LEDGER_WINDOW: usize = 1_000;
/// How many settled resources a ledger remembers (to record each settlement once).
pub const SETTLEMENT_MEMORY: usize = 10_000;

#[derive(Debug, Default)]
struct LedgerState {
    totals: Totals,
    recent: VecDeque<Usage>,
    balance: Option<(i64, String)>,
    settled: HashSet<String>,
    settled_order: VecDeque<String>,
}

/// The usage ledger of a client: running totals of every call, the most recent entries, and
/// the reservations of calls in flight. Memory stays bounded over any number of calls: totals
/// are O(1), entries are kept in a window ([`Ledger::with_window`], 1,000 by default).
#[derive(Debug)]
pub struct Ledger {
    window: usize,
    state: Mutex<LedgerState>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::with_window(DEFAULT_LEDGER_WINDOW)
    }
}

impl Ledger {
    /// A ledger that keeps the last `window` entries (totals always cover every call).
    pub fn with_window(window: usize) -> Self {
        Ledger {
            window,
            state: Mutex::new(LedgerState::default()),
        }
    }

    /// How many settled resources the ledger remembers.
    #[cfg(test)]
    pub(super) fn settled_len(&self) -> usize {
        crate::sync::lock(&self.state).settled.len()
    }

    /// Holds `amount` as reserved if it fits under `limit` (always, without one); otherwise
    /// what is left.
    pub(super) fn hold(&self, limit: Option<i64>, amount: i64) -> Result<(), i64> {
        let mut state = crate::sync::lock(&self.state);
        if let Some(limit) = limit {
            let remaining = limit
                .saturating_sub(state.totals.spent())
                .saturating_sub(state.totals.reserved);
            if amount > remaining {
                return Err(remaining.max(0));
            }
        }
        state.totals.reserved = state.totals.reserved.saturating_add(amount);
        Ok(())
    }

    /// Whether the settlement of `resource` is seen for the first time (and marks it seen).
    /// Remembers the last [`SETTLEMENT_MEMORY`] resources.
    pub(crate) fn first_settlement(&self, resource: &str) -> bool {
        let mut state = crate::sync::lock(&self.state);
        if state.settled.contains(resource) {
            return false;
        }
        state.settled.insert(resource.to_owned());
        state.settled_order.push_back(resource.to_owned());
        while state.settled_order.len() > SETTLEMENT_MEMORY {
            if let Some(old) = state.settled_order.pop_front() {
                state.settled.remove(&old);
            }
        }
        true
    }

    pub(super) fn close(&self, reserved: i64, usage: Option<Usage>) {
        let mut state = crate::sync::lock(&self.state);
        state.totals.reserved = state.totals.reserved.saturating_sub(reserved).max(0);
        let Some(mut usage) = usage else { return };
        // A refund can bring spending back to zero, never below it.
        let spent = state.totals.spent().saturating_add(usage.charged);
        if usage.refunded > spent {
            usage.anomaly.get_or_insert_with(|| {
                format!(
                    "refund of {} is more than the {spent} spent; recorded {spent}",
                    usage.refunded
                )
            });
            usage.refunded = spent;
        }
        let t = &mut state.totals;
        t.calls = t.calls.saturating_add(1);
        t.charged = t.charged.saturating_add(usage.charged);
        t.refunded = t.refunded.saturating_add(usage.refunded);
        if usage.basis == Basis::Uncertain {
            t.uncertain = t.uncertain.saturating_add(usage.charged);
        }
        if usage.anomaly.is_some() {
            t.anomalies = t.anomalies.saturating_add(1);
        }
        if self.window > 0 {
            if state.recent.len() >= self.window {
                state.recent.pop_front();
            }
            state.recent.push_back(usage);
        }
    }

    /// Records spending that happened outside this ledger (earlier runs of a resumed job), as
    /// one entry of `operation`: it counts against the budget, and later refunds of it are
    /// credited instead of being refused as larger than what was spent.
    pub fn carry_over(&self, operation: &str, unit: Unit, spent: i64) {
        if spent <= 0 {
            return;
        }
        self.close(
            0,
            Some(Usage {
                operation: operation.to_owned(),
                unit,
                estimated: spent,
                charged: spent,
                refunded: 0,
                status: 0,
                basis: Basis::Reported,
                anomaly: None,
                saved: 0,
            }),
        );
    }

    /// Records a call served from the cache: nothing charged, `saved` saved.
    pub fn record_hit(&self, operation: &str, unit: Unit, estimated: i64, saved: i64, status: u16) {
        let mut state = crate::sync::lock(&self.state);
        state.totals.hits = state.totals.hits.saturating_add(1);
        state.totals.saved = state.totals.saved.saturating_add(saved.max(0));
        if self.window > 0 {
            if state.recent.len() >= self.window {
                state.recent.pop_front();
            }
            state.recent.push_back(Usage {
                operation: operation.to_owned(),
                unit,
                estimated,
                charged: 0,
                refunded: 0,
                status,
                basis: Basis::Cached,
                anomaly: None,
                saved: saved.max(0),
            });
        }
    }

    /// Records a balance an account endpoint reported.
    pub(crate) fn record_balance(&self, remaining: i64, source: &str) {
        crate::sync::lock(&self.state).balance = Some((remaining, source.to_owned()));
    }

    /// The most recent entries, oldest first (at most the ledger's window).
    pub fn entries(&self) -> Vec<Usage> {
        crate::sync::lock(&self.state)
            .recent
            .iter()
            .cloned()
            .collect()
    }

    /// Running totals over every call.
    pub fn totals(&self) -> Totals {
        crate::sync::lock(&self.state).totals
    }

    /// What the recorded calls cost in total (charged minus refunded, never below zero),
    /// including calls that are only possibly charged.
    pub fn spent(&self) -> i64 {
        crate::sync::lock(&self.state).totals.spent()
    }

    /// What calls in flight have reserved.
    pub fn reserved(&self) -> i64 {
        crate::sync::lock(&self.state).totals.reserved
    }

    /// The last balance an account endpoint reported, and which operation reported it.
    pub fn reported_balance(&self) -> Option<(i64, String)> {
        crate::sync::lock(&self.state).balance.clone()
    }
}
