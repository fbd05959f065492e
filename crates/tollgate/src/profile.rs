//! Provider profiles: everything that differs between providers, as data. The runtime reads a
//! [`Profile`] and has no per-provider branches.

use crate::cache::CacheProfile;
use crate::cost::CostModel;
use crate::vocab::ErrorKind;
pub use crate::vocab::RateLimitPlan;
use crate::vocab::Unit;

/// How a provider expects its credential on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// In a request header, as `<name>: <prefix><key>`.
    Header {
        /// The header name, e.g. `Api-Key`.
        name: &'static str,
        /// Written before the key, e.g. `Bearer ` (empty for none).
        prefix: &'static str,
    },
}

/// The characters a key may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCharset {
    /// `a-z` and `0-9`.
    LowercaseAlphanumeric,
    /// Any printable ASCII character except space.
    PrintableAscii,
    /// URL-safe base64 without padding: `A-Z`, `a-z`, `0-9`, `-`, `_`.
    UrlSafeBase64,
}

impl KeyCharset {
    /// Whether `c` is allowed.
    pub fn allows(self, c: char) -> bool {
        match self {
            KeyCharset::LowercaseAlphanumeric => c.is_ascii_lowercase() || c.is_ascii_digit(),
            KeyCharset::PrintableAscii => c.is_ascii_graphic(),
            KeyCharset::UrlSafeBase64 => c.is_ascii_alphanumeric() || c == '-' || c == '_',
        }
    }

    /// A description for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyCharset::LowercaseAlphanumeric => "lowercase letters and digits",
            KeyCharset::PrintableAscii => "printable ASCII characters",
            KeyCharset::UrlSafeBase64 => "letters, digits, `-` and `_` (URL-safe base64)",
        }
    }
}

/// What a well-formed key looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFormat {
    /// A prefix every key starts with (`sk_`, `u-`), if any.
    pub prefix: Option<&'static str>,
    /// The characters allowed after the prefix.
    pub charset: KeyCharset,
}

/// Where a provider's error bodies carry their message, code and hints. Pointers are JSON
/// pointers into the body; the first that is present wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorEnvelope {
    /// Pointers to the human message, in order of preference.
    pub message: &'static [&'static str],
    /// Pointer to a machine-readable code.
    pub code: Option<&'static str>,
    /// Pointer to a body field giving seconds to wait (Enrich's `retryAfter`).
    pub retry_after: Option<&'static str>,
    /// A response header carrying the request id.
    pub request_id_header: Option<&'static str>,
    /// Pointers to a request id in the body.
    pub request_id: &'static [&'static str],
    /// Error kinds told apart by their message where one status means several things:
    /// `(status, text the message contains, kind)`, first match wins; otherwise the status
    /// decides ([`ErrorKind::from_status`]).
    pub classify: &'static [(u16, &'static str, ErrorKind)],
}

impl ErrorEnvelope {
    /// Messages in `detail`, `message`, `error` or `title`; no code, hints or request id.
    pub const GENERIC: ErrorEnvelope = ErrorEnvelope {
        message: &["/detail", "/message", "/error", "/title"],
        code: None,
        retry_after: None,
        request_id_header: None,
        request_id: &[],
        classify: &[],
    };
}

/// One provider, as data: the runtime has no per-provider branches. Each provider crate owns
/// its profile (`tollgate_rocketreach::PROFILE`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// A human name, for messages (`RocketReach`).
    pub name: &'static str,
    /// The production base URL, without a trailing slash.
    pub base_url: &'static str,
    /// How the key is sent.
    pub auth: AuthScheme,
    /// The environment variable the key is read from.
    pub env_var: &'static str,
    /// What a key looks like.
    pub key_format: KeyFormat,
    /// How to read the provider's error bodies.
    pub errors: ErrorEnvelope,
    /// The documented rate limit the client paces itself to.
    pub rate_limit: RateLimitPlan,
    /// What each operation may cost, and where answers report what it cost.
    pub cost: CostModel,
    /// Free operations sent with POST that only read, so resending them is harmless.
    pub replayable: &'static [&'static str],
    /// Operations whose answer reports the account's remaining balance, and where.
    pub balance: &'static [(&'static str, &'static str)],
    /// What answers a client may keep and reuse ([`crate::cache`]).
    pub cache: CacheProfile,
}

