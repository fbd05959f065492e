//! The cache step of a call ([`crate::cache`]): a fresh kept answer is served without sending
//! anything; otherwise one caller fetches (identical calls in flight wait for it) and its final
//! answer is kept; a status check that delivers a complete answer keeps it for the request
//! that was in progress.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use super::{CallRecord, Runtime};
use crate::cache::{self, Cache, CacheMode, CacheRule, CompletedBy, Entry, Event, Write};
use crate::cost::RequestView;
use crate::error::Error;
use crate::shared::Scope;

/// A cacheable question of one call: where it is kept, by which rule, under which key.
struct Asked<'a> {
    cache: &'a Cache,
    scope: &'a Scope,
    rule: &'a CacheRule,
    key: String,
    operation: &'static str,
    estimate: i64,
}

/// How long an answer in progress waits for its completion to be kept.
const PENDING_TTL: Duration = Duration::from_secs(86_400);

/// The header a served answer carries (`hit`); the runtime drops any a server sends.
pub(crate) const CACHE_HEADER: &str = "x-tollgate-cache";

/// What a fetched answer is to the cache.
enum Keep {
    /// Final: keep it.
    Final,
    /// Still being worked on, under this id: keep it when it completes.
    InProgress(String),
    /// Not kept.
    No,
}

/// A kept answer to one item of a batch, served by [`Runtime::cached_item`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedItem {
    /// The item's result, as the batch returned it.
    pub body: Bytes,
    /// What it had cost (what serving it saved).
    pub cost: i64,
}

impl Runtime {
    /// The item cache's key of `item` (its identity, normalised by the caller) answered as
    /// part of a batch, kept under the single-call operation `operation` (whose rule sets
    /// the time to live), when the client has a cache and `operation` is cacheable.
    fn item_key(
        &self,
        operation: &str,
        item: &str,
    ) -> Option<(&Cache, &Scope, &CacheRule, String)> {
        let (cache, scope) = self.inner.cache.as_ref()?;
        let rule = self.inner.profile.cache.rule(operation)?;
        let identity = cache::identity(
            &self.inner.profile.cache,
            &format!("item:{operation}"),
            "",
            "",
            Some(&Value::String(item.to_owned())),
        );
        Some((cache, scope, rule, cache::key(scope, &identity)))
    }

    /// The kept result of one item of a batch (a bulk job's address, lead, ...), when the
    /// client has a cache, `operation` (the single-call operation of the item, such as
    /// `validate_email`) is cacheable and the result is fresh under the current
    /// [`cache::CacheControl`]. A hit is recorded in the ledger as served from the cache; a
    /// miss is counted. Batches then carry only the items that missed.
    pub async fn cached_item(&self, operation: &str, item: &str) -> Option<CachedItem> {
        let control = cache::current_control();
        if control.mode != CacheMode::Use || self.inner.dry_run {
            return None;
        }
        let (cache, scope, _, key) = self.item_key(operation, item)?;
        let Some(entry) = cache.fresh(&key, control).await else {
            cache.count_later(&scope.provider, Event::Miss);
            return None;
        };
        let unit = self.inner.cost.model.unit;
        self.ledger()
            .record_hit(operation, unit, entry.cost, entry.cost, entry.status);
        cache.count_later(
            &scope.provider,
            Event::Hit {
                saved: entry.cost,
                unit,
            },
        );
        Some(CachedItem {
            body: entry.body,
            cost: entry.cost,
        })
    }

    /// Whether the result of one item of a batch is in the cache and fresh under the current
    /// [`cache::CacheControl`], without serving it (nothing is recorded): what a dry run
    /// reports.
    pub async fn has_cached_item(&self, operation: &str, item: &str) -> bool {
        let control = cache::current_control();
        if control.mode != CacheMode::Use {
            return false;
        }
        match self.item_key(operation, item) {
            Some((cache, _, _, key)) => cache.fresh(&key, control).await.is_some(),
            None => false,
        }
    }

    /// Keeps the result of one item of a batch, with `cost`, its share of what the batch
    /// cost (nothing is kept when the current [`cache::CacheControl`] bypasses the cache).
    pub async fn keep_item(&self, operation: &str, item: &str, result: Bytes, cost: i64) {
        if cache::current_control().mode == CacheMode::Bypass {
            return;
        }
        let Some((cache, scope, rule, key)) = self.item_key(operation, item) else {
            return;
        };
        cache
            .keep(
                &key,
                scope,
                operation,
                200,
                Some("application/json".into()),
                result,
                rule.ttl,
                cost.max(0),
                self.inner.cost.model.unit,
            )
            .await;
    }

