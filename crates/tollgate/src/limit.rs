//! Client-side rate limiting: a `governor` limiter set from the provider's plan, tightened by
//! what the server says (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, and 429s with
//! `Retry-After` pause every call of the client until the window resets).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::profile::RateLimitPlan;

/// A client's limiter.
#[derive(Debug)]
pub struct Limiter {
    plan: RateLimitPlan,
    limiter: DefaultDirectRateLimiter,
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
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        })
    }

    /// The plan.
    pub fn plan(&self) -> RateLimitPlan {
        self.plan
    }

    /// Waits until a request may be sent. Returns how long it waited.
    pub async fn until_ready(&self) -> Duration {
        let start = Instant::now();
        loop {
            let pause = *self
                .paused_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
        start.elapsed()
    }

    /// Pauses every request of the client for `wait`.
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Reads `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the window resets):
    /// when nothing is left, pauses until the reset. Returns the pause, if any.
    pub fn observe(&self, headers: &HeaderMap) -> Option<Duration> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
        let remaining = number("x-ratelimit-remaining")?;
        if remaining > 0.0 {
            return None;
        }
        let reset = number("x-ratelimit-reset")
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(1.0);
        let wait = Duration::from_secs_f64(reset.min(3600.0));
        self.pause(wait);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[tokio::test(start_paused = true)]
    async fn a_zero_remaining_header_pauses_until_the_reset() {
        let limiter = Limiter::new(RateLimitPlan::per_second(100)).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(limiter.observe(&h), None);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(limiter.observe(&h), Some(Duration::from_secs(2)));
        let waited = limiter.until_ready().await;
        assert!(waited >= Duration::from_secs(2), "{waited:?}");
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
