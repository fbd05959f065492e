//! Enrich's profile: key header and format, error envelopes, rate plan, credits per operation.
//!
//! The runtime (`tollgate`) names no provider: this crate hands it its profile.

use std::time::Duration;

use tollgate::cache::{CacheProfile, CacheRule, Normalize};
use tollgate::cost::{CostModel, CostRule, Unit};
use tollgate::profile::{AuthScheme, ErrorEnvelope, KeyCharset, KeyFormat, Profile, RateLimitPlan};
use tollgate::ErrorKind;

const DAY: u64 = 86_400;

const CLASSIFY: &[(u16, &str, ErrorKind)] = &[];

/// Enrich (enrich.so): `x-api-key: sk_...`; errors as RFC 9457 problems (and three older
/// shapes); Free plan 60 requests per minute with bursts of 5; credits per operation
/// (docs/providers/enrich.md 2.2), reported as `meta.creditsUsed` (batches: `meta.creditsReserved` on
/// submit, `creditsUsed`/`creditsRefunded` at settlement).
pub const PROFILE: Profile = Profile {
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
        classify: CLASSIFY,
    },
    // Evenly spread, a burst of 1: see `RateLimitPlan`.
    rate_limit: RateLimitPlan::new(60, Duration::from_secs(60)),
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
                    free_results: 75,
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
        credit_types: &[],
    },
    replayable: &["search_leads", "count_leads"],
    balance: &[("get_wallet_balance", "/data/balance")],
    cache: CacheProfile {
        rules: &[
            // A mailbox's verdict holds for weeks; validators advise checking lists again
            // every few months: a month.
            CacheRule::new("validate_email", Duration::from_secs(30 * DAY)),
            // A found address or a reverse lookup: a month (people change jobs).
            CacheRule::new("find_email", Duration::from_secs(30 * DAY)),
            CacheRule::new("reverse_lookup", Duration::from_secs(30 * DAY)),
            // Phone numbers (500 credits each) change least: a quarter.
            CacheRule::new("find_phones", Duration::from_secs(90 * DAY)),
            // Searches shift as the lead database is updated: a week.
            CacheRule::new("search_leads", Duration::from_secs(7 * DAY)),
            CacheRule::new("waterfall_icp_search", Duration::from_secs(7 * DAY)),
            CacheRule::new("find_employees", Duration::from_secs(7 * DAY)),
        ],
        fields: &[
            ("email", Normalize::Email),
            ("emails", Normalize::Email),
            ("domain", Normalize::Domain),
            ("linkedin", Normalize::LinkedIn),
            ("linkedins", Normalize::LinkedIn),
            ("linkedin_url", Normalize::LinkedIn),
            ("first_name", Normalize::Name),
            ("last_name", Normalize::Name),
        ],
    },
};