    /// Sends `request` through the client's cache (`control` is the call's use of it): a
    /// cacheable `operation` is answered from it or kept in it, one that completes cacheable
    /// answers (a status check) completes them; any other goes straight on.
    pub(super) async fn send_cached(
        &self,
        (cache, scope): &(Cache, Scope),
        control: cache::CacheControl,
        request: reqwest::Request,
        operation: &'static str,
        outcome: &CallRecord,
    ) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let profile = &inner.profile.cache;
        if let Some((rule, by)) = profile.completed_by(operation).filter(|_| !inner.dry_run) {
            let answer = self.send_inner(request, operation, outcome).await?;
            let body = outcome.take_body().unwrap_or_default();
            self.complete_pending(cache, scope, rule, by, &body).await;
            return Ok(answer);
        }
        let Some(rule) = profile.rule(operation) else {
            return self.send_inner(request, operation, outcome).await;
        };
        let view = RequestView::of(&request);
        let estimate = inner.cost.rule(operation).max_cost(&view).unwrap_or(0);
        let body: Option<Value> = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .and_then(|b| serde_json::from_slice(b).ok());
        let identity = cache::identity(
            profile,
            operation,
            request.url().path(),
            request.url().query().unwrap_or(""),
            body.as_ref(),
        );
        let key = cache::key(scope, &identity);
        if inner.dry_run {
            // Priced, never sent: a call the cache would answer costs nothing.
            if control.mode == CacheMode::Use && cache.fresh(&key, control).await.is_some() {
                return Err(Error::DryRun {
                    operation: operation.to_owned(),
                    max_cost: 0,
                    unit: inner.cost.model.unit,
                    cached: true,
                });
            }
            return self.send_inner(request, operation, outcome).await;
        }
        if control.mode == CacheMode::Use
            && let Some(entry) = cache.fresh(&key, control).await
        {
            return self
                .serve(cache, scope, entry, operation, estimate, outcome)
                .await;
        }
        let asked = Asked {
            cache,
            scope,
            rule,
            key,
            operation,
            estimate,
        };
        self.fetch_and_keep(asked, request, control, outcome).await
    }

    /// Sends a question the cache could not answer, holding its lock (one fetch of it at a
    /// time, here and in other processes), and keeps what the answer allows.
    async fn fetch_and_keep(
        &self,
        asked: Asked<'_>,
        request: reqwest::Request,
        control: cache::CacheControl,
        outcome: &CallRecord,
    ) -> Result<reqwest::Response, Error> {
        let Asked { cache, scope, .. } = asked;
        let flight = cache.flight(&asked.key).await;
        // Another fetch of the same question (here, or in another process that held the
        // store's lock) may have kept its answer between the first look and the lock.
        if control.mode == CacheMode::Use
            && let Some(entry) = cache.fresh(&asked.key, control).await
        {
            flight.end().await;
            return self
                .serve(
                    cache,
                    scope,
                    entry,
                    asked.operation,
                    asked.estimate,
                    outcome,
                )
                .await;
        }
        let result = self.send_inner(request, asked.operation, outcome).await;
        let kept = self.what_to_keep(&asked, &result, outcome);
        // An answer in progress waits under its id: written before the caller can ask the
        // status check for it (whose answer must find it), not in the background.
        let kept = match kept {
            Some(write) if write.status == 0 => {
                cache.keep_write(write).await;
                None
            }
            other => other,
        };
        cache.finish(flight, scope.provider.clone(), kept);
        result
    }

    /// What of a call's result the cache keeps: a final answer that cost something, the
    /// record of an answer in progress (under its id), or a negative answer its rule keeps.
    fn what_to_keep(
        &self,
        asked: &Asked<'_>,
        result: &Result<reqwest::Response, Error>,
        outcome: &CallRecord,
    ) -> Option<Write> {
        let rule = asked.rule;
        let write = |key: String, status, content_type, body, ttl, cost| Write {
            at: asked.cache.now(),
            key,
            scope: asked.scope.clone(),
            operation: asked.operation.to_owned(),
            status,
            content_type,
            body,
            ttl,
            cost,
            unit: self.inner.cost.model.unit,
        };
        match result {
            Ok(answer) => {
                let body = outcome.take_body().unwrap_or_default();
                let charged = outcome.charged();
                match keep(rule, &body) {
                    Keep::Final if charged > 0 => {
                        let content_type = answer
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let status = answer.status().as_u16();
                        let key = asked.key.clone();
                        Some(write(key, status, content_type, body, rule.ttl, charged))
                    }
                    Keep::InProgress(id) => {
                        let by = rule.ready.and_then(|r| r.completed_by)?;
                        let pending = cache::pending_key(asked.scope, by.operation, &id);
                        let key = Bytes::from(asked.key.clone());
                        Some(write(pending, 0, None, key, PENDING_TTL, charged))
                    }
                    Keep::Final | Keep::No => None,
                }
            }
            Err(Error::Api(api)) => {
                let negative = rule.negative.filter(|n| n.status == api.status)?;
                let body = api.body.as_ref().map(Value::to_string).unwrap_or_default();
                let json = Some("application/json".into());
                let key = asked.key.clone();
                let cost = asked.estimate;
                Some(write(
                    key,
                    api.status,
                    json,
                    Bytes::from(body),
                    negative.ttl,
                    cost,
                ))
            }
            Err(_) => None,
        }
    }

    /// Answers from a kept entry: nothing sent, nothing charged, the saving recorded.
    async fn serve(
        &self,
        cache: &Cache,
        scope: &Scope,
        entry: Entry,
        operation: &'static str,
        estimate: i64,
        outcome: &CallRecord,
    ) -> Result<reqwest::Response, Error> {
        let unit = self.inner.cost.model.unit;
        self.ledger()
            .record_hit(operation, unit, estimate, entry.cost, entry.status);
        crate::telemetry::saved(self.inner.profile.name, operation, unit, entry.cost);
        let (ended, no_time) = (crate::telemetry::Outcome::Cached, Duration::ZERO);
        crate::telemetry::call_ended(self.inner.profile.name, operation, ended, 0, no_time);
        cache.count_later(
            &scope.provider,
            Event::Hit {
                saved: entry.cost,
                unit,
            },
        );
        outcome.set_status(entry.status);
        let span = tracing::Span::current();
        span.record("status", entry.status);
        span.record("cost", 0);
        tracing::debug!(saved = entry.cost, "served from the cache");
        if entry.is_negative() {
            let parsed = serde_json::from_slice(&entry.body).ok();
            let status = reqwest::StatusCode::from_u16(entry.status)
                .unwrap_or(reqwest::StatusCode::NOT_FOUND);
            return Err(self.api_error(super::answer::ErrorAnswer {
                operation,
                status,
                headers: &HeaderMap::new(),
                body: &entry.body,
                parsed,
                attempts: 0,
                history: Vec::new(),
                stopped: None,
                retry_after: None,
            }));
        }
        let mut answer = http::Response::new(entry.body);
        *answer.status_mut() =
            http::StatusCode::from_u16(entry.status).unwrap_or(http::StatusCode::OK);
        if let Some(ct) = entry
            .content_type
            .as_deref()
            .and_then(|ct| HeaderValue::from_str(ct).ok())
        {
            answer.headers_mut().insert(CONTENT_TYPE, ct);
        }
        answer
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static("hit"));
        Ok(reqwest::Response::from(answer))
    }

    /// Keeps every complete item of a status check whose id was in progress, as the answer to
    /// the request that started it.
    async fn complete_pending(
        &self,
        cache: &Cache,
        scope: &Scope,
        rule: &CacheRule,
        by: CompletedBy,
        body: &Bytes,
    ) {
        let Some(ready) = rule.ready else { return };
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let items = if by.items.is_empty() {
            Some(&answer)
        } else {
            answer.pointer(by.items)
        };
        let Some(Value::Array(items)) = items else {
            return;
        };
        for item in items {
            let complete = item
                .pointer(ready.pointer)
                .and_then(Value::as_str)
                .is_some_and(|s| ready.complete.contains(&s));
            let Some(id) = item.pointer(by.id).map(id_text) else {
                continue;
            };
            if !complete {
                continue;
            }
            let pending_key = cache::pending_key(scope, by.operation, &id);
            let Some(pending) = cache
                .fresh(&pending_key, cache::CacheControl::default())
                .await
            else {
                continue;
            };
            let Ok(original) = std::str::from_utf8(&pending.body) else {
                continue;
            };
            let ttl = self
                .inner
                .profile
                .cache
                .rule(&pending.operation)
                .map_or(rule.ttl, |r| r.ttl);
            cache
                .keep(
                    original,
                    scope,
                    &pending.operation,
                    200,
                    Some("application/json".into()),
                    Bytes::from(item.to_string()),
                    ttl,
                    pending.cost,
                    pending.unit,
                )
                .await;
            let _ = cache.store().remove(&pending_key).await;
        }
    }
}

/// What `rule` says of an answer's `body`.
fn keep(rule: &CacheRule, body: &[u8]) -> Keep {
    let Some(ready) = rule.ready else {
        return Keep::Final;
    };
    let mut pointers = vec![ready.pointer];
    if let Some(by) = ready.completed_by {
        pointers.push(by.id);
    }
    let found = crate::probe::values(body, &pointers);
    let status = found.first().cloned().flatten();
    match status.as_ref().and_then(Value::as_str) {
        Some(s) if ready.complete.contains(&s) => Keep::Final,
        Some(s) if ready.in_progress.contains(&s) => match found.get(1).cloned().flatten() {
            Some(id) => Keep::InProgress(id_text(&id)),
            None => Keep::No,
        },
        // No status at all: the answer is final by its shape.
        None => Keep::Final,
        Some(_) => Keep::No,
    }
}

/// An id as text (`5244` and `"5244"` are one id).
fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
