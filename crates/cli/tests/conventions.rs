//! The conventions users expect of a command line tool: shell completions, man pages, an
//! explicit output format, `-v`/`-q` and `RUST_LOG`, `TOLLGATE_CONFIG`, and the platform's real
//! default paths in `--help`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Served, TOLLGATE, output, scratch, tollgate};
use tollgate_sandbox::{Provider, seed};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish_and_name_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = output(Command::new(TOLLGATE).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        // A generated subcommand, a bulk command and a flag of each.
        for word in ["validate-email", "validate", "format", "resubmit-lost"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let bash = text(&output(Command::new(TOLLGATE).args(["completions", "bash"])).stdout);
    assert!(bash.contains("complete -F"), "not a bash completion script");
    let zsh = text(&output(Command::new(TOLLGATE).args(["completions", "zsh"])).stdout);
    assert!(
        zsh.starts_with("#compdef tollgate"),
        "not a zsh completion script"
    );
    let fish = text(&output(Command::new(TOLLGATE).args(["completions", "fish"])).stdout);
    assert!(
        fish.contains("complete -c tollgate"),
        "not a fish completion script"
    );

    let unknown = output(Command::new(TOLLGATE).args(["completions", "tcsh"]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("tcsh"));
}

#[test]
fn man_prints_the_root_page_and_writes_one_page_per_command() {
    let out = output(Command::new(TOLLGATE).arg("man"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.contains(".TH tollgate"),
        "not a roff man page: {page:.200}"
    );
    assert!(page.contains("completions"));

    let dir = scratch("man");
    let out = output(
        Command::new(TOLLGATE)
            .args(["man", "--dir"])
            .arg(dir.join("man1")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for name in [
        "tollgate.1",
        "tollgate-enrich.1",
        "tollgate-enrich-validate.1",
        "tollgate-rocketreach-lookup.1",
        "tollgate-usage.1",
    ] {
        let page = std::fs::read_to_string(dir.join("man1").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.contains(".TH"), "{name} is not a man page");
    }
    let validate =
        std::fs::read_to_string(dir.join("man1").join("tollgate-enrich-validate.1")).unwrap();
    assert!(validate.contains("format"), "the bulk page lists --format");
}

fn emails(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("emails.csv");
    std::fs::write(&path, "email\nada@figma.com\nnobody@figma.com\n").unwrap();
    path
}

#[test]
fn the_output_format_is_named_or_told_by_the_files_ending_never_guessed() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("format");
    let input = emails(&dir);
    let run = |args: &[&str]| {
        output(
            tollgate(&dir)
                .arg("--base-url")
                .arg(served.sandbox.base_url(Provider::Enrich))
                .args(["enrich", "validate"])
                .arg(&input)
                .args(["--poll-interval", "50ms"])
                .args(args),
        )
    };

    // `--output json` (a file with no ending): refused before anything is sent.
    let out = run(&["--output", dir.join("json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let message = text(&out.stderr);
    assert!(message.contains("--format"), "{message}");
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(!dir.join("json").exists());
    // An ending that names no format: refused too.
    let out = run(&["--output", dir.join("out.txt").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("`.txt`"));
    assert_eq!(served.spent(Provider::Enrich, seed::ENRICH_KEY), 0);
    // A format clap does not know: a usage error naming the choices.
    let out = run(&["--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("jsonl"), "{}", text(&out.stderr));

    // A poll interval is a human duration: a bare number (no unit) is refused.
    let out = output(
        tollgate(&dir)
            .arg("--base-url")
            .arg(served.sandbox.base_url(Provider::Enrich))
            .args(["enrich", "validate"])
            .arg(&input)
            .args(["--poll-interval", "5"]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let message = text(&out.stderr);
    assert!(message.contains("--poll-interval"), "{message}");
    assert!(message.contains("time unit"), "{message}");
    assert_eq!(served.spent(Provider::Enrich, seed::ENRICH_KEY), 0);

    // --format wins over the ending.
    let out = run(&[
        "--format",
        "jsonl",
        "--output",
        dir.join("results.txt").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let paid = served.spent(Provider::Enrich, seed::ENRICH_KEY);
    assert!(paid > 0);
    let written = std::fs::read_to_string(dir.join("results.txt")).unwrap();
    assert_eq!(written.lines().count(), 2);
    for line in written.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["status"], "done");
    }
    // The ending, when there is no --format; the same job (nothing sent again).
    let out = run(&["--output", dir.join("results.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(csv.starts_with("line,"), "{csv}");
    // On standard output: CSV, or JSON lines with --format jsonl.
    let out = run(&["--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("{\"line\":"),
        "{}",
        text(&out.stdout)
    );
    // The same job each time: paid once.
    assert_eq!(served.spent(Provider::Enrich, seed::ENRICH_KEY), paid);
}

#[test]
fn verbose_logs_each_call_on_standard_error_without_the_key_and_quiet_says_nothing() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("verbose");
    let call = |flags: &[&str], rust_log: Option<&str>| {
        let mut command = tollgate(&dir);
        command.env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        output(
            command
                .args(flags)
                .arg("--base-url")
                .arg(served.sandbox.base_url(Provider::Enrich))
                .args(["enrich", "validate-email", "--email", "ada@figma.com"]),
        )
    };
    let quiet_by_default = call(&[], None);
    assert_eq!(quiet_by_default.status.code(), Some(0));
    assert!(!text(&quiet_by_default.stderr).contains("tollgate.call"));

    let verbose = call(&["-v"], None);
    assert_eq!(verbose.status.code(), Some(0), "{}", text(&verbose.stderr));
    let log = text(&verbose.stderr);
    assert!(log.contains("tollgate.call"), "{log}");
    assert!(log.contains("validate_email"), "{log}");
    assert!(!log.contains(seed::ENRICH_KEY), "the key reached the log");

    // RUST_LOG overrides -v: off means nothing, even with -vvv.
    let off = call(&["-vvv"], Some("off"));
    assert!(
        !text(&off.stderr).contains("tollgate.call"),
        "{}",
        text(&off.stderr)
    );
    let debug = call(&[], Some("tollgate_cli=debug"));
    assert!(
        text(&debug.stderr).contains("settings read"),
        "{}",
        text(&debug.stderr)
    );

    // -q: a bulk job without its summary line; -q and -v together is a usage error.
    let input = emails(&dir);
    let bulk = |flags: &[&str]| {
        output(
            tollgate(&dir)
                .args(flags)
                .arg("--base-url")
                .arg(served.sandbox.base_url(Provider::Enrich))
                .args(["enrich", "validate"])
                .arg(&input)
                .args(["--poll-seconds", "0.05", "--output"])
                .arg(dir.join("out.csv")),
        )
    };
    let loud = bulk(&[]);
    assert!(
        text(&loud.stderr).contains("2 items"),
        "{}",
        text(&loud.stderr)
    );
    let quiet = bulk(&["-q"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(text(&quiet.stderr), "", "-q printed something");
    let both = bulk(&["-q", "-v"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn tollgate_config_names_the_config_file_and_help_shows_this_platforms_paths() {
    let dir = scratch("config-env");
    // A config whose budget refuses any validation: TOLLGATE_CONFIG must be the one read.
    let config = dir.join("strict.toml");
    std::fs::write(&config, "[enrich]\nbudget = 0\n").unwrap();
    let out = output(
        Command::new(TOLLGATE)
            .env("TOLLGATE_CONFIG", &config)
            .env("ENRICH_API_KEY", seed::ENRICH_KEY)
            .arg("--journal")
            .arg(dir.join("journal.sqlite3"))
            .args(["--base-url", "http://127.0.0.1:9/api/v3"])
            .args(["enrich", "validate-email", "--email", "ada@figma.com"]),
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    // A broken one named by the variable is an error naming it.
    std::fs::write(&config, "[enrich\n").unwrap();
    let out = output(
        Command::new(TOLLGATE)
            .env("TOLLGATE_CONFIG", &config)
            .arg("usage"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("strict.toml"),
        "{}",
        text(&out.stderr)
    );

    // --help: the defaults where this platform keeps them (here: the XDG directories).
    let help = output(
        Command::new(TOLLGATE)
            .env_remove("TOLLGATE_CONFIG")
            .env_remove("TOLLGATE_JOURNAL")
            .env("XDG_CONFIG_HOME", dir.join("cfg"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .arg("--help"),
    );
    let help = text(&help.stdout);
    let expected_config = dir.join("cfg").join("tollgate").join("config.toml");
    let expected_journal = dir.join("data").join("tollgate").join("journal.sqlite3");
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&expected_config.display().to_string()),
        "{help}"
    );
    assert!(
        flat.contains(&expected_journal.display().to_string()),
        "{help}"
    );
    assert!(flat.contains("TOLLGATE_CONFIG"), "{help}");
    assert!(flat.contains("130"), "the exit codes list 130: {help}");
}

/// `tollgate … | head`: a reader that closes the pipe stops the output quietly (exit 0, no
/// panic, no message), as other tools do; a write that fails otherwise is exit 1, said once.
#[test]
fn a_closed_pipe_stops_the_output_quietly_and_a_full_disk_is_an_error() {
    let served = Served::start(Duration::from_millis(50));
    let dir = scratch("closed-pipe");
    let input = dir.join("emails.csv");
    std::fs::write(&input, "email\na@example.com\nb@example.com\n").unwrap();
    let base = served.sandbox.base_url(Provider::Enrich);
    let commands: Vec<Vec<String>> = vec![
        vec!["completions".into(), "bash".into()],
        vec!["man".into()],
        vec!["usage".into()],
        vec![
            "--base-url".into(),
            base.clone(),
            "enrich".into(),
            "get-wallet-balance".into(),
        ],
        vec![
            "--json".into(),
            "--base-url".into(),
            base.clone(),
            "enrich".into(),
            "get-wallet-balance".into(),
        ],
        vec![
            "--base-url".into(),
            base.clone(),
            "enrich".into(),
            "validate".into(),
            input.display().to_string(),
            "--poll-interval".into(),
            "50ms".into(),
        ],
    ];
    // The command's exit code and standard error, its standard output going to `stdout`.
    let run = |args: &[String], stdout: std::process::Stdio| {
        let out = tollgate(&dir)
            .args(args)
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    for args in &commands {
        // A pipe whose reader is gone before the command writes: every write fails (EPIPE).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let (code, stderr) = run(args, writer.into());
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
    // The bulk job finished its work all the same: a second run resumes a finished job.
    let again = output(
        tollgate(&dir)
            .args(["--base-url", &base, "enrich", "validate"])
            .arg(&input)
            .args(["--poll-interval", "50ms"]),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("a@example.com"));
    // Any other failure to write is an error, said once.
    if std::path::Path::new("/dev/full").exists() {
        for args in [&commands[0], &commands[3]] {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let (code, stderr) = run(args, full.into());
            assert_eq!(code, Some(1), "{args:?}: {stderr}");
            assert_eq!(
                stderr
                    .matches("standard output: No space left on device")
                    .count(),
                1,
                "{args:?}: {stderr}"
            );
        }
    }
}
