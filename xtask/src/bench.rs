//! `cargo xtask bench`: runs the runtime benchmarks (`tests/benches/runtime.rs`, criterion, raw
//! reqwest + serde_json and the tollgate client side by side in one process against a loopback
//! server; and `tests/benches/memory.rs`, peak memory counted by an allocator of its own) and
//! writes `docs/PERFORMANCE.md`: each figure as a ratio measured in that one run, the machine,
//! and how to reproduce.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The median of one benchmark, in nanoseconds.
fn median(root: &Path, group: &str, id: &str) -> Result<f64> {
    let path = root
        .join("target/criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)?;
    v.pointer("/median/point_estimate")
        .and_then(Value::as_f64)
        .with_context(|| format!("no median in {}", path.display()))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu})")
}

fn micros(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1_000_000.0)
}

/// Raw reqwest and the client timed in alternating rounds (`timing.json`'s `paired`): the
/// medians of their time per call, in µs, and of the rounds' ratios (client over raw), with
/// the lowest and highest ratio.
struct Paired {
    raw_us: f64,
    client_us: f64,
    ratio: f64,
    low: f64,
    high: f64,
    /// The generated code's shape without the runtime: time per call and ratio over raw.
    generated_us: f64,
    generated_ratio: f64,
    /// The control, where the run timed it: raw, then a loop taking the client's CPU
    /// per call over raw's.
    spin: Option<Spin>,
}

/// The control side of a pair (`spin_*` in `timing.json`).
struct Spin {
    /// The CPU each call spent in the loop, in µs (the client's CPU per call over raw's).
    extra_us: f64,
    /// Time per call, in µs.
    us: f64,
    /// The median of the rounds' ratios over raw.
    ratio: f64,
}

impl Paired {
    /// The figures of measure `name`; an error names a figure the run did not write.
    fn read(timing: &Value, name: &str) -> Result<Paired> {
        Paired::read_at(timing, &format!("/paired/{name}"), "us")
    }

    /// The figures under `prefix`, each side's in `unit` (`us`, or `ns` read as µs).
    fn read_at(timing: &Value, prefix: &str, unit: &str) -> Result<Paired> {
        let get = |field: &str| {
            let pointer = format!("{prefix}/{field}");
            timing
                .pointer(&pointer)
                .and_then(Value::as_f64)
                .with_context(|| format!("the benchmark's timing.json has no number at {pointer}"))
        };
        let scale = if unit == "ns" { 1e-3 } else { 1.0 };
        let side = |name: &str| get(&format!("{name}_{unit}")).map(|v| v * scale);
        Ok(Paired {
            raw_us: side("raw")?,
            generated_us: side("generated")?,
            client_us: side("client")?,
            ratio: get("ratio")?,
            low: get("ratio_low")?,
            high: get("ratio_high")?,
            generated_ratio: get("generated_ratio")?,
            spin: match timing.pointer(&format!("{prefix}/spin_{unit}")) {
                None => None,
                Some(_) => Some(Spin {
                    extra_us: get("spin_extra_us")?,
                    us: side("spin")?,
                    ratio: get("spin_ratio")?,
                }),
            },
        })
    }

    /// The control's row under a latency or throughput row labelled `what`: raw, raw with
    /// its loop, and their ratio; or a row saying the run did not time it.
    fn control_row(&self, what: &str, throughput: bool) -> String {
        let Some(spin) = &self.spin else {
            return format!(
                "| control for \"{what}\": not timed in this run (no CPU figures) | — | — | — | — | |\n"
            );
        };
        let cells = if throughput {
            format!(
                "{:.0}/s | {:.0}/s | {:.2}",
                1e6 / self.raw_us,
                1e6 / spin.us,
                1.0 / spin.ratio
            )
        } else {
            format!(
                "{} | {} | {:.2}",
                micros(self.raw_us * 1e3),
                micros(spin.us * 1e3),
                spin.ratio
            )
        };
        format!(
            "| control for \"{what}\": raw, then {:.1} µs of CPU per call in a loop of arithmetic (the client's CPU over raw's) | {cells} | — | |\n",
            spin.extra_us
        )
    }

    /// The cells of the generated code's latency row (time ratio over raw).
    fn generated_latency_cells(&self) -> String {
        format!(
            "{} | {} | {:.2}",
            micros(self.raw_us * 1e3),
            micros(self.generated_us * 1e3),
            self.generated_ratio
        )
    }

    /// The cells of the generated code's throughput row (throughput ratio over raw).
    fn generated_throughput_cells(&self) -> String {
        format!(
            "{:.0}/s | {:.0}/s | {:.2}",
            1e6 / self.raw_us,
            1e6 / self.generated_us,
            1.0 / self.generated_ratio
        )
    }

    /// The raw, tollgate and ratio cells of a latency row: time per call, and the time ratio
    /// (the rounds' lowest to highest in brackets).
    fn latency_cells(&self) -> String {
        format!(
            "{} | {} | {:.2} ({:.2} to {:.2})",
            micros(self.raw_us * 1e3),
            micros(self.client_us * 1e3),
            self.ratio,
            self.low,
            self.high
        )
    }

    /// The cells of a throughput row: calls per second, and the throughput ratio (the
    /// inverse of the time ratio; the rounds' lowest to highest in brackets).
    fn throughput_cells(&self) -> String {
        format!(
            "{:.0}/s | {:.0}/s | {:.2} ({:.2} to {:.2})",
            1e6 / self.raw_us,
            1e6 / self.client_us,
            1.0 / self.ratio,
            1.0 / self.high,
            1.0 / self.low
        )
    }
}

/// The sides `bench_calls` makes calls of (`tests/src/bin/bench_calls.rs`).
const COUNTED_SIDES: [&str; 3] = ["raw", "generated", "client"];
/// The two lengths of a counted run: the difference between them is counted, so what a run
/// does once (starting the server, building the clients) cancels out.
const COUNTED_CALLS: [u64; 2] = [500, 2_500];

/// The instructions the calling thread (a program's first, the `current_thread` runtime's)
/// executed in a callgrind output file: its `totals:` line.
fn callgrind_total(text: &str) -> Result<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .context("no `totals:` line in callgrind's output")?;
    line.split_whitespace()
        .next()
        .context("an empty `totals:` line in callgrind's output")?
        .parse()
        .with_context(|| format!("callgrind's total `{}` is not a count", line.trim()))
}

