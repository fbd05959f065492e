//! The tollgate sandbox: a local server that behaves like RocketReach, RequestRocket, Enrich and
//! Spider News, for offline development and tests that spend nothing.
//!
//! [`Sandbox::start`] serves all four on 127.0.0.1 with a port the OS picks, each under a fixed
//! prefix followed by the provider's own paths (`GET /spidernews/api/entities`,
//! `GET /rocketreach/api/v2/account/`, `POST /enrich/api/v3/email-validation`,
//! `GET /requestrocket/api/clients`); [`Sandbox::base_url`] is what a client's `base_url` should
//! be. [`SandboxBuilder::only`] serves one provider at the root instead, with its paths exactly
//! as the real host lays them out, for clients we did not write.
//!
//! What it imitates:
//! - **Every operation of the four specs**, routed, checked and answered from the same repaired
//!   documents the clients are generated from (`crates/sandbox/specs/`): keys present and of
//!   the provider's format, parameters and bodies checked against their schemas (400 in the
//!   provider's error envelope, naming the field), unknown ids 404, answers of the spec's shape
//!   made up deterministically from the request.
//! - **State**: credits and rows ledgers per key ([`Sandbox::account`]); Spider News refuses a
//!   request whose maximum rows exceed what is left and bills unique nodes + edges; Enrich
//!   reserves batch credits on submit and settles on the first results fetch after the batch
//!   ends; RocketReach takes credits per lookup and reveal; batch jobs progress over wall-clock
//!   time ([`SandboxBuilder::job_duration`]); RequestRocket resources can be created, read,
//!   updated, listed (page/limit) and deleted; rate limits per key answer 429 with
//!   `Retry-After` (and Enrich's `X-RateLimit-*` headers on every answer).
//! - **Faults** for tests ([`Faults`], or `POST /_sandbox/faults`): fail the next N requests
//!   with a status, add latency, reset the connection, truncate the body, answer invalid JSON.
//!
//! ```
//! # tokio_test::block_on(async {
//! use tollgate_sandbox::{Provider, Sandbox, seed};
//!
//! let sandbox = Sandbox::start().await?;
//! let client = tollgate_enrich::Client::builder()
//!     .api_key(seed::ENRICH_KEY)
//!     .base_url(sandbox.base_url(Provider::Enrich))
//!     .build()?;
//! let body: tollgate_enrich::types::EmailValidationRequest =
//!     serde_json::from_value(serde_json::json!({"email": "ada.lovelace@figma.com"}))?;
//! let answer = client.validate_email().body(body).send().await?;
//! let account = sandbox.account(Provider::Enrich, seed::ENRICH_KEY).expect("built-in key");
//! assert_eq!(account.spent(), client.runtime().ledger().spent());
//! # let _ = answer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod admin;
pub mod engine;
mod enrich;
pub mod faults;
mod requestrocket;
mod rocketreach;
pub mod seed;
pub mod spec;
pub mod spidernews;
pub mod synth;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::middleware;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

pub use engine::{Account, Charge, RatePlan};
pub use faults::{FaultState, Faults};
pub use seed::{AccountSeed, Seed, SeedError};
pub use spidernews::SpiderNews;
pub use tollgate_providers::{Provider, UnknownProvider};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be opened.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The seed is not usable.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// A bundled document could not be read (a build problem: regenerate with `cargo xtask codegen`).
    #[error("the bundled {provider} document is unusable: {reason}")]
    Spec {
        /// The provider.
        provider: Provider,
        /// What is wrong.
        reason: String,
    },
    /// Starting failed for another reason (a sandbox bug).
    #[error("the sandbox could not start: {0}")]
    Startup(String),
}

/// The state shared by the handlers and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) spidernews: Arc<SpiderNews>,
    pub(crate) servers: BTreeMap<Provider, Arc<engine::Server>>,
    pub(crate) faults: Arc<Faults>,
}

impl Shared {
    pub(crate) fn accounts(&self, provider: Provider) -> &engine::Accounts {
        self.servers
            .get(&provider)
            .map_or_else(|| self.spidernews.accounts(), |s| &s.accounts)
    }

    pub(crate) fn panics(&self, provider: Provider) -> u64 {
        self.servers.get(&provider).map_or(0, |s| s.panics())
    }

