//! The cache of paid answers through the `tollgate` binary, against a sandbox whose ledger is
//! the truth: a changed list pays only for its new items, `usage` and `cache stats` say what
//! was saved, `--no-cache` and `--refresh` pay again, and `cache purge` empties it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Served, output, scratch, tollgate};
use tollgate_sandbox::{Provider, seed};

/// A CSV of the addresses `range` (every one found by the sandbox).
fn emails(dir: &Path, name: &str, range: std::ops::Range<usize>) -> PathBuf {
    let mut text = String::from("email\n");
    for i in range {
        text.push_str(&format!("person{i}@example{}.com\n", i % 13));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(dir: &Path, url: &str, file: &Path, extra: &[&str]) -> Command {
    let mut command = tollgate(dir);
    command
        .arg("--base-url")
        .arg(url)
        .args(extra)
        .args(["enrich", "validate"])
        .arg(file)
        .arg("--output")
        .arg(file.with_extension("out.csv"))
        .args(["--batch-size", "250", "--poll-interval", "50ms", "--quiet"]);
    command
}

fn run(command: &mut Command) -> String {
    let out = output(command);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spent(served: &Served) -> i64 {
    served.spent(Provider::Enrich, seed::ENRICH_KEY)
}

/// What `usage --json` says the cache saved, over every row.
fn saved(dir: &Path) -> i64 {
    let rows: serde_json::Value =
        serde_json::from_str(&run(tollgate(dir).args(["usage", "--json"]))).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["saved"].as_i64().unwrap())
        .sum()
}

#[test]
fn a_changed_list_pays_only_for_its_new_items() {
    let served = Served::start(Duration::from_millis(100));
    let url = served.sandbox.base_url(Provider::Enrich);
    let dir = scratch("cache-lists");
    let first = emails(&dir, "first.csv", 0..2_000);
    run(&mut validate(&dir, &url, &first, &[]));
    assert_eq!(spent(&served), 2_000);
    assert_eq!(saved(&dir), 0);

    // The same list plus one address: a dry run says what is cached, and the job pays one
    // credit.
    let plus_one = emails(&dir, "plus-one.csv", 0..2_001);
    let dry = run(&mut validate(&dir, &url, &plus_one, &["--dry-run"]));
    assert!(
        dry.contains("2000 of 2001 item(s) are cached")
            && dry.contains("the rest may cost up to 1 credits"),
        "{dry}"
    );
    assert_eq!(spent(&served), 2_000, "a dry run paid");
    let job = output(
        tollgate(&dir)
            .arg("--base-url")
            .arg(&url)
            .args(["enrich", "validate"])
            .arg(&plus_one)
            .arg("--output")
            .arg(plus_one.with_extension("out.csv"))
            .args(["--batch-size", "250", "--poll-interval", "50ms"]),
    );
    let summary = String::from_utf8_lossy(&job.stderr);
    assert_eq!(job.status.code(), Some(0), "{summary}");
    assert!(
        summary.contains("spent 1 credits, saved 2000 credits by the cache")
            && summary.contains("2000 items answered from the cache"),
        "{summary}"
    );
    assert_eq!(
        spent(&served),
        2_001,
        "the cached answers were bought again"
    );
    assert_eq!(saved(&dir), 2_000);
    let out = std::fs::read_to_string(plus_one.with_extension("out.csv")).unwrap();
    assert_eq!(
        out.lines().count(),
        2_002,
        "every item has its result: {out:.300}"
    );
    assert!(out.contains("person1999@example10.com"));

    // Half old, half new: only the new half.
    let half = emails(&dir, "half.csv", 1_000..3_000);
    run(&mut validate(&dir, &url, &half, &[]));
    assert_eq!(spent(&served), 3_000, "the overlapping half was paid again");
    assert_eq!(saved(&dir), 2_000 + 1_001);

    let stats: serde_json::Value =
        serde_json::from_str(&run(tollgate(&dir).args(["cache", "stats", "--json"]))).unwrap();
    let enrich = &stats.as_array().unwrap()[0];
    assert_eq!(enrich["provider"], "enrich");
    assert_eq!(enrich["entries"], 3_000);
    assert_eq!(enrich["hits"], 3_001);
    assert_eq!(enrich["credits_saved"], 3_001);

    // --no-cache pays for every item again (a new list, so a new job).
    let again = emails(&dir, "again.csv", 0..100);
    run(&mut validate(&dir, &url, &again, &["--no-cache"]));
    assert_eq!(spent(&served), 3_100);
    // --refresh pays again and replaces.
    let refresh = emails(&dir, "refresh.csv", 0..50);
    run(&mut validate(&dir, &url, &refresh, &["--refresh"]));
    assert_eq!(spent(&served), 3_150);

    // Purged, nothing is served any more.
    let text = run(tollgate(&dir).args(["cache", "purge", "--provider", "enrich"]));
    assert_eq!(text.trim(), "removed 3000 cached answers");
    let after = emails(&dir, "after.csv", 0..10);
    run(&mut validate(&dir, &url, &after, &[]));
    assert_eq!(spent(&served), 3_160);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cache_file_that_is_not_a_database_is_named_with_what_to_do() {
    let dir = scratch("cache-bad");
    let path = dir.join("cache.sqlite3");
    std::fs::write(
        &path,
        b"this is not a database, and it is long enough to have a header",
    )
    .unwrap();
    for command in [&["cache", "stats"][..], &["cache", "purge"]] {
        let out = output(tollgate(&dir).args(command));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        // What to do, and only what works (a purge cannot empty a file it cannot read).
        assert!(
            stderr.contains("cache.sqlite3")
                && stderr.contains("Move it aside or delete it")
                && stderr.contains("--no-cache")
                && !stderr.contains("cache purge"),
            "{command:?}: {stderr}"
        );
    }
    // `usage` reads only the journal: the broken cache does not stop it.
    let out = output(tollgate(&dir).arg("usage"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The advice works: moved aside, the cache starts empty (and the file is kept).
    std::fs::rename(&path, dir.join("cache.sqlite3.damaged")).unwrap();
    let out = output(tollgate(&dir).args(["cache", "stats"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("cache.sqlite3.damaged").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file of `n` people by LinkedIn URL.
fn people(dir: &Path, name: &str, n: usize) -> PathBuf {
    let mut text = String::from("linkedin_url\n");
    for i in 0..n {
        text.push_str(&format!("https://www.linkedin.com/in/person-{i}/\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lookup(dir: &Path, url: &str, file: &Path) -> Command {
    let mut command = tollgate(dir);
    command
        .arg("--base-url")
        .arg(url)
        .args(["rocketreach", "lookup"])
        .arg(file)
        .arg("--output")
        .arg(file.with_extension("out.jsonl"))
        .args(["--poll-interval", "50ms", "--quiet"]);
    command
}

/// Every output line: complete, with an e-mail.
fn complete_profiles(file: &Path, n: usize) -> String {
    let out = std::fs::read_to_string(file.with_extension("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), n, "{out}");
    for line in out.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["status"], "done", "{line}");
        assert_eq!(row["result"]["status"], "complete", "{line}");
        assert!(
            row["result"]["current_work_email"]
                .as_str()
                .is_some_and(|e| e.contains('@')),
            "a paid profile without its e-mail: {line}"
        );
    }
    out
}

#[test]
fn bulk_lookups_wait_for_the_profiles_they_paid_for_across_a_kill_and_reuse_them() {
    // Lookups take 300 ms to complete at the sandbox: every first answer is `searching`.
    let served = Served::start(Duration::from_millis(300));
    let url = served.sandbox.base_url(Provider::RocketReach);
    let dir = scratch("cache-lookups");
    let rr = || served.spent(Provider::RocketReach, seed::ROCKETREACH_KEY);

    let first = people(&dir, "first.csv", 5);
    run(&mut lookup(&dir, &url, &first));
    assert_eq!(rr(), 10, "5 lookups at 2 credits");
    complete_profiles(&first, 5);

    // Killed while waiting (every lookup paid, none complete yet), then resumed: nothing is
    // looked up again, and the output is complete.
    let second = people(&dir, "second.csv", 8);
    let killed_dir = scratch("cache-lookups-kill");
    let before = rr();
    common::kill_at(&mut lookup(&killed_dir, &url, &second), "waiting:1");
    assert_eq!(rr() - before, 16, "8 lookups paid before the wait");
    run(&mut lookup(&killed_dir, &url, &second));
    assert_eq!(rr() - before, 16, "a lookup was paid again on resume");
    let resumed = complete_profiles(&second, 8);

    // The same people in another job of the first directory: the 5 kept profiles are reused,
    // only the 3 new people are paid.
    let before = rr();
    run(&mut lookup(&dir, &url, &second));
    assert_eq!(rr() - before, 6, "kept profiles were bought again");
    let reused = complete_profiles(&second, 8);
    let emails = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["result"]["current_work_email"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        emails(&resumed),
        emails(&reused),
        "the sandbox answered the same people differently"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&killed_dir).unwrap();
}
