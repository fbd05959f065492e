//! Repairs: named groups of JSON Patch (RFC 6902) operations, each with the reason it exists.
//!
//! A patch file looks like this:
//!
//! ```yaml
//! repairs:
//!   - name: contact-email
//!     reason: Why the published document is wrong, and what the repair does about it.
//!     operations:
//!       - {op: test, path: /info/contact/email, value: [...]}   # the defect is still there
//!       - {op: remove, path: /info/contact/email}
//! ```
//!
//! Repairs apply in order, each one atomically. A repair whose operations no longer apply (a
//! `test` fails because the upstream document changed, or a path is wrong) stops code generation
//! with an error naming the repair.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// A patch file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchFile {
    /// The repairs, applied in order.
    pub repairs: Vec<Repair>,
}

/// One named repair.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repair {
    /// A short, unique, kebab-case name.
    pub name: String,
    /// Why the repair exists.
    pub reason: String,
    /// The JSON Patch operations.
    pub operations: json_patch::Patch,
}

/// Reads and checks a patch file.
pub fn read(path: &Path) -> Result<PatchFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("{}: invalid patch file", path.display()))
}

/// Parses and checks the text of a patch file.
pub fn parse(text: &str) -> Result<PatchFile> {
    let deserializer = serde_norway::Deserializer::from_str(text);
    let file: PatchFile = serde_path_to_error::deserialize(deserializer)?;
    let mut names = BTreeSet::new();
    for (index, repair) in file.repairs.iter().enumerate() {
        if repair.name.trim().is_empty() {
            bail!("repair #{} has an empty name", index + 1);
        }
        if !names.insert(repair.name.as_str()) {
            bail!("two repairs are named `{}`", repair.name);
        }
        if repair.reason.trim().is_empty() {
            bail!("repair `{}` gives no reason", repair.name);
        }
        if repair.operations.0.is_empty() {
            bail!("repair `{}` has no operations", repair.name);
        }
    }
    Ok(file)
}

/// Applies every repair to `doc`, in order. `source` names the patch file in error messages.
pub fn apply(doc: &mut Value, file: &PatchFile, source: &str) -> Result<()> {
    for (index, repair) in file.repairs.iter().enumerate() {
        json_patch::patch(doc, &repair.operations).map_err(|err| {
            anyhow::anyhow!(
                "repair `{}` ({source}, repair #{}) no longer applies: {err}\n  reason of the repair: {}",
                repair.name,
                index + 1,
                repair.reason.trim()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"
repairs:
  - name: fix-title
    reason: The title is wrong.
    operations:
      - {op: test, path: /info/title, value: Wrong}
      - {op: replace, path: /info/title, value: Right}
"#;

    #[test]
    fn applies_a_repair() {
        let mut doc = json!({"info": {"title": "Wrong"}});
        apply(&mut doc, &parse(FILE).unwrap(), "patch.yaml").unwrap();
        assert_eq!(doc["info"]["title"], "Right");
    }

    #[test]
    fn a_repair_that_no_longer_applies_is_named() {
        let mut doc = json!({"info": {"title": "Fixed upstream"}});
        let err = apply(&mut doc, &parse(FILE).unwrap(), "patch.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("repair `fix-title` (patch.yaml, repair #1) no longer applies"),
            "{err}"
        );
        assert!(err.contains("The title is wrong."), "{err}");
        // Atomic: the failed repair left nothing behind.
        assert_eq!(doc["info"]["title"], "Fixed upstream");
    }

    #[test]
    fn a_repair_needs_a_reason_and_a_unique_name() {
        let no_reason =
            "repairs:\n  - {name: a, reason: ' ', operations: [{op: remove, path: /a}]}\n";
        assert!(
            parse(no_reason)
                .unwrap_err()
                .to_string()
                .contains("gives no reason")
        );
        let twice = "repairs:\n  - {name: a, reason: r, operations: [{op: remove, path: /a}]}\n  - {name: a, reason: r, operations: [{op: remove, path: /b}]}\n";
        assert!(
            parse(twice)
                .unwrap_err()
                .to_string()
                .contains("two repairs are named `a`")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let typo = "repairs:\n  - {name: a, reason: r, operation: []}\n";
        assert!(parse(typo).is_err());
    }
}
