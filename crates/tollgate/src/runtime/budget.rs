//! The budget step of a call: one path for every client. The budget's limit is kept by a
//! [`Store`]: the client's own [`LocalStore`], or the store it shares with the other clients of
//! its key ([`crate::shared`]). The [`Ledger`] records what each call cost. A call holds a
//! [`Hold`] from before it is sent until it ends; however it ends, the hold ends once.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::cost::{Basis, Budget, CostModel, CostRefusal, Ledger, Reservation, Thresholds, Usage};
use crate::error::Error;
use crate::shared::{Claim, LocalStore, NO_LEASE, Outage, Reserved, Scope, Settlement, Store};
use crate::vocab::{Period, Unit};

/// Where a client's spending is held and recorded.
#[derive(Debug)]
pub(super) struct Accounts {
    store: Arc<dyn Store>,
    /// The overall budget first (limited or not), then each budget of a credit type or period.
    buckets: Vec<Bucket>,
    lease: Duration,
    /// The store is the client's own: it never fails, and spending carried over from earlier
    /// runs belongs in it (a shared store already holds what earlier runs settled).
    private: bool,
    pub(super) ledger: Arc<Ledger>,
    /// The provider's cost model: the credit types of each operation's charges.
    model: CostModel,
    unit: Unit,
    /// The provider's name, for the metrics.
    provider: &'static str,
    outage: Outage,
}

/// One budget of the client: where the store keeps it, its limit and its warnings.
#[derive(Debug)]
struct Bucket {
    scope: Scope,
    limit: Option<i64>,
    thresholds: Thresholds,
}

impl Bucket {
    /// This budget's share of `amount` charged by `operation`.
    fn share(&self, model: &CostModel, operation: &str, amount: i64) -> i64 {
        match &self.scope.credit_type {
            None => amount,
            Some(t) => model.credit_share(operation, amount, t),
        }
    }

    /// A refusal of `operation`, which needed `needed` of what has `remaining` left.
    fn refusal(&self, operation: &str, unit: Unit, needed: i64, remaining: i64) -> CostRefusal {
        let mut refusal = CostRefusal::new(operation, unit, needed, remaining);
        refusal.credit_type = self.scope.credit_type.clone();
        refusal.period = self.scope.period;
        refusal
    }
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

/// What builds a client's accounts.
pub(super) struct Plan<'a> {
    pub(super) provider: &'static str,
    pub(super) model: CostModel,
    pub(super) ledger: Arc<Ledger>,
    pub(super) budgets: &'a [Budget],
    pub(super) thresholds: (&'a [f64], Option<crate::cost::WarningHook>),
}

impl Accounts {
    /// Accounts of a client on a store of its own.
    pub(super) fn private(plan: Plan<'_>) -> Accounts {
        Accounts::on(plan, Arc::new(LocalStore::new()), Scope::own(), None)
    }

    /// Accounts on `shared`'s store, under `scope` (the key's).
    pub(super) fn shared(plan: Plan<'_>, shared: &crate::Shared, scope: Scope) -> Accounts {
        Accounts::on(plan, Arc::clone(&shared.store), scope, Some(shared.lease))
    }

    fn on(plan: Plan<'_>, store: Arc<dyn Store>, key: Scope, lease: Option<Duration>) -> Accounts {
        let thresholds = || Thresholds::new(plan.thresholds.0, plan.thresholds.1.clone());
        let overall = plan
            .budgets
            .iter()
            .find(|b| b.credit_type.is_none() && b.period == Period::Total);
        let mut buckets = vec![Bucket {
            scope: key.budget(None, Period::Total),
            limit: overall.map(|b| b.limit),
            thresholds: thresholds(),
        }];
        for budget in plan.budgets {
            if budget.credit_type.is_none() && budget.period == Period::Total {
                continue;
            }
            buckets.push(Bucket {
                scope: key.budget(budget.credit_type.as_deref(), budget.period),
                limit: Some(budget.limit),
                thresholds: thresholds(),
            });
        }
        Accounts {
            store,
            buckets,
            lease: lease.unwrap_or(crate::shared::DEFAULT_LEASE),
            private: lease.is_none(),
            ledger: plan.ledger,
            model: plan.model,
            unit: plan.model.unit,
            provider: plan.provider,
            outage: Outage::default(),
        }
    }

    /// Whether `bucket` is kept in the store: a client's own store keeps only limits; a shared
    /// store keeps the key's overall totals too.
    fn kept(&self, bucket: &Bucket) -> bool {
        bucket.limit.is_some() || !self.private
    }

