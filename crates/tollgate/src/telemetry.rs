//! Metrics for services (cargo feature `metrics`): what a dashboard of a service that calls
//! metered APIs needs, published through the [`metrics`](https://docs.rs/metrics) facade to
//! whatever recorder the program installs (Prometheus, StatsD, ...). Without the feature,
//! nothing is recorded and nothing is paid for it. With the feature and no recorder installed,
//! nothing is recorded, but each call still names its series for `metrics`' no-op recorder
//! (about 3,000 instructions a call, counted with callgrind on the benchmark's loopback call:
//! about a microsecond, against the 100 µs of a whole call on loopback).
//!
//! Every series is labelled by `provider` and `operation` (the generated client's operation
//! id); amounts also by `unit` (`credits` or `rows`). No label ever holds a key or anything a
//! server sent.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `tollgate_calls_total` | counter | calls, by `outcome`: `ok`, `error`, `refused` (the budget), `cached` (served from the cache) |
//! | `tollgate_attempts_total` | counter | HTTP attempts (retries included) |
//! | `tollgate_throttled_total` | counter | 429 answers |
//! | `tollgate_pauses_total` | counter | pauses of the key's pace a server asked for (429 waits, `X-RateLimit-Remaining: 0`) |
//! | `tollgate_pause_seconds` | histogram | how long those pauses were |
//! | `tollgate_call_seconds` | histogram | how long calls took, retries and waits included |
//! | `tollgate_reserved_total` | counter | what calls reserved before they were sent |
//! | `tollgate_charged_total` | counter | what calls cost (possibly charged included) |
//! | `tollgate_refunded_total` | counter | what answers refunded |
//! | `tollgate_saved_total` | counter | what calls served from the cache would have cost |
//! | `tollgate_budget_remaining` | gauge | what the client's budget has left (labels `provider`, `unit`) |

use std::time::Duration;

use crate::vocab::Unit;

/// How a call ended, for `tollgate_calls_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Refused,
    Cached,
}

#[cfg(feature = "metrics")]
impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
            Outcome::Cached => "cached",
        }
    }
}

#[cfg(feature = "metrics")]
fn unit_label(unit: Unit) -> &'static str {
    match unit {
        Unit::Credits => "credits",
        Unit::Rows => "rows",
    }
}

/// A call ended after `attempts` attempts and `elapsed`.
pub(crate) fn call_ended(
    provider: &'static str,
    operation: &'static str,
    outcome: Outcome,
    attempts: u32,
    elapsed: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let labels = [("provider", provider), ("operation", operation)];
        metrics::counter!("tollgate_calls_total", "provider" => provider, "operation" => operation, "outcome" => outcome.label()).increment(1);
        metrics::counter!("tollgate_attempts_total", &labels).increment(u64::from(attempts));
        metrics::histogram!("tollgate_call_seconds", &labels).record(elapsed.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation, outcome, attempts, elapsed);
}

/// A 429 answer.
pub(crate) fn throttled(provider: &'static str, operation: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tollgate_throttled_total", "provider" => provider, "operation" => operation)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation);
}

/// A server paused the key's pace for `wait`.
pub(crate) fn paused(provider: &'static str, operation: &'static str, wait: Duration) {
    #[cfg(feature = "metrics")]
    {
        let labels = [("provider", provider), ("operation", operation)];
        metrics::counter!("tollgate_pauses_total", &labels).increment(1);
        metrics::histogram!("tollgate_pause_seconds", &labels).record(wait.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation, wait);
}

/// What a call reserved, and then cost and refunded.
pub(crate) fn spent(
    provider: &'static str,
    operation: &'static str,
    unit: Unit,
    reserved: i64,
    charged: i64,
    refunded: i64,
) {
    #[cfg(feature = "metrics")]
    {
        let labels = [
            ("provider", provider),
            ("operation", operation),
            ("unit", unit_label(unit)),
        ];
        let amount = |n: i64| u64::try_from(n).unwrap_or(0);
        metrics::counter!("tollgate_reserved_total", &labels).increment(amount(reserved));
        metrics::counter!("tollgate_charged_total", &labels).increment(amount(charged));
        metrics::counter!("tollgate_refunded_total", &labels).increment(amount(refunded));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation, unit, reserved, charged, refunded);
}

/// A call served from the cache saved `saved`.
pub(crate) fn saved(provider: &'static str, operation: &'static str, unit: Unit, saved: i64) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tollgate_saved_total", "provider" => provider, "operation" => operation, "unit" => unit_label(unit))
        .increment(u64::try_from(saved).unwrap_or(0));
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation, unit, saved);
}

/// What the client's budget has left.
pub(crate) fn budget_left(provider: &'static str, unit: Unit, left: i64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("tollgate_budget_remaining", "provider" => provider, "unit" => unit_label(unit))
        .set(left as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, unit, left);
}
