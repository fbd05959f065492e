//! The README's coverage table matches the generated clients: for each provider, the operations
//! its reference notes document, the operations its spec declares, and the methods the generated
//! client has (one per operationId, each reachable as `Client::<operation_id>`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;

use tollgate_tests::workspace;

/// The operationIds the generated client of `provider` runs (each builder's `OperationInfo`).
fn generated_operations(provider: &str) -> BTreeSet<String> {
    let source = std::fs::read_to_string(
        workspace()
            .join("crates")
            .join(provider)
            .join("src/generated.rs"),
    )
    .unwrap();
    source
        .split("operation_id: \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The operationIds the provider's documents declare.
fn spec_operations(provider: &str) -> BTreeSet<String> {
    let dir = workspace().join("specs").join(provider);
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().unwrap() != "patch.yaml"
        {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                if let Some(id) = line.trim().strip_prefix("operationId: ") {
                    ids.insert(id.trim().to_owned());
                }
            }
        }
    }
    ids
}

/// The README's coverage rows: provider folder -> (documented, generated).
fn readme_rows() -> Vec<(String, usize, usize)> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme
        .find("## Coverage")
        .expect("a Coverage section in the README");
    readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let provider = cells[1].trim_matches('`').to_owned();
            (
                provider,
                cells[3].parse().unwrap(),
                cells[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_declared_operation_is_generated() {
    for provider in ["rocketreach", "requestrocket", "enrich", "spidernews"] {
        assert_eq!(
            spec_operations(provider),
            generated_operations(provider),
            "{provider}"
        );
    }
}

#[test]
fn the_readme_table_matches_the_generated_clients() {
    let rows = readme_rows();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (provider, documented, generated) in rows {
        assert_eq!(
            generated,
            generated_operations(&provider).len(),
            "{provider}: the README's generated count"
        );
        assert_eq!(
            documented, generated,
            "{provider}: every documented operation has a method"
        );
    }
}
