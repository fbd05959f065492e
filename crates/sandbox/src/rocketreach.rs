//! RocketReach, imitated (docs/providers/rocketreach.md): legacy and Universal Credits accounts
//! (each refuses the other family's endpoints with 403), credits taken per lookup and per
//! reveal flag, lookups that are `searching` when answered and `complete` once the sandbox's
//! job duration has passed (`checkStatus` follows them), start/next and page searches over a
//! deterministic result set, bulk lookups, and key rotation.
//!
//! Names containing `nobody` find no one: 404 `Could not find the person...`, nothing charged.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Provider;
use crate::engine::{
    AltKey, Behaviour, Call, Envelope, JobClock, Kind, Refusal, Reply, ReplyBody, Server, Style,
    lock, set,
};

/// Credits of each reveal flag of a universal lookup (docs/providers/rocketreach.md, Credits).
const REVEALS: [(&str, i64, &[&str]); 5] = [
    (
        "reveal_professional_email",
        2,
        &[
            "recommended_professional_email",
            "current_work_email",
            "recommended_email",
            "emails",
        ],
    ),
    (
        "reveal_personal_email",
        3,
        &[
            "recommended_personal_email",
            "current_personal_email",
            "recommended_email",
            "emails",
        ],
    ),
    ("reveal_phone", 6, &["phones"]),
    (
        "reveal_detailed_person_enrichment",
        1,
        &["job_history", "education", "skills", "links"],
    ),
    ("reveal_healthcare_enrichment", 1, &["npi_data"]),
];

/// Every field a reveal flag unlocks.
fn gated() -> impl Iterator<Item = &'static str> {
    REVEALS
        .iter()
        .flat_map(|(_, _, fields)| fields.iter().copied())
}

/// Legacy credits per operation (docs/providers/rocketreach.md: lookup + exports).
const LEGACY_COSTS: [(&str, i64); 3] = [
    ("create_person_lookup", 2),
    ("create_person_and_company_lookup", 3),
    ("create_company_lookup", 1),
];

/// The legacy credit types each charged operation spends, one credit of each per lookup (a bulk
/// lookup: one `person_export` per query). RocketReach's account lists its credit types
/// (`credit_usage`); the sandbox keeps one pool of credits and reports each type's use of it.
const LEGACY_TYPES: [(&str, &[&str]); 4] = [
    ("create_person_lookup", &["lookup", "person_export"]),
    (
        "create_person_and_company_lookup",
        &["lookup", "person_export", "company_export"],
    ),
    ("create_company_lookup", &["company_export"]),
    ("create_person_bulk_lookup", &["person_export"]),
];

/// The credit types the legacy account reports, in its order.
const LEGACY_TYPE_NAMES: [&str; 3] = ["lookup", "person_export", "company_export"];

/// The universal credit action of each operation, for `credit_usage_by_action`.
const ACTIONS: [(&str, &str); 5] = [
    ("create_universal_person_search", "PersonSearch"),
    ("create_universal_company_search", "CompanySearch"),
    ("create_universal_person_lookup", "PersonEnrichment"),
    ("create_universal_person_bulk_lookup", "PersonEnrichment"),
    ("create_universal_company_lookup", "CompanyEnrichment"),
];

/// Results every search matches, in the sandbox's data set.
const SEARCH_TOTAL: i64 = 237;

struct Lookup {
    profile: Value,
    clock: JobClock,
    owner: usize,
}

/// The RocketReach behaviour.
pub(crate) struct RocketReach {
    lookups: Mutex<BTreeMap<i64, Lookup>>,
    job: Duration,
}

/// What identifies the person a lookup asks about, in one form: the id; else the LinkedIn URL
/// (no scheme, `www.`, query or trailing `/`, lower-cased), the e-mail (lower-cased), the
/// phone, the NPI number, or the name at the employer.
fn person_identity(call: &Call<'_>) -> String {
    if let Some(id) = call.int_param("id") {
        return format!("id:{id}");
    }
    let text = |name: &str| call.param(name).map(|v| v.trim().to_lowercase());
    if let Some(url) = text("linkedin_url").or_else(|| text("linkedin_ext_url")) {
        let bare = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned();
        let bare = bare
            .find("linkedin.com/")
            .map_or(bare.clone(), |at| bare[at..].to_owned());
        return format!("linkedin:{bare}");
    }
    for field in ["email", "phone", "npi_number"] {
        if let Some(v) = text(field) {
            return format!("{field}:{v}");
        }
    }
    format!(
        "name:{}@{}",
        text("name").unwrap_or_default(),
        text("current_employer").unwrap_or_default()
    )
}

