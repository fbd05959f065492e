//! `cargo xtask`: maintenance tasks of the tollgate workspace, in plain Rust.
//!
//! - `cargo xtask codegen`: regenerate every provider client from `specs/`.
//! - `cargo xtask codegen --check`: fail, with a diff, when a committed client is stale.
//! - `cargo xtask codegen --provider rocketreach`: one provider only.
//! - `cargo xtask lint`: Redocly's OpenAPI linter over every repaired document.
//! - `cargo xtask conformance`: Schemathesis against the sandbox binary, every provider.
//! - `cargo xtask bench`: the runtime against raw reqwest, written to `docs/PERFORMANCE.md`.
//! - `cargo xtask fuzz`: the property-based fuzz targets, long, recorded in `docs/RELIABILITY.md`.
//! - `cargo xtask bench-bulk`: bulk jobs of 2,000 to 1,000,000 items, in `docs/PERFORMANCE.md`.
//! - `cargo xtask release-check [--list-only]`: every publishable crate packages (and builds).
//!
//! The pipeline for each provider: load its documents and merge them -> apply the repairs of its
//! patch file -> check its documented examples -> down-convert 3.1 to 3.0.3 -> validate ->
//! progenitor -> format -> write `crates/<provider>/src/generated.rs`. The repaired 3.1 document
//! (before down-conversion) is also written to `crates/sandbox/specs/<provider>.json`: the
//! sandbox routes, validates and answers every operation from it.

