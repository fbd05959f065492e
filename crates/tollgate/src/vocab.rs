//! The runtime's shared vocabulary: the few plain types its modules all speak (what a provider
//! bills in, a rate plan, the kind of an error answer, how a reservation ended). A leaf: it
//! imports nothing of the crate, so the modules above it never import each other in a circle.

use std::fmt;
use std::time::Duration;

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

/// A provider's documented request rate: `requests` per `per`, with bursts of `burst`.
///
/// The limiter spreads requests evenly, one every `per / requests`, and lets `burst` go at once
/// after idle time. Every provider profile uses a burst of 1, pure pacing: against a server
/// that counts a rolling window, a client with a burst of `b` can send `requests + b - 1` in one
/// window (429s), and after a pause it would come back with a burst instead of at the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitPlan {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period.
    pub per: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

impl RateLimitPlan {
    /// `n` requests per second, evenly spread (a burst of 1).
    pub const fn per_second(n: u32) -> Self {
        RateLimitPlan::new(n, Duration::from_secs(1))
    }

    /// `requests` per `per`, evenly spread (a burst of 1).
    pub const fn new(requests: u32, per: Duration) -> Self {
        RateLimitPlan {
            requests,
            per,
            burst: 1,
        }
    }

    /// The same plan with `burst` requests allowed at once.
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }
}

/// What kind of error answer a provider sent, from its status and, where a provider uses one
/// status for several things (RocketReach's 403s), from its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400, 405, 409, 413, 422: the request is wrong.
    BadRequest,
    /// 401: the key is missing, wrong, revoked or disabled.
    Unauthorized,
    /// 402, or a provider's "insufficient credits" 403: the account is out of credits or rows.
    OutOfCredits,
    /// RocketReach: the key belongs to the other plan family (legacy vs Universal Credits).
    WrongPlanFamily,
    /// RocketReach: the plan has no API access.
    NoApiAccess,
    /// Another 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 408 or 429.
    Throttled,
    /// 5xx.
    Server,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind a status means by itself.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 405 | 409 | 413 | 415 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::OutOfCredits,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            408 | 429 => ErrorKind::Throttled,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

/// How a reservation ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// What the call cost.
    pub charged: i64,
    /// What it refunded.
    pub refunded: i64,
    /// No answer came after the request may have been received: `charged` is the maximum,
    /// possibly charged.
    pub uncertain: bool,
}
