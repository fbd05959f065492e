//! API keys: validated when a client is built, kept secret afterwards.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::profile::Profile;

/// Why a key was refused. Never contains the key itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No key was given and the environment variable is unset.
    #[error("no {provider} API key: pass one to the client builder or set {env_var}")]
    Missing {
        /// The provider.
        provider: &'static str,
        /// The variable that was read.
        env_var: &'static str,
    },
    /// The environment variable is not valid Unicode.
    #[error("{env_var} is not valid Unicode")]
    NotUnicode {
        /// The variable that was read.
        env_var: &'static str,
    },
    /// The key is empty.
    #[error("the {provider} API key is empty")]
    Empty {
        /// The provider.
        provider: &'static str,
    },
    /// The key contains whitespace (often a newline left over from a file).
    #[error(
        "the {provider} API key contains whitespace at position {position}; remove it (a trailing newline from a file or a copy-paste?)"
    )]
    Whitespace {
        /// The provider.
        provider: &'static str,
        /// The 0-based character position of the first whitespace.
        position: usize,
    },
    /// The key lacks the prefix every key of this provider has.
    #[error("the {provider} API key must start with `{expected}`")]
    WrongPrefix {
        /// The provider.
        provider: &'static str,
        /// The expected prefix.
        expected: &'static str,
    },
    /// The key contains a character keys of this provider never contain.
    #[error(
        "the {provider} API key contains a character that is not allowed at position {position}; keys contain only {allowed}"
    )]
    InvalidCharacter {
        /// The provider.
        provider: &'static str,
        /// The 0-based character position.
        position: usize,
        /// What is allowed.
        allowed: &'static str,
    },
}

/// A validated API key. Its `Debug` output is redacted and it never appears in errors.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Validates `raw` against the provider's key format.
    ///
    /// ```
    /// use tollgate::profile::{KeyCharset, KeyFormat, Profile};
    /// use tollgate::{ApiKey, KeyError, Unit};
    ///
    /// static ROCKETREACH: Profile = Profile::new(
    ///     "RocketReach",
    ///     "https://api.rocketreach.co/api/v2",
    ///     "Api-Key",
    ///     "ROCKETREACH_API_KEY",
    ///     KeyFormat { prefix: None, charset: KeyCharset::LowercaseAlphanumeric },
    ///     Unit::Credits,
    /// );
    /// let key = ApiKey::parse(&ROCKETREACH, "3e7k0123456789abcdef0123456789abcdef").unwrap();
    /// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    /// assert!(matches!(ApiKey::parse(&ROCKETREACH, "abc\n"), Err(KeyError::Whitespace { position: 3, .. })));
    /// ```
    pub fn parse(profile: &Profile, raw: impl Into<String>) -> Result<Self, KeyError> {
        let raw: String = raw.into();
        let provider = profile.name;
        if raw.is_empty() {
            return Err(KeyError::Empty { provider });
        }
        if let Some(position) = raw.chars().position(char::is_whitespace) {
            return Err(KeyError::Whitespace { provider, position });
        }
        let rest = match profile.key_format.prefix {
            Some(prefix) => match raw.strip_prefix(prefix) {
                Some(rest) => rest,
                None => {
                    return Err(KeyError::WrongPrefix {
                        provider,
                        expected: prefix,
                    });
                }
            },
            None => raw.as_str(),
        };
        if rest.is_empty() {
            return Err(KeyError::Empty { provider });
        }
        let charset = profile.key_format.charset;
        if let Some(offset) = rest.chars().position(|c| !charset.allows(c)) {
            let position = raw.chars().count() - rest.chars().count() + offset;
            return Err(KeyError::InvalidCharacter {
                provider,
                position,
                allowed: charset.describe(),
            });
        }
        Ok(ApiKey(SecretString::from(raw)))
    }

    /// Reads and validates the key from the provider's environment variable.
    pub fn from_env(profile: &Profile) -> Result<Self, KeyError> {
        match std::env::var(profile.env_var) {
            Ok(value) => Self::parse(profile, value),
            Err(std::env::VarError::NotPresent) => Err(KeyError::Missing {
                provider: profile.name,
                env_var: profile.env_var,
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::NotUnicode {
                env_var: profile.env_var,
            }),
        }
    }

    /// The key itself. Only the code that writes the credential on the wire calls this.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{KeyCharset, KeyFormat};
    use crate::vocab::Unit;

    const ROCKETREACH: Profile = Profile::new(
        "RocketReach",
        "http://127.0.0.1:1",
        "Api-Key",
        "TOLLGATE_TEST_RR_KEY",
        KeyFormat {
            prefix: None,
            charset: KeyCharset::LowercaseAlphanumeric,
        },
        Unit::Credits,
    );

    const PREFIXED: Profile = Profile::new(
        "Test",
        "http://127.0.0.1:1",
        "x-api-key",
        "TOLLGATE_TEST_KEY",
        KeyFormat {
            prefix: Some("sk_"),
            charset: KeyCharset::PrintableAscii,
        },
        Unit::Credits,
    );

    #[test]
    fn accepts_well_formed_keys() {
        assert!(ApiKey::parse(&ROCKETREACH, "3e7k0123456789abcdef0123456789abcdef").is_ok());
        assert!(ApiKey::parse(&PREFIXED, "sk_live_ABC-123").is_ok());
    }

    #[test]
    fn refuses_malformed_keys_with_typed_errors() {
        assert_eq!(
            ApiKey::parse(&ROCKETREACH, "").unwrap_err(),
            KeyError::Empty {
                provider: "RocketReach"
            }
        );
        assert_eq!(
            ApiKey::parse(&ROCKETREACH, " abc").unwrap_err(),
            KeyError::Whitespace {
                provider: "RocketReach",
                position: 0
            }
        );
        assert_eq!(
            ApiKey::parse(&ROCKETREACH, "abcD").unwrap_err(),
            KeyError::InvalidCharacter {
                provider: "RocketReach",
                position: 3,
                allowed: "lowercase letters and digits"
            }
        );
        assert_eq!(
            ApiKey::parse(&PREFIXED, "pk_123").unwrap_err(),
            KeyError::WrongPrefix {
                provider: "Test",
                expected: "sk_"
            }
        );
        assert_eq!(
            ApiKey::parse(&PREFIXED, "sk_").unwrap_err(),
            KeyError::Empty { provider: "Test" }
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_key() {
        let secret = "sk_supersecretvalue\u{7f}";
        let err = ApiKey::parse(&PREFIXED, secret).unwrap_err();
        assert!(!err.to_string().contains("supersecret"));
        assert!(!format!("{err:?}").contains("supersecret"));
        let key = ApiKey::parse(&PREFIXED, "sk_supersecretvalue").unwrap();
        assert!(!format!("{key:?}").contains("supersecret"));
    }
}
