//! A scriptable HTTP server on 127.0.0.1 that runs on the test's own tokio runtime, so tests on
//! tokio's paused clock see exact times: it records when each request arrived (on tokio's
//! clock) and answers what the test's script says, including what a broken or hostile server
//! does (bodies that break off, endless bodies, redirects elsewhere, answers that never come).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::time::Instant;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When it arrived, on tokio's clock.
    pub at: Instant,
    /// The method.
    pub method: Method,
    /// The path and query.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// What the server answers.
pub enum Reply {
    /// A status, headers and a body.
    Full {
        /// The status.
        status: u16,
        /// Headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// A status and headers, then `chunks` of `chunk` bytes, then (if `broken`) the connection
    /// breaks instead of the body ending.
    Stream {
        /// The status.
        status: u16,
        /// Headers.
        headers: Vec<(String, String)>,
        /// How many chunks.
        chunks: usize,
        /// Bytes per chunk.
        chunk: usize,
        /// Whether the body breaks off after the chunks.
        broken: bool,
    },
    /// After `after`, a status and headers, then `prefix` bytes of the body, then nothing
    /// more (the connection stays open and silent).
    Stall {
        /// How long the server waits before the status line.
        after: Duration,
        /// The status.
        status: u16,
        /// Headers.
        headers: Vec<(String, String)>,
        /// Bytes of the body sent before the server falls silent.
        prefix: usize,
    },
    /// Never answers.
    Hang,
}

/// The headers of a JSON answer: its media type.
pub fn json_type() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: json_type(),
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        match &mut self {
            Reply::Full { headers, .. }
            | Reply::Stream { headers, .. }
            | Reply::Stall { headers, .. } => {
                headers.push((name.to_owned(), value.to_owned()));
            }
            Reply::Hang => {}
        }
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The server: start it, point a client at [`Hostile::url`], read [`Hostile::seen`].
pub struct Hostile {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    /// Starts a server whose answer to the `n`th request (0-based) is `script(request, n)`.
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let state = (Arc::clone(&seen), script);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (seen, script) = state.clone();
                async move {
                    let request = Seen {
                        at: Instant::now(),
                        method,
                        uri,
                        headers,
                        body,
                    };
                    let n = {
                        let mut list = seen.lock().expect("lock");
                        list.push(request.clone());
                        list.len() - 1
                    };
                    answer(script(&request, n)).await
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile { address, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn answer(reply: Reply) -> Response {
    let (status, headers, body) = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, Body::from(body)),
        Reply::Stream {
            status,
            headers,
            chunks,
            chunk,
            broken,
        } => {
            let piece = Bytes::from(vec![b' '; chunk]);
            // Each step waits 10 ms, so the status line and headers are out before the body
            // breaks off.
            let stream = futures::stream::unfold(0_usize, move |sent| {
                let piece = piece.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if sent < chunks {
                        Some((Ok(piece), sent + 1))
                    } else if broken && sent == chunks {
                        Some((
                            Err(std::io::Error::other("the server broke the body off")),
                            sent + 1,
                        ))
                    } else {
                        None
                    }
                }
            });
            (status, headers, Body::from_stream(stream))
        }
        Reply::Stall {
            after,
            status,
            headers,
            prefix,
        } => {
            tokio::time::sleep(after).await;
            let piece = Bytes::from(vec![b' '; prefix]);
            // Nothing to send before the silence when `prefix` is 0.
            let stream = futures::stream::unfold(prefix == 0, move |sent| {
                let piece = piece.clone();
                async move {
                    if sent {
                        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                        return None;
                    }
                    Some((Ok::<_, std::io::Error>(piece), true))
                }
            });
            (status, headers, Body::from_stream(stream))
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            (204, Vec::new(), Body::empty())
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
