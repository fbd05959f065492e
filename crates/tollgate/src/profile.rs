//! Provider profiles: everything that differs between providers, as data. The runtime reads a
//! [`Profile`] and has no per-provider branches.

use std::time::Duration;

use crate::cost::{CostModel, CostRule, Unit};

/// How a provider expects its credential on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// In a request header, as `<name>: <prefix><key>`.
    Header {
        /// The header name, e.g. `Api-Key`.
        name: &'static str,
        /// Written before the key, e.g. `Bearer ` (empty for none).
        prefix: &'static str,
    },
}

/// The characters a key may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCharset {
    /// `a-z` and `0-9`.
    LowercaseAlphanumeric,
    /// Any printable ASCII character except space.
    PrintableAscii,
    /// URL-safe base64 without padding: `A-Z`, `a-z`, `0-9`, `-`, `_`.
    UrlSafeBase64,
}

impl KeyCharset {
    /// Whether `c` is allowed.
    pub fn allows(self, c: char) -> bool {
        match self {
            KeyCharset::LowercaseAlphanumeric => c.is_ascii_lowercase() || c.is_ascii_digit(),
            KeyCharset::PrintableAscii => c.is_ascii_graphic(),
            KeyCharset::UrlSafeBase64 => c.is_ascii_alphanumeric() || c == '-' || c == '_',
        }
    }

    /// A description for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyCharset::LowercaseAlphanumeric => "lowercase letters and digits",
            KeyCharset::PrintableAscii => "printable ASCII characters",
            KeyCharset::UrlSafeBase64 => "letters, digits, `-` and `_` (URL-safe base64)",
        }
    }
}

/// What a well-formed key looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFormat {
    /// A prefix every key starts with (`sk_`, `u-`), if any.
    pub prefix: Option<&'static str>,
    /// The characters allowed after the prefix.
    pub charset: KeyCharset,
}

/// Where a provider's error bodies carry their message, code and hints. Pointers are JSON
/// pointers into the body; the first that is present wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorEnvelope {
    /// Pointers to the human message, in order of preference.
    pub message: &'static [&'static str],
    /// Pointer to a machine-readable code.
    pub code: Option<&'static str>,
    /// Pointer to a body field giving seconds to wait (Enrich's `retryAfter`).
    pub retry_after: Option<&'static str>,
    /// A response header carrying the request id.
    pub request_id_header: Option<&'static str>,
    /// Pointers to a request id in the body.
    pub request_id: &'static [&'static str],
}

/// A provider's documented request rate: `requests` per `per`, with bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitPlan {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period.
    pub per: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

impl RateLimitPlan {
    /// `n` requests per second, bursts of `n`.
    pub const fn per_second(n: u32) -> Self {
        RateLimitPlan {
            requests: n,
            per: Duration::from_secs(1),
            burst: n,
        }
    }
}

/// One provider, as data: the runtime has no per-provider branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// A human name, for messages (`RocketReach`).
    pub name: &'static str,
    /// The production base URL, without a trailing slash.
    pub base_url: &'static str,
    /// How the key is sent.
    pub auth: AuthScheme,
    /// The environment variable the key is read from.
    pub env_var: &'static str,
    /// What a key looks like.
    pub key_format: KeyFormat,
    /// How to read the provider's error bodies.
    pub errors: ErrorEnvelope,
    /// The documented rate limit the client paces itself to.
    pub rate_limit: RateLimitPlan,
    /// What each operation may cost, and where answers report what it cost.
    pub cost: CostModel,
    /// Free operations sent with POST that only read, so resending them is harmless.
    pub replayable: &'static [&'static str],
    /// Operations whose answer reports the account's remaining balance, and where.
    pub balance: &'static [(&'static str, &'static str)],
}

const ROCKETREACH_REVEAL: &[(&str, i64)] = &[
    ("reveal_professional_email", 2),
    ("reveal_personal_email", 3),
    ("reveal_phone", 6),
    ("reveal_detailed_person_enrichment", 1),
    ("reveal_healthcare_enrichment", 1),
];

