//! `cargo xtask release-check`: every publishable crate packages as crates.io would take it.
//!
//! `--list-only` (what CI runs: seconds) lists each package's files and checks that each holds
//! its manifest, README and both license files, and that none ships what it must not (the
//! CLI's end-to-end tests, which need the repository's test helpers). Without it, `cargo
//! package --workspace` also builds every packaged crate against the others' packages, as a
//! user's build from crates.io would (minutes).

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// The crates published to crates.io, in dependency order.
pub const PUBLISHED: [&str; 8] = [
    "tollgate",
    "tollgate-rocketreach",
    "tollgate-requestrocket",
    "tollgate-enrich",
    "tollgate-spidernews",
    "tollgate-providers",
    "tollgate-sandbox",
    "tollgate-cli",
];

/// Files every package must hold.
const REQUIRED: [&str; 4] = ["Cargo.toml", "README.md", "LICENSE-MIT", "LICENSE-APACHE"];

fn cargo_package(root: &Path, extra: &[&str]) -> Result<std::process::Output> {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(root).arg("package");
    for name in PUBLISHED {
        command.args(["-p", name]);
    }
    command.args(extra);
    command
        .output()
        .with_context(|| format!("running cargo package {}", extra.join(" ")))
}

/// Checks one package's file list (`cargo package --list` output for it).
fn check_listing(name: &str, files: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for required in REQUIRED {
        if !files.contains(&required) {
            problems.push(format!("{name}: the package has no {required}"));
        }
    }
    if name == "tollgate-cli" && files.iter().any(|f| f.starts_with("tests/")) {
        problems.push(format!(
            "{name}: the package ships tests/, which need the workspace's test helpers"
        ));
    }
    if name == "tollgate-sandbox" && !files.iter().any(|f| f.starts_with("specs/")) {
        problems.push(format!(
            "{name}: the package lacks specs/, the documents it serves"
        ));
    }
    problems
}

/// Removes what an earlier run left of these packages in cargo's local-registry overlay:
/// `cargo package` unpacks each `.crate` under `registry/src/-<hash>/<name>-<version>` and
/// reuses a directory of the same name and version, so sources packaged before a change would
/// be built instead of today's. Only overlays (whose names start with `-`, having no host) and
/// only this workspace's package names at its version are touched.
fn clear_stale_extractions(root: &Path) -> Result<()> {
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .context("reading Cargo.toml")?
        .parse()
        .context("parsing Cargo.toml")?;
    let version = manifest
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(toml::Value::as_str)
        .context("Cargo.toml has no workspace.package.version")?;
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => std::path::PathBuf::from(home),
        None => {
            std::path::PathBuf::from(std::env::var_os("HOME").context("no HOME")?).join(".cargo")
        }
    };
    for kind in ["src", "cache"] {
        let Ok(overlays) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for overlay in overlays.flatten() {
            if !overlay.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for name in PUBLISHED {
                let unpacked = overlay.path().join(format!("{name}-{version}"));
                if unpacked.is_dir() {
                    std::fs::remove_dir_all(&unpacked)
                        .with_context(|| format!("removing {}", unpacked.display()))?;
                }
                let packed = overlay.path().join(format!("{name}-{version}.crate"));
                if packed.is_file() {
                    std::fs::remove_file(&packed)
                        .with_context(|| format!("removing {}", packed.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Runs the check; `list_only` skips the build of every package.
pub fn release_check(root: &Path, list_only: bool) -> Result<ExitCode> {
    let mut problems = Vec::new();
    for name in PUBLISHED {
        let out = Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["package", "--list", "--allow-dirty", "-p", name])
            .output()
            .context("running cargo package --list")?;
        if !out.status.success() {
            bail!(
                "cargo package --list -p {name} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let listing = String::from_utf8_lossy(&out.stdout);
        let files: Vec<&str> = listing.lines().collect();
        problems.extend(check_listing(name, &files));
        println!("{name}: {} files", files.len());
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        bail!("{} packaging problem(s)", problems.len());
    }
    if list_only {
        println!("every package lists its manifest, README and license files");
        return Ok(ExitCode::SUCCESS);
    }
    clear_stale_extractions(root)?;
    let out = cargo_package(root, &["--allow-dirty"])?;
    if !out.status.success() {
        bail!(
            "cargo package failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("every package builds from its .crate file against the others");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::check_listing;

    #[test]
    fn a_listing_without_its_license_or_with_the_clis_tests_is_refused() {
        let good = [
            "Cargo.toml",
            "README.md",
            "LICENSE-MIT",
            "LICENSE-APACHE",
            "src/lib.rs",
        ];
        assert!(check_listing("tollgate", &good).is_empty());
        let no_license = ["Cargo.toml", "README.md", "src/lib.rs"];
        assert_eq!(check_listing("tollgate", &no_license).len(), 2);
        let mut with_tests = good.to_vec();
        with_tests.push("tests/commands.rs");
        assert_eq!(check_listing("tollgate-cli", &with_tests).len(), 1);
        assert_eq!(check_listing("tollgate-sandbox", &good).len(), 1);
    }
}
