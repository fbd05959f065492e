//! [`Error`]: what can go wrong before or around a call.

/// An error of the tollgate runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API key is missing or malformed.
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid base URL `{url}`: expected an absolute http:// or https:// URL")]
    InvalidBaseUrl {
        /// The URL given.
        url: String,
    },
    /// A provider profile holds a value that cannot be used (a bug in the profile).
    #[error("the {provider} profile has an invalid {field}")]
    InvalidProfile {
        /// The provider.
        provider: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}
