//! Loading a provider's OpenAPI documents and merging them into one.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// Reads one YAML or JSON document into a JSON value, refusing members without a value
/// ([`valueless_members`]).
pub fn read_document(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc = parse_document(&text)
        .with_context(|| format!("{}: not a valid YAML/JSON document", path.display()))?;
    let valueless = valueless_members(&doc);
    if !valueless.is_empty() {
        bail!(
            "{}: [yaml-flow-mapping] {} member(s) without a value, the mark of an unquoted comma \
             in a YAML flow mapping (`{{description: a, b}}` reads as `description: a` plus a key \
             `b`): quote the text.\n  {}",
            path.display(),
            valueless.len(),
            valueless.join("\n  ")
        );
    }
    Ok(doc)
}

/// The JSON pointers of mapping members whose value is null, except where null is a value
/// (`example`, `default`, `const`, `x-...` extensions, and anything under an `example`,
/// `examples`, `default` or `const`). In an OpenAPI document every other member is a keyword, a
/// name or a map entry, and none of those is ever empty: an empty one comes from YAML reading an
/// unquoted comma inside a flow mapping as the start of a new key.
pub fn valueless_members(doc: &Value) -> Vec<String> {
    fn walk(value: &Value, pointer: &str, free: bool, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, member) in map {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    let here = format!("{pointer}/{escaped}");
                    let value_position = free
                        || matches!(key.as_str(), "example" | "examples" | "default" | "const")
                        || key.starts_with("x-");
                    if member.is_null() && !value_position {
                        out.push(here.clone());
                    }
                    walk(member, &here, value_position, out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{pointer}/{i}"), free, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, "", false, &mut out);
    out
}

/// Parses YAML (a superset of JSON) into a JSON value, keeping key order.
pub fn parse_document(text: &str) -> Result<Value> {
    let value: Value = serde_norway::from_str(text)?;
    if !value.is_object() {
        bail!("the top level is not a mapping");
    }
    Ok(value)
}

/// Merges several documents of one provider. The first one supplies `info`, `servers`,
/// `security` and every other top-level field; every document contributes `paths`,
/// `components` entries and `tags`. A path, or a component of one kind and name, defined by two
/// documents is an error naming both.
pub fn merge(docs: Vec<(String, Value)>) -> Result<Value> {
    let mut iter = docs.into_iter();
    let Some((first_name, mut merged)) = iter.next() else {
        bail!("no documents to merge");
    };
    let version = merged
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    record_owners(&merged, &first_name, &mut owners);

    for (name, doc) in iter {
        let other = doc
            .get("openapi")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if other != version {
            bail!(
                "{name} declares openapi {other:?} but {first_name} declares {version:?}: \
                 documents of one provider must share one OpenAPI version"
            );
        }
        let root = as_object_mut(&mut merged)?;
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            let target = entry_object(root, "paths");
            for (path, item) in paths {
                let key = format!("path {path}");
                if let Some(owner) = owners.get(&key) {
                    bail!("{key} is defined in both {owner} and {name}");
                }
                owners.insert(key, name.clone());
                target.insert(path.clone(), item.clone());
            }
        }
        if let Some(components) = doc.get("components").and_then(Value::as_object) {
            let target = entry_object(root, "components");
            for (kind, entries) in components {
                let Some(entries) = entries.as_object() else {
                    bail!("{name}: components.{kind} is not a mapping");
                };
                let target_kind = entry_object(target, kind);
                for (entry_name, entry) in entries {
                    let key = format!("components.{kind}.{entry_name}");
                    if let Some(owner) = owners.get(&key) {
                        bail!("{key} is defined in both {owner} and {name}");
                    }
                    owners.insert(key, name.clone());
                    target_kind.insert(entry_name.clone(), entry.clone());
                }
            }
        }
        if let Some(tags) = doc.get("tags").and_then(Value::as_array) {
            let Value::Array(target) = root
                .entry("tags")
                .or_insert_with(|| Value::Array(Vec::new()))
            else {
                bail!("{first_name}: `tags` is not a list");
            };
            for tag in tags {
                let tag_name = tag.get("name");
                if !target.iter().any(|t| t.get("name") == tag_name) {
                    target.push(tag.clone());
                }
            }
        }
    }
    Ok(merged)
}

fn record_owners(doc: &Value, name: &str, owners: &mut BTreeMap<String, String>) {
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for path in paths.keys() {
            owners.insert(format!("path {path}"), name.to_owned());
        }
    }
    if let Some(components) = doc.get("components").and_then(Value::as_object) {
        for (kind, entries) in components {
            for entry in entries.as_object().into_iter().flat_map(Map::keys) {
                owners.insert(format!("components.{kind}.{entry}"), name.to_owned());
            }
        }
    }
}

fn as_object_mut(value: &mut Value) -> Result<&mut Map<String, Value>> {
    value
        .as_object_mut()
        .context("the top level is not a mapping")
}

fn entry_object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object just above"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unquoted_comma_in_a_flow_mapping_is_caught() {
        let doc = super::parse_document(
            "components:\n  responses:\n    Unauthorized: {description: Missing, invalid key., content: {}}\n    Fine: {description: 'Missing, invalid key.', content: {}}\n  schemas:\n    A: {type: string, default: null, example: {a: null}, x-note: null}\n",
        )
        .unwrap();
        assert_eq!(
            super::valueless_members(&doc),
            ["/components/responses/Unauthorized/invalid key."]
        );
    }

    use super::*;
    use serde_json::json;

    fn doc(paths: Value, schemas: Value) -> Value {
        json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
               "paths": paths, "components": {"schemas": schemas}})
    }

    #[test]
    fn merges_paths_and_components() {
        let a = doc(json!({"/a": {}}), json!({"A": {"type": "string"}}));
        let b = doc(json!({"/b": {}}), json!({"B": {"type": "string"}}));
        let merged = merge(vec![("a.yaml".into(), a), ("b.yaml".into(), b)]).unwrap();
        assert_eq!(merged["paths"].as_object().unwrap().len(), 2);
        assert_eq!(
            merged["components"]["schemas"].as_object().unwrap().len(),
            2
        );
    }

    #[test]
    fn conflicting_path_names_both_sources() {
        let a = doc(json!({"/a": {}}), json!({}));
        let b = doc(json!({"/a": {}}), json!({}));
        let err = merge(vec![("a.yaml".into(), a), ("b.yaml".into(), b)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path /a is defined in both a.yaml and b.yaml"
        );
    }

    #[test]
    fn conflicting_schema_names_both_sources() {
        let a = doc(json!({}), json!({"A": {"type": "string"}}));
        let b = doc(json!({}), json!({"A": {"type": "integer"}}));
        let err = merge(vec![("a.yaml".into(), a), ("b.yaml".into(), b)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "components.schemas.A is defined in both a.yaml and b.yaml"
        );
    }

    #[test]
    fn different_versions_are_refused() {
        let a = doc(json!({}), json!({}));
        let mut b = doc(json!({}), json!({}));
        b["openapi"] = json!("3.0.3");
        let err = merge(vec![("a.yaml".into(), a), ("b.yaml".into(), b)]).unwrap_err();
        assert!(
            err.to_string().contains("share one OpenAPI version"),
            "{err}"
        );
    }
}
