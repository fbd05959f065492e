//! [`Runtime`]: the value every generated client carries and calls around each request, and
//! [`ClientBuilder`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use tracing::Instrument;

mod answer;
mod budget;
mod builder;
mod cached;
mod call;
mod record;
mod transport;

pub use builder::{ClientBuilder, ProviderClient};
pub use cached::CachedItem;
pub(crate) use record::CallRecord;

use crate::auth::ApiKey;
use crate::cache::CacheMode;
use crate::cost::{Budget, CostRule, CostTable, Ledger, RequestView};
use crate::error::Error;
use crate::limit::Limiter;
use crate::profile::{AuthScheme, Profile, RateLimitPlan};
use crate::retry::{RetryBudget, RetryPolicy};
use budget::Accounts;
use call::Call;

/// The header progenitor adds to every request; no provider wants it. (A name, not a
/// string: removing by string parses it on every call.)
const API_VERSION: HeaderName = HeaderName::from_static("api-version");

/// The prefix of headers that only the runtime may set; any an answer carries is dropped.
const RESERVED_PREFIX: &str = "x-tollgate-";

/// The default total timeout of one HTTP attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default time to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default size limit of one answer: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The environment variables that, set to anything but blanks, make a client without an HTTP
/// client builder of yours send through reqwest's client (which honours them) rather than the
/// runtime's own transport, which has no proxy support ([`Runtime::uses_own_transport`]).
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

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
    /// What sends an attempt: the runtime's own transport, or `http`.
    transport: transport::Transport,
    retry: RetryPolicy,
    retry_budget: RetryBudget,
    /// The pace: the client's own, or shared with the other clients of its key.
    limiter: Option<Limiter>,
    cost: CostTable,
    budgets: Vec<Budget>,
    /// The budget and the ledger: one path, through a store (the client's own, or shared).
    accounts: Arc<Accounts>,
    max_response_bytes: u64,
    dry_run: bool,
    cache: Option<(crate::cache::Cache, crate::shared::Scope)>,
}

