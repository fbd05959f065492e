//! Pricing: the most a request may cost, from its query and body, and what an answer reports
//! it cost.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::vocab::Unit;

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
    /// The raw query, decoded into pairs the first time a rule reads a parameter.
    raw_query: &'a str,
    query: std::sync::OnceLock<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    raw: Option<&'a [u8]>,
    body: std::sync::OnceLock<Option<Value>>,
}

impl RequestView<'static> {
    /// A view of a query string (`a=1&b=2`, without `?`) and an optional JSON body.
    pub fn from_parts(query: &str, body: Option<Value>) -> Self {
        let view = RequestView {
            raw_query: "",
            query: std::sync::OnceLock::from(
                url_pairs(query)
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect::<Vec<_>>(),
            ),
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
            raw_query: request.url().query().unwrap_or(""),
            query: std::sync::OnceLock::new(),
            raw: request.body().and_then(reqwest::Body::as_bytes),
            body: std::sync::OnceLock::new(),
        }
    }

    /// The last value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        if self.query.get().is_none() {
            // A value without escapes is read where it lies in the URL: no pair is kept.
            match url_pairs(self.raw_query).filter(|(k, _)| k == name).last() {
                None => return None,
                Some((_, Cow::Borrowed(value))) => return Some(value),
                Some((_, Cow::Owned(_))) => {}
            }
        }
        self.query
            .get_or_init(|| url_pairs(self.raw_query).collect())
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
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

/// A query's decoded pairs, borrowed from it where nothing needed decoding.
fn url_pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
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
    /// `(operation id, [(credit type, weight)])`: the credit types a charge of the operation
    /// uses, its amount shared between them in proportion to their weights (RocketReach's
    /// legacy person lookup: `[("lookup", 1), ("person_export", 1)]`). An operation not listed
    /// charges the one type named after the unit (`credits` or `rows`).
    pub credit_types: &'static [(&'static str, &'static [(&'static str, i64)])],
}

/// One credit type's share of a charge.
pub type CreditShare = (&'static str, i64);

impl CostModel {
    /// The credit types an operation's charges use, with their weights.
    pub fn credit_weights(&self, operation: &str) -> &'static [(&'static str, i64)] {
        match self.credit_types.iter().find(|(op, _)| *op == operation) {
            Some((_, weights)) if !weights.is_empty() => weights,
            _ => match self.unit {
                Unit::Credits => &[("credits", 1)],
                Unit::Rows => &[("rows", 1)],
            },
        }
    }

    /// Every credit type the provider's charges use, in the order of the table (the unit's
    /// name for operations the table does not list comes first when any charged operation is
    /// missing from it).
    pub fn credit_type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        let unlisted = self.rules.iter().any(|(op, rule)| {
            *rule != CostRule::Free && !self.credit_types.iter().any(|(o, _)| o == op)
        });
        if unlisted || self.credit_types.is_empty() {
            names.extend(self.credit_weights("").iter().map(|(name, _)| *name));
        }
        for (_, weights) in self.credit_types {
            for (name, _) in *weights {
                if !names.contains(name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// How `amount` of a charge of `operation` is shared between its credit types: in
    /// proportion to their weights, rounded down, what rounding leaves going to the first
    /// types one each. The shares add up to `amount` (a negative amount is shared as 0).
    pub fn credit_split(&self, operation: &str, amount: i64) -> Vec<CreditShare> {
        let weights = self.credit_weights(operation);
        let amount = amount.max(0);
        let total: i64 = weights.iter().map(|(_, w)| (*w).max(0)).sum();
        if total <= 0 {
            return weights.iter().map(|(name, _)| (*name, 0)).collect();
        }
        let mut shares: Vec<CreditShare> = weights
            .iter()
            .map(|(name, w)| {
                let share = i128::from(amount) * i128::from((*w).max(0)) / i128::from(total);
                (*name, i64::try_from(share).unwrap_or(amount))
            })
            .collect();
        let mut left = amount.saturating_sub(shares.iter().map(|(_, s)| *s).sum());
        for (share, _) in shares.iter_mut().zip(weights).filter(|(_, (_, w))| *w > 0) {
            if left <= 0 {
                break;
            }
            share.1 += 1;
            left -= 1;
        }
        shares
    }

    /// The share of `credit_type` in `amount` of a charge of `operation` (0 when it uses
    /// another type).
    pub fn credit_share(&self, operation: &str, amount: i64, credit_type: &str) -> i64 {
        self.credit_split(operation, amount)
            .into_iter()
            .filter(|(name, _)| *name == credit_type)
            .map(|(_, share)| share)
            .sum()
    }

    /// The rule of an operation (free when not listed).
    pub fn rule(&self, operation: &str) -> CostRule {
        self.rules
            .iter()
            .find(|(op, _)| *op == operation)
            .map_or(CostRule::Free, |(_, r)| *r)
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
    use super::RequestView;

    fn request(url: &str) -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap())
    }

    #[test]
    fn a_query_parameter_is_its_last_value_decoded() {
        let plain = request("http://127.0.0.1/api?limit=1&name=Tesla&limit=7");
        let view = RequestView::of(&plain);
        assert_eq!(view.query("limit"), Some("7"));
        assert_eq!(view.query("name"), Some("Tesla"));
        assert_eq!(view.query("missing"), None);
        // Escapes are decoded (the pairs are then kept), in the value and in the name.
        let escaped = request("http://127.0.0.1/api?limit=2%35&n%61me=Tesla+Inc&limit=3");
        let view = RequestView::of(&escaped);
        assert_eq!(view.query("name"), Some("Tesla Inc"));
        assert_eq!(view.query("limit"), Some("3"));
        let last_escaped = request("http://127.0.0.1/api?limit=3&limit=%31%32");
        assert_eq!(RequestView::of(&last_escaped).query("limit"), Some("12"));
        let none = request("http://127.0.0.1/api");
        assert_eq!(RequestView::of(&none).query("limit"), None);
    }
}
