//! RocketReach's profile: key header and format, error envelope (and its three kinds of 403), rate plan, credits per operation.
//!
//! The runtime (`tollgate`) names no provider: this crate hands it its profile.

use std::time::Duration;

use tollgate::cache::{CacheProfile, CacheRule, CompletedBy, Normalize, Ready};
use tollgate::cost::{CostModel, CostRule, Unit};
use tollgate::profile::{AuthScheme, ErrorEnvelope, KeyCharset, KeyFormat, Profile, RateLimitPlan};
use tollgate::ErrorKind;

const DAY: u64 = 86_400;

/// RocketReach answers 403 for three different things; the message tells them apart.
const CLASSIFY: &[(u16, &str, ErrorKind)] = &[
    (403, "Universal Credit", ErrorKind::WrongPlanFamily),
    (403, "insufficient", ErrorKind::OutOfCredits),
    (403, "Subscribe to a plan", ErrorKind::NoApiAccess),
];

const ROCKETREACH_REVEAL: &[(&str, i64)] = &[
    ("reveal_professional_email", 2),
    ("reveal_personal_email", 3),
    ("reveal_phone", 6),
    ("reveal_detailed_person_enrichment", 1),
    ("reveal_healthcare_enrichment", 1),
];

/// The credit types each charged operation spends (docs/providers/rocketreach.md, Credits):
/// legacy lookups spend one `lookup` credit (RocketReach's account names it by the lookup type:
/// `standard_lookup`, `premium_lookup`, `phone_lookup`, `person_enrich`), one `person_export`,
/// and one `company_export` when a company is returned; a bulk lookup one `person_export` per
/// query; every Universal Credits operation spends `universal` credits.
const CREDIT_TYPES: &[(&str, &[(&str, i64)])] = &[
    (
        "create_person_lookup",
        &[("lookup", 1), ("person_export", 1)],
    ),
    (
        "create_person_and_company_lookup",
        &[("lookup", 1), ("person_export", 1), ("company_export", 1)],
    ),
    ("create_company_lookup", &[("company_export", 1)]),
    ("create_person_bulk_lookup", &[("person_export", 1)]),
    ("create_universal_person_search", &[("universal", 1)]),
    ("create_universal_company_search", &[("universal", 1)]),
    ("create_universal_person_lookup", &[("universal", 1)]),
    ("create_universal_person_bulk_lookup", &[("universal", 1)]),
    ("create_universal_company_lookup", &[("universal", 1)]),
];

/// A person lookup: kept 30 days (people change jobs and addresses; a month keeps what was
/// bought and still current), only once `complete`. A lookup answered `searching`, `progress`
/// or `waiting` is kept when the free status check delivers it complete; `failed` is never
/// kept (it charged nothing).
const fn person_lookup(operation: &'static str, check: &'static str) -> CacheRule {
    CacheRule {
        operation,
        ttl: Duration::from_secs(30 * DAY),
        ready: Some(Ready {
            pointer: "/status",
            complete: &["complete"],
            in_progress: &["searching", "progress", "waiting"],
            completed_by: Some(CompletedBy {
                operation: check,
                id: "/id",
                items: "",
            }),
        }),
        negative: None,
    }
}

/// RocketReach (api.rocketreach.co): `Api-Key` header, errors as `{"detail": "..."}`, 10
/// requests per second, credits (docs/providers/rocketreach.md 3.7, 5.1).
///
/// Legacy lookups count every credit type they may spend (person lookup: lookup + person_export
/// = 2; person and company: 3; company: 1; bulk: 1 export credit per query). Universal lookups
/// count the reveal flags (professional email 2, personal email 3, phone 6, detailed person 1,
/// healthcare 1); universal searches 1 (people) and 2 (companies) per page. Answers do not say
/// what a call cost, so the estimate is recorded for every successful charged call.
pub const PROFILE: Profile = Profile {
    name: "RocketReach",
    base_url: "https://api.rocketreach.co/api/v2",
    auth: AuthScheme::Header {
        name: "Api-Key",
        prefix: "",
    },
    env_var: "ROCKETREACH_API_KEY",
    key_format: KeyFormat {
        prefix: None,
        charset: KeyCharset::LowercaseAlphanumeric,
    },
    errors: ErrorEnvelope {
        message: &["/detail", "/error", "/message", "/non_field_errors/0"],
        code: None,
        retry_after: None,
        request_id_header: Some("RR-Request-ID"),
        request_id: &[],
        classify: CLASSIFY,
    },
    rate_limit: RateLimitPlan::per_second(10),
    cost: CostModel {
        unit: Unit::Credits,
        rules: &[
            ("create_person_lookup", CostRule::Fixed(2)),
            ("create_person_and_company_lookup", CostRule::Fixed(3)),
            ("create_company_lookup", CostRule::Fixed(1)),
            (
                "create_person_bulk_lookup",
                CostRule::PerItem {
                    pointers: &["/queries"],
                    per_item: 1,
                },
            ),
            ("create_universal_person_search", CostRule::Fixed(1)),
            ("create_universal_company_search", CostRule::Fixed(2)),
            (
                "create_universal_person_lookup",
                CostRule::QueryFlags {
                    flags: ROCKETREACH_REVEAL,
                },
            ),
            (
                "create_universal_person_bulk_lookup",
                CostRule::ItemFlags {
                    items: "/queries",
                    flags: ROCKETREACH_REVEAL,
                },
            ),
            ("create_universal_company_lookup", CostRule::Fixed(1)),
        ],
        actual: &[],
        refunded: None,
        settlements: &[],
        credit_types: CREDIT_TYPES,
    },
    replayable: &["create_person_search", "create_company_search"],
    balance: &[("get_universal_account", "/credit_usage/credits_remaining")],
    cache: CacheProfile {
        rules: &[
            person_lookup("create_person_lookup", "check_person_lookup_status"),
            person_lookup(
                "create_person_and_company_lookup",
                "check_person_lookup_status",
            ),
            person_lookup(
                "create_universal_person_lookup",
                "check_universal_person_lookup_status",
            ),
            // Companies change slowly (size, industry, address): a quarter.
            CacheRule::new("create_company_lookup", Duration::from_secs(90 * DAY)),
            CacheRule::new(
                "create_universal_company_lookup",
                Duration::from_secs(90 * DAY),
            ),
            // Search pages shift as RocketReach's index is updated: a week.
            CacheRule::new(
                "create_universal_person_search",
                Duration::from_secs(7 * DAY),
            ),
            CacheRule::new(
                "create_universal_company_search",
                Duration::from_secs(7 * DAY),
            ),
        ],
        fields: &[
            ("email", Normalize::Email),
            ("domain", Normalize::Domain),
            ("linkedin_url", Normalize::LinkedIn),
            ("name", Normalize::Name),
            ("current_employer", Normalize::Name),
            ("title", Normalize::Name),
        ],
    },
};