/// Settings of a [`Runtime`] beyond its profile and key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeSettings {
    /// The retry policy.
    pub retry: RetryPolicy,
    /// Tokens of the retry budget.
    pub retry_budget: u32,
    /// The client-side rate limit (`None`: no limit).
    pub rate_limit: Option<RateLimitPlan>,
    /// Spending limits: overall, per credit type, per period; one of each kind
    /// ([`Budget::same_kind`]). A call must fit in every one it counts against.
    pub budgets: Vec<Budget>,
    /// The shares of a budget at which the client warns ([`crate::BudgetWarning`]): 80%
    /// and 95% by default.
    pub budget_thresholds: Vec<f64>,
    /// What the client calls when it warns (besides a `tracing` warning).
    pub on_budget_warning: Option<crate::cost::WarningHook>,
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
            budgets: Vec::new(),
            budget_thresholds: crate::cost::DEFAULT_THRESHOLDS.to_vec(),
            on_budget_warning: None,
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
        Self::build(profile, key, settings, None)
    }

    /// A runtime whose HTTP client starts from `http` (proxies, TLS roots, pools, ...). The
    /// runtime sets on it what its promises need: no automatic redirects (it decides which to
    /// follow, and never carries the key to another origin), the timeouts and the user agent.
    ///
    /// reqwest's client then sends every attempt (not the runtime's own transport), so what
    /// the builder sets applies.
    pub fn with_http(
        profile: &'static Profile,
        key: ApiKey,
        settings: RuntimeSettings,
        http: reqwest::ClientBuilder,
    ) -> Result<Self, Error> {
        Self::build(profile, key, settings, Some(http))
    }

    /// A runtime whose attempts go through the caller's HTTP client builder (`Some`), or,
    /// without one, through the runtime's own transport where it can serve (see
    /// [`Runtime::uses_own_transport`]).
    pub(crate) fn build(
        profile: &'static Profile,
        key: ApiKey,
        settings: RuntimeSettings,
        custom: Option<reqwest::ClientBuilder>,
    ) -> Result<Self, Error> {
        let (auth_header, auth_value) = credential(profile, &key)?;
        check(profile, &settings)?;
        let user_agent = settings
            .user_agent
            .clone()
            .unwrap_or_else(|| format!("tollgate/{}", env!("CARGO_PKG_VERSION")));
        let timeouts = transport::Timeouts {
            total: settings.timeout,
            connect: settings.connect_timeout,
            read: settings.read_timeout,
        };
        install_tls_provider();
        let own_allowed =
            custom.is_none() && !transport::proxy_configured(|name| std::env::var(name).ok());
        let own_tls = transport::OwnTls::prepare(own_allowed)?;
        let mut http = custom.unwrap_or_default();
        if let Some(tls) = &own_tls {
            http = tls.share_with(http);
        }
        let mut http = http
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(&user_agent);
        if let Some(read) = settings.read_timeout {
            http = http.read_timeout(read);
        }
        let http = http.build().map_err(Error::HttpClient)?;
        let transport = match own_tls {
            Some(tls) => transport::Transport::own(tls, timeouts, &user_agent)?,
            None => transport::Transport::Reqwest(http.clone()),
        };
        let (limiter, accounts) = pace_and_accounts(profile, &key, &settings)?;
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
                transport,
                retry: settings.retry,
                retry_budget: RetryBudget::new(settings.retry_budget),
                limiter,
                cost: CostTable {
                    model: profile.cost,
                    overrides: settings.cost_overrides,
                },
                budgets: settings.budgets,
                accounts: Arc::new(accounts),
                max_response_bytes: settings.max_response_bytes,
                dry_run: settings.dry_run,
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
        &self.inner.accounts.ledger
    }

    /// A shared handle on the ledger.
    pub fn ledger_handle(&self) -> Arc<Ledger> {
        Arc::clone(&self.inner.accounts.ledger)
    }

    /// The overall budget (every charge, for good), if any.
    pub fn budget(&self) -> Option<&Budget> {
        self.inner
            .budgets
            .iter()
            .find(|b| b.credit_type.is_none() && b.period == crate::cost::Period::Total)
    }

    /// Every budget of the client: overall, per credit type, per period.
    pub fn budgets(&self) -> &[Budget] {
        &self.inner.budgets
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// Tokens left in the retry budget.
    pub fn retry_tokens(&self) -> u32 {
        self.inner.retry_budget.available()
    }

    /// The reqwest client the generated code builds requests with (redirects off, timeouts and
    /// user agent set). It also sends them when the runtime does not use its own transport
    /// ([`Runtime::uses_own_transport`]).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Whether attempts go through the runtime's own HTTP/1 transport (hyper-util and rustls,
    /// the crates reqwest is built on) rather than through reqwest's client: true unless the
    /// client was given an HTTP client builder of the caller's, a proxy is configured in the
    /// environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, either case), or no TLS feature
    /// is on. The own transport keeps what the runtime asks of reqwest (timeouts, user agent,
    /// no redirects, HTTP/1.1, the platform's certificate verifier) and skips reqwest's layers
    /// the runtime does not use; see `docs/runtime.md`.
    pub fn uses_own_transport(&self) -> bool {
        self.inner.transport.is_own()
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
        headers.remove(&API_VERSION);
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
        // Boxed: a call's steps are kilobytes of state, which a caller's future would otherwise
        // carry and copy each time it moves. (A generated `send()` boxes them once itself.)
        let record = CallRecord::default();
        Box::pin(self.send_recorded(request, operation, &record)).await
    }

    /// [`Runtime::send`], reporting attempts and statuses to `outcome` as it goes.
    pub(crate) async fn send_recorded(
        &self,
        mut request: reqwest::Request,
        operation: &'static str,
        record: &CallRecord,
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
        let control = crate::cache::current_control();
        let cache = self.inner.cache.as_ref();
        let sent = async {
            match cache.filter(|_| control.mode != CacheMode::Bypass) {
                // Boxed: the cache's steps make a large future, which a call without a cache
                // would otherwise carry (and copy) too.
                Some(cache) => {
                    let cached = self.send_cached(cache, control, request, operation, record);
                    Box::pin(cached).await
                }
                None => self.send_inner(request, operation, record).await,
            }
        };
        sent.instrument(span).await
    }

    async fn send_inner(
        &self,
        request: reqwest::Request,
        operation: &'static str,
        record: &CallRecord,
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
        let started = tokio::time::Instant::now();
        let hold = match inner
            .accounts
            .hold(operation, estimate, rule.parameter())
            .await
        {
            Ok(hold) => hold,
            Err(error) => {
                let outcome = crate::telemetry::Outcome::Refused;
                let elapsed = started.elapsed();
                crate::telemetry::call_ended(inner.profile.name, operation, outcome, 0, elapsed);
                return Err(error);
            }
        };
        let call = Call::new(self, &request, operation, estimate, record, started);
        call.run(request, hold).await
    }

    /// Waits for this call's turn in the pace (the client's own, or the one it shares).
    async fn pace(&self) -> Result<Duration, crate::limit::Paused> {
        match &self.inner.limiter {
            Some(limiter) => limiter.until_ready(self.inner.retry.max_retry_after).await,
            None => Ok(Duration::ZERO),
        }
    }

    /// Records spending made outside this client (earlier runs of a resumed job): in the
    /// ledger, and against the budget unless the budget is shared (a shared store already
    /// holds what the earlier runs settled). Later refunds of it are then credited instead
    /// of being refused as larger than what was spent.
    pub async fn carry_over(&self, operation: &str, spent: i64) {
        self.inner.accounts.carry_over(operation, spent).await;
    }

    /// Records `spent` by `operation` earlier in the current `period`, by other runs of the
    /// program (the CLI reads its journal): it counts against the client's own budgets that
    /// renew every `period`, so "1,000 lookups a day" holds across runs. A shared store
    /// already holds what every process spent, so a shared client ignores it; the ledger
    /// records only this client's calls.
    pub async fn spent_earlier_in(&self, period: crate::cost::Period, operation: &str, spent: i64) {
        self.inner
            .accounts
            .spent_earlier_in(period, operation, spent)
            .await;
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
            .field("budgets", &self.inner.budgets)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .finish()
    }
}