mod bench;
mod bulk_bench;
mod config;
mod downconvert;
mod examples;
mod generate;
mod load;
mod patch;
mod release;
mod tools;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Provider;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Maintenance tasks of the tollgate workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate the provider clients from specs/<provider>/.
    Codegen {
        /// Compare instead of writing: exit non-zero with a diff when a generated file is stale.
        #[arg(long)]
        check: bool,
        /// Only this provider (a folder name under specs/).
        #[arg(long)]
        provider: Option<String>,
    },
    /// Lint every repaired document (crates/sandbox/specs/) with Redocly CLI (installed into
    /// target/tools/ with npm on first use; skipped when npm is missing).
    Lint {
        /// Fail instead of skipping when npm is missing.
        #[arg(long)]
        require: bool,
    },
    /// Benchmark the runtime against raw reqwest + serde_json and write docs/PERFORMANCE.md.
    Bench {
        /// Run nothing: write docs/PERFORMANCE.md again from the last run's results (in
        /// target/criterion/) and the compile table the document holds, for a change of the
        /// report's text. Every figure stays one run's.
        #[arg(long)]
        report_only: bool,
    },
    /// Run bulk jobs of each size against the sandbox (release builds) and write their section
    /// of docs/PERFORMANCE.md: time per item, peak memory, journal bytes per item.
    BenchBulk {
        /// Job sizes, in items.
        #[arg(long, value_delimiter = ',', default_values_t = [2_000, 20_000, 1_000_000])]
        sizes: Vec<usize>,
    },
    /// Check that every publishable crate packages as crates.io would take it (its files, and
    /// without --list-only a build of every package against the others).
    ReleaseCheck {
        /// Only list and check each package's files (seconds), without building them.
        #[arg(long)]
        list_only: bool,
    },
    /// Run the property-based fuzz targets long (release builds) and record the run in
    /// docs/RELIABILITY.md.
    Fuzz {
        /// Cases per target.
        #[arg(long, default_value_t = 200_000)]
        cases: u32,
    },
    /// Run Schemathesis (installed into a virtualenv under target/tools/ on first use; skipped
    /// when Python is missing) against the sandbox binary for every provider.
    Conformance {
        /// Test cases per operation and phase.
        #[arg(long, default_value_t = 25)]
        examples: u32,
        /// Fail instead of skipping when Python is missing.
        #[arg(long)]
        require: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Codegen { check, provider } => codegen(check, provider.as_deref()),
        Task::Lint { require } => tools::lint(&workspace_root(), require),
        Task::Bench { report_only } => bench::bench(&workspace_root(), report_only),
        Task::BenchBulk { sizes } => bulk_bench::bench_bulk(&workspace_root(), &sizes),
        Task::Fuzz { cases } => bench::fuzz(&workspace_root(), cases),
        Task::ReleaseCheck { list_only } => release::release_check(&workspace_root(), list_only),
        Task::Conformance { examples, require } => {
            tools::conformance(&workspace_root(), examples, require)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn codegen(check: bool, only: Option<&str>) -> Result<ExitCode> {
    let root = workspace_root();
    let mut stale = 0;
    for provider in config::providers(&root, only)? {
        let (source, cli, document) =
            build(&root, &provider).with_context(|| format!("provider `{}`", provider.name))?;
        for (target, contents) in [
            (provider.generated_path(&root), source),
            (provider.cli_path(&root), cli),
            (provider.sandbox_spec_path(&root), document),
        ] {
            if !write_or_check(&root, &target, &contents, check)? {
                stale += 1;
            }
        }
    }
    Ok(if stale == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes `contents` to `target` (or, with `check`, compares them and prints a diff). Returns
/// whether the file was up to date.
fn write_or_check(root: &Path, target: &Path, contents: &str, check: bool) -> Result<bool> {
    let shown = display(root, target);
    let current = std::fs::read_to_string(target).unwrap_or_default();
    if current == contents {
        println!(
            "{shown}: {}",
            if check { "up to date" } else { "unchanged" }
        );
        return Ok(true);
    }
    if check {
        eprintln!("{shown} is stale: run `cargo xtask codegen` and commit the result.");
        eprintln!("{}", diff(&shown, &current, contents));
        return Ok(false);
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(target, contents).with_context(|| format!("writing {shown}"))?;
    println!("{shown}: written ({} lines)", contents.lines().count());
    Ok(true)
}

/// Runs the whole pipeline for one provider and returns the generated client, the generated
/// CLI subcommands and the repaired document the sandbox serves.
fn build(root: &Path, provider: &Provider) -> Result<(String, String, String)> {
    let patch = match &provider.config.patch {
        Some(patch_path) => Some(patch::read(&provider.spec_dir.join(patch_path))?),
        None => None,
    };
    let (spec, repaired) = prepare(root, provider, patch.as_ref())?;
    let document = sandbox_document(provider, repaired)?;
    Ok((
        generate::generate(provider, &spec)?,
        generate::generate_cli(provider, &spec)?,
        document,
    ))
}

/// The repaired OpenAPI 3.1 document as pretty JSON, marked as generated (an `x-generated`
/// member at the root: JSON has no comments).
fn sandbox_document(provider: &Provider, repaired: serde_json::Value) -> Result<String> {
    let mut marked = serde_json::Map::new();
    marked.insert(
        "x-generated".into(),
        serde_json::Value::String(format!(
            "@generated by `cargo xtask codegen` from specs/{}/ (repaired, before down-conversion). \
             DO NOT EDIT: change the documents or the patch file and run `cargo xtask codegen`.",
            provider.name
        )),
    );
    if let serde_json::Value::Object(members) = repaired {
        marked.extend(members);
    }
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(marked))?;
    text.push('\n');
    Ok(text)
}

/// Every step before progenitor: load and merge, repair with `patch`, check the examples,
/// down-convert, validate. Returns the document progenitor will read, and the repaired 3.1
/// document before down-conversion.
fn prepare(
    root: &Path,
    provider: &Provider,
    patch: Option<&patch::PatchFile>,
) -> Result<(openapiv3::OpenAPI, serde_json::Value)> {
    let dir = &provider.spec_dir;
    let mut docs = Vec::new();
    for document in &provider.config.documents {
        let path = dir.join(document);
        docs.push((display(root, &path), load::read_document(&path)?));
    }
    let mut doc = load::merge(docs)?;

    if let (Some(file), Some(patch_path)) = (patch, &provider.config.patch) {
        patch::apply(&mut doc, file, &display(root, &dir.join(patch_path)))?;
    }

    examples::check_inline(&doc)?;
    if let Some(examples_dir) = &provider.config.examples {
        let examples = examples::read_all(&dir.join(examples_dir))?;
        examples::check(&doc, &examples, root)?;
    }

    let repaired = doc.clone();
    downconvert::downconvert(&mut doc).context("down-converting to OpenAPI 3.0.3")?;

    let spec = validate::validate(&doc, &provider.config.validate).map_err(|findings| {
        let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the repaired document breaks {} rule(s) of the validator:\n  {}",
            findings.len(),
            list.join("\n  ")
        )
    })?;
    Ok((spec, repaired))
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A unified diff, cut after 200 lines.
fn diff(name: &str, old: &str, new: &str) -> String {
    let text = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (committed)"),
            &format!("{name} (generated)"),
        )
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 200 {
        format!(
            "{}\n... ({} more lines of diff)",
            lines[..200].join("\n"),
            lines.len() - 200
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rocketreach() -> (PathBuf, Provider, patch::PatchFile) {
        let root = workspace_root();
        let provider = config::providers(&root, Some("rocketreach"))
            .unwrap()
            .remove(0);
        let file = patch::read(
            &provider
                .spec_dir
                .join(provider.config.patch.as_ref().unwrap()),
        )
        .unwrap();
        (root, provider, file)
    }

    /// What codegen says when one repair is missing: each repair is caught by a rule or a
    /// documented example, which the message names.
    const CAUGHT_BY: [(&str, &str); 11] = [
        (
            "mangled-contact-email",
            "[structure] info.contact.email: not valid OpenAPI 3.0: invalid type: sequence",
        ),
        (
            "mangled-email-examples",
            "[example-matches-schema] #/components/schemas/UniversalCreditsUserModelWithExtraAttributes/properties/email",
        ),
        (
            "one-request-content-type",
            "[single-request-content-type] POST /account/key/ (create_new_api_key)",
        ),
        (
            "credit-amounts-may-be-inf",
            "account-documented.json: does not match schema `UserModel` at `/credit_usage/2/allocated`",
        ),
        (
            "error-envelope",
            "[error-schema] GET /account/ (get_account): the error responses (400, 401, 403, 404, 429, 500) have no JSON schema",
        ),
        (
            "open-state",
            "account-unknown-state-and-fields.json: does not match schema `UserModel` at `/state`",
        ),
        (
            "unbounded-response-strings",
            "[constrained-response-string] GET /account/ (get_account): response 200 application/json -> UserModel.first_name",
        ),
        (
            "timestamps-without-time-zone",
            "[response-format] GET /universal/account/ (get_universal_account)",
        ),
        (
            "daily-api-limit-string-or-integer",
            "[example-matches-schema] #/components/schemas/UniversalCreditsUserModelWithExtraAttributes/properties/daily_api_limit: the example 10",
        ),
        (
            "universal-credit-usage-object-or-list",
            "universal-account-credit-usage-list.json: does not match schema `UniversalCreditsUserModelWithExtraAttributes` at `/credit_usage`",
        ),
        (
            "api-keys-are-secrets",
            "[secret-field] #/components/schemas/APIKey/properties/api_key",
        ),
    ];

    #[test]
    fn the_repaired_document_passes() {
        let (root, provider, file) = rocketreach();
        prepare(&root, &provider, Some(&file)).unwrap();
    }

    #[test]
    fn every_repair_is_needed_and_its_absence_is_named() {
        let (root, provider, file) = rocketreach();
        let names: Vec<&str> = file.repairs.iter().map(|r| r.name.as_str()).collect();
        let table: Vec<&str> = CAUGHT_BY.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names, table,
            "every repair of patch.yaml needs a row in CAUGHT_BY"
        );
        for (index, (name, expected)) in CAUGHT_BY.iter().enumerate() {
            let mut without = patch::parse("repairs: []").unwrap();
            without.repairs = patch::parse(
                &std::fs::read_to_string(provider.spec_dir.join("patch.yaml")).unwrap(),
            )
            .unwrap()
            .repairs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, r)| r)
            .collect();
            let err = match prepare(&root, &provider, Some(&without)) {
                Ok(_) => panic!("codegen passes without the repair `{name}`"),
                Err(err) => format!("{err:#}"),
            };
            assert!(
                err.contains(expected),
                "without `{name}`, expected `{expected}` in:\n{err}"
            );
        }
    }

    #[test]
    fn a_repair_that_no_longer_applies_stops_codegen_naming_it() {
        let (root, provider, _) = rocketreach();
        let text = std::fs::read_to_string(provider.spec_dir.join("patch.yaml")).unwrap();
        let count = patch::parse(&text).unwrap().repairs.len();
        for index in 0..count {
            let mut file = patch::parse(&text).unwrap();
            let repair = &mut file.repairs[index];
            let name = repair.name.clone();
            // Point the repair's first operation at a place that does not exist.
            let first = &mut repair.operations.0[0];
            let broken =
                serde_json::json!({"op": "test", "path": "/paths/~1no-such-path", "value": 1});
            *first = serde_json::from_value(broken).unwrap();
            let err = format!("{:#}", prepare(&root, &provider, Some(&file)).unwrap_err());
            assert!(
                err.contains(&format!(
                    "repair `{name}` (specs/rocketreach/patch.yaml, repair #{}) no longer applies",
                    index + 1
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let (root, provider, _) = rocketreach();
        let first = build(&root, &provider).unwrap();
        let second = build(&root, &provider).unwrap();
        assert_eq!(first, second);
        assert!(
            first
                .0
                .starts_with("// @generated by `cargo xtask codegen`")
        );
        assert!(first.0.contains("DO NOT EDIT"));
        assert!(
            first
                .1
                .starts_with("// @generated by `cargo xtask codegen`")
        );
        assert!(first.1.contains("pub enum CliCommand"));
        let document: serde_json::Value = serde_json::from_str(&first.2).unwrap();
        assert!(
            document["x-generated"]
                .as_str()
                .unwrap()
                .contains("DO NOT EDIT")
        );
        assert_eq!(document["openapi"], "3.1.0");
    }
}
