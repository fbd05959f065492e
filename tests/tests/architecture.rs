//! The runtime's modules import each other without a circle: each module depends only on
//! modules below it, down to `vocab`, which depends on none. Read from the source: every
//! `crate::<module>` path outside tests and comments, with the crate root's re-exports
//! (`crate::Error`, `crate::Unit`, ...) resolved to the module that defines them; and, inside
//! a directory module, every `super::<module>` path between its parts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tollgate/src")
}

/// A file's code without its tests and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The words that follow `prefix` (identifiers), in order.
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .filter(|(i, _)| {
            // `crate::` itself, not the end of another path (`$crate::`, `my_crate::`).
            text[..*i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
        })
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// `name -> module` for the crate root's `pub use module::{names}`.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(at) = statement.find("pub use ") else {
            continue;
        };
        let path = statement[at + 8..].trim();
        let Some((module, names)) = path.split_once("::") else {
            continue;
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            if !name.is_empty() {
                map.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// The module graph of the files under `dir`: `(module, file)` pairs named by their first
/// path component below `dir`.
fn modules(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for (_, file) in modules(&path) {
                out.push((name.clone(), file));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((name, path));
        }
    }
    out
}

/// A cycle of `graph`, if it has one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn top_level_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = source_dir();
    let exports = root_exports(&code(&dir.join("lib.rs")));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in modules(&dir) {
        if module == "lib" {
            continue;
        }
        let text = code(&file);
        let deps = graph.entry(module.clone()).or_default();
        for word in after(&text, "crate::") {
            let target = exports
                .get(word)
                .cloned()
                .unwrap_or_else(|| word.to_owned());
            let is_module = dir.join(format!("{target}.rs")).exists() || dir.join(&target).is_dir();
            if target != module && is_module {
                deps.insert(target);
            }
        }
    }
    graph
}

#[test]
fn the_runtime_modules_import_each_other_without_a_circle() {
    let graph = top_level_graph();
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    assert_eq!(
        cycle(&graph),
        None,
        "a circle of imports; the graph: {graph:#?}"
    );
    // The vocabulary is a leaf, and the modules that were once in a circle now lean on it.
    assert_eq!(graph["vocab"], BTreeSet::new());
    for module in ["limit", "profile", "error"] {
        assert!(
            graph[module].contains("vocab"),
            "{module}: {:?}",
            graph[module]
        );
    }
}

#[test]
fn the_parts_of_each_directory_module_import_each_other_without_a_circle() {
    let dir = source_dir();
    for parent in ["cost", "runtime", "cache"] {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (part, file) in modules(&dir.join(parent)) {
            if part == "mod" {
                continue;
            }
            let deps = graph.entry(part.clone()).or_default();
            for word in after(&code(&file), "super::") {
                if word != part && dir.join(parent).join(format!("{word}.rs")).exists() {
                    deps.insert(word.to_owned());
                }
            }
        }
        assert_eq!(cycle(&graph), None, "{parent}: {graph:#?}");
    }
}

#[test]
fn the_cycle_check_finds_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&graph), None);
}
