//! One side of the benchmark's loopback call, repeated, for `cargo xtask bench` to count under
//! valgrind's callgrind: the instructions a call takes on the thread that makes it, which no
//! other program on the machine changes (time and CPU do change).
//!
//! `bench_calls <raw|generated|client> <calls>`: starts the benchmark's loopback server, then
//! makes `calls` calls one at a time on a `current_thread` runtime (every step of the call,
//! its connection's too, runs on the main thread; the server runs on threads of its own).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a panic is the report

use std::process::ExitCode;

use tollgate_tests::bench::{client, generated_shape_call, raw_call, start_server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(side), Some(Ok(calls))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>()))
    else {
        eprintln!("usage: bench_calls <raw|generated|client> <calls>");
        return ExitCode::from(2);
    };
    if !["raw", "generated", "client"].contains(&side.as_str()) {
        eprintln!("bench_calls: unknown side `{side}` (raw, generated or client)");
        return ExitCode::from(2);
    }
    let base = start_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{base}/api/entities");
    rt.block_on(async {
        // Both clients exist on every side, so the sides differ only in their calls.
        let (http, tg) = (reqwest::Client::new(), client(&base));
        for _ in 0..calls {
            match side.as_str() {
                "raw" => drop(raw_call(&http, &url).await),
                "generated" => drop(generated_shape_call(&http, &base).await),
                _ => drop(tg.list_entities().ent_name("Tesla").send().await.unwrap()),
            }
        }
    });
    ExitCode::SUCCESS
}
