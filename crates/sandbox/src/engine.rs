//! What every imitated request goes through, whatever the provider: route (from the spec), key,
//! rate limit, parameter and body checks, then the provider's behaviour, and the provider's own
//! error envelope for every refusal. Provider differences are data ([`Style`]) plus one
//! [`Behaviour`] per provider for the calls that move state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};
use serde_json::{Map, Value};

use crate::Provider;
use crate::spec::{Api, Invalid, Operation, Route};
use crate::synth::{Rng, Synth};

/// Locks a mutex, recovering the data of a poisoned one (a panicking test must not wedge the
/// sandbox for the others).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What kind of refusal: decides the status and the code or problem type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 400: a parameter or the body does not fit the spec.
    Validation,
    /// 401: no key, a malformed key, an unknown key.
    Unauthorized,
    /// 402 (403 at RocketReach): not enough credits.
    InsufficientCredits,
    /// 403: the key may not do this.
    Forbidden,
    /// 404: no such path or id.
    NotFound,
    /// 405: the path exists with other methods.
    MethodNotAllowed,
    /// 409: already exists, or not ready.
    Conflict,
    /// 429: the key's rate limit.
    RateLimited,
    /// 413: the body is larger than anything the spec allows.
    TooLarge,
    /// 500: the sandbox failed (a bug, caught and counted).
    Internal,
}

impl Kind {
    fn status(self) -> StatusCode {
        match self {
            Kind::Validation => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// RequestRocket's UPPER_SNAKE code.
    fn code(self) -> &'static str {
        match self {
            Kind::Validation => "VALIDATION_ERROR",
            Kind::Unauthorized => "UNAUTHORIZED",
            Kind::InsufficientCredits => "INSUFFICIENT_CREDITS",
            Kind::Forbidden => "FORBIDDEN",
            Kind::NotFound => "NOT_FOUND",
            Kind::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Kind::Conflict => "ALREADY_EXISTS",
            Kind::RateLimited => "RATE_LIMIT_EXCEEDED",
            Kind::TooLarge => "PAYLOAD_TOO_LARGE",
            Kind::Internal => "INTERNAL_ERROR",
        }
    }

    /// Enrich's problem type (after `https://dev.enrich.so/errors/`) and title.
    fn problem(self) -> (&'static str, &'static str) {
        match self {
            Kind::Validation => ("validation-error", "Validation Error"),
            Kind::Unauthorized => ("unauthorized", "Unauthorized"),
            Kind::InsufficientCredits => ("insufficient-credits", "Insufficient Credits"),
            Kind::Forbidden => ("access-denied", "Access Denied"),
            Kind::NotFound => ("not-found", "Not Found"),
            Kind::MethodNotAllowed => ("method-not-allowed", "Method Not Allowed"),
            Kind::Conflict => ("conflict", "Conflict"),
            Kind::RateLimited => ("rate-limit-exceeded", "Too Many Requests"),
            Kind::TooLarge => ("payload-too-large", "Payload Too Large"),
            Kind::Internal => ("internal-error", "Internal Server Error"),
        }
    }
}

/// A refused request, rendered in the provider's error envelope.
#[derive(Debug)]
pub struct Refusal {
    /// What kind.
    pub kind: Kind,
    /// The human message.
    pub message: String,
    details: Box<Details>,
}

/// The optional parts of a refusal (boxed: refusals travel in every `Result`).
#[derive(Debug, Default)]
struct Details {
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, String)>,
    code: Option<String>,
}

