//! [`Runtime`]: the value every generated client carries and calls around each request, and
//! [`ClientBuilder`].

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::Instrument;

mod cached;

pub use cached::CachedItem;

use crate::auth::ApiKey;
use crate::cost::{
    self, Basis, Budget, CostRule, CostTable, Ledger, RequestView, Reservation, Usage,
};
use crate::error::{ApiError, Error, ErrorKind};
use crate::limit::Limiter;
use crate::profile::{AuthScheme, Profile, RateLimitPlan};
use crate::retry::{
    self, AttemptOutcome, Decision, Failure, Resend, RetryBudget, RetryPolicy, StopReason,
};

/// The header progenitor adds to every request; no provider wants it.
const API_VERSION: &str = "api-version";

/// The prefix of headers that only the runtime may set; any an answer carries is dropped.
const RESERVED_PREFIX: &str = "x-tollgate-";

/// The default total timeout of one HTTP attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default time to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default size limit of one answer: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Same-origin redirects followed for one free read before giving up.
pub const MAX_REDIRECTS: u32 = 5;

/// The runtime state of one client: profile, credential, HTTP client, retry policy and budget,
/// rate limiter, cost rules, spending budget and usage ledger. Cheap to clone (clones share
/// everything).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    profile: &'static Profile,
    key: ApiKey,
    auth_header: HeaderName,
    auth_value: HeaderValue,
    http: reqwest::Client,
    retry: RetryPolicy,
    retry_budget: RetryBudget,
    limiter: Option<Limiter>,
    cost: CostTable,
    budget: Option<Budget>,
    ledger: Arc<Ledger>,
    max_response_bytes: u64,
    dry_run: bool,
    shared: Option<crate::shared::SharedRuntime>,
    cache: Option<(crate::cache::Cache, crate::shared::Scope)>,
}

/// Settings of a [`Runtime`] beyond its profile and key.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// The retry policy.
    pub retry: RetryPolicy,
    /// Tokens of the retry budget.
    pub retry_budget: u32,
    /// The client-side rate limit (`None`: no limit).
    pub rate_limit: Option<RateLimitPlan>,
    /// A spending limit.
    pub budget: Option<Budget>,
    /// Cost rules that replace the profile's, by operation id.
    pub cost_overrides: BTreeMap<String, CostRule>,
    /// The ledger (shared when several clients should count together).
    pub ledger: Arc<Ledger>,
    /// The total timeout of one HTTP attempt.
    pub timeout: Duration,
    /// The time to open a connection.
    pub connect_timeout: Duration,
    /// The longest silence while reading an answer (`None`: only the total timeout).
    pub read_timeout: Option<Duration>,
    /// The largest answer read, in bytes.
    pub max_response_bytes: u64,
    /// The `User-Agent` header (`None`: `tollgate/<version>`).
    pub user_agent: Option<String>,
    /// Price every request and send none: each call ends in [`Error::DryRun`].
    pub dry_run: bool,
    /// A pace and budget shared with other clients of the key ([`crate::shared`]).
    pub shared: Option<crate::Shared>,
    /// The answers already paid for, kept and reused ([`crate::cache`]).
    pub cache: Option<crate::cache::Cache>,
}

impl RuntimeSettings {
    /// The defaults for a profile: its rate plan, the default retry policy, no budget.
    pub fn for_profile(profile: &Profile) -> Self {
        RuntimeSettings {
            retry: RetryPolicy::default(),
            retry_budget: 500,
            rate_limit: Some(profile.rate_limit),
            budget: None,
            cost_overrides: BTreeMap::new(),
            ledger: Arc::new(Ledger::default()),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: None,
            dry_run: false,
            shared: None,
            cache: None,
        }
    }
}

/// How one attempt's answer body was read.
enum BodyFailure {
    TooLarge { declared: Option<u64> },
    Broken(reqwest::Error),
}

impl Runtime {
    /// A runtime for `profile`, authenticating with `key`, with the profile's defaults.
    pub fn new(profile: &'static Profile, key: ApiKey) -> Result<Self, Error> {
        Self::with_settings(profile, key, RuntimeSettings::for_profile(profile))
    }

    /// A runtime with explicit settings.
    pub fn with_settings(
        profile: &'static Profile,
        key: ApiKey,
        settings: RuntimeSettings,
    ) -> Result<Self, Error> {
        Self::with_http(profile, key, settings, reqwest::Client::builder())
    }

