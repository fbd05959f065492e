//! One call through the runtime, as named steps: pace, send, then read what came back — a
//! transport failure, a redirect, an answer whose body broke off, a success, or an error
//! answer — into what to do next: send again (a retry or a redirect), or end the call with its
//! result and how its hold on the budget ends.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Runtime;
use super::answer::{self, BodyFailure, ErrorAnswer, Redirect};
use super::budget::{Ending, Hold};
use super::record::CallRecord;
use super::transport::SendFailure;
use crate::error::Error;
use crate::limit::Paused;
use crate::retry::{self, AttemptOutcome, Decision, Failure, Resend, StopReason};

/// A call in flight: what it knows and what it has done so far.
pub(super) struct Call<'a> {
    rt: &'a Runtime,
    operation: &'static str,
    estimate: i64,
    resend: Resend,
    record: &'a CallRecord,
    history: Vec<AttemptOutcome>,
    waited: Duration,
    attempt: u32,
    redirects: u32,
    span: tracing::Span,
    started: tokio::time::Instant,
}

/// What an attempt leads to.
enum Next {
    /// Send this request after this wait: a retry, or a redirect (at once).
    Again(reqwest::Request, Duration),
    /// The call is over: its result, and how its hold ends.
    Done(Result<reqwest::Response, Error>, Ending),
}

impl<'a> Call<'a> {
    /// A call of `operation` whose maximum cost is `estimate`, started (asked of the runtime)
    /// at `started`.
    pub(super) fn new(
        rt: &'a Runtime,
        request: &reqwest::Request,
        operation: &'static str,
        estimate: i64,
        record: &'a CallRecord,
        started: tokio::time::Instant,
    ) -> Self {
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let replayable = rt.inner.profile.replayable.contains(&operation);
        let resend = if estimate == 0 && (idempotent || replayable) {
            Resend::Always
        } else {
            Resend::OnlyIfNotProcessed
        };
        Call {
            rt,
            operation,
            estimate,
            resend,
            record,
            history: Vec::new(),
            waited: Duration::ZERO,
            attempt: 0,
            redirects: 0,
            span: tracing::Span::current(),
            started,
        }
    }

    /// Drives the attempts until the call ends, and ends its hold.
    pub(super) async fn run(
        mut self,
        mut request: reqwest::Request,
        mut hold: Hold,
    ) -> Result<reqwest::Response, Error> {
        loop {
            self.attempt += 1;
            self.record.set_attempts(self.attempt);
            self.span.record("attempts", self.attempt);
            match self.rt.pace().await {
                Ok(waited) => self.waited += waited,
                Err(paused) => {
                    hold.end(Ending::Released).await;
                    let error = self.paused(paused);
                    self.published(false);
                    return Err(error);
                }
            }
            // A copy for a retry or a redirect; a streaming body cannot be copied (sent once).
            let copy = request.try_clone();
            hold.mark_sent();
            let next = match self.rt.inner.transport.send(request).await {
                Err(failure) => self.after_failure(failure, copy),
                Ok(answer) => self.after_answer(answer, copy).await,
            };
            match next {
                Next::Again(again, wait) => {
                    if !wait.is_zero() {
                        tracing::debug!(wait_ms = millis(wait), "waiting before the retry");
                        // Boxed: the timer is only needed by a call that waits.
                        Box::pin(tokio::time::sleep(wait)).await;
                        self.waited += wait;
                    }
                    request = again;
                }
                Next::Done(result, ending) => {
                    self.span.record("waited_ms", millis(self.waited));
                    hold.end(ending).await;
                    self.published(result.is_ok());
                    return result;
                }
            }
        }
    }

    /// Publishes how the call ended (feature `metrics`).
    fn published(&self, ok: bool) {
        use crate::telemetry::{Outcome, call_ended};
        let outcome = if ok { Outcome::Ok } else { Outcome::Error };
        let provider = self.rt.inner.profile.name;
        let elapsed = self.started.elapsed();
        call_ended(provider, self.operation, outcome, self.attempt, elapsed);
    }

    /// Whether to try again after `failure`, by the policy, the retry budget and whether the
    /// request can be sent again at all.
    fn decide(&self, failure: Failure, requested: Option<Duration>, copied: bool) -> Decision {
        let inner = &self.rt.inner;
        match failure {
            _ if copied => retry::decide(
                &inner.retry,
                self.resend,
                self.attempt,
                failure,
                requested,
                &inner.retry_budget,
            ),
            Failure::Status(s) if !retry::retryable_status(s) => {
                Decision::Stop(StopReason::NotRetryable)
            }
            _ => Decision::Stop(StopReason::NotIdempotent),
        }
    }

