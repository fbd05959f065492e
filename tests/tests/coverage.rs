//! Coverage, checked against what users read: every endpoint `docs/providers/<provider>.md` lists
//! (method, path, operation) is an operation of the provider's repaired spec and a method of its
//! generated client, and the other way round; the README's coverage table gives the same counts.

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

/// The endpoint rows of `docs/providers/<provider>.md`: `(METHOD, /path, operation)`.
fn documented_endpoints(provider: &str) -> Vec<(String, String, String)> {
    let page = std::fs::read_to_string(
        workspace()
            .join("docs/providers")
            .join(format!("{provider}.md")),
    )
    .unwrap();
    page.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let method = *cells.get(1)?;
            if !matches!(method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                return None;
            }
            Some((
                method.to_owned(),
                cells.get(2)?.trim_matches('`').to_owned(),
                cells.get(3)?.trim_matches('`').to_owned(),
            ))
        })
        .collect()
}

/// `(METHOD, /path, operationId)` of the repaired spec the client is generated from (what
/// `cargo xtask codegen` writes to `crates/sandbox/specs/<provider>.json`).
fn spec_endpoints(provider: &str) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(
        workspace()
            .join("crates/sandbox/specs")
            .join(format!("{provider}.json")),
    )
    .unwrap();
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                out.insert((method.to_uppercase(), path.clone(), id.to_owned()));
            }
        }
    }
    out
}

/// What is wrong between a provider page's endpoint rows and the spec and client, if anything.
fn mismatches(provider: &str, documented: &[(String, String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let unique: BTreeSet<_> = documented.iter().cloned().collect();
    if documented.is_empty() {
        problems.push("no endpoint table".to_owned());
    }
    if unique.len() != documented.len() {
        problems.push("a row twice".to_owned());
    }
    let spec = spec_endpoints(provider);
    for row in unique.difference(&spec) {
        problems.push(format!("documented but not in the spec: {row:?}"));
    }
    for row in spec.difference(&unique) {
        problems.push(format!("in the spec but not documented: {row:?}"));
    }
    let generated = generated_operations(provider);
    for (_, _, id) in documented {
        if !generated.contains(id) {
            problems.push(format!("no generated method `{id}`"));
        }
    }
    problems
}

#[test]
fn every_documented_endpoint_is_in_the_spec_and_the_client_and_back() {
    for provider in ["rocketreach", "requestrocket", "enrich", "spidernews"] {
        let problems = mismatches(provider, &documented_endpoints(provider));
        assert!(problems.is_empty(), "{provider}: {problems:#?}");
    }
}

#[test]
fn a_documented_endpoint_missing_from_the_spec_fails_the_check() {
    let mut rows = documented_endpoints("spidernews");
    rows.push((
        "GET".to_owned(),
        "/api/articles".to_owned(),
        "list_articles".to_owned(),
    ));
    let problems = mismatches("spidernews", &rows);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("not in the spec"));
    assert!(problems[1].contains("list_articles"));
    // And a spec operation the page leaves out.
    rows.truncate(2);
    assert!(
        mismatches("spidernews", &rows)
            .iter()
            .any(|p| p.contains("not documented"))
    );
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
            documented,
            documented_endpoints(&provider).len(),
            "{provider}: the README's documented count is docs/providers/{provider}.md's"
        );
        assert_eq!(
            documented, generated,
            "{provider}: every documented operation has a method"
        );
    }
}
