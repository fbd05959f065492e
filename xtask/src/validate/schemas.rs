//! Rules about schemas, checked on the (3.0) document as JSON.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Finding, Policy, Rule};
use crate::downconvert::escape;

/// Property names that hold credentials.
const SECRET_NAMES: [&str; 10] = [
    "api_key",
    "apikey",
    "api_token",
    "access_token",
    "refresh_token",
    "token",
    "secret",
    "client_secret",
    "password",
    "private_key",
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Checks every schema of the document: references, `not`, credentials, and what responses may
/// contain.
pub fn check(doc: &Value, policy: &Policy, findings: &mut Vec<Finding>) {
    let names: BTreeSet<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut walker = Walker {
        doc,
        names: &names,
        findings,
    };
    walker.document(doc);
    responses(doc, policy, findings);
}

struct Walker<'a> {
    doc: &'a Value,
    names: &'a BTreeSet<String>,
    findings: &'a mut Vec<Finding>,
}

impl Walker<'_> {
    /// Every schema position of the document.
    fn document(&mut self, doc: &Value) {
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, s) in schemas {
                self.schema(s, &format!("#/components/schemas/{}", escape(name)));
            }
        }
        for (kind, entries) in doc
            .pointer("/components")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if kind == "schemas" {
                continue;
            }
            for (name, entry) in entries.as_object().into_iter().flatten() {
                self.holder(entry, &format!("#/components/{kind}/{}", escape(name)));
            }
        }
        for (path, item) in doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let at = format!("#/paths/{}", escape(path));
            for (i, p) in item
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.holder(p, &format!("{at}/parameters/{i}"));
            }
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let at = format!("{at}/{method}");
                for (i, p) in op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    self.holder(p, &format!("{at}/parameters/{i}"));
                }
                if let Some(body) = op.get("requestBody") {
                    self.holder(body, &format!("{at}/requestBody"));
                }
                for (code, r) in op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    self.holder(r, &format!("{at}/responses/{code}"));
                }
            }
        }
    }

    /// A parameter, header, request body or response: its `schema`, `content` and `headers`.
    fn holder(&mut self, v: &Value, at: &str) {
        if let Some(s) = v.get("schema") {
            self.schema(s, &format!("{at}/schema"));
        }
        for (media, m) in v
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(s) = m.get("schema") {
                self.schema(s, &format!("{at}/content/{}/schema", escape(media)));
            }
        }
        for (name, h) in v
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            self.holder(h, &format!("{at}/headers/{}", escape(name)));
        }
    }

    fn push(&mut self, rule: Rule, at: &str, message: String) {
        self.findings.push(Finding {
            rule,
            location: at.to_owned(),
            message,
        });
    }

    fn schema(&mut self, s: &Value, at: &str) {
        let Some(obj) = s.as_object() else { return };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            match reference.strip_prefix("#/components/schemas/") {
                Some(name) if self.names.contains(name) => {}
                Some(name) => self.push(Rule::SchemaReference, at, format!("`$ref: {reference}`: there is no schema `{name}`")),
                None => self.push(
                    Rule::SchemaReference,
                    at,
                    format!("`$ref: {reference}`: schemas may only reference `#/components/schemas/<name>` of the same document"),
                ),
            }
        }
        if let Some(not) = obj.get("not") {
            self.not(not, at);
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for (i, m) in obj
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.schema(m, &format!("{at}/{key}/{i}"));
            }
        }
        for (name, p) in obj
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let at = format!("{at}/properties/{}", escape(name));
            self.secret(name, p, &at);
            self.schema(p, &at);
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = obj.get(key) {
                self.schema(sub, &format!("{at}/{key}"));
            }
        }
    }

    /// `secret-field`: a property named like a credential must be `format: password`.
    fn secret(&mut self, name: &str, p: &Value, at: &str) {
        let lower = name.to_ascii_lowercase();
        let credential = SECRET_NAMES.contains(&lower.as_str())
            || lower.ends_with("_secret")
            || lower.ends_with("_password")
            || lower.ends_with("_api_key");
        if !credential {
            return;
        }
        let target = match p
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => self.doc.pointer(pointer).unwrap_or(p),
            None => p,
        };
        let is_string = target.get("type").and_then(Value::as_str) == Some("string");
        let redacted = target.get("format").and_then(Value::as_str) == Some("password");
        if is_string && !redacted {
            self.push(
                Rule::SecretField,
                at,
                format!("`{name}` holds a credential but is a plain string, so it would print in Debug output and logs; make it `format: password` (a `Secret` schema replaced by `tollgate::Secret`)"),
            );
        }
    }

    fn not(&mut self, not: &Value, at: &str) {
        let fine = match not.as_object() {
            Some(o) if o.len() == 1 => match o.get("enum").and_then(Value::as_array) {
                Some(values) if !values.is_empty() => {
                    let kinds: BTreeSet<&str> = values
                        .iter()
                        .map(|v| match v {
                            Value::String(_) => "string",
                            Value::Number(_) => "number",
                            Value::Bool(_) => "boolean",
                            _ => "other",
                        })
                        .collect();
                    kinds.len() == 1 && !kinds.contains("other")
                }
                _ => false,
            },
            _ => false,
        };
        if !fine {
            self.push(
                Rule::SchemaNot,
                at,
                "`not` must be exactly `{enum: [...]}` over strings, numbers or booleans; progenitor's type generator panics on any other `not`".into(),
            );
        }
    }
}

