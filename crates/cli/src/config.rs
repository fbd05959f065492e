//! The config file (`~/.config/tollgate/config.toml`), keys, targets, and building a client from
//! them.
//!
//! ```toml
//! # Where bulk jobs and charges are journaled (default: the user's data directory).
//! journal = "/var/lib/tollgate/journal.sqlite3"
//!
//! [enrich]
//! api_key = "sk_..."            # else ENRICH_API_KEY
//! base_url = "https://api.enrich.so/v3"
//! budget = 5000                 # the most one command may spend, in the provider's unit
//! rate_limit = { requests = 5, per_seconds = 1 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate::{Budget, ProviderClient, RateLimitPlan};
use tollgate_providers::Provider;

use crate::error::CliError;

/// The ledger window of the command's clients: more than the entries one step of a job records.
pub const LEDGER_WINDOW: usize = 256;

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The journal's file.
    pub journal: Option<PathBuf>,
    /// The cache of paid answers (default: `cache.sqlite3` beside the journal).
    pub cache: Option<PathBuf>,
    /// A Redis URL: share each key's pace and budget with every other process using it.
    pub redis: Option<String>,
    /// How many workers share a key (pacing falls back to the plan divided by this while
    /// Redis is unreachable).
    pub workers: Option<u32>,
    /// RocketReach's settings.
    pub rocketreach: Option<ProviderConfig>,
    /// RequestRocket's settings.
    pub requestrocket: Option<ProviderConfig>,
    /// Enrich's settings.
    pub enrich: Option<ProviderConfig>,
    /// Spider News's settings.
    pub spidernews: Option<ProviderConfig>,
}

/// The settings of one provider in the config file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The key (else the provider's environment variable).
    pub api_key: Option<String>,
    /// Where to send requests (else the provider's production URL).
    pub base_url: Option<String>,
    /// The most one command may spend, in the provider's unit.
    pub budget: Option<i64>,
    /// Budgets of one credit type or renewing ([`BudgetSpec`] syntax: `lookup=1000/daily`).
    #[serde(default)]
    pub budgets: Vec<String>,
    /// The client-side rate limit.
    pub rate_limit: Option<RateLimit>,
}

/// A budget of one credit type, or one that renews: `[TYPE=]N[/PERIOD]` (`--budget`, or
/// `budgets = [..]` in a provider's section of the config file). `lookup=1000/daily`: 1,000
/// `lookup` credits a day; `20000/monthly@15`: 20,000 a month from the 15th; `company_export=50`:
/// 50 company exports in all. A renewing budget counts what the journal recorded in its period
/// (every command of this journal and target), or, with `--redis`, what every process spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSpec {
    /// The credit type (`None`: every charge).
    pub credit_type: Option<String>,
    /// The limit, per period.
    pub limit: i64,
    /// When it renews.
    pub period: tollgate::Period,
}

impl std::str::FromStr for BudgetSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<BudgetSpec, String> {
        let wrong = |why: String| {
            format!("budget `{text}`: {why} (write [TYPE=]N[/PERIOD], such as lookup=1000/daily)")
        };
        let (credit_type, rest) = match text.split_once('=') {
            Some((t, rest)) if !t.trim().is_empty() => (Some(t.trim().to_owned()), rest),
            Some(_) => return Err(wrong("the credit type before `=` is empty".into())),
            None => (None, text),
        };
        let (limit, period) = match rest.split_once('/') {
            Some((n, p)) => (n, p.parse::<tollgate::Period>().map_err(wrong)?),
            None => (rest, tollgate::Period::Total),
        };
        let limit = match limit.trim().parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return Err(wrong(format!(
                    "`{}` is not a number of 0 or more",
                    limit.trim()
                )));
            }
        };
        Ok(BudgetSpec {
            credit_type,
            limit,
            period,
        })
    }
}

/// A rate plan in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per period.
    pub requests: u32,
    /// The period, in seconds.
    pub per_seconds: u64,
}

/// A key in `Debug` output: whether it is set, never its value.
struct RedactedKey<'a>(Option<&'a str>);

