//! What the runtime costs over raw reqwest + serde_json, side by side in one process, against a
//! loopback server started here: one call at a time, 64 at once, a 10,000-row answer, a
//! 100,000-address batch submit, the budget check at any ledger length, and the Redis-shared
//! pace and budget (when `redis-server` is installed). Peak memory is measured apart, by
//! `benches/memory.rs` (its counting allocator would slow these timings down); pacing and a
//! long-lived client, timed once, are written next to criterion's results
//! (`target/criterion/timing.json`) for `cargo xtask bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark: a panic is the report

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tollgate_tests::bench::{
    KEY, client, generated_shape_call, on_own_thread, raw_call, start_server,
};

/// The sandbox on its own runtime thread, every account without a rate limit: each provider's
/// base URL.
fn start_sandbox() -> std::collections::HashMap<tollgate_sandbox::Provider, String> {
    use tollgate_sandbox::{AccountSeed, Provider, Sandbox, seed};
    on_own_thread(|tx| async move {
        let sandbox = Sandbox::start().await.unwrap();
        for (provider, key) in [
            (Provider::RocketReach, seed::ROCKETREACH_KEY),
            (Provider::RequestRocket, seed::REQUESTROCKET_TOKEN),
            (Provider::Enrich, seed::ENRICH_KEY),
            (Provider::SpiderNews, seed::SPIDERNEWS_KEY),
        ] {
            sandbox
                .add_account(
                    provider,
                    AccountSeed {
                        key: key.into(),
                        credits: Some(i64::MAX / 4),
                        rows: Some(i64::MAX / 4),
                        universal: false,
                        plan: Some(tollgate_sandbox::seed::PlanSeed::Named("none".into())),
                    },
                )
                .unwrap();
        }
        let urls: std::collections::HashMap<_, _> = Provider::ALL
            .into_iter()
            .map(|p| (p, sandbox.base_url(p)))
            .collect();
        tx.send(urls).unwrap();
        std::future::pending::<()>().await;
    })
}

/// Pacing on the real clock: a client set to 100/s against a server that answers 429 beyond 100
/// requests in any rolling second, 300 calls by one caller, then by 4. Returns the rates reached
/// over the plan's, and the 429s.
fn pacing(rt: &tokio::runtime::Runtime) -> Value {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use tollgate_tests::hostile::{Hostile, Reply};
    let window: Arc<Mutex<VecDeque<tokio::time::Instant>>> = Arc::default();
    let throttled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (w, t) = (Arc::clone(&window), Arc::clone(&throttled));
    rt.block_on(async move {
        let server = Hostile::start(move |seen, _| {
            let mut recent = w.lock().unwrap();
            while recent
                .front()
                .is_some_and(|at| seen.at.duration_since(*at) >= Duration::from_secs(1))
            {
                recent.pop_front();
            }
            if recent.len() >= 100 {
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Reply::json(429, json!({"message": "slow down"}))
                    .header("Retry-After", "1");
            }
            recent.push_back(seen.at);
            Reply::json(200, json!({"rows_returned": 0, "entities": []}))
        })
        .await;
        let paced = tollgate_spidernews::Client::builder()
            .api_key(KEY)
            .base_url(server.url())
            .rate_limit(Some(tollgate::RateLimitPlan::per_second(100)))
            .build()
            .unwrap();
        // One caller after another, then 4 callers sharing the client.
        let start = std::time::Instant::now();
        for _ in 0..2_000 {
            paced.list_entities().send().await.unwrap();
        }
        let one = 2_000.0 / start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        futures::future::join_all((0..4).map(|_| async {
            for _ in 0..500 {
                paced.list_entities().send().await.unwrap();
            }
        }))
        .await;
        let four = 2_000.0 / start.elapsed().as_secs_f64();
        json!({"rate_over_plan": one / 100.0, "rate_over_plan_4": four / 100.0,
               "throttled": throttled.load(std::sync::atomic::Ordering::Relaxed)})
    })
}

