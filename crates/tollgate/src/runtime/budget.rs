//! The budget step of a call: one path for every client. The budget's limit is kept by a
//! [`Store`]: the client's own [`LocalStore`], or the store it shares with the other clients of
//! its key ([`crate::shared`]). The [`Ledger`] records what each call cost. A call holds a
//! [`Hold`] from before it is sent until it ends; however it ends, the hold ends once.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::cost::{Basis, CostRefusal, Ledger, Reservation, Thresholds, Usage};
use crate::error::Error;
use crate::shared::{LocalStore, NO_LEASE, Outage, Reserved, Scope, Settlement, Store};
use crate::vocab::Unit;

/// Where a client's spending is held and recorded.
#[derive(Debug)]
pub(super) struct Accounts {
    store: Arc<dyn Store>,
    scope: Scope,
    /// The budget's limit, if any.
    limit: Option<i64>,
    lease: Duration,
    /// The store is the client's own: it never fails, and spending carried over from earlier
    /// runs belongs in it (a shared store already holds what earlier runs settled).
    private: bool,
    pub(super) ledger: Arc<Ledger>,
    /// The budget's warnings.
    thresholds: Thresholds,
    unit: Unit,
    /// The provider's name, for the metrics.
    provider: &'static str,
    outage: Outage,
}

/// How a call's hold ends.
#[derive(Debug)]
pub(super) enum Ending {
    /// Nothing was charged: the request never reached the server.
    Released,
    /// What the answer says the call cost (an error answer costs nothing).
    Settled(Usage),
    /// No complete answer after the request may have been received: possibly charged at its
    /// maximum, with the status of a partial answer (0 for none).
    Uncertain(u16),
}

impl Accounts {
    /// Accounts of `provider`'s client on a store of the client's own.
    pub(super) fn private(
        provider: &'static str,
        (ledger, thresholds): (Arc<Ledger>, Thresholds),
        unit: Unit,
        limit: Option<i64>,
    ) -> Accounts {
        Accounts {
            store: Arc::new(LocalStore::new()),
            scope: Scope::own(),
            limit,
            lease: crate::shared::DEFAULT_LEASE,
            private: true,
            ledger,
            thresholds,
            unit,
            provider,
            outage: Outage::default(),
        }
    }

    /// The same accounts on `shared`'s store, under `scope`.
    pub(super) fn on_shared(self, shared: &crate::Shared, scope: Scope) -> Accounts {
        Accounts {
            store: Arc::clone(&shared.store),
            scope,
            lease: shared.lease,
            private: false,
            ..self
        }
    }

    /// Holds `estimate` for a call of `operation`, or refuses it when the budget has less left.
    /// A shared store that fails refuses a charged call under a budget (nothing is sent); any
    /// other call goes on without it, with a warning.
    pub(super) async fn hold(
        self: &Arc<Self>,
        operation: &'static str,
        estimate: i64,
        parameter: Option<&'static str>,
    ) -> Result<Hold, Error> {
        let amount = estimate.max(0);
        let refusal = |remaining| CostRefusal {
            operation: operation.to_owned(),
            unit: self.unit,
            needed: amount,
            remaining,
            parameter: parameter.map(str::to_owned),
        };
        // Without a budget the ledger never refuses.
        let reservation = self
            .ledger
            .reserve(None, operation, amount, parameter, self.unit)
            .map_err(Error::CostRefused)?;
        // The client's own store holds nothing but the budget: without one, it is not asked.
        if self.private && self.limit.is_none() {
            return Ok(self.holding(operation, reservation, None));
        }
        let lease = match self
            .store
            .reserve(&self.scope, self.limit, amount, self.lease)
            .await
        {
            Ok(Reserved::Lease(id)) => {
                self.outage.recovered();
                Some(id)
            }
            Ok(Reserved::Refused { remaining }) => {
                reservation.release();
                // The caller gets the refusal as its error: logged below warnings.
                tracing::info!(needed = amount, remaining, "refused by the budget");
                return Err(Error::CostRefused(refusal(remaining)));
            }
            Err(error) if self.limit.is_some() && amount > 0 => {
                reservation.release();
                return Err(Error::SharedStore(error));
            }
            Err(error) => {
                self.outage.report(
                    "the shared store is unavailable; this call is not in its totals",
                    &error,
                );
                None
            }
        };
        Ok(self.holding(operation, reservation, lease))
    }

