//! The one record of a call: what it did (attempts, the last status, what it charged, the
//! answer kept for the cache) and how it failed. Shared by the runtime and the hooks of a
//! generated call (through a task-local), so nothing travels through headers or strings.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use crate::error::Error;

/// What one call recorded as it went.
#[derive(Debug, Default)]
pub(crate) struct CallRecord {
    state: Mutex<RecordState>,
    /// Whether the generated call decodes its success answer from the record
    /// ([`CallRecord::take_answer`]) rather than from the answer's body: the runtime then
    /// hands back the answer it read, its body spent, instead of building it again around
    /// the bytes it read (a copy of its head, its URL and its extensions on every call).
    decodes: bool,
}

#[derive(Debug, Default)]
struct RecordState {
    attempts: u32,
    status: Option<u16>,
    charged: i64,
    /// The body of a successful answer, for the cache (a shared handle on the same bytes).
    body: Option<Bytes>,
    /// The runtime's error, kept typed for the generated call's `send()`.
    error: Option<Error>,
    /// The body of the successful answer the runtime handed back spent, for the generated
    /// call to decode (only when the record [`decodes`](CallRecord::decodes)).
    answer: Option<Bytes>,
}

impl CallRecord {
    /// The record of a generated call that decodes its success answer from the record.
    pub(crate) fn decoding() -> Self {
        CallRecord {
            decodes: true,
            ..CallRecord::default()
        }
    }

    /// Whether the call decodes its success answer from the record.
    pub(crate) fn decodes(&self) -> bool {
        self.decodes
    }

    /// Keeps the body of the success answer handed back spent.
    pub(crate) fn set_answer(&self, body: Bytes) {
        self.lock().answer = Some(body);
    }

    /// The body of the success answer handed back spent, once.
    pub(crate) fn take_answer(&self) -> Option<Bytes> {
        self.lock().answer.take()
    }

    fn lock(&self) -> MutexGuard<'_, RecordState> {
        crate::sync::lock(&self.state)
    }

    pub(crate) fn set_attempts(&self, attempts: u32) {
        self.lock().attempts = attempts;
    }

    pub(crate) fn set_status(&self, status: u16) {
        self.lock().status = Some(status);
    }

    pub(crate) fn set_charged(&self, charged: i64) {
        self.lock().charged = charged;
    }

    pub(crate) fn set_body(&self, body: Bytes) {
        self.lock().body = Some(body);
    }

    pub(crate) fn take_body(&self) -> Option<Bytes> {
        self.lock().body.take()
    }

    pub(crate) fn charged(&self) -> i64 {
        self.lock().charged
    }

    /// Keeps the runtime's error for the generated call.
    pub(crate) fn fail(&self, error: Error) {
        self.lock().error = Some(error);
    }

    /// Whether the runtime recorded an error.
    pub(crate) fn failed(&self) -> bool {
        self.lock().error.is_some()
    }

    /// The error of a generated call that failed with `error`: the runtime's own when it
    /// recorded one, else progenitor's, with the status and attempts recorded.
    pub(crate) fn error_of<E>(&self, error: progenitor_client::Error<E>) -> Error {
        use progenitor_client::Error as P;
        let mut state = self.lock();
        if let Some(e) = state.error.take() {
            return e;
        }
        match error {
            P::InvalidRequest(message) => Error::InvalidRequest(message),
            P::InvalidResponsePayload(_, e) => Error::InvalidResponse {
                status: state.status.unwrap_or(0),
                message: e.to_string(),
            },
            P::ErrorResponse(response) => Error::InvalidResponse {
                status: response.status().as_u16(),
                message: "an error answer the runtime did not see".into(),
            },
            P::UnexpectedResponse(response) => Error::InvalidResponse {
                status: response.status().as_u16(),
                message: "an answer with a status the specification does not list".into(),
            },
            P::CommunicationError(e) | P::ResponseBodyError(e) | P::InvalidUpgrade(e) => {
                Error::Transport {
                    message: format!("the request failed: {e}"),
                    timeout: e.is_timeout(),
                    connect: e.is_connect(),
                    attempts: state.attempts.max(1),
                    source: Some(Box::new(e)),
                }
            }
            P::Custom(message) => Error::Other(message),
        }
    }
}