/// Counts, under valgrind's callgrind, the instructions one call takes on the thread that
/// makes it, for each side (`bench_calls`, release build): the count of a run of 2,500 calls
/// less that of a run of 500, over 2,000. Written to `target/criterion/instructions.json`
/// (`null` where valgrind is not installed). A count does not change with what else the
/// machine does, so it is the one figure here that two runs repeat.
fn count_instructions(root: &Path) -> Result<()> {
    let out = root.join("target/criterion/instructions.json");
    std::fs::create_dir_all(root.join("target/criterion"))?;
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|o| o.status.success()) {
        println!("valgrind is not installed: the instruction counts are left out");
        std::fs::write(&out, "null")?;
        return Ok(());
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "tollgate-tests",
            "--no-default-features",
        ])
        .args(["--bin", "bench_calls"])
        .status()
        .context("building bench_calls")?;
    if !status.success() {
        bail!("building bench_calls failed ({status})");
    }
    let binary = root.join("target/release/bench_calls");
    let scratch = root.join("target/callgrind");
    std::fs::create_dir_all(&scratch)?;
    let mut counts = serde_json::Map::new();
    for side in COUNTED_SIDES {
        let mut totals = Vec::new();
        for calls in COUNTED_CALLS {
            let file = scratch.join(format!("{side}-{calls}.out"));
            let status = Command::new("valgrind")
                .arg("--tool=callgrind")
                .arg("--separate-threads=yes")
                .arg(format!("--callgrind-out-file={}", file.display()))
                .arg(&binary)
                .args([side, &calls.to_string()])
                .stderr(std::process::Stdio::null())
                .status()
                .context("running valgrind")?;
            if !status.success() {
                bail!("callgrind's run of {calls} {side} calls failed ({status})");
            }
            // The first thread's file: the one that makes the calls.
            let first = scratch.join(format!("{side}-{calls}.out-01"));
            let text = std::fs::read_to_string(&first)
                .with_context(|| format!("reading {}", first.display()))?;
            totals.push(callgrind_total(&text)?);
        }
        let calls = (COUNTED_CALLS[1] - COUNTED_CALLS[0]) as f64;
        let per_call = totals[1].saturating_sub(totals[0]) as f64 / calls;
        println!("{side}: {per_call:.0} instructions per call");
        counts.insert(side.to_owned(), per_call.into());
    }
    std::fs::write(&out, Value::Object(counts).to_string())?;
    Ok(())
}

/// The rows of the instructions per call (`instructions.json`), or one row saying they were
/// not counted.
fn instruction_rows(counts: &Value) -> Result<String> {
    if counts.is_null() {
        return Ok("| instructions per call on the calling thread (callgrind) | — | not measured: valgrind is not installed | — | — | |\n".to_owned());
    }
    let count = |side: &str| {
        counts
            .get(side)
            .and_then(Value::as_f64)
            .with_context(|| format!("no instruction count for `{side}` in instructions.json"))
    };
    let (raw, generated, client) = (count("raw")?, count("generated")?, count("client")?);
    Ok(format!(
        "| instructions per call on the calling thread, one call at a time (callgrind; `current_thread` runtime) | {raw:.0} | {client:.0} | {:.2} | — | |\n\
         | the same, the generated code without the runtime | {raw:.0} | {generated:.0} | {:.2} | — | |\n",
        client / raw,
        generated / raw,
    ))
}

/// The instruction counts in a sentence: what the generated code and the runtime each add.
fn instruction_summary(counts: &Value) -> String {
    let count = |side: &str| counts.get(side).and_then(Value::as_f64);
    match (count("raw"), count("generated"), count("client")) {
        (Some(raw), Some(generated), Some(client)) if client < raw => format!(
            "the generated code's shape adds {:.0} instructions per call to raw's {raw:.0}; \
             the client, which sends with the runtime's own transport rather than reqwest's \
             `execute`, takes {:.0} fewer than raw ({client:.0}, {:.2} of raw's)",
            generated - raw,
            raw - client,
            client / raw
        ),
        (Some(raw), Some(generated), Some(client)) => format!(
            "the generated code's shape adds {:.0} instructions per call to raw's {raw:.0}, \
             and the runtime {:.0} more ({:.0} in all, {:.2} of raw's)",
            generated - raw,
            client - generated,
            client - raw,
            client / raw
        ),
        _ => "not counted in this run (valgrind is not installed)".to_owned(),
    }
}

/// The figures of `timing.json`'s `cpu_per_call` (in ns); `None` where the system does not
/// report a thread's CPU time (`null`).
fn cpu_figures(timing: &Value) -> Result<Option<Paired>> {
    match timing.get("cpu_per_call") {
        None | Some(Value::Null) => Ok(None),
        Some(_) => Paired::read_at(timing, "/cpu_per_call", "ns").map(Some),
    }
}

/// The rows of the CPU each side's call takes on the thread that makes it, or one row saying
/// the system does not report it.
fn cpu_rows(timing: &Value) -> Result<String> {
    let Some(cpu) = cpu_figures(timing)? else {
        return Ok("| CPU per call on the calling thread | — | not measured: this system does not report a thread's CPU time (`/proc/thread-self/schedstat`) | — | — | |\n".to_owned());
    };
    Ok(format!(
        "| CPU per call on the calling thread, one call at a time (`current_thread` runtime: every step of the call on that thread) | {} |\n\
         | the same, the generated code without the runtime | {} | — | |\n",
        cpu.latency_cells(),
        cpu.generated_latency_cells(),
    ))
}

/// The CPU rows in a sentence: how much more CPU per call than raw's the client and the
/// generated code's shape took.
fn cpu_summary(timing: &Value) -> String {
    match cpu_figures(timing) {
        Ok(Some(cpu)) => format!(
            "{:.1} µs more per call than raw on the calling thread in this run (the generated \
             code's shape without the runtime: {:+.1} µs)",
            cpu.client_us - cpu.raw_us,
            cpu.generated_us - cpu.raw_us
        ),
        _ => "not measured in this run (the system does not report a thread's CPU time)".to_owned(),
    }
}

/// The control rows in a sentence: each control's ratio beside the client's, or that the
/// run did not time them. `pairs`: one call, 64 at once, and the same on the multi-thread
/// runtime.
fn control_summary(pairs: &[&Paired; 4]) -> String {
    let labels = [
        "one call at a time",
        "64 at once (throughput)",
        "one call at a time, multi-thread",
        "64 at once, multi-thread (throughput)",
    ];
    let mut parts = Vec::new();
    for (i, (pair, label)) in pairs.iter().zip(labels).enumerate() {
        let Some(spin) = &pair.spin else {
            return "not timed (the system does not report a thread's CPU time)".to_owned();
        };
        // The odd rows are throughput: the inverse of the time ratios.
        let (control, client) = if i % 2 == 1 {
            (1.0 / spin.ratio, 1.0 / pair.ratio)
        } else {
            (spin.ratio, pair.ratio)
        };
        parts.push(format!(
            "{label}, the control {control:.2} of raw against the client's {client:.2}"
        ));
    }
    let extra = pairs[0].spin.as_ref().map_or(0.0, |s| s.extra_us);
    format!(
        "with {extra:.1} µs of CPU per call in the loop, {}",
        parts.join("; ")
    )
}

/// How much CPU per call the one-call goal (1.05 of raw's time) leaves the runtime, at the
/// rate the control's time grew with its loop's CPU in this run.
fn goal_cpu(one: &Paired) -> String {
    let Some(spin) = one.spin.as_ref().filter(|s| s.extra_us > 0.0) else {
        return "not computed in this run (no control)".to_owned();
    };
    let rate = (spin.us - one.raw_us) / spin.extra_us;
    if rate <= 0.0 {
        return format!(
            "not computed in this run (the control was not slower than raw: {:.1} against {:.1} µs)",
            spin.us, one.raw_us
        );
    }
    format!(
        "one call at a time the control's time grew {rate:.1} µs per µs of its loop's CPU in this run, \
         so 1.05 of raw's {:.1} µs leaves the runtime about {:.1} µs of CPU per call",
        one.raw_us,
        0.05 * one.raw_us / rate
    )
}