/// RocketReach (api.rocketreach.co): `Api-Key` header, errors as `{"detail": "..."}`, 10
/// requests per second, credits (reference/rocketreach.md 3.7, 5.1).
///
/// Legacy lookups count every credit type they may spend (person lookup: lookup + person_export
/// = 2; person and company: 3; company: 1; bulk: 1 export credit per query). Universal lookups
/// count the reveal flags (professional email 2, personal email 3, phone 6, detailed person 1,
/// healthcare 1); universal searches 1 (people) and 2 (companies) per page. Answers do not say
/// what a call cost, so the estimate is recorded for every successful charged call.
pub const ROCKETREACH: Profile = Profile {
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
    },
    replayable: &["create_person_search", "create_company_search"],
    balance: &[("get_universal_account", "/credit_usage/credits_remaining")],
};

/// Spider News: `X-API-KEY` header (the `api_key` query parameter also works), billed in rows:
/// `limit` x 1, `connection_limit` x 3, `path_limit` x 19 at most; answers report `rows_returned`.
/// No rate limit is documented; the client paces itself to 10 requests per second.
pub const SPIDERNEWS: Profile = Profile {
    name: "Spider News",
    base_url: "http://96.241.186.201:5173",
    auth: AuthScheme::Header {
        name: "X-API-KEY",
        prefix: "",
    },
    env_var: "SPIDERNEWS_API_KEY",
    key_format: KeyFormat {
        prefix: None,
        charset: KeyCharset::UrlSafeBase64,
    },
    errors: ErrorEnvelope {
        message: &["/message", "/error"],
        code: None,
        retry_after: None,
        request_id_header: None,
        request_id: &[],
    },
    rate_limit: RateLimitPlan::per_second(10),
    cost: CostModel {
        unit: Unit::Rows,
        rules: &[
            (
                "list_entities",
                CostRule::QueryLimit {
                    parameter: "limit",
                    per_unit: 1,
                    default: 10,
                },
            ),
            (
                "list_connections",
                CostRule::QueryLimit {
                    parameter: "connection_limit",
                    per_unit: 3,
                    default: 10,
                },
            ),
            (
                "find_paths",
                CostRule::QueryLimit {
                    parameter: "path_limit",
                    per_unit: 19,
                    default: 3,
                },
            ),
        ],
        actual: &["/rows_returned"],
        refunded: None,
        settlements: &[],
    },
    replayable: &[],
    balance: &[],
};

/// RequestRocket Core API: the raw user token (`u-...`) in `Authorization`, no scheme word;
/// errors `{error, code, status}`; Basic plan 100 requests per minute; no metering.
pub const REQUESTROCKET: Profile = Profile {
    name: "RequestRocket",
    base_url: "https://api.requestrocket.com/api",
    auth: AuthScheme::Header {
        name: "Authorization",
        prefix: "",
    },
    env_var: "REQUESTROCKET_TOKEN",
    key_format: KeyFormat {
        prefix: Some("u-"),
        charset: KeyCharset::PrintableAscii,
    },
    errors: ErrorEnvelope {
        message: &["/error", "/message"],
        code: Some("/code"),
        retry_after: None,
        request_id_header: None,
        request_id: &[],
    },
    rate_limit: RateLimitPlan {
        requests: 100,
        per: Duration::from_secs(60),
        burst: 10,
    },
    cost: CostModel {
        unit: Unit::Credits,
        rules: &[],
        actual: &[],
        refunded: None,
        settlements: &[],
    },
    replayable: &[],
    balance: &[],
};

