//! What a user's build pulls in, checked so that it cannot creep:
//!
//! - the declared MSRV is honest: no crate that a workspace member builds (its dependencies,
//!   their dependencies, build scripts' and tests' included) declares a `rust-version` above
//!   the one each member declares. Read from `cargo metadata`, so a dependency update that
//!   raises the floor fails here, naming the crate, instead of on a user's older toolchain;
//! - a program depending on one provider crate with default features builds no more crates
//!   than the ceilings below (`cargo tree`, offline, from the committed lockfile).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tollgate_tests::workspace;

/// `1.89` or `1.89.0` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a Rust version: {text}"))
        })
        .collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn no_dependency_needs_a_newer_rust_than_the_crates_declare() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages: BTreeMap<&str, &Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let edges: BTreeMap<&str, Vec<&str>> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), deps)
        })
        .collect();
    let mut checked = 0;
    for member in metadata["workspace_members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        let package = packages[member];
        let name = package["name"].as_str().unwrap();
        let Some(declared) = package["rust_version"].as_str() else {
            panic!("{name} declares no rust-version");
        };
        let mut seen = BTreeSet::new();
        let mut stack = vec![member];
        let mut above = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(needed) = packages[id]["rust_version"].as_str()
                && version(needed) > version(declared)
            {
                above.push(format!(
                    "{} {} needs {needed}",
                    packages[id]["name"].as_str().unwrap(),
                    packages[id]["version"].as_str().unwrap()
                ));
            }
            stack.extend(edges.get(id).into_iter().flatten().copied());
        }
        assert!(
            above.is_empty(),
            "{name} declares rust-version {declared}, but it builds: {}",
            above.join(", ")
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} workspace members");
}

/// The crates a program depending on `package` (default features) builds, itself included:
/// `cargo tree -p package -e normal,build`, each crate counted once.
fn crates_built(package: &str) -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

/// Today's counts, plus a little room: a crate more here or there from a dependency's patch
/// release is fine, a new dependency tree is a decision (raise the ceiling in the same change,
/// with its cost in `docs/PERFORMANCE.md`). For scale: a bare progenitor client of the same
/// needs (reqwest with rustls, serde, tokio, progenitor-client, chrono, uuid) builds 105.
const CEILINGS: [(&str, usize); 5] = [
    ("tollgate", 129),
    ("tollgate-rocketreach", 130),
    ("tollgate-requestrocket", 130),
    ("tollgate-enrich", 131),
    ("tollgate-spidernews", 131),
];

#[test]
fn one_provider_crate_builds_no_more_crates_than_its_ceiling() {
    let mut report = Vec::new();
    for (package, ceiling) in CEILINGS {
        let built = crates_built(package);
        // The JSON Schema derive is a feature: not built unless asked for.
        assert!(
            !built.iter().any(|c| c.starts_with("schemars ")),
            "{package} builds schemars by default"
        );
        if built.len() > ceiling {
            report.push(format!(
                "{package}: {} crates (ceiling {ceiling})",
                built.len()
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("; "));
}
