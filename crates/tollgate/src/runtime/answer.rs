//! The steps that read an answer: its body (once, up to the size limit), what a successful
//! answer cost, the error of an error answer, and whether a redirect may be followed.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::{MAX_REDIRECTS, RESERVED_PREFIX, Runtime};
use crate::cost::{self, Basis, Usage};
use crate::error::{ApiError, Error, ErrorKind};
use crate::retry::{AttemptOutcome, Resend, StopReason};

/// Why an answer's body could not be read.
pub(super) enum BodyFailure {
    TooLarge { declared: Option<u64> },
    Broken(reqwest::Error),
}

/// An error answer, as the call saw it.
pub(super) struct ErrorAnswer<'a> {
    pub operation: &'a str,
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    pub parsed: Option<Value>,
    pub attempts: u32,
    pub history: Vec<AttemptOutcome>,
    pub stopped: Option<StopReason>,
    pub retry_after: Option<std::time::Duration>,
}

/// What to do with a redirect.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Redirect {
    /// Send the request again to this URL.
    Follow(Url),
    /// Stop, for this reason.
    Refuse(&'static str),
}

/// The redirect policy: a redirect is followed only to the same origin (the key never goes
/// elsewhere), only for a free read that may be resent (GET or HEAD), and at most
/// [`MAX_REDIRECTS`] times. `method` is the method of the request's copy (`None`: a body that
/// cannot be copied).
pub(super) fn redirect(
    target: &Url,
    location: &str,
    resend: Resend,
    method: Option<&Method>,
    followed: u32,
) -> Redirect {
    let Ok(url) = target.join(location) else {
        return Redirect::Refuse("the location is not a URL");
    };
    if url.origin() != target.origin() {
        Redirect::Refuse("it points to another origin, where the API key must never go")
    } else if resend != Resend::Always || !matches!(method, Some(&Method::GET | &Method::HEAD)) {
        Redirect::Refuse("the request may charge or change something; it is never resent elsewhere")
    } else if followed >= MAX_REDIRECTS {
        Redirect::Refuse("too many redirects")
    } else {
        Redirect::Follow(url)
    }
}

/// Drops every header an answer carries under the runtime's reserved prefix.
pub(super) fn strip_reserved(headers: &mut HeaderMap) {
    let reserved_name = |k: &HeaderName| k.as_str().starts_with(RESERVED_PREFIX);
    if !headers.keys().any(reserved_name) {
        return;
    }
    let reserved: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(RESERVED_PREFIX))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(&name);
    }
}

/// Whether a `Content-Type` names JSON (`application/json`, `application/problem+json`, any
/// case).
fn is_json(content_type: &[u8]) -> bool {
    content_type
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"json"))
}

/// The answer again, with its body in memory (its head moved, not copied) and its URL kept:
/// reqwest keeps an answer's URL in an extension that only its response builder sets, and an
/// answer built without it parses a placeholder URL instead (on every call).
pub(super) fn rebuild(response: reqwest::Response, body: Bytes) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;
    let url = response.url().clone();
    let (mut parts, _) = http::Response::<reqwest::Body>::from(response).into_parts();
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

