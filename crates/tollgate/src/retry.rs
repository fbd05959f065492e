//! Retry rules: which failures are retried, how long to wait, and when to stop.
//!
//! - At most [`RetryPolicy::max_attempts`] attempts in total (3 by default).
//! - Backoff `min(base * 2^n, max_backoff)` (0.5 s and 8 s by default), with jitter: each wait is
//!   drawn between half and all of it, so many clients do not retry in step.
//! - `Retry-After` (seconds or an HTTP date), or the provider's body field (Enrich's
//!   `retryAfter`), replaces the backoff; beyond [`RetryPolicy::max_retry_after`] (60 s) the call
//!   fails at once with [`crate::Error::RetryLater`] carrying the wait, instead of sleeping.
//! - Retried: connection failures, timeouts, 408, 429, 500, 502, 503, 504.
//! - A request that may charge (it costs something, or its method is not idempotent) is resent
//!   only when the server cannot have acted on it: after a 429, or when the connection never
//!   opened. Never after a timeout or a 5xx: charging twice for one batch is the worst bug this
//!   library can have.
//! - A [`RetryBudget`] per client (a token bucket, as in the AWS SDK) stops retries when most
//!   recent calls fail, so a provider that is down is not hammered.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How a client retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The first backoff.
    pub base: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// The longest server-requested wait the client sleeps through; longer waits fail at once.
    pub max_retry_after: Duration,
    /// Whether waits are drawn between half and all of the backoff.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// With `attempts` attempts in total, the first included (1 disables retries; 0 is taken
    /// as 1: the first attempt is always made).
    pub fn with_max_attempts(self, attempts: u32) -> Self {
        let max_attempts = attempts.max(1);
        RetryPolicy {
            max_attempts,
            ..self
        }
    }

    /// With `base` as the first backoff.
    pub fn with_base(self, base: Duration) -> Self {
        RetryPolicy { base, ..self }
    }

    /// With `max` as the largest backoff.
    pub fn with_max_backoff(self, max: Duration) -> Self {
        RetryPolicy {
            max_backoff: max,
            ..self
        }
    }

    /// Sleeping through server-requested waits up to `cap`; longer ones fail at once.
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// With waits drawn between half and all of the backoff (`true`), or exact.
    pub fn with_jitter(self, jitter: bool) -> Self {
        RetryPolicy { jitter, ..self }
    }

    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (0 for the first retry), before jitter:
    /// `min(base * 2^retry, max_backoff)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max_backoff)
            .with_factor(2.0)
            .with_max_times(retry as usize + 1)
            .build()
            .nth(retry as usize)
            .unwrap_or(self.max_backoff)
    }

    /// The wait before retry number `retry`, with jitter when enabled.
    pub fn wait(&self, retry: u32) -> Duration {
        let full = self.backoff(retry);
        if self.jitter {
            full.mul_f64(0.5 + fastrand::f64() * 0.5)
        } else {
            full
        }
    }
}

/// Whether a request may be resent after a failure that may have reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resend {
    /// Free and idempotent: resent after any retryable failure.
    Always,
    /// It may charge or act: resent only after a 429 or a connection that never opened.
    OnlyIfNotProcessed,
}

/// What went wrong with one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be opened: the server never saw the request.
    Connect,
    /// The request timed out, or the connection broke after the request may have been sent.
    Timeout,
    /// The server answered with this status.
    Status(StatusCode),
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then send again.
    Retry(Duration),
    /// Give up and hand back this attempt's outcome.
    Stop(StopReason),
    /// The server asked for a wait longer than the policy's cap: fail at once with it.
    RetryLater(Duration),
}

/// How one attempt of a call ended, as an error's history shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The server answered with this status (an error, or a redirect that was followed).
    Status(u16),
    /// The connection could not be opened (nothing was sent).
    Connect,
    /// No answer within the timeout.
    Timeout,
    /// The connection broke off.
    Transport,
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptOutcome::Status(status) => write!(f, "{status}"),
            AttemptOutcome::Connect => f.write_str("connect"),
            AttemptOutcome::Timeout => f.write_str("timeout"),
            AttemptOutcome::Transport => f.write_str("transport"),
        }
    }
}

