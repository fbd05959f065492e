//! The `tollgate` binary end to end: generated subcommands of every provider, cost first
//! (`--dry-run`, `--max-cost`, the config file's budget), keys and targets, errors and exit
//! codes, every bulk command, and `usage`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Served, output, scratch, tollgate};
use tollgate_sandbox::Provider;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

/// A CSV of `n` addresses in `dir`, two of every five of which find nothing (`nobody…`: the
/// sandbox refunds them).
fn emails_with_misses(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let emails = dir.join("emails.csv");
    let mut text = String::from("email\n");
    for i in 0..n {
        if i % 5 < 2 {
            text.push_str(&format!("nobody{i}@example.org\n"));
        } else {
            text.push_str(&format!("person{i}@figma.com\n"));
        }
    }
    std::fs::write(&emails, text).unwrap();
    emails
}

/// `tollgate --base-url <the test's sandbox> <args>` for `provider`.
fn against(served: &Served, dir: &std::path::Path, provider: Provider) -> Command {
    let mut command = tollgate(dir);
    command
        .arg("--base-url")
        .arg(served.sandbox.base_url(provider));
    command
}

#[test]
fn a_sample_of_generated_subcommands_answers_json_per_provider() {
    let dir = scratch("generated");
    let cases: [(&str, &[&str]); 4] = [
        ("rocketreach_get_account", &["rocketreach", "get-account"]),
        (
            "enrich_validate_email",
            &[
                "enrich",
                "validate-email",
                "--email",
                "sarah.chen@stripe.com",
            ],
        ),
        (
            "spidernews_list_connections",
            &[
                "spidernews",
                "list-connections",
                "--source-name",
                "Raytheon",
                "--connection-limit",
                "2",
                "--connection-type",
                "Deal",
                "--connection-type",
                "Merger",
            ],
        ),
        (
            "requestrocket_list_clients",
            &["requestrocket", "list-clients"],
        ),
    ];
    for (name, args) in cases {
        let out = output(tollgate(&dir).args(["--sandbox", "--json"]).args(args));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        insta::assert_json_snapshot!(name, json(&out), {
            ".meta.requestId" => "[request id]",
            ".meta.processingTimeMs" => "[ms]",
        });
    }
}

