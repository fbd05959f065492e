//! `cargo xtask bench-bulk`: the bulk job at any size. Builds the release `tollgate` and
//! `tollgate-sandbox`, serves Enrich with no rate limit, runs `tollgate enrich validate` on
//! CSV and JSON-lines files of each size (fresh journal each), and records the time per item,
//! the peak memory of the `tollgate` process (its `VmHWM`, read from `/proc` while it runs) and
//! the journal's bytes per item. Writes the section between the `bulk` markers of
//! `docs/PERFORMANCE.md` (the rest of the file is `cargo xtask bench`'s).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const BEGIN: &str = "<!-- bulk: written by `cargo xtask bench-bulk` -->";
const END: &str = "<!-- /bulk -->";

/// The Enrich key the bench's sandbox accepts (no rate limit, credits for a million items).
const KEY: &str = "sk_bench_0000000000000000000000000001";

/// One measured run.
struct Run {
    format: &'static str,
    items: usize,
    seconds: f64,
    peak_kb: u64,
    journal_bytes: u64,
}

impl Run {
    fn micros_per_item(&self) -> f64 {
        self.seconds * 1e6 / self.items as f64
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Kills the sandbox when the bench ends, however it ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_input(dir: &Path, items: usize, format: &str) -> Result<PathBuf> {
    let path = dir.join(format!("emails-{items}.{format}"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    if format == "csv" {
        writeln!(out, "email")?;
    }
    for i in 0..items {
        // Every tenth address is not found (refunded on settlement), as in real lists.
        let email = if i % 10 == 0 {
            format!("nobody{i}@example.org")
        } else {
            format!("person{i}@example{}.com", i % 97)
        };
        if format == "csv" {
            writeln!(out, "{email}")?;
        } else {
            writeln!(out, "{{\"email\":\"{email}\"}}")?;
        }
    }
    out.flush()?;
    Ok(path)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run_one(
    tollgate: &Path,
    base_url: &str,
    dir: &Path,
    items: usize,
    format: &'static str,
) -> Result<Run> {
    let input = write_input(dir, items, format)?;
    let journal = dir.join(format!("journal-{items}-{format}.sqlite3"));
    let _ = std::fs::remove_file(&journal);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[enrich]\nrate_limit = { requests = 100000, per_seconds = 1 }\n",
    )?;
    let started = Instant::now();
    let mut child = Command::new(tollgate)
        .env("ENRICH_API_KEY", KEY)
        .arg("--journal")
        .arg(&journal)
        .arg("--config")
        .arg(&config)
        .arg("--base-url")
        .arg(base_url)
        .args(["enrich", "validate"])
        .arg(&input)
        .arg("--output")
        .arg(dir.join(format!("out-{items}.{format}")))
        .args(["--batch-size", "1000", "--poll-seconds", "0.01"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tollgate")?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        let mut text = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        bail!("tollgate failed on {items} {format} items ({status}): {text}");
    }
    let journal_bytes = [journal.clone(), journal.with_extension("sqlite3-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let run = Run {
        format,
        items,
        seconds,
        peak_kb: peak,
        journal_bytes,
    };
    println!(
        "{format:>5} {items:>9} items: {seconds:8.1} s, {:6.1} µs/item, peak {:6.1} MB, journal {:6.0} B/item",
        run.micros_per_item(),
        peak as f64 / 1000.0,
        journal_bytes as f64 / items as f64
    );
    let _ = std::fs::remove_file(&input);
    Ok(run)
}

/// Runs the bulk bench for `sizes` and writes its section of docs/PERFORMANCE.md.
pub fn bench_bulk(root: &Path, sizes: &[usize]) -> Result<ExitCode> {
    if sizes.is_empty() {
        bail!("--sizes needs at least one size");
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "tollgate-cli",
            "-p",
            "tollgate-sandbox",
        ])
        .status()?;
    if !status.success() {
        bail!("the release build failed");
    }
    let dir = root.join("target/bench-bulk");
    std::fs::create_dir_all(&dir)?;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    // Every run (each size, each format) validates its items once: enough for all of them.
    let credits = sizes.iter().sum::<usize>() * 2 + 1000;
    let seed = dir.join("seed.json");
    std::fs::write(
        &seed,
        serde_json::json!({"enrich": [{"key": KEY, "credits": credits, "plan": "none"}]})
            .to_string(),
    )?;
    let port = free_port()?;
    let release = root.join("target/release");
    let _served = Served(
        Command::new(release.join("tollgate-sandbox"))
            .args([
                "--port",
                &port.to_string(),
                "--provider",
                "enrich",
                "--job-seconds",
                "0",
            ])
            .arg("--seed-file")
            .arg(&seed)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tollgate-sandbox")?,
    );
    let base_url = format!("http://127.0.0.1:{port}/api/v3");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the sandbox did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let tollgate = release.join("tollgate");
    let mut runs = Vec::new();
    for &items in sizes {
        for format in ["csv", "jsonl"] {
            runs.push(run_one(&tollgate, &base_url, &dir, items, format)?);
        }
    }
    let mut table = String::from(
        "| input | items | time | time per item | vs. the smallest | peak memory | journal per item |\n|---|---|---|---|---|---|---|\n",
    );
    let mut flat = true;
    for format in ["csv", "jsonl"] {
        let of: Vec<&Run> = runs.iter().filter(|r| r.format == format).collect();
        let Some(base) = of.first().map(|r| r.micros_per_item()) else {
            continue;
        };
        for r in &of {
            let ratio = r.micros_per_item() / base;
            flat &= ratio <= 1.2;
            table.push_str(&format!(
                "| {} | {} | {:.1} s | {:.1} µs | {:.2}× | {:.1} MB | {:.0} B |\n",
                if format == "csv" { "CSV" } else { "JSON lines" },
                r.items,
                r.seconds,
                r.micros_per_item(),
                ratio,
                r.peak_kb as f64 / 1000.0,
                r.journal_bytes as f64 / r.items as f64
            ));
        }
    }
    let largest_peak = runs
        .iter()
        .filter(|r| r.items == largest)
        .map(|r| r.peak_kb)
        .max()
        .unwrap_or(0) as f64
        / 1000.0;
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let section = format!(
        "{BEGIN}\n## Bulk jobs at any size\n\n\
         Last run: {date}, `cargo xtask bench-bulk` (release build of `tollgate` and \
         `tollgate-sandbox`, Enrich served with no rate limit and batches that complete at once, \
         batches of 1,000, one fresh journal per run, both processes on this machine). \
         Time is the whole command: reading and fingerprinting the file, journaling, every \
         submit, poll and results page, and writing the output.\n\n{table}\n\
         Goals: time per item flat from the smallest to the largest job (within 1.2×): \
         **{}**; peak memory of the {largest}-item job under 200 MB ({largest_peak:.1} MB): \
         **{}**.\n{END}\n",
        if flat { "met" } else { "missed" },
        if largest_peak < 200.0 {
            "met"
        } else {
            "missed"
        },
    );
    let path = root.join("docs/PERFORMANCE.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let text = match (text.find(BEGIN), text.find(END)) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{section}{}",
                &text[..a],
                &text[b + END.len()..].trim_start_matches('\n')
            )
        }
        _ => format!("{}\n{section}", text.trim_end()),
    };
    std::fs::write(&path, text)?;
    println!("wrote the bulk section of docs/PERFORMANCE.md");
    Ok(ExitCode::SUCCESS)
}

/// The sections of an existing report that other tasks wrote (the bulk section, and the
/// dependency section kept by hand between its markers), to keep when `cargo xtask bench`
/// rewrites the rest.
pub fn kept_section(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("docs/PERFORMANCE.md")).unwrap_or_default();
    let mut kept = String::new();
    for (begin, end) in [(BEGIN, END), (DEPS_BEGIN, DEPS_END)] {
        if let (Some(a), Some(b)) = (text.find(begin), text.find(end))
            && b > a
        {
            kept.push_str(&format!("\n{}\n", &text[a..b + end.len()]));
        }
    }
    kept
}

/// The markers of the dependency section (crates built, clean build times), measured by hand
/// as its text says.
const DEPS_BEGIN: &str = "<!-- deps: kept by `cargo xtask bench` -->";
const DEPS_END: &str = "<!-- /deps -->";