/// The header that carries the key, marked sensitive (no HTTP layer logs it).
fn credential(profile: &Profile, key: &ApiKey) -> Result<(HeaderName, HeaderValue), Error> {
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
    Ok((auth_header, auth_value))
}

/// Refuses settings the runtime cannot work with.
fn check(profile: &Profile, settings: &RuntimeSettings) -> Result<(), Error> {
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
    for budget in &settings.budgets {
        check_budget(profile, budget)?;
    }
    Ok(())
}

/// A budget must be in the provider's unit, of a credit type its cost rules name, and renew on
/// a day of the month that exists.
fn check_budget(profile: &Profile, budget: &Budget) -> Result<(), Error> {
    if budget.unit != profile.cost.unit {
        return Err(Error::InvalidSetting(format!(
            "{} bills in {}, but the budget is in {}",
            profile.name, profile.cost.unit, budget.unit
        )));
    }
    if let Some(credit_type) = &budget.credit_type {
        let names = profile.cost.credit_type_names();
        if !names.contains(&credit_type.as_str()) {
            return Err(Error::InvalidSetting(format!(
                "{} has no credit type `{credit_type}`; its charges use: {}",
                profile.name,
                names.join(", ")
            )));
        }
    }
    if let crate::cost::Period::Monthly { day } = budget.period
        && !(1..=31).contains(&day)
    {
        return Err(Error::InvalidSetting(format!(
            "a monthly budget renews on day 1 to 31 of the month, not {day}"
        )));
    }
    Ok(())
}

/// The pace and the accounts: on the shared store under the key's scope, or the client's own.
fn pace_and_accounts(
    profile: &Profile,
    key: &ApiKey,
    settings: &RuntimeSettings,
) -> Result<(Option<Limiter>, Accounts), Error> {
    let plan = || budget::Plan {
        provider: profile.name,
        model: profile.cost,
        ledger: Arc::clone(&settings.ledger),
        budgets: &settings.budgets,
        thresholds: (
            &settings.budget_thresholds,
            settings.on_budget_warning.clone(),
        ),
    };
    let Some(shared) = &settings.shared else {
        let limiter = match settings.rate_limit {
            Some(plan) => Some(Limiter::new(plan).ok_or_else(|| unusable(plan))?),
            None => None,
        };
        return Ok((limiter, Accounts::private(plan())));
    };
    let scope = shared.scope(profile.name, key.expose());
    let limiter = match settings.rate_limit {
        Some(plan) => {
            let store = Arc::clone(&shared.store);
            let limiter = Limiter::shared(plan, store, scope.clone(), shared.workers);
            Some(limiter.ok_or_else(|| unusable(plan))?)
        }
        None => None,
    };
    let accounts = Accounts::shared(plan(), shared, scope);
    Ok((limiter, accounts))
}

/// The error of a rate plan that allows no request.
fn unusable(plan: RateLimitPlan) -> Error {
    Error::InvalidSetting(format!("the rate limit {plan:?} allows no request"))
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