/// Attempts as text, oldest first: `503, 503, connect`.
pub fn history_text(history: &[AttemptOutcome]) -> String {
    history
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why retrying stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The failure is not one that is retried (400, 401, 404, ...).
    NotRetryable,
    /// The request may charge and may have been processed.
    NotIdempotent,
    /// The attempt limit is reached.
    AttemptsExhausted,
    /// The client's retry budget is spent.
    BudgetExhausted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::NotRetryable => "the failure is not retried",
            StopReason::NotIdempotent => "the request may charge and may have been processed",
            StopReason::AttemptsExhausted => "attempts exhausted",
            StopReason::BudgetExhausted => "the client's retry budget is spent",
        })
    }
}

/// Whether an HTTP status is retried.
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Decides what to do after attempt number `attempt` (1-based) failed.
///
/// `requested_wait` is what the server asked for (`Retry-After` or a body field), if anything.
pub fn decide(
    policy: &RetryPolicy,
    resend: Resend,
    attempt: u32,
    failure: Failure,
    requested_wait: Option<Duration>,
    budget: &RetryBudget,
) -> Decision {
    let processed_maybe = match failure {
        Failure::Connect => false,
        Failure::Timeout => true,
        Failure::Status(s) if !retryable_status(s) => {
            return Decision::Stop(StopReason::NotRetryable);
        }
        Failure::Status(s) => s != StatusCode::TOO_MANY_REQUESTS,
    };
    if processed_maybe && resend == Resend::OnlyIfNotProcessed {
        return Decision::Stop(StopReason::NotIdempotent);
    }
    if let Some(wait) = requested_wait
        && wait > policy.max_retry_after
    {
        return Decision::RetryLater(wait);
    }
    if attempt >= policy.max_attempts {
        return Decision::Stop(StopReason::AttemptsExhausted);
    }
    if !budget.withdraw(matches!(failure, Failure::Timeout)) {
        return Decision::Stop(StopReason::BudgetExhausted);
    }
    Decision::Retry(requested_wait.unwrap_or_else(|| policy.wait(attempt - 1)))
}

/// Reads `Retry-After`: delta-seconds, or an HTTP date (a date in the past means now). A
/// number too large for a `Duration` saturates (and so exceeds any cap); a value that is neither
/// a non-negative number nor a date is ignored, with a debug event.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?;
    let Ok(value) = raw.to_str().map(str::trim) else {
        tracing::debug!("ignored a Retry-After header that is not text");
        return None;
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && !seconds.is_nan()
        && seconds >= 0.0
    {
        return Some(crate::limit::saturating_secs(seconds));
    }
    match httpdate::parse_http_date(value) {
        Ok(when) => Some(
            when.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        ),
        Err(_) => {
            tracing::debug!(value, "ignored an unreadable Retry-After header");
            None
        }
    }
}

/// Reads a wait in seconds from a JSON body field (Enrich's `retryAfter`), with the same rules
/// as [`retry_after`].
pub fn body_wait(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) if !s.is_nan() && s >= 0.0 => Some(crate::limit::saturating_secs(s)),
        _ => {
            tracing::debug!(%value, "ignored an unreadable retry-after body field");
            None
        }
    }
}

/// A token bucket of retries, as in the AWS SDK: a retry costs 5 tokens (10 after a timeout), a
/// success gives 1 back, up to the capacity (500). When the bucket is empty, failures are not
/// retried until successes refill it.
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    /// Lock-free: every success deposits, from every task of the client.
    tokens: AtomicU32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(500)
    }
}

impl RetryBudget {
    /// Cost of a retry.
    pub const RETRY_COST: u32 = 5;
    /// Cost of a retry after a timeout.
    pub const TIMEOUT_RETRY_COST: u32 = 10;