    /// A runtime whose HTTP client starts from `http` (proxies, TLS roots, pools, ...). The
    /// runtime sets on it what its promises need: no automatic redirects (it decides which to
    /// follow, and never carries the key to another origin), the timeouts and the user agent.
    pub fn with_http(
        profile: &'static Profile,
        key: ApiKey,
        settings: RuntimeSettings,
        http: reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        let AuthScheme::Header { name, prefix } = profile.auth;
        let auth_header =
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                Error::InvalidProfile {
                    provider: profile.name,
                    field: "auth header name",
                }
            })?;
        let mut auth_value =
            HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| {
                Error::InvalidSetting(format!(
                    "the {} key cannot be sent as a header value",
                    profile.name
                ))
            })?;
        auth_value.set_sensitive(true);
        if settings.retry.max_attempts == 0 {
            return Err(Error::InvalidSetting(
                "the retry policy needs at least 1 attempt".into(),
            ));
        }
        if settings.timeout.is_zero() || settings.connect_timeout.is_zero() {
            return Err(Error::InvalidSetting(
                "timeouts must be longer than zero".into(),
            ));
        }
        if settings.read_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidSetting(
                "the read timeout must be longer than zero".into(),
            ));
        }
        if settings.max_response_bytes == 0 {
            return Err(Error::InvalidSetting(
                "the answer size limit must be at least 1 byte".into(),
            ));
        }
        let limiter = match settings.rate_limit {
            None => None,
            Some(plan) => Some(Limiter::new(plan).ok_or_else(|| {
                Error::InvalidSetting(format!("the rate limit {plan:?} allows no request"))
            })?),
        };
        if let Some(budget) = settings.budget
            && budget.unit != profile.cost.unit
        {
            return Err(Error::InvalidSetting(format!(
                "{} bills in {}, but the budget is in {}",
                profile.name, profile.cost.unit, budget.unit
            )));
        }
        let user_agent = settings
            .user_agent
            .clone()
            .unwrap_or_else(|| format!("tollgate/{}", env!("CARGO_PKG_VERSION")));
        let mut http = http
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(user_agent);
        if let Some(read) = settings.read_timeout {
            http = http.read_timeout(read);
        }
        install_tls_provider();
        let http = http.build().map_err(Error::HttpClient)?;
        let shared = settings.shared.map(|shared| {
            crate::shared::SharedRuntime::new(
                shared,
                profile.name,
                key.expose(),
                limiter.as_ref().map(Limiter::plan),
            )
        });
        let cache = settings.cache.map(|cache| {
            let scope = cache.scope(profile.name, key.expose());
            (cache, scope)
        });
        Ok(Runtime {
            inner: Arc::new(Inner {
                profile,
                key,
                auth_header,
                auth_value,
                http,
                retry: settings.retry,
                retry_budget: RetryBudget::new(settings.retry_budget),
                limiter,
                cost: CostTable {
                    model: profile.cost,
                    overrides: settings.cost_overrides,
                },
                budget: settings.budget,
                ledger: settings.ledger,
                max_response_bytes: settings.max_response_bytes,
                dry_run: settings.dry_run,
                shared,
                cache,
            }),
        })
    }

    /// The provider profile.
    pub fn profile(&self) -> &'static Profile {
        self.inner.profile
    }

    /// The usage ledger: what each call cost.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// A shared handle on the ledger.
    pub fn ledger_handle(&self) -> Arc<Ledger> {
        Arc::clone(&self.inner.ledger)
    }

    /// The spending budget, if any.
    pub fn budget(&self) -> Option<Budget> {
        self.inner.budget
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// Tokens left in the retry budget.
    pub fn retry_tokens(&self) -> u32 {
        self.inner.retry_budget.available()
    }

    /// The HTTP client the runtime sends with (redirects off, timeouts and user agent set).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The size limit of one answer, in bytes.
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The rule that prices `operation`.
    pub fn cost_rule(&self, operation: &str) -> CostRule {
        self.inner.cost.rule(operation)
    }

    /// The most `request` (for `operation`) may cost, in the provider's unit.
    pub fn max_cost(&self, operation: &str, request: &reqwest::Request) -> Result<i64, Error> {
        Ok(self
            .cost_rule(operation)
            .max_cost(&RequestView::of(request))?)
    }

    /// Writes the credential the way the provider expects it (marked sensitive, so no HTTP
    /// layer logs it) and removes progenitor's `api-version` header.
    pub fn authorize(&self, request: &mut reqwest::Request) {
        let headers = request.headers_mut();
        headers.remove(API_VERSION);
        headers.insert(
            self.inner.auth_header.clone(),
            self.inner.auth_value.clone(),
        );
    }

    /// Sends a request for `operation` through everything the runtime promises: the budget
    /// reserves its maximum cost (or refuses it, sending nothing), the limiter paces it,
    /// retries follow the policy, redirects are followed only to the same origin and only for
    /// free reads, the answer is read once up to the size limit, and its cost is recorded. All
    /// under one `tollgate.call` tracing span (provider, operation, attempts, status, wait,
    /// cost; never the key).
    ///
    /// A success is handed back with its body in memory. An error answer, a refusal, a wait
    /// beyond the cap, a refused redirect, an answer too large and a transport failure are
    /// [`Error`]s.
    pub async fn send(
        &self,
        request: reqwest::Request,
        operation: &'static str,
    ) -> Result<reqwest::Response, Error> {
        self.send_recorded(request, operation, &Attempts::default())
            .await
    }

    /// [`Runtime::send`], reporting attempts and statuses to `outcome` as it goes.
    pub(crate) async fn send_recorded(
        &self,
        mut request: reqwest::Request,
        operation: &'static str,
        outcome: &Attempts,
    ) -> Result<reqwest::Response, Error> {
        self.authorize(&mut request);
        let span = tracing::info_span!(
            "tollgate.call",
            provider = self.inner.profile.name,
            operation,
            method = %request.method(),
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
            waited_ms = tracing::field::Empty,
            cost = tracing::field::Empty,
            unit = %self.inner.cost.model.unit,
        );
        self.send_cached(request, operation, outcome)
            .instrument(span)
            .await
    }

    async fn send_inner(
        &self,
        request: reqwest::Request,
        operation: &'static str,
        outcome: &Attempts,
    ) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let rule = inner.cost.rule(operation);
        let estimate = rule.max_cost(&RequestView::of(&request))?;
        if inner.dry_run {
            return Err(Error::DryRun {
                operation: operation.to_owned(),
                max_cost: estimate,
                unit: inner.cost.model.unit,
                cached: false,
            });
        }
        let mut reservation = inner
            .ledger
            .reserve(
                inner.budget,
                operation,
                estimate,
                rule.parameter(),
                inner.cost.model.unit,
            )
            .map_err(|refusal| {
                // The caller gets the refusal as its error: logged below warnings.
                tracing::info!(
                    needed = refusal.needed,
                    remaining = refusal.remaining,
                    "refused by the budget"
                );
                Error::CostRefused(refusal)
            })?;
        let Some(shared) = &inner.shared else {
            return self
                .send_attempts(request, operation, outcome, estimate, reservation)
                .await;
        };
        // The shared budget: reserve under a lease, settle from how the call ended.
        let limit = inner.budget.map(|b| b.limit);
        let store = &shared.shared.store;
        let lease = match store
            .reserve(&shared.scope, limit, estimate, shared.shared.lease)
            .await
        {
            Ok(crate::shared::Reserved::Lease(id)) => Some(id),
            Ok(crate::shared::Reserved::Refused { remaining }) => {
                reservation.release();
                tracing::info!(needed = estimate, remaining, "refused by the shared budget");
                return Err(Error::CostRefused(crate::cost::CostRefusal {
                    operation: operation.to_owned(),
                    unit: inner.cost.model.unit,
                    needed: estimate,
                    remaining,
                    parameter: rule.parameter().map(str::to_owned),
                }));
            }
            // Budgets fail closed: a charged call under a budget is not sent.
            Err(error) if limit.is_some() && estimate > 0 => {
                reservation.release();
                return Err(Error::SharedStore(error));
            }
            Err(error) => {
                shared.warn(
                    "the shared store is unavailable; this call is not in its totals",
                    &error,
                );
                None
            }
        };
        let ended = Arc::new(std::sync::Mutex::new(None));
        reservation.report_to(Arc::clone(&ended));
        let result = self
            .send_attempts(request, operation, outcome, estimate, reservation)
            .await;
        if let Some(id) = lease {
            let settlement = ended
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .unwrap_or(crate::shared::Settlement {
                    charged: estimate,
                    refunded: 0,
                    uncertain: true,
                });
            if let Err(error) = store.settle(&shared.scope, id, settlement).await {
                shared.warn(
                    "the shared store is unavailable; the lease will end as possibly charged",
                    &error,
                );
            }
        }
        result
    }

    /// Sends `request` under `reservation`: pacing, attempts, redirects, retries, the answer.
    async fn send_attempts(
        &self,
        request: reqwest::Request,
        operation: &'static str,
        outcome: &Attempts,
        estimate: i64,
        mut reservation: crate::cost::Reservation,
    ) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let span = tracing::Span::current();
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let resend =
            if estimate == 0 && (idempotent || inner.profile.replayable.contains(&operation)) {
                Resend::Always
            } else {
                Resend::OnlyIfNotProcessed
            };
        let mut history: Vec<AttemptOutcome> = Vec::new();
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 0;
        let mut redirects: u32 = 0;
        let mut current = request;
        loop {
            attempt += 1;
            outcome.set_attempts(attempt);
            span.record("attempts", attempt);
            {
                match self.pace().await {
                    Ok(w) => waited += w,
                    Err(paused) => {
                        reservation.release();
                        return Err(Error::RetryLater {
                            provider: inner.profile.name.to_owned(),
                            status: None,
                            wait: paused.wait,
                            attempts: attempt - 1,
                        });
                    }
                }
            }
            // Keep a copy for a retry or a redirect; a streaming body cannot be copied and is
            // sent once.
            let next = current.try_clone();
            let target = current.url().clone();
            reservation.mark_sent();
            let result = inner.http.execute(current).await;
            let mut response = match result {
                Ok(response) => response,
                Err(error) => {
                    let error = error.without_url();
                    let (failure, outcome_of) = if error.is_connect() {
                        (Failure::Connect, AttemptOutcome::Connect)
                    } else if error.is_timeout() {
                        (Failure::Timeout, AttemptOutcome::Timeout)
                    } else {
                        (Failure::Timeout, AttemptOutcome::Transport)
                    };
                    history.push(outcome_of);
                    let decision = match next {
                        Some(_) => retry::decide(
                            &inner.retry,
                            resend,
                            attempt,
                            failure,
                            None,
                            &inner.retry_budget,
                        ),
                        None => Decision::Stop(StopReason::NotIdempotent),
                    };
                    if let (Decision::Retry(wait), Some(again)) = (decision, next) {
                        tracing::debug!(attempt, failure = %outcome_of, "retrying");
                        waited += pause_before_retry(wait).await;
                        current = again;
                        continue;
                    }
                    span.record("waited_ms", millis(waited));
                    let connect = failure == Failure::Connect;
                    if connect {
                        reservation.release();
                    } else {
                        span.record("cost", reservation.amount());
                        reservation.uncertain(0);
                    }
                    let what = if connect {
                        "could not connect"
                    } else if error.is_timeout() {
                        "timed out"
                    } else {
                        "lost the connection"
                    };
                    return Err(Error::Transport {
                        message: format!(
                            "{operation} {what} to {} after {attempt} attempt{} [{}]: {error}",
                            inner.profile.name,
                            if attempt == 1 { "" } else { "s" },
                            retry::history_text(&history)
                        ),
                        timeout: error.is_timeout(),
                        connect,
                        attempts: attempt,
                        source: Some(error),
                    });
                }
            };
            strip_reserved(response.headers_mut());
            let status = response.status();
            outcome.set_status(status.as_u16());
            span.record("status", status.as_u16());
            if let Some(limiter) = &inner.limiter
                && let Some(wait) = limiter.observe(response.headers())
            {
                self.pause_shared(wait).await;
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let resolved = target.join(&location).ok();
                let same_origin = resolved
                    .as_ref()
                    .is_some_and(|u| u.origin() == target.origin());
                let reason = if resolved.is_none() {
                    Some("the location is not a URL")
                } else if !same_origin {
                    Some("it points to another origin, where the API key must never go")
                } else if resend != Resend::Always
                    || !matches!(*response_method(&next), Method::GET | Method::HEAD)
                {
                    Some("the request may charge or change something; it is never resent elsewhere")
                } else if redirects >= MAX_REDIRECTS {
                    Some("too many redirects")
                } else {
                    None
                };
                match (reason, resolved, next) {
                    (None, Some(url), Some(mut again)) => {
                        redirects += 1;
                        attempt -= 1;
                        history.push(AttemptOutcome::Status(status.as_u16()));
                        *again.url_mut() = url;
                        tracing::debug!(
                            status = status.as_u16(),
                            "following a same-origin redirect"
                        );
                        current = again;
                        continue;
                    }
                    (reason, _, _) => {
                        self.settle_unbilled(reservation, operation, estimate, status);
                        return Err(Error::Redirect {
                            provider: inner.profile.name.to_owned(),
                            operation: operation.to_owned(),
                            status: status.as_u16(),
                            location: location.chars().take(300).collect(),
                            reason: reason.unwrap_or("the request cannot be resent"),
                        });
                    }
                }
            }
            let body = match self.read_body(&mut response).await {
                Ok(body) => body,
                Err(failure) => {
                    span.record("waited_ms", millis(waited));
                    history.push(AttemptOutcome::Status(status.as_u16()));
                    if status.is_success() {
                        span.record("cost", reservation.amount());
                        reservation.uncertain(status.as_u16());
                    } else {
                        self.settle_unbilled(reservation, operation, estimate, status);
                    }
                    return Err(match failure {
                        BodyFailure::TooLarge { declared } => Error::TooLarge {
                            provider: inner.profile.name.to_owned(),
                            operation: operation.to_owned(),
                            limit: inner.max_response_bytes,
                            declared,
                        },
                        BodyFailure::Broken(error) => Error::Transport {
                            message: format!(
                                "{}'s answer to {operation} (HTTP {}) broke off before its end: {error}",
                                inner.profile.name,
                                status.as_u16()
                            ),
                            timeout: error.is_timeout(),
                            connect: false,
                            attempts: attempt,
                            source: Some(error),
                        },
                    });
                }
            };
            if status.is_success() {
                inner.retry_budget.deposit();
                span.record("waited_ms", millis(waited));
                if inner.cache.is_some() {
                    outcome.set_body(body.clone());
                }
                let (response, charged) =
                    self.finish_success(operation, estimate, response, body, reservation);
                outcome.set_charged(charged);
                return Ok(response);
            }
            history.push(AttemptOutcome::Status(status.as_u16()));
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            let requested = retry::retry_after(response.headers()).or_else(|| {
                let pointer = inner.profile.errors.retry_after?;
                retry::body_wait(parsed.as_ref()?.pointer(pointer)?)
            });
            if status == StatusCode::TOO_MANY_REQUESTS
                && let (Some(limiter), Some(wait)) = (&inner.limiter, requested)
            {
                limiter.pause(wait);
                self.pause_shared(wait).await;
            }
            let decision = match next {
                Some(_) => retry::decide(
                    &inner.retry,
                    resend,
                    attempt,
                    Failure::Status(status),
                    requested,
                    &inner.retry_budget,
                ),
                None if retry::retryable_status(status) => {
                    Decision::Stop(StopReason::NotIdempotent)
                }
                None => Decision::Stop(StopReason::NotRetryable),
            };
            if let (Decision::Retry(wait), Some(again)) = (decision, next) {
                tracing::debug!(attempt, status = status.as_u16(), "retrying");
                waited += pause_before_retry(wait).await;
                current = again;
                continue;
            }
            span.record("waited_ms", millis(waited));
            self.settle_unbilled(reservation, operation, estimate, status);
            if let Decision::RetryLater(wait) = decision {
                tracing::info!(
                    attempt,
                    status = status.as_u16(),
                    wait_ms = millis(wait),
                    "server asked for a wait beyond the cap"
                );
                return Err(Error::RetryLater {
                    provider: inner.profile.name.to_owned(),
                    status: Some(status.as_u16()),
                    wait,
                    attempts: attempt,
                });
            }
            let stopped = match decision {
                Decision::Stop(StopReason::NotRetryable) => None,
                Decision::Stop(reason) => Some(reason),
                _ => None,
            };
            return Err(self.api_error(
                operation,
                status,
                response.headers(),
                &body,
                parsed,
                attempt,
                history,
                stopped,
                requested,
            ));
        }
    }

    /// Reads an answer's body once, refusing it past the size limit: at once by its
    /// `Content-Length`, otherwise as soon as what arrived exceeds it.
    /// Waits for this call's turn: the shared pace when there is one (the local limiter at
    /// the plan's rate divided by the workers while the store fails), else the client's own.
    async fn pace(&self) -> Result<Duration, crate::limit::Paused> {
        let inner = &self.inner;
        let cap = inner.retry.max_retry_after;
        if let (Some(shared), Some(limiter)) = (&inner.shared, &inner.limiter) {
            let plan = limiter.plan();
            // The plan's interval with the limiter's margin: shared pacing keeps the same room
            // for the jitter of many processes.
            let interval = limiter.interval();
            match shared
                .shared
                .store
                .acquire(&shared.scope, interval, plan.burst, cap)
                .await
            {
                Ok(crate::shared::Admission::After(wait)) => {
                    shared.recovered();
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    return Ok(wait);
                }
                Ok(crate::shared::Admission::Beyond(wait)) => {
                    return Err(crate::limit::Paused { wait });
                }
                Err(error) => {
                    shared.warn(
                        "the shared store is unavailable: pacing locally at the plan's rate divided by the workers",
                        &error,
                    );
                    return match &shared.fallback {
                        Some(fallback) => fallback.until_ready(cap).await,
                        None => Ok(Duration::ZERO),
                    };
                }
            }
        }
        match &inner.limiter {
            Some(limiter) => limiter.until_ready(cap).await,
            None => Ok(Duration::ZERO),
        }
    }

    /// Holds every worker of the key for `wait` (a 429, or nothing left in the window).
    async fn pause_shared(&self, wait: Duration) {
        if let Some(shared) = &self.inner.shared {
            if let Some(fallback) = &shared.fallback {
                fallback.pause(wait);
            }
            if let Err(error) = shared.shared.store.pause(&shared.scope, wait).await {
                shared.warn(
                    "the shared store is unavailable; the pause holds this worker only",
                    &error,
                );
            }
        }
    }

    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Bytes, BodyFailure> {
        let limit = self.inner.max_response_bytes;
        let declared = response.content_length();
        if declared.is_some_and(|d| d > limit) {
            return Err(BodyFailure::TooLarge { declared });
        }
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut total: u64 = 0;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(BodyFailure::Broken(e.without_url())),
            };
            total = total.saturating_add(chunk.len() as u64);
            if total > limit {
                return Err(BodyFailure::TooLarge { declared });
            }
            match (&mut first, &mut rest) {
                (None, _) => first = Some(chunk),
                (Some(head), None) => {
                    let capacity = usize::try_from(declared.unwrap_or(0).min(limit))
                        .unwrap_or(0)
                        .max(head.len() + chunk.len());
                    let mut buffer = BytesMut::with_capacity(capacity);
                    buffer.extend_from_slice(head);
                    buffer.extend_from_slice(&chunk);
                    rest = Some(buffer);
                }
                (Some(_), Some(buffer)) => buffer.extend_from_slice(&chunk),
            }
        }
        Ok(match rest {
            Some(buffer) => buffer.freeze(),
            None => first.unwrap_or_default(),
        })
    }

    /// An answer that bills nothing (an error status, a redirect): the reservation is released
    /// and the call recorded at 0.
    fn settle_unbilled(
        &self,
        reservation: Reservation,
        operation: &str,
        estimate: i64,
        status: StatusCode,
    ) {
        reservation.settle(self.usage(
            operation,
            estimate,
            0,
            0,
            status.as_u16(),
            Basis::Reported,
            None,
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn usage(
        &self,
        operation: &str,
        estimated: i64,
        charged: i64,
        refunded: i64,
        status: u16,
        basis: Basis,
        anomaly: Option<String>,
    ) -> Usage {
        Usage {
            operation: operation.to_owned(),
            unit: self.inner.cost.model.unit,
            estimated,
            charged,
            refunded,
            status,
            basis,
            anomaly,
            saved: 0,
        }
    }

    fn finish_success(
        &self,
        operation: &str,
        estimate: i64,
        response: reqwest::Response,
        body: Bytes,
        reservation: Reservation,
    ) -> (reqwest::Response, i64) {
        let inner = &self.inner;
        let span = tracing::Span::current();
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let balance = inner
            .profile
            .balance
            .iter()
            .find(|(op, _)| *op == operation)
            .map(|(_, p)| *p);
        let reads_body = is_json && (!inner.cost.model.actual.is_empty() || balance.is_some());
        // One pass over the answer for the few numbers the ledger needs; no `Value` of it.
        let mut pointers: Vec<&str> = Vec::new();
        if reads_body {
            pointers.extend(inner.cost.model.actual.iter().copied());
            pointers.extend(inner.cost.model.refunded);
            pointers.extend(balance);
        }
        let found = crate::probe::values(&body, &pointers);
        let lookup = |pointer: &str| {
            pointers
                .iter()
                .position(|p| *p == pointer)
                .and_then(|i| found.get(i).cloned().flatten())
        };
        let reported = if reads_body {
            cost::reported_cost(&inner.cost.model, lookup, estimate)
        } else {
            None
        };
        let (charged, refunded, basis, mut anomaly) = match reported {
            Some((charged, refunded, anomaly)) => (charged, refunded, Basis::Reported, anomaly),
            None => (estimate, 0, Basis::Estimated, None),
        };
        if basis == Basis::Reported && charged > estimate && estimate > 0 {
            anomaly.get_or_insert_with(|| {
                format!("reported {charged}, more than the maximum {estimate} the request allows")
            });
        }
        if let Some(a) = &anomaly {
            tracing::warn!(anomaly = %a, "the answer's reported cost is not plausible");
        }
        // A settlement reports the final cost of something reserved earlier: only its refund
        // is new, and only the first time it is seen.
        let (charged, refunded) = if inner.cost.model.settlements.contains(&operation) {
            let resource = format!("{operation} {}", response.url().path());
            let first = refunded != 0 && inner.ledger.first_settlement(&resource);
            (0, if first { refunded } else { 0 })
        } else {
            (charged, refunded)
        };
        if let Some(remaining) = balance.and_then(lookup).and_then(|v| v.as_i64()) {
            inner.ledger.record_balance(remaining, operation);
        }
        span.record("cost", charged);
        reservation.settle(self.usage(
            operation, estimate, charged, refunded, status, basis, anomaly,
        ));
        (rebuild(response, body), charged)
    }

    /// The error of an error answer: the provider's message, code and request id read by its
    /// envelope; a body that is not JSON is kept as the message (its start).
    #[allow(clippy::too_many_arguments)]
    fn api_error(
        &self,
        operation: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
        parsed: Option<Value>,
        attempts: u32,
        history: Vec<AttemptOutcome>,
        stopped: Option<StopReason>,
        retry_after: Option<Duration>,
    ) -> Error {
        let envelope = &self.inner.profile.errors;
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.chars().take(2000).collect::<String>()),
            Value::Null => None,
            other => Some(other.to_string().chars().take(2000).collect()),
        };
        let pick = |pointers: &[&str]| {
            parsed
                .as_ref()
                .and_then(|b| pointers.iter().find_map(|p| b.pointer(p).and_then(text)))
        };
        let message = match &parsed {
            Some(_) => pick(envelope.message),
            None => {
                let raw = String::from_utf8_lossy(body)
                    .trim()
                    .chars()
                    .take(500)
                    .collect::<String>();
                (!raw.is_empty()).then_some(raw)
            }
        };
        let code = envelope.code.and_then(|c| pick(&[c]));
        let request_id = envelope
            .request_id_header
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect())
            .or_else(|| pick(envelope.request_id));
        let status = status.as_u16();
        let kind = envelope
            .classify
            .iter()
            .find(|(s, needle, _)| {
                *s == status && message.as_deref().is_some_and(|m| m.contains(needle))
            })
            .map_or_else(|| ErrorKind::from_status(status), |(_, _, k)| *k);
        Error::Api(Box::new(ApiError {
            provider: self.inner.profile.name.to_owned(),
            operation: operation.to_owned(),
            status,
            kind,
            message,
            code,
            request_id,
            body: parsed.filter(|b| !b.is_null()),
            attempts,
            history,
            stopped,
            retry_after,
        }))
    }
}

