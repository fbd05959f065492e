//! [`Error`]: everything that can go wrong with a call, in one type.
//!
//! Every generated `send()` returns `Result<ResponseValue<T>, tollgate::Error>`. The runtime
//! builds the error itself from typed state it kept during the call (attempts, history, why it
//! stopped, the provider's parsed error envelope): nothing travels through response headers or
//! strings, so nothing a server sends can forge it.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::cost::{CostError, CostRefusal};
pub use crate::vocab::ErrorKind;

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
    /// The shared store (Redis) could not be reached for a call that needs the shared budget:
    /// budgets fail closed, nothing was sent.
    #[error("refused before sending: the shared budget is unavailable ({0}); nothing was sent")]
    SharedStore(#[source] crate::shared::StoreError),
    /// Not a failure: the client is in dry-run mode ([`crate::ClientBuilder::dry_run`]), so the
    /// request was built and priced, and not sent.
    #[error(
        "dry run: {operation} may cost up to {max_cost} {unit}{}; nothing was sent",
        if *cached { " (its answer is in the cache)" } else { "" }
    )]
    DryRun {
        /// The operation.
        operation: String,
        /// The most the request may cost (0 when it would be served from the cache).
        max_cost: i64,
        /// The unit of the cost.
        unit: crate::Unit,
        /// Its answer is in the client's cache: sent for real, it would be served from there,
        /// sending and paying nothing.
        cached: bool,
    },
    /// The server asked to wait longer than the retry policy sleeps through (a `Retry-After`,
    /// a `retryAfter` field, or a rate-limit reset): nothing more was sent.
    #[error(
        "{provider} asked to wait {} before the next request, longer than the client's retry policy waits{}; retry later",
        seconds(*wait),
        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
    )]
    RetryLater {
        /// The provider.
        provider: String,
        /// The HTTP status that asked (usually 429); `None` when an earlier answer paused the
        /// client and this call was not sent.
        status: Option<u16>,
        /// The wait the server asked for.
        wait: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The provider answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request could not be sent or its answer not received.
    #[error("{message}")]
    Transport {
        /// What happened, as a sentence.
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// Whether the connection could not be opened (the server never saw the request).
        connect: bool,
        /// Attempts made.
        attempts: u32,
        /// The underlying error (reqwest's, or the runtime's own transport's).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server answered with a redirect the runtime does not follow.
    #[error(
        "{provider} answered HTTP {status} redirecting {operation} to `{location}`; not followed: {reason}"
    )]
    Redirect {
        /// The provider.
        provider: String,
        /// The operation.
        operation: String,
        /// The redirect status.
        status: u16,
        /// Where it pointed (as sent).
        location: String,
        /// Why it was not followed.
        reason: &'static str,
    },
    /// The answer is larger than the client's size limit.
    #[error(
        "{provider}'s answer to {operation} is larger than the client's limit of {limit} bytes{}; raise it with `max_response_bytes`",
        declared.map(|d| format!(" (it declared {d} bytes)")).unwrap_or_default()
    )]
    TooLarge {
        /// The provider.
        provider: String,
        /// The operation.
        operation: String,
        /// The limit.
        limit: u64,
        /// The `Content-Length` the answer declared, if any.
        declared: Option<u64>,
    },
    /// The request is invalid (a parameter failed the generated type's checks).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The answer did not decode into the expected type.
    #[error("the answer (HTTP {status}) did not decode: {message}")]
    InvalidResponse {
        /// The HTTP status.
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
    #[error("job {job} did not finish within {}", seconds(*waited))]
    Deadline {
        /// The job.
        job: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// A paged list went on past the page cap.
    #[error("{list} went on past {pages} pages; stopped (the provider may be looping)")]
    PageLimit {
        /// The list.
        list: String,
        /// The cap.
        pages: u64,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(u64::MAX / 2) {
        "indefinitely".to_owned()
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// An error answer of a provider, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The provider.
    pub provider: String,
    /// The operation.
    pub operation: String,
    /// The HTTP status.
    pub status: u16,
    /// What kind of error it is.
    pub kind: ErrorKind,
    /// The provider's message (`detail`, `error`, `message`, ... per its envelope), or the
    /// start of a body that is not JSON.
    pub message: Option<String>,
    /// The provider's code (`code`, problem `type`).
    pub code: Option<String>,
    /// The request id (`RR-Request-ID`, problem `instance`, `meta.requestId`).
    pub request_id: Option<String>,
    /// The whole error body, when it was JSON.
    pub body: Option<Value>,
    /// Attempts made.
    pub attempts: u32,
    /// The outcome of each attempt, oldest first (shown as `503`, `connect`, ...).
    pub history: Vec<crate::retry::AttemptOutcome>,
    /// Why the runtime stopped retrying, when the failure is one it retries.
    pub stopped: Option<crate::retry::StopReason>,
    /// The wait the server asked for, if any.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The error body decoded as the provider's envelope type (for example the generated
    /// `types::ErrorBody`), when it was JSON of that shape.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.body.clone()?).ok()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered HTTP {} to {}",
            self.provider, self.status, self.operation
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
                crate::retry::history_text(&self.history)
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
            Error::RetryLater { status, .. } => *status,
            Error::InvalidResponse { status, .. } => Some(*status),
            Error::Redirect { status, .. } => Some(*status),
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

    /// The kind of the provider's error answer, for [`Error::Api`].
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(|e| e.kind)
    }

    /// The provider's request id, when the error answer had one.
    pub fn request_id(&self) -> Option<&str> {
        self.api().and_then(|e| e.request_id.as_deref())
    }

    /// Throttled: a 429 or 408 answer, or a wait longer than the retry policy sleeps through.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::RetryLater { .. }) || self.kind() == Some(ErrorKind::Throttled)
    }

    /// Out of credits or rows on the provider's side (402, RocketReach's "insufficient
    /// credits" 403). A refusal of the client's own [`crate::Budget`] is
    /// [`Error::CostRefused`] instead.
    pub fn is_out_of_credits(&self) -> bool {
        self.kind() == Some(ErrorKind::OutOfCredits)
    }

    /// The key is refused: 401, a 403 for the key's plan (no API access, the other plan
    /// family) or another 403, or a malformed key caught before sending.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Key(_))
            || matches!(
                self.kind(),
                Some(
                    ErrorKind::Unauthorized
                        | ErrorKind::Forbidden
                        | ErrorKind::NoApiAccess
                        | ErrorKind::WrongPlanFamily
                )
            )
    }

    /// Trying the same call again later may succeed: throttling, 5xx answers, and transport
    /// failures. (The runtime already retried what it safely could.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RetryLater { .. } | Error::Transport { .. } => true,
            Error::Api(e) => matches!(e.kind, ErrorKind::Throttled | ErrorKind::Server),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, kind: ErrorKind) -> Error {
        Error::Api(Box::new(ApiError {
            provider: "Enrich".into(),
            operation: "validate_email".into(),
            status,
            kind,
            message: Some("down".into()),
            code: Some("https://dev.enrich.so/errors/internal-error".into()),
            request_id: Some("/requests/abc".into()),
            body: None,
            attempts: 3,
            history: vec![crate::retry::AttemptOutcome::Status(503); 3],
            stopped: Some(crate::retry::StopReason::AttemptsExhausted),
            retry_after: None,
        }))
    }

    #[test]
    fn api_errors_read_as_a_sentence() {
        let err = api(503, ErrorKind::Server);
        assert_eq!(
            err.to_string(),
            "Enrich answered HTTP 503 to validate_email: down (https://dev.enrich.so/errors/internal-error) after 3 attempts [503, 503, 503]; not retried: attempts exhausted (request id /requests/abc)"
        );
        assert!(err.is_retryable() && !err.is_auth() && !err.is_throttled());
        assert_eq!(err.request_id(), Some("/requests/abc"));
    }

    #[test]
    fn classification() {
        assert!(api(429, ErrorKind::Throttled).is_throttled());
        assert!(api(402, ErrorKind::OutOfCredits).is_out_of_credits());
        assert!(api(403, ErrorKind::WrongPlanFamily).is_auth());
        assert!(!api(403, ErrorKind::OutOfCredits).is_auth());
        assert!(!api(400, ErrorKind::BadRequest).is_retryable());
        let later = Error::RetryLater {
            provider: "RocketReach".into(),
            status: Some(429),
            wait: Duration::from_secs(120),
            attempts: 1,
        };
        assert!(later.is_throttled() && later.is_retryable());
        assert_eq!(
            later.to_string(),
            "RocketReach asked to wait 120s before the next request, longer than the client's retry policy waits (HTTP 429); retry later"
        );
        let forever = Error::RetryLater {
            provider: "Enrich".into(),
            status: None,
            wait: Duration::MAX,
            attempts: 0,
        };
        assert!(forever.to_string().contains("wait indefinitely"));
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Server);
    }
}
