//! The `tollgate-sandbox` binary: it serves what it prints, takes a seed file, serves one
//! provider at the root with `--provider`, and refuses a bad seed file with a clear message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    lines: Vec<String>,
}

impl Running {
    /// Stops the binary and returns what it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut log).unwrap();
        }
        log
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and reads what it prints up to the admin line.
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let last = line.starts_with("admin API");
        lines.push(line);
        if last {
            break;
        }
    }
    Running { child, lines }
}

fn seed_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("tollgate-{name}-{}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn one_provider_at_the_root_with_seeded_keys() {
    let seed = seed_file(
        "seed",
        r#"{"enrich": [{"key": "sk_from_the_seed_file_01", "credits": 77, "plan": "free"}]}"#,
    );
    let running = start(&[
        "--port",
        "0",
        "--provider",
        "enrich",
        "--job-seconds",
        "0",
        "--seed-file",
        seed.to_str().unwrap(),
    ]);
    let listening = running.lines[0]
        .strip_prefix("tollgate sandbox listening on ")
        .unwrap()
        .to_owned();
    let printed = running.lines.join("\n");
    assert!(
        printed.contains("sk_from_the_seed_file_01  (77 credits)"),
        "{printed}"
    );
    assert!(
        printed.contains(tollgate_sandbox::seed::ENRICH_KEY),
        "the built-in key stays"
    );
    assert!(!printed.contains("rocketreach"), "only Enrich: {printed}");

    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{listening}/api/v3/wallets/balance"))
        .header("x-api-key", "sk_from_the_seed_file_01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["balance"], 77);
    std::fs::remove_file(seed).unwrap();
    let log = running.stop();
    assert!(
        log.contains("/api/v3/wallets/balance") && log.contains("status=200"),
        "{log}"
    );
    assert!(
        !log.contains("sk_from_the_seed_file_01"),
        "keys never reach the log: {log}"
    );
}

#[tokio::test]
async fn keys_in_the_query_never_reach_the_log() {
    let running = start(&["--port", "0", "--provider", "spidernews"]);
    let listening = running.lines[0]
        .strip_prefix("tollgate sandbox listening on ")
        .unwrap()
        .to_owned();
    let key = tollgate_sandbox::seed::SPIDERNEWS_KEY;
    let status = reqwest::get(format!("{listening}/api/entities?limit=1&api_key={key}"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let log = running.stop();
    assert!(log.contains("/api/entities"), "{log}");
    assert!(!log.contains(key), "{log}");
}

#[test]
fn a_bad_seed_file_is_refused_naming_the_problem() {
    let cases = [
        ("not-json", "{", "not valid"),
        (
            "bad-key",
            r#"{"enrich": [{"key": "no-prefix"}]}"#,
            "must start with `sk_`",
        ),
        (
            "bad-plan",
            r#"{"rocketreach": [{"key": "abc123", "plan": "gold"}]}"#,
            "no plan named `gold`",
        ),
        (
            "negative",
            r#"{"spidernews": [{"key": "abc", "rows": -5}]}"#,
            "negative balance",
        ),
        (
            "unknown-field",
            r#"{"enrich": [{"key": "sk_a", "cash": 5}]}"#,
            "cash",
        ),
    ];
    for (name, text, expected) in cases {
        let path = seed_file(name, text);
        let output = Command::new(env!("CARGO_BIN_EXE_tollgate-sandbox"))
            .args(["--port", "0", "--seed-file", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(expected), "{name}: {err}");
        std::fs::remove_file(path).unwrap();
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_tollgate-sandbox"))
        .args(["--port", "0", "--seed-file", "/nonexistent/seed.json"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("could not read the seed file"));
    let provider = Command::new(env!("CARGO_BIN_EXE_tollgate-sandbox"))
        .args(["--port", "0", "--provider", "acme"])
        .output()
        .unwrap();
    assert_eq!(provider.status.code(), Some(2), "clap refuses the value");
    assert!(String::from_utf8_lossy(&provider.stderr).contains("unknown provider `acme`"));
}