/// A long-lived client with a budget: calls per second over its first 20,000 calls and over
/// 20,000 calls after 1,000,000 (64 at a time).
fn long_lived(rt: &tokio::runtime::Runtime, base: &str) -> Value {
    let c = tollgate_spidernews::Client::builder()
        .api_key(KEY)
        .base_url(base)
        .rate_limit(None)
        .budget(tollgate::Budget::rows(i64::MAX / 2))
        .build()
        .unwrap();
    let run = |calls: usize| {
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..calls / 64 {
                futures::future::join_all(
                    (0..64).map(|_| async { c.list_entities().send().await.unwrap() }),
                )
                .await;
            }
        });
        (calls / 64 * 64) as f64 / start.elapsed().as_secs_f64()
    };
    let first = run(20_000);
    run(980_000);
    let later = run(20_000);
    json!({"first": first, "after_1000000": later, "calls": c.runtime().ledger().totals().calls})
}

/// What a call of [`paired`] goes through.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// reqwest and serde_json by hand ([`raw_call`]).
    Raw,
    /// The generated code's request building and decoding, without the runtime
    /// ([`generated_shape_call`]).
    Generated,
    /// The client.
    Client,
    /// The control: [`raw_call`], then [`busy_work`] for as much CPU as the client's call
    /// takes over raw's (measured by [`cpu_per_call`] in the same run). Where it is as slow
    /// as the client, CPU on the calling thread explains the client's whole gap.
    Spin,
}

impl Side {
    /// The name of the side's figures in `timing.json`.
    fn name(self) -> &'static str {
        match self {
            Side::Raw => "raw",
            Side::Generated => "generated",
            Side::Client => "client",
            Side::Spin => "spin",
        }
    }
}

/// The control's work: `rounds` steps of arithmetic the compiler cannot drop, touching no
/// memory (so it takes CPU and nothing else, and pauses, as the client's work does, while the
/// thread is not running).
fn busy_work(rounds: u64) -> u64 {
    let mut x = 1_u64;
    for _ in 0..rounds {
        x = std::hint::black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
    x
}

/// Steps of [`busy_work`] per µs of this thread's CPU: timed over at least 300 ms of CPU, since
/// the kernel's count per thread moves in steps of a few milliseconds. `None` where the
/// system does not report a thread's CPU time.
fn busy_work_per_us() -> Option<f64> {
    let start = thread_cpu_ns()?;
    let mut rounds = 0_u64;
    loop {
        busy_work(1_000_000);
        rounds += 1_000_000;
        let spent = thread_cpu_ns()? - start;
        if spent >= 300_000_000 {
            return Some(rounds as f64 / (spent as f64 / 1e3));
        }
    }
}

/// The control side's work per call: the client's CPU per call over raw's, and the steps of
/// [`busy_work`] that take that much CPU.
#[derive(Clone, Copy)]
struct Control {
    extra: Duration,
    rounds: u64,
}

/// Raw reqwest, the generated code's shape without the runtime, and the client, measured in
/// alternating rounds on one runtime: `width` calls at once (spawned as tasks when `spawn`),
/// `calls` calls a side per round. Each round times the three back to back (which goes first
/// rotates), so a change of the machine's speed between rounds (another process, threads moved
/// between cores) changes them alike; a ratio is the median of the rounds' ratios. Returns
/// the medians of the time per call and the ratios over raw's, with the client's lowest and
/// highest.
fn paired(
    rt: &tokio::runtime::Runtime,
    base: &str,
    width: usize,
    spawn: bool,
    extra: Option<Control>,
) -> Value {
    // About half a second a side on this machine.
    let calls = if width == 1 { 4_000 } else { 300 * width };
    paired_rounds(rt, base, width, spawn, extra, calls, 15)
}

/// [`paired`] with `calls` a side in each of `rounds` rounds. With `extra` (the client's CPU
/// per call over raw's), the control side [`Side::Spin`] is timed too.
fn paired_rounds(
    rt: &tokio::runtime::Runtime,
    base: &str,
    width: usize,
    spawn: bool,
    extra: Option<Control>,
    calls: usize,
    rounds: usize,
) -> Value {
    let (http, tg) = rt.block_on(async { (reqwest::Client::new(), client(base)) });
    let url: Arc<str> = format!("{base}/api/entities").into();
    let base: Arc<str> = base.into();
    // One call; each owns clones of the same kind of handles (for a spawned task).
    let call = |side: Side| {
        let (http, tg, url, base) = (http.clone(), tg.clone(), url.clone(), base.clone());
        async move {
            match side {
                Side::Raw => drop(raw_call(&http, &url).await),
                Side::Generated => drop(generated_shape_call(&http, &base).await),
                Side::Client => drop(tg.list_entities().ent_name("Tesla").send().await.unwrap()),
                Side::Spin => {
                    drop(raw_call(&http, &url).await);
                    std::hint::black_box(busy_work(extra.map_or(0, |c| c.rounds)));
                }
            }
        }
    };
    let time = |side: Side| -> f64 {
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..calls / width {
                if spawn {
                    futures::future::join_all((0..width).map(|_| tokio::spawn(call(side)))).await;
                } else {
                    futures::future::join_all((0..width).map(|_| call(side))).await;
                }
            }
        });
        start.elapsed().as_secs_f64() * 1e6 / calls as f64
    };
    let mut sides = vec![Side::Raw, Side::Generated, Side::Client];
    if extra.is_some() {
        sides.push(Side::Spin);
    }
    let mut out = alternating(rounds, calls, "us", &sides, time);
    if let Some(extra) = extra {
        out["spin_extra_us"] = json!(extra.extra.as_secs_f64() * 1e6);
    }
    out
}