impl Profile {
    /// A profile with a header credential and defaults for the rest: generic error envelope,
    /// 10 requests per second, every operation free, no replayable POSTs, no balance.
    ///
    /// ```
    /// use tollgate::profile::{KeyCharset, KeyFormat, Profile};
    /// use tollgate::{ApiKey, Runtime, Unit};
    ///
    /// static EXAMPLE: Profile = Profile::new(
    ///     "Example",
    ///     "https://api.example.com",
    ///     "X-Api-Key",
    ///     "EXAMPLE_API_KEY",
    ///     KeyFormat { prefix: None, charset: KeyCharset::LowercaseAlphanumeric },
    ///     Unit::Credits,
    /// );
    /// let runtime = Runtime::new(&EXAMPLE, ApiKey::parse(&EXAMPLE, "abc123")?)?;
    /// assert!(!format!("{runtime:?}").contains("abc123"));
    /// # Ok::<(), tollgate::Error>(())
    /// ```
    pub const fn new(
        name: &'static str,
        base_url: &'static str,
        header: &'static str,
        env_var: &'static str,
        key_format: KeyFormat,
        unit: Unit,
    ) -> Profile {
        Profile {
            name,
            base_url,
            auth: AuthScheme::Header {
                name: header,
                prefix: "",
            },
            env_var,
            key_format,
            errors: ErrorEnvelope::GENERIC,
            rate_limit: RateLimitPlan::per_second(10),
            cost: CostModel {
                unit,
                rules: &[],
                actual: &[],
                refunded: None,
                settlements: &[],
                credit_types: &[],
            },
            replayable: &[],
            balance: &[],
            cache: CacheProfile::NONE,
        }
    }

    /// Every operation id the profile names (cost rules, settlements, replayable POSTs,
    /// balances) that `generated` (the source of the generated client) does not define: a typo
    /// there would make a charged operation free. Each provider crate tests that this is empty.
    pub fn unknown_operations(&self, generated: &str) -> Vec<&'static str> {
        let named = self
            .cost
            .rules
            .iter()
            .map(|(op, _)| *op)
            .chain(self.cost.settlements.iter().copied())
            .chain(self.replayable.iter().copied())
            .chain(self.balance.iter().map(|(op, _)| *op))
            .chain(self.cache.operations());
        named
            .filter(|op| !generated.contains(&format!("operation_id: \"{op}\"")))
            .collect()
    }

    /// [`Profile::check`] and [`Profile::unknown_operations`] together: what each provider
    /// crate tests against its generated source.
    pub fn verify(&self, generated: &str) -> Result<(), String> {
        self.check()?;
        let unknown = self.unknown_operations(generated);
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: the profile names operations the generated client does not have: {}",
                self.name,
                unknown.join(", ")
            ))
        }
    }

    /// Checks what the runtime relies on: a usable header name, no trailing slash on the base
    /// URL, a usable rate plan, an error message pointer. Each provider crate tests its own.
    pub fn check(&self) -> Result<(), String> {
        let AuthScheme::Header { name, .. } = self.auth;
        if reqwest::header::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).is_err() {
            return Err(format!("{}: `{name}` is not a header name", self.name));
        }
        if self.base_url.ends_with('/') {
            return Err(format!("{}: the base URL ends with `/`", self.name));
        }
        if self.rate_limit.requests == 0 || self.rate_limit.burst == 0 {
            return Err(format!("{}: the rate plan allows nothing", self.name));
        }
        if self.errors.message.is_empty() {
            return Err(format!("{}: no error message pointer", self.name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostRule;

    #[test]
    fn a_misspelt_operation_is_caught() {
        let mut profile = Profile::new(
            "Example",
            "https://api.example.com",
            "X-Api-Key",
            "EXAMPLE_API_KEY",
            KeyFormat {
                prefix: None,
                charset: KeyCharset::LowercaseAlphanumeric,
            },
            Unit::Credits,
        );
        profile.cost.rules = &[("find_emial", CostRule::Fixed(10))];
        let generated = r#"OperationInfo { operation_id: "find_email" }"#;
        assert_eq!(profile.unknown_operations(generated), ["find_emial"]);
        assert!(
            profile
                .verify(generated)
                .unwrap_err()
                .contains("find_emial")
        );
        profile.cost.rules = &[("find_email", CostRule::Fixed(10))];
        assert_eq!(profile.verify(generated), Ok(()));
        profile.base_url = "https://api.example.com/";
        assert!(profile.check().is_err());
    }
}
