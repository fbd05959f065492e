//! Client-side rate limiting: a `governor` limiter set from the provider's plan, tightened by
//! what the server says (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, and 429s with
//! `Retry-After` pause every call of the client until the window resets).
//!
//! The limiter runs on tokio's clock, so tests on tokio's paused time see exact pacing. A pause
//! the server asks for is never longer than the retry policy's cap: a longer one is refused with
//! a typed wait ([`Paused`]) instead of a silent stall.

use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::profile::RateLimitPlan;

/// A point on tokio's clock, as governor needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        let d: Duration = other.into();
        TokioInstant(self.0.checked_add(d).unwrap_or(self.0))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}

/// governor's clock on tokio's time (paused in tests, real otherwise).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// The server asked every call to wait longer than the client sleeps through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paused {
    /// How long is left of the pause.
    pub wait: Duration,
}

/// A client's limiter.
#[derive(Debug)]
pub struct Limiter {
    plan: RateLimitPlan,
    limiter: Governor,
    paused_until: Mutex<Option<Instant>>,
}

impl Limiter {
    /// A limiter for `plan`; `None` when the plan is not usable (zero requests or period).
    pub fn new(plan: RateLimitPlan) -> Option<Self> {
        let burst = NonZeroU32::new(plan.burst)?;
        let requests = NonZeroU32::new(plan.requests)?;
        let period = plan.per.checked_div(requests.get())?;
        let quota = Quota::with_period(period)?.allow_burst(burst);
        Some(Limiter {
            plan,
            limiter: RateLimiter::direct_with_clock(quota, TokioClock),
            paused_until: Mutex::new(None),
        })
    }

    /// The plan.
    pub fn plan(&self) -> RateLimitPlan {
        self.plan
    }

    fn pause_left(&self) -> Option<Duration> {
        let until = (*self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Waits until a request may be sent and returns how long it waited; fails at once with
    /// [`Paused`] when the server paused the client for longer than `cap`.
    pub async fn until_ready(&self, cap: Duration) -> Result<Duration, Paused> {
        let start = Instant::now();
        loop {
            // A pause the server asked for holds every call, also one already waiting for its
            // turn: the pause is checked again after every wait.
            if let Some(left) = self.pause_left() {
                if left > cap {
                    return Err(Paused { wait: left });
                }
                tokio::time::sleep(left).await;
                continue;
            }
            match self.limiter.check() {
                Ok(()) => break,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(TokioClock.now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Ok(start.elapsed())
    }

    /// Pauses every request of the client for `wait` (a longer pause already set stays).
    pub fn pause(&self, wait: Duration) {
        let now = Instant::now();
        let until = now.checked_add(wait).unwrap_or_else(|| far_future(now));
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Reads `X-RateLimit-Remaining` and `X-RateLimit-Reset`: when nothing is left, pauses until
    /// the reset and returns the pause. The reset is read as seconds from now, or as a Unix time
    /// in seconds when it is larger than 10⁹ (no window is 30 years long). A header that is not a
    /// number is ignored (with a debug event); a missing or unreadable reset pauses 1 s.
    pub fn observe(&self, headers: &HeaderMap) -> Option<Duration> {
        let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
        let remaining = text("x-ratelimit-remaining")?;
        match remaining.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => return None,
            Ok(n) if n.is_finite() => {}
            _ => {
                tracing::debug!(
                    value = remaining,
                    "ignored an unreadable X-RateLimit-Remaining"
                );
                return None;
            }
        }
        let wait = match text("x-ratelimit-reset").map(reset_wait) {
            Some(Some(wait)) => wait,
            Some(None) => {
                tracing::debug!("ignored an unreadable X-RateLimit-Reset; pausing 1 s");
                Duration::from_secs(1)
            }
            None => Duration::from_secs(1),
        };
        self.pause(wait);
        Some(wait)
    }
}

/// About 30 years: what an instant that would overflow becomes.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(1_000_000_000)
}

/// Seconds above this are a Unix time rather than a delay.
const EPOCH_THRESHOLD: f64 = 1e9;

/// The wait a `X-RateLimit-Reset` value asks for: delta-seconds, or epoch seconds; `None` when
/// it is not a non-negative number.
pub fn reset_wait(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<f64>().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    if seconds > EPOCH_THRESHOLD {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        return Some(saturating_secs(seconds - now));
    }
    Some(saturating_secs(seconds))
}

/// A number of seconds as a `Duration`: negative or NaN is zero, too large is `Duration::MAX`.
pub fn saturating_secs(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const CAP: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_zero_remaining_header_pauses_until_the_reset() {
        let limiter = Limiter::new(RateLimitPlan::per_second(100)).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(limiter.observe(&h), None);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(limiter.observe(&h), Some(Duration::from_secs(2)));
        let waited = limiter.until_ready(CAP).await.unwrap();
        assert_eq!(waited, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_beyond_the_cap_is_a_typed_wait_not_a_stall() {
        let limiter = Limiter::new(RateLimitPlan::per_second(100)).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("3600"));
        limiter.observe(&h);
        let paused = limiter.until_ready(CAP).await.unwrap_err();
        assert_eq!(paused.wait, Duration::from_secs(3600));
        // Absurd values saturate instead of panicking.
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1e300"));
        limiter.observe(&h);
        assert!(limiter.until_ready(CAP).await.is_err());
    }

    #[test]
    fn resets_are_delta_or_epoch_seconds() {
        assert_eq!(reset_wait("30"), Some(Duration::from_secs(30)));
        let in_20s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 20;
        let wait = reset_wait(&in_20s.to_string()).unwrap();
        assert!(
            wait <= Duration::from_secs(20) && wait >= Duration::from_secs(18),
            "{wait:?}"
        );
        // An epoch in the past means now.
        assert_eq!(reset_wait("1000000001"), Some(Duration::ZERO));
        assert_eq!(reset_wait("-5"), None);
        assert_eq!(reset_wait("soon"), None);
        assert_eq!(reset_wait("NaN"), None);
        assert_eq!(saturating_secs(1e300), Duration::MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_is_exact_on_the_paused_clock() {
        let limiter = Limiter::new(RateLimitPlan {
            requests: 50,
            per: Duration::from_secs(1),
            burst: 1,
        })
        .unwrap();
        let start = Instant::now();
        for _ in 0..101 {
            limiter.until_ready(CAP).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn unusable_plans_are_refused() {
        assert!(
            Limiter::new(RateLimitPlan {
                requests: 0,
                per: Duration::from_secs(1),
                burst: 1
            })
            .is_none()
        );
        assert!(
            Limiter::new(RateLimitPlan {
                requests: 1,
                per: Duration::from_secs(1),
                burst: 0
            })
            .is_none()
        );
    }
}
