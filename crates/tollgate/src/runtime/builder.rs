//! [`ClientBuilder`] and the trait every generated client implements.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{Runtime, RuntimeSettings};
use crate::auth::ApiKey;
use crate::cost::{Budget, CostRule, Ledger};
use crate::error::Error;
use crate::profile::{Profile, RateLimitPlan};
use crate::retry::RetryPolicy;

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
/// base URL is the provider's production URL, the timeout is [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT) (connect
/// [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT)), retries follow [`RetryPolicy::default`], the rate limit is the
/// provider's documented plan, answers are limited to [`DEFAULT_MAX_RESPONSE_BYTES`](crate::DEFAULT_MAX_RESPONSE_BYTES), the user
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

    /// The total timeout of one HTTP attempt, from sending it to the answer's last byte
    /// (default [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT), 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings().timeout = timeout;
        self
    }

    /// The time to open a connection (default 10 s); one never opened is retried.
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

    /// The retry policy (default [`RetryPolicy::default`]: 3 attempts, backoff from 500 ms to
    /// 8 s with jitter, server waits up to 60 s slept through); [`RetryPolicy::none`] disables
    /// retries.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings().retry = policy;
        self
    }

    /// Your own HTTP client settings (proxies, TLS roots, connection pool). A builder rather
    /// than a built client, because the runtime must switch off automatic redirects (so the key
    /// never follows one to another origin) and sets the timeouts and user agent on it.
    pub fn http_client(mut self, http: reqwest::ClientBuilder) -> Self {
        self.http = Some(http);
        self
    }

    /// The size of the retry budget, in tokens (default 500; a retry costs 5, 10 after a
    /// timeout, and a success gives 1 back): a failing provider gets few retries, not a storm.
    pub fn retry_budget(mut self, tokens: u32) -> Self {
        self.settings().retry_budget = tokens;
        self
    }

    /// The client-side rate limit; `None` sends without pacing.
    pub fn rate_limit(mut self, plan: Option<RateLimitPlan>) -> Self {
        self.settings().rate_limit = plan;
        self
    }

    /// Records usage in this ledger (to share one across clients, or to keep a longer window
    /// of entries: [`Ledger::with_window`]).
    pub fn ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.settings().ledger = ledger;
        self
    }

    /// A spending limit: requests whose maximum cost exceeds what is left are refused before
    /// they are sent. Call it once per budget: overall ([`Budget::credits`], [`Budget::rows`]),
    /// for one credit type ([`Budget::of_type`]), renewing ([`Budget::renewing`]); a budget of
    /// the same credit type and period as an earlier one replaces it. A call must fit in the
    /// overall budget and in the budget of every credit type it spends; the refusal names the
    /// budget that refused.
    ///
    /// ```
    /// use tollgate::{Budget, Period};
    /// # fn build<C: tollgate::ProviderClient>(builder: tollgate::ClientBuilder<C>) -> tollgate::ClientBuilder<C> {
    /// builder
    ///     .budget(Budget::credits(5_000))
    ///     .budget(Budget::credits(1_000).of_type("lookup").renewing(Period::Daily))
    ///     .budget(Budget::credits(50).of_type("company_export").renewing(Period::Monthly { day: 15 }))
    /// # }
    /// ```
    pub fn budget(mut self, budget: Budget) -> Self {
        let budgets = &mut self.settings().budgets;
        budgets.retain(|b| !b.same_kind(&budget));
        budgets.push(budget);
        self
    }

    /// The shares of the budget at which the client warns (each between 0 and 1; default
    /// [`crate::cost::DEFAULT_THRESHOLDS`], 80% and 95%; empty: never). Each fires once per
    /// crossing: a `tracing` warning, and the hook of [`ClientBuilder::on_budget_warning`].
    pub fn budget_thresholds(mut self, shares: &[f64]) -> Self {
        self.settings().budget_thresholds = shares.to_vec();
        self
    }

    /// Calls `hook` each time spending crosses a threshold of the budget (before anything is
    /// refused): to log it, alert, slow down, or show it.
    pub fn on_budget_warning(
        mut self,
        hook: impl Fn(&crate::BudgetWarning) + Send + Sync + 'static,
    ) -> Self {
        self.settings().on_budget_warning = Some(crate::cost::WarningHook::new(hook));
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

    /// Replaces the cost rule of one operation (for example other per-unit constants).
    pub fn cost_rule(mut self, operation: impl Into<String>, rule: CostRule) -> Self {
        self.settings()
            .cost_overrides
            .insert(operation.into(), rule);
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
        let runtime = Runtime::build(profile, key, settings, self.http.take())?;
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