    /// Holds `estimate` for a call of `operation`, or refuses it when a budget it counts
    /// against (overall, or of a credit type it spends) has less left. A shared store that
    /// fails refuses a charged call under a budget (nothing is sent); any other call goes on
    /// without it, with a warning.
    pub(super) async fn hold(
        self: &Arc<Self>,
        operation: &'static str,
        estimate: i64,
        parameter: Option<&'static str>,
    ) -> Result<Hold, Error> {
        let amount = estimate.max(0);
        // Without a budget the ledger never refuses.
        let reservation = self
            .ledger
            .reserve(None, operation, amount, parameter, self.unit)
            .map_err(Error::CostRefused)?;
        let mut leases = Vec::new();
        for (index, bucket) in self.buckets.iter().enumerate() {
            let share = bucket.share(&self.model, operation, amount);
            // A budget of a credit type the call does not spend is not asked.
            if !self.kept(bucket) || (bucket.scope.credit_type.is_some() && share == 0) {
                continue;
            }
            let refused = match self
                .store
                .reserve(&bucket.scope, Claim::new(bucket.limit, share, self.lease))
                .await
            {
                Ok(Reserved::Lease(id)) => {
                    self.outage.recovered();
                    leases.push((index, id));
                    continue;
                }
                Ok(Reserved::Refused { remaining }) => {
                    // The caller gets the refusal as its error: logged below warnings.
                    tracing::info!(needed = share, remaining, "refused by the budget");
                    let mut refusal = bucket.refusal(operation, self.unit, share, remaining);
                    refusal.parameter = parameter.map(str::to_owned);
                    Error::CostRefused(refusal)
                }
                Err(error) if bucket.limit.is_some() && share > 0 => Error::SharedStore(error),
                Err(error) => {
                    self.outage.report(
                        "the shared store is unavailable; this call is not in its totals",
                        &error,
                    );
                    continue;
                }
            };
            reservation.release();
            // The budgets already held give their share back.
            for (index, id) in leases {
                if let Some(b) = self.buckets.get(index) {
                    let _ = self.store.settle(&b.scope, id, Settlement::default()).await;
                }
            }
            return Err(refused);
        }
        Ok(Hold {
            accounts: Arc::clone(self),
            operation,
            reservation: Some(reservation),
            leases,
            sent: false,
        })
    }

    /// A bucket's part of `settlement` of a call of `operation`.
    fn part(&self, bucket: &Bucket, operation: &str, settlement: Settlement) -> Settlement {
        Settlement {
            charged: bucket.share(&self.model, operation, settlement.charged),
            refunded: bucket.share(&self.model, operation, settlement.refunded),
            uncertain: settlement.uncertain,
        }
    }

    /// Spending of `bucket` is now `spent` in its period: warns of thresholds crossed.
    fn spent(&self, bucket: &Bucket, spent: i64) {
        if let Some(limit) = bucket.limit {
            let scope = &bucket.scope;
            bucket.thresholds.observe(
                self.provider,
                (self.unit, scope.credit_type.as_deref(), scope.period),
                spent,
                limit,
            );
        }
    }

    /// Publishes a call's spending and what the overall budget has left (feature `metrics`).
    fn published(&self, operation: &'static str, reserved: i64, settlement: Settlement) {
        let (provider, unit) = (self.provider, self.unit);
        let Settlement {
            charged, refunded, ..
        } = settlement;
        crate::telemetry::spent(provider, operation, unit, reserved, charged, refunded);
        if let Some(limit) = self.buckets.first().and_then(|b| b.limit) {
            let totals = self.ledger.totals();
            let left = limit
                .saturating_sub(totals.spent())
                .saturating_sub(totals.reserved);
            crate::telemetry::budget_left(provider, unit, left);
        }
    }

    /// Records spending made outside this client (earlier runs of a resumed job): in the
    /// ledger, and in the budgets that never renew when the client keeps its own (a shared
    /// store already holds it; a renewing budget counts what was spent in its period).
    pub(super) async fn carry_over(&self, operation: &str, spent: i64) {
        if spent <= 0 {
            return;
        }
        self.ledger.carry_over(operation, self.unit, spent);
        self.spent_outside(Period::Total, operation, spent).await;
    }

    /// Counts `spent` by `operation` outside this client in the client's own budgets of
    /// `period` (a shared store already holds it).
    async fn spent_outside(&self, period: Period, operation: &str, spent: i64) {
        if spent <= 0 || !self.private {
            return;
        }
        for bucket in &self.buckets {
            if bucket.limit.is_none() || bucket.scope.period != period {
                continue;
            }
            let settlement = Settlement {
                charged: bucket.share(&self.model, operation, spent),
                refunded: 0,
                uncertain: false,
            };
            if let Ok(total) = self.store.settle(&bucket.scope, NO_LEASE, settlement).await {
                self.spent(bucket, total);
            }
        }
    }

    /// Records spending made earlier in the current `period` by other runs (a journal says
    /// what): in the client's own budgets that renew every `period`. A shared store already
    /// holds it; the ledger records only this client's calls.
    pub(super) async fn spent_earlier_in(&self, period: Period, operation: &str, spent: i64) {
        if period != Period::Total {
            self.spent_outside(period, operation, spent).await;
        }
    }
}

/// A call's hold on the budget: its reservation in the ledger and its lease in the store.
#[derive(Debug)]
pub(super) struct Hold {
    accounts: Arc<Accounts>,
    operation: &'static str,
    reservation: Option<Reservation>,
    /// The leases in the store: (bucket, lease id).
    leases: Vec<(usize, u64)>,
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
        let accounts = &self.accounts;
        accounts.published(self.operation, amount, settlement);
        for (index, id) in std::mem::take(&mut self.leases) {
            let Some(bucket) = accounts.buckets.get(index) else {
                continue;
            };
            let part = accounts.part(bucket, self.operation, settlement);
            match accounts.store.settle(&bucket.scope, id, part).await {
                Ok(spent) => accounts.spent(bucket, spent),
                Err(error) => accounts.outage.report(
                    "the shared store is unavailable; the lease will end as possibly charged",
                    &error,
                ),
            }
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
        if !accounts.private {
            return;
        }
        for (index, id) in std::mem::take(&mut self.leases) {
            let Some(bucket) = accounts.buckets.get(index) else {
                continue;
            };
            let part = accounts.part(bucket, self.operation, settlement);
            if let Some(Ok(spent)) = accounts
                .store
                .settle(&bucket.scope, id, part)
                .now_or_never()
            {
                accounts.spent(bucket, spent);
            }
        }
    }
}
