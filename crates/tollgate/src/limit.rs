//! Client-side rate limiting: the provider's plan as a schedule of request slots, tightened by
//! what the server says (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, and 429s with
//! `Retry-After` pause every call of the client until the window resets).
//!
//! Slots follow the generic cell rate algorithm (GCRA): each call takes the next slot at its
//! theoretical arrival time when it asks, then sleeps until that slot. The schedule advances by
//! the plan's interval from the slot, never from when a sleep happened to end, so a timer that
//! wakes late delays one request but does not push back every later one (a limiter that counts
//! from the admission loses that lateness on every call: 10% of a 100/s plan on tokio's 1 ms
//! timer). The interval keeps a margin of [`MARGIN`] (1%) over the plan: a request woken late
//! by up to one interval still leaves no rolling window of the plan's length with more than
//! the plan's requests.
//!
//! One path for every client: the schedule lives in a [`Store`] — a [`LocalStore`] of the
//! limiter's own, or the store a client shares with the other clients of its key
//! ([`crate::shared`], in this process or on Redis). When a shared store fails, the limiter
//! paces on a local schedule at the plan's rate divided by the workers, with a warning.
//!
//! The limiter runs on tokio's clock, so tests on tokio's paused time see exact pacing. A pause
//! the server asks for is never longer than the retry policy's cap: a longer one is refused with
//! a typed wait ([`Paused`]) instead of a silent stall.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::shared::{Admission, LocalStore, Outage, Pace, Scope, Store};
use crate::vocab::RateLimitPlan;

/// The margin kept under a plan: requests are spaced 1% wider than the plan's interval.
pub const MARGIN: f64 = 0.01;

/// A call woken later than this past its slot (and later than one interval) takes a new slot.
const LATE: Duration = Duration::from_millis(5);

/// How many times one call takes a new slot after waking late, before it goes anyway.
const MAX_STALE: u32 = 4;

/// The server asked every call to wait longer than the client sleeps through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paused {
    /// How long is left of the pause.
    pub wait: Duration,
}

/// A client's limiter: its plan, and the store that holds its schedule.
#[derive(Debug)]
pub struct Limiter {
    plan: RateLimitPlan,
    /// The spacing of slots: the plan's interval and the margin.
    interval: Duration,
    store: Arc<dyn Store>,
    scope: Scope,
    /// The local schedule (and its wider interval) used while a shared store fails.
    fallback: Option<(LocalStore, Duration)>,
    /// The end of the last pause this limiter was told of: a call that slept on its slot while
    /// a pause began waits the pause out and takes a new slot after it.
    paused_until: Mutex<Option<Instant>>,
    /// Whether the store's failure was already reported (once per outage).
    outage: Outage,
}

/// The spacing of a plan's slots with the margin; `None` when the plan allows no request.
fn spacing(plan: RateLimitPlan) -> Option<Duration> {
    if plan.burst == 0 || plan.requests == 0 || plan.per.is_zero() {
        return None;
    }
    let interval = plan.per.checked_div(plan.requests)?.mul_f64(1.0 + MARGIN);
    // The tolerance of a burst, `(burst - 1)` intervals, must be a duration.
    interval.checked_mul(plan.burst - 1)?;
    (!interval.is_zero()).then_some(interval)
}

impl Limiter {
    /// A limiter for `plan` with a schedule of its own; `None` when the plan is not usable
    /// (zero requests, burst or period).
    pub fn new(plan: RateLimitPlan) -> Option<Self> {
        Limiter::with_store(plan, Arc::new(LocalStore::new()), Scope::own(), None)
    }

    /// A limiter for `plan` whose schedule is `scope`'s in `store`, shared by every limiter
    /// given the same; while the store fails, it paces alone at the plan's rate divided by
    /// `workers`.
    pub fn shared(
        plan: RateLimitPlan,
        store: Arc<dyn Store>,
        scope: Scope,
        workers: u32,
    ) -> Option<Self> {
        let per_worker = RateLimitPlan {
            requests: (plan.requests / workers.max(1)).max(1),
            ..plan
        };
        let fallback = spacing(per_worker).map(|i| (LocalStore::new(), i));
        Limiter::with_store(plan, store, scope, fallback)
    }

    fn with_store(
        plan: RateLimitPlan,
        store: Arc<dyn Store>,
        scope: Scope,
        fallback: Option<(LocalStore, Duration)>,
    ) -> Option<Self> {
        Some(Limiter {
            plan,
            interval: spacing(plan)?,
            store,
            scope,
            fallback,
            paused_until: Mutex::new(None),
            outage: Outage::default(),
        })
    }

    /// The plan.
    pub fn plan(&self) -> RateLimitPlan {
        self.plan
    }