/// Measures `sides` (raw first) with `measure` in `rounds` rounds, back to back in each
/// (which goes first rotates), after one round that warms the connections up and is not
/// counted. Returns each side's median (`raw_{unit}`, `generated_{unit}`, ...), the medians of
/// each other side's ratios over raw (`ratio` for the client's, `generated_ratio`,
/// `spin_ratio`), and the client's lowest and highest ratio.
fn alternating(
    rounds: usize,
    calls: usize,
    unit: &str,
    sides: &[Side],
    mut measure: impl FnMut(Side) -> f64,
) -> Value {
    assert!(sides[0] == Side::Raw, "ratios are over raw, the first side");
    for side in sides {
        measure(*side);
    }
    let n = sides.len();
    let mut per_side = vec![Vec::new(); n];
    let mut ratios = vec![Vec::new(); n];
    for round in 0..rounds {
        let mut took = vec![0.0; n];
        for k in 0..n {
            let i = (round + k) % n;
            took[i] = measure(sides[i]);
        }
        for i in 0..n {
            per_side[i].push(took[i]);
            ratios[i].push(took[i] / took[0]);
        }
    }
    for v in per_side.iter_mut().chain(ratios.iter_mut()) {
        v.sort_by(f64::total_cmp);
    }
    let median = |v: &[f64]| v[v.len() / 2];
    let mut out = json!({"rounds": rounds, "calls_per_round": calls});
    for (i, side) in sides.iter().enumerate() {
        out[format!("{}_{unit}", side.name())] = json!(median(&per_side[i]));
        match side {
            Side::Raw => {}
            Side::Client => {
                out["ratio"] = json!(median(&ratios[i]));
                out["ratio_low"] = json!(ratios[i][0]);
                out["ratio_high"] = json!(ratios[i][rounds - 1]);
            }
            other => out[format!("{}_ratio", other.name())] = json!(median(&ratios[i])),
        }
    }
    out
}

