//! [`Error`]: everything that can go wrong with a call, in one type.
//!
//! Generated methods return `progenitor_client::Error<E>`; convert it with `?` or
//! `tollgate::Error::from` to get the provider's parsed error, the HTTP status, the request id,
//! the attempts made, a budget refusal, or the wait a throttled call asked for.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::cost::{CostError, CostRefusal};
use crate::profile::{ALL, Profile};

/// Headers the runtime adds to an answer it hands back after retrying, so the conversion into
/// [`Error`] knows what happened. Prefixed `x-tollgate-`.
pub(crate) mod annotation {
    pub const PROVIDER: &str = "x-tollgate-provider";
    pub const ATTEMPTS: &str = "x-tollgate-attempts";
    pub const HISTORY: &str = "x-tollgate-history";
    pub const RETRY_LATER_MS: &str = "x-tollgate-retry-later-ms";
    pub const STOPPED: &str = "x-tollgate-stopped";
    pub const MESSAGE: &str = "x-tollgate-message";
    pub const CODE: &str = "x-tollgate-code";
    pub const REQUEST_ID: &str = "x-tollgate-request-id";

    /// Makes text a valid header value: printable ASCII stays, anything else becomes `\u{hex}`.
    pub fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if (' '..='~').contains(&c) && c != '\\' {
                out.push(c);
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        }
        out
    }

    /// The reverse of [`escape`].
    pub fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("\\u{") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 3..];
            match after.find('}').and_then(|end| {
                u32::from_str_radix(&after[..end], 16)
                    .ok()
                    .map(|n| (end, n))
            }) {
                Some((end, n)) => {
                    out.extend(char::from_u32(n));
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str("\\u{");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

const REFUSAL_MARK: &str = " [tollgate-refusal:";

/// An error of the tollgate runtime or of a call.
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
    /// A setting of the client builder cannot be used.
    #[error("invalid client setting: {0}")]
    InvalidSetting(String),
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
    /// Refused before sending: the request may cost more than the budget has left.
    #[error("refused before sending: {0}")]
    CostRefused(CostRefusal),
    /// The request's cost cannot be computed from its parameters.
    #[error("refused before sending: {0}")]
    Cost(#[from] CostError),
    /// The server asked to wait longer than the retry policy sleeps through.
    #[error("{provider} answered {status} and asked to retry in {}s, longer than the client's retry policy waits; retry later", wait.as_secs())]
    RetryLater {
        /// The provider.
        provider: String,
        /// The HTTP status (usually 429).
        status: u16,
        /// The wait the server asked for.
        wait: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The provider answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request could not be sent or its answer not received (connection, timeout, ...).
    #[error("transport error: {message}")]
    Transport {
        /// What happened.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// Whether the connection could not be opened.
        connect: bool,
    },
    /// The request is invalid (a parameter failed the generated type's checks).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The answer did not decode into the expected type.
    #[error("the answer (HTTP {status}) did not decode: {message}")]
    InvalidResponse {
        /// The HTTP status, when known.
        status: u16,
        /// The decoding error.
        message: String,
    },
    /// A job ended in failure.
    #[error("job {job} failed: {message}")]
    JobFailed {
        /// The job.
        job: String,
        /// The provider's reason.
        message: String,
    },
    /// A job did not finish before the deadline.
    #[error("job {job} did not finish within {}s", waited.as_secs())]
    Deadline {
        /// The job.
        job: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// An error answer of a provider, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The provider.
    pub provider: Option<String>,
    /// The HTTP status.
    pub status: u16,
    /// The provider's message (`detail`, `error`, `message`, ... per its envelope).
    pub message: Option<String>,
    /// The provider's code (`code`, problem `type`).
    pub code: Option<String>,
    /// The request id (`RR-Request-ID`, problem `instance`, `meta.requestId`).
    pub request_id: Option<String>,
    /// The whole error body, when it was JSON.
    pub body: Option<Value>,
    /// Attempts made.
    pub attempts: u32,
    /// The outcome of each attempt, oldest first (`503`, `connect`, ...).
    pub history: Vec<String>,
    /// Why the runtime stopped retrying, when it retried.
    pub stopped: Option<String>,
    /// The wait the server asked for, if any.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered HTTP {}",
            self.provider.as_deref().unwrap_or("the provider"),
            self.status
        )?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(c) = &self.code {
            write!(f, " ({c})")?;
        }
        if self.attempts > 1 {
            write!(
                f,
                " after {} attempts [{}]",
                self.attempts,
                self.history.join(", ")
            )?;
        }
        if let Some(s) = &self.stopped {
            write!(f, "; not retried: {s}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl Error {
    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::RetryLater { status, .. } => Some(*status),
            Error::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The parsed provider error, for [`Error::Api`].
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The text of a refusal as it travels in progenitor's `Error::Custom`.
    pub fn encode_refusal(refusal: &CostRefusal) -> String {
        let json = serde_json::to_string(refusal).unwrap_or_default();
        format!("refused before sending: {refusal}{REFUSAL_MARK}{json}]")
    }

    fn decode_custom(message: String) -> Error {
        if let Some(at) = message.find(REFUSAL_MARK) {
            let json = message[at + REFUSAL_MARK.len()..].trim_end_matches(']');
            if let Ok(refusal) = serde_json::from_str::<CostRefusal>(json) {
                return Error::CostRefused(refusal);
            }
        }
        Error::Other(message)
    }

    /// Builds an [`ApiError`] from an answer's status, headers and JSON body.
    pub fn from_answer(status: u16, headers: &HeaderMap, body: Option<Value>) -> Error {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let profile: Option<&Profile> = header(annotation::PROVIDER)
            .and_then(|name| ALL.iter().copied().find(|p| p.name == name));
        let attempts = header(annotation::ATTEMPTS)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        if let Some(ms) = header(annotation::RETRY_LATER_MS).and_then(|m| m.parse::<u64>().ok()) {
            return Error::RetryLater {
                provider: profile.map_or_else(|| "the provider".to_owned(), |p| p.name.to_owned()),
                status,
                wait: Duration::from_millis(ms),
                attempts,
            };
        }
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let pick = |pointers: &[&str]| -> Option<String> {
            let body = body.as_ref()?;
            pointers.iter().find_map(|p| body.pointer(p).and_then(text))
        };
        const GENERIC_MESSAGE: &[&str] = &["/detail", "/message", "/error", "/title"];
        let (message, code, request_id) = match profile {
            Some(p) => (
                pick(p.errors.message),
                p.errors.code.and_then(|c| pick(&[c])),
                p.errors
                    .request_id_header
                    .and_then(header)
                    .or_else(|| pick(p.errors.request_id)),
            ),
            None => (
                pick(GENERIC_MESSAGE),
                pick(&["/code", "/type"]),
                pick(&["/instance", "/meta/requestId"]),
            ),
        };
        // What the runtime read from the body before handing the answer back.
        let annotated = |name: &str| header(name).map(|v| annotation::unescape(&v));
        let message = message.or_else(|| annotated(annotation::MESSAGE));
        let code = code.or_else(|| annotated(annotation::CODE));
        let request_id = request_id.or_else(|| annotated(annotation::REQUEST_ID));
        let retry_after = crate::retry::retry_after(headers).or_else(|| {
            let pointer = profile.and_then(|p| p.errors.retry_after)?;
            body.as_ref()?
                .pointer(pointer)?
                .as_f64()
                .filter(|s| *s >= 0.0)
                .map(Duration::from_secs_f64)
        });
        let history = header(annotation::HISTORY)
            .map(|h| h.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| vec![status.to_string()]);
        Error::Api(Box::new(ApiError {
            provider: profile.map(|p| p.name.to_owned()),
            status,
            message,
            code,
            request_id,
            body: body.filter(|b| !b.is_null()),
            attempts,
            history,
            stopped: header(annotation::STOPPED),
            retry_after,
        }))
    }
}

impl<E: serde::Serialize> From<progenitor_client::Error<E>> for Error {
    fn from(error: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as P;
        match error {
            P::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = serde_json::to_value(response.into_inner()).ok();
                Error::from_answer(status, &headers, body)
            }
            P::UnexpectedResponse(response) => {
                Error::from_answer(response.status().as_u16(), response.headers(), None)
            }
            P::CommunicationError(e) | P::ResponseBodyError(e) | P::InvalidUpgrade(e) => {
                Error::Transport {
                    message: e.to_string(),
                    timeout: e.is_timeout(),
                    connect: e.is_connect(),
                }
            }
            P::InvalidResponsePayload(_, e) => Error::InvalidResponse {
                status: 200,
                message: e.to_string(),
            },
            P::InvalidRequest(message) => Error::InvalidRequest(message),
            P::Custom(message) => Error::decode_custom(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Unit;
    use reqwest::header::HeaderValue;

    #[test]
    fn refusals_survive_the_round_trip_through_progenitor() {
        let refusal = CostRefusal {
            operation: "find_paths".into(),
            unit: Unit::Rows,
            needed: 57,
            remaining: 20,
            parameter: Some("path_limit".into()),
        };
        let custom: progenitor_client::Error<()> =
            progenitor_client::Error::Custom(Error::encode_refusal(&refusal));
        assert!(custom.to_string().contains(
            "find_paths may cost up to 57 rows but the budget has 20 left; lower `path_limit`"
        ));
        match Error::from(custom) {
            Error::CostRefused(r) => assert_eq!(r, refusal),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn api_errors_read_the_profile_envelope_and_the_annotations() {
        let mut h = HeaderMap::new();
        h.insert(annotation::PROVIDER, HeaderValue::from_static("Enrich"));
        h.insert(annotation::ATTEMPTS, HeaderValue::from_static("3"));
        h.insert(annotation::HISTORY, HeaderValue::from_static("503,503,503"));
        h.insert(
            annotation::STOPPED,
            HeaderValue::from_static("attempts exhausted"),
        );
        let body = serde_json::json!({"type": "https://dev.enrich.so/errors/internal-error", "title": "Internal Server Error",
            "status": 503, "detail": "down", "instance": "/requests/abc"});
        let err = Error::from_answer(503, &h, Some(body));
        let api = err.api().unwrap();
        assert_eq!(api.message.as_deref(), Some("down"));
        assert_eq!(
            api.code.as_deref(),
            Some("https://dev.enrich.so/errors/internal-error")
        );
        assert_eq!(api.request_id.as_deref(), Some("/requests/abc"));
        assert_eq!((api.attempts, api.history.len()), (3, 3));
        assert_eq!(
            err.to_string(),
            "Enrich answered HTTP 503: down (https://dev.enrich.so/errors/internal-error) after 3 attempts [503, 503, 503]; not retried: attempts exhausted (request id /requests/abc)"
        );
    }

    #[test]
    fn annotations_escape_and_unescape() {
        for text in [
            "plain",
            "Krebs – on Security",
            "back\\slash",
            "\\u{zz",
            "ünïcødé ✓",
        ] {
            let escaped = annotation::escape(text);
            assert!(
                escaped.chars().all(|c| (' '..='~').contains(&c)),
                "{escaped}"
            );
            assert_eq!(annotation::unescape(&escaped), text);
        }
    }

    #[test]
    fn retry_later_carries_the_wait() {
        let mut h = HeaderMap::new();
        h.insert(
            annotation::PROVIDER,
            HeaderValue::from_static("RocketReach"),
        );
        h.insert(
            annotation::RETRY_LATER_MS,
            HeaderValue::from_static("120000"),
        );
        match Error::from_answer(429, &h, None) {
            Error::RetryLater { wait, status, .. } => {
                assert_eq!((wait, status), (Duration::from_secs(120), 429))
            }
            other => panic!("{other:?}"),
        }
    }
}
