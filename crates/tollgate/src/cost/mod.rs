//! Cost control: what a request may cost at most, before it is sent; a [`Budget`] that refuses
//! requests beyond what is left; and a [`Ledger`] of what calls really cost.
//!
//! Spider News bills in rows (one per unique entity or connection returned), the other providers
//! in credits. Each provider's profile carries a table of [`CostRule`]s, one per operation; the
//! runtime evaluates the rule against the request (its query and JSON body) to get the most the
//! call may cost, checks it against the budget, and records the actual cost from the answer
//! (`rows_returned`, `meta.creditsUsed`, ...) when it arrives.
//!
//! ```
//! use tollgate::cost::{self, CostRule, RequestView, Unit};
//!
//! // Spider News pathfinding: 19 rows per path, 3 paths by default.
//! let rule = CostRule::QueryLimit { parameter: "path_limit", per_unit: 19, default: 3 };
//! let view = RequestView::from_parts("source_name=Tesla&target_name=Raytheon", None);
//! assert_eq!(rule.max_cost(&view).unwrap(), 57);
//! let view = RequestView::from_parts("path_limit=10", None);
//! assert_eq!(rule.max_cost(&view).unwrap(), 190);
//! # let _ = (Unit::Rows, cost::Basis::Reported);
//! ```
//!
//! The parts: [pricing](CostRule) (what a request may cost, what an answer says it cost), the
//! [`Ledger`] (what calls cost, in O(1) totals and a window of entries) and the
//! [`Reservation`] of a call in flight against a [`Budget`].

mod ledger;
mod pricing;
mod reservation;
mod warning;