impl Refusal {
    /// A refusal of `kind` saying `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
            details: Box::default(),
        }
    }

    /// Adds a body member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Refusal {
        self.details.extra.insert(key.to_owned(), value.into());
        self
    }

    /// A body member added with [`Refusal::with`].
    pub fn extra(&self, key: &str) -> Option<&Value> {
        self.details.extra.get(key)
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Refusal {
        self.details.headers.push((name, value.into()));
        self
    }

    /// Sets the machine-readable code (RequestRocket).
    pub fn code(mut self, code: impl Into<String>) -> Refusal {
        self.details.code = Some(code.into());
        self
    }

    fn render(mut self, style: &Style) -> Response {
        let mut status = self.kind.status();
        if self.kind == Kind::InsufficientCredits
            && let Some((own_status, message)) = style.out_of_credits
        {
            status = StatusCode::from_u16(own_status).unwrap_or(status);
            self.message = message.to_owned();
        }
        let Details {
            extra,
            headers,
            code,
        } = *self.details;
        let mut body = Map::new();
        let content_type = match style.envelope {
            Envelope::Detail => {
                body.insert("detail".into(), Value::String(self.message));
                "application/json"
            }
            Envelope::ErrorCode => {
                body.insert("error".into(), Value::String(self.message));
                body.insert(
                    "code".into(),
                    Value::String(code.unwrap_or_else(|| self.kind.code().to_owned())),
                );
                body.insert("status".into(), Value::from(status.as_u16()));
                "application/json"
            }
            Envelope::Message => {
                body.insert("message".into(), Value::String(self.message));
                "application/json"
            }
            Envelope::Problem => {
                let (slug, title) = self.kind.problem();
                let mut rng = Rng::seeded(&self.message);
                body.insert(
                    "type".into(),
                    Value::String(format!("https://dev.enrich.so/errors/{slug}")),
                );
                body.insert("title".into(), Value::String(title.into()));
                body.insert("status".into(), Value::from(status.as_u16()));
                body.insert("detail".into(), Value::String(self.message));
                body.insert(
                    "instance".into(),
                    Value::String(format!("/requests/{}", rng.hex(24))),
                );
                "application/problem+json"
            }
        };
        body.extend(extra);
        let mut response = (status, Value::Object(body).to_string()).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

impl From<Invalid> for Refusal {
    fn from(invalid: Invalid) -> Self {
        Refusal::new(Kind::Validation, invalid.to_string()).with("field", invalid.place)
    }
}

/// A provider's error body shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// RocketReach (Django REST framework): `{"detail": "..."}`.
    Detail,
    /// RequestRocket: `{"error", "code", "status"}`.
    ErrorCode,
    /// Enrich: RFC 9457 problem details.
    Problem,
    /// Spider News (its web framework's default): `{"message": "..."}`.
    Message,
}

/// Where keys may travel besides the profile's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AltKey {
    /// `Authorization: Bearer <key>` (Enrich).
    Bearer,
    /// An `api_key` query parameter (RocketReach's deprecated form).
    QueryApiKey,
}

/// Everything about a provider the engine needs, as data.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Which provider.
    pub provider: Provider,
    /// The client profile: key header and key format.
    pub profile: &'static tollgate::Profile,
    /// Other places the key may be.
    pub alt_keys: &'static [AltKey],
    /// The error envelope.
    pub envelope: Envelope,
    /// Whether every answer carries `X-RateLimit-*` headers (Enrich).
    pub rate_headers: bool,
    /// The throttled message.
    pub throttled: fn(u64) -> String,
    /// The 401 message (the reason is appended).
    pub unauthorized: &'static str,
    /// The status and message of "not enough credits", when the provider does not answer
    /// 402 with the required and available amounts.
    pub out_of_credits: Option<(u16, &'static str)>,
}

/// A key's request rate: `requests` per `per`, bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RatePlan {
    /// Requests per period.
    pub requests: u32,
    /// The period, in seconds.
    pub per_seconds: u64,
    /// Requests allowed at once.
    pub burst: u32,
}

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
    StateInformationMiddleware,
>;

/// One charge or refund recorded against an account.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Charge {
    /// The operation.
    pub operation: String,
    /// Credits taken (positive) or given back (negative).
    pub amount: i64,
    /// Why.
    pub note: String,
    /// When (the sandbox's clock, UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// What it is for, when it names something the provider keeps (a batch id): shown in the
    /// wallet's transaction descriptions, as Enrich names the batch of a refund.
    pub reference: Option<String>,
}

#[derive(Debug)]
struct Ledger {
    remaining: i64,
    charges: Vec<Charge>,
}

