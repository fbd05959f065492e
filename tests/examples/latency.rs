#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};
use tollgate_tests::bench::{KEY, client, raw_call, start_server};

fn main() {
    let base = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let small = format!("{base}/api/entities");
    let http = reqwest::Client::new();
    let configured = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .user_agent("x")
        .build()
        .unwrap();
    let tg = client(&base);
    let n = 4000;
    if std::env::args().nth(1).as_deref() == Some("client") {
        rt.block_on(async { for _ in 0..40_000 { tg.list_entities().ent_name("Tesla").send().await.unwrap(); } });
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("raw") {
        rt.block_on(async { for _ in 0..40_000 { raw_call(&http, &small).await; } });
        return;
    }
    for round in 0..3 {
        let t = Instant::now();
        rt.block_on(async { for _ in 0..n { raw_call(&http, &small).await; } });
        let raw = t.elapsed() / n;
        let t = Instant::now();
        rt.block_on(async { for _ in 0..n { raw_call(&configured, &small).await; } });
        let conf = t.elapsed() / n;
        let t = Instant::now();
        rt.block_on(async { for _ in 0..n { tg.list_entities().ent_name("Tesla").send().await.unwrap(); } });
        let client = t.elapsed() / n;
        // Runtime::send alone, no decoding by progenitor.
        let runtime = tg.runtime().clone();
        let t = Instant::now();
        rt.block_on(async { for _ in 0..n {
            let req = runtime.http().get(&small).query(&[("ent_name", "Tesla")]).header("X-API-KEY", KEY).build().unwrap();
            let r = runtime.send(req, "list_entities").await.unwrap();
            let _ = r.bytes().await.unwrap();
        } });
        let send = t.elapsed() / n;
        // Spawned inside the runtime (no block_on thread hop).
        let tg2 = tg.clone();
        let t = Instant::now();
        rt.block_on(async move { tokio::spawn(async move { for _ in 0..n { tg2.list_entities().ent_name("Tesla").send().await.unwrap(); } }).await.unwrap() });
        let spawned = t.elapsed() / n;
        let http2 = http.clone(); let small2 = small.clone();
        let t = Instant::now();
        rt.block_on(async move { tokio::spawn(async move { for _ in 0..n { raw_call(&http2, &small2).await; } }).await.unwrap() });
        let raw_spawned = t.elapsed() / n;
        println!("round {round}: raw {raw:?} configured {conf:?} client {client:?} runtime.send {send:?} | spawned: raw {raw_spawned:?} client {spawned:?}");
    }
}
