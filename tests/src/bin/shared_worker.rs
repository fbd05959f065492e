//! A worker of the multi-process tests (`tests/tests/redis_shared.rs`): one process with one
//! RocketReach client on a Redis-shared pace (50/s) and budget (1,000 credits), running `tasks`
//! tasks that look people up until the budget refuses.
//!
//! `shared_worker <redis url> <base url> <tasks> [lease seconds]`. Prints `ok <unix ms>` per
//! call answered, `throttled` per 429 (the task goes on), `err <message>` per call failed,
//! `refused` per task stopped by the budget, and `started` once connected.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate::{Budget, RateLimitPlan, RedisStore, RetryPolicy, Shared};

const KEY: &str = "sandboxrocketreachlegacy0000000001";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(redis), Some(base), Some(tasks)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: shared_worker <redis url> <base url> <tasks> [lease seconds]");
        return std::process::ExitCode::from(2);
    };
    let tasks: usize = tasks.parse().unwrap_or(1);
    let lease = args
        .get(4)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(tollgate::shared::DEFAULT_LEASE, Duration::from_secs);
    let store = match RedisStore::connect(redis).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client = match tollgate_rocketreach::Client::builder()
        .api_key(KEY)
        .base_url(base.as_str())
        .rate_limit(Some(RateLimitPlan::per_second(50)))
        .budget(Budget::credits(1_000))
        .retry(RetryPolicy::default().with_max_attempts(1))
        .shared(Shared::new(store).workers(8).lease(lease))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("started");
    let work = (0..tasks).map(|task| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                n += 1;
                let answer = client
                    .create_person_lookup()
                    .name(format!("Person {task}-{n}"))
                    .current_employer("Acme")
                    .send()
                    .await;
                match answer {
                    Ok(_) => {
                        let ms = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis());
                        println!("ok {ms}");
                    }
                    Err(tollgate::Error::CostRefused(_)) => {
                        println!("refused");
                        return;
                    }
                    // A 429 (never charged): said, and the task goes on. The test bounds how
                    // many a shared pace may meet through scheduling jitter.
                    Err(e) if e.status() == Some(429) => println!("throttled"),
                    Err(e) => {
                        println!("err {e}");
                        return;
                    }
                }
            }
        })
    });
    for handle in futures::future::join_all(work).await {
        let _ = handle;
    }
    std::process::ExitCode::SUCCESS
}