#[test]
fn charged_commands_say_what_they_cost_and_journal_it() {
    let dir = scratch("cost");
    let out = output(tollgate(&dir).args([
        "--sandbox",
        "enrich",
        "validate-email",
        "--email",
        "sarah.chen@stripe.com",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("result: "), "{}", stdout(&out));
    assert!(stderr(&out).contains("cost: 1 credits"), "{}", stderr(&out));
    let usage = output(tollgate(&dir).args(["usage"]));
    let table = stdout(&usage);
    assert!(
        table.contains(
            "enrich    sandbox  validate_email  1      1        0         1      0       0      credits"
        ),
        "{table}"
    );
    assert!(table.contains("enrich: 1 credits spent"), "{table}");
}

#[test]
fn a_command_answered_from_the_cache_says_what_it_saved_and_journals_it() {
    // The embedded sandbox starts afresh each run, so the cache is given a file of its own.
    let dir = scratch("cost-cached");
    let cache = dir.join("answers.sqlite3");
    let validate = || {
        output(tollgate(&dir).arg("--cache").arg(&cache).args([
            "--sandbox",
            "enrich",
            "validate-email",
            "--email",
            "sarah.chen@stripe.com",
        ]))
    };
    let first = validate();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("cost: 1 credits\n"),
        "{}",
        stderr(&first)
    );
    let again = validate();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        stdout(&first),
        "the kept answer, decoded the same"
    );
    assert!(
        stderr(&again).contains("cost: 0 credits (1 credits saved by the cache)"),
        "{}",
        stderr(&again)
    );
    // `usage` counts the answer served from the cache, as `cache stats` does.
    let usage = output(tollgate(&dir).args(["usage", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&usage)).unwrap();
    let row = &rows.as_array().unwrap()[0];
    let figure = |name: &str| row[name].as_i64();
    assert_eq!(
        ["calls", "spent", "cached", "saved"].map(figure),
        [Some(1); 4],
        "{rows}"
    );
}

#[test]
fn a_body_comes_from_a_file_or_standard_input() {
    let dir = scratch("body");
    let file = dir.join("body.json");
    std::fs::write(&file, r#"{"email": "sarah.chen@stripe.com"}"#).unwrap();
    let out = output(
        tollgate(&dir)
            .args(["--sandbox", "--json", "enrich", "validate-email", "--body"])
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["data"]["email"], "sarah.chen@stripe.com");

    let mut child = tollgate(&dir)
        .args([
            "--sandbox",
            "--json",
            "requestrocket",
            "create-client",
            "--body",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"clientName": "Acme Research"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["clientName"], "Acme Research");

    let missing = output(
        tollgate(&dir)
            .args(["--sandbox", "enrich", "validate-email", "--body"])
            .arg(dir.join("nope.json")),
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.json"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn dry_run_prints_the_most_it_may_cost_and_sends_nothing() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("dry-run");
    let out = output(against(&served, &dir, Provider::SpiderNews).args([
        "--dry-run",
        "spidernews",
        "list-connections",
        "--source-name",
        "Raytheon",
        "--connection-limit",
        "20",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "dry run: list-connections may cost up to 60 rows; nothing was sent\n"
    );
    // Beyond --max-cost, a dry run says it would be refused (exit 4).
    let beyond = output(against(&served, &dir, Provider::SpiderNews).args([
        "--dry-run",
        "--max-cost",
        "30",
        "spidernews",
        "list-connections",
        "--connection-limit",
        "20",
    ]));
    assert_eq!(beyond.status.code(), Some(4));
    // A bulk dry run prices every batch.
    let file = dir.join("emails.txt");
    std::fs::write(&file, "a@example.com\nb@example.com\nA@example.com\n").unwrap();
    let bulk = output(
        against(&served, &dir, Provider::Enrich)
            .args(["--dry-run", "enrich", "validate"])
            .arg(&file),
    );
    assert_eq!(bulk.status.code(), Some(0), "{}", stderr(&bulk));
    assert!(
        stdout(&bulk).contains("may cost up to 2 credits for 2 item(s) in 1 call(s)"),
        "{}",
        stdout(&bulk)
    );
    assert!(served.sandbox.answered(Provider::SpiderNews).is_empty());
    assert!(served.sandbox.answered(Provider::Enrich).is_empty());
}

#[test]
fn max_cost_and_the_config_budget_refuse_before_sending() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("budget");
    let out = output(against(&served, &dir, Provider::SpiderNews).args([
        "--max-cost",
        "10",
        "spidernews",
        "list-connections",
        "--connection-limit",
        "20",
    ]));
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        stderr(&out),
        "tollgate: refused before sending: list_connections may cost up to 60 rows but the budget has 10 left; lower `connection_limit`\n"
    );
    // The config file's budget, key and base URL, with no environment variable.
    let config = dir.join("budget.toml");
    std::fs::write(
        &config,
        format!(
            "[spidernews]\napi_key = \"{}\"\nbase_url = \"{}\"\nbudget = 30\n",
            tollgate_sandbox::seed::SPIDERNEWS_KEY,
            served.sandbox.base_url(Provider::SpiderNews)
        ),
    )
    .unwrap();
    let configured = || {
        let mut c = Command::new(common::TOLLGATE);
        c.env_remove("SPIDERNEWS_API_KEY")
            .arg("--journal")
            .arg(dir.join("journal.sqlite3"))
            .arg("--config")
            .arg(&config);
        c
    };
    let refused =
        output(configured().args(["spidernews", "list-connections", "--connection-limit", "20"]));
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let allowed =
        output(configured().args(["spidernews", "list-connections", "--connection-limit", "5"]));
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(served.sandbox.answered(Provider::SpiderNews)["list_connections"] == 1);

    // A bulk job under a budget warns when it crosses 80% and 95%, once each, before the
    // budget refuses a lookup.
    let people = dir.join("five.jsonl");
    let lines: Vec<String> = (0..5)
        .map(|i| format!("{{\"name\": \"Person {i}\", \"current_employer\": \"Acme\"}}"))
        .collect();
    std::fs::write(&people, lines.join("\n")).unwrap();
    let out = output(
        against(&served, &dir, Provider::RocketReach)
            .args([
                "--max-cost",
                "6",
                "rocketreach",
                "lookup",
                "--poll-interval",
                "50ms",
            ])
            .arg(&people)
            .arg("--output")
            .arg(dir.join("five.csv")),
    );
    let err = stderr(&out);
    let first = "warning: 80% of the RocketReach budget is spent: ";
    let second = "warning: 95% of the RocketReach budget is spent: ";
    assert_eq!(err.matches(first).count(), 1, "{err}");
    assert_eq!(err.matches(second).count(), 1, "{err}");
    let refused = err.find("refused before sending").unwrap_or(err.len());
    assert!(
        err.find(first).unwrap() < err.find(second).unwrap(),
        "{err}"
    );
    assert!(err.find(second).unwrap() < refused, "{err}");
    assert!(
        !err.contains(" WARN "),
        "printed once, not also as a log line: {err}"
    );
}

#[test]
fn usage_errors_are_one_line_with_exit_code_2() {
    let dir = scratch("errors");
    let no_key = output(
        Command::new(common::TOLLGATE)
            .env_remove("ENRICH_API_KEY")
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .args(["enrich", "get-wallet-balance"]),
    );
    assert_eq!(no_key.status.code(), Some(2));
    let message = stderr(&no_key);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("set ENRICH_API_KEY"), "{message}");
    assert!(message.contains("--sandbox"), "{message}");

    let bad_key = output(
        Command::new(common::TOLLGATE)
            .env("ENRICH_API_KEY", "not-a-key")
            .args(["enrich", "get-wallet-balance"]),
    );
    assert_eq!(bad_key.status.code(), Some(2));
    assert!(
        !stderr(&bad_key).contains("not-a-key"),
        "a key is never echoed"
    );

    let unknown = output(tollgate(&dir).args(["enrich", "validate-email", "--emial", "x"]));
    assert_eq!(unknown.status.code(), Some(2));

    let config = dir.join("bad.toml");
    std::fs::write(&config, "[enrihc]\napi_key = \"x\"\n").unwrap();
    let bad_config = output(
        Command::new(common::TOLLGATE)
            .arg("--config")
            .arg(&config)
            .args(["--sandbox", "enrich", "get-wallet-balance"]),
    );
    assert_eq!(bad_config.status.code(), Some(2));
    assert!(
        stderr(&bad_config).contains("enrihc"),
        "{}",
        stderr(&bad_config)
    );

    let missing_file = output(tollgate(&dir).args(["--sandbox", "enrich", "validate", "nope.csv"]));
    // A bad input file is a usage error, as documented (nothing was sent).
    assert_eq!(missing_file.status.code(), Some(2));
    assert!(stderr(&missing_file).contains("nope.csv"));
    assert!(stderr(&missing_file).contains("nothing was sent"));

    let help = output(Command::new(common::TOLLGATE).arg("--help"));
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("Exit codes:"));
}

#[test]
fn a_provider_error_exits_3_with_its_message() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("provider-error");
    served.sandbox.faults().fail_next(10, 500, None);
    let out = output(against(&served, &dir, Provider::Enrich).args([
        "enrich",
        "validate-email",
        "--email",
        "a@example.com",
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("500"), "{}", stderr(&out));
}

#[test]
fn every_bulk_command_reads_csv_or_json_lines_and_skips_bad_lines_by_number() {
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("bulk");

    // Enrich find: CSV in, JSON lines out.
    let leads = dir.join("leads.csv");
    std::fs::write(
        &leads,
        "firstName,lastName,domain\nSarah,Chen,stripe.com\nNobody,Here,example.org\nBroken,Row\nAnn,Lee,acme.io\n",
    )
    .unwrap();
    let out = output(
        against(&served, &dir, Provider::Enrich)
            .args(["enrich", "find"])
            .arg(&leads)
            .arg("--output")
            .arg(dir.join("found.jsonl"))
            .args(["--poll-seconds", "0.05"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("leads.csv:4: 2 fields where the header has 3 (skipped)"),
        "{}",
        stderr(&out)
    );
    let found: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("found.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        found
            .iter()
            .map(|r| r["line"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 3, 5]
    );
    assert_eq!(found[0]["result"]["found"], true);
    assert_eq!(found[1]["result"]["found"], false);
    // 3 leads reserved at 10, the one not found refunded.
    assert_eq!(
        served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY),
        20
    );

    // RocketReach lookups: JSON lines in, CSV out; an unknown column is a bad line.
    let people = dir.join("people.jsonl");
    std::fs::write(
        &people,
        "{\"name\": \"Sarah Chen\", \"current_employer\": \"Stripe\"}\n{\"nmae\": \"typo\"}\n{\"linkedin_url\": \"https://www.linkedin.com/in/ann-lee\"}\n",
    )
    .unwrap();
    let out = output(
        against(&served, &dir, Provider::RocketReach)
            .args(["rocketreach", "lookup", "--poll-interval", "50ms"])
            .arg(&people)
            .arg("--output")
            .arg(dir.join("people.csv")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("people.jsonl:2: unknown field `nmae`"),
        "{}",
        stderr(&out)
    );
    let csv = std::fs::read_to_string(dir.join("people.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("line,input.name,input.current_employer,status"),
        "{csv}"
    );

    // Spider News: one query per line, to standard output as JSON lines.
    let queries = dir.join("queries.csv");
    std::fs::write(
        &queries,
        "source_name,connection_limit\nRaytheon,2\nLockheed Martin,1\n",
    )
    .unwrap();
    let out = output(
        against(&served, &dir, Provider::SpiderNews)
            .args(["--json", "spidernews", "connections"])
            .arg(&queries),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["input"]["source_name"], "Raytheon");
    assert!(lines[0]["result"]["rows_returned"].as_i64().unwrap() > 0);

    // Running a finished job again sends nothing and writes the same output.
    let before = served.sandbox.answered(Provider::SpiderNews);
    let again = output(
        against(&served, &dir, Provider::SpiderNews)
            .args(["--json", "spidernews", "connections"])
            .arg(&queries),
    );
    assert_eq!(stdout(&again), stdout(&out));
    assert_eq!(served.sandbox.answered(Provider::SpiderNews), before);

    // usage --json: every charge of the three jobs, equal to the sandbox's ledgers.
    let usage = output(tollgate(&dir).args(["usage", "--json"]));
    insta::assert_json_snapshot!("usage_after_bulk_jobs", json(&usage), {
        "[].day" => "[day]",
        "[].target" => "[sandbox url]",
    });

    // usage grouped by provider, as CSV: one row per provider and unit, the same totals.
    let by_provider = output(tollgate(&dir).args(["usage", "--by", "provider", "--format", "csv"]));
    assert_eq!(
        by_provider.status.code(),
        Some(0),
        "{}",
        stderr(&by_provider)
    );
    let csv = stdout(&by_provider);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("provider,calls,charged,refunded,spent,cached,saved,unit")
    );
    let enrich = lines
        .clone()
        .find(|l| l.starts_with("enrich,"))
        .unwrap_or_else(|| panic!("{csv}"));
    let spent: i64 = enrich.split(',').nth(4).unwrap().parse().unwrap();
    assert_eq!(
        spent,
        served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY),
        "{csv}"
    );
    assert_eq!(lines.count(), 3, "three providers: {csv}");
    // By credit type: RocketReach's person lookups spend a `lookup` and a `person_export`
    // credit each; the other providers have one type, named after their unit.
    let typed = json(&output(tollgate(&dir).args([
        "usage",
        "--by",
        "provider,credit-type",
        "--json",
    ])));
    let spent_of = |provider: &str, credit_type: &str| {
        typed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["provider"] == provider && r["credit_type"] == credit_type)
            .unwrap_or_else(|| panic!("no {provider} {credit_type} row: {typed}"))["spent"]
            .as_i64()
            .unwrap()
    };
    let rocketreach = served.spent(
        Provider::RocketReach,
        tollgate_sandbox::seed::ROCKETREACH_KEY,
    );
    assert!(rocketreach > 0);
    assert_eq!(
        spent_of("rocketreach", "lookup"),
        rocketreach / 2,
        "{typed}"
    );
    assert_eq!(
        spent_of("rocketreach", "person_export"),
        rocketreach / 2,
        "{typed}"
    );
    assert_eq!(
        spent_of("enrich", "credits"),
        served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY)
    );
    assert_eq!(typed.as_array().unwrap().len(), 4, "{typed}");
    // By job: every bulk job is a row; no day is before today, so --until yesterday is empty.
    let by_job = json(&output(
        tollgate(&dir).args(["usage", "--by", "job", "--json"]),
    ));
    assert!(by_job.as_array().unwrap().len() >= 3, "{by_job}");
    assert!(
        by_job[0].get("job").is_some() && by_job[0].get("day").is_none(),
        "{by_job}"
    );
    let none = json(&output(
        tollgate(&dir).args(["usage", "--until", "1d", "--json"]),
    ));
    assert_eq!(none, serde_json::json!([]));
    let today = json(&output(
        tollgate(&dir).args(["usage", "--since", "1d", "--json"]),
    ));
    assert_eq!(
        today,
        json(&usage),
        "--since yesterday counts everything of today"
    );
    let wrong = output(tollgate(&dir).args(["usage", "--since", "someday"]));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("--since someday"),
        "{}",
        stderr(&wrong)
    );

    // The chart: an SVG that parses, with a line of spending (and one of savings) per provider.
    let svg = dir.join("usage.svg");
    let drawn = output(tollgate(&dir).args(["usage", "--chart"]).arg(&svg));
    assert_eq!(drawn.status.code(), Some(0), "{}", stderr(&drawn));
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for provider in ["enrich", "rocketreach", "spidernews"] {
        let spent = labels
            .iter()
            .filter(|l| l.starts_with(&format!("{provider} spent")))
            .count();
        let saved = labels
            .iter()
            .filter(|l| l.starts_with(&format!("{provider} saved")))
            .count();
        assert_eq!((spent, saved), (1, 1), "{provider}: {labels:?}");
    }
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count()
            >= 3
    );
}

#[test]
fn with_redis_processes_share_the_key_budget_and_usage_reads_it() {
    let Some(redis) = tollgate_tests::redis_server::RedisServer::start() else {
        return;
    };
    let served = Served::start(Duration::from_millis(100));
    let dir = scratch("redis");
    let run = |limit: &str| {
        output(
            against(&served, &dir, Provider::SpiderNews)
                .args(["--redis", &redis.url(), "--max-cost", "20"])
                .args([
                    "spidernews",
                    "list-connections",
                    "--source-name",
                    "Raytheon",
                ])
                .args(["--connection-limit", limit]),
        )
    };
    // Two processes: the first spends; the second needs 18 and the key has 20 - spent left.
    let first = run("3");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let spent = served.spent(Provider::SpiderNews, tollgate_sandbox::seed::SPIDERNEWS_KEY);
    assert!(spent >= 3, "{spent}");
    let second = run("6");
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("budget has {} left", 20 - spent)),
        "{}",
        stderr(&second)
    );
    let usage = output(tollgate(&dir).args(["--redis", &redis.url(), "usage", "--json"]));
    let report = json(&usage);
    let news = report["shared"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["provider"] == "spidernews")
        .unwrap();
    assert_eq!(news["totals"]["charged"].as_i64(), Some(spent));
    assert_eq!(news["totals"]["leases"].as_i64(), Some(0));
    assert!(!stdout(&usage).contains(tollgate_sandbox::seed::SPIDERNEWS_KEY));
}

