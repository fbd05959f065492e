//! [`Runtime`]: the value every generated client carries, and [`ClientBuilder`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::auth::{ApiKey, KeyError};
use crate::error::Error;
use crate::profile::{AuthScheme, Profile};

/// The header progenitor adds to every request; no provider wants it.
const API_VERSION: &str = "api-version";

/// The default total timeout of one HTTP attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The runtime state of one client: its provider profile and credential. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    profile: &'static Profile,
    key: ApiKey,
}

impl Runtime {
    /// A runtime for `profile`, authenticating with `key`.
    pub fn new(profile: &'static Profile, key: ApiKey) -> Self {
        Runtime {
            inner: Arc::new(Inner { profile, key }),
        }
    }

    /// The provider profile.
    pub fn profile(&self) -> &'static Profile {
        self.inner.profile
    }

    /// Prepares a request before it is sent: writes the credential the way the provider
    /// expects it (marked sensitive, so no HTTP layer logs it) and removes progenitor's
    /// `api-version` header.
    pub fn prepare(&self, request: &mut reqwest::Request) -> Result<(), Error> {
        let headers = request.headers_mut();
        headers.remove(API_VERSION);
        match self.inner.profile.auth {
            AuthScheme::Header { name, prefix } => {
                let mut value =
                    HeaderValue::from_str(&format!("{prefix}{}", self.inner.key.expose()))
                        .map_err(|_| {
                            Error::Key(KeyError::Empty {
                                provider: self.inner.profile.name,
                            })
                        })?;
                value.set_sensitive(true);
                let name =
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                        Error::InvalidProfile {
                            provider: self.inner.profile.name,
                            field: "auth header name",
                        }
                    })?;
                headers.insert(name, value);
            }
        }
        Ok(())
    }

    /// Sends a prepared request.
    pub async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        client.execute(request).await
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("provider", &self.inner.profile.name)
            .field("key", &self.inner.key)
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

/// Builds a provider client: key, base URL, timeout.
///
/// Every setting has a default: the key comes from the provider's environment variable, the
/// base URL is the provider's production URL, the timeout is [`DEFAULT_TIMEOUT`].
pub struct ClientBuilder<C> {
    key: Option<secrecy::SecretString>,
    base_url: Option<String>,
    timeout: Duration,
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
            client: PhantomData,
        }
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

    /// Validates the settings and builds the client. Fails, before any request, on a missing
    /// or malformed key or base URL.
    pub fn build(self) -> Result<C, Error> {
        use secrecy::ExposeSecret;
        let profile = C::PROFILE;
        let key = match self.key {
            Some(key) => ApiKey::parse(profile, key.expose_secret())?,
            None => ApiKey::from_env(profile)?,
        };
        let base_url = self.base_url.unwrap_or_else(|| profile.base_url.to_owned());
        let base_url = base_url.trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(Error::InvalidBaseUrl { url: base_url }),
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(Error::HttpClient)?;
        Ok(C::from_parts(&base_url, http, Runtime::new(profile, key)))
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}