/// CPU time the calling thread has used, in ns (Linux: the first field of
/// `/proc/thread-self/schedstat`); `None` where the system does not say.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CPU time one call takes on the thread that makes it, raw, the generated code's shape
/// without the runtime, and the client, in alternating rounds: on a `current_thread` runtime,
/// so the call's every step (the connection's too) runs on that thread, and waiting for the
/// server, which is not CPU time, drops out. Where the scheduler puts the threads changes
/// how long a call takes far more than what it costs in CPU, so these ratios vary little
/// from round to round. `Value::Null` where the system does not report a thread's CPU time.
fn cpu_per_call(base: &str) -> Value {
    const CALLS: usize = 3_000;
    const ROUNDS: usize = 12;
    if thread_cpu_ns().is_none() {
        return Value::Null;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (http, tg) = rt.block_on(async { (reqwest::Client::new(), client(base)) });
    let url = format!("{base}/api/entities");
    let cpu = |side: Side| -> f64 {
        let start = thread_cpu_ns().unwrap();
        rt.block_on(async {
            for _ in 0..CALLS {
                match side {
                    Side::Raw => drop(raw_call(&http, &url).await),
                    Side::Generated => drop(generated_shape_call(&http, base).await),
                    Side::Client => {
                        drop(tg.list_entities().ent_name("Tesla").send().await.unwrap());
                    }
                    Side::Spin => unreachable!("no control side in the CPU rounds"),
                }
            }
        });
        (thread_cpu_ns().unwrap() - start) as f64 / CALLS as f64
    };
    let sides = [Side::Raw, Side::Generated, Side::Client];
    alternating(ROUNDS, CALLS, "ns", &sides, cpu)
}

/// The figures timed on the real clock outside criterion (pacing, a long-lived client, and
/// raw against the client in alternating rounds), written for `cargo xtask bench`.
fn timing(rt: &tokio::runtime::Runtime, mt: &tokio::runtime::Runtime, base: &str) {
    // The CPU first: the control side of the pairs spins for the client's CPU over raw's.
    let cpu = cpu_per_call(base);
    let extra = match (
        cpu["client_ns"].as_f64(),
        cpu["raw_ns"].as_f64(),
        busy_work_per_us(),
    ) {
        (Some(client), Some(raw), Some(per_us)) => {
            let extra = Duration::from_nanos((client - raw).max(0.0) as u64);
            let rounds = (extra.as_secs_f64() * 1e6 * per_us) as u64;
            Some(Control { extra, rounds })
        }
        _ => None,
    };
    let paired = json!({
        "one_call": paired(rt, base, 1, false, extra),
        "64_at_once": paired(rt, base, 64, false, extra),
        "one_call_multi_thread": paired(mt, base, 1, false, extra),
        "64_at_once_multi_thread": paired(mt, base, 64, true, extra),
        // Against a server that takes 5 ms to answer, as a fast provider does (RocketReach
        // and Enrich take 100 ms and more): about a second a side, 5 rounds.
        "one_call_5ms": paired_rounds(rt, &format!("{base}/slow"), 1, false, None, 200, 5),
        "64_at_once_5ms": paired_rounds(rt, &format!("{base}/slow"), 64, false, None, 150 * 64, 5),
        // A 10,000-row answer (about 7 ms a call here): 40 calls a side, 15 rounds.
        "large_answer": paired_rounds(rt, &format!("{base}/large"), 1, false, None, 40, 15),
    });
    let report = json!({
        "paired": paired,
        "cpu_per_call": cpu,
        "pacing": pacing(rt),
        "long_lived": long_lived(rt, base),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("timing.json"), report.to_string()).unwrap();
    println!("timing: {report}");
}

/// A runtime for the client: `workers` worker threads, or tokio's default (one per core).
fn client_runtime(workers: Option<usize>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder.enable_all().build().unwrap()
}

fn benches(c: &mut Criterion) {
    let base = start_server();
    // One worker thread (the figures of earlier runs), and tokio's default multi-thread
    // runtime (a worker per core, what `#[tokio::main]` gives).
    let rt = client_runtime(Some(1));
    let mt = client_runtime(None);
    timing(&rt, &mt, &base);
    let http = reqwest::Client::new();
    let small = format!("{base}/api/entities");
    let tg = client(&base);

    let mut one = c.benchmark_group("one_call");
    one.bench_function("raw", |b| b.to_async(&rt).iter(|| raw_call(&http, &small)));
    one.bench_function("client", |b| {
        b.to_async(&rt)
            .iter(|| async { tg.list_entities().ent_name("Tesla").send().await.unwrap() })
    });
    one.finish();

    // The cache of paid answers: a hit against the call it replaces, and what the cache adds
    // to a miss (each iteration asks a question never asked before, so every call is sent and
    // its answer kept), in memory and in a SQLite file (the CLI's store).
    let cached = |base: &str, cache: tollgate::Cache| {
        tollgate_spidernews::Client::builder()
            .api_key(KEY)
            .base_url(base)
            .rate_limit(None)
            .cache(cache)
            .build()
            .unwrap()
    };
    let dir = std::env::temp_dir().join(format!("tollgate-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let in_memory = cached(&base, tollgate::Cache::memory(1 << 30));
    let in_file = cached(
        &base,
        tollgate::Cache::new(
            tollgate::cache::SqliteStore::open(dir.join("cache.sqlite3"), 1 << 30).unwrap(),
        ),
    );
    let asked = std::sync::atomic::AtomicU64::new(0);
    let fresh_name = || {
        format!(
            "Entity {}",
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    };
    let mut cache = c.benchmark_group("cache");
    cache.bench_function("miss_without_cache", |b| {
        b.to_async(&rt).iter(|| async {
            tg.list_entities()
                .ent_name(fresh_name())
                .send()
                .await
                .unwrap()
        })
    });
    cache.bench_function("miss_memory", |b| {
        b.to_async(&rt).iter(|| async {
            in_memory
                .list_entities()
                .ent_name(fresh_name())
                .send()
                .await
                .unwrap()
        })
    });
    cache.bench_function("miss_sqlite", |b| {
        b.to_async(&rt).iter(|| async {
            in_file
                .list_entities()
                .ent_name(fresh_name())
                .send()
                .await
                .unwrap()
        })
    });
    cache.bench_function("hit_memory", |b| {
        b.to_async(&rt).iter(|| async {
            in_memory
                .list_entities()
                .ent_name("Tesla")
                .send()
                .await
                .unwrap()
        })
    });
    cache.bench_function("hit_sqlite", |b| {
        b.to_async(&rt).iter(|| async {
            in_file
                .list_entities()
                .ent_name("Tesla")
                .send()
                .await
                .unwrap()
        })
    });
    cache.finish();
    // The same against a server that takes 5 ms to answer, as a fast provider does.
    let slow = format!("{base}/slow");
    let slow_plain = client(&slow);
    let slow_file = cached(
        &slow,
        tollgate::Cache::new(
            tollgate::cache::SqliteStore::open(dir.join("slow.sqlite3"), 1 << 30).unwrap(),
        ),
    );
    let mut cache = c.benchmark_group("cache_5ms");
    cache.bench_function("miss_without_cache", |b| {
        b.to_async(&rt).iter(|| async {
            slow_plain
                .list_entities()
                .ent_name(fresh_name())
                .send()
                .await
                .unwrap()
        })
    });
    cache.bench_function("miss_sqlite", |b| {
        b.to_async(&rt).iter(|| async {
            slow_file
                .list_entities()
                .ent_name(fresh_name())
                .send()
                .await
                .unwrap()
        })
    });
    cache.finish();
    drop(slow_file);
    drop(in_file);
    let _ = std::fs::remove_dir_all(&dir);

    let mut many = c.benchmark_group("64_at_once");
    many.throughput(criterion::Throughput::Elements(64));
    many.bench_function("raw", |b| {
        b.to_async(&rt).iter(|| async {
            futures::future::join_all((0..64).map(|_| raw_call(&http, &small))).await
        })
    });
    many.bench_function("client", |b| {
        b.to_async(&rt).iter(|| async {
            futures::future::join_all(
                (0..64)
                    .map(|_| async { tg.list_entities().ent_name("Tesla").send().await.unwrap() }),
            )
            .await
        })
    });
    many.finish();

    // (The 10,000-row answer's time is timed in rounds, with the pairs: `timing`.)
    let large = format!("{base}/large/api/entities");
    // Decoding a 10,000-row answer into the generated type vs into a `Value`.
    let bytes = rt.block_on(async {
        http.get(&large)
            .header("X-API-KEY", KEY)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    let mut decode = c.benchmark_group("decode_10000_rows");
    decode.sample_size(20);
    decode.bench_function("typed", |b| {
        b.iter(|| {
            serde_json::from_slice::<tollgate_spidernews::types::EntitiesResponse>(&bytes).unwrap()
        })
    });
    decode.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(&bytes).unwrap())
    });
    decode.finish();

    // The sandbox's own throughput: 64 calls at once per provider through its client.
    let sandbox = start_sandbox();
    let mut served = c.benchmark_group("sandbox_64_at_once");
    served.throughput(criterion::Throughput::Elements(64));
    macro_rules! sandbox_bench {
        ($name:literal, $client:ty, $provider:expr, $key:expr, |$c:ident| $call:expr) => {{
            let $c = <$client>::builder()
                .api_key($key)
                .base_url(sandbox.get(&$provider).unwrap().as_str())
                .rate_limit(None)
                .build()
                .unwrap();
            served.bench_function($name, |b| {
                b.to_async(&rt).iter(|| async {
                    futures::future::join_all((0..64).map(|_| async { $call.unwrap() })).await
                })
            });
        }};
    }
    use tollgate_sandbox::{Provider, seed};
    sandbox_bench!(
        "rocketreach",
        tollgate_rocketreach::Client,
        Provider::RocketReach,
        seed::ROCKETREACH_KEY,
        |c| c.get_account().send().await
    );
    sandbox_bench!(
        "requestrocket",
        tollgate_requestrocket::Client,
        Provider::RequestRocket,
        seed::REQUESTROCKET_TOKEN,
        |c| c.list_clients().send().await
    );
    sandbox_bench!(
        "enrich",
        tollgate_enrich::Client,
        Provider::Enrich,
        seed::ENRICH_KEY,
        |c| c.get_wallet_balance().send().await
    );
    sandbox_bench!(
        "spidernews",
        tollgate_spidernews::Client,
        Provider::SpiderNews,
        seed::SPIDERNEWS_KEY,
        |c| c.list_entities().ent_name("Tesla").send().await
    );
    served.finish();

    // The budget check with an empty ledger and after a million calls.
    let mut ledger = c.benchmark_group("budget_check");
    for history in [0_u64, 1_000_000] {
        let l = Arc::new(tollgate::Ledger::default());
        for _ in 0..history {
            l.reserve(None, "x", 1, None, tollgate::Unit::Rows)
                .unwrap()
                .settle(tollgate::Usage {
                    operation: "x".into(),
                    unit: tollgate::Unit::Rows,
                    estimated: 1,
                    charged: 1,
                    refunded: 0,
                    status: 200,
                    basis: tollgate::Basis::Reported,
                    anomaly: None,
                    saved: 0,
                });
        }
        let budget = Some(tollgate::Budget::rows(i64::MAX));
        ledger.bench_function(format!("after_{history}_calls"), |b| {
            b.iter(|| {
                let r = l
                    .reserve(
                        budget.clone(),
                        "list_entities",
                        10,
                        Some("limit"),
                        tollgate::Unit::Rows,
                    )
                    .unwrap();
                r.release();
            })
        });
    }
    ledger.finish();

    // The Redis path: the same call with the pace and the budget shared in Redis (three Lua
    // scripts a call: acquire, reserve, settle), on a redis-server started here. A plan far
    // above the load, so the pace is consulted and never binds.
    if let Some(redis) = tollgate_tests::redis_server::RedisServer::start() {
        let store = rt
            .block_on(tollgate::RedisStore::connect(&redis.url()))
            .unwrap();
        let shared = tollgate_spidernews::Client::builder()
            .api_key(KEY)
            .base_url(base.as_str())
            .rate_limit(Some(tollgate::RateLimitPlan::per_second(1_000_000)))
            .budget(tollgate::Budget::rows(i64::MAX / 2))
            .shared(tollgate::Shared::new(store))
            .build()
            .unwrap();
        let mut group = c.benchmark_group("shared_redis");
        group.bench_function("one_call", |b| {
            b.to_async(&rt).iter(|| async {
                shared
                    .list_entities()
                    .ent_name("Tesla")
                    .send()
                    .await
                    .unwrap()
            })
        });
        group.throughput(criterion::Throughput::Elements(64));
        group.bench_function("64_at_once", |b| {
            b.to_async(&rt).iter(|| async {
                futures::future::join_all((0..64).map(|_| async {
                    shared
                        .list_entities()
                        .ent_name("Tesla")
                        .send()
                        .await
                        .unwrap()
                }))
                .await
            })
        });
        group.finish();
    }
    let _ = Duration::ZERO;
}

criterion_group!(name = runtime; config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)); targets = benches);
criterion_main!(runtime);
