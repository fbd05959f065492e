//! The validator: refuses, before progenitor sees it, every construct that makes progenitor 0.15
//! panic or decode the wrong type silently. Each finding names the operation and the rule.

use std::collections::BTreeSet;
use std::fmt;

use openapiv3::{
    Components, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathStyle, QueryStyle,
    ReferenceOr, RequestBody, Response, StatusCode,
};
use serde_json::Value;

mod schemas;

/// A rule of the validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// The document must be a structurally valid OpenAPI 3.0.x document.
    Structure,
    /// Every operation has an `operationId`, unique in the document.
    OperationId,
    /// Path items are written in place, not referenced.
    PathReference,
    /// Path parameters are required, simple-style, and named in the path template (and the
    /// reverse).
    PathParameter,
    /// Query parameters use the form style; no cookie parameters; parameters have a `schema`.
    ParameterStyle,
    /// A request body has exactly one content type.
    SingleRequestContentType,
    /// A request body's content type is one progenitor can send.
    RequestContentType,
    /// Every JSON response body schema is a `$ref` into `components/schemas`.
    InlineResponseSchema,
    /// All success responses (2xx) of an operation share one body schema.
    OneSuccessSchema,
    /// All error responses (4xx, 5xx) of an operation share one body schema.
    OneErrorSchema,
    /// Every operation declares its error responses with the provider's error envelope.
    ErrorSchema,
    /// No `default` response: progenitor counts it as both success and error.
    DefaultResponse,
    /// Every schema `$ref` points at an existing `#/components/schemas/<name>`.
    SchemaReference,
    /// `not` appears only as `{enum: [...]}` over values of one scalar type (typify panics on
    /// anything else).
    SchemaNot,
    /// Enumerations in responses are open: a value the provider adds later must decode.
    ClosedResponseEnum,
    /// Response strings carry no `maxLength`/`minLength`/`pattern`: the generated type would
    /// refuse, and lose, a whole response for one value the server chose.
    ConstrainedResponseString,
    /// Response strings use none of the formats the provider's settings forbid (for example
    /// `date-time` where the provider's timestamps carry no time zone).
    ResponseFormat,
    /// Properties that hold credentials are `format: password`, so the generated type redacts
    /// them in `Debug` output.
    SecretField,
}

impl Rule {
    /// The rule's name as printed in findings.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Structure => "structure",
            Rule::OperationId => "operation-id",
            Rule::PathReference => "path-reference",
            Rule::PathParameter => "path-parameter",
            Rule::ParameterStyle => "parameter-style",
            Rule::SingleRequestContentType => "single-request-content-type",
            Rule::RequestContentType => "request-content-type",
            Rule::InlineResponseSchema => "inline-response-schema",
            Rule::OneSuccessSchema => "one-success-schema",
            Rule::OneErrorSchema => "one-error-schema",
            Rule::ErrorSchema => "error-schema",
            Rule::DefaultResponse => "default-response",
            Rule::SchemaReference => "schema-reference",
            Rule::SchemaNot => "schema-not",
            Rule::ClosedResponseEnum => "closed-response-enum",
            Rule::ConstrainedResponseString => "constrained-response-string",
            Rule::ResponseFormat => "response-format",
            Rule::SecretField => "secret-field",
        }
    }
}

/// One violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The broken rule.
    pub rule: Rule,
    /// `METHOD /path (operationId)`, or the document location.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {}",
            self.rule.name(),
            self.location,
            self.message
        )
    }
}

/// Provider-specific settings of the rules.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// String formats no response may use.
    #[serde(default)]
    pub forbid_response_formats: Vec<String>,
}

/// Parses `doc` as OpenAPI 3.0.x and checks every rule. Returns the parsed document, or every
/// finding.
pub fn validate(doc: &Value, policy: &Policy) -> Result<OpenAPI, Vec<Finding>> {
    let spec: OpenAPI = match serde_path_to_error::deserialize(doc) {
        Ok(spec) => spec,
        Err(err) => {
            return Err(vec![Finding {
                rule: Rule::Structure,
                location: err.path().to_string(),
                message: format!("not valid OpenAPI 3.0: {}", err.inner()),
            }]);
        }
    };
    let mut findings = Vec::new();
    if !spec.openapi.starts_with("3.0.") {
        findings.push(Finding {
            rule: Rule::Structure,
            location: "openapi".into(),
            message: format!("version {:?}: progenitor reads only 3.0.x", spec.openapi),
        });
    }
    let mut ids = BTreeSet::new();
    for (path, item) in &spec.paths.paths {
        let item = match item {
            ReferenceOr::Item(item) => item,
            ReferenceOr::Reference { reference } => {
                findings.push(Finding {
                    rule: Rule::PathReference,
                    location: path.clone(),
                    message: format!(
                        "the path item is a reference ({reference}); write it in place"
                    ),
                });
                continue;
            }
        };
        for (method, op) in item.iter() {
            let mut ctx = Ctx {
                components: &spec.components,
                location: match &op.operation_id {
                    Some(id) => format!("{} {path} ({id})", method.to_uppercase()),
                    None => format!("{} {path}", method.to_uppercase()),
                },
                findings: &mut findings,
            };
            match &op.operation_id {
                None => ctx.push(
                    Rule::OperationId,
                    "no operationId; every operation needs one (it names the method)".into(),
                ),
                Some(id) if !ids.insert(id.clone()) => ctx.push(
                    Rule::OperationId,
                    format!("operationId `{id}` is used twice"),
                ),
                Some(_) => {}
            }
            ctx.parameters(path, &item.parameters, op);
            ctx.request_body(op);
            ctx.responses(op);
        }
    }
    schemas::check(doc, policy, &mut findings);
    if findings.is_empty() {
        Ok(spec)
    } else {
        Err(findings)
    }
}