    /// Adds an account after checking it like a seed file's.
    pub(crate) fn add_account(
        &self,
        provider: Provider,
        seed: &AccountSeed,
    ) -> Result<Arc<Account>, SeedError> {
        seed.check(provider, 1)?;
        let plan = match &seed.plan {
            Some(p) => seed::resolve_plan(provider, p)?,
            None => seed::default_plan(provider),
        };
        let balance = match provider {
            Provider::SpiderNews => seed.rows.unwrap_or(spidernews::DEFAULT_ROWS),
            Provider::Enrich => seed.credits.unwrap_or(seed::DEFAULT_ENRICH_CREDITS),
            _ => seed.credits.unwrap_or(seed::DEFAULT_CREDITS),
        };
        Ok(self
            .accounts(provider)
            .add(provider, &seed.key, balance, plan, seed.universal))
    }
}

/// How to start a sandbox: [`Sandbox::builder`].
#[derive(Clone, Debug)]
pub struct SandboxBuilder {
    address: String,
    seed: Seed,
    only: Option<Provider>,
    job_duration: Duration,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            address: "127.0.0.1:0".into(),
            seed: Seed::default(),
            only: None,
            job_duration: Duration::from_secs(3),
        }
    }
}

impl SandboxBuilder {
    /// Listens on `address` (default `127.0.0.1:0`: any free port).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// Adds the accounts of a seed (the built-in keys stay).
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = seed;
        self
    }

    /// Serves only this provider, at the root of the port, with its real paths.
    pub fn only(mut self, provider: Provider) -> Self {
        self.only = Some(provider);
        self
    }

    /// How long batch jobs take from submit to completed (default 3 s; `Duration::ZERO` ends
    /// them at once).
    pub fn job_duration(mut self, duration: Duration) -> Self {
        self.job_duration = duration;
        self
    }

    /// Starts the sandbox.
    pub async fn start(self) -> Result<Sandbox, SandboxError> {
        self.seed.check()?;
        let spidernews = Arc::new(SpiderNews::new());
        let mut servers = BTreeMap::new();
        for provider in Provider::ALL {
            let server = match provider {
                Provider::RocketReach => rocketreach::server(self.job_duration),
                Provider::RequestRocket => requestrocket::server(),
                Provider::Enrich => enrich::server(self.job_duration),
                Provider::SpiderNews => spidernews::server(Arc::clone(&spidernews)),
            }
            .map_err(|reason| SandboxError::Spec { provider, reason })?;
            servers.insert(provider, Arc::new(server));
        }
        let shared = Arc::new(Shared {
            spidernews,
            servers,
            faults: Arc::new(Faults::default()),
        });
        let builtin = [
            (Provider::RocketReach, seed::ROCKETREACH_KEY, false),
            (Provider::RocketReach, seed::ROCKETREACH_UNIVERSAL_KEY, true),
            (Provider::RequestRocket, seed::REQUESTROCKET_TOKEN, false),
            (Provider::Enrich, seed::ENRICH_KEY, false),
            (Provider::SpiderNews, seed::SPIDERNEWS_KEY, false),
        ];
        for (provider, key, universal) in builtin {
            shared.add_account(
                provider,
                &AccountSeed {
                    key: key.into(),
                    credits: None,
                    rows: None,
                    universal,
                    plan: None,
                },
            )?;
        }
        for provider in Provider::ALL {
            for account in self.seed.accounts(provider) {
                shared.add_account(provider, account)?;
            }
        }

        let mut app = axum::Router::new().nest(admin::PREFIX, admin::router(Arc::clone(&shared)));
        let providers: Vec<Provider> = self
            .only
            .map_or_else(|| Provider::ALL.to_vec(), |p| vec![p]);
        // Every answer as prompt as the later ones, from the first request on.
        let served: Vec<_> = providers
            .iter()
            .filter_map(|p| shared.servers.get(p).cloned())
            .collect();
        tokio::task::spawn_blocking(move || served.iter().for_each(|s| s.api.prepare()))
            .await
            .map_err(|e| SandboxError::Startup(format!("compiling the validators failed: {e}")))?;
        for provider in providers {
            let at = if self.only.is_some() {
                provider.base_path().to_owned()
            } else {
                provider.prefix()
            };
            let Some(server) = shared.servers.get(&provider) else {
                continue;
            };
            let router = engine::router(Arc::clone(server));
            app = if at.is_empty() {
                app.merge(router)
            } else {
                app.nest_service(&at, router)
            };
        }
        let app = app
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared.faults),
                faults::inject,
            ))
            .layer(middleware::from_fn(log));

        let listener = tokio::net::TcpListener::bind(&self.address)
            .await
            .map_err(|source| SandboxError::Bind {
                address: self.address.clone(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SandboxError::Bind {
            address: self.address.clone(),
            source,
        })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, app, rx));
        Ok(Sandbox {
            address: local,
            only: self.only,
            shared,
            shutdown: Some(tx),
        })
    }
}