/// An account of an imitated provider: its keys, credits and rate limit.
pub struct Account {
    provider: Provider,
    ledger: Mutex<Ledger>,
    limiter: Option<(RatePlan, Limiter)>,
    /// Provider-specific flags (RocketReach: `universal`).
    pub universal: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("provider", &self.provider)
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

impl Account {
    fn new(provider: Provider, credits: i64, plan: Option<RatePlan>, universal: bool) -> Account {
        let limiter = plan.and_then(|plan| {
            let per = Duration::from_secs(plan.per_seconds.max(1));
            let period = per.checked_div(plan.requests.max(1))?;
            let burst = std::num::NonZeroU32::new(plan.burst.max(1))?;
            let quota = Quota::with_period(period)?.allow_burst(burst);
            Some((
                plan,
                RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>(),
            ))
        });
        Account {
            provider,
            ledger: Mutex::new(Ledger {
                remaining: credits,
                charges: Vec::new(),
            }),
            limiter,
            universal,
        }
    }

    /// Credits left.
    pub fn remaining(&self) -> i64 {
        lock(&self.ledger).remaining
    }

    /// Every charge and refund so far.
    pub fn charges(&self) -> Vec<Charge> {
        lock(&self.ledger).charges.clone()
    }

    /// What the account has spent: charges minus refunds.
    pub fn spent(&self) -> i64 {
        lock(&self.ledger).charges.iter().map(|c| c.amount).sum()
    }

    /// Takes `amount` credits, or refuses (nothing taken) when fewer are left.
    pub fn charge(&self, operation: &str, amount: i64, note: &str) -> Result<i64, Refusal> {
        self.charge_for(operation, amount, note, None)
    }

    /// Takes `amount` credits for `reference` (a batch id), or refuses (nothing taken) when
    /// fewer are left.
    pub fn charge_for(
        &self,
        operation: &str,
        amount: i64,
        note: &str,
        reference: Option<&str>,
    ) -> Result<i64, Refusal> {
        let mut ledger = lock(&self.ledger);
        if amount > ledger.remaining {
            let left = ledger.remaining;
            let message = format!("Not enough credits. Required: {amount}, available: {left}");
            return Err(Refusal::new(Kind::InsufficientCredits, message)
                .with("required", amount)
                .with("currentBalance", left)
                .with("shortfall", amount - left));
        }
        ledger.remaining -= amount;
        if amount != 0 {
            ledger.charges.push(Charge {
                operation: operation.to_owned(),
                amount,
                note: note.to_owned(),
                at: chrono::Utc::now(),
                reference: reference.map(str::to_owned),
            });
        }
        Ok(ledger.remaining)
    }

    /// Gives `amount` credits back.
    pub fn refund(&self, operation: &str, amount: i64, note: &str) -> i64 {
        self.refund_for(operation, amount, note, None)
    }

    /// Gives `amount` credits back for `reference` (a batch id).
    pub fn refund_for(
        &self,
        operation: &str,
        amount: i64,
        note: &str,
        reference: Option<&str>,
    ) -> i64 {
        let mut ledger = lock(&self.ledger);
        ledger.remaining += amount;
        if amount != 0 {
            ledger.charges.push(Charge {
                operation: operation.to_owned(),
                amount: -amount,
                note: note.to_owned(),
                at: chrono::Utc::now(),
                reference: reference.map(str::to_owned),
            });
        }
        ledger.remaining
    }

    /// Sets the credits left (an admin action; not a charge).
    pub fn set_remaining(&self, credits: i64) {
        lock(&self.ledger).remaining = credits;
    }

    /// The rate plan, if the account is limited.
    pub fn plan(&self) -> Option<RatePlan> {
        self.limiter.as_ref().map(|(p, _)| *p)
    }

    /// Admits one request, or says how long to wait. On admission, gives the headers state:
    /// (limit per window, remaining burst, seconds until a request is free again).
    fn admit(&self) -> Result<Option<(u32, u32, u64)>, Duration> {
        let Some((plan, limiter)) = &self.limiter else {
            return Ok(None);
        };
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let per = plan.per_seconds.max(1);
                let reset = if remaining == 0 {
                    per.div_ceil(u64::from(plan.requests.max(1)))
                } else {
                    0
                };
                Ok(Some((plan.requests, remaining, reset)))
            }
            Err(not_until) => {
                let clock = governor::clock::DefaultClock::default();
                Err(not_until.wait_time_from(governor::clock::Clock::now(&clock)))
            }
        }
    }
}

