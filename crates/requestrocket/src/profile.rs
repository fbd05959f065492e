//! RequestRocket's profile: token header and format, error envelope, rate plan.
//!
//! The runtime (`tollgate`) names no provider: this crate hands it its profile.

use std::time::Duration;

use tollgate::cache::CacheProfile;
use tollgate::cost::{CostModel, Unit};
use tollgate::profile::{AuthScheme, ErrorEnvelope, KeyCharset, KeyFormat, Profile, RateLimitPlan};
use tollgate::ErrorKind;

const CLASSIFY: &[(u16, &str, ErrorKind)] = &[];

/// RequestRocket Core API: the raw user token (`u-...`) in `Authorization`, no scheme word;
/// errors `{error, code, status}`; Basic plan 100 requests per minute; no metering.
pub const PROFILE: Profile = Profile {
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
        classify: CLASSIFY,
    },
    // Evenly spread, a burst of 1: see `RateLimitPlan`.
    rate_limit: RateLimitPlan::new(100, Duration::from_secs(60)),
    cost: CostModel {
        unit: Unit::Credits,
        rules: &[],
        actual: &[],
        refunded: None,
        settlements: &[],
        credit_types: &[],
    },
    replayable: &[],
    balance: &[],
    // Management calls (proxies, keys, usage): nothing is kept.
    cache: CacheProfile::NONE,
};
