//! Accounts and keys: the ones every sandbox has, and the ones a seed file adds.
//!
//! A seed file is JSON, one list of accounts per provider (every member optional):
//!
//! ```json
//! {
//!   "rocketreach":   [{"key": "myrocketreachkey0001", "credits": 500, "universal": true}],
//!   "requestrocket": [{"key": "u-my-token"}],
//!   "enrich":        [{"key": "sk_live_mine", "credits": 1000, "plan": "free"}],
//!   "spidernews":    [{"key": "my-spider-key", "rows": 2000}]
//! }
//! ```
//!
//! `plan` is a plan name of the provider (`free`, `growth`, `scale`, `pro`, `enterprise`, or
//! `none` for no limit) or `{"requests": 60, "per_seconds": 60, "burst": 5}`.

use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::engine::RatePlan;

/// The RocketReach key every sandbox accepts: a legacy account with 10,000 credits.
pub const ROCKETREACH_KEY: &str = "sandboxrocketreachlegacy0000000001";
/// The RocketReach key of a Universal Credits account (10,000 credits).
pub const ROCKETREACH_UNIVERSAL_KEY: &str = "sandboxrocketreachuniversal0000001";
/// The RequestRocket user token every sandbox accepts.
pub const REQUESTROCKET_TOKEN: &str = "u-sandbox-token-0000000000000001";
/// The Enrich key every sandbox accepts (100,000 credits).
pub const ENRICH_KEY: &str = "sk_sandbox_00000000000000000000000001";
/// The Spider News key every sandbox accepts (the documentation's example key, 10,000 rows).
pub const SPIDERNEWS_KEY: &str = crate::spidernews::EXAMPLE_KEY;

/// Credits of the built-in RocketReach and Enrich accounts.
pub const DEFAULT_CREDITS: i64 = 10_000;
/// Credits of the built-in Enrich account.
pub const DEFAULT_ENRICH_CREDITS: i64 = 100_000;

/// A plan: by name or by numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PlanSeed {
    /// A named plan of the provider, or `none`.
    Named(String),
    /// Explicit numbers.
    Explicit(RatePlan),
}

/// One account of a seed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    /// The key (its format is checked like the provider's).
    pub key: String,
    /// Credits (RocketReach, Enrich); default 10,000 and 100,000.
    #[serde(default)]
    pub credits: Option<i64>,
    /// Rows (Spider News); default 10,000.
    #[serde(default)]
    pub rows: Option<i64>,
    /// RocketReach: a Universal Credits account (default false: legacy).
    #[serde(default)]
    pub universal: bool,
    /// The rate plan; default the provider's largest documented plan.
    #[serde(default)]
    pub plan: Option<PlanSeed>,
}

/// A seed file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// RocketReach accounts.
    pub rocketreach: Vec<AccountSeed>,
    /// RequestRocket accounts.
    pub requestrocket: Vec<AccountSeed>,
    /// Enrich accounts.
    pub enrich: Vec<AccountSeed>,
    /// Spider News accounts.
    pub spidernews: Vec<AccountSeed>,
}

/// Why a seed could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("could not read the seed file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a seed.
    #[error("the seed file {path} is not valid: {source}")]
    Parse {
        /// The path.
        path: String,
        /// The cause (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A key has the wrong format for its provider.
    #[error("{provider} key #{index} of the seed is not a key the provider would issue: {source}")]
    Key {
        /// The provider.
        provider: &'static str,
        /// The position in the list, from 1.
        index: usize,
        /// The cause.
        #[source]
        source: tollgate::KeyError,
    },
    /// A plan name the provider does not have.
    #[error("{provider} has no plan named `{name}`; use one of: {known}")]
    Plan {
        /// The provider.
        provider: &'static str,
        /// The name given.
        name: String,
        /// The names known.
        known: String,
    },
    /// Credits or rows below zero.
    #[error("{provider} key #{index} of the seed has a negative balance ({value})")]
    Negative {
        /// The provider.
        provider: &'static str,
        /// The position in the list, from 1.
        index: usize,
        /// The value.
        value: i64,
    },
}