/// The accounts of one provider, by key.
#[derive(Debug, Default)]
pub struct Accounts {
    by_key: Mutex<BTreeMap<String, Arc<Account>>>,
}

impl Accounts {
    /// Adds an account reachable by `key` (replacing any account of that key).
    pub fn add(
        &self,
        provider: Provider,
        key: &str,
        credits: i64,
        plan: Option<RatePlan>,
        universal: bool,
    ) -> Arc<Account> {
        let account = Arc::new(Account::new(provider, credits, plan, universal));
        lock(&self.by_key).insert(key.to_owned(), Arc::clone(&account));
        account
    }

    /// The account of a key.
    pub fn get(&self, key: &str) -> Option<Arc<Account>> {
        lock(&self.by_key).get(key).cloned()
    }

    /// Makes `new` reach the account of `old`, and `old` reach nothing (key rotation).
    pub fn rotate(&self, old: &str, new: &str) {
        let mut keys = lock(&self.by_key);
        if let Some(account) = keys.remove(old) {
            keys.insert(new.to_owned(), account);
        }
    }

    /// Every key.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.by_key).keys().cloned().collect()
    }
}

/// What a behaviour answers.
#[derive(Debug)]
pub struct Reply {
    /// The status (the operation's success status unless changed).
    pub status: Option<u16>,
    /// The body.
    pub body: ReplyBody,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
}

/// A reply body.
#[derive(Debug)]
pub enum ReplyBody {
    /// JSON.
    Json(Value),
    /// Text of a content type (CSV downloads).
    Text(&'static str, String),
    /// Nothing.
    Empty,
}

impl Reply {
    /// A JSON answer with the operation's success status.
    pub fn json(body: Value) -> Reply {
        Reply {
            status: None,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }
}

/// One request, checked, as a behaviour sees it.
pub struct Call<'a> {
    /// The operation.
    pub op: &'a Operation,
    /// The document.
    pub api: &'a Api,
    /// The path parameters, decoded.
    pub path: BTreeMap<String, String>,
    /// The declared parameters, typed.
    pub params: Map<String, Value>,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The key that was sent.
    pub key: String,
    /// Its account.
    pub account: Arc<Account>,
    /// Every account of the provider (for key rotation).
    pub accounts: &'a Accounts,
    seed: String,
}

impl Call<'_> {
    /// The answer the spec describes, made up from the request (the same request gets the same
    /// answer), with the request's own values copied into fields of the same name.
    pub fn synthesize(&self) -> Value {
        self.synthesize_as(&self.seed)
    }

    /// [`Call::synthesize`] seeded by `seed` instead of the whole request: answers to
    /// different requests about one subject (a person asked by id, by LinkedIn URL or with
    /// other flags) stay the same.
    pub fn synthesize_as(&self, seed: &str) -> Value {
        let Some((_, schema)) = &self.op.answer else {
            return Value::Null;
        };
        let mut value = Synth::with_hints(self.api.document(), seed, &self.hints()).value(schema);
        let mut inputs: Vec<(&String, &Value)> = self.params.iter().collect();
        if let Some(Value::Object(body)) = &self.body {
            inputs.extend(body.iter());
        }
        echo(&mut value, &inputs, 0);
        value
    }

