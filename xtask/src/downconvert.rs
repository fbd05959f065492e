//! Down-conversion of an OpenAPI 3.1 document to OpenAPI 3.0.3, the only version progenitor reads.
//!
//! What changes (everything else is copied as it is):
//!
//! | 3.1 | 3.0.3 |
//! |---|---|
//! | `openapi: 3.1.x` | `openapi: 3.0.3` |
//! | `type: [T, 'null']` | `type: T`, `nullable: true` |
//! | `type: [A, B]` | `anyOf: [{type: A, ...}, {type: B, ...}]`, each with its type's keywords |
//! | `oneOf`/`anyOf` with a `{type: 'null'}` member | the member removed, `nullable: true` |
//! | `const: v` | `enum: [v]` |
//! | `examples: [a, ...]` in a schema | `example: a` |
//! | `$ref` with sibling annotations only | the bare `$ref` (3.0 ignores siblings) |
//! | `$ref` with other siblings | `allOf: [{$ref}]` plus the siblings |
//! | `prefixItems: [A, B]` | `items: {anyOf: [A, B]}` (plus `minItems`/`maxItems`) |
//! | `exclusiveMinimum: n` (a number) | `minimum: n`, `exclusiveMinimum: true` (same for maximum) |
//! | `contentEncoding: base64` | `format: byte` |
//! | `contentMediaType: application/octet-stream` | `format: binary` |
//! | a response's `application/<x>+json` (e.g. `problem+json`), when it has no `application/json` | `application/json` (progenitor types only that one; both are JSON) |
//! | `$schema`, `$id`, `$anchor`, `$comment`, `jsonSchemaDialect`, `info.summary`, `license.identifier`, `webhooks`, `components.pathItems` | removed |
//!
//! Keywords with no 3.0 equivalent that change what a schema accepts (`if`/`then`/`else`,
//! `dependentSchemas`, `unevaluatedProperties`, `patternProperties`, ...) are errors naming the
//! schema, because dropping them silently would change what the client accepts.

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// Converts `doc` in place. A 3.0.x document is left as it is.
pub fn downconvert(doc: &mut Value) -> Result<()> {
    let Some(root) = doc.as_object_mut() else {
        bail!("the document is not a mapping");
    };
    let version = root
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if version.starts_with("3.0.") {
        return Ok(());
    }
    if !version.starts_with("3.1.") {
        bail!("openapi {version:?} is neither 3.0.x nor 3.1.x");
    }
    root.insert("openapi".into(), json!("3.0.3"));
    root.remove("jsonSchemaDialect");
    root.remove("webhooks");
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            path_item(item, &format!("#/paths/{}", escape(path)))?;
        }
    }
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("pathItems");
        for (kind, entries) in components.iter_mut() {
            let Some(entries) = entries.as_object_mut() else {
                continue;
            };
            for (name, entry) in entries.iter_mut() {
                let at = format!("#/components/{kind}/{}", escape(name));
                match kind.as_str() {
                    "schemas" => schema(entry, &at)?,
                    "parameters" | "headers" => parameter(entry, &at)?,
                    "responses" => response(entry, &at)?,
                    "requestBodies" => content_holder(entry, &at)?,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn path_item(item: &mut Value, at: &str) -> Result<()> {
    let Some(item) = item.as_object_mut() else {
        return Ok(());
    };
    if let Some(params) = item.get_mut("parameters").and_then(Value::as_array_mut) {
        for (i, p) in params.iter_mut().enumerate() {
            parameter(p, &format!("{at}/parameters/{i}"))?;
        }
    }
    for method in METHODS {
        let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
            continue;
        };
        let at = format!("{at}/{method}");
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for (i, p) in params.iter_mut().enumerate() {
                parameter(p, &format!("{at}/parameters/{i}"))?;
            }
        }
        if let Some(body) = op.get_mut("requestBody") {
            content_holder(body, &format!("{at}/requestBody"))?;
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (code, r) in responses.iter_mut() {
                response(r, &format!("{at}/responses/{code}"))?;
            }
        }
    }
    Ok(())
}

/// A parameter or a header: `schema`, or `content`.
fn parameter(p: &mut Value, at: &str) -> Result<()> {
    if let Some(s) = p.get_mut("schema") {
        schema(s, &format!("{at}/schema"))?;
    }
    content_holder(p, at)
}

fn response(r: &mut Value, at: &str) -> Result<()> {
    if let Some(headers) = r.get_mut("headers").and_then(Value::as_object_mut) {
        for (name, h) in headers.iter_mut() {
            parameter(h, &format!("{at}/headers/{}", escape(name)))?;
        }
    }
    json_media_type(r);
    content_holder(r, at)
}

/// Renames a `application/<x>+json` response media type to `application/json`, the only one
/// progenitor decodes, unless the response already has `application/json`.
fn json_media_type(r: &mut Value) {
    let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if content.contains_key("application/json") {
        return;
    }
    let suffixed = content
        .keys()
        .find(|k| {
            k.starts_with("application/")
                && k.split(';').next().is_some_and(|m| m.ends_with("+json"))
        })
        .cloned();
    if let Some(key) = suffixed
        && let Some(media) = content.shift_remove(&key)
    {
        content.insert("application/json".into(), media);
    }
}

/// Anything with a `content` map of media types.
fn content_holder(v: &mut Value, at: &str) -> Result<()> {
    let Some(content) = v.get_mut("content").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for (media, m) in content.iter_mut() {
        if let Some(s) = m.get_mut("schema") {
            schema(s, &format!("{at}/content/{}/schema", escape(media)))?;
        }
    }
    Ok(())
}

/// Keywords that only annotate: dropping them, or the siblings of a `$ref`, changes no behaviour.
const ANNOTATIONS: [&str; 9] = [
    "description",
    "summary",
    "title",
    "readOnly",
    "writeOnly",
    "deprecated",
    "example",
    "examples",
    "$comment",
];

/// Keywords that constrain what a schema accepts and have no OpenAPI 3.0 equivalent.
const UNSUPPORTED: [&str; 12] = [
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "unevaluatedProperties",
    "unevaluatedItems",
    "patternProperties",
    "propertyNames",
    "contains",
    "$dynamicRef",
    "$defs",
];

const NUMERIC: [&str; 6] = [
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const STRING: [&str; 4] = ["format", "pattern", "minLength", "maxLength"];
const ARRAY: [&str; 4] = ["items", "minItems", "maxItems", "uniqueItems"];
const OBJECT: [&str; 5] = [
    "properties",
    "additionalProperties",
    "required",
    "minProperties",
    "maxProperties",
];

fn is_null_schema(v: &Value) -> bool {
    match v.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.len() == 1 && ts[0] == "null",
        _ => false,
    }
}

/// Converts one schema (and every schema inside it) in place.
pub fn schema(s: &mut Value, at: &str) -> Result<()> {
    let Some(obj) = s.as_object_mut() else {
        if s.is_boolean() {
            bail!(
                "{at}: a boolean schema has no OpenAPI 3.0 equivalent; write `{{}}` or `{{not: {{}}}}`"
            );
        }
        return Ok(());
    };

    for key in UNSUPPORTED {
        if obj.contains_key(key) {
            bail!(
                "{at}: `{key}` has no OpenAPI 3.0 equivalent; rewrite the schema without it (in the patch file)"
            );
        }
    }
    for key in ["$schema", "$id", "$anchor", "$comment"] {
        obj.remove(key);
    }

    // `$ref` with siblings.
    if obj.contains_key("$ref") && obj.len() > 1 {
        let reference = obj.remove("$ref").unwrap_or(Value::Null);
        if obj.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) {
            obj.clear();
            obj.insert("$ref".into(), reference);
            return Ok(());
        }
        obj.insert("allOf".into(), json!([{ "$ref": reference }]));
    }

    // `const`.
    if let Some(value) = obj.remove("const")
        && !obj.contains_key("enum")
    {
        obj.insert("enum".into(), json!([value]));
    }

    // `examples` (a list in a 3.1 schema) -> `example`.
    if let Some(examples) = obj.remove("examples")
        && !obj.contains_key("example")
        && let Some(first) = examples.as_array().and_then(|a| a.first())
    {
        obj.insert("example".into(), first.clone());
    }

    // Numeric exclusive bounds.
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(n) = obj.get(exclusive).filter(|v| v.is_number()).cloned() {
            obj.insert(bound.into(), n);
            obj.insert(exclusive.into(), json!(true));
        }
    }

    // Content keywords.
    if let Some(encoding) = obj.remove("contentEncoding")
        && encoding == "base64"
        && !obj.contains_key("format")
    {
        obj.insert("format".into(), json!("byte"));
    }
    if let Some(media) = obj.remove("contentMediaType")
        && media == "application/octet-stream"
        && !obj.contains_key("format")
    {
        obj.insert("format".into(), json!("binary"));
    }

    // `prefixItems`.
    if let Some(prefix) = obj.remove("prefixItems") {
        let Value::Array(items) = prefix else {
            bail!("{at}: `prefixItems` is not a list");
        };
        let count = items.len();
        if !obj.contains_key("items") {
            obj.insert("items".into(), json!({ "anyOf": items }));
            obj.entry("minItems").or_insert(json!(count));
            obj.entry("maxItems").or_insert(json!(count));
        } else if obj.get("items") == Some(&Value::Bool(false)) {
            obj.insert("items".into(), json!({ "anyOf": items }));
            obj.insert("maxItems".into(), json!(count));
        } else {
            bail!("{at}: `prefixItems` together with `items` has no OpenAPI 3.0 equivalent");
        }
    }

    // `oneOf`/`anyOf` with a null member.
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(members)) = obj.get_mut(key) else {
            continue;
        };
        let before = members.len();
        members.retain(|m| !is_null_schema(m));
        if members.len() == before {
            continue;
        }
        obj.insert("nullable".into(), json!(true));
        let members = match obj.get(key) {
            Some(Value::Array(m)) => m.clone(),
            _ => Vec::new(),
        };
        match members.len() {
            0 => bail!("{at}: `{key}` allows only null, which OpenAPI 3.0 cannot express"),
            1 => {
                obj.remove(key);
                let only = members.into_iter().next().unwrap_or(Value::Null);
                if only.get("$ref").is_some() {
                    let all_of = obj.entry("allOf").or_insert(json!([]));
                    if let Value::Array(list) = all_of {
                        list.push(only);
                    }
                } else if let Value::Object(inner) = only {
                    for (k, v) in inner {
                        obj.entry(k).or_insert(v);
                    }
                }
            }
            _ => {}
        }
    }

    // `type` as a list.
    if let Some(Value::Array(types)) = obj.get("type").cloned() {
        let mut types: Vec<String> = types
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let nullable = types.iter().any(|t| t == "null");
        types.retain(|t| t != "null");
        if nullable {
            obj.insert("nullable".into(), json!(true));
        }
        match types.len() {
            0 => bail!("{at}: `type: [null]` allows only null, which OpenAPI 3.0 cannot express"),
            1 => {
                obj.insert("type".into(), json!(types[0]));
            }
            _ => {
                obj.remove("type");
                let mut variants = Vec::new();
                for t in &types {
                    let own: &[&str] = match t.as_str() {
                        "integer" | "number" => &NUMERIC,
                        "string" => &STRING,
                        "array" => &ARRAY,
                        "object" => &OBJECT,
                        _ => &[],
                    };
                    let mut variant = Map::new();
                    variant.insert("type".into(), json!(t));
                    for k in own {
                        if let Some(v) = obj.get(*k) {
                            // A format belongs to the types it describes (int64 to integer, ...).
                            if *k == "format" && !format_fits(t, v) {
                                continue;
                            }
                            variant.insert((*k).into(), v.clone());
                        }
                    }
                    variants.push(Value::Object(variant));
                }
                for k in NUMERIC.iter().chain(&STRING).chain(&ARRAY).chain(&OBJECT) {
                    obj.remove(*k);
                }
                obj.insert("anyOf".into(), Value::Array(variants));
            }
        }
    } else if obj.get("type").and_then(Value::as_str) == Some("null") {
        bail!("{at}: `type: null` allows only null, which OpenAPI 3.0 cannot express");
    }

    // A bare `enum` containing null is written as `nullable` in 3.0.
    if let Some(Value::Array(values)) = obj.get("enum")
        && values.iter().any(Value::is_null)
        && obj.get("nullable") != Some(&Value::Bool(true))
    {
        obj.insert("nullable".into(), json!(true));
    }

    // Recurse into subschemas.
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(members)) = obj.get_mut(key) {
            for (i, m) in members.iter_mut().enumerate() {
                schema(m, &format!("{at}/{key}/{i}"))?;
            }
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for (name, p) in props.iter_mut() {
            schema(p, &format!("{at}/properties/{}", escape(name)))?;
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = obj.get_mut(key)
            && sub.is_object()
        {
            schema(sub, &format!("{at}/{key}"))?;
        }
    }
    Ok(())
}