    /// No answer came: retried when the policy allows, else a transport error. A refused
    /// connection never reached the server (released); anything later may have (uncertain).
    fn after_failure(&mut self, error: SendFailure, copy: Option<reqwest::Request>) -> Next {
        let (failure, outcome) = if error.connect {
            (Failure::Connect, AttemptOutcome::Connect)
        } else if error.timeout {
            (Failure::Timeout, AttemptOutcome::Timeout)
        } else {
            (Failure::Timeout, AttemptOutcome::Transport)
        };
        self.history.push(outcome);
        let decision = self.decide(failure, None, copy.is_some());
        if let (Decision::Retry(wait), Some(again)) = (decision, copy) {
            tracing::debug!(attempt = self.attempt, failure = %outcome, "retrying");
            return Next::Again(again, wait);
        }
        let connect = failure == Failure::Connect;
        let what = match (connect, error.timeout) {
            (true, _) => "could not connect",
            (false, true) => "timed out",
            (false, false) => "lost the connection",
        };
        let error = Error::Transport {
            message: format!(
                "{} {what} to {} after {} attempt{} [{}]: {error}",
                self.operation,
                self.rt.inner.profile.name,
                self.attempt,
                if self.attempt == 1 { "" } else { "s" },
                retry::history_text(&self.history)
            ),
            timeout: error.timeout,
            connect,
            attempts: self.attempt,
            source: Some(error.source),
        };
        let ending = if connect {
            Ending::Released
        } else {
            Ending::Uncertain(0)
        };
        Next::Done(Err(error), ending)
    }