    /// A generator seeded by this request, for behaviours that make up more values; its people
    /// work at the company the request names, if it names one of the data set.
    pub fn synth(&self) -> Synth<'_> {
        Synth::with_hints(self.api.document(), &self.seed, &self.hints())
    }

    /// The request's texts: parameter values and body strings (two levels down).
    fn hints(&self) -> Vec<String> {
        fn walk(value: &Value, depth: usize, out: &mut Vec<String>) {
            match value {
                Value::String(s) => out.push(s.clone()),
                Value::Array(items) if depth < 3 => {
                    for v in items {
                        walk(v, depth + 1, out);
                    }
                }
                Value::Object(map) if depth < 3 => {
                    for v in map.values() {
                        walk(v, depth + 1, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for v in self.params.values() {
            walk(v, 0, &mut out);
        }
        if let Some(body) = &self.body {
            walk(body, 0, &mut out);
        }
        out
    }

    /// A string parameter (path or query).
    pub fn param(&self, name: &str) -> Option<String> {
        match self.params.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => self.path.get(name).cloned(),
            Some(v) => Some(v.to_string()),
        }
    }

    /// An integer parameter.
    pub fn int_param(&self, name: &str) -> Option<i64> {
        self.params.get(name).and_then(Value::as_i64)
    }

    /// A boolean parameter.
    pub fn flag(&self, name: &str) -> bool {
        self.params.get(name).and_then(Value::as_bool) == Some(true)
    }

    /// A body member by JSON pointer.
    pub fn body_at(&self, pointer: &str) -> Option<&Value> {
        self.body.as_ref().and_then(|b| b.pointer(pointer))
    }

    /// Charges the account for this operation.
    pub fn charge(&self, amount: i64, note: &str) -> Result<i64, Refusal> {
        self.account.charge(&self.op.id, amount, note)
    }

    /// Charges the caller's account `amount` for `reference` (a batch id).
    pub fn charge_for(&self, amount: i64, note: &str, reference: &str) -> Result<i64, Refusal> {
        self.account
            .charge_for(&self.op.id, amount, note, Some(reference))
    }
}

/// Copies request values into answer fields of the same name and JSON type, in the answer
/// and in the objects it holds (two levels down): a lookup by `email` answers with that email.
fn echo(value: &mut Value, inputs: &[(&String, &Value)], depth: usize) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, input) in inputs {
        if let Some(slot) = map.get_mut(key.as_str()) {
            let same_kind = matches!(
                (&*slot, input),
                (Value::String(_), Value::String(_))
                    | (Value::Number(_), Value::Number(_))
                    | (Value::Bool(_), Value::Bool(_))
            );
            if same_kind {
                *slot = (*input).clone();
            }
        }
    }
    if depth < 2 {
        for (_, child) in map.iter_mut() {
            if child.is_object() {
                echo(child, inputs, depth + 1);
            }
        }
    }
}

/// A provider's stateful behaviour: the calls that charge, create, progress or page. Anything
/// it does not handle gets the synthesized answer.
pub trait Behaviour: Send + Sync + 'static {
    /// Answers a checked call.
    fn handle(&self, call: &Call<'_>) -> Result<Reply, Refusal>;

    /// Checks the provider makes beyond the spec (RocketReach: a universal lookup needs a
    /// reveal flag). Runs before [`Behaviour::handle`].
    fn check(&self, _call: &Call<'_>) -> Result<(), Refusal> {
        Ok(())
    }
}

/// One imitated provider: its document, accounts and behaviour.
pub struct Server {
    /// Its style.
    pub style: Style,
    /// Its document.
    pub api: Api,
    /// Its accounts.
    pub accounts: Arc<Accounts>,
    behaviour: Box<dyn Behaviour>,
    answered: Mutex<BTreeMap<String, u64>>,
    panics: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("provider", &self.style.provider)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for a provider, from its document (the JSON of `crates/sandbox/specs/`).
    pub fn new(
        style: Style,
        document: &str,
        behaviour: Box<dyn Behaviour>,
    ) -> Result<Self, String> {
        Self::with_accounts(style, document, behaviour, Arc::default())
    }

    /// [`Server::new`] with accounts the behaviour shares.
    pub fn with_accounts(
        style: Style,
        document: &str,
        behaviour: Box<dyn Behaviour>,
        accounts: Arc<Accounts>,
    ) -> Result<Self, String> {
        Ok(Server {
            style,
            api: Api::parse(document)?,
            accounts,
            behaviour,
            answered: Mutex::default(),
            panics: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many successful answers each operation has given.
    pub fn answered(&self) -> BTreeMap<String, u64> {
        lock(&self.answered).clone()
    }

    fn key(&self, headers: &HeaderMap, query: &[(String, String)]) -> Option<String> {
        let tollgate::profile::AuthScheme::Header { name, prefix } = self.style.profile.auth;
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(v) = header(name) {
            let v = v.strip_prefix(prefix).unwrap_or(&v).to_owned();
            if !(self.style.alt_keys.contains(&AltKey::Bearer) && v.starts_with("Bearer ")) {
                return Some(v);
            }
        }
        for alt in self.style.alt_keys {
            match alt {
                AltKey::Bearer => {
                    if let Some(v) = header("authorization")
                        && let Some(token) = v.strip_prefix("Bearer ")
                    {
                        return Some(token.trim().to_owned());
                    }
                }
                AltKey::QueryApiKey => {
                    if let Some((_, v)) = query.iter().find(|(k, _)| k == "api_key") {
                        return Some(v.clone());
                    }
                }
            }
        }
        None
    }

    fn unauthorized(&self, why: &str) -> Refusal {
        Refusal::new(
            Kind::Unauthorized,
            format!("{} ({why})", self.style.unauthorized),
        )
    }

    /// Requests whose handling panicked (each answered 500 in the provider's envelope).
    pub fn panics(&self) -> u64 {
        self.panics.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves one request. A panic while handling it (a sandbox bug) is caught, counted and
    /// answered 500 in the provider's envelope: the connection is never dropped.
    pub fn serve(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
        let mut rate = None;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(method, uri, headers, body, &mut rate)
        }))
        .unwrap_or_else(|_| {
            self.panics
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(%method, path = uri.path(), "the sandbox panicked on a request");
            Err(Refusal::new(
                Kind::Internal,
                "The sandbox failed on this request (a sandbox bug); it has been counted.",
            ))
        });
        let mut response = match outcome {
            Ok(reply) => self.render(reply),
            Err(refusal) => refusal.render(&self.style),
        };
        if self.style.rate_headers
            && let Some((limit, remaining, reset)) = rate
        {
            let h = response.headers_mut();
            for (name, value) in [
                ("x-ratelimit-limit", u64::from(limit)),
                ("x-ratelimit-remaining", u64::from(remaining)),
                ("x-ratelimit-reset", reset),
            ] {
                h.insert(HeaderName::from_static(name), HeaderValue::from(value));
            }
        }
        response
    }

    fn run(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
        rate: &mut Option<(u32, u32, u64)>,
    ) -> Result<Reply, Refusal> {
        let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
            .map_err(|e| {
                Refusal::new(Kind::Validation, format!("querystring is malformed: {e}"))
            })?;
        let (op, path) = match self.api.route(method, uri.path()) {
            Route::Found(op, path) => (op, path),
            Route::WrongMethod(allowed) => {
                let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                return Err(Refusal::new(
                    Kind::MethodNotAllowed,
                    format!(
                        "Method \"{method}\" not allowed; this path takes {}",
                        list.join(", ")
                    ),
                )
                .header(axum::http::header::ALLOW, list.join(", ")));
            }
            Route::NotFound => {
                return Err(Refusal::new(
                    Kind::NotFound,
                    format!("No route {method} {}", uri.path()),
                ));
            }
        };
        let key = self
            .key(headers, &query)
            .ok_or_else(|| self.unauthorized("no API key was sent"))?;
        tollgate::ApiKey::parse(self.style.profile, key.clone())
            .map_err(|e| self.unauthorized(&format!("malformed key: {e}")))?;
        let account = self
            .accounts
            .get(&key)
            .ok_or_else(|| self.unauthorized("unknown API key"))?;
        match account.admit() {
            Ok(state) => *rate = state,
            Err(wait) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let seconds = seconds as u64;
                let mut refusal = Refusal::new(Kind::RateLimited, (self.style.throttled)(seconds));
                if self.style.envelope == Envelope::Problem {
                    refusal = refusal.with("retryAfter", seconds);
                }
                refusal = refusal.header(axum::http::header::RETRY_AFTER, seconds.to_string());
                if let Some(plan) = account.plan() {
                    *rate = Some((plan.requests, 0, seconds));
                }
                return Err(refusal);
            }
        }
        let params = self.api.read_params(op, &path, &query, headers)?;
        // An empty form is still a form: an object with no fields.
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.starts_with("application/x-www-form-urlencoded")
                    || t.starts_with("multipart/form-data")
            });
        let json_body = if body.is_empty() && !form {
            None
        } else {
            Some(read_body(headers, body)?)
        };
        if op.body.is_some() || json_body.is_some() {
            self.api.check_body(op, json_body.as_ref())?;
        }
        let seed = format!(
            "{}|{}|{}|{}",
            op.id,
            uri.path(),
            uri.query().unwrap_or(""),
            String::from_utf8_lossy(body)
        );
        let call = Call {
            op,
            api: &self.api,
            path,
            params,
            body: json_body,
            key,
            account,
            accounts: &self.accounts,
            seed,
        };
        self.behaviour.check(&call)?;
        let mut reply = self.behaviour.handle(&call)?;
        *lock(&self.answered).entry(op.id.clone()).or_default() += 1;
        if reply.status.is_none() {
            reply.status = Some(op.success);
        }
        Ok(reply)
    }

    fn render(&self, reply: Reply) -> Response {
        let status = reply
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let (content_type, body) = match reply.body {
            ReplyBody::Json(v) => ("application/json", Body::from(v.to_string())),
            ReplyBody::Text(t, text) => (t, Body::from(text)),
            ReplyBody::Empty => ("", Body::empty()),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        if !content_type.is_empty() {
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            );
        }
        for (name, value) in reply.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// The largest request body the sandbox reads: more than any operation's schema allows (an
/// Enrich batch of 500,000 e-mail addresses is about 20 MB); a larger one is 413 in the
/// provider's envelope.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A request body as JSON: a JSON body, or a form body (`application/x-www-form-urlencoded`, or
/// `multipart/form-data` with plain fields), as the providers' own clients send, read into an
/// object of strings.
fn read_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Refusal> {
    let header = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let content_type = header.to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            Refusal::new(Kind::Validation, format!("body is not a valid form: {e}"))
        })?;
        return Ok(Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ));
    }
    if content_type.starts_with("multipart/form-data") {
        // The boundary as sent: it is case-sensitive (the media type is not).
        let boundary = header
            .split(';')
            .find_map(|p| {
                let p = p.trim();
                p.get(..9)
                    .filter(|k| k.eq_ignore_ascii_case("boundary="))
                    .map(|_| &p[9..])
            })
            .map(|b| b.trim_matches('"').to_owned())
            .ok_or_else(|| Refusal::new(Kind::Validation, "multipart body without a boundary"))?;
        return multipart_fields(body, &boundary).map(Value::Object);
    }
    serde_json::from_slice::<Value>(body)
        .map_err(|e| Refusal::new(Kind::Validation, format!("body is not valid JSON: {e}")))
}