/// The profile id of a person asked about without an id: from the identity, stable.
fn person_id(identity: &str) -> i64 {
    let hex = crate::synth::Rng::seeded(&format!("rocketreach id {identity}")).hex(12);
    1_000_000 + i64::from_str_radix(&hex, 16).unwrap_or(0) % 9_000_000
}

fn owner_of(call: &Call<'_>) -> usize {
    std::sync::Arc::as_ptr(&call.account) as usize
}

/// The credits of a universal lookup's reveal flags, read from the query or a bulk item.
fn reveal_cost(flag: impl Fn(&str) -> bool) -> i64 {
    REVEALS
        .iter()
        .filter(|(name, _, _)| flag(name))
        .map(|(_, cost, _)| cost)
        .sum()
}

impl RocketReach {
    fn universal_family(call: &Call<'_>) -> Result<(), Refusal> {
        let universal_op = call.op.template.starts_with("/universal/");
        let account_op = call.op.template.starts_with("/account/key");
        if account_op {
            return Ok(());
        }
        match (universal_op, call.account.universal) {
            (true, false) => Err(Refusal::new(
                Kind::Forbidden,
                "These endpoints require Universal Credits.",
            )),
            (false, true) => Err(Refusal::new(
                Kind::Forbidden,
                "Please use the Universal Credit endpoints.",
            )),
            _ => Ok(()),
        }
    }

    fn lookup(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let identified = [
            "id",
            "linkedin_url",
            "linkedin_ext_url",
            "email",
            "phone",
            "npi_number",
        ]
        .iter()
        .any(|p| call.params.contains_key(*p))
            || (call.params.contains_key("name") && call.params.contains_key("current_employer"));
        if !identified {
            return Err(Refusal::new(
                Kind::Validation,
                "Provide an identifier: id, linkedin_url, email, phone, npi_number, or name with current_employer.",
            ));
        }
        if call
            .param("name")
            .is_some_and(|n| n.to_lowercase().contains("nobody"))
        {
            return Err(Refusal::new(
                Kind::NotFound,
                "Could not find the person you were searching for!",
            ));
        }
        let universal = call.op.id == "create_universal_person_lookup";
        let cost = if universal {
            let cost = reveal_cost(|f| call.flag(f));
            if cost == 0 {
                return Err(Refusal::new(
                    Kind::Validation,
                    "Please specify at least one enrichment type to perform a person lookup",
                )
                .with(
                    "non_field_errors",
                    json!([
                        "Please specify at least one enrichment type to perform a person lookup"
                    ]),
                ));
            }
            cost
        } else {
            LEGACY_COSTS
                .iter()
                .find(|(op, _)| *op == call.op.id)
                .map_or(0, |(_, c)| *c)
        };
        call.charge(cost, "lookup")?;
        // One person per identifier: the same id, LinkedIn URL, e-mail, phone or name at an
        // employer gives the same person (and the same id) on every call and after a restart.
        let subject = person_identity(call);
        let id = match call.int_param("id") {
            Some(id) => id,
            None => person_id(&subject),
        };
        let mut profile = call.synthesize_as(&format!("rocketreach person {subject}"));
        set(&mut profile, "id", json!(id));
        set(&mut profile, "status", json!("searching"));
        if universal && let Some(o) = profile.as_object_mut() {
            let revealed: Vec<&str> = REVEALS
                .iter()
                .filter(|(flag, _, _)| call.flag(flag))
                .flat_map(|(_, _, fields)| fields.iter().copied())
                .collect();
            for field in gated() {
                if !revealed.contains(&field) {
                    o.remove(field);
                }
            }
        }
        let mut first = profile.clone();
        if !call.flag("return_cached_emails")
            && let Some(o) = first.as_object_mut()
        {
            // Without cached emails, every email field stays empty until the search completes.
            for field in [
                "recommended_email",
                "recommended_personal_email",
                "recommended_professional_email",
                "current_work_email",
                "current_personal_email",
            ] {
                if o.contains_key(field) {
                    o.insert(field.into(), Value::Null);
                }
            }
            if o.contains_key("emails") {
                o.insert("emails".into(), json!([]));
            }
        }
        lock(&self.lookups).insert(
            id,
            Lookup {
                profile,
                clock: JobClock {
                    started: Instant::now(),
                    duration: self.job,
                },
                owner: owner_of(call),
            },
        );
        Ok(Reply {
            status: None,
            body: ReplyBody::Json(first),
            headers: vec![(
                axum::http::HeaderName::from_static("rr-request-id"),
                crate::synth::Rng::seeded(&format!("rr/{id}")).hex(32),
            )],
        })
    }