/// Enrich (enrich.so): `x-api-key: sk_...`; errors as RFC 9457 problems (and three older
/// shapes); Free plan 60 requests per minute with bursts of 5; credits per operation
/// (reference/enrich.md 2.2), reported as `meta.creditsUsed` (batches: `meta.creditsReserved` on
/// submit, `creditsUsed`/`creditsRefunded` at settlement).
pub const ENRICH: Profile = Profile {
    name: "Enrich",
    base_url: "https://dev.enrich.so/api/v3",
    auth: AuthScheme::Header {
        name: "x-api-key",
        prefix: "",
    },
    env_var: "ENRICH_API_KEY",
    key_format: KeyFormat {
        prefix: Some("sk_"),
        charset: KeyCharset::PrintableAscii,
    },
    errors: ErrorEnvelope {
        message: &["/detail", "/message", "/error", "/title"],
        code: Some("/type"),
        retry_after: Some("/retryAfter"),
        request_id_header: None,
        request_id: &["/instance", "/meta/requestId"],
    },
    rate_limit: RateLimitPlan {
        requests: 60,
        per: Duration::from_secs(60),
        burst: 5,
    },
    cost: CostModel {
        unit: Unit::Credits,
        rules: &[
            ("start_count_estimate", CostRule::Fixed(100)),
            (
                "start_company_follower_scrape",
                CostRule::BodyLimit {
                    pointer: "/max_limit",
                    per_unit: 100,
                    default: 0,
                },
            ),
            ("validate_email", CostRule::Fixed(1)),
            (
                "validate_email_batch",
                CostRule::PerItem {
                    pointers: &["/emails"],
                    per_item: 1,
                },
            ),
            ("find_email", CostRule::Fixed(10)),
            (
                "find_email_batch",
                CostRule::PerItem {
                    pointers: &["/leads"],
                    per_item: 10,
                },
            ),
            ("find_phones", CostRule::Fixed(500)),
            (
                "find_phones_bulk",
                CostRule::PerItem {
                    pointers: &["/emails", "/linkedins"],
                    per_item: 500,
                },
            ),
            ("reverse_lookup", CostRule::Fixed(10)),
            (
                "reverse_lookup_bulk",
                CostRule::PerItem {
                    pointers: &["/emails"],
                    per_item: 10,
                },
            ),
            (
                "search_leads",
                CostRule::PagedSearch {
                    free_pages: 3,
                    per_result: 1,
                    default_page_size: 25,
                },
            ),
            (
                "export_leads",
                CostRule::Export {
                    flags: &[
                        ("includeContactInfo", 535),
                        ("includeEmail", 10),
                        ("includePhone", 525),
                        ("includeNames", 1),
                    ],
                    default_max: 1000,
                },
            ),
            (
                "reveal_leads",
                CostRule::ItemFields {
                    items: "/leads",
                    names: "/fields",
                    costs: &[("email", 10), ("phone", 525)],
                },
            ),
            (
                "enrich_leads",
                CostRule::ItemFields {
                    items: "/leads",
                    names: "/fields",
                    costs: &[("email", 10), ("phone", 525)],
                },
            ),
            (
                "unlock_lead_names",
                CostRule::PerItem {
                    pointers: &["/leads"],
                    per_item: 1,
                },
            ),
            (
                "waterfall_icp_search",
                CostRule::PerResult {
                    pointer: "/max_results",
                    per_result: 1,
                    default: 25,
                },
            ),
            (
                "find_employees",
                CostRule::PerResult {
                    pointer: "/max_results",
                    per_result: 1,
                    default: 10,
                },
            ),
        ],
        actual: &["/meta/creditsUsed", "/meta/creditsReserved"],
        refunded: Some("/meta/creditsRefunded"),
        settlements: &[
            "get_email_validation_batch_results",
            "get_email_finder_batch_results",
            "get_phone_bulk_job_results",
            "get_reverse_lookup_bulk_results",
            "get_company_follower_results",
            "get_reveal_job",
            "get_export_job",
        ],
    },
    replayable: &["search_leads", "count_leads"],
    balance: &[("get_wallet_balance", "/data/balance")],
};

/// The four providers' profiles.
pub const ALL: [&Profile; 4] = [&ROCKETREACH, &REQUESTROCKET, &ENRICH, &SPIDERNEWS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_well_formed() {
        for p in ALL {
            let AuthScheme::Header { name, .. } = p.auth;
            assert!(
                reqwest::header::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .is_ok(),
                "{}",
                p.name
            );
            assert!(!p.base_url.ends_with('/'), "{}", p.name);
            assert!(
                p.rate_limit.requests > 0 && p.rate_limit.burst > 0,
                "{}",
                p.name
            );
            assert!(!p.errors.message.is_empty(), "{}", p.name);
        }
    }
}