struct Ctx<'a> {
    components: &'a Option<Components>,
    location: String,
    findings: &'a mut Vec<Finding>,
}

/// What a response carries, as progenitor sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Body {
    None,
    Json(String),
    Raw,
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::None => f.write_str("no body"),
            Body::Json(r) => write!(f, "{r}"),
            Body::Raw => f.write_str("a non-JSON body"),
        }
    }
}

impl Ctx<'_> {
    fn push(&mut self, rule: Rule, message: String) {
        self.findings.push(Finding {
            rule,
            location: self.location.clone(),
            message,
        });
    }

    fn parameters(&mut self, path: &str, shared: &[ReferenceOr<Parameter>], op: &Operation) {
        let template: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .map(str::to_owned)
            .collect();
        let mut declared = BTreeSet::new();
        let mut all: Vec<Parameter> = Vec::new();
        for p in shared.iter().chain(&op.parameters) {
            let resolved = match p {
                ReferenceOr::Item(p) => Some(p.clone()),
                ReferenceOr::Reference { reference } => {
                    lookup(self.components, reference, |c| &c.parameters)
                }
            };
            match resolved {
                Some(p) => all.push(p),
                None => self.push(
                    Rule::Structure,
                    format!("unresolvable parameter reference {p:?}"),
                ),
            }
        }
        for p in &all {
            let data = p.parameter_data_ref();
            if let ParameterSchemaOrContent::Content(_) = data.format {
                self.push(
                    Rule::ParameterStyle,
                    format!(
                        "parameter `{}` uses `content`; give it a `schema`",
                        data.name
                    ),
                );
            }
            match p {
                Parameter::Path {
                    parameter_data,
                    style,
                } => {
                    declared.insert(parameter_data.name.clone());
                    if !parameter_data.required {
                        self.push(
                            Rule::PathParameter,
                            format!(
                                "path parameter `{}` must be `required: true`",
                                parameter_data.name
                            ),
                        );
                    }
                    if !matches!(style, PathStyle::Simple) {
                        self.push(Rule::PathParameter, format!("path parameter `{}` has style {style:?}; only `simple` is supported", parameter_data.name));
                    }
                    if !template.contains(&parameter_data.name) {
                        self.push(
                            Rule::PathParameter,
                            format!(
                                "path parameter `{}` does not appear in the path",
                                parameter_data.name
                            ),
                        );
                    }
                }
                Parameter::Query {
                    parameter_data,
                    style,
                    ..
                } => {
                    if parameter_data.explode == Some(false) {
                        self.push(
                            Rule::ParameterStyle,
                            format!("query parameter `{}` has `explode: false`; progenitor always sends lists as repeated parameters, so declare `explode: true` and say in the description if the server also takes the comma form", parameter_data.name),
                        );
                    }
                    if !matches!(style, QueryStyle::Form) {
                        self.push(Rule::ParameterStyle, format!("query parameter `{}` has style {style:?}; only `form` is supported", parameter_data.name));
                    }
                }
                Parameter::Cookie { parameter_data, .. } => {
                    self.push(
                        Rule::ParameterStyle,
                        format!(
                            "cookie parameter `{}`: cookies are not supported",
                            parameter_data.name
                        ),
                    );
                }
                Parameter::Header { .. } => {}
            }
        }
        for name in template.difference(&declared) {
            self.push(
                Rule::PathParameter,
                format!("`{{{name}}}` in the path has no path parameter"),
            );
        }
    }

    fn request_body(&mut self, op: &Operation) {
        let Some(body) = &op.request_body else { return };
        let body: RequestBody = match body {
            ReferenceOr::Item(b) => b.clone(),
            ReferenceOr::Reference { reference } => {
                match lookup(self.components, reference, |c| &c.request_bodies) {
                    Some(b) => b,
                    None => {
                        return self.push(
                            Rule::Structure,
                            format!("unresolvable request body {reference}"),
                        );
                    }
                }
            }
        };
        let types: Vec<&String> = body.content.keys().collect();
        if types.len() > 1 {
            let list = types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            self.push(
                Rule::SingleRequestContentType,
                format!("the request body lists {} content types ({list}); progenitor supports one per operation: keep `application/json`", types.len()),
            );
        }
        for (media, m) in &body.content {
            let base = media.split(';').next().unwrap_or_default().trim();
            let known = matches!(
                base,
                "application/json"
                    | "application/x-www-form-urlencoded"
                    | "application/octet-stream"
                    | "text/plain"
                    | "text/x-markdown"
            );
            if !known {
                self.push(Rule::RequestContentType, format!("request content type `{media}` cannot be sent by progenitor (json, form-urlencoded, octet-stream and text/plain can)"));
            }
            if !m.encoding.is_empty() {
                self.push(Rule::RequestContentType, format!("request content type `{media}` has an `encoding`, which progenitor cannot apply"));
            }
            if m.schema.is_none() {
                self.push(
                    Rule::RequestContentType,
                    format!("request content type `{media}` has no schema"),
                );
            }
        }
    }

    fn responses(&mut self, op: &Operation) {
        if op.responses.default.is_some() {
            self.push(Rule::DefaultResponse, "a `default` response counts as both success and error in progenitor; declare the status codes".into());
        }
        let mut success: Vec<(String, Body)> = Vec::new();
        let mut errors: Vec<(String, Body)> = Vec::new();
        for (code, r) in &op.responses.responses {
            let response: Response = match r {
                ReferenceOr::Item(r) => r.clone(),
                ReferenceOr::Reference { reference } => {
                    match lookup(self.components, reference, |c| &c.responses) {
                        Some(r) => r,
                        None => {
                            self.push(
                                Rule::Structure,
                                format!("response {code}: unresolvable reference {reference}"),
                            );
                            continue;
                        }
                    }
                }
            };
            let body = self.body(code, &response);
            let (is_success, is_error) = match code {
                StatusCode::Code(n) => (
                    (200..=299).contains(n) || *n == 101,
                    (400..=599).contains(n),
                ),
                StatusCode::Range(n) => (*n == 2, (4..=5).contains(n)),
            };
            if is_success {
                success.push((code.to_string(), body));
            } else if is_error {
                errors.push((code.to_string(), body));
            }
        }
        self.same(Rule::OneSuccessSchema, "success", &success);
        self.same(Rule::OneErrorSchema, "error", &errors);
        if errors.is_empty() {
            self.push(Rule::ErrorSchema, "no error responses are declared; declare 4xx/5xx responses with the provider's error envelope".into());
        } else if errors.iter().all(|(_, b)| !matches!(b, Body::Json(_))) {
            let codes = errors
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            self.push(
                Rule::ErrorSchema,
                format!("the error responses ({codes}) have no JSON schema; reference the provider's error envelope so errors are parsed"),
            );
        }
    }

    fn body(&mut self, code: &StatusCode, response: &Response) -> Body {
        let json = response.content.iter().find(|(media, _)| {
            media.as_str() == "application/json" || media.starts_with("application/json;")
        });
        match json {
            Some((_, m)) => {
                if !m.encoding.is_empty() {
                    self.push(
                        Rule::InlineResponseSchema,
                        format!("response {code}: an `encoding` on a JSON body is not supported"),
                    );
                }
                match &m.schema {
                    Some(ReferenceOr::Reference { reference }) => Body::Json(reference.clone()),
                    Some(ReferenceOr::Item(_)) => {
                        self.push(
                            Rule::InlineResponseSchema,
                            format!("response {code}: the JSON body schema is inline; progenitor names every inline response schema of an operation alike, so move it to `components/schemas` and `$ref` it"),
                        );
                        Body::Json(format!("<inline schema of {code}>"))
                    }
                    None => {
                        self.push(
                            Rule::InlineResponseSchema,
                            format!("response {code}: the JSON body has no schema"),
                        );
                        Body::Json(format!("<no schema in {code}>"))
                    }
                }
            }
            None if response.content.is_empty() => Body::None,
            None => Body::Raw,
        }
    }

    fn same(&mut self, rule: Rule, kind: &str, responses: &[(String, Body)]) {
        let distinct: BTreeSet<&Body> = responses.iter().map(|(_, b)| b).collect();
        if distinct.len() > 1 {
            let list = responses
                .iter()
                .map(|(c, b)| format!("{c}: {b}"))
                .collect::<Vec<_>>()
                .join("; ");
            self.push(rule, format!("the {kind} responses carry different bodies ({list}); progenitor needs one {kind} type per operation"));
        }
    }
}

fn lookup<T: Clone>(
    components: &Option<Components>,
    reference: &str,
    pick: impl Fn(&Components) -> &indexmap::IndexMap<String, ReferenceOr<T>>,
) -> Option<T> {
    let name = reference.rsplit('/').next()?;
    match pick(components.as_ref()?).get(name)? {
        ReferenceOr::Item(item) => Some(item.clone()),
        ReferenceOr::Reference { .. } => None,
    }
}

#[cfg(test)]
mod tests;