impl std::fmt::Debug for RedactedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "<set>" } else { "<unset>" })
    }
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("api_key", &RedactedKey(self.api_key.as_deref()))
            .field("base_url", &self.base_url)
            .field("budget", &self.budget)
            .field("budgets", &self.budgets)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl Config {
    /// The default place of the config file: `$XDG_CONFIG_HOME/tollgate/config.toml` (on
    /// Linux, `~/.config/tollgate/config.toml`).
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("tollgate").join("config.toml"))
    }

    /// Reads `path`; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(path: Option<&Path>) -> Result<Config, CliError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => match Self::default_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config::default());
            }
            Err(e) => return Err(CliError::io(path, e)),
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "config file {}: {}",
                path.display(),
                e.message().trim()
            ))
        })?;
        Ok(config)
    }

    /// The settings of `provider` (empty when the file has none).
    pub fn provider(&self, provider: Provider) -> &ProviderConfig {
        static EMPTY: ProviderConfig = ProviderConfig {
            api_key: None,
            base_url: None,
            budget: None,
            budgets: Vec::new(),
            rate_limit: None,
        };
        let section = match provider {
            Provider::RocketReach => &self.rocketreach,
            Provider::RequestRocket => &self.requestrocket,
            Provider::Enrich => &self.enrich,
            Provider::SpiderNews => &self.spidernews,
        };
        section.as_ref().unwrap_or(&EMPTY)
    }
}

/// Where and how one command reaches a provider: the key, the base URL, the spending limit.
#[derive(Clone)]
pub struct Target {
    /// The provider.
    pub provider: Provider,
    /// The key.
    pub key: String,
    /// The base URL.
    pub base_url: String,
    /// The most this command may spend (`--max-cost`, or the config file's budget).
    pub max_cost: Option<i64>,
    /// Budgets of one credit type or renewing (`--budget`, and the config file's `budgets`).
    pub budgets: Vec<BudgetSpec>,
    /// The client-side rate limit (`None`: the provider's plan).
    pub rate_limit: Option<RateLimitPlan>,
    /// Price every call and send none.
    pub dry_run: bool,
    /// The shared pace and budget (`--redis`).
    pub shared: Option<tollgate::Shared>,
    /// The cache of paid answers (`None`: `--no-cache`).
    pub cache: Option<tollgate::Cache>,
    /// What the journal calls this target: `production`, `sandbox`, or the base URL.
    pub label: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider)
            .field("key", &RedactedKey(Some(&self.key)))
            .field("base_url", &self.base_url)
            .field("max_cost", &self.max_cost)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// What the command line says about targets, for [`Target::resolve`].
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--max-cost`.
    pub max_cost: Option<i64>,
    /// `--budget`, each.
    pub budgets: Vec<BudgetSpec>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--sandbox`: the embedded sandbox's base URL for each provider.
    pub sandbox: Option<BTreeMap<Provider, (String, String)>>,
    /// `--redis` (connected): the shared pace and budget.
    pub shared: Option<tollgate::Shared>,
    /// The cache of paid answers (opened), unless `--no-cache`.
    pub cache: Option<tollgate::Cache>,
}