impl Seed {
    /// Reads a seed file.
    pub fn from_file(path: &std::path::Path) -> Result<Seed, SeedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SeedError::Parse {
            path: shown,
            source,
        })
    }

    /// The accounts of one provider.
    pub fn accounts(&self, provider: Provider) -> &[AccountSeed] {
        match provider {
            Provider::RocketReach => &self.rocketreach,
            Provider::RequestRocket => &self.requestrocket,
            Provider::Enrich => &self.enrich,
            Provider::SpiderNews => &self.spidernews,
        }
    }

    /// Checks every key's format, plan name and balance, naming the first problem.
    pub fn check(&self) -> Result<(), SeedError> {
        for provider in Provider::ALL {
            for (i, account) in self.accounts(provider).iter().enumerate() {
                account.check(provider, i + 1)?;
            }
        }
        Ok(())
    }
}

impl AccountSeed {
    /// Checks the key's format, the plan name and the balance; `index` (from 1) names the
    /// account in errors.
    pub fn check(&self, provider: Provider, index: usize) -> Result<(), SeedError> {
        let name = provider.profile().name;
        tollgate::ApiKey::parse(provider.profile(), self.key.clone()).map_err(|source| {
            SeedError::Key {
                provider: name,
                index,
                source,
            }
        })?;
        if let Some(plan) = &self.plan {
            resolve_plan(provider, plan)?;
        }
        for value in [self.credits, self.rows].into_iter().flatten() {
            if value < 0 {
                return Err(SeedError::Negative {
                    provider: name,
                    index,
                    value,
                });
            }
        }
        Ok(())
    }
}

/// The documented plans of a provider, by name (requests, per seconds, burst).
pub fn plans(provider: Provider) -> &'static [(&'static str, RatePlan)] {
    const fn p(requests: u32, per_seconds: u64, burst: u32) -> RatePlan {
        RatePlan {
            requests,
            per_seconds,
            burst,
        }
    }
    // Enrich (docs/providers/enrich.md): sustained per minute, burst per second.
    const ENRICH: &[(&str, RatePlan)] = &[
        ("free", p(60, 60, 5)),
        ("growth", p(300, 60, 25)),
        ("scale", p(1_000, 60, 50)),
        ("pro", p(5_000, 60, 100)),
        ("enterprise", p(10_000, 60, 200)),
    ];
    // RocketReach (docs/providers/rocketreach.md): 10 per second across every API.
    const ROCKETREACH: &[(&str, RatePlan)] =
        &[("standard", p(10, 1, 10)), ("enterprise", p(100, 1, 100))];
    // RequestRocket (docs/providers/requestrocket.md): Basic 100 per minute.
    const REQUESTROCKET: &[(&str, RatePlan)] =
        &[("basic", p(100, 60, 10)), ("enterprise", p(6_000, 60, 600))];
    match provider {
        Provider::Enrich => ENRICH,
        Provider::RocketReach => ROCKETREACH,
        Provider::RequestRocket => REQUESTROCKET,
        Provider::SpiderNews => &[],
    }
}

/// The plan new accounts get: the provider's largest, so tests and the demo are not slowed.
pub fn default_plan(provider: Provider) -> Option<RatePlan> {
    plans(provider).last().map(|(_, p)| *p)
}

/// A plan seed as numbers (`None`: no limit).
pub fn resolve_plan(provider: Provider, plan: &PlanSeed) -> Result<Option<RatePlan>, SeedError> {
    match plan {
        PlanSeed::Explicit(p) => Ok(Some(*p)),
        PlanSeed::Named(name) if name == "none" => Ok(None),
        PlanSeed::Named(name) => plans(provider)
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| Some(*p))
            .ok_or_else(|| SeedError::Plan {
                provider: provider.profile().name,
                name: name.clone(),
                known: plans(provider)
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(["none"])
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
    }
}