/// Whether a `format` value describes values of type `t`.
fn format_fits(t: &str, format: &Value) -> bool {
    let numeric = matches!(
        format.as_str(),
        Some("int32" | "int64" | "float" | "double")
    );
    matches!(t, "integer" | "number") == numeric
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {

    /// Schemas of any shape (keywords of 3.1 and 3.0 mixed with junk) never panic the
    /// down-converter: it converts them or names what it refuses. `cargo xtask fuzz` runs this
    /// long.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn schema() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(json!({"type": ["string", "null"]})),
                Just(json!({"type": ["integer", "string"]})),
                Just(json!({"const": 1})),
                Just(json!({"examples": [1, 2]})),
                Just(json!({"$ref": "#/components/schemas/A", "description": "x"})),
                Just(json!({"exclusiveMinimum": 3})),
                Just(json!({"prefixItems": [{"type": "string"}]})),
                Just(json!({"contentEncoding": "base64"})),
                Just(json!({"if": {}})),
                Just(json!(null)),
                Just(json!(7)),
                "[a-z]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 40, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"oneOf": v})),
                    prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"anyOf": v})),
                    prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"allOf": v})),
                    inner.clone().prop_map(|v| json!({"type": "array", "items": v})),
                    prop::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|p| {
                        json!({"type": "object", "properties": p.into_iter().collect::<serde_json::Map<_, _>>()})
                    }),
                ]
            })
        }

        fn cases() -> u32 {
            std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(64)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

            #[test]
            fn the_down_converter_never_panics(schemas in prop::collection::vec(schema(), 1..4)) {
                let components: serde_json::Map<String, Value> = schemas
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (format!("S{i}"), s))
                    .collect();
                let mut doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
                    "paths": {"/x": {"get": {"responses": {"200": {"description": "ok",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}}}},
                    "components": {"schemas": components}});
                let _ = downconvert(&mut doc);
            }
        }
    }

    #[test]
    fn problem_json_responses_become_json_for_progenitor() {
        let mut doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
            "components": {"responses": {
                "Bad": {"description": "x", "content": {"application/problem+json": {"schema": {"type": "object"}}}},
                "Both": {"description": "x", "content": {"application/json": {"schema": {"type": "string"}}, "application/problem+json": {"schema": {"type": "object"}}}},
                "Csv": {"description": "x", "content": {"text/csv": {"schema": {"type": "string"}}}}}}});
        downconvert(&mut doc).unwrap();
        let r = &doc["components"]["responses"];
        assert_eq!(
            r["Bad"]["content"]["application/json"]["schema"]["type"],
            "object"
        );
        assert!(
            r["Bad"]["content"]
                .get("application/problem+json")
                .is_none()
        );
        assert_eq!(
            r["Both"]["content"]["application/json"]["schema"]["type"],
            "string"
        );
        assert!(r["Csv"]["content"].get("text/csv").is_some());
    }
    use super::*;

    fn conv(mut s: Value) -> Value {
        schema(&mut s, "#/x").unwrap();
        s
    }

    fn conv_err(mut s: Value) -> String {
        schema(&mut s, "#/x").unwrap_err().to_string()
    }

    #[test]
    fn nullable_type_list() {
        assert_eq!(
            conv(json!({"type": ["string", "null"], "maxLength": 3})),
            json!({"type": "string", "maxLength": 3, "nullable": true})
        );
    }

    #[test]
    fn several_types_become_any_of_with_their_keywords() {
        assert_eq!(
            conv(
                json!({"type": ["integer", "string", "null"], "format": "int64", "maxLength": 3, "description": "d"})
            ),
            json!({"description": "d", "nullable": true, "anyOf": [
                {"type": "integer", "format": "int64"},
                {"type": "string", "maxLength": 3}
            ]})
        );
    }

    #[test]
    fn one_of_with_null_member_becomes_nullable() {
        assert_eq!(
            conv(json!({"oneOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]})),
            json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/A"}]})
        );
        assert_eq!(
            conv(json!({"anyOf": [{"type": "integer"}, {"type": "null"}]})),
            json!({"nullable": true, "type": "integer"})
        );
        assert_eq!(
            conv(json!({"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]})),
            json!({"nullable": true, "anyOf": [{"type": "integer"}, {"type": "string"}]})
        );
    }

    #[test]
    fn const_becomes_enum() {
        assert_eq!(conv(json!({"const": "inf"})), json!({"enum": ["inf"]}));
    }

    #[test]
    fn examples_become_example() {
        assert_eq!(
            conv(json!({"type": "integer", "examples": [5, 6]})),
            json!({"type": "integer", "example": 5})
        );
        // An explicit `example` wins.
        assert_eq!(
            conv(json!({"type": "integer", "example": 1, "examples": [5]})),
            json!({"type": "integer", "example": 1})
        );
    }

    #[test]
    fn ref_siblings() {
        // Annotations only: the bare reference.
        assert_eq!(
            conv(json!({"$ref": "#/components/schemas/A", "description": "d", "readOnly": true})),
            json!({"$ref": "#/components/schemas/A"})
        );
        // Anything else: wrapped so it is not ignored.
        assert_eq!(
            conv(json!({"$ref": "#/components/schemas/A", "nullable": true})),
            json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/A"}]})
        );
    }

    #[test]
    fn prefix_items() {
        assert_eq!(
            conv(
                json!({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]})
            ),
            json!({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "minItems": 2, "maxItems": 2})
        );
        assert!(
            conv_err(json!({"prefixItems": [{}], "items": {"type": "string"}}))
                .contains("prefixItems")
        );
    }

    #[test]
    fn numeric_exclusive_bounds() {
        assert_eq!(
            conv(json!({"type": "integer", "exclusiveMinimum": 0})),
            json!({"type": "integer", "exclusiveMinimum": true, "minimum": 0})
        );
    }

    #[test]
    fn content_keywords() {
        assert_eq!(
            conv(json!({"type": "string", "contentMediaType": "application/octet-stream"})),
            json!({"type": "string", "format": "binary"})
        );
        assert_eq!(
            conv(json!({"type": "string", "contentEncoding": "base64"})),
            json!({"type": "string", "format": "byte"})
        );
    }

    #[test]
    fn nested_schemas_are_converted() {
        assert_eq!(
            conv(
                json!({"type": "object", "properties": {"a": {"type": ["integer", "null"]}},
                        "additionalProperties": {"const": 1}, "items": {"examples": [1]}})
            ),
            json!({"type": "object", "properties": {"a": {"type": "integer", "nullable": true}},
                   "additionalProperties": {"enum": [1]}, "items": {"example": 1}})
        );
    }

    #[test]
    fn unsupported_keywords_are_errors_naming_the_schema() {
        let err = conv_err(json!({"if": {}, "then": {}}));
        assert_eq!(
            err,
            "#/x: `if` has no OpenAPI 3.0 equivalent; rewrite the schema without it (in the patch file)"
        );
        assert!(conv_err(json!({"type": "null"})).contains("allows only null"));
        assert!(
            conv_err(json!({"properties": {"a": {"patternProperties": {}}}}))
                .starts_with("#/x/properties/a:")
        );
    }

    #[test]
    fn whole_document() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": {"title": "t", "version": "1", "summary": "s", "license": {"name": "MIT", "identifier": "MIT"}},
            "webhooks": {},
            "paths": {"/a/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": ["integer", "null"]}}],
                "get": {
                    "parameters": [{"name": "q", "in": "query", "schema": {"const": "x"}}],
                    "requestBody": {"content": {"application/json": {"schema": {"examples": ["a"]}}}},
                    "responses": {"200": {
                        "headers": {"X-A": {"schema": {"type": ["string", "null"]}}},
                        "content": {"application/json": {"schema": {"type": ["string", "null"]}}}
                    }}
                }
            }},
            "components": {"schemas": {"S": {"type": ["string", "null"]}}, "pathItems": {}}
        });
        downconvert(&mut doc).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(doc.get("jsonSchemaDialect").is_none() && doc.get("webhooks").is_none());
        assert_eq!(
            doc["info"],
            json!({"title": "t", "version": "1", "license": {"name": "MIT"}})
        );
        let item = &doc["paths"]["/a/{id}"];
        assert_eq!(
            item["parameters"][0]["schema"],
            json!({"type": "integer", "nullable": true})
        );
        assert_eq!(
            item["get"]["parameters"][0]["schema"],
            json!({"enum": ["x"]})
        );
        assert_eq!(
            item["get"]["requestBody"]["content"]["application/json"]["schema"],
            json!({"example": "a"})
        );
        let ok = &item["get"]["responses"]["200"];
        assert_eq!(ok["headers"]["X-A"]["schema"]["nullable"], true);
        assert_eq!(
            ok["content"]["application/json"]["schema"]["nullable"],
            true
        );
        assert_eq!(
            doc["components"],
            json!({"schemas": {"S": {"type": "string", "nullable": true}}})
        );
    }

    #[test]
    fn a_30_document_is_untouched() {
        let original = json!({"openapi": "3.0.3", "info": {"summary": "kept"}});
        let mut doc = original.clone();
        downconvert(&mut doc).unwrap();
        assert_eq!(doc, original);
    }

    #[test]
    fn other_versions_are_refused() {
        let mut doc = json!({"openapi": "2.0"});
        assert!(
            downconvert(&mut doc)
                .unwrap_err()
                .to_string()
                .contains("neither 3.0.x nor 3.1.x")
        );
    }
}