/// `closed-response-enum`, `constrained-response-string`, `response-format`: walks every schema
/// reachable from a response body.
fn responses(doc: &Value, policy: &Policy, findings: &mut Vec<Finding>) {
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let label = match op.get("operationId").and_then(Value::as_str) {
                Some(id) => format!("{} {path} ({id})", method.to_uppercase()),
                None => format!("{} {path}", method.to_uppercase()),
            };
            for (code, r) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let r = resolve(doc, r);
                for (media, m) in r
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = m.get("schema") {
                        let at = format!("{label}: response {code} {media}");
                        let mut walk = Reach {
                            doc,
                            policy,
                            seen: &mut seen,
                            reported: &mut reported,
                            findings,
                        };
                        walk.schema(s, &at);
                    }
                }
            }
        }
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(pointer) => doc.pointer(pointer).unwrap_or(v),
        None => v,
    }
}

/// The open-enum pattern: `oneOf`/`anyOf` of the known values and any other string
/// (`{type: string, not: {enum: [...]}}`). Returns the index of the branch of any other string.
fn open_enum_other_branch(members: &[Value]) -> Option<usize> {
    members.iter().position(|m| {
        m.get("type").and_then(Value::as_str) == Some("string") && m.get("not").is_some()
    })
}

struct Reach<'a> {
    doc: &'a Value,
    policy: &'a Policy,
    seen: &'a mut BTreeSet<String>,
    reported: &'a mut BTreeSet<String>,
    findings: &'a mut Vec<Finding>,
}

impl Reach<'_> {
    fn push(&mut self, rule: Rule, at: &str, message: String) {
        if self.reported.insert(format!("{} {at}", rule.name())) {
            self.findings.push(Finding {
                rule,
                location: at.to_owned(),
                message,
            });
        }
    }

    fn schema(&mut self, s: &Value, at: &str) {
        let Some(obj) = s.as_object() else { return };
        if let Some(name) = obj
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            if self.seen.insert(name.to_owned())
                && let Some(target) = self
                    .doc
                    .pointer(&format!("/components/schemas/{}", escape(name)))
            {
                self.schema(target, &format!("{at} -> {name}"));
            }
            return;
        }
        if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            let distinct: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            if distinct.len() > 1 {
                let list = distinct
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                self.push(
                    Rule::ClosedResponseEnum,
                    at,
                    format!(
                        "the enum [{list}] is closed, so a value the provider adds later fails the whole call; \
                         make it open: `oneOf: [{{title: Known, allOf: [{{$ref: <the enum>}}]}}, \
                         {{title: Other, type: string, not: {{enum: [<the values>]}}}}]`, or a plain string"
                    ),
                );
            }
        }
        let is_string = obj.get("type").and_then(Value::as_str) == Some("string");
        if is_string {
            let limits: Vec<&str> = ["maxLength", "minLength", "pattern"]
                .into_iter()
                .filter(|k| obj.contains_key(*k))
                .collect();
            if !limits.is_empty() {
                self.push(
                    Rule::ConstrainedResponseString,
                    at,
                    format!(
                        "a response string with {}: the generated type would refuse a value the server sends and fail the whole call; remove the limit (in the patch file)",
                        limits.join(", ")
                    ),
                );
            }
            if let Some(format) = obj.get("format").and_then(Value::as_str)
                && self
                    .policy
                    .forbid_response_formats
                    .iter()
                    .any(|f| f == format)
            {
                self.push(
                    Rule::ResponseFormat,
                    at,
                    format!("`format: {format}` is forbidden in this provider's responses by its codegen.toml ([validate] forbid_response_formats); remove the format"),
                );
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            let Some(members) = obj.get(key).and_then(Value::as_array) else {
                continue;
            };
            let other = open_enum_other_branch(members);
            for (i, m) in members.iter().enumerate() {
                // In an open enum, the branch of known values is closed on purpose.
                if other.is_some() && other != Some(i) {
                    continue;
                }
                self.schema(m, &format!("{at}/{key}/{i}"));
            }
        }
        for (name, p) in obj
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            self.schema(p, &format!("{at}.{name}"));
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = obj.get(key) {
                self.schema(sub, &format!("{at}[{key}]"));
            }
        }
    }
}