fn response_method(next: &Option<reqwest::Request>) -> &Method {
    next.as_ref()
        .map_or(&Method::POST, reqwest::Request::method)
}

/// Waits `wait` before a retry (tokio's clock) and returns it, for the call's waited time.
async fn pause_before_retry(wait: Duration) -> Duration {
    tracing::debug!(wait_ms = millis(wait), "waiting before the retry");
    tokio::time::sleep(wait).await;
    wait
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Drops every header an answer carries under the runtime's reserved prefix.
fn strip_reserved(headers: &mut HeaderMap) {
    let reserved: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(RESERVED_PREFIX))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(&name);
    }
}

/// The answer again, with its body in memory (its head moved, not copied).
fn rebuild(response: reqwest::Response, body: Bytes) -> reqwest::Response {
    let (parts, _) = http::Response::<reqwest::Body>::from(response).into_parts();
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

/// What a call recorded as it went, for the error of a generated call.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    attempts: std::sync::atomic::AtomicU32,
    status: std::sync::atomic::AtomicU32,
    charged: std::sync::atomic::AtomicI64,
    /// The body of a successful answer, for the cache (a shared handle on the same bytes).
    body: std::sync::Mutex<Option<Bytes>>,
}

impl Attempts {
    fn set_body(&self, body: Bytes) {
        *self
            .body
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(body);
    }

