//! A worker of the multi-process cache test (`tests/tests/redis_shared.rs`): one process with
//! one Enrich client whose cache is in Redis, looking up the same people as every other worker
//! (reverse lookups, 10 credits each), four at a time.
//!
//! `cache_worker <redis url> <base url> <people>`. Prints `ok` per answer and `err <message>`
//! per failure.

use futures::StreamExt;
use tollgate::cache::{Cache, RedisCacheStore};

const KEY: &str = "sk_sandbox_00000000000000000000000001";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(redis), Some(base), Some(people)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: cache_worker <redis url> <base url> <people>");
        return std::process::ExitCode::from(2);
    };
    let people: usize = people.parse().unwrap_or(1);
    let store = match RedisCacheStore::connect(redis).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cache = Cache::new(store);
    let client = match tollgate_enrich::Client::builder()
        .api_key(KEY)
        .base_url(base.as_str())
        .rate_limit(None)
        .cache(cache.clone())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let asks = futures::stream::iter(0..people).map(|i| {
        let client = client.clone();
        async move {
            let body = serde_json::json!({ "email": format!("person{i}@example.com") });
            let request: tollgate_enrich::types::LookupRequest = match serde_json::from_value(body)
            {
                Ok(r) => r,
                Err(e) => return format!("err {e}"),
            };
            match client.reverse_lookup().body(request).send().await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("err {e}"),
            }
        }
    });
    let lines: Vec<String> = asks.buffer_unordered(4).collect().await;
    // Every answer written to Redis before the process ends.
    cache.flush().await;
    for line in lines {
        println!("{line}");
    }
    std::process::ExitCode::SUCCESS
}
