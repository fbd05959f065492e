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

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What a provider bills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Credits (RocketReach, Enrich).
    Credits,
    /// Rows: unique entities and connections returned (Spider News).
    Rows,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Credits => "credits",
            Unit::Rows => "rows",
        })
    }
}

/// How the most an operation may cost is computed from its request. Values are per call unless
/// named otherwise; JSON pointers address the request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostRule {
    /// Costs nothing.
    Free,
    /// A fixed amount per call.
    Fixed(i64),
    /// `per_unit` times an integer query parameter (`default` when it is absent). Spider News:
    /// `limit` x 1, `connection_limit` x 3, `path_limit` x 19.
    QueryLimit {
        /// The query parameter, e.g. `path_limit`.
        parameter: &'static str,
        /// Cost of one unit of the parameter.
        per_unit: i64,
        /// The provider's default when the parameter is absent.
        default: i64,
    },
    /// `per_unit` times an integer body field (`default` when absent), e.g. Enrich's `max_limit`.
    BodyLimit {
        /// JSON pointer into the body, e.g. `/max_limit`.
        pointer: &'static str,
        /// Cost of one unit.
        per_unit: i64,
        /// The provider's default when the field is absent.
        default: i64,
    },
    /// `per_item` times the number of items of the body arrays (duplicates counted, the upper bound).
    PerItem {
        /// JSON pointers of the arrays, e.g. `["/emails"]`.
        pointers: &'static [&'static str],
        /// Cost of one item.
        per_item: i64,
    },
    /// The sum of the costs of the boolean query flags that are `true` (RocketReach's universal
    /// `reveal_*` flags).
    QueryFlags {
        /// `(parameter, cost when true)`.
        flags: &'static [(&'static str, i64)],
    },
    /// For each item of a body array, the sum of the costs of its boolean fields that are `true`.
    ItemFlags {
        /// JSON pointer of the array, e.g. `/queries`.
        items: &'static str,
        /// `(field, cost when true)`.
        flags: &'static [(&'static str, i64)],
    },
    /// For each item of a body array, the sum of the costs of the values listed in a body array
    /// of names (`default_all` when the list is absent). Enrich reveal: `fields` of email (10)
    /// and phone (525).
    ItemFields {
        /// JSON pointer of the items, e.g. `/leads`.
        items: &'static str,
        /// JSON pointer of the field names, e.g. `/fields`.
        names: &'static str,
        /// `(name, cost per item)`.
        costs: &'static [(&'static str, i64)],
    },
    /// Results are charged per result returned, up to a maximum the body sets (`default` when
    /// absent); Enrich people search: `max_results`.
    PerResult {
        /// JSON pointer of the maximum, e.g. `/max_results`.
        pointer: &'static str,
        /// Cost of one result.
        per_result: i64,
        /// The provider's default maximum.
        default: i64,
    },
    /// Enrich Lead Finder search: the first `free_pages` pages or the first `free_results`
    /// results, whichever ends first, are free; every later result costs `per_result`. A page
    /// costs its results past that point (at most the page size).
    PagedSearch {
        /// Pages that cost nothing.
        free_pages: i64,
        /// Results that cost nothing.
        free_results: i64,
        /// Cost of one result on a paid page.
        per_result: i64,
        /// The default page size.
        default_page_size: i64,
    },
    /// Enrich Lead Finder export: per exported lead, the costs of the `include*` flags that are
    /// true; leads = `leadIds` length, else `maxResults` (default 1000).
    Export {
        /// `(flag, cost per lead)`.
        flags: &'static [(&'static str, i64)],
        /// The default of `maxResults`.
        default_max: i64,
    },
}

/// Why a request's cost could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// A parameter that sets the cost is not a number.
    #[error(
        "`{parameter}` must be a non-negative integer to compute the request's cost, got `{value}`"
    )]
    NotANumber {
        /// The parameter or field.
        parameter: String,
        /// What was sent.
        value: String,
    },
}

/// The parts of a request a [`CostRule`] reads: the query parameters and the JSON body. The
/// body is parsed into a `Value` only when a rule needs a value from it; counting the items of a
/// batch (100,000 addresses) scans it without building them ([`crate::probe`]).
#[derive(Clone, Debug, Default)]
pub struct RequestView<'a> {
    query: Vec<(String, String)>,
    raw: Option<&'a [u8]>,
    body: std::sync::OnceLock<Option<Value>>,
}

impl RequestView<'static> {
    /// A view of a query string (`a=1&b=2`, without `?`) and an optional JSON body.
    pub fn from_parts(query: &str, body: Option<Value>) -> Self {
        let view = RequestView {
            query: url_pairs(query),
            raw: None,
            body: std::sync::OnceLock::new(),
        };
        let _ = view.body.set(body);
        view
    }
}