    /// The spacing of requests: the plan's interval widened by [`MARGIN`].
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn pause_left(&self) -> Option<Duration> {
        let until = (*crate::sync::lock(&self.paused_until))?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Reserves the next slot: in the store, or on the local schedule while it fails.
    async fn admit(&self, cap: Duration) -> Admission {
        let burst = self.plan.burst;
        match self
            .store
            .acquire(&self.scope, Pace::new(self.interval, burst, cap))
            .await
        {
            Ok(admission) => {
                self.outage.recovered();
                admission
            }
            Err(error) => {
                self.outage.report(
                    "the shared store is unavailable: pacing locally at the plan's rate divided by the workers",
                    &error,
                );
                match &self.fallback {
                    Some((local, interval)) => local
                        .acquire(&self.scope, Pace::new(*interval, burst, cap))
                        .await
                        .unwrap_or(Admission::After(Duration::ZERO)),
                    None => Admission::After(Duration::ZERO),
                }
            }
        }
    }

    /// Waits until a request may be sent and returns how long it waited; fails at once with
    /// [`Paused`] when the server paused the client for longer than `cap`.
    pub async fn until_ready(&self, cap: Duration) -> Result<Duration, Paused> {
        let start = Instant::now();
        let mut stale = 0;
        loop {
            // The slot is counted from when it was asked for: an answer from the store that
            // arrives late (a stalled process) does not move it later.
            let asked = Instant::now();
            match self.admit(cap).await {
                Admission::Beyond(wait) => return Err(Paused { wait }),
                Admission::After(wait) if wait.is_zero() => {}
                Admission::After(wait) => {
                    let slot = asked + wait;
                    tokio::time::sleep_until(slot).await;
                    // Woken far past its slot (a stalled process): sent now, it would arrive
                    // together with the calls of later slots, beyond what the server's window
                    // allows. It takes a new slot instead (a few times at most).
                    let late = Instant::now().saturating_duration_since(slot);
                    if late > self.interval.max(LATE) && stale < MAX_STALE {
                        stale += 1;
                        tracing::debug!(
                            late_ms = late.as_millis() as u64,
                            "woke past the slot; taking a new one"
                        );
                        continue;
                    }
                }
            }
            // A pause asked for while this call slept holds it too: it waits the pause out
            // and takes a new slot after it.
            match self.pause_left() {
                Some(left) if left > cap => return Err(Paused { wait: left }),
                Some(_) => {}
                None => return Ok(start.elapsed()),
            }
        }
    }

    /// Pauses every request of the limiter (and of every limiter sharing its store and scope)
    /// for `wait`; a longer pause already set stays. After it, requests resume at the plan's
    /// rate, not with a burst.
    pub async fn pause(&self, wait: Duration) {
        let now = Instant::now();
        let until = now.checked_add(wait).unwrap_or_else(|| far_future(now));
        {
            let mut paused = crate::sync::lock(&self.paused_until);
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
        if let Some((local, _)) = &self.fallback {
            let _ = local.pause(&self.scope, wait).await;
        }
        if let Err(error) = self.store.pause(&self.scope, wait).await {
            tracing::warn!(
                error = %error,
                "the shared store is unavailable; the pause holds this worker only"
            );
        }
    }

    /// Pauses until the reset when the answer's headers say nothing is left of the window
    /// ([`observed_wait`]), and returns the pause.
    pub async fn observe(&self, headers: &HeaderMap) -> Option<Duration> {
        let wait = observed_wait(headers)?;
        self.pause(wait).await;
        Some(wait)
    }
}

/// Reads `X-RateLimit-Remaining` and `X-RateLimit-Reset`: when nothing is left, the wait until
/// the reset. The reset is read as seconds from now, or as a Unix time in seconds when it is
/// larger than 10⁹ (no window is 30 years long). A header that is not a number is ignored (with
/// a debug event); a missing or unreadable reset means 1 s.
pub fn observed_wait(headers: &HeaderMap) -> Option<Duration> {
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
    Some(match text("x-ratelimit-reset").map(reset_wait) {
        Some(Some(wait)) => wait,
        Some(None) => {
            tracing::debug!("ignored an unreadable X-RateLimit-Reset; pausing 1 s");
            Duration::from_secs(1)
        }
        None => Duration::from_secs(1),
    })
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
        assert_eq!(limiter.observe(&h).await, None);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(limiter.observe(&h).await, Some(Duration::from_secs(2)));
        let waited = limiter.until_ready(CAP).await.unwrap();
        assert_eq!(waited, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_beyond_the_cap_is_a_typed_wait_not_a_stall() {
        let limiter = Limiter::new(RateLimitPlan::per_second(100)).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("3600"));
        limiter.observe(&h).await;
        let paused = limiter.until_ready(CAP).await.unwrap_err();
        assert_eq!(paused.wait, Duration::from_secs(3600));
        // Absurd values saturate instead of panicking.
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1e300"));
        limiter.observe(&h).await;
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
        // 100 intervals of 20 ms widened by the 1% margin.
        assert_eq!(start.elapsed(), Duration::from_micros(100 * 20_200));
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_reserved_when_asked_so_a_late_wake_up_does_not_push_the_schedule() {
        let store = LocalStore::new();
        let scope = Scope::new("x", "k", b"s");
        let i = Duration::from_millis(10);
        let turn = || async {
            match store.acquire(&scope, Pace::new(i, 1, CAP)).await.unwrap() {
                Admission::After(w) => w,
                Admission::Beyond(_) => panic!("paused"),
            }
        };
        // Three callers ask at once: slots 0, 1 and 2 intervals away.
        assert_eq!(turn().await, Duration::ZERO);
        assert_eq!(turn().await, i);
        assert_eq!(turn().await, i * 2);
        // Their sleeps end 7 ms late (a busy machine); the next caller's slot is still three
        // intervals from the start, not three intervals from a late wake-up.
        tokio::time::advance(i * 2 + Duration::from_millis(7)).await;
        assert_eq!(turn().await, i * 3 - (i * 2 + Duration::from_millis(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_that_begins_while_a_call_sleeps_holds_that_call_too() {
        let limiter = Limiter::new(RateLimitPlan::per_second(10)).unwrap();
        limiter.until_ready(CAP).await.unwrap();
        let start = Instant::now();
        let (waited, ()) = tokio::join!(limiter.until_ready(CAP), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            limiter.pause(Duration::from_secs(2)).await;
        });
        // The call's slot was 101 ms away; the pause began before it and ended 2.05 s in.
        assert_eq!(waited.unwrap(), start.elapsed());
        assert_eq!(start.elapsed(), Duration::from_millis(2050));
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
