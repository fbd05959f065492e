//! The four providers of tollgate in one place: their names (as the command line, the journal
//! and seed files spell them), where the sandbox mounts each one, and each provider crate's
//! client profile. The `tollgate` command and the sandbox both name providers through this
//! crate, so neither needs the other to say which provider it means.
//!
//! ```
//! use tollgate_providers::Provider;
//!
//! let enrich: Provider = "enrich".parse().unwrap();
//! assert_eq!(enrich.profile().cost.unit.to_string(), "credits");
//! assert_eq!(enrich.prefix(), "/enrich/api/v3");
//! assert!("acme".parse::<Provider>().is_err());
//! ```

/// One of the four providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// RocketReach, under `/rocketreach/api/v2`.
    RocketReach,
    /// RequestRocket, under `/requestrocket/api`.
    RequestRocket,
    /// Enrich, under `/enrich/api/v3`.
    Enrich,
    /// Spider News, under `/spidernews`.
    SpiderNews,
}

impl Provider {
    /// The four providers.
    pub const ALL: [Provider; 4] = [
        Provider::RocketReach,
        Provider::RequestRocket,
        Provider::Enrich,
        Provider::SpiderNews,
    ];

    /// The name used on the command line and in seed files (`rocketreach`).
    pub fn name(self) -> &'static str {
        match self {
            Provider::RocketReach => "rocketreach",
            Provider::RequestRocket => "requestrocket",
            Provider::Enrich => "enrich",
            Provider::SpiderNews => "spidernews",
        }
    }

    /// Where the provider's host is mounted when the sandbox serves all four (`/rocketreach`).
    pub fn mount(self) -> String {
        format!("/{}", self.name())
    }

    /// The path of the real base URL (`/api/v2` for RocketReach, empty for Spider News).
    pub fn base_path(self) -> &'static str {
        match self {
            Provider::RocketReach => "/api/v2",
            Provider::RequestRocket => "/api",
            Provider::Enrich => "/api/v3",
            Provider::SpiderNews => "",
        }
    }

    /// The path prefix the provider's operations are served under when all four are served
    /// (`/rocketreach/api/v2`).
    pub fn prefix(self) -> String {
        format!("{}{}", self.mount(), self.base_path())
    }

    /// The client profile of the provider (key header and format).
    pub fn profile(self) -> &'static tollgate::Profile {
        match self {
            Provider::RocketReach => &tollgate_rocketreach::PROFILE,
            Provider::RequestRocket => &tollgate_requestrocket::PROFILE,
            Provider::Enrich => &tollgate_enrich::PROFILE,
            Provider::SpiderNews => &tollgate_spidernews::PROFILE,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that is not one of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown provider `{0}`: use rocketreach, requestrocket, enrich or spidernews")]
pub struct UnknownProvider(pub String);

impl std::str::FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}
