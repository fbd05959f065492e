//! The provider documents, read at start: every operation's route, parameters, body and answer.
//!
//! The documents are the repaired OpenAPI 3.1 documents that `cargo xtask codegen` writes to
//! `crates/sandbox/specs/` (the same ones the clients are generated from), so the sandbox checks
//! requests exactly as the spec describes them and answers with data of the spec's shape.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::Method;
use serde_json::{Map, Value, json};

/// Where a parameter travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// In the path template.
    Path,
    /// In the query string.
    Query,
    /// In a header.
    Header,
}

impl Location {
    /// The prefix validation messages use (`querystring/limit`), as Enrich writes them.
    pub fn label(self) -> &'static str {
        match self {
            Location::Path => "params",
            Location::Query => "querystring",
            Location::Header => "headers",
        }
    }
}

/// One declared parameter.
#[derive(Debug)]
pub struct Param {
    /// Its name on the wire.
    pub name: String,
    /// Where it travels.
    pub location: Location,
    /// Whether it must be sent.
    pub required: bool,
    /// Its schema (JSON Schema 2020-12, may reference the document's components).
    pub schema: Value,
    /// `explode: false`: one value, comma-separated, for an array.
    pub comma_separated: bool,
}

/// One operation of a document.
#[derive(Debug)]
pub struct Operation {
    /// The `operationId`.
    pub id: String,
    /// The HTTP method.
    pub method: Method,
    /// The path template (`/clients/{clientId}`).
    pub template: String,
    /// The declared parameters (path-level and operation-level).
    pub params: Vec<Param>,
    /// The request body schema, when the operation takes one.
    pub body: Option<Value>,
    /// Whether the body must be sent.
    pub body_required: bool,
    /// The success status (the lowest 2xx).
    pub success: u16,
    /// The success content type and schema (`None`: no body).
    pub answer: Option<(String, Value)>,
    validators: OnceLock<Validators>,
}

#[derive(Debug)]
struct Validators {
    params: Vec<Option<jsonschema::Validator>>,
    body: Option<jsonschema::Validator>,
}

impl Operation {
    /// The segments of the path template (`["clients", "{clientId}"]`).
    pub fn segments(&self) -> Vec<&str> {
        self.template.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// A parsed document.
pub struct Api {
    doc: Value,
    operations: Vec<Operation>,
    /// Each path template (without its trailing slash) to the operations on it, one per
    /// method: matchit's radix tree, which prefers a literal segment to a parameter.
    router: matchit::Router<Vec<usize>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

/// Why a request does not fit its operation: what a 400 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where (`querystring/limit`, `body/emails/3`).
    pub place: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.place, self.reason)
    }
}

/// The outcome of matching a request to an operation.
pub enum Route<'a> {
    /// The operation and the path parameters.
    Found(&'a Operation, BTreeMap<String, String>),
    /// The path exists, not with this method.
    WrongMethod(Vec<Method>),
    /// No such path.
    NotFound,
}

fn method_of(name: &str) -> Option<Method> {
    Some(match name {
        "get" => Method::GET,
        "post" => Method::POST,
        "put" => Method::PUT,
        "patch" => Method::PATCH,
        "delete" => Method::DELETE,
        "head" => Method::HEAD,
        "options" => Method::OPTIONS,
        _ => return None,
    })
}