/// Logs every request at `info` (target `tollgate_sandbox::requests`): method, path, status and
/// time. Never the query string or headers: keys travel there.
async fn log(request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match response.extensions().get::<faults::Applied>() {
        // What the client really gets, not the status of the answer the fault replaced.
        Some(fault) => tracing::info!(
            target: "tollgate_sandbox::requests",
            %method,
            path,
            status = response.status().as_u16(),
            fault = fault.0,
            elapsed_ms,
            "request (fault injected)"
        ),
        None => tracing::info!(
            target: "tollgate_sandbox::requests",
            %method,
            path,
            status = response.status().as_u16(),
            elapsed_ms,
            "request"
        ),
    }
    response
}

/// Accepts connections until told to stop; each connection is served by hyper, so that a
/// fault can close it without an answer.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "the sandbox could not accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let response = app
                            .oneshot(request.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if response
                            .extensions()
                            .get::<faults::ResetConnection>()
                            .is_some()
                        {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "injected connection reset",
                            ));
                        }
                        Ok(response)
                    }
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "a sandbox connection ended with an error");
            }
        });
    }
}

/// A running sandbox. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct Sandbox {
    address: SocketAddr,
    only: Option<Provider>,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Starts a sandbox of all four providers on 127.0.0.1 with a port the OS picks.
    pub async fn start() -> Result<Sandbox, SandboxError> {
        Self::builder().start().await
    }

    /// Starts a sandbox on `address` (`127.0.0.1:0` for any free port).
    pub async fn start_on(address: &str) -> Result<Sandbox, SandboxError> {
        Self::builder().address(address).start().await
    }

    /// A builder: address, seed accounts, one provider at the root, job duration.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The address the sandbox listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL of a provider: what its client's `base_url` should be. (With
    /// [`SandboxBuilder::only`], the provider's real base path at the root.)
    pub fn base_url(&self, provider: Provider) -> String {
        if self.only.is_some() {
            format!("http://{}{}", self.address, provider.base_path())
        } else {
            format!("http://{}{}", self.address, provider.prefix())
        }
    }

    /// The providers served.
    pub fn providers(&self) -> Vec<Provider> {
        self.only
            .map_or_else(|| Provider::ALL.to_vec(), |p| vec![p])
    }

    /// The Spider News state: the graph, keys and their rows.
    pub fn spidernews(&self) -> &SpiderNews {
        &self.shared.spidernews
    }

    /// The account of a key: credits (rows for Spider News) left, every charge and refund.
    pub fn account(&self, provider: Provider, key: &str) -> Option<Arc<Account>> {
        self.shared.accounts(provider).get(key)
    }

    /// Adds an account (its key checked like the provider's).
    pub fn add_account(
        &self,
        provider: Provider,
        account: AccountSeed,
    ) -> Result<Arc<Account>, SeedError> {
        self.shared.add_account(provider, &account)
    }

    /// The operation ids of a provider's spec, in document order.
    pub fn operations(&self, provider: Provider) -> Vec<String> {
        self.shared
            .servers
            .get(&provider)
            .map(|server| {
                server
                    .api
                    .operations()
                    .iter()
                    .map(|o| o.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many successful answers each operation of a provider has given: what end-to-end
    /// tests check their coverage with.
    pub fn answered(&self, provider: Provider) -> BTreeMap<String, u64> {
        self.shared
            .servers
            .get(&provider)
            .map(|s| s.answered())
            .unwrap_or_default()
    }

    /// Requests of a provider whose handling panicked (a sandbox bug): each was answered 500 in
    /// the provider's envelope instead of dropping the connection. Also in `GET /_sandbox/stats`.
    pub fn panics(&self, provider: Provider) -> u64 {
        self.shared.panics(provider)
    }

    /// Every key a provider accepts.
    pub fn keys(&self, provider: Provider) -> Vec<String> {
        self.shared.accounts(provider).keys()
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