#[test]
fn a_job_forecasts_its_end_from_its_first_tenth_and_stop_at_forecast_refuses_beforehand() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("forecast");
    // 10,000 addresses, 40% of which find nothing (refunded): 6,000 credits in the end.
    let emails = emails_with_misses(&dir, 10_000);

    // With a budget of 5,000 and nothing settled yet, the job is expected at its most
    // (10,000): it refuses to start, sending nothing.
    let refused = output(
        against(&served, &dir, Provider::Enrich)
            .args([
                "--max-cost",
                "5000",
                "enrich",
                "validate",
                "--stop-at-forecast",
            ])
            .arg(&emails)
            .arg("--output")
            .arg(dir.join("refused.csv")),
    );
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("expected to cost about 10000 credits"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY),
        0
    );

    // Run for real (another output: another job), logging its forecasts.
    let run = output(
        against(&served, &dir, Provider::Enrich)
            .args(["-v", "enrich", "validate", "--poll-interval", "20ms"])
            .arg(&emails)
            .arg("--output")
            .arg(dir.join("validated.csv")),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let spent = served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY);
    assert_eq!(spent, 6_000);
    let field = |line: &str, name: &str| -> Option<i64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    // The log without its colours.
    let log: String = {
        let raw = stderr(&run);
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                out.push(c);
            }
        }
        out
    };
    let first = log
        .lines()
        .filter(|l| l.contains("forecast"))
        .find(|l| field(l, "done").is_some_and(|d| d >= 1_000))
        .unwrap_or_else(|| panic!("no forecast after the first tenth: {log}"));
    let done = field(first, "done").unwrap();
    assert_eq!(done, 1_000, "the forecast at the first tenth: {first}");
    let expected = field(first, "expected").unwrap();
    assert!(
        (expected - spent).abs() * 10 <= spent,
        "forecast {expected} after {done} items, the job cost {spent}: {first}"
    );
    // A dry run of the same job reads its forecast from what the runs settled.
    let dry = output(
        against(&served, &dir, Provider::Enrich)
            .args(["--dry-run", "enrich", "validate"])
            .arg(&emails)
            .arg("--output")
            .arg(dir.join("validated.csv")),
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("settled 10000 of its 10000 item(s) for 6000 credits: it is expected to cost about 6000 credits in all"),
        "{}",
        stdout(&dry)
    );
}

