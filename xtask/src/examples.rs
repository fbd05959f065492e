//! Documented example payloads: every file in `specs/<provider>/examples/` names a schema and
//! carries a payload that the provider documents. Code generation checks each payload against
//! its (repaired) schema, so a repair that goes missing or wrong fails generation with the
//! example and the place that no longer fits.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

/// One example file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The name of the schema under `components/schemas`.
    pub schema: String,
    /// Where the payload comes from.
    pub source: String,
    /// The payload.
    pub payload: Value,
}

/// Reads every `*.json` example of a folder, sorted by file name.
pub fn read_all(dir: &Path) -> Result<Vec<(PathBuf, Example)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let example: Example = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not an example file ({{schema, source, payload}})",
                    path.display()
                )
            })?;
            Ok((path, example))
        })
        .collect()
}

/// Checks each example against the schema it names, in an OpenAPI 3.1 document (whose schemas
/// are JSON Schema 2020-12). Returns every mismatch at once.
pub fn check(doc: &Value, examples: &[(PathBuf, Example)], root: &Path) -> Result<()> {
    if examples.is_empty() {
        return Ok(());
    }
    let version = doc
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("3.1.") {
        bail!(
            "documented examples can be checked only against OpenAPI 3.1 documents (this one is {version:?})"
        );
    }
    let components = doc.get("components").cloned().unwrap_or_else(|| json!({}));
    let mut problems = Vec::new();
    for (path, example) in examples {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        if example.source.trim().is_empty() {
            problems.push(format!(
                "{shown}: says nothing in `source` about where the payload comes from"
            ));
        }
        if components
            .pointer(&format!("/schemas/{}", example.schema))
            .is_none()
        {
            problems.push(format!(
                "{shown}: names schema `{}`, which the document does not define",
                example.schema
            ));
            continue;
        }
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{}", example.schema),
            "components": components,
        });
        let validator = jsonschema::draft202012::new(&schema).map_err(|e| {
            anyhow::anyhow!("schema `{}` is not valid JSON Schema: {e}", example.schema)
        })?;
        for error in validator.iter_errors(&example.payload) {
            problems.push(format!(
                "{shown}: does not match schema `{}` at `{}`: {error}",
                example.schema,
                error.instance_path(),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} documented example(s) do not fit the repaired document:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    }
}

/// Checks every `example` (and 3.1 `examples`) written inside the document's schemas against the
/// schema it sits in: an example that does not fit its own schema is a defect of the document
/// (such as the mangled e-mail examples of RocketReach's), and often a sign that the schema is
/// the wrong one.
pub fn check_inline(doc: &Value) -> Result<()> {
    let version = doc
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("3.1.") {
        return Ok(());
    }
    let components = doc.get("components").cloned().unwrap_or_else(|| json!({}));
    let mut nodes = Vec::new();
    if let Some(schemas) = components.get("schemas").and_then(Value::as_object) {
        for (name, s) in schemas {
            collect(
                s,
                &format!("#/components/schemas/{}", crate::downconvert::escape(name)),
                &mut nodes,
            );
        }
    }
    let mut problems = Vec::new();
    for (at, node) in nodes {
        let Some(obj) = node.as_object() else {
            continue;
        };
        let mut samples: Vec<&Value> = obj.get("example").into_iter().collect();
        samples.extend(
            obj.get("examples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        if samples.is_empty() {
            continue;
        }
        let mut schema = obj.clone();
        schema.remove("example");
        schema.remove("examples");
        schema.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        schema.insert("components".into(), components.clone());
        let validator = jsonschema::draft202012::new(&Value::Object(schema))
            .map_err(|e| anyhow::anyhow!("{at} is not valid JSON Schema: {e}"))?;
        for sample in samples {
            if let Some(error) = validator.iter_errors(sample).next() {
                problems.push(format!("[example-matches-schema] {at}: the example {sample} does not fit the schema: {error}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} example(s) inside the document do not fit their schemas:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    }
}

/// Every schema node under `s`, with its location.
fn collect<'a>(s: &'a Value, at: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some(obj) = s.as_object() else { return };
    out.push((at.to_owned(), s));
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        for (i, m) in obj
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            collect(m, &format!("{at}/{key}/{i}"), out);
        }
    }
    for (name, p) in obj
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        collect(
            p,
            &format!("{at}/properties/{}", crate::downconvert::escape(name)),
            out,
        );
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = obj.get(key) {
            collect(sub, &format!("{at}/{key}"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"openapi": "3.1.0", "components": {"schemas": {
            "Amount": {"oneOf": [{"type": "integer"}, {"const": "inf"}]},
            "Usage": {"type": "object", "properties": {"allocated": {"$ref": "#/components/schemas/Amount"},
                                                      "name": {"type": ["string", "null"]}}}
        }}})
    }

    fn ex(schema: &str, payload: Value) -> (PathBuf, Example) {
        (
            PathBuf::from("/r/ex.json"),
            Example {
                schema: schema.into(),
                source: "test".into(),
                payload,
            },
        )
    }

    #[test]
    fn fitting_examples_pass() {
        let examples = [
            ex("Usage", json!({"allocated": "inf", "name": null})),
            ex("Usage", json!({"allocated": 3})),
        ];
        check(&doc(), &examples, Path::new("/r")).unwrap();
    }

    #[test]
    fn a_mismatch_names_the_file_the_schema_and_the_place() {
        let err = check(
            &doc(),
            &[ex("Usage", json!({"allocated": "lots"}))],
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ex.json: does not match schema `Usage` at `/allocated`"),
            "{err}"
        );
    }

    #[test]
    fn inline_examples_must_fit_their_schema() {
        let mut d = doc();
        d["components"]["schemas"]["Usage"]["properties"]["name"]["example"] =
            json!(["email protected"]);
        let err = check_inline(&d).unwrap_err().to_string();
        assert!(
            err.contains(
                "[example-matches-schema] #/components/schemas/Usage/properties/name: the example"
            ),
            "{err}"
        );
        d["components"]["schemas"]["Usage"]["properties"]["name"]["example"] = json!("Mark");
        d["components"]["schemas"]["Amount"]["examples"] = json!([5, "inf"]);
        check_inline(&d).unwrap();
    }

    #[test]
    fn an_unknown_schema_is_named() {
        let err = check(&doc(), &[ex("Nope", json!({}))], Path::new("/r"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("names schema `Nope`"), "{err}");
    }
}
