//! `cargo xtask`: maintenance tasks of the tollgate workspace, in plain Rust.
//!
//! - `cargo xtask codegen`: regenerate every provider client from `specs/`.
//! - `cargo xtask codegen --check`: fail, with a diff, when a committed client is stale.
//! - `cargo xtask codegen --provider rocketreach`: one provider only.
//!
//! The pipeline for each provider: load its documents and merge them -> apply the repairs of its
//! patch file -> check its documented examples -> down-convert 3.1 to 3.0.3 -> validate ->
//! progenitor -> format -> write `crates/<provider>/src/generated.rs`.

mod config;
mod downconvert;
mod examples;
mod generate;
mod load;
mod patch;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Codegen { check, provider } => codegen(check, provider.as_deref()),
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
        let source =
            build(&root, &provider).with_context(|| format!("provider `{}`", provider.name))?;
        let target = provider.generated_path(&root);
        let shown = target
            .strip_prefix(&root)
            .unwrap_or(&target)
            .display()
            .to_string();
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if check {
            if current == source {
                println!("{shown}: up to date");
            } else {
                stale += 1;
                eprintln!("{shown} is stale: run `cargo xtask codegen` and commit the result.");
                eprintln!("{}", diff(&shown, &current, &source));
            }
        } else if current == source {
            println!("{shown}: unchanged");
        } else {
            std::fs::write(&target, &source).with_context(|| format!("writing {shown}"))?;
            println!("{shown}: written ({} lines)", source.lines().count());
        }
    }
    Ok(if stale == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the whole pipeline for one provider and returns the generated file.
fn build(root: &Path, provider: &Provider) -> Result<String> {
    let dir = &provider.spec_dir;
    let mut docs = Vec::new();
    for document in &provider.config.documents {
        let path = dir.join(document);
        docs.push((display(root, &path), load::read_document(&path)?));
    }
    let mut doc = load::merge(docs)?;

    if let Some(patch_path) = &provider.config.patch {
        let path = dir.join(patch_path);
        let file = patch::read(&path)?;
        patch::apply(&mut doc, &file, &display(root, &path))?;
    }

    if let Some(examples_dir) = &provider.config.examples {
        let examples = examples::read_all(&dir.join(examples_dir))?;
        examples::check(&doc, &examples, root)?;
    }

    downconvert::downconvert(&mut doc).context("down-converting to OpenAPI 3.0.3")?;

    let spec = validate::validate(&doc).map_err(|findings| {
        let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the repaired document breaks {} rule(s) of the validator:\n  {}",
            findings.len(),
            list.join("\n  ")
        )
    })?;

    generate::generate(provider, &spec)
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