/// The plain fields of a `multipart/form-data` body.
fn multipart_fields(body: &[u8], boundary: &str) -> Result<Map<String, Value>, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Refusal::new(Kind::Validation, "multipart body is not UTF-8 text"))?;
    let delimiter = format!("--{boundary}");
    if !text.contains(delimiter.as_str()) {
        return Err(Refusal::new(
            Kind::Validation,
            "the multipart body does not contain its boundary",
        ));
    }
    let mut fields = Map::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.trim_start_matches("\r\n");
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            return Err(Refusal::new(
                Kind::Validation,
                "a multipart part has no header end",
            ));
        };
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split("\r\n")
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_owned()
            })
            .ok_or_else(|| Refusal::new(Kind::Validation, "a multipart part has no name"))?;
        fields.insert(
            name,
            Value::String(value.strip_suffix("\r\n").unwrap_or(value).to_owned()),
        );
    }
    Ok(fields)
}

/// How many pages of `size` hold `total` items (0 for a size below 1), without overflow.
pub fn pages(total: i64, size: i64) -> i64 {
    if size < 1 || total < 1 {
        0
    } else {
        total / size + i64::from(total % size != 0)
    }
}

/// The axum handler of every provider served by the engine. Bodies up to [`MAX_BODY_BYTES`]
/// are read; a larger one is 413 in the provider's envelope.
pub async fn handler(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => server.serve(&method, &uri, &headers, &body),
        Err(_) => Refusal::new(
            Kind::TooLarge,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
        .render(&server.style),
    }
}