    fn take_body(&self) -> Option<Bytes> {
        self.body
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn set_charged(&self, charged: i64) {
        self.charged
            .store(charged, std::sync::atomic::Ordering::Relaxed);
    }

    fn charged(&self) -> i64 {
        self.charged.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_attempts(&self, n: u32) {
        self.attempts.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn set_status(&self, status: u16) {
        self.status
            .store(u32::from(status), std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> Option<u16> {
        let s = self.status.load(std::sync::atomic::Ordering::Relaxed);
        u16::try_from(s).ok().filter(|s| *s != 0)
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("provider", &self.inner.profile.name)
            .field("key", &self.inner.key)
            .field("retry", &self.inner.retry)
            .field(
                "rate_limit",
                &self.inner.limiter.as_ref().map(Limiter::plan),
            )
            .field("budget", &self.inner.budget)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .finish()
    }
}

/// Implemented (by [`crate::provider_client!`]) for every generated provider client.
pub trait ProviderClient: Sized {
    /// The provider's profile.
    const PROFILE: &'static Profile;
    /// The default `User-Agent`: `tollgate-<provider>/<version>`.
    const USER_AGENT: &'static str;

    /// Assembles the client from its parts.
    fn from_parts(base_url: &str, http: reqwest::Client, runtime: Runtime) -> Self;
}

/// Builds a provider client: key, base URL, timeouts, retry policy, rate limit, budget, size
/// limit, HTTP client.
///
/// Every setting has a default: the key comes from the provider's environment variable, the
/// base URL is the provider's production URL, the timeout is [`DEFAULT_TIMEOUT`] (connect
/// [`DEFAULT_CONNECT_TIMEOUT`]), retries follow [`RetryPolicy::default`], the rate limit is the
/// provider's documented plan, answers are limited to [`DEFAULT_MAX_RESPONSE_BYTES`], the user
/// agent is `tollgate-<provider>/<version>`, and there is no budget.
pub struct ClientBuilder<C> {
    key: Option<secrecy::SecretString>,
    base_url: Option<String>,
    http: Option<reqwest::ClientBuilder>,
    settings: Option<RuntimeSettings>,
    client: PhantomData<fn() -> C>,
}

impl<C: ProviderClient> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: ProviderClient> ClientBuilder<C> {
    /// A builder with every default.
    pub fn new() -> Self {
        ClientBuilder {
            key: None,
            base_url: None,
            http: None,
            settings: None,
            client: PhantomData,
        }
    }

    fn settings(&mut self) -> &mut RuntimeSettings {
        self.settings.get_or_insert_with(|| {
            let mut s = RuntimeSettings::for_profile(C::PROFILE);
            s.user_agent = Some(C::USER_AGENT.to_owned());
            s
        })
    }

    /// The API key (instead of the environment variable).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(secrecy::SecretString::from(key.into()));
        self
    }

    /// Another base URL: a sandbox, a proxy. A trailing slash is removed. The key is sent to
    /// this URL's origin and nowhere else.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The total timeout of one HTTP attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings().timeout = timeout;
        self
    }

    /// The time to open a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings().connect_timeout = timeout;
        self
    }

    /// The longest silence while reading an answer.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.settings().read_timeout = Some(timeout);
        self
    }

    /// The largest answer the client reads, in bytes; a larger one is
    /// [`Error::TooLarge`].
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.settings().max_response_bytes = bytes;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.settings().user_agent = Some(agent.into());
        self
    }

