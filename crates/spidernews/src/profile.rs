//! Spider News's profile: key header and format, error envelope, rate plan, rows per operation.
//!
//! The runtime (`tollgate`) names no provider: this crate hands it its profile.

use std::time::Duration;
use tollgate::cost::{CostModel, CostRule, Unit};
use tollgate::profile::{AuthScheme, ErrorEnvelope, KeyCharset, KeyFormat, Profile, RateLimitPlan};
use tollgate::ErrorKind;

use tollgate::cache::{CacheProfile, CacheRule, Normalize};

const CLASSIFY: &[(u16, &str, ErrorKind)] = &[];

/// Spider News: `X-API-KEY` header (the `api_key` query parameter also works), billed in rows:
/// `limit` x 1, `connection_limit` x 3, `path_limit` x 19 at most; answers report `rows_returned`.
/// No rate limit is documented; the client paces itself to 10 requests per second.
pub const PROFILE: Profile = Profile {
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
        classify: CLASSIFY,
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
        credit_types: &[],
    },
    replayable: &[],
    balance: &[],
    cache: CacheProfile {
        // The news graph grows all day: an hour, enough for a pipeline that asks one question
        // many times in a run, short enough not to hide today's news.
        rules: &[
            CacheRule::new("list_entities", Duration::from_secs(3_600)),
            CacheRule::new("list_connections", Duration::from_secs(3_600)),
            CacheRule::new("find_paths", Duration::from_secs(3_600)),
        ],
        fields: &[
            ("ent_name", Normalize::Name),
            ("source_name", Normalize::Name),
            ("target_name", Normalize::Name),
        ],
    },
};