    fn holding(
        self: &Arc<Self>,
        operation: &'static str,
        reservation: Reservation,
        lease: Option<u64>,
    ) -> Hold {
        Hold {
            accounts: Arc::clone(self),
            operation,
            reservation: Some(reservation),
            lease,
            sent: false,
        }
    }

    /// Publishes a call's spending and what the budget has left (feature `metrics`).
    fn published(&self, operation: &'static str, reserved: i64, settlement: Settlement) {
        let (provider, unit) = (self.provider, self.unit);
        let Settlement {
            charged, refunded, ..
        } = settlement;
        crate::telemetry::spent(provider, operation, unit, reserved, charged, refunded);
        if let Some(limit) = self.limit {
            let totals = self.ledger.totals();
            let left = limit
                .saturating_sub(totals.spent())
                .saturating_sub(totals.reserved);
            crate::telemetry::budget_left(provider, unit, left);
            self.thresholds
                .observe(provider, unit, totals.spent(), limit);
        }
    }

    /// Records spending made outside this client (earlier runs of a resumed job): in the
    /// ledger, and in the budget when the client keeps its own.
    pub(super) async fn carry_over(&self, operation: &str, spent: i64) {
        if spent <= 0 {
            return;
        }
        self.ledger.carry_over(operation, self.unit, spent);
        if let Some(limit) = self.limit {
            let spent = self.ledger.totals().spent();
            self.thresholds
                .observe(self.provider, self.unit, spent, limit);
        }
        if self.private && self.limit.is_some() {
            let settlement = Settlement {
                charged: spent,
                refunded: 0,
                uncertain: false,
            };
            let _ = self.store.settle(&self.scope, NO_LEASE, settlement).await;
        }
    }
}

/// A call's hold on the budget: its reservation in the ledger and its lease in the store.
#[derive(Debug)]
pub(super) struct Hold {
    accounts: Arc<Accounts>,
    operation: &'static str,
    reservation: Option<Reservation>,
    lease: Option<u64>,
    sent: bool,
}

impl Hold {
    /// The amount held.
    pub(super) fn amount(&self) -> i64 {
        self.reservation.as_ref().map_or(0, Reservation::amount)
    }

    /// The request may now reach the server.
    pub(super) fn mark_sent(&mut self) {
        self.sent = true;
        if let Some(r) = &mut self.reservation {
            r.mark_sent();
        }
    }

    /// Ends the hold: the ledger records the call, the store's lease is settled.
    pub(super) async fn end(mut self, ending: Ending) {
        let amount = self.amount();
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        let span = tracing::Span::current();
        let settlement = match ending {
            Ending::Released => {
                reservation.release();
                Settlement::default()
            }
            Ending::Settled(usage) => {
                span.record("cost", usage.charged);
                let settlement = Settlement {
                    charged: usage.charged,
                    refunded: usage.refunded,
                    uncertain: usage.basis == Basis::Uncertain,
                };
                reservation.settle(usage);
                settlement
            }
            Ending::Uncertain(status) => {
                span.record("cost", amount);
                reservation.uncertain(status);
                Settlement {
                    charged: amount,
                    refunded: 0,
                    uncertain: true,
                }
            }
        };
        self.accounts.published(self.operation, amount, settlement);
        if let Some(id) = self.lease.take()
            && let Err(error) = self
                .accounts
                .store
                .settle(&self.accounts.scope, id, settlement)
                .await
        {
            self.accounts.outage.report(
                "the shared store is unavailable; the lease will end as possibly charged",
                &error,
            );
        }
    }
}

impl Drop for Hold {
    /// A call dropped before it ended (cancelled): the ledger's reservation records it as
    /// possibly charged if it was sent; so does the client's own store. A shared store's lease
    /// ends on its own as possibly charged, as it does for a worker that died mid-call.
    fn drop(&mut self) {
        if self.reservation.is_none() {
            return;
        }
        let held = self.amount();
        let amount = if self.sent { held } else { 0 };
        // The reservation's own guard records the ledger's side.
        drop(self.reservation.take());
        let settlement = Settlement {
            charged: amount,
            refunded: 0,
            uncertain: self.sent,
        };
        let accounts = &self.accounts;
        accounts.published(self.operation, held, settlement);
        if let Some(id) = self.lease.take().filter(|_| accounts.private) {
            let _ = accounts
                .store
                .settle(&accounts.scope, id, settlement)
                .now_or_never();
        }
    }
}