    /// Your own HTTP client settings (proxies, TLS roots, connection pool). A builder rather
    /// than a built client, because the runtime must switch off automatic redirects (so the key
    /// never follows one to another origin) and sets the timeouts and user agent on it.
    pub fn http_client(mut self, http: reqwest::ClientBuilder) -> Self {
        self.http = Some(http);
        self
    }

    /// The retry policy ([`RetryPolicy::none`] disables retries).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings().retry = policy;
        self
    }

    /// The size of the retry budget, in tokens (a retry costs 5, 10 after a timeout).
    pub fn retry_budget(mut self, tokens: u32) -> Self {
        self.settings().retry_budget = tokens;
        self
    }

    /// The client-side rate limit; `None` sends without pacing.
    pub fn rate_limit(mut self, plan: Option<RateLimitPlan>) -> Self {
        self.settings().rate_limit = plan;
        self
    }

    /// A spending limit: requests whose maximum cost exceeds what is left are refused before
    /// they are sent.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.settings().budget = Some(budget);
        self
    }

    /// Replaces the cost rule of one operation (for example other per-unit constants).
    pub fn cost_rule(mut self, operation: impl Into<String>, rule: CostRule) -> Self {
        self.settings()
            .cost_overrides
            .insert(operation.into(), rule);
        self
    }

    /// Records usage in this ledger (to share one across clients, or to keep a longer window
    /// of entries: [`Ledger::with_window`]).
    pub fn ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.settings().ledger = ledger;
        self
    }

    /// Shares the pace and the budget with every client given the same store and key, in this
    /// process or others ([`crate::shared`]): `.shared(Shared::new(RedisStore::connect(url)
    /// .await?).workers(8))`. The budget set with [`ClientBuilder::budget`] is then the key's
    /// budget across all of them.
    pub fn shared(mut self, shared: impl Into<crate::Shared>) -> Self {
        self.settings().shared = Some(shared.into());
        self
    }

    /// Keeps the final answers of cacheable calls in `cache` and serves the same question from
    /// it: nothing sent, nothing paid ([`crate::cache`]). Off unless set.
    pub fn cache(mut self, cache: crate::cache::Cache) -> Self {
        self.settings().cache = Some(cache);
        self
    }

    /// Dry-run mode: every call is built and priced, and nothing is sent; it ends in
    /// [`Error::DryRun`] with the most it may cost. The `--dry-run` flag of the `tollgate`
    /// command uses it.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.settings().dry_run = on;
        self
    }

    /// Validates the settings and builds the client. Fails, before any request, on a missing
    /// or malformed key or base URL, or an unusable setting.
    pub fn build(mut self) -> Result<C, Error> {
        use secrecy::ExposeSecret;
        let profile = C::PROFILE;
        let key = match self.key.take() {
            Some(key) => ApiKey::parse(profile, key.expose_secret())?,
            None => ApiKey::from_env(profile)?,
        };
        let base_url = self
            .base_url
            .take()
            .unwrap_or_else(|| profile.base_url.to_owned());
        let base_url = base_url.trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(Error::InvalidBaseUrl { url: base_url }),
        }
        self.settings();
        let settings = self
            .settings
            .take()
            .unwrap_or_else(|| RuntimeSettings::for_profile(profile));
        let http = self.http.take().unwrap_or_default();
        let runtime = Runtime::with_http(profile, key, settings, http)?;
        let http = runtime.http().clone();
        Ok(C::from_parts(&base_url, http, runtime))
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("settings", &self.settings)
            .finish()
    }
}

/// With the `rustls-ring` feature alone, reqwest takes rustls's process-wide crypto provider:
/// ring is installed as that provider, unless the program installed one first (its choice
/// stands). With `rustls-aws-lc`, reqwest brings its own; with neither, there is no TLS.
fn install_tls_provider() {
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err: another thread installed one in between, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
