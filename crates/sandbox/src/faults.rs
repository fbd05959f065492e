//! Fault injection: what the next answers do wrong, set from the Rust handle
//! ([`crate::Sandbox::faults`]) or the admin API (`POST /_sandbox/faults`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::engine::lock;

/// Faults to inject into the next answers, for tests. Each counted fault applies to the next N
/// requests to any provider (admin requests are never affected), in this order: latency, then
/// a connection reset, a failure status, a truncated body or invalid JSON.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

/// The faults in force, as the admin API reads and writes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultState {
    /// Answer the next `count` requests with `status` instead of serving them.
    pub fail: Option<FailNext>,
    /// Delay every answer by this many milliseconds.
    pub latency_ms: u64,
    /// Close the connection of the next N requests without answering.
    pub reset: u32,
    /// Send only the first half of the next N bodies, then close the connection.
    pub truncate: u32,
    /// Answer the next N requests with a body that is not valid JSON.
    pub invalid_json: u32,
}

/// A failure status for the next requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNext {
    /// How many requests.
    pub count: u32,
    /// The status they get.
    pub status: u16,
    /// `Retry-After` seconds to send with it.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

/// Marks a response whose connection must be closed without sending it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResetConnection;

impl Faults {
    /// Answers the next `count` requests with `status` (and `Retry-After: retry_after` seconds
    /// when given) instead of serving them.
    pub fn fail_next(&self, count: u32, status: u16, retry_after: Option<u64>) {
        lock(&self.state).fail = Some(FailNext {
            count,
            status,
            retry_after,
        });
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    }

    /// Closes the connection of the next `count` requests without answering (the client sees
    /// the connection drop).
    pub fn reset_next(&self, count: u32) {
        lock(&self.state).reset = count;
    }

    /// Sends only the first half of the next `count` bodies, then closes the connection.
    pub fn truncate_next(&self, count: u32) {
        lock(&self.state).truncate = count;
    }

    /// Answers the next `count` requests with a body that is not valid JSON.
    pub fn invalid_json_next(&self, count: u32) {
        lock(&self.state).invalid_json = count;
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *lock(&self.state) = FaultState::default();
    }

    /// The faults in force.
    pub fn state(&self) -> FaultState {
        lock(&self.state).clone()
    }

    /// Replaces the faults in force.
    pub fn set(&self, state: FaultState) {
        *lock(&self.state) = state;
    }

    fn take(&self) -> Taken {
        let mut f = lock(&self.state);
        let latency = Duration::from_millis(f.latency_ms);
        let take = |n: &mut u32| {
            let hit = *n > 0;
            if hit {
                *n -= 1;
            }
            hit
        };
        if take(&mut f.reset) {
            return Taken::Reset(latency);
        }
        if let Some(fail) = &mut f.fail
            && fail.count > 0
        {
            fail.count -= 1;
            return Taken::Fail(latency, fail.status, fail.retry_after);
        }
        if take(&mut f.truncate) {
            return Taken::Truncate(latency);
        }
        if take(&mut f.invalid_json) {
            return Taken::InvalidJson(latency);
        }
        Taken::None(latency)
    }
}

enum Taken {
    None(Duration),
    Reset(Duration),
    Fail(Duration, u16, Option<u64>),
    Truncate(Duration),
    InvalidJson(Duration),
}

/// Marks an answer a fault changed, for the request log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Applied(pub(crate) &'static str);

/// The middleware that applies the faults.
pub(crate) async fn inject(
    State(faults): State<Arc<Faults>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with(crate::admin::PREFIX) {
        return next.run(request).await;
    }
    let taken = faults.take();
    let latency = match &taken {
        Taken::None(l)
        | Taken::Reset(l)
        | Taken::Fail(l, ..)
        | Taken::Truncate(l)
        | Taken::InvalidJson(l) => *l,
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match taken {
        Taken::None(_) => next.run(request).await,
        Taken::Reset(_) => {
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(ResetConnection);
            response
                .extensions_mut()
                .insert(Applied("reset: closed without an answer"));
            response
        }
        Taken::Fail(_, status, retry) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (
                status,
                axum::Json(serde_json::json!({
                    "message": "injected fault",
                    "detail": "injected fault",
                    "error": "injected fault",
                    "status": status.as_u16(),
                })),
            )
                .into_response();
            if let Some(seconds) = retry {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            response
                .extensions_mut()
                .insert(Applied("injected failure status"));
            response
        }
        Taken::Truncate(_) => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            // The full length is announced, half is sent, then the stream fails: the server
            // closes the connection mid-body.
            parts.headers.insert(
                axum::http::header::CONTENT_LENGTH,
                HeaderValue::from(bytes.len().max(1)),
            );
            // The failure comes a moment after the first half, so that the status line, the
            // headers and the half body reach the client before the connection closes.
            use futures::StreamExt;
            let first = futures::stream::once(async move { Ok::<_, std::io::Error>(half) });
            let failure = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "injected truncation",
                ))
            });
            parts.extensions.insert(Applied(
                "truncated: half the body, then the connection closes",
            ));
            Response::from_parts(parts, Body::from_stream(first.chain(failure)))
        }
        Taken::InvalidJson(_) => {
            let response = next.run(request).await;
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            parts
                .extensions
                .insert(Applied("invalid JSON instead of the body"));
            Response::from_parts(parts, Body::from("{\"truncated\": "))
        }
    }
}
