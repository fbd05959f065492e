//! The project stands alone: no file of the repository points at a path outside it (a `../` that
//! climbs above the root, the team's notes that are not shipped, this machine's directories).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::{Component, Path, PathBuf};

use tollgate_tests::workspace;

/// Every file of the repository: what git tracks plus new files it does not ignore; without git
/// (an unpacked archive), every file outside `target/` and `.git/`.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .current_dir(root)
        .output();
    match listed {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .filter(|p| p.is_file())
            .collect(),
        _ => {
            let mut files = Vec::new();
            let mut stack = vec![root.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    if path.is_dir() {
                        if name != "target" && name != ".git" {
                            stack.push(path);
                        }
                    } else {
                        files.push(path);
                    }
                }
            }
            files
        }
    }
}

/// Where `relative` (a path written in `file`) lands, normalised; `None` when it climbs above
/// the filesystem root.
fn resolve(file: &Path, relative: &str) -> Option<PathBuf> {
    let mut out = file.parent()?.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir if !out.pop() => return None,
            Component::ParentDir => {}
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    Some(out)
}

/// What in `text` (the content of `file`) points outside `root`.
fn outside_pointers(root: &Path, file: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for marker in ["shared/reference", "shared/seeds", "/work/", "/root/"] {
            if line.contains(marker) {
                found.push(format!("line {}: `{marker}`", n + 1));
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("../") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-/*".contains(c)))
                .unwrap_or(tail.len());
            let relative = &tail[..end];
            let inside = resolve(file, relative).is_some_and(|p| p.starts_with(root));
            if !inside {
                found.push(format!("line {}: `{relative}`", n + 1));
            }
            rest = &tail[end.max(3)..];
        }
    }
    found
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = std::fs::canonicalize(workspace()).unwrap();
    let me = Path::new(file!()).file_name().unwrap().to_owned();
    let mut problems = Vec::new();
    for file in repository_files(&root) {
        if file.file_name() == Some(&me) {
            continue; // this file names the markers it looks for
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // not text
        };
        for p in outside_pointers(&root, &file, &text) {
            problems.push(format!(
                "{}: {p}",
                file.strip_prefix(&root).unwrap().display()
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_check_sees_what_it_must() {
    let root = Path::new("/repo");
    let file = Path::new("/repo/specs/enrich/openapi.yaml");
    assert!(outside_pointers(root, file, "# from ../../docs/providers/enrich.md").is_empty());
    let climbs = outside_pointers(root, file, "# from ../../../shared/reference/enrich.md");
    assert_eq!(climbs.len(), 2, "{climbs:?}");
    assert_eq!(outside_pointers(root, file, "see reference/x.md").len(), 0);
    assert_eq!(
        outside_pointers(root, file, "notes in shared/seeds/000.txt").len(),
        1
    );
}