impl<'a> RequestView<'a> {
    /// A view of a reqwest request (its URL query, and its body when it is bytes), borrowing
    /// the body: a batch's bytes are never copied.
    pub fn of(request: &'a reqwest::Request) -> Self {
        RequestView {
            query: request.url().query().map(url_pairs).unwrap_or_default(),
            raw: request.body().and_then(reqwest::Body::as_bytes),
            body: std::sync::OnceLock::new(),
        }
    }

    /// The last value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn parsed(&self) -> Option<&Value> {
        self.body
            .get_or_init(|| self.raw.and_then(|b| serde_json::from_slice(b).ok()))
            .as_ref()
    }

    /// A body value by JSON pointer.
    pub fn body(&self, pointer: &str) -> Option<&Value> {
        self.parsed()?.pointer(pointer)
    }

    /// The number of items of the body array at `pointer` (0 when there is none).
    pub fn array_len(&self, pointer: &str) -> i64 {
        let len = match (self.body.get(), &self.raw) {
            (Some(parsed), _) => parsed
                .as_ref()
                .and_then(|b| b.pointer(pointer))
                .and_then(Value::as_array)
                .map(Vec::len),
            (None, Some(raw)) => crate::probe::array_len(raw, pointer),
            (None, None) => None,
        };
        len.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn as_count(name: &str, value: &Value) -> Result<i64, CostError> {
    match value {
        Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
        Value::String(s) => s.trim().parse::<i64>().ok().filter(|n| *n >= 0),
        _ => None,
    }
    .ok_or_else(|| CostError::NotANumber {
        parameter: name.trim_start_matches('/').to_owned(),
        value: value.to_string(),
    })
}

fn body_count(view: &RequestView<'_>, pointer: &str, default: i64) -> Result<i64, CostError> {
    match view.body(pointer) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => as_count(pointer, v),
    }
}

fn array_len(view: &RequestView<'_>, pointer: &str) -> i64 {
    view.array_len(pointer)
}

fn is_true(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

impl CostRule {
    /// The most a request may cost under this rule.
    pub fn max_cost(&self, view: &RequestView<'_>) -> Result<i64, CostError> {
        Ok(match *self {
            CostRule::Free => 0,
            CostRule::Fixed(n) => n,
            CostRule::QueryLimit {
                parameter,
                per_unit,
                default,
            } => {
                let units = match view.query(parameter) {
                    None => default,
                    Some(v) => as_count(parameter, &Value::String(v.to_owned()))?,
                };
                units.saturating_mul(per_unit)
            }
            CostRule::BodyLimit {
                pointer,
                per_unit,
                default,
            } => body_count(view, pointer, default)?.saturating_mul(per_unit),
            CostRule::PerItem { pointers, per_item } => pointers
                .iter()
                .map(|p| array_len(view, p))
                .sum::<i64>()
                .saturating_mul(per_item),
            CostRule::QueryFlags { flags } => flags
                .iter()
                .filter(|(name, _)| view.query(name).is_some_and(|v| v == "true"))
                .map(|(_, cost)| cost)
                .sum(),
            CostRule::ItemFlags { items, flags } => view
                .body(items)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|item| {
                            flags
                                .iter()
                                .filter(|(f, _)| is_true(item.get(*f)))
                                .map(|(_, c)| c)
                                .sum::<i64>()
                        })
                        .sum()
                })
                .unwrap_or(0),
            CostRule::ItemFields {
                items,
                names,
                costs,
            } => {
                let per_item: i64 = match view.body(names).and_then(Value::as_array) {
                    Some(chosen) => {
                        let chosen: BTreeSet<&str> =
                            chosen.iter().filter_map(Value::as_str).collect();
                        costs
                            .iter()
                            .filter(|(n, _)| chosen.contains(n))
                            .map(|(_, c)| c)
                            .sum()
                    }
                    None => costs.iter().map(|(_, c)| c).sum(),
                };
                array_len(view, items).saturating_mul(per_item)
            }
            CostRule::PerResult {
                pointer,
                per_result,
                default,
            } => body_count(view, pointer, default)?.saturating_mul(per_result),
            CostRule::PagedSearch {
                free_pages,
                free_results,
                per_result,
                default_page_size,
            } => {
                let page = body_count(view, "/page", 1)?.max(1);
                let size = body_count(view, "/pageSize", default_page_size)?;
                paged_search_results(page, size, free_pages, free_results)
                    .saturating_mul(per_result)
            }
            CostRule::Export { flags, default_max } => {
                let leads = match view.body("/leadIds").and_then(Value::as_array) {
                    Some(ids) => i64::try_from(ids.len()).unwrap_or(i64::MAX),
                    None => body_count(view, "/maxResults", default_max)?,
                };
                let per_lead: i64 = flags
                    .iter()
                    .filter(|(f, _)| is_true(view.body(&format!("/{f}"))))
                    .map(|(_, c)| c)
                    .sum();
                leads.saturating_mul(per_lead)
            }
        })
    }

    /// The request parameter to lower to make the request cheaper, for error messages.
    pub fn parameter(&self) -> Option<&'static str> {
        match *self {
            CostRule::QueryLimit { parameter, .. } => Some(parameter),
            CostRule::BodyLimit { pointer, .. } | CostRule::PerResult { pointer, .. } => {
                Some(pointer.trim_start_matches('/'))
            }
            CostRule::PerItem { pointers, .. } => {
                pointers.first().map(|p| p.trim_start_matches('/'))
            }
            CostRule::ItemFlags { items, .. } | CostRule::ItemFields { items, .. } => {
                Some(items.trim_start_matches('/'))
            }
            CostRule::PagedSearch { .. } => Some("pageSize"),
            CostRule::Export { .. } => Some("maxResults"),
            CostRule::QueryFlags { .. } => Some("reveal_* flags"),
            CostRule::Free | CostRule::Fixed(_) => None,
        }
    }
}