    /// A full bucket of `capacity` tokens.
    pub fn new(capacity: u32) -> Self {
        RetryBudget {
            capacity,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Takes the tokens of one retry; `false` when there are not enough.
    pub fn withdraw(&self, after_timeout: bool) -> bool {
        let cost = if after_timeout {
            Self::TIMEOUT_RETRY_COST
        } else {
            Self::RETRY_COST
        };
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// Gives one token back after a success.
    pub fn deposit(&self) {
        // Already full: nothing to write (the common case, and no contention).
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t < self.capacity).then_some(t + 1)
            });
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = no_jitter();
        let waits: Vec<u128> = (0..6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        let p = RetryPolicy::default();
        for n in 0..5 {
            for _ in 0..50 {
                let w = p.wait(n);
                assert!(w >= p.backoff(n) / 2 && w <= p.backoff(n), "{w:?}");
            }
        }
    }

    #[test]
    fn decisions() {
        let p = no_jitter();
        let b = RetryBudget::default();
        let s = |code: u16| Failure::Status(StatusCode::from_u16(code).unwrap());
        // A request that can be sent again, at attempt `n`; one that may charge, at attempt 1.
        let always = |n, failure, wait| decide(&p, Resend::Always, n, failure, wait, &b);
        let once = |failure| decide(&p, Resend::OnlyIfNotProcessed, 1, failure, None, &b);
        let (ms, secs) = (Duration::from_millis, Duration::from_secs);
        assert_eq!(always(1, s(503), None), Decision::Retry(ms(500)));
        assert_eq!(always(2, s(503), None), Decision::Retry(ms(1000)));
        let exhausted = Decision::Stop(StopReason::AttemptsExhausted);
        assert_eq!(always(3, s(503), None), exhausted);
        let not_retryable = Decision::Stop(StopReason::NotRetryable);
        assert_eq!(always(1, s(404), None), not_retryable);
        assert_eq!(always(1, s(401), None), not_retryable);
        for code in [408, 429, 500, 502, 503, 504] {
            let decision = always(1, s(code), None);
            assert!(matches!(decision, Decision::Retry(_)), "{code}");
        }
        // Retry-After replaces the backoff, and beyond the cap fails at once.
        assert_eq!(always(1, s(429), Some(secs(7))), Decision::Retry(secs(7)));
        let later = Decision::RetryLater(secs(120));
        assert_eq!(always(1, s(429), Some(secs(120))), later);
        // A request that may charge: only 429 and connection failures.
        let not_idempotent = Decision::Stop(StopReason::NotIdempotent);
        assert_eq!(once(s(503)), not_idempotent);
        assert_eq!(once(Failure::Timeout), not_idempotent);
        assert!(matches!(once(s(429)), Decision::Retry(_)));
        assert!(matches!(once(Failure::Connect), Decision::Retry(_)));
        let timeout = always(1, Failure::Timeout, None);
        assert!(matches!(timeout, Decision::Retry(_)));
    }

    #[test]
    fn the_budget_stops_retries_and_refills() {
        let p = no_jitter();
        let b = RetryBudget::new(10);
        let s503 = Failure::Status(StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(
            decide(&p, Resend::Always, 1, s503, None, &b),
            Decision::Retry(_)
        ));
        assert!(matches!(
            decide(&p, Resend::Always, 1, s503, None, &b),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&p, Resend::Always, 1, s503, None, &b),
            Decision::Stop(StopReason::BudgetExhausted)
        );
        for _ in 0..5 {
            b.deposit();
        }
        assert!(matches!(
            decide(&p, Resend::Always, 1, s503, None, &b),
            Decision::Retry(_)
        ));
        // A timeout retry costs more.
        assert!(!b.withdraw(true));
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let wait = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(wait("7"), Some(Duration::from_secs(7)));
        let in_30s = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let w = wait(&in_30s).unwrap();
        assert!(
            w > Duration::from_secs(27) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(wait("soon"), None);
        // Numbers no Duration holds saturate instead of panicking.
        assert_eq!(wait("1e300"), Some(Duration::MAX));
        assert_eq!(wait("99999999999999999999999999"), Some(Duration::MAX));
        assert_eq!(wait("-3"), None);
        assert_eq!(body_wait(&serde_json::json!(1e300)), Some(Duration::MAX));
        assert_eq!(body_wait(&serde_json::json!(-1)), None);
        assert_eq!(
            body_wait(&serde_json::json!("2")),
            Some(Duration::from_secs(2))
        );
    }
}
