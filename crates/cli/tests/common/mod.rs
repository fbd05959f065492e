//! Helpers of the CLI's end-to-end tests: a sandbox in the test process (on a runtime of its
//! own, so it outlives the `tollgate` processes the tests start and kill), scratch files, and
//! running the `tollgate` binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tollgate_sandbox::seed::PlanSeed;
use tollgate_sandbox::{AccountSeed, Provider, Sandbox, seed};

/// The `tollgate` binary.
pub const TOLLGATE: &str = env!("CARGO_BIN_EXE_tollgate");

/// A sandbox running on its own runtime.
pub struct Served {
    pub sandbox: Sandbox,
    _runtime: tokio::runtime::Runtime,
}

impl Served {
    /// A sandbox whose batches take `job` and whose accounts have no rate limit.
    pub fn start(job: Duration) -> Served {
        Served::start_on(job, "127.0.0.1:0")
    }

    /// The same, listening on `address` (a restarted sandbox keeps its port).
    pub fn start_on(job: Duration, address: &str) -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(
                Sandbox::builder()
                    .address(address)
                    .job_duration(job)
                    .start(),
            )
            .unwrap();
        for (provider, key) in [
            (Provider::Enrich, seed::ENRICH_KEY),
            (Provider::RocketReach, seed::ROCKETREACH_KEY),
            (Provider::SpiderNews, seed::SPIDERNEWS_KEY),
        ] {
            sandbox
                .add_account(
                    provider,
                    AccountSeed {
                        key: key.into(),
                        credits: None,
                        rows: Some(1_000_000),
                        universal: false,
                        plan: Some(PlanSeed::Named("none".into())),
                    },
                )
                .unwrap();
        }
        Served {
            sandbox,
            _runtime: runtime,
        }
    }

    /// What the Enrich key's account spent (charges minus refunds).
    pub fn spent(&self, provider: Provider, key: &str) -> i64 {
        self.sandbox.account(provider, key).unwrap().spent()
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config file in `dir` that lifts the client-side rate limits (the sandbox has none here).
pub fn fast_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[enrich]\nrate_limit = { requests = 1000, per_seconds = 1 }\n\
         [rocketreach]\nrate_limit = { requests = 1000, per_seconds = 1 }\n\
         [spidernews]\nrate_limit = { requests = 1000, per_seconds = 1 }\n",
    )
    .unwrap();
    path
}

/// `tollgate` with the keys of the sandbox, `dir`'s journal and config, and no inherited
/// provider keys.
pub fn tollgate(dir: &Path) -> Command {
    let mut command = Command::new(TOLLGATE);
    command
        .env_remove("TOLLGATE_JOURNAL")
        .env_remove("TOLLGATE_CACHE")
        .env("ENRICH_API_KEY", seed::ENRICH_KEY)
        .env("ROCKETREACH_API_KEY", seed::ROCKETREACH_KEY)
        .env("SPIDERNEWS_API_KEY", seed::SPIDERNEWS_KEY)
        .env("REQUESTROCKET_TOKEN", seed::REQUESTROCKET_TOKEN)
        .arg("--journal")
        .arg(dir.join("journal.sqlite3"))
        .arg("--config")
        .arg(fast_config(dir));
    command
}

/// Runs `command` to its end.
pub fn output(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// Starts `command` and waits until it says it paused at `point` (the test hook
/// `TOLLGATE_CLI_PAUSE_AT`), then kills it with SIGKILL. Returns what it printed on standard
/// error until then.
pub fn kill_at(command: &mut Command, point: &str) -> String {
    let mut child: Child = command
        .env("TOLLGATE_CLI_PAUSE_AT", point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(&format!("paused at {point}")) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return seen;
        }
    }
    let status = child.wait().unwrap();
    panic!("tollgate ended ({status}) without reaching {point}:\n{seen}");
}
