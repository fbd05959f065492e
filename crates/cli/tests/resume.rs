//! A 2,000-item Enrich validation job killed with SIGKILL at several points, then resumed
//! with the same command: the sandbox charges every item exactly once, and the output holds
//! every item once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{Served, kill_at, output, scratch, tollgate};
use tollgate_sandbox::{Provider, seed};

const ITEMS: usize = 2_000;

/// 2,000 distinct addresses; every tenth is not found (refunded on settlement).
fn input(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("email\n");
    for i in 0..ITEMS {
        if i % 10 == 0 {
            text.push_str(&format!("nobody{i}@example.org\n"));
        } else {
            text.push_str(&format!("person{i}@example{}.com\n", i % 13));
        }
    }
    let path = dir.join("emails.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(dir: &Path, served: &Served, file: &Path) -> std::process::Command {
    let mut command = tollgate(dir);
    command
        .arg("--base-url")
        .arg(served.sandbox.base_url(Provider::Enrich))
        .args(["enrich", "validate"])
        .arg(file)
        .arg("--output")
        .arg(dir.join("results.csv"))
        .args(["--batch-size", "250", "--poll-seconds", "0.05"]);
    command
}

/// The sandbox's reservations for this key, by note.
fn charges(served: &Served) -> BTreeMap<String, (usize, i64)> {
    let mut out: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for charge in served
        .sandbox
        .account(Provider::Enrich, seed::ENRICH_KEY)
        .unwrap()
        .charges()
    {
        let entry = out.entry(charge.note).or_default();
        entry.0 += 1;
        entry.1 += charge.amount;
    }
    out
}

#[test]
fn a_job_killed_at_any_point_resumes_and_charges_each_item_once() {
    let served = Served::start(Duration::from_millis(200));
    let dir = scratch("resume");
    let file = input(&dir);

    // Killed after the provider accepted the third batch and the journal recorded it.
    kill_at(&mut validate(&dir, &served, &file), "accepted:3");
    assert_eq!(charges(&served)["batch reservation"], (3, 750));
    // Killed after the second results fetch of the next run (the provider settled that batch,
    // the journal does not know yet).
    let seen = kill_at(&mut validate(&dir, &served, &file), "results:2");
    assert!(seen.contains("resuming job"), "{seen}");
    // Killed right after a batch's results were journaled.
    kill_at(&mut validate(&dir, &served, &file), "settled:2");
    // Killed while submitting nothing new: between two settled batches.
    kill_at(&mut validate(&dir, &served, &file), "settled:1");

    let done = output(&mut validate(&dir, &served, &file));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("2000 items: 2000 done"), "{stderr}");

    // Each item reserved exactly once (8 batches of 250), the unfound refunded once.
    let charged = charges(&served);
    assert_eq!(charged["batch reservation"], (8, 2_000), "{charged:?}");
    assert_eq!(charged["batch settlement"], (8, -200), "{charged:?}");
    let sandbox_spent = served.spent(Provider::Enrich, seed::ENRICH_KEY);
    assert_eq!(sandbox_spent, 1_800);

    // The output holds every item once, in input order.
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut lines = results.lines();
    assert!(lines.next().unwrap().starts_with("line,input,status"));
    let emails: Vec<&str> = lines.map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(emails.len(), ITEMS);
    let unique: std::collections::BTreeSet<&str> = emails.iter().copied().collect();
    assert_eq!(unique.len(), ITEMS);
    assert_eq!(emails[1], "person1@example1.com");

    // The journal's account of the job equals the sandbox's.
    assert_eq!(journal_spent(&dir), sandbox_spent);
}

/// What `tollgate usage --json` says was spent on Enrich.
fn journal_spent(dir: &Path) -> i64 {
    let usage = output(tollgate(dir).args(["usage", "--json"]));
    let rows: serde_json::Value = serde_json::from_slice(&usage.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["provider"] == "enrich")
        .map(|r| r["spent"].as_i64().unwrap())
        .sum()
}

#[test]
fn a_batch_accepted_but_not_journaled_is_adopted_from_the_wallet() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("unknown");
    let file = input(&dir);

    // Killed after the provider accepted batch 2, before the journal recorded its id.
    kill_at(&mut validate(&dir, &served, &file), "submitted:2");
    assert_eq!(charges(&served)["batch reservation"], (2, 500));

    // Resumed: the wallet shows batch 2's reservation under its id, so the job adopts it
    // instead of asking the user, and sends nothing twice.
    let resumed = output(&mut validate(&dir, &served, &file));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("batch 2: adopted"), "{stderr}");
    assert!(stderr.contains("2000 items: 2000 done"), "{stderr}");
    assert_eq!(charges(&served)["batch reservation"], (8, 2_000));
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), ITEMS + 1);
}

#[test]
fn a_batch_journaled_but_never_sent_is_sent_again_without_asking() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("never-sent");
    let file = input(&dir);

    // Killed after batch 3's submit was journaled as sending, before it was sent.
    kill_at(&mut validate(&dir, &served, &file), "sending:3");
    assert_eq!(charges(&served)["batch reservation"], (2, 500));
    // Meanwhile `usage` counts it as possibly charged at its most.
    let usage = output(tollgate(&dir).args(["usage", "--json"]));
    let rows: serde_json::Value = serde_json::from_slice(&usage.stdout).unwrap();
    let uncertain: i64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uncertain"].as_i64().unwrap())
        .sum();
    assert_eq!(uncertain, 250, "{rows}");

    let resumed = output(&mut validate(&dir, &served, &file));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("batch 3: not charged"), "{stderr}");
    assert_eq!(charges(&served)["batch reservation"], (8, 2_000));
    assert_eq!(
        journal_spent(&dir),
        served.spent(Provider::Enrich, seed::ENRICH_KEY)
    );
}

#[test]
fn ctrl_c_stops_after_the_call_in_flight_and_the_job_resumes() {
    let served = Served::start(Duration::from_secs(30));
    let dir = scratch("ctrl-c");
    let file = input(&dir);
    let mut child = validate(&dir, &served, &file)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every batch is accepted (the sandbox's batches then take 30 s).
    let account = served
        .sandbox
        .account(Provider::Enrich, seed::ENRICH_KEY)
        .unwrap();
    while account.charges().len() < 8 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tollgate ended early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 130 (128 + SIGINT), as shells expect of a command stopped by Ctrl-C.
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert_eq!(charges(&served)["batch reservation"], (8, 2_000));
}