pub use crate::vocab::{Period, Unit};
pub use ledger::{Basis, DEFAULT_LEDGER_WINDOW, Ledger, SETTLEMENT_MEMORY, Totals, Usage};
pub use pricing::{CostError, CostModel, CostRule, RequestView, paged_search_results};
pub(crate) use pricing::{CostTable, reported_cost};
pub use reservation::{Budget, CostRefusal, Reservation};
pub(crate) use warning::Thresholds;
pub use warning::{BudgetWarning, DEFAULT_THRESHOLDS, WarningHook};

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use serde_json::Value;

    use super::*;
    use serde_json::json;

    fn q(query: &str) -> RequestView<'static> {
        RequestView::from_parts(query, None)
    }

    fn b(body: Value) -> RequestView<'static> {
        RequestView::from_parts("", Some(body))
    }

    const ENTITIES: CostRule = CostRule::QueryLimit {
        parameter: "limit",
        per_unit: 1,
        default: 10,
    };
    const CONNECTIONS: CostRule = CostRule::QueryLimit {
        parameter: "connection_limit",
        per_unit: 3,
        default: 10,
    };
    const PATHS: CostRule = CostRule::QueryLimit {
        parameter: "path_limit",
        per_unit: 19,
        default: 3,
    };

    #[test]
    fn spidernews_documented_cases() {
        assert_eq!(ENTITIES.max_cost(&q("limit=10000")).unwrap(), 10_000);
        assert_eq!(CONNECTIONS.max_cost(&q("connection_limit=10")).unwrap(), 30);
        assert_eq!(PATHS.max_cost(&q("path_limit=10")).unwrap(), 190);
        // Defaults when the parameter is absent.
        assert_eq!(ENTITIES.max_cost(&q("ent_name=Facebook")).unwrap(), 10);
        assert_eq!(CONNECTIONS.max_cost(&q("")).unwrap(), 30);
        assert_eq!(PATHS.max_cost(&q("source_name=Tesla")).unwrap(), 57);
        assert_eq!(
            CONNECTIONS.max_cost(&q("connection_limit=100")).unwrap(),
            300
        );
        assert_eq!(PATHS.max_cost(&q("path_limit=5")).unwrap(), 95);
    }

    #[test]
    fn a_non_numeric_limit_is_an_error_naming_it() {
        let err = PATHS.max_cost(&q("path_limit=lots")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`path_limit` must be a non-negative integer to compute the request's cost, got `\"lots\"`"
        );
    }

    #[test]
    fn per_item_and_flags() {
        let batch = CostRule::PerItem {
            pointers: &["/emails", "/linkedins"],
            per_item: 500,
        };
        assert_eq!(
            batch
                .max_cost(&b(json!({"emails": ["a", "b"], "linkedins": ["c"]})))
                .unwrap(),
            1500
        );
        let reveal = CostRule::QueryFlags {
            flags: &[("reveal_professional_email", 2), ("reveal_phone", 6)],
        };
        assert_eq!(
            reveal
                .max_cost(&q("reveal_professional_email=true&reveal_phone=false"))
                .unwrap(),
            2
        );
        assert_eq!(
            reveal
                .max_cost(&q("reveal_professional_email=true&reveal_phone=true"))
                .unwrap(),
            8
        );
        let bulk = CostRule::ItemFlags {
            items: "/queries",
            flags: &[("reveal_professional_email", 2), ("reveal_phone", 6)],
        };
        let body = json!({"queries": [{"reveal_phone": true}, {"reveal_professional_email": true, "reveal_phone": true}]});
        assert_eq!(bulk.max_cost(&b(body)).unwrap(), 14);
    }

    #[test]
    fn enrich_lead_rules() {
        let reveal = CostRule::ItemFields {
            items: "/leads",
            names: "/fields",
            costs: &[("email", 10), ("phone", 525)],
        };
        let two = json!([{"id": "a"}, {"id": "b"}]);
        assert_eq!(
            reveal
                .max_cost(&b(json!({"leads": two, "fields": ["email"]})))
                .unwrap(),
            20
        );
        assert_eq!(reveal.max_cost(&b(json!({"leads": two}))).unwrap(), 2 * 535);
        let search = CostRule::PagedSearch {
            free_pages: 3,
            free_results: 75,
            per_result: 1,
            default_page_size: 25,
        };
        assert_eq!(
            search
                .max_cost(&b(json!({"filters": {}, "page": 3})))
                .unwrap(),
            0
        );
        assert_eq!(
            search
                .max_cost(&b(json!({"filters": {}, "page": 4, "pageSize": 100})))
                .unwrap(),
            100
        );
        // Pages 1-3 or the first 75 results, whichever ends first (docs/providers/enrich.md).
        let cost = |page: i64, size: i64| {
            search
                .max_cost(&b(json!({"page": page, "pageSize": size})))
                .unwrap()
        };
        assert_eq!(cost(2, 100), 100);
        assert_eq!(cost(1, 100), 25);
        assert_eq!(cost(3, 25), 0);
        assert_eq!(cost(4, 25), 25);
        assert_eq!(cost(3, 30), 15);
        assert_eq!(cost(1, 10), 0);
        assert_eq!(cost(4, 10), 10);
        assert_eq!(cost(i64::MAX, i64::MAX), i64::MAX);
        let export = CostRule::Export {
            flags: &[
                ("includeEmail", 10),
                ("includePhone", 525),
                ("includeNames", 1),
            ],
            default_max: 1000,
        };
        assert_eq!(
            export
                .max_cost(&b(
                    json!({"maxResults": 500, "includeEmail": true, "includeNames": true})
                ))
                .unwrap(),
            5500
        );
        assert_eq!(
            export.max_cost(&b(json!({"includeEmail": true}))).unwrap(),
            10_000
        );
        assert_eq!(
            export
                .max_cost(&b(json!({"leadIds": ["a", "b"], "includePhone": true})))
                .unwrap(),
            1050
        );
    }

    /// A model of three credit types (RocketReach's shape) and a weighted split, shared by
    /// the tests of credit types here and in `reconcile`.
    pub(crate) const THREE_TYPES: CostModel = CostModel {
        unit: Unit::Credits,
        rules: &[
            ("person", CostRule::Fixed(2)),
            ("company", CostRule::Fixed(1)),
            ("both", CostRule::Fixed(3)),
        ],
        actual: &[],
        refunded: None,
        settlements: &[],
        credit_types: &[
            ("person", &[("lookup", 1), ("person_export", 1)]),
            ("company", &[("company_export", 1)]),
            (
                "both",
                &[("lookup", 1), ("person_export", 1), ("company_export", 1)],
            ),
            ("weighted", &[("a", 2), ("b", 1), ("none", 0)]),
        ],
    };

    #[test]
    fn charges_are_shared_between_credit_types_and_add_up() {
        let model = THREE_TYPES;
        assert_eq!(
            model.credit_split("both", 3),
            [("lookup", 1), ("person_export", 1), ("company_export", 1)]
        );
        // What rounding leaves goes to the first types, one each.
        assert_eq!(
            model.credit_split("both", 5),
            [("lookup", 2), ("person_export", 2), ("company_export", 1)]
        );
        assert_eq!(
            model.credit_split("weighted", 10),
            [("a", 7), ("b", 3), ("none", 0)]
        );
        assert_eq!(
            model
                .credit_split("both", -4)
                .iter()
                .map(|s| s.1)
                .sum::<i64>(),
            0
        );
        assert_eq!(model.credit_split("other", 4), [("credits", 4)]);
        assert_eq!(model.credit_share("both", 3, "company_export"), 1);
        assert_eq!(model.credit_share("other", 3, "company_export"), 0);
        // Every operation billed names its types; one that names none spends the unit's.
        assert_eq!(model.credit_type_names()[0], "lookup");
        let with_other = CostModel {
            rules: &[("both", CostRule::Fixed(3)), ("other", CostRule::Fixed(1))],
            ..THREE_TYPES
        };
        assert_eq!(
            with_other.credit_type_names(),
            [
                "credits",
                "lookup",
                "person_export",
                "company_export",
                "a",
                "b",
                "none"
            ]
        );
    }

    fn usage(charged: i64, refunded: i64) -> Usage {
        Usage {
            operation: "list_connections".into(),
            unit: Unit::Rows,
            estimated: 30,
            charged,
            refunded,
            status: 200,
            basis: Basis::Reported,
            anomaly: None,
            saved: 0,
        }
    }

    #[test]
    fn budget_refuses_with_need_remainder_and_parameter() {
        let ledger = Arc::new(Ledger::default());
        let budget = Some(Budget::rows(100));
        let r = ledger
            .reserve(
                budget.clone(),
                "list_connections",
                30,
                Some("connection_limit"),
                Unit::Rows,
            )
            .unwrap();
        r.settle(usage(5, 0));
        assert_eq!(ledger.spent(), 5);
        let refusal = ledger
            .reserve(
                budget.clone(),
                "find_paths",
                190,
                Some("path_limit"),
                Unit::Rows,
            )
            .unwrap_err();
        assert_eq!((refusal.needed, refusal.remaining), (190, 95));
        assert_eq!(
            refusal.to_string(),
            "find_paths may cost up to 190 rows but the budget has 95 left; lower `path_limit`"
        );
        // Reservations of calls in flight count.
        let held = ledger
            .reserve(
                budget.clone(),
                "find_paths",
                57,
                Some("path_limit"),
                Unit::Rows,
            )
            .unwrap();
        assert_eq!(
            ledger
                .reserve(budget.clone(), "find_paths", 57, None, Unit::Rows)
                .unwrap_err()
                .remaining,
            38
        );
        drop(held);
        assert_eq!(
            ledger.reserved(),
            0,
            "a guard dropped before sending releases"
        );
    }

    #[test]
    fn a_guard_dropped_after_sending_is_possibly_charged() {
        let ledger = Arc::new(Ledger::default());
        let mut r = ledger
            .reserve(Some(Budget::rows(100)), "find_paths", 57, None, Unit::Rows)
            .unwrap();
        r.mark_sent();
        drop(r);
        assert_eq!((ledger.reserved(), ledger.spent()), (0, 57));
        let entry = &ledger.entries()[0];
        assert_eq!((entry.basis, entry.charged), (Basis::Uncertain, 57));
        assert_eq!(ledger.totals().uncertain, 57);
    }

    #[test]
    fn spending_carried_over_from_earlier_runs_takes_later_refunds_and_counts_in_the_budget() {
        let ledger = Arc::new(Ledger::default());
        ledger.carry_over("earlier runs", Unit::Credits, 250);
        ledger.carry_over("nothing", Unit::Credits, -5);
        assert_eq!(ledger.totals().calls, 1);
        let r = ledger
            .reserve(None, "results", 0, None, Unit::Credits)
            .unwrap();
        r.settle(usage(0, 25));
        assert_eq!(ledger.spent(), 225);
        assert!(ledger.entries().iter().all(|e| e.anomaly.is_none()));
        assert!(
            ledger
                .reserve(Some(Budget::credits(300)), "x", 100, None, Unit::Credits)
                .is_err()
        );
    }

    #[test]
    fn refunds_never_take_spending_below_zero_and_sums_saturate() {
        let ledger = Arc::new(Ledger::default());
        let r = ledger.reserve(None, "x", 0, None, Unit::Rows).unwrap();
        r.settle(usage(3, i64::MAX));
        assert_eq!(ledger.spent(), 0);
        assert!(ledger.entries()[0].anomaly.is_some());
        for _ in 0..3 {
            let r = ledger.reserve(None, "x", 0, None, Unit::Rows).unwrap();
            r.settle(usage(i64::MAX, 0));
        }
        assert_eq!(ledger.spent(), i64::MAX - 3);
        // A full budget refuses everything instead of wrapping.
        assert!(
            ledger
                .reserve(Some(Budget::rows(i64::MAX)), "x", 5, None, Unit::Rows)
                .is_err()
        );
    }

    #[test]
    fn reported_costs_are_checked() {
        let model = CostModel {
            unit: Unit::Credits,
            rules: &[],
            actual: &["/meta/creditsUsed"],
            refunded: Some("/meta/creditsRefunded"),
            settlements: &[],
            credit_types: &[],
        };
        let cost = |body: Value| reported_cost(&model, |p| body.pointer(p).cloned(), 10);
        assert_eq!(
            cost(json!({"meta": {"creditsUsed": 4}})),
            Some((4, 0, None))
        );
        let (charged, _, anomaly) = cost(json!({"meta": {"creditsUsed": -50}})).unwrap();
        assert_eq!(charged, 0);
        assert!(anomaly.unwrap().contains("negative"));
        let (charged, _, anomaly) = cost(json!({"meta": {"creditsUsed": 1e300}})).unwrap();
        assert_eq!((charged, anomaly.is_some()), (10, true));
        let (_, refunded, anomaly) =
            cost(json!({"meta": {"creditsUsed": 1, "creditsRefunded": -9}})).unwrap();
        assert_eq!((refunded, anomaly.is_some()), (0, true));
        assert_eq!(cost(json!({"data": {}})), None);
    }

    #[test]
    fn the_window_bounds_memory_and_totals_cover_everything() {
        let ledger = Arc::new(Ledger::with_window(10));
        for _ in 0..1000 {
            let r = ledger.reserve(None, "x", 1, None, Unit::Rows).unwrap();
            r.settle(usage(1, 0));
        }
        assert_eq!(ledger.entries().len(), 10);
        assert_eq!((ledger.totals().calls, ledger.spent()), (1000, 1000));
        for i in 0..(SETTLEMENT_MEMORY + 10) {
            assert!(ledger.first_settlement(&i.to_string()));
        }
        assert!(!ledger.first_settlement(&(SETTLEMENT_MEMORY + 9).to_string()));
        assert_eq!(ledger.settled_len(), SETTLEMENT_MEMORY);
    }
}