    fn check_status(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let ids: Vec<i64> = call
            .params
            .get("ids")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let lookups = lock(&self.lookups);
        let owner = owner_of(call);
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|id| lookups.get(id).filter(|l| l.owner == owner))
            .map(|l| {
                let mut p = l.profile.clone();
                let status = if l.clock.done() {
                    "complete"
                } else if l.clock.progress() > 0.5 {
                    "progress"
                } else {
                    "searching"
                };
                set(&mut p, "status", json!(status));
                if status != "complete"
                    && let Some(o) = p.as_object_mut()
                {
                    for field in ["recommended_email", "current_work_email"] {
                        if o.contains_key(field) {
                            o.insert(field.into(), Value::Null);
                        }
                    }
                }
                p
            })
            .collect();
        if found.is_empty() {
            return Err(Refusal::new(
                Kind::NotFound,
                format!("No lookup with the ids {ids:?}"),
            ));
        }
        Ok(Reply::json(Value::Array(found)))
    }

    fn search(call: &Call<'_>, companies: bool) -> Result<Reply, Refusal> {
        let universal = call.op.template.starts_with("/universal/");
        let start = call
            .body_at("/start")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        let default_size = if universal { 100 } else { 10 };
        let size = call
            .body_at("/page_size")
            .and_then(Value::as_i64)
            .unwrap_or(default_size)
            .max(1);
        if universal {
            call.charge(if companies { 2 } else { 1 }, "page")?;
        }
        let count = SEARCH_TOTAL
            .saturating_sub(start)
            .saturating_add(1)
            .clamp(0, size);
        let row_schema = if companies {
            "CompanySearchRow"
        } else {
            "PersonSearchRow"
        };
        let mut synth = call.synth();
        let rows: Vec<Value> = (0..count)
            .map(|i| {
                let mut row =
                    synth.value(&json!({"$ref": format!("#/components/schemas/{row_schema}")}));
                set(&mut row, "id", json!(start.saturating_add(1_000_000 + i)));
                row
            })
            .collect();
        let next = start.saturating_add(count);
        let body = if companies {
            let page = start.saturating_sub(1) / size + 1;
            json!({"companies": rows, "pagination": {"total": SEARCH_TOTAL, "thisPage": page,
                   "nextPage": if next <= SEARCH_TOTAL { json!(page.saturating_add(1)) } else { Value::Null }, "pageSize": size}})
        } else {
            json!({"profiles": rows, "pagination": {"start": start,
                   "next": if next <= SEARCH_TOTAL { json!(next) } else { Value::Null }, "total": SEARCH_TOTAL}})
        };
        Ok(Reply::json(body))
    }

    fn bulk(call: &Call<'_>) -> Result<Reply, Refusal> {
        let queries = call
            .body_at("/queries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cost: i64 = if call.op.id == "create_universal_person_bulk_lookup" {
            queries
                .iter()
                .map(|q| reveal_cost(|f| q.get(f).and_then(Value::as_bool) == Some(true)))
                .sum()
        } else {
            i64::try_from(queries.len()).unwrap_or(i64::MAX)
        };
        call.charge(cost, "bulk lookup")?;
        Ok(Reply {
            status: None,
            body: ReplyBody::Empty,
            headers: vec![(
                axum::http::HeaderName::from_static("rr-request-id"),
                crate::synth::Rng::seeded(&format!("bulk/{}", call.key)).hex(32),
            )],
        })
    }

    fn account(call: &Call<'_>) -> Value {
        let mut answer = call.synthesize();
        let remaining = call.account.remaining();
        let spent = call.account.spent();
        if call.op.id == "get_universal_account" {
            set(
                &mut answer,
                "credit_usage",
                json!({"credits_allocated": remaining + spent, "credits_used": spent,
                       "credits_remaining": remaining, "last_synced": "2026-01-01T00:00:00"}),
            );
            let mut by_action: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for charge in call.account.charges() {
                if let Some((_, action)) = ACTIONS.iter().find(|(op, _)| *op == charge.operation) {
                    let entry = by_action.entry(action).or_default();
                    entry.0 += 1;
                    entry.1 += charge.amount;
                }
            }
            let list: Vec<Value> = by_action
                .into_iter()
                .map(|(action, (count, credits))| json!({"credit_action": action, "attempted_count": count,
                      "succeeded_count": count, "credits_used": credits, "last_synced": "2026-01-01T00:00:00"}))
                .collect();
            set(&mut answer, "credit_usage_by_action", Value::Array(list));
            set(&mut answer, "api_key", json!(call.key));
        } else {
            // Each charge is shared evenly between the types its operation spends.
            let mut used: BTreeMap<&str, i64> = BTreeMap::new();
            for charge in call.account.charges() {
                if let Some((_, types)) =
                    LEGACY_TYPES.iter().find(|(op, _)| *op == charge.operation)
                {
                    let each = charge.amount / i64::try_from(types.len()).unwrap_or(1);
                    for t in *types {
                        *used.entry(t).or_default() += each;
                    }
                }
            }
            let list: Vec<Value> = LEGACY_TYPE_NAMES
                .iter()
                .map(|t| {
                    let used = used.get(t).copied().unwrap_or(0);
                    json!({"credit_type": t, "allocated": remaining + used, "used": used,
                           "remaining": remaining})
                })
                .collect();
            set(&mut answer, "credit_usage", Value::Array(list));
        }
        set(&mut answer, "state", json!("registered"));
        // The key's own rate plan, as the account endpoints report limits.
        let limits: Vec<Value> = call
            .account
            .plan()
            .map(|plan| {
                let duration = if plan.per_seconds == 1 {
                    "second"
                } else {
                    "minute"
                };
                json!({"action": "api", "duration": duration, "limit": plan.requests,
                       "used": 0, "remaining": plan.requests})
            })
            .into_iter()
            .collect();
        set(&mut answer, "rate_limits", Value::Array(limits));
        answer
    }
}

