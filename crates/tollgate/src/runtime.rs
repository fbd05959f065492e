//! [`Runtime`]: the value every generated client carries and calls around each request, and
//! [`ClientBuilder`].

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::Instrument;

use crate::auth::ApiKey;
use crate::cost::{self, Budget, CostRule, CostTable, Ledger, RequestView, Usage};
use crate::error::{Error, annotation};
use crate::limit::Limiter;
use crate::profile::{AuthScheme, Profile, RateLimitPlan};
use crate::retry::{self, Decision, Failure, Resend, RetryBudget, RetryPolicy, StopReason};

/// The header progenitor adds to every request; no provider wants it.
const API_VERSION: &str = "api-version";

/// The default total timeout of one HTTP attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The runtime state of one client: profile, credential, retry policy and budget, rate limiter,
/// cost rules, spending budget and usage ledger. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    profile: &'static Profile,
    key: ApiKey,
    auth_header: HeaderName,
    retry: RetryPolicy,
    retry_budget: RetryBudget,
    limiter: Option<Limiter>,
    cost: CostTable,
    budget: Option<Budget>,
    ledger: Arc<Ledger>,
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
        }
    }
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
        let AuthScheme::Header { name, .. } = profile.auth;
        let auth_header =
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                Error::InvalidProfile {
                    provider: profile.name,
                    field: "auth header name",
                }
            })?;
        if settings.retry.max_attempts == 0 {
            return Err(Error::InvalidSetting(
                "the retry policy needs at least 1 attempt".into(),
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
        Ok(Runtime {
            inner: Arc::new(Inner {
                profile,
                key,
                auth_header,
                retry: settings.retry,
                retry_budget: RetryBudget::new(settings.retry_budget),
                limiter,
                cost: CostTable {
                    model: profile.cost,
                    overrides: settings.cost_overrides,
                },
                budget: settings.budget,
                ledger: settings.ledger,
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

    /// Before a request is sent: writes the credential the way the provider expects it (marked
    /// sensitive, so no HTTP layer logs it), removes progenitor's `api-version` header, and
    /// reserves the request's maximum cost in the budget, refusing it when it does not fit.
    pub fn prepare(&self, operation: &str, request: &mut reqwest::Request) -> Result<(), Error> {
        let inner = &self.inner;
        let headers = request.headers_mut();
        headers.remove(API_VERSION);
        let AuthScheme::Header { prefix, .. } = inner.profile.auth;
        let mut value =
            HeaderValue::from_str(&format!("{prefix}{}", inner.key.expose())).map_err(|_| {
                Error::InvalidSetting(format!(
                    "the {} key cannot be sent as a header value",
                    inner.profile.name
                ))
            })?;
        value.set_sensitive(true);
        headers.insert(inner.auth_header.clone(), value);

        let rule = inner.cost.rule(operation);
        let needed = rule.max_cost(&RequestView::of(request))?;
        inner
            .ledger
            .reserve(
                inner.budget,
                operation,
                needed,
                rule.parameter(),
                inner.cost.model.unit,
            )
            .map_err(|refusal| {
                tracing::warn!(
                    provider = inner.profile.name,
                    operation,
                    needed,
                    remaining = refusal.remaining,
                    "refused by the budget"
                );
                Error::CostRefused(refusal)
            })
    }

    /// Sends a prepared request: waits for the rate limiter, retries by the policy, records the
    /// cost, all under one `tollgate.call` tracing span (provider, operation, attempts, status,
    /// wait, cost; never the key).
    ///
    /// After a failure it stops retrying on, the last answer is handed back annotated (attempts,
    /// history, why it stopped, a wait beyond the cap) for [`Error`] to report.
    pub async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        operation: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
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
        self.execute_inner(client, request, operation)
            .instrument(span)
            .await
    }

    async fn execute_inner(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        operation: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        let inner = &self.inner;
        let span = tracing::Span::current();
        let estimate = inner
            .cost
            .rule(operation)
            .max_cost(&RequestView::of(&request))
            .unwrap_or(0);
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
        let mut history: Vec<String> = Vec::new();
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 0;
        let mut current = request;
        loop {
            attempt += 1;
            span.record("attempts", attempt);
            if let Some(limiter) = &inner.limiter {
                waited += limiter.until_ready().await;
            }
            // Keep a copy for a retry; a streaming body cannot be copied and is sent once.
            let next = current.try_clone();
            let can_retry = next.is_some();
            match client.execute(current).await {
                Ok(response) => {
                    let status = response.status();
                    span.record("status", status.as_u16());
                    if let Some(limiter) = &inner.limiter {
                        limiter.observe(response.headers());
                    }
                    if status.is_success() {
                        inner.retry_budget.deposit();
                        span.record("waited_ms", waited.as_millis() as u64);
                        return self
                            .finish_success(operation, estimate, response, attempt, &history, &span)
                            .await;
                    }
                    history.push(status.as_u16().to_string());
                    let (parts, body) = split(response).await?;
                    if !retry::retryable_status(status) {
                        span.record("waited_ms", waited.as_millis() as u64);
                        self.settle(operation, estimate, 0, 0, status.as_u16());
                        return Ok(self.finish_error(parts, body, attempt, &history, None, None));
                    }
                    let requested =
                        retry::retry_after(&parts.headers).or_else(|| self.body_retry_after(&body));
                    if status == StatusCode::TOO_MANY_REQUESTS
                        && let (Some(limiter), Some(wait)) = (&inner.limiter, requested)
                        && wait <= inner.retry.max_retry_after
                    {
                        limiter.pause(wait);
                    }
                    let decision = if can_retry {
                        retry::decide(
                            &inner.retry,
                            resend,
                            attempt,
                            Failure::Status(status),
                            requested,
                            &inner.retry_budget,
                        )
                    } else {
                        Decision::Stop(StopReason::NotIdempotent)
                    };
                    match (decision, next) {
                        (Decision::Retry(wait), Some(again)) => {
                            tracing::debug!(
                                attempt,
                                status = status.as_u16(),
                                wait_ms = wait.as_millis() as u64,
                                "retrying"
                            );
                            tokio::time::sleep(wait).await;
                            waited += wait;
                            current = again;
                        }
                        (Decision::RetryLater(wait), _) => {
                            span.record("waited_ms", waited.as_millis() as u64);
                            tracing::info!(
                                attempt,
                                status = status.as_u16(),
                                wait_ms = wait.as_millis() as u64,
                                "server asked for a wait beyond the cap"
                            );
                            self.settle(operation, estimate, 0, 0, status.as_u16());
                            return Ok(self.finish_error(
                                parts,
                                body,
                                attempt,
                                &history,
                                None,
                                Some(wait),
                            ));
                        }
                        (decision, _) => {
                            span.record("waited_ms", waited.as_millis() as u64);
                            let reason = match decision {
                                Decision::Stop(reason) => reason,
                                _ => StopReason::NotIdempotent,
                            };
                            self.settle(operation, estimate, 0, 0, status.as_u16());
                            return Ok(self.finish_error(
                                parts,
                                body,
                                attempt,
                                &history,
                                Some(reason),
                                None,
                            ));
                        }
                    }
                }
                Err(error) => {
                    let failure = if error.is_connect() {
                        Failure::Connect
                    } else {
                        Failure::Timeout
                    };
                    history.push(
                        if error.is_connect() {
                            "connect"
                        } else if error.is_timeout() {
                            "timeout"
                        } else {
                            "transport"
                        }
                        .to_owned(),
                    );
                    let decision = if can_retry {
                        retry::decide(
                            &inner.retry,
                            resend,
                            attempt,
                            failure,
                            None,
                            &inner.retry_budget,
                        )
                    } else {
                        Decision::Stop(StopReason::NotIdempotent)
                    };
                    match (decision, next) {
                        (Decision::Retry(wait), Some(again)) => {
                            tracing::debug!(attempt, failure = ?failure, wait_ms = wait.as_millis() as u64, "retrying");
                            tokio::time::sleep(wait).await;
                            waited += wait;
                            current = again;
                        }
                        _ => {
                            span.record("waited_ms", waited.as_millis() as u64);
                            tracing::debug!(attempt, history = %history.join(","), "giving up");
                            self.settle_unknown(operation, estimate, &span, failure);
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// A transport failure. When the connection never opened nothing was charged; otherwise
    /// the server may have charged the call, so the ledger keeps the estimate (the most it may
    /// have cost).
    fn settle_unknown(
        &self,
        operation: &str,
        estimate: i64,
        span: &tracing::Span,
        failure: Failure,
    ) {
        let charged = if failure == Failure::Connect {
            0
        } else {
            estimate
        };
        span.record("cost", charged);
        self.settle(operation, estimate, charged, 0, 0);
    }

    fn settle(&self, operation: &str, estimate: i64, charged: i64, refunded: i64, status: u16) {
        self.inner.ledger.settle(
            estimate,
            Usage {
                operation: operation.to_owned(),
                unit: self.inner.cost.model.unit,
                estimated: estimate,
                charged,
                refunded,
                status,
            },
        );
    }

    async fn finish_success(
        &self,
        operation: &str,
        estimate: i64,
        response: reqwest::Response,
        attempt: u32,
        history: &[String],
        span: &tracing::Span,
    ) -> reqwest::Result<reqwest::Response> {
        let inner = &self.inner;
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
        let status = response.status().as_u16();
        if !reads_body {
            span.record("cost", estimate);
            self.settle(operation, estimate, estimate, 0, status);
            return Ok(if attempt > 1 {
                self.annotate(response, attempt, history, None, None)
            } else {
                response
            });
        }
        let resource = format!("{operation} {}", response.url().path());
        let (parts, body) = split(response).await?;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let (charged, refunded) = parsed
            .as_ref()
            .and_then(|v| cost::reported_cost(&inner.cost.model, v))
            .unwrap_or((estimate, 0));
        // A settlement reports the final cost of something reserved earlier: only its refund
        // is new, and only the first time it is seen.
        let (charged, refunded) = if inner.cost.model.settlements.contains(&operation) {
            let first = refunded != 0 && inner.ledger.first_settlement(&resource);
            (0, if first { refunded } else { 0 })
        } else {
            (charged, refunded)
        };
        if let (Some(pointer), Some(v)) = (balance, parsed.as_ref())
            && let Some(remaining) = v.pointer(pointer).and_then(Value::as_i64)
        {
            inner.ledger.record_balance(remaining, operation);
        }
        span.record("cost", charged);
        self.settle(operation, estimate, charged, refunded, status);
        let rebuilt = rebuild(parts, body);
        Ok(if attempt > 1 {
            self.annotate(rebuilt, attempt, history, None, None)
        } else {
            rebuilt
        })
    }

    /// Hands back an error answer: annotated with the attempts and with the provider's message,
    /// code and request id (read by the profile's envelope), so [`Error`] has them even when
    /// the status is not one the spec declares. A body that is not JSON (an HTML error page,
    /// an empty body) is replaced by `{}` so the generated code still hands back the status and
    /// headers; its text is kept in the message annotation.
    fn finish_error(
        &self,
        mut parts: http::response::Parts,
        body: Bytes,
        attempts: u32,
        history: &[String],
        stopped: Option<StopReason>,
        retry_later: Option<Duration>,
    ) -> reqwest::Response {
        let envelope = &self.inner.profile.errors;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let pick = |pointers: &[&str]| {
            parsed
                .as_ref()
                .and_then(|b| pointers.iter().find_map(|p| b.pointer(p).and_then(text)))
        };
        let (message, body) = match &parsed {
            Some(_) => (pick(envelope.message), body),
            None => {
                let raw = String::from_utf8_lossy(&body)
                    .trim()
                    .chars()
                    .take(500)
                    .collect::<String>();
                parts.headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                parts.headers.remove(reqwest::header::CONTENT_LENGTH);
                ((!raw.is_empty()).then_some(raw), Bytes::from_static(b"{}"))
            }
        };
        let code = envelope.code.and_then(|c| pick(&[c]));
        let request_id = pick(envelope.request_id);
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&annotation::escape(&v)).ok())
            {
                parts.headers.insert(name, v);
            }
        };
        put(annotation::MESSAGE, message);
        put(annotation::CODE, code);
        put(annotation::REQUEST_ID, request_id);
        self.annotate(
            rebuild(parts, body),
            attempts,
            history,
            stopped,
            retry_later,
        )
    }

    fn body_retry_after(&self, body: &Bytes) -> Option<Duration> {
        let pointer = self.inner.profile.errors.retry_after?;
        let value: Value = serde_json::from_slice(body).ok()?;
        let seconds = value.pointer(pointer)?.as_f64()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
    }

    fn annotate(
        &self,
        mut response: reqwest::Response,
        attempts: u32,
        history: &[String],
        stopped: Option<StopReason>,
        retry_later: Option<Duration>,
    ) -> reqwest::Response {
        let headers = response.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        put(annotation::PROVIDER, self.inner.profile.name.to_owned());
        put(annotation::ATTEMPTS, attempts.to_string());
        put(annotation::HISTORY, history.join(","));
        if let Some(reason) = stopped {
            let text = match reason {
                StopReason::NotRetryable => None,
                StopReason::NotIdempotent => {
                    Some("the request may charge and may have been processed")
                }
                StopReason::AttemptsExhausted => Some("attempts exhausted"),
                StopReason::BudgetExhausted => Some("the client's retry budget is spent"),
            };
            if let Some(t) = text {
                put(annotation::STOPPED, t.to_owned());
            }
        }
        if let Some(wait) = retry_later {
            put(annotation::RETRY_LATER_MS, wait.as_millis().to_string());
        }
        response
    }
}

/// Reads a response into its head and its body.
async fn split(response: reqwest::Response) -> reqwest::Result<(http::response::Parts, Bytes)> {
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.version_mut() = response.version();
    *head.headers_mut() = response.headers().clone();
    let (parts, ()) = head.into_parts();
    let bytes = response.bytes().await?;
    Ok((parts, bytes))
}

/// Builds a response from parts and a buffered body.
fn rebuild(parts: http::response::Parts, body: Bytes) -> reqwest::Response {
    reqwest::Response::from(http::Response::from_parts(parts, body))
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
            .finish()
    }
}

/// Implemented (by [`crate::provider_client!`]) for every generated provider client.
pub trait ProviderClient: Sized {
    /// The provider's profile.
    const PROFILE: &'static Profile;

    /// Assembles the client from its parts.
    fn from_parts(base_url: &str, http: reqwest::Client, runtime: Runtime) -> Self;
}

/// Builds a provider client: key, base URL, timeout, retry policy, rate limit, budget.
///
/// Every setting has a default: the key comes from the provider's environment variable, the
/// base URL is the provider's production URL, the timeout is [`DEFAULT_TIMEOUT`], retries follow
/// [`RetryPolicy::default`], the rate limit is the provider's documented plan, and there is no
/// budget.
pub struct ClientBuilder<C> {
    key: Option<secrecy::SecretString>,
    base_url: Option<String>,
    timeout: Duration,
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
            timeout: DEFAULT_TIMEOUT,
            settings: None,
            client: PhantomData,
        }
    }

    fn settings(&mut self) -> &mut RuntimeSettings {
        self.settings
            .get_or_insert_with(|| RuntimeSettings::for_profile(C::PROFILE))
    }

    /// The API key (instead of the environment variable).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(secrecy::SecretString::from(key.into()));
        self
    }

    /// Another base URL: a sandbox, a proxy. A trailing slash is removed.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The total timeout of one HTTP attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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

    /// Records usage in this ledger (to share one across clients).
    pub fn ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.settings().ledger = ledger;
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
        if self.timeout.is_zero() {
            return Err(Error::InvalidSetting(
                "the timeout must be longer than zero".into(),
            ));
        }
        let settings = self
            .settings
            .take()
            .unwrap_or_else(|| RuntimeSettings::for_profile(profile));
        let runtime = Runtime::with_settings(profile, key, settings)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(C::from_parts(&base_url, http, runtime))
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("settings", &self.settings)
            .finish()
    }
}
