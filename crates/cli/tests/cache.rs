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

    // The same list plus one address: one credit.
    let plus_one = emails(&dir, "plus-one.csv", 0..2_001);
    run(&mut validate(&dir, &url, &plus_one, &[]));
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
    let out = output(tollgate(&dir).args(["cache", "stats"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("cache.sqlite3") && stderr.contains("Delete it"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