/// What the client's time per call over raw's is at 64 at once (one worker), against its
/// control, and what 0.95 of raw's throughput would leave the runtime.
fn throughput_gap(many: &Paired) -> String {
    // Time ratios: the throughput ratio's inverse.
    let gap = many.raw_us * (many.ratio - 1.0);
    let allowed = many.raw_us * (1.0 / 0.95 - 1.0);
    let against = match &many.spin {
        Some(spin) if spin.ratio > many.ratio * 1.03 => format!(
            "{} the {:.1} µs of CPU the CPU rows count, and the control, which carries that \
             much, is slower than the client here ({:.2} of raw's throughput against {:.2}). So \
             the CPU rows count more than the runtime's own work: one call at a time, the \
             calling thread also pays the kernel for waking the server's and the connection's \
             threads after its longer pause, which a thread busy with 64 calls seldom has to do",
            if gap < spin.extra_us * 0.9 {
                "less than"
            } else if gap > spin.extra_us * 1.1 {
                "more than"
            } else {
                "about"
            },
            spin.extra_us,
            1.0 / spin.ratio,
            1.0 / many.ratio
        ),
        Some(spin) => format!(
            "the control, which carries the CPU rows' {:.1} µs, is {:.2} of raw's throughput \
             against the client's {:.2}",
            spin.extra_us,
            1.0 / spin.ratio,
            1.0 / many.ratio
        ),
        None => "no control was timed in this run".to_owned(),
    };
    if gap <= 0.0 {
        return format!(
            "the client's time per call is {:.1} µs under raw's {:.1} µs in this run: what its \
             own transport saves over reqwest's `execute` is more than what the runtime's steps \
             cost (the instruction rows){control}",
            -gap,
            many.raw_us,
            control = match &many.spin {
                Some(spin) => format!(
                    "; the control, which carries the CPU rows' {:.1} µs, is {:.2} of raw's \
                     throughput against the client's {:.2}",
                    spin.extra_us,
                    1.0 / spin.ratio,
                    1.0 / many.ratio
                ),
                None => String::new(),
            }
        );
    }
    format!(
        "the client's time per call is {gap:.1} µs over raw's {:.1} µs in this run, near the \
         runtime's steps timed in place (about 6.5 µs); that is {against}. 0.95 of raw's \
         throughput leaves the runtime {allowed:.1} µs per call",
        many.raw_us
    )
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// One release build of a provider crate alone (its dependencies already built): wall time
/// and the largest process's peak memory (from `/usr/bin/time -v`, when installed).
fn build_once(root: &Path, package: &str, schemas: bool) -> Result<(f64, Option<f64>)> {
    let mut args = vec!["build", "--release", "-q", "-p", package];
    if schemas {
        args.extend(["--features", "schemars"]);
    }
    // Dependencies first, untimed; then the crate alone.
    let primed = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(&args)
        .status()
        .context("building the crate's dependencies")?;
    if !primed.success() {
        bail!("cargo build -p {package} failed");
    }
    let crate_dir = package.trim_start_matches("tollgate-");
    let generated = root.join("crates").join(crate_dir).join("src/generated.rs");
    let text = std::fs::read(&generated)?;
    std::fs::write(&generated, text)?; // a new mtime: the crate is rebuilt
    let timed = Path::new("/usr/bin/time").exists();
    let started = std::time::Instant::now();
    let output = if timed {
        Command::new("/usr/bin/time")
            .current_dir(root)
            .arg("-v")
            .arg(env!("CARGO"))
            .args(&args)
            .output()
    } else {
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args(&args)
            .output()
    }
    .context("timing the build")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("cargo build -p {package} failed");
    }
    let peak = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map(|kb| kb * 1024.0);
    Ok((seconds, peak))
}

/// The compile-cost table: each provider crate's release build, with and without its JSON
/// Schemas (the `schemars` feature).
fn compile_cost(root: &Path) -> Result<String> {
    let mut rows = String::new();
    for package in [
        "tollgate-enrich",
        "tollgate-requestrocket",
        "tollgate-rocketreach",
        "tollgate-spidernews",
    ] {
        let (with_s, with_m) = build_once(root, package, true)?;
        let (without_s, without_m) = build_once(root, package, false)?;
        let mem = |m: Option<f64>| m.map_or_else(|| "—".to_owned(), megabytes);
        let ratio = match (with_m, without_m) {
            (Some(a), Some(b)) => format!("{:.2}", b / a),
            _ => "—".to_owned(),
        };
        rows.push_str(&format!(
            "| `{package}` | {with_s:.1} s, {} | {without_s:.1} s, {} | {:.2} | {ratio} |\n",
            mem(with_m),
            mem(without_m),
            without_s / with_s,
        ));
    }
    Ok(rows)
}

/// The compile table's rows as `text` (a `docs/PERFORMANCE.md`) holds them.
fn compile_table_of(text: &str) -> Result<String> {
    let section = text.split("## Compile cost\n").nth(1).context(
        "docs/PERFORMANCE.md has no compile-cost section to keep; run `cargo xtask bench` in full",
    )?;
    let rows: String = section
        .lines()
        .filter(|line| line.starts_with("| `tollgate-"))
        .map(|line| format!("{line}\n"))
        .collect();
    if rows.is_empty() {
        bail!(
            "docs/PERFORMANCE.md's compile-cost section has no crate rows to keep; run `cargo xtask bench` in full"
        );
    }
    Ok(rows)
}

/// Runs the benchmark and writes the report; with `report_only`, writes the report again from
/// the last run's results and the document's own compile table.
pub fn bench(root: &Path, report_only: bool) -> Result<ExitCode> {
    if report_only {
        let text = std::fs::read_to_string(root.join("docs/PERFORMANCE.md"))
            .context("reading docs/PERFORMANCE.md")?;
        return report(root, compile_table_of(&text)?);
    }
    let compile = compile_cost(root)?;
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "bench",
            "-p",
            "tollgate-tests",
            // The client as a user gets it: without the opt-in `metrics` feature, which only
            // the telemetry tests need.
            "--no-default-features",
            "--bench",
            "runtime",
            "--bench",
            "memory",
            "--",
            "--noplot",
        ])
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    count_instructions(root)?;
    report(root, compile)
}