/// A path with its empty segments (a trailing slash, `//`) left out: `/a/b`.
fn normalized(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

impl Api {
    /// Reads a document (JSON text). Fails on a document whose operations cannot be routed.
    pub fn parse(text: &str) -> Result<Api, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let mut operations = Vec::new();
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("the document has no paths")?;
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (name, op) in item {
                let Some(method) = method_of(name) else {
                    continue;
                };
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{name} {template} has no operationId"))?
                    .to_owned();
                let mut params = Vec::new();
                let own = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for p in shared.iter().chain(own.iter()) {
                    let p = resolve(&doc, p);
                    let location = match p.get("in").and_then(Value::as_str) {
                        Some("path") => Location::Path,
                        Some("query") => Location::Query,
                        Some("header") => Location::Header,
                        _ => continue,
                    };
                    params.push(Param {
                        name: p
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        location,
                        required: p.get("required").and_then(Value::as_bool) == Some(true),
                        schema: p.get("schema").cloned().unwrap_or_else(|| json!({})),
                        comma_separated: p.get("explode").and_then(Value::as_bool) == Some(false),
                    });
                }
                let body_spec = op.get("requestBody").map(|b| resolve(&doc, b));
                let body = body_spec
                    .and_then(|b| b.pointer("/content/application~1json/schema"))
                    .cloned();
                let body_required = body_spec
                    .and_then(|b| b.get("required"))
                    .and_then(Value::as_bool)
                    == Some(true);
                let (success, answer) = success_of(&doc, op);
                operations.push(Operation {
                    id,
                    method,
                    template: template.clone(),
                    params,
                    body,
                    body_required,
                    success,
                    answer,
                    validators: OnceLock::new(),
                });
            }
        }
        let mut by_template: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, op) in operations.iter().enumerate() {
            by_template
                .entry(normalized(&op.template))
                .or_default()
                .push(i);
        }
        let mut router = matchit::Router::new();
        for (template, ops) in by_template {
            router
                .insert(template.clone(), ops)
                .map_err(|e| format!("the path {template} cannot be routed: {e}"))?;
        }
        Ok(Api {
            doc,
            operations,
            router,
        })
    }

    /// The whole document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Every operation, in document order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this id.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }

    /// Finds the operation for a method and path (trailing slashes do not matter). A literal
    /// segment wins over a parameter (`/company-follower/limit` over `/{batchId}`).
    pub fn route(&self, method: &Method, path: &str) -> Route<'_> {
        let path = normalized(path);
        let Ok(found) = self.router.at(&path) else {
            return Route::NotFound;
        };
        let ops = found.value.iter().filter_map(|&i| self.operations.get(i));
        let mut methods = Vec::new();
        for op in ops {
            if op.method == *method {
                let params = found
                    .params
                    .iter()
                    .map(|(name, value)| (name.to_owned(), percent_decode(value)))
                    .collect();
                return Route::Found(op, params);
            }
            methods.push(op.method.clone());
        }
        Route::WrongMethod(methods)
    }

    /// The part of the document's `components` that `schema` reaches through its `$ref`s
    /// (`#/components/<section>/<name>`, followed transitively). A validator carries only
    /// these: a parameter's `integer` needs none, and copying every component into each of an
    /// operation's validators made the first request of an operation compile the whole
    /// document once per parameter (hundreds of milliseconds on a busy machine, during which
    /// the sandbox answered nothing).
    fn reached_components(&self, schema: &Value) -> Value {
        let mut reached = serde_json::Map::new();
        let mut pending: Vec<&Value> = vec![schema];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    // The whole component a reference points into (`Person` of
                    // `#/components/schemas/Person/properties/name` too).
                    if let Some(target) = map.get("$ref").and_then(Value::as_str)
                        && let Some(path) = target.strip_prefix("#/components/")
                        && let Some((section, rest)) = path.split_once('/')
                        && let Some(token) = rest.split('/').next()
                        && let Some(found) =
                            self.doc.pointer(&format!("/components/{section}/{token}"))
                    {
                        let name = token.replace("~1", "/").replace("~0", "~");
                        let entries = reached
                            .entry(section.to_owned())
                            .or_insert_with(|| json!({}));
                        if let Some(entries) = entries.as_object_mut()
                            && !entries.contains_key(&name)
                        {
                            entries.insert(name, found.clone());
                            pending.push(found);
                        }
                    }
                    pending.extend(map.values());
                }
                Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
        Value::Object(reached)
    }

    /// A validator for `schema`, whose `$ref`s point into this document's components. Integer
    /// formats are enforced as ranges (`int64` is at most 2^63 - 1): JSON Schema only annotates
    /// them, and a number past them cannot be what the provider accepts.
    fn validator(&self, schema: &Value) -> Option<jsonschema::Validator> {
        let mut wrapped = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.reached_components(schema),
        });
        integer_ranges(&mut wrapped);
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .with_keyword(INTEGER_64, |_, _, _| {
                Ok(Box::new(Integer64) as Box<dyn for<'i> jsonschema::Keyword<'i>>)
            })
            .build(&wrapped)
            .map_err(|e| tracing::error!(error = %e, "a schema of the document does not compile"))
            .ok()
    }

    /// Compiles the validators of every operation now, so that no request waits for them
    /// (a request otherwise compiles its operation's validators when it first comes: several
    /// milliseconds, on a busy machine tens, while the requests behind it wait; a client
    /// pacing to the sandbox's rate limit then saw them answered together, and throttled).
    pub fn prepare(&self) {
        for op in &self.operations {
            self.validators(op);
        }
    }

    fn validators<'o>(&self, op: &'o Operation) -> &'o Validators {
        op.validators.get_or_init(|| Validators {
            params: op
                .params
                .iter()
                .map(|p| self.validator(&p.schema))
                .collect(),
            body: op.body.as_ref().and_then(|b| self.validator(b)),
        })
    }

    /// Reads and checks the parameters of a request: path parameters, the query (repeated keys
    /// kept) and headers. Returns them typed as the schema says (`"5"` becomes `5` for an
    /// integer), by name; undeclared query parameters are ignored, as the providers do.
    pub fn read_params(
        &self,
        op: &Operation,
        path: &BTreeMap<String, String>,
        query: &[(String, String)],
        headers: &axum::http::HeaderMap,
    ) -> Result<Map<String, Value>, Invalid> {
        let validators = self.validators(op);
        let mut out = Map::new();
        for (index, p) in op.params.iter().enumerate() {
            let place = format!("{}/{}", p.location.label(), p.name);
            let raw: Vec<String> = match p.location {
                Location::Path => path.get(&p.name).cloned().into_iter().collect(),
                Location::Query => query
                    .iter()
                    .filter(|(k, _)| *k == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Location::Header => headers
                    .get_all(p.name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect(),
            };
            if raw.is_empty() {
                if p.required {
                    return Err(Invalid {
                        place,
                        reason: "is required".into(),
                    });
                }
                continue;
            }
            let schema = resolve(&self.doc, &p.schema);
            let value = if main_type(&self.doc, schema) == Some("array") {
                let items = schema
                    .get("items")
                    .map_or(&Value::Null, |i| resolve(&self.doc, i));
                let mut list = Vec::new();
                for v in &raw {
                    let parts: Vec<&str> = if p.comma_separated || raw.len() == 1 {
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .collect()
                    } else {
                        vec![v.as_str()]
                    };
                    for part in parts {
                        list.push(coerce(&self.doc, items, part).map_err(|reason| Invalid {
                            place: place.clone(),
                            reason,
                        })?);
                    }
                }
                Value::Array(list)
            } else {
                let last = raw.last().map(String::as_str).unwrap_or_default();
                coerce(&self.doc, schema, last).map_err(|reason| Invalid {
                    place: place.clone(),
                    reason,
                })?
            };
            if let Some(Some(validator)) = validators.params.get(index)
                && let Some(error) = validator.iter_errors(&value).next()
            {
                return Err(Invalid {
                    place,
                    reason: describe(&error),
                });
            }
            out.insert(p.name.clone(), value);
        }
        Ok(out)
    }

    /// Checks a request body against the operation's schema. `None` is an absent body.
    pub fn check_body(&self, op: &Operation, body: Option<&Value>) -> Result<(), Invalid> {
        let Some(body) = body else {
            if op.body_required {
                return Err(Invalid {
                    place: "body".into(),
                    reason: "is required (a JSON document)".into(),
                });
            }
            return Ok(());
        };
        if let Some(validator) = &self.validators(op).body {
            let errors: Vec<_> = validator.iter_errors(body).collect();
            // An e-mail that is not one is said the way the providers say it.
            let email = errors.iter().find(|e| {
                matches!(e.kind(), jsonschema::error::ValidationErrorKind::Format { format } if format == "email")
            });
            if let Some(error) = email.or(errors.first()) {
                let at = error.instance_path().to_string();
                let reason = if email.is_some() {
                    "Invalid email".to_owned()
                } else {
                    describe(error)
                };
                return Err(Invalid {
                    place: format!("body{at}"),
                    reason,
                });
            }
        }
        Ok(())
    }
}

/// The keyword [`integer_ranges`] adds: the number must be an integer that fits 64 bits
/// (serde reads a larger one as a float, rounded into the range, which `minimum`/`maximum` alone
/// would let through).
const INTEGER_64: &str = "x-tollgate-integer-64";

struct Integer64;

impl<'i> jsonschema::Keyword<'i> for Integer64 {
    fn validate(&self, instance: &'i Value) -> Result<(), jsonschema::ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(jsonschema::ValidationError::custom(format!(
                "{instance} does not fit a 64-bit integer"
            )))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        match instance {
            // An integer JSON Schema accepts (`97.0` too) that is exact as a float (at most
            // 2^53), or read as an integer that fits i64.
            Value::Number(n) => {
                n.as_i64().is_some()
                    || n.as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            }
            _ => true,
        }
    }
}