impl Target {
    /// The target of `provider` from the command line, the environment and the config file.
    pub fn resolve(
        provider: Provider,
        config: &Config,
        options: &TargetOptions,
    ) -> Result<Target, CliError> {
        let settings = config.provider(provider);
        let profile = provider.profile();
        let max_cost = match (options.max_cost, settings.budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(n) = max_cost
            && n < 0
        {
            return Err(CliError::Usage(format!(
                "a budget must be 0 or more {}, got {n}",
                profile.cost.unit
            )));
        }
        let mut budgets = Vec::new();
        for text in &settings.budgets {
            let spec: BudgetSpec = text
                .parse()
                .map_err(|e| CliError::Usage(format!("config file: [{}] {e}", provider.name())))?;
            budgets.push(spec);
        }
        // The command line's replace the config file's of the same type and period.
        for spec in &options.budgets {
            budgets.retain(|b: &BudgetSpec| {
                b.credit_type != spec.credit_type || b.period != spec.period
            });
            budgets.push(spec.clone());
        }
        let rate_limit = match &settings.rate_limit {
            Some(plan) if plan.requests == 0 || plan.per_seconds == 0 => {
                return Err(CliError::Usage(format!(
                    "config file: [{}] rate_limit needs requests and per_seconds of at least 1",
                    provider.name()
                )));
            }
            Some(plan) => Some(RateLimitPlan::new(
                plan.requests,
                Duration::from_secs(plan.per_seconds),
            )),
            None => None,
        };
        if let Some(sandbox) = &options.sandbox {
            let (base_url, key) = sandbox.get(&provider).cloned().ok_or_else(|| {
                CliError::Usage(format!("the sandbox does not serve {}", provider.name()))
            })?;
            return Ok(Target {
                provider,
                key,
                base_url,
                max_cost,
                budgets,
                rate_limit,
                dry_run: options.dry_run,
                shared: options.shared.clone(),
                cache: options.cache.clone(),
                label: "sandbox".into(),
            });
        }
        let key = match std::env::var(profile.env_var) {
            Ok(k) if !k.trim().is_empty() => k,
            _ => settings.api_key.clone().ok_or_else(|| {
                CliError::Usage(format!(
                    "no key for {}: set {}, or api_key under [{}] in {}{}",
                    profile.name,
                    profile.env_var,
                    provider.name(),
                    Config::default_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the config file".into()),
                    if cfg!(feature = "sandbox") {
                        ", or add --sandbox to try it offline"
                    } else {
                        ""
                    }
                ))
            })?,
        };
        let base_url = options
            .base_url
            .clone()
            .or_else(|| settings.base_url.clone())
            .unwrap_or_else(|| profile.base_url.to_owned());
        let label = if base_url == profile.base_url {
            "production".to_owned()
        } else {
            base_url.clone()
        };
        Ok(Target {
            provider,
            key,
            base_url,
            max_cost,
            budgets,
            rate_limit,
            dry_run: options.dry_run,
            shared: options.shared.clone(),
            cache: options.cache.clone(),
            label,
        })
    }

    /// This target in dry-run mode and unshared: a client of it prices a call by the
    /// runtime's own cost rules and sends nothing.
    pub fn pricing(&self) -> Target {
        Target {
            dry_run: true,
            shared: None,
            cache: None,
            max_cost: None,
            budgets: Vec::new(),
            ..self.clone()
        }
    }

    /// This target for free reads of the account: no budget, no cache, nothing journaled by
    /// the client itself (reconciliation must not change what it compares).
    pub fn pricing_free(&self) -> Target {
        Target {
            cache: None,
            max_cost: None,
            budgets: Vec::new(),
            dry_run: false,
            ..self.clone()
        }
    }

    /// A client of this target.
    pub fn client<C: ProviderClient>(&self) -> Result<C, CliError> {
        let mut builder = tollgate::ClientBuilder::<C>::new()
            .api_key(self.key.clone())
            .base_url(self.base_url.clone())
            .dry_run(self.dry_run)
            // The command reads the entries of each step as it goes (a few at a time): a small
            // window keeps that cheap over a long bulk job.
            .ledger(std::sync::Arc::new(tollgate::Ledger::with_window(
                LEDGER_WINDOW,
            )));
        if let Some(limit) = self.max_cost {
            builder = builder
                .budget(Budget::new(C::PROFILE.cost.unit, limit))
                .on_budget_warning(crate::output::budget_warning);
        }
        for spec in &self.budgets {
            let mut budget = Budget::new(C::PROFILE.cost.unit, spec.limit).renewing(spec.period);
            budget.credit_type = spec.credit_type.clone();
            builder = builder
                .budget(budget)
                .on_budget_warning(crate::output::budget_warning);
        }
        if let Some(plan) = self.rate_limit {
            builder = builder.rate_limit(Some(plan));
        }
        if let Some(shared) = &self.shared {
            builder = builder.shared(shared.clone());
        }
        if let Some(cache) = &self.cache {
            builder = builder.cache(cache.clone());
        }
        builder.build().map_err(|e| match e {
            tollgate::Error::Key(k) => {
                CliError::Usage(format!("the {} key is not usable: {k}", C::PROFILE.name))
            }
            tollgate::Error::InvalidSetting(why) => CliError::Usage(why),
            other => CliError::from(other),
        })
    }
}