impl Behaviour for RocketReach {
    fn check(&self, call: &Call<'_>) -> Result<(), Refusal> {
        Self::universal_family(call)
    }

    fn handle(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        match call.op.id.as_str() {
            "create_person_lookup"
            | "create_person_and_company_lookup"
            | "create_universal_person_lookup" => self.lookup(call),
            "check_person_lookup_status" | "check_universal_person_lookup_status" => {
                self.check_status(call)
            }
            "create_person_search" | "create_universal_person_search" => Self::search(call, false),
            "create_company_search" | "create_universal_company_search" => Self::search(call, true),
            "create_person_bulk_lookup" | "create_universal_person_bulk_lookup" => Self::bulk(call),
            "create_company_lookup" | "create_universal_company_lookup" => {
                // 1 company_export credit (legacy) or 1 CompanyEnrichment credit (universal).
                let cost = 1;
                if !["domain", "id", "linkedin_url", "name", "ticker"]
                    .iter()
                    .any(|p| call.params.contains_key(*p))
                {
                    return Err(Refusal::new(
                        Kind::Validation,
                        "Provide one of domain, id, linkedin_url, name or ticker.",
                    ));
                }
                call.charge(cost, "company lookup")?;
                Ok(Reply::json(call.synthesize()))
            }
            "get_account" | "get_universal_account" => Ok(Reply::json(Self::account(call))),
            "create_new_api_key" => {
                // A new key reaches the account; the old one stops working.
                let fresh = crate::synth::Rng::seeded(&format!("{}/rotated", call.key)).hex(34);
                call.accounts.rotate(&call.key, &fresh);
                Ok(Reply::json(json!({"api_key": fresh})))
            }
            _ => Ok(Reply::json(call.synthesize())),
        }
    }
}

/// The RocketReach server.
pub(crate) fn server(job: Duration) -> Result<Server, String> {
    let style = Style {
        provider: Provider::RocketReach,
        profile: &tollgate_rocketreach::PROFILE,
        alt_keys: &[AltKey::QueryApiKey],
        envelope: Envelope::Detail,
        rate_headers: false,
        throttled: |s| {
            format!(
                "Request was throttled. Expected available in {s} second{}.",
                if s == 1 { "" } else { "s" }
            )
        },
        unauthorized: "Invalid API Key",
        out_of_credits: Some((
            // "insufficient lookup credits" is a 403 at RocketReach (docs/providers/rocketreach.md).
            403,
            "You have insufficient lookup credits. Upgrade at https://rocketreach.co/pricing or contact sales (https://rocketreach.co/custom) to unlock more lookups.",
        )),
    };
    Server::new(
        style,
        include_str!("../specs/rocketreach.json"),
        Box::new(RocketReach {
            lookups: Mutex::default(),
            job,
        }),
    )
}
