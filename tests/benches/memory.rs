//! Peak memory of the large cases, raw and through the client: a 10,000-row answer and Enrich
//! batch submits of 100,000 and 500,000 addresses, counted by an allocator that sees only the
//! client's threads, written next to criterion's results (`target/criterion/memory.json`) for
//! `cargo xtask bench`. Apart from `benches/runtime.rs`, whose timings the counting would slow.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is the report

use serde_json::json;
use std::sync::atomic::{AtomicIsize, Ordering};
use tollgate_tests::bench::{ENRICH_KEY, client, emails, raw_call, start_server};

use tracking_allocator::{
    AllocationGroupId, AllocationGroupToken, AllocationRegistry, AllocationTracker, Allocator,
};

/// Every allocation, tagged with the group of the thread that made it.
#[global_allocator]
static ALLOCATOR: Allocator<std::alloc::System> = Allocator::system();

/// Live and peak heap bytes of the client's allocations only: those made on its runtime's
/// threads and on the measuring thread, each of which enters an allocation group of its own.
/// The servers run in this process too, on threads in no group, and their reading of a
/// request is not the client's cost.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

struct ClientBytes;

impl AllocationTracker for ClientBytes {
    fn allocated(&self, _: usize, size: usize, _: usize, group: AllocationGroupId) {
        if group != AllocationGroupId::ROOT {
            let size = isize::try_from(size).unwrap_or(isize::MAX);
            let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
    }

    fn deallocated(
        &self,
        _: usize,
        size: usize,
        _: usize,
        source: AllocationGroupId,
        _: AllocationGroupId,
    ) {
        if source != AllocationGroupId::ROOT {
            LIVE.fetch_sub(
                isize::try_from(size).unwrap_or(isize::MAX),
                Ordering::Relaxed,
            );
        }
    }
}

/// Puts the calling thread's allocations in a group of their own for the thread's life.
fn count_this_thread() {
    if let Some(token) = AllocationGroupToken::register() {
        // The guard stays entered until the thread ends.
        let token = Box::leak(Box::new(token));
        std::mem::forget(token.enter());
    }
}

/// A runtime for the client (one worker thread), its threads counted by the allocator.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(count_this_thread)
        .enable_all()
        .build()
        .unwrap()
}

/// Peak heap growth of the client's threads while `f` runs, in bytes.
fn peak_during<T>(rt: &tokio::runtime::Runtime, f: impl std::future::Future<Output = T>) -> usize {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    AllocationRegistry::enable_tracking();
    let out = rt.block_on(f);
    AllocationRegistry::disable_tracking();
    let peak = PEAK.load(Ordering::Relaxed);
    drop(out);
    usize::try_from(peak - start).unwrap_or(0)
}

/// Peak memory of an Enrich batch submit of `n` addresses: raw, through the client, the body.
fn batch_peaks(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> (usize, usize, usize) {
    let list = emails(n);
    let body_bytes = serde_json::to_vec(&json!({ "emails": list }))
        .unwrap()
        .len();
    let enrich = tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(base)
        .rate_limit(None)
        .build()
        .unwrap();
    #[derive(serde::Serialize)]
    struct Batch<'a> {
        emails: &'a [String],
    }
    let raw_batch = peak_during(rt, async {
        let body = serde_json::to_vec(&Batch { emails: &list }).unwrap();
        http.post(format!("{base}/email-validation/batch"))
            .header("x-api-key", ENRICH_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    let typed: tollgate_enrich::types::BatchEmailValidationRequest =
        serde_json::from_value(json!({ "emails": list })).unwrap();
    let client_batch = peak_during(rt, async {
        enrich
            .validate_email_batch()
            .body(typed)
            .send()
            .await
            .unwrap()
    });
    (raw_batch, client_batch, body_bytes)
}

/// Peak memory of the large cases, raw and through the runtime, written for `cargo xtask bench`.
fn memory(rt: &tokio::runtime::Runtime, base: &str) {
    let http = reqwest::Client::new();
    let c = client(base);
    let large = format!("{base}/large/api/entities");
    // Warm both paths (connection pools, lazy statics) before measuring.
    rt.block_on(raw_call(&http, &large));
    let large_client = client(&format!("{base}/large"));
    rt.block_on(async { large_client.list_entities().send().await.unwrap() });
    let raw_large = peak_during(rt, raw_call(&http, &large));
    let client_large = peak_during(rt, async {
        large_client
            .list_entities()
            .ent_name("Tesla")
            .send()
            .await
            .unwrap()
    });
    let mut batches = serde_json::Map::new();
    for n in [100_000, 500_000] {
        let (raw_batch, client_batch, body_bytes) = batch_peaks(rt, &http, base, n);
        batches.insert(
            n.to_string(),
            json!({"raw": raw_batch, "client": client_batch, "body": body_bytes}),
        );
    }
    drop(c);
    let report = json!({
        "large_answer": {"raw": raw_large, "client": client_large},
        "batch_submit": batches.get("100000"),
        "batch_submit_500000": batches.get("500000"),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("memory.json"), report.to_string()).unwrap();
    println!("memory: {report}");
}

fn main() {
    let _ = AllocationRegistry::set_global_tracker(ClientBytes);
    count_this_thread();
    let base = start_server();
    memory(&client_runtime(), &base);
}