/// How many results of page `page` (1-based) of `size` results are past the free allowance: the
/// first `free_pages` pages or the first `free_results` results, whichever ends first.
pub fn paged_search_results(page: i64, size: i64, free_pages: i64, free_results: i64) -> i64 {
    let size = size.max(0);
    let free_end = free_pages.saturating_mul(size).min(free_results).max(0);
    let first = page.saturating_sub(1).max(0).saturating_mul(size);
    if first >= free_end {
        return size;
    }
    first
        .saturating_add(size)
        .saturating_sub(free_end)
        .clamp(0, size)
}

/// A provider's cost model: its unit, a rule per operation, and where answers report what a call
/// cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostModel {
    /// What the provider bills in.
    pub unit: Unit,
    /// `(operation id, rule)`; operations not listed are free.
    pub rules: &'static [(&'static str, CostRule)],
    /// JSON pointers, in order, to the cost an answer reports (`/rows_returned`,
    /// `/meta/creditsUsed`); empty when answers do not say (the estimate is recorded instead).
    pub actual: &'static [&'static str],
    /// JSON pointer to credits an answer reports as refunded (`/meta/creditsRefunded`).
    pub refunded: Option<&'static str>,
    /// Operations whose answers settle what an earlier call reserved (batch results, job
    /// polls): what they report as used was already recorded on submit, so only the refund is
    /// recorded, and only once per settled resource (the request path), since later fetches
    /// repeat the same settlement.
    pub settlements: &'static [&'static str],
}

impl CostModel {
    /// The rule of an operation (free when not listed).
    pub fn rule(&self, operation: &str) -> CostRule {
        self.rules
            .iter()
            .find(|(op, _)| *op == operation)
            .map_or(CostRule::Free, |(_, r)| *r)
    }
}

/// A spending limit attached to a client, in the provider's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The unit.
    pub unit: Unit,
    /// The most the client may spend.
    pub limit: i64,
}

