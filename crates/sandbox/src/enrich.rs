//! Enrich, imitated (docs/providers/enrich.md): credits per operation, reported as
//! `meta.creditsUsed`; batches that reserve `itemCount x creditsPerItem` on submit (items
//! de-duplicated first), progress over wall-clock time, and settle on the first results fetch
//! after they end (only found items are charged, the rest refunded in `meta.creditsRefunded`;
//! later fetches repeat the settlement and never charge again); Lead Finder reveal, enrich and
//! export jobs that reserve on submit and refund at completion; saved searches and team
//! invitations that can be created, listed and deleted; the wallet's balance and transactions
//! read from the key's ledger; `X-RateLimit-*` headers on every answer.
//!
//! Which items are found is decided by their text, so tests can aim: an e-mail, lead or profile
//! URL containing `nobody` finds nothing (refunded), an e-mail starting with `risky` validates
//! as `risky` (free), one starting with `invalid` as `invalid`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Provider;
use crate::engine::{
    AltKey, Behaviour, Call, Envelope, JobClock, Kind, Refusal, Reply, ReplyBody, Server, Style,
    hex_id, lock, set, set_if_present,
};

/// A batch kind, as data: its three operations, where its items are, what each costs.
struct BatchKind {
    submit: &'static str,
    status: &'static str,
    results: &'static str,
    items: &'static [&'static str],
    per_item: i64,
}

const BATCHES: [BatchKind; 4] = [
    BatchKind {
        submit: "validate_email_batch",
        status: "get_email_validation_batch",
        results: "get_email_validation_batch_results",
        items: &["/emails"],
        per_item: 1,
    },
    BatchKind {
        submit: "find_email_batch",
        status: "get_email_finder_batch",
        results: "get_email_finder_batch_results",
        items: &["/leads"],
        per_item: 10,
    },
    BatchKind {
        submit: "find_phones_bulk",
        status: "get_phone_bulk_job",
        results: "get_phone_bulk_job_results",
        items: &["/emails", "/linkedins"],
        per_item: 500,
    },
    BatchKind {
        submit: "reverse_lookup_bulk",
        status: "get_reverse_lookup_bulk",
        results: "get_reverse_lookup_bulk_results",
        items: &["/emails"],
        per_item: 10,
    },
];

/// Credits per lead of each revealable field.
const FIELD_COSTS: [(&str, i64); 2] = [("email", 10), ("phone", 525)];

/// Whether an item (an e-mail, a lead, a URL) is found in the sandbox's data.
fn found(item: &Value) -> bool {
    !item.to_string().to_lowercase().contains("nobody")
}

/// The text an item is de-duplicated by: e-mails case-insensitively, leads by their fields.
fn identity(item: &Value) -> String {
    match item {
        Value::String(s) if s.contains('@') => s.to_lowercase(),
        Value::String(s) => s.clone(),
        other => other.to_string().to_lowercase(),
    }
}

struct Batch {
    kind: &'static BatchKind,
    owner: usize,
    clock: JobClock,
    items: Vec<Value>,
    reserved: i64,
    /// (credits finally charged, credits refunded), once settled.
    settled: Option<(i64, i64)>,
}

/// A Lead Finder job (reveal, enrich, export), a follower scrape or a count estimate.
struct Job {
    kind: &'static str,
    owner: usize,
    clock: JobClock,
    body: Value,
    reserved: i64,
    /// What the job finally costs.
    cost: i64,
    error: Option<String>,
    settled: bool,
    total: i64,
    /// Follower scrapes: profiles a continue can still recover (the scrape is `partial`).
    recoverable: i64,
    /// Follower scrapes: a continue was started.
    continued: bool,
}

#[derive(Default)]
struct State {
    batches: BTreeMap<String, Batch>,
    jobs: BTreeMap<String, Job>,
    saved: BTreeMap<usize, Vec<Value>>,
    invitations: BTreeMap<(usize, String), Vec<Value>>,
    estimates: BTreeSet<(usize, String)>,
    next: u64,
}

/// The Enrich behaviour.
pub(crate) struct Enrich {
    state: Mutex<State>,
    job: Duration,
}

fn owner_of(call: &Call<'_>) -> usize {
    std::sync::Arc::as_ptr(&call.account) as usize
}

fn request_id(call: &Call<'_>) -> String {
    call.synth().rng().hex(24)
}