/// The router of a provider served by the engine: every path goes to the engine (axum's own
/// body limit is lifted: the handler applies the sandbox's).
pub fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .fallback(handler)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(server)
}

/// A clock for jobs that progress over wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct JobClock {
    /// When the job started.
    pub started: Instant,
    /// How long it takes.
    pub duration: Duration,
}

impl JobClock {
    /// The fraction done, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        if self.duration.is_zero() {
            return 1.0;
        }
        (self.started.elapsed().as_secs_f64() / self.duration.as_secs_f64()).min(1.0)
    }

    /// Whether the job has finished.
    pub fn done(&self) -> bool {
        self.progress() >= 1.0
    }
}

/// An id in the shape a provider uses, drawn from a counter (unique within a sandbox).
pub fn hex_id(counter: u64, salt: &str, len: usize) -> String {
    Rng::seeded(&format!("{salt}/{counter}")).hex(len)
}

/// Sets a field only when the made-up answer has it (the spec declares it), so behaviours
/// can fill fields by name without adding undeclared ones.
pub fn set_if_present(target: &mut Value, key: &str, value: Value) {
    if let Some(slot) = target.as_object_mut().and_then(|o| o.get_mut(key)) {
        *slot = value;
    }
}

/// Sets a field, present or not.
pub fn set(target: &mut Value, key: &str, value: Value) {
    if let Some(o) = target.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A behaviour with a bug: it panics on every request.
    struct Broken;

    impl Behaviour for Broken {
        fn handle(&self, _: &Call<'_>) -> Result<Reply, Refusal> {
            let pages: Vec<i64> = Vec::new();
            Ok(Reply::json(serde_json::json!(pages[usize::MAX / 2])))
        }
    }

    #[test]
    fn multipart_fields_are_read_with_the_boundary_as_sent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            "Multipart/Form-Data; Boundary=\"XyZ42\"".parse().unwrap(),
        );
        let body = Bytes::from(
            "--XyZ42\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nrotate\r\n\
             --XyZ42\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n2\r\n--XyZ42--\r\n",
        );
        let fields = read_body(&headers, &body).unwrap();
        assert_eq!(fields, serde_json::json!({"note": "rotate", "n": "2"}));
        // A body without its boundary is refused, not read as no fields.
        let other = Bytes::from("--xyz42\r\n\r\nrotate\r\n--xyz42--\r\n");
        assert!(read_body(&headers, &other).is_err());
    }

    #[test]
    fn a_panic_is_a_500_in_the_providers_envelope_and_is_counted() {
        let style = Style {
            provider: Provider::Enrich,
            profile: &tollgate_enrich::PROFILE,
            alt_keys: &[],
            envelope: Envelope::Problem,
            rate_headers: false,
            throttled: |s| format!("wait {s}"),
            unauthorized: "no",
            out_of_credits: None,
        };
        let server = Server::new(
            style,
            include_str!("../specs/enrich.json"),
            Box::new(Broken),
        )
        .unwrap();
        let key = "sk_test_panic_0001";
        server.accounts.add(Provider::Enrich, key, 100, None, false);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static(key));
        let uri: Uri = "/wallets/balance".parse().unwrap();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let response = server.serve(&Method::GET, &uri, &headers, &Bytes::new());
        std::panic::set_hook(hook);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[axum::http::header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(server.panics(), 1);
    }

    #[test]
    fn page_counts_never_overflow() {
        assert_eq!(pages(10, 3), 4);
        assert_eq!(pages(9, 3), 3);
        assert_eq!(pages(i64::MAX, i64::MAX), 1);
        assert_eq!(pages(5, 0), 0);
        assert_eq!(pages(-1, 5), 0);
    }
}