/// Writes `docs/PERFORMANCE.md` from the results in `target/criterion/` and the compile table.
fn report(root: &Path, compile: String) -> Result<ExitCode> {
    // The Redis rows' baseline: criterion's medians of the same client without Redis.
    let one_client = median(root, "one_call", "client")?;
    let many_client = median(root, "64_at_once", "client")?;
    let miss_plain = median(root, "cache", "miss_without_cache")?;
    let miss_memory = median(root, "cache", "miss_memory")?;
    let miss_sqlite = median(root, "cache", "miss_sqlite")?;
    let hit_memory = median(root, "cache", "hit_memory")?;
    let hit_sqlite = median(root, "cache", "hit_sqlite")?;
    let slow_plain = median(root, "cache_5ms", "miss_without_cache")?;
    let slow_sqlite = median(root, "cache_5ms", "miss_sqlite")?;
    let cache_rows = format!(
        "| cache: a hit in memory against the call it replaces | {plain} | {hit_m} | {r_hm:.2} | — | |\n\
         | cache: a hit in a SQLite file against the call it replaces | {plain} | {hit_s} | {r_hs:.2} | — | |\n\
         | cache: what a memory cache adds to a miss | {plain} | {miss_m} | {r_mm:.2} | ≤ 1.05 | {v_mm} |\n\
         | cache: what a SQLite cache (the CLI's) adds to a miss | {plain} | {miss_s} | {r_ms:.2} | ≤ 1.05 | {v_ms} |\n\
         | cache: what a SQLite cache adds to a miss, against a server that answers in 5 ms | {slow_p} | {slow_s} | {r_ss:.3} | ≤ 1.05 | {v_ss} |\n",
        plain = micros(miss_plain),
        hit_m = micros(hit_memory),
        hit_s = micros(hit_sqlite),
        miss_m = micros(miss_memory),
        miss_s = micros(miss_sqlite),
        r_hm = hit_memory / miss_plain,
        r_hs = hit_sqlite / miss_plain,
        r_mm = miss_memory / miss_plain,
        r_ms = miss_sqlite / miss_plain,
        v_mm = verdict(miss_memory / miss_plain <= 1.05),
        v_ms = verdict(miss_sqlite / miss_plain <= 1.05),
        slow_p = micros(slow_plain),
        slow_s = micros(slow_sqlite),
        r_ss = slow_sqlite / slow_plain,
        v_ss = verdict(slow_sqlite / slow_plain <= 1.05),
    );
    let budget_fresh = median(root, "budget_check", "after_0_calls")?;
    let budget_long = median(root, "budget_check", "after_1000000_calls")?;
    // Measured only where redis-server is installed.
    let shared_one = median(root, "shared_redis", "one_call").ok();
    let shared_many = median(root, "shared_redis", "64_at_once").ok();
    let shared_rows = match (shared_one, shared_many) {
        (Some(one), Some(many)) => {
            let added = one - one_client;
            format!(
                "| Redis-shared pace and budget: added latency per call (p50) | {one_client_s} | {one_s} | +{added_s} | ≤ +0.3 ms | {v} |\n\
                 | Redis-shared: throughput ceiling, 64 calls at once | {many_client_tp:.0}/s | {shared_tp:.0}/s | {ratio:.2} | — | |\n",
                one_client_s = micros(one_client),
                one_s = micros(one),
                added_s = micros(added.max(0.0)),
                v = verdict(added <= 300_000.0),
                many_client_tp = 64.0 / (many_client / 1e9),
                shared_tp = 64.0 / (many / 1e9),
                ratio = many_client / many,
            )
        }
        _ => "| Redis-shared pace and budget | — | — | — | ≤ +0.3 ms | not measured: redis-server is not installed |\n".to_owned(),
    };
    let memory: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("target/criterion/memory.json"))
            .context("reading the benchmark's memory figures")?,
    )?;
    let mem = |p: &str| {
        memory
            .pointer(p)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let (large_mem_raw, large_mem_client) = (mem("/large_answer/raw"), mem("/large_answer/client"));
    let (batch_raw, batch_client, body) = (
        mem("/batch_submit/raw"),
        mem("/batch_submit/client"),
        mem("/batch_submit/body"),
    );
    let (big_batch_raw, big_batch_client, big_body) = (
        mem("/batch_submit_500000/raw"),
        mem("/batch_submit_500000/client"),
        mem("/batch_submit_500000/body"),
    );
    let timing: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("target/criterion/timing.json"))
            .context("reading the benchmark's pacing and long-lived figures")?,
    )?;
    let timed = |p: &str| {
        timing
            .pointer(p)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let counts: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("target/criterion/instructions.json"))
            .context("reading the benchmark's instruction counts")?,
    )?;
    let (pace_rate, pace_429) = (timed("/pacing/rate_over_plan"), timed("/pacing/throttled"));
    let pace_rate_4 = timed("/pacing/rate_over_plan_4");
    let (long_first, long_later) = (
        timed("/long_lived/first"),
        timed("/long_lived/after_1000000"),
    );
    let decode_typed = median(root, "decode_10000_rows", "typed")?;
    let decode_value = median(root, "decode_10000_rows", "value")?;
    let mut sandbox_rows = String::new();
    for provider in ["rocketreach", "requestrocket", "enrich", "spidernews"] {
        let ns = median(root, "sandbox_64_at_once", provider)?;
        sandbox_rows.push_str(&format!(
            "| sandbox throughput, {provider} (64 calls at once through its client) | — | {:.0}/s | — | — | |\n",
            64.0 / (ns / 1e9)
        ));
    }

    // Raw against the client in alternating rounds (the benchmark's `paired`).
    let one = Paired::read(&timing, "one_call")?;
    let many = Paired::read(&timing, "64_at_once")?;
    let one_mt = Paired::read(&timing, "one_call_multi_thread")?;
    let many_mt = Paired::read(&timing, "64_at_once_multi_thread")?;
    let one_slow = Paired::read(&timing, "one_call_5ms")?;
    let many_slow = Paired::read(&timing, "64_at_once_5ms")?;
    let rounds = timed("/paired/one_call/rounds");
    let large = Paired::read(&timing, "large_answer")?;
    let large_memory = large_mem_client / large_mem_raw;
    let batch = batch_client / body;
    let budget = budget_long / budget_fresh;
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let report = format!(
        "# Performance

What the tollgate runtime costs over raw reqwest + serde_json decoding into the same generated
type, measured side by side **in one run** of `cargo xtask bench` (criterion; the figures are
medians; machines here are noisy, so only ratios within one run are compared). The server is a
loopback axum server in the benchmark process, on its own runtime thread; the client runtime has
one worker thread, and the rows marked multi-thread run on tokio's default multi-thread
runtime (a worker per core, what `#[tokio::main]` gives; 64 calls are 64 spawned tasks).
The rows down to the 10,000-row answer's time are timed outside criterion, in rounds that each time raw, the generated
code without the runtime and the client (and, for the control rows, raw with its loop) back to back ({rounds:.0} rounds of 4,000 calls a side,
or 300 times 64: about half a second; against the server that answers in 5 ms, 5 rounds of
200 calls, or 150 times 64; which side goes first rotates). The raw and tollgate columns
are each side's median time; the ratio is the median of the rounds' ratios (the client's
lowest and highest in brackets), so it need not be the quotient of the columns. On this
machine three busy threads (the server, the awaiting thread, the connections' worker) share
two cores, and where the scheduler puts them changes the speed of every side by up to a third
for seconds at a time. Timed one after the other, as criterion does, such a change between
two timings showed up as a difference between raw and the client: one build gave 0.63 for 64
at once in a whole run and 0.80 with that group run alone, and in a third run (the cache
groups, then this one) raw came out slower than the client. Rounds back to back see the same
placement on every side. The two CPU rows count, instead of time, the CPU one call takes on
the thread that makes it (Linux's count per thread), on a `current_thread` runtime where every
step of the call, its connection's too, runs on that thread (12 rounds of 3,000 calls a side):
waiting for the server is not CPU time. It is steadier than time, not immune: the kernel's
loopback delivery and its wake-ups of the other threads are counted on the calling thread,
and cost more when a thread must be woken. On 2026-12-07 the client's CPU ratio was 1.28 and
1.41 in two runs of this benchmark, and 1.29 to 1.35 in nine runs of a scratch harness.
The instruction rows count, under valgrind's callgrind, the instructions one call
executes on the thread that makes it (`tests/src/bin/bench_calls.rs`: the same three calls on
a `current_thread` runtime, a run of 2,500 calls less a run of 500, so what a run does once
cancels out): a count that nothing else on the machine changes, so it is the one figure
here that two runs repeat. It counts work, not time: a cache miss or a wake costs one
instruction there, and far more on the clock.
The \"generated code without the runtime\" rows build the request and
decode the answer as the generated `list_entities` does (the same builder calls, progenitor's
`ResponseValue::from_response`, which is what the generated code's decoding does without the
runtime) and send it with `reqwest::Client::execute` where the
generated code hands it to the runtime (`tests/src/bench.rs`, `generated_shape_call`). The
tollgate client runs with its defaults except pacing (`rate_limit(None)`, so the limiter does
not set the speed): auth, the budget reservation, retries (armed), the answer size limit, the
cost probe, the ledger, the tracing span; it is built without the opt-in `metrics` feature, as
a user gets it (with it, each call also builds its metrics' labels).

Last run: {date}, {machine}, `cargo xtask bench` (release build).

| measure | raw | tollgate | ratio | goal | |
|---|---|---|---|---|---|
| latency, one call at a time (3-entity Spider News answer) | {one_latency} | ≤ 1.05 | {v_latency} |
| throughput, 64 calls at once | {many_throughput} | ≥ 0.95 | {v_throughput} |
| latency, one call at a time, tokio's default multi-thread runtime | {one_mt_latency} | ≤ 1.05 | {v_latency_mt} |
| throughput, 64 calls at once (64 tasks), tokio's default multi-thread runtime | {many_mt_throughput} | ≥ 0.95 | {v_throughput_mt} |
{control_rows}| the generated code's request building and decoding without the runtime: one call at a time | {one_generated} | — | |
| the same, 64 calls at once | {many_generated} | — | |
| latency, one call at a time, against a server that answers in 5 ms | {slow_latency} | — | |
| throughput, 64 calls at once, against a server that answers in 5 ms | {slow_throughput} | — | |
{cpu_rows}{instruction_rows}| 10,000-row answer, time | {large_latency} | ≤ 1.1 | {v_large_time} |
| 10,000-row answer, peak memory | {large_mem_raw_s} | {large_mem_client_s} | {large_memory:.2} | ≤ 1.2 | {v_large_memory} |
| Enrich batch submit, 100,000 addresses ({body_s} body), peak memory | {batch_raw_s} | {batch_client_s} | {batch:.2} × the body | ≤ 2 × the body | {v_batch} |
| budget check after 1,000,000 calls vs a fresh ledger | {budget_fresh_s} | {budget_long_s} | {budget:.2} | O(1) | {v_budget} |
| Enrich batch submit, 500,000 addresses ({big_body_s} body), peak memory | {big_batch_raw_s} | {big_batch_client_s} | {big_batch:.2} × the body | ≤ 2 × the body | {v_big_batch} |
| decode of a 10,000-row answer: the generated type vs `serde_json::Value` | {decode_value_s} | {decode_typed_s} | {decode:.2} | — | |
| pacing at 100/s against a server allowing 100 in any rolling second, 2,000 calls by 4 callers (real clock) | — | {pace_rate_4:.3} of the plan | {pace_rate_4:.3} | ≥ 0.98, no 429 | {v_pace} |
| the same, 2,000 calls by one caller after another | — | {pace_rate:.3} of the plan | {pace_rate:.3} | — | |
| 429s in both pacing runs | — | {pace_429:.0} | — | 0 | |
| a long-lived client with a budget: calls/s after 1,000,000 calls vs its first 20,000 | {long_first:.0}/s | {long_later:.0}/s | {long:.2} | flat | {v_long} |
{cache_rows}{sandbox_rows}{shared_rows}
How the figures are read: latency and time ratios are tollgate over raw (lower is better);
throughput is tollgate's calls per second over raw's (higher is better); peak memory is the
heap growth of the client's threads during one call, counted by a benchmark of its own
(`tests/benches/memory.rs`, with `tracking-allocator`: the client's runtime threads and the
measuring thread each enter an allocation group; the servers, in the same process, are in none,
so their reading of a request is not counted); the timings run without that allocator. The batch's
raw figure serializes the same addresses with serde_json and posts them. The decode row times
serde_json alone (no HTTP). The cache rows compare one client without a cache (\"raw\" column)
with the same client given a cache: a miss asks a question never asked before (so it is sent,
and its answer kept: in memory, or written to a SQLite file in WAL mode), a hit asks one already
answered (nothing is sent). Against a loopback server that answers in 0.1 ms, the cache's own
work on a miss (the request's identity and key, a look in the store, the lock that makes N
identical calls pay once, and the answer's write, done in the background) is a large share of
the call; against a server that answers in 5 ms (a fast provider: RocketReach and Enrich take
100 ms and more) it is the last row. The sandbox rows are the sandbox and the generated client together
on this machine (each on one thread), for sizing tests that use it. Pacing and the long-lived
client are timed once on the real clock (the suite checks pacing exactly on tokio's paused
clock). The limiter schedules each call at its slot's theoretical arrival time, reserved when the
call asks, so a sleep that ends late (tokio's timer ticks every millisecond) delays that call only;
an earlier limiter counted each slot from the admission and lost up to 1 ms of every 10 ms slot
(0.90 of a 100/s plan). Slots are spaced 1% wider than the plan, the margin that keeps a call
woken up to one interval late from putting a strict rolling window over the plan, so 0.99 is the
most this row can show. The Redis rows compare
the same client without and with `.shared(RedisStore)` (a `redis-server` on loopback started by
the benchmark): each call then runs three Lua scripts (acquire a pace slot, reserve, settle).

What the runtime does per call, and what limits the figures that miss their goal:

- Since 2026-12-07 the client sends its attempts with the runtime's own HTTP/1.1 transport
  (hyper-util's pooled client and rustls, the crates reqwest is built on; `docs/runtime.md`,
  \"The transport\"), not with reqwest's `execute`, whose layers the runtime does not use (a
  redirect layer that prints and parses the URL again on every request, a retry layer, proxy
  matching, a second URL per answer). That took about 26,000 instructions off a call: the
  client took 101,056 in the run before, 1.20 of raw's. The runtime's own steps are all still
  there (about 15,000 instructions: the rows below name them); they now cost less than the
  layers they replaced. Raw stays what it was, a call with reqwest alone.
- One call at a time on the multi-thread runtime, what is left is wakes between threads more
  than work. Counted with `strace -f -c` over 5,000 such calls (a scratch harness, the same
  server): raw reqwest made 5,405 `write`s (mostly wake-ups of a parked worker); the client made
  11,908 while its transport armed the attempt's timeout after handing the request to its
  connection, and 6,985 since it arms it before (a timer armed while the runtime's driver sleeps
  with no timer wakes the driver, and a wake made before the hand-over is one the hand-over
  needs anyway). Raw reqwest with a 60 s timeout made 6,622: raw sends with no timeout, so it
  pays none of this. On the `current_thread` runtime the driver is the calling thread, and a
  timer costs no wake.
- The same few microseconds of the runtime's work per call weigh little against a server that
  takes 5 ms to answer (a fast provider; RocketReach and Enrich take 100 ms and more): there
  the client's time is {slow_one:.3} of raw's one call at a time, and its throughput {slow_many:.3} of
  raw's 64 at once. The loopback rows, where the server answers in microseconds, magnify that
  work; they are where it shows, not what a user waits.
- Every answer is read once into memory, up to the size limit (never the whole of an endless
  body), and handed to the generated code, which decodes it: the same work as raw, plus the
  limit's bookkeeping.
- The cost the answer reports (`rows_returned`, `meta.creditsUsed`) is read in one pass that
  builds no `Value` and stops once every value it wants is found (`tollgate::probe`): a
  `rows_returned` at the head of a 10,000-row answer costs nothing of the rows after it. Batch
  item counts are scanned the same way, on the request's own bytes (no copy).
- The 10,000-row answer's time ratio moved between 1.03 and 1.17 over five runs on one day on
  this machine while the probe read the whole answer; it no longer does that work, and what
  is left of the client's own work on it is the read into memory before the same decode.
  Timed by criterion, raw's samples and then the client's, the ratio still went from 0.74 to
  1.21 between runs of one day (2026-12-07) with the same code: the machine's speed changing
  between the two timings. It is now timed in alternating rounds like the rows above
  (40 calls a side, 15 rounds): this run's rounds range from {large_low:.2} to {large_high:.2}.
- The budget check is O(1) at any ledger length (running totals; the ledger keeps a window of
  recent entries).
- Left per call: a copy of the request's head for a possible retry or redirect, the
  reservation guard, a tracing span, the call's record, and one box of about 4 KB that holds
  the call's steps. The future a generated `send()` returns is 152 bytes and `Runtime::send`'s
  464 (they were 4.0 KB and 2.4 KB, and a caller that moved them, into `join_all` or a spawned
  task, copied that much per call).
- What the runtime's steps cost is read best in instructions and CPU, not time. In
  instructions (the callgrind rows): {instruction_summary}. In CPU (the CPU rows):
  {cpu_summary}. Two changes on 2026-12-07 took a quarter of the client's instructions over
  raw's away: a generated `send()` decodes the bytes the runtime read (`tollgate::__private::decode`)
  instead of reading them again from an answer built anew around them (its head, URL and
  extensions copied: seven allocations), and the generated code no longer builds a header
  map for progenitor's `api-version` header, which the runtime then removed from every
  request. Counted with callgrind on a scratch harness of the same three calls (3,000 of
  each, the same server), the client took 23,700 instructions and 24 allocations per call
  more than raw before them, and 17,550 and 12 after; the generated code's shape 3,700 and
  2 before, 1,200 and none after. Timed step by step in place before those changes (a scratch build on 2026-12-07, one call at a time on a `current_thread` runtime, 40,000 calls; not part of this run), in
  µs per call: reading the cost from the answer 1.65, rebuilding the answer around its body
  for the generated code 1.05 (no longer done for a generated call), reading the body into memory under the size limit 0.6,
  settling the hold and recording the call 0.6, the attempt's bookkeeping with the retry
  copy 0.55, the pricing around the probe 0.45, the maximum cost from the query 0.4, the
  credential 0.3, the hold 0.25, dropping reserved headers 0.25, and the span, the record
  and the clock readings about 0.1 each: about 6.5 µs. Those are cold timings: between two
  calls the caches fill with the connection's and the server's work, and each step brings
  its code and data back in. The cost probe alone, looped over the same answer, takes
  0.16 µs, a tenth of its time in place. So the rest of the difference is in no one step
  either: the layers of the call's future polled on every wake, the boxes and copies
  between them, and, most likely, the caches' misses on the runtime's code and data, which
  also slow the code around them. reqwest's own `execute` takes about 4 µs to start a request
  on both sides. Counted with a counting allocator on the same runtime (the client's
  side only), before the two changes above, a call made 64 allocations raw, 67 in the
  generated code's shape and 89 through the client: the answer's rebuild (7, now gone for a
  generated call), the retry copy (6, three of them reqwest's for the request's timeout
  setting), the cost probe (4: its results, and three for the error that stops the pass
  once everything is found: the probe's own, the one serde_json makes at the unfinished
  object's end, and the probe's again with its position), the call's record and box (3),
  and the ledger's operation names (2).
- The four control rows ask whether that CPU explains the client's whole gap. They time, in
  the same rounds, a fourth side: raw reqwest, then a loop of arithmetic that touches no
  memory, calibrated to take as much CPU as the client's call takes over raw's (the CPU
  rows' difference in this run; calibrated against the thread's CPU count over 300 ms, so
  a thread that is not running pauses it, as it pauses the client's work). No runtime, no
  allocation, no extra wake: only the CPU. (A first version spun on the wall clock instead,
  and gave the same figures within this machine's noise: 1.23, 0.52, 1.25 and 0.76 against
  the client's 1.18, 0.81, 1.34 and 0.84, in a run on 2026-12-07.)
  This run: {control_summary}. Where the control is as slow as the client, any runtime that
  spends that much CPU on the calling thread, however it is shaped, is as slow on this
  server, and the goals of 1.05 and 0.95 there ask for a runtime that costs a fraction of
  that CPU: {goal_cpu}. At 64 at once: {throughput_gap}.
- One call at a time, the ratio is set by a race between threads more than by the client's
  CPU. The call runs on the thread that awaits it and its connection on a runtime worker; when
  the awaiting thread takes the answer's body, the worker is woken to go on with the
  connection, and for a few microseconds after that it is awake: a request sent within that
  window costs no wake, a request sent later must wake a sleeping thread (on this virtual
  machine 10 to 20 µs, on the request's path). Measured with raw reqwest alone (the same
  server, a busy wait after each call, all waits in one process, medians of 8 rounds of 2,000
  calls): waits of 0, 2 and 4 µs left the call at 91.3, 91.6 and 91.6 µs; waits of 6, 8, 12
  and 24 µs made it 103.8, 111.3, 119.2 and 150.5 µs, about 2.5 times the wait. Raw reqwest's
  own work between an answer and its next request (decoding, building the request) is about
  4 µs, inside the window; the client's was about 13 µs before the futures were made small
  (timed in place, in microseconds per call: the generated code's request building 3.5 against raw's 1.5, the hold and span 2.0,
  reading the cost 1.8, rebuilding the answer 1.1, settling and recording 1.5, the generated
  decode 3.7 against raw's 1.9), outside it. For the same bytes on the wire the wait for the
  answer was then 96 to 104 µs through the client against 73 to 77 µs for raw. Every
  microsecond taken off that path counts about 2.5 times, which is why the smaller futures
  moved the one-call figure too. The generated code's own request building and decoding are
  not what is left: timed whole without the runtime, they are as fast as raw within this
  machine's noise ({one_gen:.2} of raw's time one call at a time, {many_gen:.2} of its
  throughput 64 at once, in the rows above); the in-place timings of 3.5 and 3.7 µs were
  taken inside the client's call and do not hold for that code alone. What is left is the
  runtime's own steps: the retry copy, the hold and the span, reading the cost, settling
  and recording the call before it returns (a
  call that has returned has been counted against the budget). Tried and dropped: running
  each exchange in a task beside its connection, so the answer and its body never cross
  threads; every call then pays two full wakes (1.51 of raw, against 1.24 in the same runs).
  Because the figure depends on which side of the window the next request lands, it swings
  more than any other: this run's rounds range from {one_low:.2} to {one_high:.2} (over the
  runs of this document's history, timed apart by criterion, it went from 0.99 to 1.46).
- A batch submit's body is serialized by the generated code into a buffer of its exact size
  (its bytes counted first: `tollgate::__private::json_body`), where raw's `serde_json::to_vec`
  grows a buffer by doubling and holds up to three times the body while it moves.

## Compile cost

Each generated crate alone, one release build on this machine (its dependencies already built;
time is wall clock, memory the peak of the largest process, rustc). The models' JSON Schemas
(`schemars::JsonSchema`, which the CLI's and the snapshot tests' code needs) are behind each
crate's `schemars` feature, off by default; `--features schemars` builds them:

| crate | with `schemars` | default (without) | time ratio | memory ratio |
|---|---|---|---|---|
{compile}
What remains is the models' serde code and one builder and `send()` per operation: the size of
the providers' APIs (Enrich has 47 operations and 256 models). A builder's setters are generic
(`impl TryInto<T>`), so they cost nothing until called.

Reproduce: `cargo xtask bench` (about 16 minutes with the builds; the instruction counts need
valgrind, and are left out without it); the raw numbers are in
`target/criterion/`. `cargo xtask bench --report-only` writes this document again from them
(and the compile table above) without running anything, for a change of its text.
",
        cpu_rows = cpu_rows(&timing)?,
        instruction_rows = instruction_rows(&counts)?,
        instruction_summary = instruction_summary(&counts),
        control_summary = control_summary(&[&one, &many, &one_mt, &many_mt]),
        goal_cpu = goal_cpu(&one),
        throughput_gap = throughput_gap(&many),
        control_rows = [
            one.control_row("one call at a time", false),
            many.control_row("64 calls at once", true),
            one_mt.control_row("one call at a time, multi-thread", false),
            many_mt.control_row("64 calls at once, multi-thread", true),
        ]
        .concat(),
        cpu_summary = cpu_summary(&timing),
        one_generated = one.generated_latency_cells(),
        one_gen = one.generated_ratio,
        many_gen = 1.0 / many.generated_ratio,
        one_low = one.low,
        one_high = one.high,
        many_generated = many.generated_throughput_cells(),
        slow_latency = one_slow.latency_cells(),
        slow_one = one_slow.ratio,
        slow_many = 1.0 / many_slow.ratio,
        slow_throughput = many_slow.throughput_cells(),
        one_latency = one.latency_cells(),
        many_throughput = many.throughput_cells(),
        one_mt_latency = one_mt.latency_cells(),
        many_mt_throughput = many_mt.throughput_cells(),
        v_latency = verdict(one.ratio <= 1.05),
        v_throughput = verdict(1.0 / many.ratio >= 0.95),
        v_latency_mt = verdict(one_mt.ratio <= 1.05),
        v_throughput_mt = verdict(1.0 / many_mt.ratio >= 0.95),
        rounds = rounds,
        large_latency = large.latency_cells(),
        large_low = large.low,
        large_high = large.high,
        large_mem_raw_s = megabytes(large_mem_raw),
        large_mem_client_s = megabytes(large_mem_client),
        body_s = megabytes(body),
        batch_raw_s = megabytes(batch_raw),
        batch_client_s = megabytes(batch_client),
        budget_fresh_s = micros(budget_fresh),
        budget_long_s = micros(budget_long),
        machine = machine(),
        v_large_time = verdict(large.ratio <= 1.1),
        v_large_memory = verdict(large_memory <= 1.2),
        v_batch = verdict(batch <= 2.0),
        v_budget = verdict(budget <= 1.5),
        big_body_s = megabytes(big_body),
        big_batch_raw_s = megabytes(big_batch_raw),
        big_batch_client_s = megabytes(big_batch_client),
        big_batch = big_batch_client / big_body,
        v_big_batch = verdict(big_batch_client / big_body <= 2.0),
        decode_value_s = micros(decode_value),
        decode_typed_s = micros(decode_typed),
        decode = decode_typed / decode_value,
        v_pace = verdict(pace_rate_4 >= 0.98 && pace_429 == 0.0),
        long = long_later / long_first,
        v_long = verdict(long_later / long_first >= 0.9),
    );
    // The bulk section is `cargo xtask bench-bulk`'s: kept as it is.
    let report = format!("{report}{}", crate::bulk_bench::kept_section(root));
    std::fs::write(root.join("docs/PERFORMANCE.md"), report)?;
    println!("wrote docs/PERFORMANCE.md");
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask fuzz`: the property-based fuzz targets (`tests/tests/fuzz.rs`, and the
/// down-converter's in `xtask`) with `cases` cases each, in release builds; prints the counts
/// and time, and records them in the "Last fuzz run" part of `docs/RELIABILITY.md`. A failing
/// input is kept by proptest in `tests/proptest-regressions/` and replayed by every test run.
pub fn fuzz(root: &Path, cases: u32) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut ran = Vec::new();
    // The workspace tests are one binary: its fuzz module, then the down-converter's.
    for (package, target, filter) in [
        ("tollgate-tests", Some("--test=workspace"), "fuzz::"),
        ("xtask", None, "fuzz"),
    ] {
        let mut command = Command::new(env!("CARGO"));
        command
            .current_dir(root)
            .args(["test", "--release", "-p", package]);
        command.args(target).args(["--", filter]);
        let output = command
            .env("PROPTEST_CASES", cases.to_string())
            .output()
            .context("running the fuzz targets")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        print!("{text}");
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        if !output.status.success() {
            bail!("a fuzz target failed; proptest kept the input in tests/proptest-regressions/");
        }
        let targets = text
            .lines()
            .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
            .count();
        ran.push((package, targets));
    }
    let elapsed = started.elapsed().as_secs();
    let targets: usize = ran.iter().map(|(_, n)| n).sum();
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let summary = format!(
        "{date}, {}: {targets} targets x {cases} cases ({} generated inputs), {elapsed} s with the release builds, no failure.",
        machine(),
        u64::from(cases) * targets as u64
    );
    let path = root.join("docs/RELIABILITY.md");
    let text = std::fs::read_to_string(&path).context("reading docs/RELIABILITY.md")?;
    let marker = "## Last fuzz run\n";
    let head = text.split(marker).next().unwrap_or(&text);
    std::fs::write(&path, format!("{head}{marker}\n{summary}\n"))?;
    println!("fuzz: {summary}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{
        Paired, callgrind_total, compile_table_of, control_summary, cpu_rows, cpu_summary,
        goal_cpu, instruction_rows, instruction_summary, throughput_gap,
    };
    use serde_json::json;

    /// The benchmark's `paired` figures for one measure.
    fn timing() -> serde_json::Value {
        json!({"paired": {"64_at_once": {"raw_us": 20.0, "generated_us": 19.0, "client_us": 25.0,
            "ratio": 1.25, "ratio_low": 1.1, "ratio_high": 1.6, "generated_ratio": 0.95}}})
    }

    /// The error of reading `timing`'s `64_at_once` without its figure `field`.
    fn without(mut timing: serde_json::Value, field: &str) -> String {
        let pair = timing["paired"]["64_at_once"].as_object_mut().unwrap();
        pair.remove(field);
        Paired::read(&timing, "64_at_once")
            .err()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_throughput_row_inverts_the_time_ratio_and_its_range() {
        let many = Paired::read(&timing(), "64_at_once").unwrap();
        // 1/1.25 = 0.80; the range's ends swap: 1/1.6 = 0.625, 1/1.1 = 0.909.
        assert_eq!(
            many.throughput_cells(),
            "50000/s | 40000/s | 0.80 (0.62 to 0.91)"
        );
        assert_eq!(
            many.generated_throughput_cells(),
            "50000/s | 52632/s | 1.05"
        );
    }

    #[test]
    fn a_latency_row_gives_the_time_ratio_and_its_range_as_measured() {
        let one = Paired::read(&timing(), "64_at_once").unwrap();
        assert_eq!(
            one.latency_cells(),
            "20.0 µs | 25.0 µs | 1.25 (1.10 to 1.60)"
        );
        assert_eq!(one.generated_latency_cells(), "20.0 µs | 19.0 µs | 0.95");
    }

    #[test]
    fn a_figure_the_run_did_not_write_is_an_error_naming_it() {
        let error = without(timing(), "generated_ratio");
        assert!(
            error.contains("/paired/64_at_once/generated_ratio"),
            "{error}"
        );
        assert!(Paired::read(&timing(), "one_call").is_err());
    }

    #[test]
    fn a_control_row_gives_the_spun_raw_side_or_says_it_was_not_timed() {
        let mut timing = timing();
        let pair = &mut timing["paired"]["64_at_once"];
        pair["spin_extra_us"] = json!(4.5);
        pair["spin_us"] = json!(24.0);
        pair["spin_ratio"] = json!(1.2);
        let many = Paired::read(&timing, "64_at_once").unwrap();
        assert_eq!(
            many.control_row("64 calls at once", true),
            "| control for \"64 calls at once\": raw, then 4.5 µs of CPU per call in a loop of arithmetic \
             (the client's CPU over raw's) | 50000/s | 41667/s | 0.83 | — | |\n"
        );
        assert!(
            many.control_row("one", false)
                .contains("| 20.0 µs | 24.0 µs | 1.20 |")
        );
        let summary = control_summary(&[&many, &many, &many, &many]);
        assert!(
            summary.starts_with("with 4.5 µs of CPU per call in the loop, one call at a time, the control 1.20 of raw against the client's 1.25; 64 at once (throughput), the control 0.83 of raw against the client's 0.80;"),
            "{summary}"
        );
        // 20 µs raw, 24 µs with 4.5 µs spun: 0.89 µs per µs; 5% of 20 µs is 1 µs of time.
        assert_eq!(
            goal_cpu(&many),
            "one call at a time the control's time grew 0.9 µs per µs of its loop's CPU in this run, \
             so 1.05 of raw's 20.0 µs leaves the runtime about 1.1 µs of CPU per call"
        );
        // 64 at once: 20 µs raw, a time ratio of 1.25 (5 µs over raw), the control 1.2.
        let gap = throughput_gap(&many);
        assert!(
            gap.starts_with("the client's time per call is 5.0 µs over raw's 20.0 µs"),
            "{gap}"
        );
        assert!(gap.contains("the control, which carries the CPU rows' 4.5 µs, is 0.83 of raw's throughput against the client's 0.80"), "{gap}");
        assert!(gap.ends_with("leaves the runtime 1.1 µs per call"), "{gap}");
        let mut slower = timing.clone();
        slower["paired"]["64_at_once"]["spin_ratio"] = json!(2.0);
        let gap = throughput_gap(&Paired::read(&slower, "64_at_once").unwrap());
        assert!(
            gap.contains("is slower than the client here (0.50 of raw's throughput against 0.80)"),
            "{gap}"
        );
        // The client's 5.0 µs over raw against what the CPU rows count: more than 4.5 µs,
        // about 5.2 µs (within a tenth), less than 6.0 µs.
        assert!(gap.contains("that is more than the 4.5 µs of CPU"), "{gap}");
        for (extra, word) in [(5.2, "about"), (6.0, "less than")] {
            slower["paired"]["64_at_once"]["spin_extra_us"] = json!(extra);
            let gap = throughput_gap(&Paired::read(&slower, "64_at_once").unwrap());
            assert!(
                gap.contains(&format!("that is {word} the {extra:.1} µs")),
                "{gap}"
            );
        }
        // A client faster than raw (a time ratio of 0.95: 1.0 µs under raw's 20 µs).
        let mut faster = timing.clone();
        faster["paired"]["64_at_once"]["ratio"] = json!(0.95);
        let gap = throughput_gap(&Paired::read(&faster, "64_at_once").unwrap());
        assert!(
            gap.starts_with("the client's time per call is 1.0 µs under raw's 20.0 µs"),
            "{gap}"
        );
        assert!(
            gap.ends_with("is 0.83 of raw's throughput against the client's 1.05"),
            "{gap}"
        );
        // Timed without the CPU figures: said so.
        let plain = Paired::read(&super::tests::timing(), "64_at_once").unwrap();
        assert!(
            plain
                .control_row("one", false)
                .contains("not timed in this run")
        );
        // A control side without its ratio is an error naming it.
        let error = without(timing, "spin_ratio");
        assert!(error.contains("/paired/64_at_once/spin_ratio"), "{error}");
    }

    #[test]
    fn a_report_only_run_keeps_the_documents_compile_table() {
        let text = "# Performance\n| `tollgate-x` | not this |\n## Compile cost\n\n| crate | a |\n|---|---|\n\
                    | `tollgate-enrich` | 1 |\n| `tollgate-spidernews` | 2 |\n\nWhat remains\n";
        assert_eq!(
            compile_table_of(text).unwrap(),
            "| `tollgate-enrich` | 1 |\n| `tollgate-spidernews` | 2 |\n"
        );
        let error = compile_table_of("# Performance\n").unwrap_err();
        assert!(error.to_string().contains("in full"), "{error}");
        let error = compile_table_of("## Compile cost\nnothing\n").unwrap_err();
        assert!(error.to_string().contains("no crate rows"), "{error}");
    }

    #[test]
    fn the_cpu_rows_give_each_sides_cpu_or_say_it_was_not_measured() {
        let timing = json!({"cpu_per_call": {"raw_ns": 50_000.0, "generated_ns": 51_000.0,
            "client_ns": 65_000.0, "ratio": 1.3, "ratio_low": 1.25, "ratio_high": 1.4,
            "generated_ratio": 1.02}});
        let rows = cpu_rows(&timing).unwrap();
        assert!(
            rows.contains("| 50.0 µs | 65.0 µs | 1.30 (1.25 to 1.40) |"),
            "{rows}"
        );
        assert!(rows.contains("| 50.0 µs | 51.0 µs | 1.02 |"), "{rows}");
        assert!(cpu_summary(&timing).starts_with("15.0 µs more per call than raw"));
        assert!(cpu_summary(&timing).ends_with("without the runtime: +1.0 µs)"));
        let unmeasured = cpu_rows(&json!({"cpu_per_call": null})).unwrap();
        assert!(unmeasured.contains("not measured"), "{unmeasured}");
        assert!(cpu_summary(&json!({"cpu_per_call": null})).starts_with("not measured"));
        let error = cpu_rows(&json!({"cpu_per_call": {"raw_ns": 1.0}})).unwrap_err();
        assert!(
            error.to_string().contains("/cpu_per_call/generated_ns"),
            "{error}"
        );
    }
    #[test]
    fn callgrinds_total_is_read_and_a_file_without_one_is_an_error() {
        let out = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 541828173\ntotals: 541828173\n";
        assert_eq!(callgrind_total(out).unwrap(), 541_828_173);
        let error = callgrind_total("events: Ir\n").unwrap_err().to_string();
        assert!(error.contains("totals:"), "{error}");
        let error = callgrind_total("totals: many\n").unwrap_err().to_string();
        assert!(error.contains("`many`"), "{error}");
    }

    #[test]
    fn instruction_rows_give_each_side_over_raw_or_say_they_were_not_counted() {
        let counts = json!({"raw": 80_000.0, "generated": 81_200.0, "client": 97_550.0});
        let rows = instruction_rows(&counts).unwrap();
        assert!(rows.contains("| 80000 | 97550 | 1.22 |"), "{rows}");
        assert!(rows.contains("| 80000 | 81200 | 1.01 |"), "{rows}");
        assert_eq!(
            instruction_summary(&counts),
            "the generated code's shape adds 1200 instructions per call to raw's 80000, and the \
             runtime 16350 more (17550 in all, 1.22 of raw's)"
        );
        // A client under raw: said as fewer, not as a negative addition.
        let fewer = json!({"raw": 84_400.0, "generated": 85_864.0, "client": 74_548.0});
        assert_eq!(
            instruction_summary(&fewer),
            "the generated code's shape adds 1464 instructions per call to raw's 84400; the \
             client, which sends with the runtime's own transport rather than reqwest's \
             `execute`, takes 9852 fewer than raw (74548, 0.88 of raw's)"
        );
        let rows = instruction_rows(&serde_json::Value::Null).unwrap();
        assert!(rows.contains("valgrind is not installed"), "{rows}");
        assert!(instruction_summary(&serde_json::Value::Null).contains("not counted"));
        let error = instruction_rows(&json!({"raw": 1.0, "client": 2.0}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`generated`"), "{error}");
    }
}