#[test]
fn reconcile_agrees_after_a_clean_run_and_names_the_operation_after_a_charge_made_elsewhere() {
    let dir = scratch("reconcile");
    let served = Served::start(Duration::from_millis(50));
    let run = |provider: Provider, args: &[&str]| {
        let out = output(against(&served, &dir, provider).args(args));
        (out.status.code(), stdout(&out), stderr(&out))
    };
    for args in [
        [
            "rocketreach",
            "create-company-lookup",
            "--domain",
            "stripe.com",
        ]
        .as_slice(),
        &[
            "rocketreach",
            "create-person-lookup",
            "--name",
            "Ada Lovelace",
            "--current-employer",
            "Acme",
        ],
    ] {
        let (code, _, err) = run(Provider::RocketReach, args);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, _, err) = run(
        Provider::Enrich,
        &[
            "enrich",
            "validate-email",
            "--email",
            "sarah.chen@stripe.com",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    // A batch whose results refund the address not found: the wallet may name the refund
    // after the submit, the journal after the results; they are one line.
    let emails = dir.join("emails.csv");
    std::fs::write(
        &emails,
        "email\nada@figma.com\nnobody1@example.org\nbob@stripe.com\n",
    )
    .unwrap();
    let batch = output(
        against(&served, &dir, Provider::Enrich)
            .args(["enrich", "validate", "--poll-interval", "20ms"])
            .arg(&emails)
            .arg("--output")
            .arg(dir.join("validated.csv")),
    );
    assert_eq!(batch.status.code(), Some(0), "{}", stderr(&batch));
    let reconcile = |provider: Provider| {
        run(
            provider,
            &["usage", "--reconcile", "--provider", provider.name()],
        )
    };
    let (code, table, err) = reconcile(Provider::RocketReach);
    assert_eq!(code, Some(0), "{table}{err}");
    assert!(table.contains("agree"), "{table}");
    let (code, table, err) = reconcile(Provider::Enrich);
    assert_eq!(code, Some(0), "{table}{err}");
    assert!(
        table.contains("validate_email_batch  2 credits      2 credits          +0"),
        "{table}"
    );

    // A company lookup and an e-mail validation charged to the keys outside tollgate (in the
    // sandbox's own ledgers): the journal does not have them.
    let account = |provider, key| served.sandbox.account(provider, key).unwrap();
    account(
        Provider::RocketReach,
        tollgate_sandbox::seed::ROCKETREACH_KEY,
    )
    .charge("create_company_lookup", 1, "a lookup made elsewhere")
    .unwrap();
    account(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY)
        .charge("validate_email", 1, "a validation made elsewhere")
        .unwrap();

    let (code, table, err) = reconcile(Provider::RocketReach);
    assert_eq!(code, Some(7), "{table}{err}");
    let line = table
        .lines()
        .find(|l| l.contains("company_export"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells[..8],
        [
            "RocketReach",
            "company_export",
            "2",
            "credits",
            "1",
            "credits",
            "+1",
            "create_company_lookup,"
        ],
        "{table}"
    );
    assert!(line.contains("create_person_and_company_lookup"), "{line}");
    assert!(table.contains("differ"), "{table}");
    // The other credit types agree.
    assert!(
        table.lines().filter(|l| l.ends_with("+0")).count() == 2,
        "{table}"
    );

    let out = output(against(&served, &dir, Provider::Enrich).args([
        "--json",
        "usage",
        "--reconcile",
        "--provider",
        "enrich",
    ]));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let report = json(&out);
    let lines = report[0]["lines"].as_array().unwrap();
    let validate = lines
        .iter()
        .find(|l| l["label"] == "validate_email")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        (
            &validate["provider"],
            &validate["recorded"],
            &validate["difference"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{report}"
    );
    assert_eq!(validate["suspects"], serde_json::json!(["validate_email"]));

    // Spider News publishes no account figures: said, not a difference.
    let (code, table, err) = reconcile(Provider::SpiderNews);
    assert_eq!(code, Some(0), "{table}{err}");
    assert!(table.contains("Spider News: not reconciled"), "{table}");
}

#[test]
fn a_daily_budget_of_one_credit_type_holds_across_commands() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("typed-budget");
    let lookup = |name: &str| {
        output(against(&served, &dir, Provider::RocketReach).args([
            "--budget",
            "lookup=2/daily",
            "rocketreach",
            "create-person-lookup",
            "--name",
            name,
            "--current-employer",
            "Acme",
        ]))
    };
    // Two processes, one lookup credit each: the journal carries the first into the second.
    for name in ["Ada Lovelace", "Grace Hopper"] {
        let out = lookup(name);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let before = served.spent(
        Provider::RocketReach,
        tollgate_sandbox::seed::ROCKETREACH_KEY,
    );
    let refused = lookup("Alan Turing");
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    // The day's spending, read from the journal, warns before the refusal.
    assert_eq!(
        stderr(&refused),
        "warning: 80% of the RocketReach daily budget of `lookup` credits is spent: 2 of 2 credits\n\
         warning: 95% of the RocketReach daily budget of `lookup` credits is spent: 2 of 2 credits\n\
         tollgate: refused before sending: create_person_lookup may cost up to 1 `lookup` credits \
         but the daily budget of `lookup` credits has 0 left (it renews at midnight UTC)\n"
    );
    assert_eq!(
        served.spent(
            Provider::RocketReach,
            tollgate_sandbox::seed::ROCKETREACH_KEY
        ),
        before,
        "nothing sent"
    );
    // A company lookup spends no lookup credit: the same budget lets it through.
    let company = output(against(&served, &dir, Provider::RocketReach).args([
        "--budget",
        "lookup=2/daily",
        "rocketreach",
        "create-company-lookup",
        "--domain",
        "stripe.com",
    ]));
    assert_eq!(company.status.code(), Some(0), "{}", stderr(&company));

    // A type RocketReach does not bill, and a spec that does not parse: usage errors.
    let unknown = output(against(&served, &dir, Provider::RocketReach).args([
        "--budget",
        "lookups=5",
        "rocketreach",
        "get-account",
    ]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains(
            "RocketReach has no credit type `lookups`; its charges use: lookup, person_export, company_export, universal"
        ),
        "{}",
        stderr(&unknown)
    );
    let garbled = output(tollgate(&dir).args(["--budget", "lookup=x/daily", "usage"]));
    assert_eq!(garbled.status.code(), Some(2));
    assert!(
        stderr(&garbled).contains("budget `lookup=x/daily`: `x` is not a number of 0 or more"),
        "{}",
        stderr(&garbled)
    );
}

#[test]
fn out_of_budget_a_job_collects_what_it_paid_for_and_uses_its_refunds() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("refunds-pay");
    // 30 addresses in batches of 10, 12 of which find nothing (refunded), under a budget of
    // 25: the third batch (10 at most) does not fit beside the first two (20 reserved), but
    // their refunds (8) make room for it. The job ends, having spent 18.
    let emails = emails_with_misses(&dir, 30);
    let out = output(
        against(&served, &dir, Provider::Enrich)
            .args([
                "--max-cost",
                "25",
                "enrich",
                "validate",
                "--batch-size",
                "10",
                "--poll-interval",
                "20ms",
            ])
            .arg(&emails)
            .arg("--output")
            .arg(dir.join("validated.csv")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        served.spent(Provider::Enrich, tollgate_sandbox::seed::ENRICH_KEY),
        18
    );
    let csv = std::fs::read_to_string(dir.join("validated.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "{csv}");

    // RocketReach lookups under a daily budget of 3 lookup credits: the fourth is refused,
    // and the three already paid for are still collected before the job stops.
    let people = dir.join("people.csv");
    std::fs::write(
        &people,
        "name,current_employer\nAda Lovelace,Acme\nGrace Hopper,Navy\nAlan Turing,Bletchley\nKatherine Johnson,NASA\nMargaret Hamilton,MIT\n",
    )
    .unwrap();
    let lookups = |budget: &str| {
        output(
            against(&served, &dir, Provider::RocketReach)
                .args([
                    "--budget",
                    budget,
                    "rocketreach",
                    "lookup",
                    "--poll-interval",
                    "20ms",
                ])
                .arg(&people)
                .arg("--output")
                .arg(dir.join("people.jsonl")),
        )
    };
    let out = lookups("lookup=3/daily");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5 items: 3 done, 0 failed, 0 unknown"),
        "{}",
        stderr(&out)
    );
    // With room for two more, a rerun looks up only the two left: five lookups in all.
    let out = lookups("lookup=5/daily");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        served
            .sandbox
            .answered(Provider::RocketReach)
            .get("create_person_lookup"),
        Some(&5)
    );
    let found = std::fs::read_to_string(dir.join("people.jsonl")).unwrap();
    assert_eq!(found.lines().count(), 5, "{found}");
    assert!(found.lines().all(|l| l.contains("\"complete\"")), "{found}");
}