/// Adds the range of `format: int64` / `int32` to every integer schema that has none.
fn integer_ranges(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let integer = match map.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
                _ => false,
            };
            let range = match map.get("format").and_then(Value::as_str) {
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                _ => None,
            };
            if integer && let Some((low, high)) = range {
                map.entry("minimum").or_insert(low);
                map.entry("maximum").or_insert(high);
                map.insert(INTEGER_64.into(), Value::Bool(true));
            }
            for value in map.values_mut() {
                integer_ranges(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integer_ranges),
        _ => {}
    }
}

fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let text = error.to_string();
    // Keep messages short: a long instance is not worth repeating.
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn percent_decode(text: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={}", text.replace('+', "%2B")))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map_or_else(|| text.to_owned(), |(_, v)| v)
}

/// Follows a `$ref` (repeatedly) within the document.
pub fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("#/") => match doc.pointer(&r[1..]) {
                Some(target) => value = target,
                None => return value,
            },
            _ => return value,
        }
    }
    value
}

/// The one non-null type a schema declares (`[integer, null]` is `integer`).
fn main_type<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a str> {
    let schema = resolve(doc, schema);
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => {
            for key in ["allOf", "oneOf", "anyOf"] {
                if let Some(first) = schema
                    .get(key)
                    .and_then(Value::as_array)
                    .and_then(|l| l.iter().find_map(|s| main_type(doc, s)))
                {
                    return Some(first);
                }
            }
            None
        }
    }
}