impl Budget {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

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
        let mut state = self.lock();
        if let Some(budget) = budget {
            let remaining = budget
                .limit
                .saturating_sub(state.totals.spent())
                .saturating_sub(state.totals.reserved);
            if amount > remaining {
                return Err(CostRefusal {
                    operation: operation.to_owned(),
                    unit,
                    needed: amount,
                    remaining: remaining.max(0),
                    parameter: parameter.map(str::to_owned),
                });
            }
        }
        state.totals.reserved = state.totals.reserved.saturating_add(amount);
        Ok(Reservation {
            ledger: Arc::clone(self),
            operation: operation.to_owned(),
            unit,
            amount,
            sent: false,
            open: true,
            report: None,
        })
    }

    /// Whether the settlement of `resource` is seen for the first time (and marks it seen).
    /// Remembers the last [`SETTLEMENT_MEMORY`] resources.
    pub(crate) fn first_settlement(&self, resource: &str) -> bool {
        let mut state = self.lock();
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

    fn close(&self, reserved: i64, usage: Option<Usage>) {
        let mut state = self.lock();
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
        let mut state = self.lock();
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
        self.lock().balance = Some((remaining, source.to_owned()));
    }

    /// The most recent entries, oldest first (at most the ledger's window).
    pub fn entries(&self) -> Vec<Usage> {
        self.lock().recent.iter().cloned().collect()
    }

    /// Running totals over every call.
    pub fn totals(&self) -> Totals {
        self.lock().totals
    }

    /// What the recorded calls cost in total (charged minus refunded, never below zero),
    /// including calls that are only possibly charged.
    pub fn spent(&self) -> i64 {
        self.lock().totals.spent()
    }

    /// What calls in flight have reserved.
    pub fn reserved(&self) -> i64 {
        self.lock().totals.reserved
    }

    /// The last balance an account endpoint reported, and which operation reported it.
    pub fn reported_balance(&self) -> Option<(i64, String)> {
        self.lock().balance.clone()
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
    report: Option<Arc<Mutex<Option<crate::shared::Settlement>>>>,
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

    /// Also writes how the reservation ends into `slot` (as reported, before the ledger's own
    /// checks): the shared store settles its lease from it.
    pub(crate) fn report_to(&mut self, slot: Arc<Mutex<Option<crate::shared::Settlement>>>) {
        self.report = Some(slot);
    }

    fn report(&self, charged: i64, refunded: i64, uncertain: bool) {
        if let Some(slot) = &self.report {
            *slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(crate::shared::Settlement {
                    charged,
                    refunded,
                    uncertain,
                });
        }
    }

    /// Releases the reservation and records what the call cost.
    pub fn settle(mut self, usage: Usage) {
        self.open = false;
        self.report(
            usage.charged,
            usage.refunded,
            usage.basis == Basis::Uncertain,
        );
        let record = usage.charged != 0 || usage.refunded != 0 || usage.estimated != 0;
        self.ledger.close(self.amount, record.then_some(usage));
    }

    /// Releases the reservation: nothing was charged.
    pub fn release(mut self) {
        self.open = false;
        self.report(0, 0, false);
        self.ledger.close(self.amount, None);
    }

    /// Records the call as possibly charged at its maximum (no answer after it may have been
    /// received), with the status of a partial answer if any.
    pub fn uncertain(mut self, status: u16) {
        self.open = false;
        self.report(self.amount, 0, true);
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
        self.report(if self.sent { self.amount } else { 0 }, 0, self.sent);
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

/// What an answer reports a call cost, checked: `(charged, refunded, anomaly)`. `None` when the
/// answer does not say. `found` gives the value at a JSON pointer of the answer.
pub(crate) fn reported_cost(
    model: &CostModel,
    found: impl Fn(&str) -> Option<Value>,
    estimate: i64,
) -> Option<(i64, i64, Option<String>)> {
    let raw = model
        .actual
        .iter()
        .find_map(|p| found(p).filter(|v| !v.is_null()))?;
    let mut anomaly = None;
    let charged = match raw.as_i64() {
        Some(n) if n < 0 => {
            anomaly = Some(format!("reported a negative cost ({n}); recorded 0"));
            0
        }
        Some(n) => n,
        None => {
            anomaly = Some(format!(
                "reported a cost that is not an integer ({raw}); recorded the estimate {estimate}"
            ));
            estimate
        }
    };
    let refunded = match model.refunded.and_then(&found) {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => n,
            _ => {
                anomaly.get_or_insert_with(|| {
                    format!(
                        "reported a refund that is not a non-negative integer ({v}); recorded 0"
                    )
                });
                0
            }
        },
    };
    Some((charged, refunded, anomaly))
}

/// A per-client copy of the cost rules, so the constants can be changed.
#[derive(Clone, Debug)]
pub(crate) struct CostTable {
    pub(crate) model: CostModel,
    pub(crate) overrides: BTreeMap<String, CostRule>,
}

impl CostTable {
    pub(crate) fn rule(&self, operation: &str) -> CostRule {
        self.overrides
            .get(operation)
            .copied()
            .unwrap_or_else(|| self.model.rule(operation))
    }
}

#[cfg(test)]
mod tests {
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
                budget,
                "list_connections",
                30,
                Some("connection_limit"),
                Unit::Rows,
            )
            .unwrap();
        r.settle(usage(5, 0));
        assert_eq!(ledger.spent(), 5);
        let refusal = ledger
            .reserve(budget, "find_paths", 190, Some("path_limit"), Unit::Rows)
            .unwrap_err();
        assert_eq!((refusal.needed, refusal.remaining), (190, 95));
        assert_eq!(
            refusal.to_string(),
            "find_paths may cost up to 190 rows but the budget has 95 left; lower `path_limit`"
        );
        // Reservations of calls in flight count.
        let held = ledger
            .reserve(budget, "find_paths", 57, Some("path_limit"), Unit::Rows)
            .unwrap();
        assert_eq!(
            ledger
                .reserve(budget, "find_paths", 57, None, Unit::Rows)
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
        assert_eq!(ledger.lock().settled.len(), SETTLEMENT_MEMORY);
    }
}
