//! The bulk job's promise, tried as a demanding user would, through the `tollgate` binary
//! against a sandbox whose ledgers are the truth: two runs of one job at once, SIGKILL at random
//! points of the submit window, a connection refused mid-job, an address the provider refuses
//! in the middle of a file, a provider that forgets its batches, an unknown lookup counted at its
//! most, and every bad input, output and journal refused before anything is paid.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Served, kill_at, output, scratch, tollgate};
use tollgate_sandbox::{Provider, seed};

/// `n` distinct addresses; every tenth is not found (refunded on settlement).
fn emails(dir: &Path, n: usize, name: &str) -> PathBuf {
    let mut text = String::from("email\n");
    for i in 0..n {
        if i % 10 == 0 {
            text.push_str(&format!("nobody{i}@example.org\n"));
        } else {
            text.push_str(&format!("person{i}@example{}.com\n", i % 13));
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(dir: &Path, base_url: &str, file: &Path, out: &str) -> Command {
    let mut command = tollgate(dir);
    command
        .arg("--base-url")
        .arg(base_url)
        .args(["enrich", "validate"])
        .arg(file)
        .arg("--output")
        .arg(dir.join(out))
        .args(["--batch-size", "250", "--poll-seconds", "0.05"]);
    command
}

fn reserved(served: &Served) -> (usize, i64) {
    let mut out = (0, 0);
    for c in served
        .sandbox
        .account(Provider::Enrich, seed::ENRICH_KEY)
        .unwrap()
        .charges()
        .into_iter()
        .filter(|c| c.note == "batch reservation")
    {
        out.0 += 1;
        out.1 += c.amount;
    }
    out
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tollgate usage --json`: (spent, possibly charged) per provider.
fn usage(dir: &Path) -> BTreeMap<String, (i64, i64)> {
    let out = output(tollgate(dir).args(["usage", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in rows.as_array().unwrap() {
        let e = by
            .entry(r["provider"].as_str().unwrap().to_owned())
            .or_default();
        e.0 += r["spent"].as_i64().unwrap();
        e.1 += r["uncertain"].as_i64().unwrap();
    }
    by
}

#[test]
fn two_runs_of_one_job_at_once_charge_each_item_once() {
    let served = Served::start(Duration::from_millis(150));
    let url = served.sandbox.base_url(Provider::Enrich);
    for (n, gap_ms) in [0_u64, 100, 500, 1000].into_iter().enumerate() {
        let dir = scratch(&format!("twice-{gap_ms}"));
        let file = emails(&dir, 2_000, "emails.csv");
        let before = reserved(&served);
        let first = validate(&dir, &url, &file, "out.csv")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(gap_ms));
        // Every other pair: the second run waits for the first instead of refusing.
        let mut second = validate(&dir, &url, &file, "out.csv");
        if n % 2 == 1 {
            second.arg("--wait");
        }
        let second = output(&mut second);
        let first = first.wait_with_output().unwrap();
        let mut codes = [first.status.code(), second.status.code()];
        codes.sort();
        // Without --wait, the run that did not get the job's lock refuses at once (exit 6);
        // with it, it waits and then finds the job done (exit 0).
        let expected = if n % 2 == 1 {
            [Some(0), Some(0)]
        } else {
            [Some(0), Some(6)]
        };
        assert_eq!(
            codes,
            expected,
            "{gap_ms} ms: {}\n{}",
            stderr(&first),
            stderr(&second)
        );
        let refused = if first.status.code() == Some(6) {
            &first
        } else {
            &second
        };
        if n % 2 == 0 {
            let text = stderr(refused);
            assert!(text.contains("is being run by process"), "{text}");
            assert!(text.contains("nothing was sent"), "{text}");
            assert!(!text.contains("UNIQUE"), "{text}");
        }
        let after = reserved(&served);
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (8, 2_000),
            "{gap_ms} ms apart: {codes:?}"
        );
        let out = std::fs::read_to_string(dir.join("out.csv")).unwrap();
        assert_eq!(out.lines().count(), 2_001);
    }
}

#[test]
fn sigkill_anywhere_in_the_submit_window_then_resume_charges_exactly_once() {
    let served = Served::start(Duration::from_millis(50));
    let url = served.sandbox.base_url(Provider::Enrich);
    let dir = scratch("kill-window");
    let file = emails(&dir, 3_000, "emails.csv");
    // Exact points (journaled-not-sent, accepted-not-journaled) for several batches, then
    // kills at random moments.
    for point in [
        "sending:1",
        "submitted:1",
        "submitted:2",
        "sending:2",
        "submitted:3",
    ] {
        kill_at(&mut validate(&dir, &url, &file, "out.csv"), point);
    }
    let mut rng = fastrand::Rng::with_seed(0x70_11_6a_7e);
    for _ in 0..6 {
        let mut child = validate(&dir, &url, &file, "out.csv")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(20..400)));
        let _ = child.kill();
        child.wait().unwrap();
    }
    let done = output(&mut validate(&dir, &url, &file, "out.csv"));
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert!(
        stderr(&done).contains("3000 items: 3000 done"),
        "{}",
        stderr(&done)
    );
    assert_eq!(reserved(&served), (12, 3_000));
    let spent = served.spent(Provider::Enrich, seed::ENRICH_KEY);
    assert_eq!(spent, 2_700);
    assert_eq!(usage(&dir)["enrich"], (spent, 0));
}

/// A loopback proxy to the sandbox that can go down (its port then refuses connections) and
/// come up again on the same port.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: std::net::SocketAddr, port: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&up);
        let thread = std::thread::spawn(move || {
            while flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let flag = Arc::clone(&flag);
                        std::thread::spawn(move || pipe(client, target, &flag));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            port,
            up,
            thread: Some(thread),
        }
    }

    /// Closes the port and every connection through it.
    fn down(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pipe(client: TcpStream, target: std::net::SocketAddr, up: &AtomicBool) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    for s in [&client, &server] {
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    }
    let (c, s) = (client, server);
    let mut buf = vec![0_u8; 1 << 16];
    while up.load(Ordering::SeqCst) {
        for (mut from, mut to) in [(&c, &s), (&s, &c)] {
            match from.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }
}

#[test]
fn a_connection_refused_mid_job_leaves_its_items_unsent_not_unknown() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("refused");
    let file = emails(&dir, 2_000, "emails.csv");
    let mut proxy = Proxy::start(served.sandbox.address(), 0);
    let url = format!("http://127.0.0.1:{}/enrich/api/v3", proxy.port);
    // Down while the job runs: after its third batch was accepted.
    let child = validate(&dir, &url, &file, "out.csv")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while reserved(&served).0 < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    proxy.down();
    let first = child.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    assert!(
        !stderr(&first).contains("--resubmit-unknown"),
        "{}",
        stderr(&first)
    );
    // Up again on the same port: the same command finishes without asking anything.
    let _proxy = Proxy::start(served.sandbox.address(), proxy.port);
    let done = output(&mut validate(&dir, &url, &file, "out.csv"));
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(reserved(&served), (8, 2_000));
    assert_eq!(
        usage(&dir)["enrich"].0,
        served.spent(Provider::Enrich, seed::ENRICH_KEY)
    );
}

#[test]
fn an_address_the_provider_refuses_fails_alone_and_the_rest_is_collected() {
    let served = Served::start(Duration::from_millis(50));
    let url = served.sandbox.base_url(Provider::Enrich);
    let dir = scratch("refused-address");
    let file = emails(&dir, 3_000, "emails.csv");
    // Line 1,502 (in the middle of the seventh batch): an address the local check accepts
    // (one @, a dotted domain) and the provider's own e-mail check refuses (two dots in a row).
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1_501] = "ann..lee@example.com";
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let done = output(&mut validate(&dir, &url, &file, "out.jsonl"));
    let text = stderr(&done);
    assert_eq!(done.status.code(), Some(0), "{text}");
    assert!(text.contains(":1502: refused by the provider"), "{text}");
    assert!(text.contains("2999 done, 1 failed"), "{text}");
    // Twelve batches, one of them with 249 items: nothing paid for the refused address.
    assert_eq!(reserved(&served), (12, 2_999));
    let out = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    let refused: serde_json::Value = serde_json::from_str(out.lines().nth(1_500).unwrap()).unwrap();
    assert_eq!(refused["line"], 1_502);
    assert_eq!(refused["status"], "failed");
    assert!(
        refused["error"].as_str().unwrap().contains("Invalid email"),
        "{refused}"
    );
}

#[test]
fn batches_the_provider_forgot_are_lost_reported_and_sent_again_on_request() {
    let dir = scratch("lost");
    let file = emails(&dir, 1_000, "emails.csv");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let url = format!("http://{address}/enrich/api/v3");
    // Batches that take a minute: the job submits all four, then polls.
    let served = Served::start_on(Duration::from_secs(60), &address);
    let mut child = validate(&dir, &url, &file, "out.csv")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while reserved(&served).0 < 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    // The provider restarts and knows none of them.
    drop(served);
    std::thread::sleep(Duration::from_millis(200));
    let served = Served::start_on(Duration::from_millis(50), &address);
    let lost = output(&mut validate(&dir, &url, &file, "out.csv"));
    let text = stderr(&lost);
    assert_eq!(lost.status.code(), Some(5), "{text}");
    assert!(
        text.contains("1000 items: 0 done, 0 failed, 0 unknown, 1000 lost"),
        "{text}"
    );
    assert!(text.contains("--resubmit-lost"), "{text}");
    assert!(text.contains("no longer knows batch"), "{text}");
    // Reported in the output with the provider's answer.
    let out = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    assert_eq!(out.lines().count(), 1_001);
    assert!(out.lines().nth(1).unwrap().contains("lost"), "{out}");
    assert_eq!(reserved(&served), (0, 0));
    // Sent again on request, charged again, with a line that says so.
    let again = output(validate(&dir, &url, &file, "out.csv").arg("--resubmit-lost"));
    let text = stderr(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("they are charged again"), "{text}");
    assert!(text.contains("1000 items: 1000 done"), "{text}");
    assert_eq!(reserved(&served), (4, 1_000));
}

#[test]
fn an_unknown_lookup_counts_at_its_most_and_a_resubmission_records_its_own_charge() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("unknown-lookup");
    let file = dir.join("people.csv");
    std::fs::write(&file, "id\n101\n102\n103\n").unwrap();
    let lookup = |extra: &[&str]| {
        let mut c = tollgate(&dir);
        c.arg("--base-url")
            .arg(served.sandbox.base_url(Provider::RocketReach))
            .args(["rocketreach", "lookup", "--poll-interval", "50ms"])
            .arg(&file)
            .arg("--output")
            .arg(dir.join("out.jsonl"))
            .args(extra);
        c
    };
    // Killed after the second lookup was answered (and charged), before it was journaled.
    kill_at(&mut lookup(&[]), "item:2");
    let sandbox = || served.spent(Provider::RocketReach, seed::ROCKETREACH_KEY);
    let charged_so_far = sandbox();
    let resumed = output(&mut lookup(&[]));
    assert_eq!(resumed.status.code(), Some(5), "{}", stderr(&resumed));
    let (spent, uncertain) = usage(&dir)["rocketreach"];
    assert!(
        uncertain > 0,
        "the unknown lookup counts as possibly charged"
    );
    assert!(
        spent >= sandbox(),
        "journal {spent} < sandbox {}",
        sandbox()
    );
    assert!(sandbox() >= charged_so_far);
    // Sent again on the user's word: its own charge is recorded beside the unknown one.
    let forced = output(&mut lookup(&["--resubmit-unknown"]));
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let (spent, _) = usage(&dir)["rocketreach"];
    assert!(
        spent >= sandbox(),
        "journal {spent} < sandbox {}",
        sandbox()
    );
    let out = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn everything_is_checked_before_anything_is_paid() {
    let served = Served::start(Duration::from_millis(50));
    let url = served.sandbox.base_url(Provider::Enrich);
    let dir = scratch("checks");
    let good = emails(&dir, 10, "emails.csv");
    let run = |file: &Path, out: &str, journal: Option<&Path>| {
        let mut c = validate(&dir, &url, file, out);
        if let Some(j) = journal {
            c.arg("--journal").arg(j);
        }
        output(&mut c)
    };
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases: Vec<(std::process::Output, i32, &str)> = vec![
        (run(&good, "no/such/dir/out.csv", None), 2, "cannot write"),
        (run(&good, "/proc/out.csv", None), 2, "cannot write"),
        (
            run(&write("a.csv", "mail,name\na@b.co,A\n"), "o.csv", None),
            2,
            "missing `email`",
        ),
        (
            run(&write("b.csv", "Email\na@b.co\n"), "o.csv", None),
            2,
            "did you mean `email`?",
        ),
        (
            run(&write("c.csv", "email,x\na@b.co,1\n"), "o.csv", None),
            2,
            "`x` is not a column",
        ),
        (
            run(&write("d.json", "[\"a@b.co\"]\n"), "o.csv", None),
            2,
            "JSON lines",
        ),
        (
            // A quote opened and never closed would make every later row one field.
            run(
                &write("q.csv", "email\na@b.co\n\"c@d.co,\ne@f.co\ng@h.co\n"),
                "o.csv",
                None,
            ),
            2,
            "q.csv:3: a quoted field opens on this line and is never closed",
        ),
        (run(&dir.join("absent.csv"), "o.csv", None), 2, "absent.csv"),
        (run(&dir, "o.csv", None), 2, "is a directory"),
        (
            run(&write("e.jsonl", "{\"mail\":\"a@b.co\"}\n"), "o.csv", None),
            2,
            "no line could be read",
        ),
        (
            run(
                &good,
                "o.csv",
                Some(&write("corrupt.sqlite3", &"garbage ".repeat(1000))),
            ),
            1,
            "mv ",
        ),
        (
            run(&good, "o.csv", Some(Path::new("/proc/self/nope/j.sqlite3"))),
            1,
            "/proc/self/nope",
        ),
    ];
    for (out, code, needle) in &cases {
        let text = stderr(out);
        assert_eq!(out.status.code(), Some(*code), "{needle}: {text}");
        assert!(text.contains(needle), "{needle}: {text}");
        // One line (and the malformed line it names, when the input has one).
        assert!(text.trim().lines().count() <= 2, "{text}");
    }
    // The output never replaces the input, the journal or the cache (an output's ending
    // that names no format is refused first, so these name theirs with --format).
    // (The input read through a link is the file the link names.)
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let before = std::fs::read(&good).unwrap();
    for (input, out, format, needle) in [
        (&good, "emails.csv", None, "is the input file"),
        (&link, "emails.csv", None, "is the input file"),
        (&good, "journal.sqlite3", Some("csv"), "is the journal"),
        (
            &good,
            "journal.sqlite3-wal",
            Some("jsonl"),
            "is the journal",
        ),
        (&good, "cache.sqlite3", Some("csv"), "is the cache"),
    ] {
        let mut command = validate(&dir, &url, input, out);
        if let Some(format) = format {
            command.args(["--format", format]);
        }
        let out = output(&mut command);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{needle}: {text}");
        assert!(text.contains(needle), "{needle}: {text}");
        assert!(text.contains("nothing was sent"), "{needle}: {text}");
    }
    assert_eq!(
        std::fs::read(&good).unwrap(),
        before,
        "the input was changed"
    );
    // Standard input is not a file a job can be resumed from: said so, not "no such file".
    let out = run(Path::new("-"), "o.csv", None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not standard input"),
        "{}",
        stderr(&out)
    );
    assert_eq!(reserved(&served), (0, 0), "nothing was paid");
    // A 10 MB line is cut in the message.
    let huge = write(
        "huge.csv",
        &format!("email\n{}@x.com\n", "a".repeat(10_000_000)),
    );
    let out = run(&huge, "o.csv", None);
    assert!(stderr(&out).len() < 2_000, "{}", stderr(&out).len());
    assert!(stderr(&out).contains("characters"), "{}", stderr(&out));
}

#[test]
fn a_job_without_items_writes_a_header_and_pays_nothing() {
    let served = Served::start(Duration::from_millis(50));
    let url = served.sandbox.base_url(Provider::Enrich);
    let dir = scratch("no-items");
    let input = dir.join("header-only.csv");
    std::fs::write(&input, "email\n").unwrap();
    let out = output(&mut validate(&dir, &url, &input, "out.csv"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A header a CSV reader can read (before: one empty field, `""`).
    let written = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    assert_eq!(written, "line,input,status\n");
    assert_eq!(reserved(&served), (0, 0), "nothing was paid");
}

#[test]
fn a_provider_error_names_its_request_id_once() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("request-id");
    served.sandbox.faults().fail_next(1, 400, None);
    let out = output(
        tollgate(&dir)
            .arg("--base-url")
            .arg(served.sandbox.base_url(Provider::Enrich))
            .args(["enrich", "get-wallet-balance"]),
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.matches("request id").count() <= 1, "{text}");
}