/// Turns a query or path text into the JSON value its schema describes.
fn coerce(doc: &Value, schema: &Value, text: &str) -> Result<Value, String> {
    match main_type(doc, schema) {
        Some("integer") => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("must be an integer, got `{text}`")),
        Some("number") => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("must be a number, got `{text}`")),
        Some("boolean") => match text.trim() {
            "true" | "True" | "1" => Ok(Value::Bool(true)),
            "false" | "False" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("must be true or false, got `{text}`")),
        },
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// The lowest 2xx of an operation and its content.
fn success_of(doc: &Value, op: &Value) -> (u16, Option<(String, Value)>) {
    let mut best: Option<(u16, Option<(String, Value)>)> = None;
    for (code, response) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(status) = code.parse::<u16>() else {
            continue;
        };
        if !(200..300).contains(&status) || best.as_ref().is_some_and(|(s, _)| *s < status) {
            continue;
        }
        let response = resolve(doc, response);
        let content = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| {
                c.iter()
                    .find(|(t, _)| t.contains("json"))
                    .or_else(|| c.iter().next())
            })
            .map(|(t, m)| {
                (
                    t.clone(),
                    m.get("schema").cloned().unwrap_or_else(|| json!({})),
                )
            });
        best = Some((status, content));
    }
    best.unwrap_or((200, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Synth;

    const DOCUMENTS: [(&str, &str); 4] = [
        ("rocketreach", include_str!("../specs/rocketreach.json")),
        ("requestrocket", include_str!("../specs/requestrocket.json")),
        ("enrich", include_str!("../specs/enrich.json")),
        ("spidernews", include_str!("../specs/spidernews.json")),
    ];

    #[test]
    fn a_validator_carries_only_the_components_its_schema_reaches() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {
                "schemas": {
                    "Person": {"type": "object", "properties": {
                        "employer": {"$ref": "#/components/schemas/Company"},
                        "self": {"$ref": "#/components/schemas/Person"},
                        "size": {"$ref": "#/components/schemas/Team/properties/size"}}},
                    "Team": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "Company": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "Unrelated": {"type": "string"}
                },
                "parameters": {"Unused": {"name": "x", "in": "query"}}
            }
        });
        let api = Api::parse(&doc.to_string()).unwrap();
        let reached = api.reached_components(&json!({"$ref": "#/components/schemas/Person"}));
        let mut names: Vec<&String> = reached["schemas"].as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["Company", "Person", "Team"]);
        assert!(reached.get("parameters").is_none());
        assert_eq!(
            api.reached_components(&json!({"type": "integer"})),
            json!({})
        );
        // And the validator built from them works through the references.
        let person = api
            .validator(&json!({"$ref": "#/components/schemas/Person"}))
            .unwrap();
        assert!(person.is_valid(&json!({"employer": {"size": 3}})));
        assert!(!person.is_valid(&json!({"employer": {"size": "big"}})));
        assert!(!person.is_valid(&json!({"size": "big"})));
    }

    #[test]
    fn every_validator_of_every_document_compiles_before_a_request() {
        for (name, text) in DOCUMENTS {
            let api = Api::parse(text).unwrap();
            api.prepare();
            let ready = api
                .operations
                .iter()
                .all(|op| op.validators.get().is_some());
            assert!(ready, "{name}");
        }
    }

    #[test]
    fn every_made_up_answer_fits_its_own_schema() {
        let mut checked = 0;
        for (name, text) in DOCUMENTS {
            let api = Api::parse(text).unwrap();
            for op in api.operations() {
                let Some((content_type, schema)) = &op.answer else {
                    continue;
                };
                if !content_type.contains("json") {
                    continue;
                }
                let validator = api.validator(schema).unwrap();
                for seed in ["a", "b", "c"] {
                    let value = Synth::new(api.document(), seed).value(schema);
                    let errors: Vec<String> = validator
                        .iter_errors(&value)
                        .map(|e| format!("{} at {}", e, e.instance_path()))
                        .collect();
                    assert!(errors.is_empty(), "{name} {}: {errors:?}", op.id);
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn routes_prefer_literal_segments_and_ignore_trailing_slashes() {
        let api = Api::parse(DOCUMENTS[2].1).unwrap();
        match api.route(&Method::GET, "/company-follower/limit") {
            Route::Found(op, params) => {
                assert_eq!(op.id, "get_company_follower_limit");
                assert!(params.is_empty());
            }
            _ => panic!("not found"),
        }
        match api.route(&Method::GET, "/email-validation/batch/abc/results/") {
            Route::Found(op, params) => {
                assert_eq!(op.id, "get_email_validation_batch_results");
                assert_eq!(params["batchId"], "abc");
            }
            _ => panic!("not found"),
        }
        assert!(matches!(
            api.route(&Method::DELETE, "/email-validation"),
            Route::WrongMethod(_)
        ));
        assert!(matches!(api.route(&Method::GET, "/nope"), Route::NotFound));
    }

    #[test]
    fn query_values_are_typed_and_checked() {
        let api = Api::parse(DOCUMENTS[1].1).unwrap();
        let op = api.operation("list_clients").unwrap();
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let headers = axum::http::HeaderMap::new();
        let ok = api
            .read_params(
                op,
                &BTreeMap::new(),
                &q(&[("page", "2"), ("limit", "50")]),
                &headers,
            )
            .unwrap();
        assert_eq!(ok["page"], 2);
        let bad = api
            .read_params(op, &BTreeMap::new(), &q(&[("page", "two")]), &headers)
            .unwrap_err();
        assert_eq!(bad.place, "querystring/page");
        assert!(bad.reason.contains("integer"), "{bad}");
        let big = api
            .read_params(op, &BTreeMap::new(), &q(&[("limit", "500")]), &headers)
            .unwrap_err();
        assert_eq!(big.place, "querystring/limit");
    }
}