impl Runtime {
    /// Reads an answer's body once, refusing it past the size limit: at once by its
    /// `Content-Length`, otherwise as soon as what arrived exceeds it.
    pub(super) async fn read_body(
        &self,
        response: &mut reqwest::Response,
    ) -> Result<Bytes, BodyFailure> {
        let limit = self.inner.max_response_bytes;
        let declared = response.content_length();
        if declared.is_some_and(|d| d > limit) {
            return Err(BodyFailure::TooLarge { declared });
        }
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut total: u64 = 0;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(BodyFailure::Broken(e.without_url())),
            };
            total = total.saturating_add(chunk.len() as u64);
            if total > limit {
                return Err(BodyFailure::TooLarge { declared });
            }
            match (&mut first, &mut rest) {
                (None, _) => first = Some(chunk),
                (Some(head), None) => {
                    let capacity = usize::try_from(declared.unwrap_or(0).min(limit))
                        .unwrap_or(0)
                        .max(head.len() + chunk.len());
                    let mut buffer = BytesMut::with_capacity(capacity);
                    buffer.extend_from_slice(head);
                    buffer.extend_from_slice(&chunk);
                    rest = Some(buffer);
                }
                (Some(_), Some(buffer)) => buffer.extend_from_slice(&chunk),
            }
        }
        Ok(match rest {
            Some(buffer) => buffer.freeze(),
            None => first.unwrap_or_default(),
        })
    }

    /// The ledger entry of a call of `operation` that charged nothing (yet).
    pub(super) fn usage(&self, operation: &str, estimated: i64, status: u16) -> Usage {
        Usage {
            operation: operation.to_owned(),
            unit: self.inner.cost.model.unit,
            estimated,
            charged: 0,
            refunded: 0,
            status,
            basis: Basis::Reported,
            anomaly: None,
            saved: 0,
        }
    }

    /// What a successful answer (`response`, whose body is `body`) cost: as it reports
    /// (checked), else the estimate. A settlement's answer adds only its refund, the first
    /// time it is seen; a balance it reports is recorded.
    pub(super) fn price_answer(
        &self,
        operation: &str,
        estimate: i64,
        response: &reqwest::Response,
        body: &[u8],
    ) -> Usage {
        let inner = &self.inner;
        let model = &inner.cost.model;
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| is_json(v.as_bytes()));
        let balance = inner
            .profile
            .balance
            .iter()
            .find(|(op, _)| *op == operation);
        let reads_body = is_json && (!model.actual.is_empty() || balance.is_some());
        // One pass over the answer for the few numbers the ledger needs; no `Value` of it.
        // The cost model's own list when it is all that is wanted (no copy).
        let more: Vec<&str> = model
            .refunded
            .into_iter()
            .chain(balance.map(|(_, p)| *p))
            .collect();
        let pointers: Cow<'_, [&str]> = match (reads_body, more.is_empty()) {
            (false, _) => Cow::Borrowed(&[]),
            (true, true) => Cow::Borrowed(model.actual),
            (true, false) => model.actual.iter().copied().chain(more).collect(),
        };
        let found = crate::probe::values(body, &pointers);
        let lookup = |pointer: &str| {
            let i = pointers.iter().position(|p| *p == pointer)?;
            found.get(i).cloned().flatten()
        };
        let mut usage = self.usage(operation, estimate, response.status().as_u16());
        match reads_body
            .then(|| cost::reported_cost(model, lookup, estimate))
            .flatten()
        {
            Some((charged, refunded, anomaly)) => {
                (usage.charged, usage.refunded, usage.anomaly) = (charged, refunded, anomaly);
                if charged > estimate && estimate > 0 {
                    usage.anomaly.get_or_insert_with(|| {
                        format!("reported {charged}, more than the maximum {estimate} the request allows")
                    });
                }
            }
            None => (usage.charged, usage.basis) = (estimate, Basis::Estimated),
        }
        if let Some(a) = &usage.anomaly {
            tracing::warn!(anomaly = %a, "the answer's reported cost is not plausible");
        }
        // A settlement reports the final cost of something reserved earlier: only its refund
        // is new, and only the first time it is seen.
        if model.settlements.contains(&operation) {
            let resource = format!("{operation} {}", response.url().path());
            let first = usage.refunded != 0 && self.ledger().first_settlement(&resource);
            usage.charged = 0;
            usage.refunded = if first { usage.refunded } else { 0 };
        }
        if let Some(remaining) = balance.and_then(|(_, p)| lookup(p)?.as_i64()) {
            self.ledger().record_balance(remaining, operation);
        }
        usage
    }

    /// The error of an error answer: the provider's message, code and request id read by its
    /// envelope; a body that is not JSON is kept as the message (its start).
    pub(super) fn api_error(&self, answer: ErrorAnswer<'_>) -> Error {
        let envelope = &self.inner.profile.errors;
        let parsed = answer.parsed;
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.chars().take(2000).collect::<String>()),
            Value::Null => None,
            other => Some(other.to_string().chars().take(2000).collect()),
        };
        let pick = |pointers: &[&str]| {
            let body = parsed.as_ref()?;
            pointers.iter().find_map(|p| body.pointer(p).and_then(text))
        };
        let message = match &parsed {
            Some(_) => pick(envelope.message),
            None => {
                let raw = String::from_utf8_lossy(answer.body);
                let raw: String = raw.trim().chars().take(500).collect();
                (!raw.is_empty()).then_some(raw)
            }
        };
        let request_id = envelope
            .request_id_header
            .and_then(|h| answer.headers.get(h)?.to_str().ok())
            .map(|v| v.chars().take(200).collect())
            .or_else(|| pick(envelope.request_id));
        let status = answer.status.as_u16();
        let kind = envelope
            .classify
            .iter()
            .find(|(s, needle, _)| {
                *s == status && message.as_deref().is_some_and(|m| m.contains(needle))
            })
            .map_or_else(|| ErrorKind::from_status(status), |(_, _, k)| *k);
        Error::Api(Box::new(ApiError {
            provider: self.inner.profile.name.to_owned(),
            operation: answer.operation.to_owned(),
            status,
            kind,
            message,
            code: envelope.code.and_then(|c| pick(&[c])),
            request_id,
            body: parsed.clone().filter(|b| !b.is_null()),
            attempts: answer.attempts,
            history: answer.history,
            stopped: answer.stopped,
            retry_after: answer.retry_after,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_followed_only_for_same_origin_free_reads() {
        let at = Url::parse("https://api.example.com/v1/a").unwrap();
        let get = Some(&Method::GET);
        assert_eq!(
            redirect(&at, "/v1/b", Resend::Always, get, 0),
            Redirect::Follow(Url::parse("https://api.example.com/v1/b").unwrap())
        );
        let refused = |r| matches!(r, Redirect::Refuse(_));
        assert!(refused(redirect(
            &at,
            "https://evil.example/",
            Resend::Always,
            get,
            0
        )));
        assert!(refused(redirect(
            &at,
            "/v1/b",
            Resend::OnlyIfNotProcessed,
            get,
            0
        )));
        assert!(refused(redirect(
            &at,
            "/v1/b",
            Resend::Always,
            Some(&Method::POST),
            0
        )));
        assert!(refused(redirect(&at, "/v1/b", Resend::Always, None, 0)));
        assert!(refused(redirect(
            &at,
            "/v1/b",
            Resend::Always,
            get,
            MAX_REDIRECTS
        )));
        assert!(refused(redirect(
            &at,
            "http://[::1",
            Resend::Always,
            get,
            0
        )));
    }
}