    /// An answer came: a redirect, a body that broke off, a success or an error answer.
    async fn after_answer(
        &mut self,
        mut answer: reqwest::Response,
        copy: Option<reqwest::Request>,
    ) -> Next {
        answer::strip_reserved(answer.headers_mut());
        let status = answer.status();
        self.record.set_status(status.as_u16());
        self.span.record("status", status.as_u16());
        if let Some(limiter) = &self.rt.inner.limiter
            && let Some(wait) = limiter.observe(answer.headers()).await
        {
            crate::telemetry::paused(self.rt.inner.profile.name, self.operation, wait);
        }
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            return self.after_redirect(&answer, copy);
        }
        let body = match self.rt.read_body(&mut answer).await {
            Ok(body) => body,
            Err(failure) => return self.unread(status, failure),
        };
        if status.is_success() {
            let inner = &self.rt.inner;
            inner.retry_budget.deposit();
            if inner.cache.is_some() {
                self.record.set_body(body.clone());
            }
            let usage = self
                .rt
                .price_answer(self.operation, self.estimate, &answer, &body);
            self.record.set_charged(usage.charged);
            // A generated call decodes the body from the record: the answer goes back as it
            // came, its body spent. Any other caller gets it with its body in memory again.
            let answer = if self.record.decodes() {
                self.record.set_answer(body);
                answer
            } else {
                answer::rebuild(answer, body)
            };
            return Next::Done(Ok(answer), Ending::Settled(usage));
        }
        // Boxed: an error answer's steps (a 429's pause among them) would otherwise make
        // every call's state larger, and it is copied as a call's futures move.
        Box::pin(self.after_error_answer(answer, body, copy)).await
    }

    /// A redirect: followed by the policy ([`answer::redirect`]), else an error.
    fn after_redirect(
        &mut self,
        answer: &reqwest::Response,
        copy: Option<reqwest::Request>,
    ) -> Next {
        let status = answer.status();
        let location = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let method = copy.as_ref().map(reqwest::Request::method);
        // The answer's URL is the one this attempt asked (reqwest follows no redirect itself).
        let policy = answer::redirect(answer.url(), location, self.resend, method, self.redirects);
        match (policy, copy) {
            (Redirect::Follow(url), Some(mut again)) => {
                self.redirects += 1;
                // A redirect followed is not an attempt.
                self.attempt -= 1;
                self.history.push(AttemptOutcome::Status(status.as_u16()));
                *again.url_mut() = url;
                tracing::debug!(status = status.as_u16(), "following a same-origin redirect");
                Next::Again(again, Duration::ZERO)
            }
            (policy, _) => {
                let reason = match policy {
                    Redirect::Refuse(reason) => reason,
                    Redirect::Follow(_) => "the request cannot be resent",
                };
                let error = Error::Redirect {
                    provider: self.rt.inner.profile.name.to_owned(),
                    operation: self.operation.to_owned(),
                    status: status.as_u16(),
                    location: location.chars().take(300).collect(),
                    reason,
                };
                Next::Done(Err(error), self.unbilled(status))
            }
        }
    }

    /// An answer whose body could not be read: too large, or broken off. A success that
    /// broke off may have been charged.
    fn unread(&mut self, status: StatusCode, failure: BodyFailure) -> Next {
        self.history.push(AttemptOutcome::Status(status.as_u16()));
        let ending = if status.is_success() {
            Ending::Uncertain(status.as_u16())
        } else {
            self.unbilled(status)
        };
        let inner = &self.rt.inner;
        let error = match failure {
            BodyFailure::TooLarge { declared } => Error::TooLarge {
                provider: inner.profile.name.to_owned(),
                operation: self.operation.to_owned(),
                limit: inner.max_response_bytes,
                declared,
            },
            BodyFailure::Broken(error) => Error::Transport {
                message: format!(
                    "{}'s answer to {} (HTTP {}) broke off before its end: {error}",
                    inner.profile.name,
                    self.operation,
                    status.as_u16()
                ),
                timeout: error.is_timeout(),
                connect: false,
                attempts: self.attempt,
                source: Some(Box::new(error)),
            },
        };
        Next::Done(Err(error), ending)
    }

    /// An error answer: a 429's wait pauses every call of the key; retried when the policy
    /// allows, else the provider's error (or a wait beyond the cap).
    async fn after_error_answer(
        &mut self,
        answer: reqwest::Response,
        body: bytes::Bytes,
        copy: Option<reqwest::Request>,
    ) -> Next {
        let status = answer.status();
        self.history.push(AttemptOutcome::Status(status.as_u16()));
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let requested = retry::retry_after(answer.headers()).or_else(|| {
            let pointer = self.rt.inner.profile.errors.retry_after?;
            retry::body_wait(parsed.as_ref()?.pointer(pointer)?)
        });
        let provider = self.rt.inner.profile.name;
        if status == StatusCode::TOO_MANY_REQUESTS {
            crate::telemetry::throttled(provider, self.operation);
            if let (Some(limiter), Some(wait)) = (&self.rt.inner.limiter, requested) {
                limiter.pause(wait).await;
                crate::telemetry::paused(provider, self.operation, wait);
            }
        }
        let decision = self.decide(Failure::Status(status), requested, copy.is_some());
        if let (Decision::Retry(wait), Some(again)) = (decision, copy) {
            tracing::debug!(attempt = self.attempt, status = status.as_u16(), "retrying");
            return Next::Again(again, wait);
        }
        let ending = self.unbilled(status);
        let stopped = match decision {
            Decision::RetryLater(wait) => {
                tracing::info!(
                    attempt = self.attempt,
                    status = status.as_u16(),
                    wait_ms = millis(wait),
                    "server asked for a wait beyond the cap"
                );
                let error = self.retry_later(Some(status.as_u16()), wait, self.attempt);
                return Next::Done(Err(error), ending);
            }
            Decision::Stop(StopReason::NotRetryable) => None,
            Decision::Stop(reason) => Some(reason),
            Decision::Retry(_) => None,
        };
        let error = self.rt.api_error(ErrorAnswer {
            operation: self.operation,
            status,
            headers: answer.headers(),
            body: &body,
            parsed,
            attempts: self.attempt,
            history: std::mem::take(&mut self.history),
            stopped,
            retry_after: requested,
        });
        Next::Done(Err(error), ending)
    }

    /// An answer that bills nothing (an error status, a redirect): recorded at 0.
    fn unbilled(&self, status: StatusCode) -> Ending {
        Ending::Settled(
            self.rt
                .usage(self.operation, self.estimate, status.as_u16()),
        )
    }

    /// The pace is held by a server's pause longer than the call waits.
    fn paused(&self, paused: Paused) -> Error {
        self.retry_later(None, paused.wait, self.attempt - 1)
    }

    fn retry_later(&self, status: Option<u16>, wait: Duration, attempts: u32) -> Error {
        Error::RetryLater {
            provider: self.rt.inner.profile.name.to_owned(),
            status,
            wait,
            attempts,
        }
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