fn status_of(clock: &JobClock, failed: bool) -> (&'static str, f64) {
    let p = clock.progress();
    let status = if failed {
        "failed"
    } else if p >= 1.0 {
        "completed"
    } else if p < 0.1 {
        "queued"
    } else {
        "processing"
    };
    (status, p)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn portion(total: i64, p: f64) -> i64 {
    ((total as f64) * p).floor() as i64
}

impl Enrich {
    fn next_id(&self, state: &mut State, salt: &str, len: usize) -> String {
        state.next += 1;
        hex_id(state.next, salt, len)
    }

    fn clock(&self) -> JobClock {
        JobClock {
            started: Instant::now(),
            duration: self.job,
        }
    }

    /// A single lookup: charge when found, report it in `meta`.
    fn single(call: &Call<'_>, cost: i64, charged: bool) -> Result<Reply, Refusal> {
        // The pre-flight check is on the full price, found or not.
        if call.account.remaining() < cost {
            call.charge(cost, "pre-flight")?;
        }
        let used = if charged { cost } else { 0 };
        call.charge(used, "lookup")?;
        let mut answer = plain(call);
        let mut meta = used_meta(call, used);
        set(&mut meta, "processingTimeMs", json!(120));
        set(&mut answer, "meta", meta);
        Ok(Reply::json(answer))
    }

    fn submit_batch(&self, call: &Call<'_>, kind: &'static BatchKind) -> Result<Reply, Refusal> {
        let mut all = Vec::new();
        for pointer in kind.items {
            all.extend(
                call.body_at(pointer)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        if all.is_empty() {
            return Err(Refusal::new(
                Kind::Validation,
                "body Provide at least one item",
            ));
        }
        let mut seen = BTreeSet::new();
        let items: Vec<Value> = all
            .iter()
            .filter(|i| seen.insert(identity(i)))
            .cloned()
            .collect();
        let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let reserved = count.saturating_mul(kind.per_item);
        let mut state = lock(&self.state);
        let id = self.next_id(&mut state, "batch", 24);
        call.charge_for(reserved, "batch reservation", &id)?;
        state.batches.insert(
            id.clone(),
            Batch {
                kind,
                owner: owner_of(call),
                clock: self.clock(),
                items,
                reserved,
                settled: None,
            },
        );
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(data, "status", json!("queued"));
            set_if_present(data, "itemCount", json!(count));
            set_if_present(data, "originalCount", json!(all.len()));
            set_if_present(data, "duplicatesRemoved", json!(all.len() - seen.len()));
            set_if_present(data, "message", json!("Batch accepted"));
        }
        set(
            &mut answer,
            "meta",
            json!({"requestId": request_id(call), "creditsReserved": reserved, "creditsPerItem": kind.per_item, "estimatedCredits": reserved}),
        );
        Ok(Reply::json(answer))
    }

    fn batch<'s>(
        state: &'s mut State,
        call: &Call<'_>,
    ) -> Result<(String, &'s mut Batch), Refusal> {
        let id = call
            .param("batchId")
            .or_else(|| call.param("jobId"))
            .unwrap_or_default();
        match state.batches.get_mut(&id) {
            Some(b) if b.owner == owner_of(call) => Ok((id, b)),
            _ => Err(Refusal::new(Kind::NotFound, "No batch found with that ID")),
        }
    }

    fn batch_status(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, batch) = Self::batch(&mut state, call)?;
        let total = i64::try_from(batch.items.len()).unwrap_or(i64::MAX);
        let (status, p) = status_of(&batch.clock, false);
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(data, "status", json!(status));
            set_if_present(data, "totalItems", json!(total));
            set_if_present(data, "processedItems", json!(portion(total, p)));
            set_if_present(data, "progress", json!((p * 100.0).round()));
        }
        set(&mut answer, "meta", json!({"requestId": request_id(call)}));
        Ok(Reply::json(answer))
    }

    fn batch_results(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, batch) = Self::batch(&mut state, call)?;
        let total = i64::try_from(batch.items.len()).unwrap_or(i64::MAX);
        let (status, p) = status_of(&batch.clock, false);
        let processed = portion(total, p);
        let done = batch.clock.done();
        if done && batch.settled.is_none() {
            let found_count = batch.items.iter().filter(|i| found(i)).count();
            let used = i64::try_from(found_count).unwrap_or(i64::MAX) * batch.kind.per_item;
            let refund = batch.reserved - used;
            call.account
                .refund_for(batch.kind.submit, refund, "batch settlement", Some(&id));
            batch.settled = Some((used, refund));
        }
        let page = call.int_param("page").unwrap_or(1).max(1);
        let limit = call.int_param("limit").unwrap_or(100).max(1);
        let skip = usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        let available = usize::try_from(processed).unwrap_or(0);
        let shown: Vec<&Value> = batch
            .items
            .iter()
            .take(available)
            .skip(skip)
            .take(take)
            .collect();
        let mut synth = call.synth();
        let schema = data_items(call, "results").unwrap_or_else(|| json!({}));
        let results: Vec<Value> = shown
            .iter()
            .filter(|i| batch.kind.submit != "reverse_lookup_bulk" || found(i))
            .map(|item| {
                let mut r = synth.value(&schema);
                let hit = found(item);
                match item {
                    Value::String(s) => {
                        for key in ["email", "input", "linkedin"] {
                            set_if_present(&mut r, key, json!(s));
                        }
                    }
                    Value::Object(fields) => {
                        for (k, v) in fields {
                            set_if_present(&mut r, k, v.clone());
                        }
                    }
                    _ => {}
                }
                set_if_present(&mut r, "found", json!(hit));
                if !hit {
                    set_if_present(&mut r, "result", json!("invalid"));
                    set_if_present(&mut r, "phones", json!([]));
                    if batch.kind.submit == "find_email_batch" {
                        set_if_present(&mut r, "email", Value::Null);
                    }
                }
                r
            })
            .collect();
        let successful = batch
            .items
            .iter()
            .take(available)
            .filter(|i| found(i))
            .count();
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(data, "status", json!(status));
            set_if_present(data, "totalItems", json!(total));
            set_if_present(data, "processedItems", json!(processed));
            set_if_present(data, "processedCount", json!(processed));
            set_if_present(data, "successful", json!(successful));
            set_if_present(data, "failed", json!(available - successful));
            set_if_present(data, "page", json!(page));
            set_if_present(data, "limit", json!(limit));
            set(data, "results", Value::Array(results));
        }
        let (used, refunded) = batch.settled.map_or((0, None), |(u, r)| (u, Some(r)));
        let mut meta = settlement_meta(call, used, refunded);
        set(&mut meta, "totalItems", json!(total));
        set(&mut meta, "processedItems", json!(processed));
        set(&mut answer, "meta", meta);
        Ok(Reply::json(answer))
    }

    fn new_job(
        &self,
        call: &Call<'_>,
        kind: &'static str,
        prefix: &str,
        reserve: i64,
        cost: i64,
        total: i64,
    ) -> Result<(String, i64, Option<String>), Refusal> {
        // Reveal and enrich jobs do not refuse at once: the job fails (docs/providers/enrich.md, Credits).
        let lenient = kind == "reveal";
        let (reserved, error) = match call.charge(reserve, "job reservation") {
            Ok(_) => (reserve, None),
            Err(refusal) if lenient => (
                0,
                Some(format!(
                    "Insufficient credits (balance: {}, required: {reserve})",
                    refusal.extra("currentBalance").cloned().unwrap_or(json!(0))
                )),
            ),
            Err(refusal) => return Err(refusal),
        };
        let mut state = lock(&self.state);
        let id = format!("{prefix}{}", self.next_id(&mut state, kind, 16));
        state.jobs.insert(
            id.clone(),
            Job {
                kind,
                owner: owner_of(call),
                clock: self.clock(),
                body: call.body.clone().unwrap_or(Value::Null),
                reserved,
                cost: if error.is_some() { 0 } else { cost },
                error: error.clone(),
                settled: false,
                total,
                recoverable: 0,
                continued: false,
            },
        );
        Ok((id, reserved, error))
    }

    /// Settles a finished job once: refunds what it reserved beyond its cost.
    fn settle_job(call: &Call<'_>, job: &mut Job) -> Option<i64> {
        if !job.clock.done() && job.error.is_none() {
            return None;
        }
        let refund = job.reserved - job.cost;
        if !job.settled {
            job.settled = true;
            call.account.refund(&call.op.id, refund, "job settlement");
        }
        Some(refund)
    }

    fn job<'s>(
        state: &'s mut State,
        call: &Call<'_>,
        kind: &[&str],
    ) -> Result<(String, &'s mut Job), Refusal> {
        let id = call
            .param("jobId")
            .or_else(|| call.param("batchId"))
            .unwrap_or_default();
        match state.jobs.get_mut(&id) {
            Some(j) if j.owner == owner_of(call) && kind.contains(&j.kind) => Ok((id, j)),
            _ => {
                let what = match kind.first() {
                    Some(&"reveal") => "Reveal job not found",
                    Some(&"export") => "Export job not found",
                    _ => "No batch found with that ID",
                };
                Err(Refusal::new(Kind::NotFound, what))
            }
        }
    }

    fn reveal(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let leads = call
            .body_at("/leads")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let fields: Vec<String> = call
            .body_at("/fields")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["email".into(), "phone".into()]);
        let per_lead: i64 = FIELD_COSTS
            .iter()
            .filter(|(f, _)| fields.iter().any(|x| x == f))
            .map(|(_, c)| c)
            .sum();
        let count = i64::try_from(leads.len()).unwrap_or(i64::MAX);
        let hits = i64::try_from(leads.iter().filter(|l| found(l)).count()).unwrap_or(0);
        let (id, reserved, _) = self.new_job(
            call,
            "reveal",
            "rj_",
            count * per_lead,
            hits * per_lead,
            count,
        )?;
        Ok(job_submitted(
            call,
            &id,
            reserved,
            &[("totalLeads", json!(count)), ("fields", json!(fields))],
        ))
    }

    fn reveal_job(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, job) = Self::job(&mut state, call, &["reveal"])?;
        let refund = Self::settle_job(call, job);
        let (status, p) = status_of(&job.clock, job.error.is_some());
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "jobId", json!(id));
            set_if_present(
                data,
                "status",
                json!(if status == "queued" {
                    "pending"
                } else {
                    status
                }),
            );
            set_if_present(
                data,
                "progress",
                json!({"processed": portion(job.total, p), "total": job.total}),
            );
            // `error` is a string in the schema: present only when the job failed.
            match &job.error {
                Some(e) => set_if_present(data, "error", json!(e)),
                None => {
                    if let Some(o) = data.as_object_mut() {
                        o.remove("error");
                    }
                }
            }
            set_if_present(data, "creditsRefunded", json!(refund.unwrap_or(0)));
            if let Some(results) = data.get_mut("results") {
                set_if_present(results, "creditsUsed", json!(job.cost));
                set_if_present(results, "creditsRefunded", json!(refund.unwrap_or(0)));
            }
            set_if_present(
                data,
                "completedAt",
                if refund.is_some() {
                    json!("2026-01-01T00:00:05Z")
                } else {
                    Value::Null
                },
            );
        }
        set(&mut answer, "meta", settlement_meta(call, job.cost, refund));
        Ok(Reply::json(answer))
    }

    fn export(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let flag =
            |name: &str| call.body_at(&format!("/{name}")).and_then(Value::as_bool) == Some(true);
        let per_lead = if flag("includeContactInfo") {
            535
        } else {
            (if flag("includeEmail") { 10 } else { 0 })
                + (if flag("includePhone") { 525 } else { 0 })
        } + if flag("includeNames") { 1 } else { 0 };
        let rows = call
            .body_at("/leadIds")
            .and_then(Value::as_array)
            .map(|l| i64::try_from(l.len()).unwrap_or(0))
            .or_else(|| call.body_at("/maxResults").and_then(Value::as_i64))
            .unwrap_or(1000);
        let reserve = rows * per_lead;
        // One lead in ten has no contact data: refunded at completion.
        let cost = (rows - rows / 10) * per_lead;
        let (id, reserved, _) = self.new_job(call, "export", "ej_", reserve, cost, rows)?;
        Ok(job_submitted(
            call,
            &id,
            reserved,
            &[
                ("estimatedRows", json!(rows)),
                ("estimatedCredits", json!(reserve)),
            ],
        ))
    }

    fn export_job(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, job) = Self::job(&mut state, call, &["export"])?;
        let refund = Self::settle_job(call, job);
        let (status, p) = status_of(&job.clock, false);
        if call.op.id == "download_export_job" {
            if refund.is_none() {
                return Err(Refusal::new(
                    Kind::Conflict,
                    format!("Export job is not yet completed. Current status: {status}"),
                ));
            }
            let mut csv = String::from("firstName,lastName,company,email\n");
            let mut synth = call.synth();
            for _ in 0..job.total.min(1000) {
                let person = crate::synth::Person::draw(synth.rng());
                csv.push_str(&format!(
                    "{},{},{},{}\n",
                    person.first,
                    person.last,
                    person.company,
                    person.email()
                ));
            }
            return Ok(Reply {
                status: None,
                body: ReplyBody::Text("text/csv", csv),
                headers: vec![
                    (
                        axum::http::HeaderName::from_static("x-credits-used"),
                        job.cost.to_string(),
                    ),
                    (
                        axum::http::HeaderName::from_static("x-credits-refunded"),
                        refund.unwrap_or(0).to_string(),
                    ),
                ],
            });
        }
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "jobId", json!(id));
            set_if_present(
                data,
                "name",
                job.body
                    .get("name")
                    .cloned()
                    .unwrap_or(json!("Sandbox export")),
            );
            set_if_present(
                data,
                "status",
                json!(if status == "queued" {
                    "pending"
                } else {
                    status
                }),
            );
            set_if_present(data, "progress", json!((p * 100.0).round()));
            set_if_present(data, "totalRows", json!(job.total));
            set_if_present(data, "processedRows", json!(portion(job.total, p)));
            set_if_present(data, "creditsUsed", json!(job.cost));
            set_if_present(data, "creditsRefunded", json!(refund.unwrap_or(0)));
            if let Some(o) = data.as_object_mut() {
                o.remove("error");
            }
            if let Some(results) = data.get_mut("results") {
                set_if_present(results, "totalExported", json!(job.total));
                set_if_present(results, "creditsUsed", json!(job.cost));
                set_if_present(results, "creditsRefunded", json!(refund.unwrap_or(0)));
            }
            set_if_present(
                data,
                "downloadUrl",
                if refund.is_some() {
                    json!(format!("/lead-finder/export-jobs/{id}/download"))
                } else {
                    Value::Null
                },
            );
        }
        set(&mut answer, "meta", settlement_meta(call, job.cost, refund));
        Ok(Reply::json(answer))
    }

    fn list_jobs(&self, call: &Call<'_>, kind: &str) -> Reply {
        let state = lock(&self.state);
        let owner = owner_of(call);
        let wanted = call.param("status");
        let mut synth = call.synth();
        let schema = data_items(call, "jobs").unwrap_or_else(|| json!({}));
        let jobs: Vec<Value> = state
            .jobs
            .iter()
            .filter(|(_, j)| j.owner == owner && j.kind == kind)
            .filter_map(|(id, j)| {
                let (status, _) = status_of(&j.clock, j.error.is_some());
                let status = if status == "queued" {
                    "pending"
                } else {
                    status
                };
                if wanted.as_deref().is_some_and(|w| w != status) {
                    return None;
                }
                let mut v = synth.value(&schema);
                set_if_present(&mut v, "jobId", json!(id));
                set_if_present(&mut v, "status", json!(status));
                Some(v)
            })
            .collect();
        let page = call.int_param("page").unwrap_or(1).max(1);
        let limit = call.int_param("limit").unwrap_or(20).max(1);
        let total = jobs.len();
        let shown: Vec<Value> = jobs
            .into_iter()
            .skip(usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "jobs", Value::Array(shown));
            set_if_present(data, "total", json!(total));
            set_if_present(data, "page", json!(page));
            set_if_present(data, "limit", json!(limit));
        }
        set(&mut answer, "meta", json!({"requestId": request_id(call)}));
        Reply::json(answer)
    }

    fn follower_scrape(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        if call.param("batchId").is_some() {
            return self.continue_scrape(call);
        }
        if call.body_at("/companyUrl").is_none() {
            return Err(Refusal::new(
                Kind::Validation,
                "body/companyUrl is required to start a scrape (continue a scrape with ?batchId=)",
            ));
        }
        // 40 followers match, none when the URL names nobody: what max_limit reserved beyond
        // that is refunded. A URL naming `partial` under-delivers: half arrives, and a continue
        // recovers the rest.
        let (max, found) = found_count(call, "/max_limit", 100, "/companyUrl", 40);
        let partial = call
            .body_at("/companyUrl")
            .and_then(Value::as_str)
            .is_some_and(|u| u.contains("partial"));
        let delivered = if partial { found / 2 } else { found };
        let (id, reserved, _) = self.new_job(
            call,
            "followers",
            "",
            max.saturating_mul(100),
            delivered.saturating_mul(100),
            delivered,
        )?;
        if let Some(job) = lock(&self.state).jobs.get_mut(&id) {
            job.recoverable = found - delivered;
        }
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(data, "message", json!("Scrape started"));
            set_if_present(data, "estimatedAdditional", json!(max));
        }
        set(
            &mut answer,
            "meta",
            json!({"requestId": request_id(call), "creditsReserved": reserved, "creditsPerItem": 100, "estimatedCredits": reserved}),
        );
        Ok(Reply::json(answer))
    }

    /// `POST /company-follower?batchId=`: continues a partial scrape (docs/providers/enrich.md,
    /// G14): reserves the recoverable profiles anew and delivers them over the job duration.
    fn continue_scrape(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, job) = Self::job(&mut state, call, &["followers"])?;
        if !job.clock.done() {
            return Err(Refusal::new(
                Kind::Conflict,
                "The scrape is still running; continue it once it has ended.",
            ));
        }
        if job.continued {
            return Err(Refusal::new(
                Kind::Conflict,
                "A continue of this scrape is already running or done.",
            ));
        }
        let recoverable = job.recoverable;
        if recoverable == 0 {
            return Err(Refusal::new(
                Kind::Conflict,
                "This scrape completed fully — there is nothing to continue.",
            ));
        }
        // Settle the scrape as it stands (its refund goes in this answer when no results fetch
        // settled it yet), then reserve the recoverable profiles anew.
        let refunded = if job.settled {
            0
        } else {
            Self::settle_job(call, job).unwrap_or(0)
        };
        let reserve = recoverable.saturating_mul(100);
        call.charge(reserve, "continue reservation")?;
        job.reserved = reserve;
        job.cost = reserve;
        job.total = job.total.saturating_add(recoverable);
        job.recoverable = 0;
        job.continued = true;
        job.settled = false;
        job.clock = self.clock();
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(
                data,
                "message",
                json!(format!(
                    "Continuing scrape for the remaining {recoverable} profile(s)."
                )),
            );
            set_if_present(data, "estimatedAdditional", json!(recoverable));
        }
        set(
            &mut answer,
            "meta",
            json!({"requestId": request_id(call), "creditsReserved": reserve, "creditsPerItem": 100,
                   "creditsRefunded": refunded}),
        );
        Ok(Reply::json(answer))
    }

    fn follower_job(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, job) = Self::job(&mut state, call, &["followers"])?;
        let (_, p) = status_of(&job.clock, false);
        let processed = portion(job.total, p);
        let done = job.clock.done();
        match call.op.id.as_str() {
            "get_company_follower_progress" => {
                let mut answer = plain(call);
                if let Some(data) = answer.get_mut("data") {
                    set_if_present(data, "batchId", json!(id));
                    set_if_present(data, "processed", json!(processed));
                    set_if_present(data, "total", json!(job.total));
                    set_if_present(data, "errors", json!(0));
                    set_if_present(data, "done", json!(done));
                    // Finished but under-delivered: a continue can recover the rest.
                    set_if_present(data, "partial", json!(done && job.recoverable > 0));
                }
                set(&mut answer, "meta", json!({"requestId": request_id(call)}));
                Ok(Reply::json(answer))
            }
            "export_company_follower_results" => {
                let mut csv = String::from("name,headline,profileUrl\n");
                let mut synth = call.synth();
                for _ in 0..processed {
                    let person = crate::synth::Person::draw(synth.rng());
                    csv.push_str(&format!(
                        "{} {},{} at {},https://www.linkedin.com/in/{}-{}\n",
                        person.first,
                        person.last,
                        person.title,
                        person.company,
                        person.first.to_lowercase(),
                        person.last.to_lowercase()
                    ));
                }
                Ok(Reply {
                    status: None,
                    body: ReplyBody::Text("text/csv", csv),
                    headers: Vec::new(),
                })
            }
            _ => {
                let refund = if done {
                    Self::settle_job(call, job)
                } else {
                    None
                };
                let page = call.int_param("page").unwrap_or(1).max(1);
                let limit = call.int_param("limit").unwrap_or(100).max(1);
                let start = (page - 1).saturating_mul(limit);
                let count = processed.saturating_sub(start).clamp(0, limit);
                let mut synth = call.synth();
                let profiles: Vec<Value> = (0..count)
                    .map(|_| synth.value(&json!({"$ref": "#/components/schemas/FollowerProfile"})))
                    .collect();
                let mut answer = plain(call);
                if let Some(data) = answer.get_mut("data") {
                    set_if_present(data, "batchId", json!(id));
                    set_if_present(data, "count", json!(count));
                    set_if_present(data, "data", Value::Array(profiles));
                    set_if_present(
                        data,
                        "pagination",
                        json!({"page": page, "limit": limit, "total": processed,
                        "totalPages": crate::engine::pages(processed, limit)}),
                    );
                }
                set(&mut answer, "meta", settlement_meta(call, job.cost, refund));
                Ok(Reply::json(answer))
            }
        }
    }

    fn count_estimate(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let owner = owner_of(call);
        let fingerprint = call
            .body
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let cached = lock(&self.state)
            .estimates
            .contains(&(owner, fingerprint.clone()));
        let cost = if cached { 0 } else { 100 };
        let (id, _, _) = self.new_job(call, "estimate", "", cost, cost, 1)?;
        lock(&self.state).estimates.insert((owner, fingerprint));
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(
                data,
                "status",
                json!(if cached { "completed" } else { "pending" }),
            );
            set_if_present(data, "fromCache", json!(cached));
            set_if_present(
                data,
                "message",
                json!(if cached {
                    "Served from cache"
                } else {
                    "Estimation started"
                }),
            );
        }
        set(&mut answer, "meta", used_meta(call, cost));
        Ok(Reply::json(answer))
    }

    fn count_estimate_status(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        let (id, job) = Self::job(&mut state, call, &["estimate"])?;
        let done = job.clock.done();
        let mut answer = plain(call);
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "batchId", json!(id));
            set_if_present(
                data,
                "status",
                json!(if done { "completed" } else { "processing" }),
            );
            set_if_present(
                data,
                "companyUrl",
                job.body.get("companyUrl").cloned().unwrap_or(Value::Null),
            );
            if !done {
                set_if_present(data, "completedAt", Value::Null);
            }
        }
        set(&mut answer, "meta", json!({"requestId": request_id(call)}));
        Ok(Reply::json(answer))
    }

    fn saved(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        state.next += 1;
        let fresh = hex_id(state.next, "saved", 24);
        let list = state.saved.entry(owner_of(call)).or_default();
        let action = match call.op.id.as_str() {
            "save_search" => {
                let fields = call.body.as_ref().and_then(Value::as_object);
                Records::Create(
                    fields
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }
            "delete_saved_search" => Records::Delete(
                call.param("id").unwrap_or_default(),
                "saved search",
                json!({"deleted": true}),
            ),
            _ => Records::List,
        };
        let mut answer = records(call, list, fresh, action)?;
        set(&mut answer, "meta", json!({"requestId": request_id(call)}));
        Ok(Reply::json(answer))
    }

    fn invitations(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let mut state = lock(&self.state);
        state.next += 1;
        let fresh = hex_id(state.next, "invitation", 24);
        let team = call.param("teamId").unwrap_or_default();
        let list = state.invitations.entry((owner_of(call), team)).or_default();
        let action = match call.op.id.as_str() {
            "invite_team_member" => Records::Create(vec![("status".into(), json!("pending"))]),
            "cancel_team_invitation" => Records::Delete(
                call.param("invitationId").unwrap_or_default(),
                "pending invitation",
                json!({"success": true}),
            ),
            _ => Records::List,
        };
        Ok(Reply::json(records(call, list, fresh, action)?))
    }

    fn wallet(call: &Call<'_>) -> Reply {
        let mut answer = plain(call);
        if call.op.id == "get_wallet_balance" {
            if let Some(data) = answer.get_mut("data") {
                set_if_present(data, "balance", json!(call.account.remaining()));
                set_if_present(data, "currency", json!("credits"));
            }
            return Reply::json(answer);
        }
        let charges = call.account.charges();
        let page = call.int_param("page").unwrap_or(1).max(1);
        let limit = call.int_param("limit").unwrap_or(50).max(1);
        let wanted = call.param("type");
        let mut synth = call.synth();
        let transactions: Vec<Value> = charges
            .iter()
            .enumerate()
            .rev()
            .map(|(i, c)| {
                let mut t = synth.value(&json!({"$ref": "#/components/schemas/WalletTransaction"}));
                set_if_present(&mut t, "id", json!(hex_id(i as u64, "transaction", 24)));
                set_if_present(
                    &mut t,
                    "type",
                    json!(if c.amount >= 0 { "deduction" } else { "refund" }),
                );
                set_if_present(&mut t, "amount", json!(-c.amount));
                let description = match &c.reference {
                    Some(batch) => format!("{} ({}) in batch {batch}", c.operation, c.note),
                    None => format!("{} ({})", c.operation, c.note),
                };
                set_if_present(&mut t, "description", json!(description));
                set_if_present(
                    &mut t,
                    "createdAt",
                    json!(c.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                );
                t
            })
            .filter(|t| {
                wanted
                    .as_deref()
                    .is_none_or(|w| t.get("type") == Some(&json!(w)))
            })
            .collect();
        let total = i64::try_from(transactions.len()).unwrap_or(0);
        let shown: Vec<Value> = transactions
            .into_iter()
            .skip(usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        if let Some(data) = answer.get_mut("data") {
            set_if_present(data, "transactions", Value::Array(shown));
            set_if_present(
                data,
                "pagination",
                json!({"page": page, "limit": limit, "total": total,
                "totalPages": crate::engine::pages(total, limit)}),
            );
        }
        Reply::json(answer)
    }

    /// Searches and finders that charge per result returned.
    fn per_result(
        call: &Call<'_>,
        max_pointer: &str,
        default: i64,
        results_at: &str,
    ) -> Result<Reply, Refusal> {
        let (max, count) = found_count(call, max_pointer, default, "/company_linkedin_url", 12);
        if call.account.remaining() < count {
            call.charge(count, "pre-flight")?;
        }
        call.charge(count, "results")?;
        let mut answer = plain(call);
        let schema = data_items(call, results_at);
        let mut synth = call.synth();
        let results: Vec<Value> = (0..count)
            .map(|_| schema.as_ref().map_or(json!({}), |s| synth.value(s)))
            .collect();
        if let Some(data) = answer.get_mut("data") {
            set(data, results_at, Value::Array(results));
            for key in [
                "total_found",
                "total_returned",
                "results_length",
                "total_results",
            ] {
                set_if_present(data, key, json!(count));
            }
            set_if_present(data, "max_results", json!(max));
        }
        set(&mut answer, "meta", used_meta(call, count));
        Ok(Reply::json(answer))
    }

    fn search_leads(call: &Call<'_>) -> Result<Reply, Refusal> {
        const TOTAL: i64 = 1_000;
        let page = call
            .body_at("/page")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        let size = call
            .body_at("/pageSize")
            .and_then(Value::as_i64)
            .unwrap_or(25)
            .max(1);
        let first = (page - 1).saturating_mul(size);
        let count = TOTAL.saturating_sub(first).clamp(0, size);
        // Pages 1-3 or the first 75 results, whichever ends first, are free; then one credit
        // per result returned (docs/providers/enrich.md).
        let free_end = 3_i64.saturating_mul(size).min(75);
        let cost = if first >= free_end {
            count
        } else {
            first.saturating_add(count).saturating_sub(free_end).max(0)
        };
        call.charge(cost, "search page")?;
        let mut answer = plain(call);
        let mut synth = call.synth();
        let results: Vec<Value> = (0..count)
            .map(|_| synth.value(&json!({"$ref": "#/components/schemas/LeadSearchPreviewResult"})))
            .collect();
        if let Some(data) = answer.get_mut("data") {
            set(data, "results", Value::Array(results));
            set(
                data,
                "pagination",
                json!({"page": page, "pageSize": size, "totalResults": TOTAL,
                "totalPages": crate::engine::pages(TOTAL, size), "hasMore": first.saturating_add(size) < TOTAL,
                "isApproximate": false, "searchedTotalResult": TOTAL}),
            );
        }
        set(&mut answer, "meta", used_meta(call, cost));
        Ok(Reply::json(answer))
    }
}

/// The answer the spec describes, with a `meta` that moves no credits: made-up numbers in
/// `creditsUsed` or `creditsRefunded` would be read as charges. Behaviours that charge set
/// `meta` themselves.
fn plain(call: &Call<'_>) -> Value {
    let mut answer = call.synthesize();
    if answer.get("meta").is_some() {
        set(&mut answer, "meta", json!({"requestId": request_id(call)}));
    }
    answer
}

/// The `meta` of an answer that took `used` credits: what the client records as the charge.
fn used_meta(call: &Call<'_>, used: i64) -> Value {
    json!({"requestId": request_id(call), "creditsUsed": used,
           "creditsRemaining": call.account.remaining()})
}

/// How many results a request asking for up to `max_pointer` (default `default`) gets: the
/// data set has `available`, none when the text at `about` names nobody. Returns (asked, got).
fn found_count(
    call: &Call<'_>,
    max_pointer: &str,
    default: i64,
    about: &str,
    available: i64,
) -> (i64, i64) {
    let max = call
        .body_at(max_pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default);
    let nobody = call.body_at(about).is_some_and(|v| !found(v));
    (max, if nobody { 0 } else { max.min(available) })
}

/// What to do with a small list of records (saved searches, invitations).
enum Records {
    /// Add one with a fresh id and these fields (those the answer declares).
    Create(Vec<(String, Value)>),
    /// Remove the one with this id (404 naming `what` if there is none); answer `data`.
    Delete(String, &'static str, Value),
    /// Answer them all.
    List,
}

/// Applies `action` to `list` and answers: the created record, the deletion's `data`, or the
/// whole list.
fn records(
    call: &Call<'_>,
    list: &mut Vec<Value>,
    fresh: String,
    action: Records,
) -> Result<Value, Refusal> {
    let mut answer = plain(call);
    let data = match action {
        Records::Create(fields) => {
            let mut item = answer.get("data").cloned().unwrap_or_else(|| json!({}));
            set_if_present(&mut item, "id", json!(fresh));
            for (key, value) in fields {
                set_if_present(&mut item, &key, value);
            }
            list.push(item.clone());
            item
        }
        Records::Delete(id, what, data) => {
            let before = list.len();
            list.retain(|r| r.get("id") != Some(&json!(id)));
            if list.len() == before {
                return Err(Refusal::new(
                    Kind::NotFound,
                    format!("No {what} with id {id}"),
                ));
            }
            data
        }
        Records::List => Value::Array(list.clone()),
    };
    set(&mut answer, "data", data);
    Ok(answer)
}

/// The answer to a Lead Finder job submission: its id, `pending`, what it reserved (recorded
/// by the client as the charge), and the kind's own fields.
fn job_submitted(call: &Call<'_>, id: &str, reserved: i64, fields: &[(&str, Value)]) -> Reply {
    let mut answer = plain(call);
    if let Some(data) = answer.get_mut("data") {
        set_if_present(data, "jobId", json!(id));
        set_if_present(data, "status", json!("pending"));
        set_if_present(data, "creditsReserved", json!(reserved));
        for (key, value) in fields {
            set_if_present(data, key, value.clone());
        }
    }
    set(&mut answer, "meta", used_meta(call, reserved));
    Reply::json(answer)
}

/// A job poll's `meta`: once the job is done, its settlement (final cost and refund), repeated
/// on every later poll.
fn settlement_meta(call: &Call<'_>, cost: i64, refund: Option<i64>) -> Value {
    match refund {
        Some(r) => json!({"requestId": request_id(call), "creditsUsed": cost, "creditsRefunded": r,
                          "creditsRemaining": call.account.remaining()}),
        None => json!({"requestId": request_id(call)}),
    }
}

/// The schema of the items of the list `field` inside an answer's `data`.
fn data_items(call: &Call<'_>, field: &str) -> Option<Value> {
    let (_, schema) = call.op.answer.as_ref()?;
    let doc = call.api.document();
    let root = crate::spec::resolve(doc, schema);
    let data = crate::spec::resolve(doc, root.pointer("/properties/data")?);
    data.pointer(&format!("/properties/{field}/items")).cloned()
}

/// Whether a text looks like an e-mail address (what Enrich's validation accepts).
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

impl Behaviour for Enrich {
    /// Enrich's own checks beyond the schemas (docs/providers/enrich.md): e-mail addresses must be
    /// addresses, and people searches need a LinkedIn company URL.
    fn check(&self, call: &Call<'_>) -> Result<(), Refusal> {
        let invalid = |place: String, reason: &str| {
            Refusal::new(Kind::Validation, format!("{place} {reason}")).with("field", place)
        };
        if let Some(Value::String(email)) = call.params.get("email")
            && !is_email(email)
        {
            return Err(invalid("querystring/email".into(), "Invalid email"));
        }
        if matches!(
            call.op.id.as_str(),
            "validate_email" | "reverse_lookup" | "invite_team_member"
        ) && let Some(email) = call.body_at("/email").and_then(Value::as_str)
            && !is_email(email)
        {
            return Err(invalid("body/email".into(), "Invalid email"));
        }
        if matches!(
            call.op.id.as_str(),
            "validate_email_batch" | "reverse_lookup_bulk" | "find_phones_bulk"
        ) {
            let emails = call.body_at("/emails").and_then(Value::as_array);
            for (i, email) in emails.into_iter().flatten().enumerate() {
                if !email.as_str().is_some_and(is_email) {
                    return Err(invalid(format!("body/emails/{i}"), "Invalid email"));
                }
            }
        }
        if let Some(url) = call
            .body_at("/company_linkedin_url")
            .and_then(Value::as_str)
            && !url.contains("linkedin.com/company/")
        {
            return Err(invalid(
                "company_linkedin_url:".into(),
                "Must be a LinkedIn company URL (e.g. https://www.linkedin.com/company/google/)",
            ));
        }
        Ok(())
    }

    fn handle(&self, call: &Call<'_>) -> Result<Reply, Refusal> {
        let id = call.op.id.as_str();
        if let Some(kind) = BATCHES.iter().find(|b| b.submit == id) {
            return self.submit_batch(call, kind);
        }
        if BATCHES.iter().any(|b| b.status == id) {
            return self.batch_status(call);
        }
        if BATCHES.iter().any(|b| b.results == id) {
            return self.batch_results(call);
        }
        match id {
            "validate_email" => {
                let email = call
                    .body_at("/email")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase();
                let (verdict, charged) = if email.starts_with("risky") {
                    ("risky", false)
                } else if email.starts_with("invalid") || email.contains("nobody") {
                    ("invalid", true)
                } else {
                    ("valid", true)
                };
                let mut reply = Self::single(call, 1, charged)?;
                if let ReplyBody::Json(answer) = &mut reply.body
                    && let Some(data) = answer.get_mut("data")
                {
                    set_if_present(data, "result", json!(verdict));
                }
                Ok(reply)
            }
            "find_email" => {
                let hit = call.body.as_ref().is_some_and(found);
                let mut reply = Self::single(call, 10, hit)?;
                if let ReplyBody::Json(answer) = &mut reply.body
                    && let Some(data) = answer.get_mut("data")
                {
                    set_if_present(data, "found", json!(hit));
                    let first = call
                        .body_at("/firstName")
                        .and_then(Value::as_str)
                        .unwrap_or("x")
                        .to_lowercase();
                    let last = call
                        .body_at("/lastName")
                        .and_then(Value::as_str)
                        .unwrap_or("y")
                        .to_lowercase();
                    let domain = call
                        .body_at("/domain")
                        .and_then(Value::as_str)
                        .unwrap_or("example.com");
                    set_if_present(
                        data,
                        "email",
                        if hit {
                            json!(format!("{first}.{last}@{domain}"))
                        } else {
                            Value::Null
                        },
                    );
                }
                Ok(reply)
            }
            "find_phones" => {
                if !call.params.contains_key("email") && !call.params.contains_key("linkedin") {
                    return Err(Refusal::new(
                        Kind::Validation,
                        "querystring Provide email or linkedin",
                    ));
                }
                let hit = found(&Value::Object(call.params.clone()));
                let mut reply = Self::single(call, 500, hit)?;
                if !hit
                    && let ReplyBody::Json(answer) = &mut reply.body
                    && let Some(data) = answer.get_mut("data")
                {
                    set_if_present(data, "phones", json!([]));
                }
                Ok(reply)
            }
            "reverse_lookup" => {
                let hit = call.body.as_ref().is_some_and(found);
                if !hit {
                    return Err(Refusal::new(
                        Kind::NotFound,
                        "No profile found for this email",
                    ));
                }
                Self::single(call, 10, true)
            }
            "start_count_estimate" => self.count_estimate(call),
            "get_count_estimate" => self.count_estimate_status(call),
            "start_company_follower_scrape" => self.follower_scrape(call),
            "get_company_follower_progress"
            | "get_company_follower_results"
            | "export_company_follower_results" => self.follower_job(call),
            "search_leads" => Self::search_leads(call),
            "export_leads" => self.export(call),
            "get_export_job" | "download_export_job" => self.export_job(call),
            "list_export_jobs" => Ok(self.list_jobs(call, "export")),
            "reveal_leads" | "enrich_leads" => self.reveal(call),
            "get_reveal_job" => self.reveal_job(call),
            "list_reveal_jobs" => Ok(self.list_jobs(call, "reveal")),
            "unlock_lead_names" => {
                let count = call
                    .body_at("/leads")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let cost = i64::try_from(count).unwrap_or(i64::MAX);
                call.charge(cost, "names")?;
                let mut answer = plain(call);
                set(&mut answer, "meta", used_meta(call, cost));
                Ok(Reply::json(answer))
            }
            "waterfall_icp_search" => Self::per_result(call, "/max_results", 25, "results"),
            "find_employees" => Self::per_result(call, "/max_results", 10, "results"),
            "list_saved_searches" | "save_search" | "delete_saved_search" => self.saved(call),
            "invite_team_member" | "list_team_invitations" | "cancel_team_invitation" => {
                self.invitations(call)
            }
            "get_wallet_balance" | "list_wallet_transactions" => Ok(Self::wallet(call)),
            "get_company_follower_limit" => {
                let mut answer = plain(call);
                if let Some(data) = answer.get_mut("data") {
                    set_if_present(data, "creditsPerProfile", json!(100));
                }
                Ok(Reply::json(answer))
            }
            _ => Ok(Reply::json(plain(call))),
        }
    }
}

/// The Enrich server.
pub(crate) fn server(job: Duration) -> Result<Server, String> {
    let style = Style {
        provider: Provider::Enrich,
        profile: &tollgate_enrich::PROFILE,
        alt_keys: &[AltKey::Bearer],
        envelope: Envelope::Problem,
        rate_headers: true,
        throttled: |s| format!("Rate limit exceeded. Please retry after {s} seconds."),
        unauthorized: "This endpoint requires API key authentication. Provide key via x-api-key header or Authorization: Bearer sk_*",
        out_of_credits: None,
    };
    Server::new(
        style,
        include_str!("../specs/enrich.json"),
        Box::new(Enrich {
            state: Mutex::default(),
            job,
        }),
    )
}
