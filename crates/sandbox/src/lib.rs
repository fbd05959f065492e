//! The tollgate sandbox: a local server that behaves like the providers, for offline
//! development and tests that spend nothing.
//!
//! [`Sandbox::start`] serves on 127.0.0.1 with a port the OS picks, each provider under its own
//! prefix followed by the provider's own paths (`GET /spidernews/api/entities`). Faults can be
//! injected through the handle ([`Faults`]): fail the next N requests with a status, add latency,
//! answer invalid JSON.
//!
//! Provider coverage so far: Spider News (the whole API: keys, the pre-flight row check, row
//! billing, entities by trigram similarity, connections, paths). The other three providers are
//! the next step of the sandbox issue.
//!
//! ```
//! # tokio_test::block_on(async {
//! use tollgate_sandbox::{Provider, Sandbox};
//!
//! let sandbox = Sandbox::start().await?;
//! let url = format!("{}/api/entities?ent_name=Facebook", sandbox.base_url(Provider::SpiderNews));
//! assert!(url.starts_with("http://127.0.0.1:"));
//! # Ok::<(), tollgate_sandbox::SandboxError>(())
//! # }).unwrap();
//! ```

pub mod spidernews;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use spidernews::SpiderNews;

/// A provider the sandbox imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Spider News, under `/spidernews`.
    SpiderNews,
}

impl Provider {
    /// The path prefix the provider is served under.
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::SpiderNews => "/spidernews",
        }
    }
}

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
}

/// Faults to inject into the next answers, for tests.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail: Option<(u32, u16, Option<u64>)>,
    latency: Duration,
    invalid_json: u32,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers the next `count` requests with `status` (and `Retry-After: retry_after` seconds
    /// when given) instead of serving them.
    pub fn fail_next(&self, count: u32, status: u16, retry_after: Option<u64>) {
        self.lock().fail = Some((count, status, retry_after));
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Answers the next `count` requests with a body that is not valid JSON.
    pub fn invalid_json_next(&self, count: u32) {
        self.lock().invalid_json = count;
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }
}

async fn inject(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let (latency, fail, invalid) = {
        let mut f = faults.lock();
        let fail = match &mut f.fail {
            Some((n, status, retry)) if *n > 0 => {
                *n -= 1;
                Some((*status, *retry))
            }
            _ => None,
        };
        let invalid = f.invalid_json > 0;
        if invalid {
            f.invalid_json -= 1;
        }
        (f.latency, fail, invalid)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((status, retry)) = fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            axum::Json(serde_json::json!({"message": "injected fault"})),
        )
            .into_response();
        if let Some(seconds) = retry {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        return response;
    }
    let response = next.run(request).await;
    if invalid {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::from("{\"truncated\": "));
    }
    response
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    address: SocketAddr,
    spidernews: Arc<SpiderNews>,
    faults: Arc<Faults>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Starts the sandbox on 127.0.0.1 with a port the OS picks.
    pub async fn start() -> Result<Sandbox, SandboxError> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts the sandbox on `address` (`127.0.0.1:0` for any free port).
    pub async fn start_on(address: &str) -> Result<Sandbox, SandboxError> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| SandboxError::Bind {
                address: address.to_owned(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SandboxError::Bind {
            address: address.to_owned(),
            source,
        })?;
        let spidernews = Arc::new(SpiderNews::new());
        spidernews.set_rows(spidernews::EXAMPLE_KEY, spidernews::DEFAULT_ROWS);
        let faults = Arc::new(Faults::default());
        let app = axum::Router::new()
            .nest(
                Provider::SpiderNews.prefix(),
                spidernews::router(Arc::clone(&spidernews)),
            )
            .layer(middleware::from_fn_with_state(Arc::clone(&faults), inject));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "the sandbox stopped");
            }
        });
        Ok(Sandbox {
            address: local,
            spidernews,
            faults,
            shutdown: Some(tx),
        })
    }

    /// The address the sandbox listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL of a provider: what its client's `base_url` should be.
    pub fn base_url(&self, provider: Provider) -> String {
        format!("http://{}{}", self.address, provider.prefix())
    }

    /// The Spider News state: keys and their rows.
    pub fn spidernews(&self) -> &SpiderNews {
        &self.spidernews
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
