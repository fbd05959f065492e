//! Provider profiles: everything that differs between providers, as data.

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

/// One provider, as data: the runtime has no per-provider branches.
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
}

/// RocketReach (api.rocketreach.co): `Api-Key` header, errors as `{"detail": "..."}`.
pub const ROCKETREACH: Profile = Profile {
    name: "RocketReach",
    base_url: "https://api.rocketreach.co/api/v2",
    auth: AuthScheme::Header {
        name: "Api-Key",
        prefix: "",
    },
    env_var: "ROCKETREACH_API_KEY",
    key_format: KeyFormat {
        prefix: None,
        charset: KeyCharset::LowercaseAlphanumeric,
    },
};

/// Spider News: `X-API-KEY` header (the `api_key` query parameter also works), billed in rows.
pub const SPIDERNEWS: Profile = Profile {
    name: "Spider News",
    base_url: "http://96.241.186.201:5173",
    auth: AuthScheme::Header {
        name: "X-API-KEY",
        prefix: "",
    },
    env_var: "SPIDERNEWS_API_KEY",
    key_format: KeyFormat {
        prefix: None,
        charset: KeyCharset::UrlSafeBase64,
    },
};

/// RequestRocket Core API: the raw user token (`u-...`) in `Authorization`, no scheme word.
pub const REQUESTROCKET: Profile = Profile {
    name: "RequestRocket",
    base_url: "https://api.requestrocket.com/api",
    auth: AuthScheme::Header {
        name: "Authorization",
        prefix: "",
    },
    env_var: "REQUESTROCKET_TOKEN",
    key_format: KeyFormat {
        prefix: Some("u-"),
        charset: KeyCharset::PrintableAscii,
    },
};

/// Enrich (enrich.so): `x-api-key: sk_...`, errors as RFC 9457 problems (and three older shapes).
pub const ENRICH: Profile = Profile {
    name: "Enrich",
    base_url: "https://dev.enrich.so/api/v3",
    auth: AuthScheme::Header {
        name: "x-api-key",
        prefix: "",
    },
    env_var: "ENRICH_API_KEY",
    key_format: KeyFormat {
        prefix: Some("sk_"),
        charset: KeyCharset::PrintableAscii,
    },
};
