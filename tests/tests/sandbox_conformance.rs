//! The sandbox answers what real clients send and never drops a connection: boundary values in
//! every integer and string parameter of every operation, the bodies the providers' own
//! libraries send (form, multipart), very large batches, and the details of its answers (`Allow`
//! on 405, each provider's envelope on 404/405, ids kept, no JSON label on empty answers, the
//! request log naming injected faults).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tollgate_sandbox::{AccountSeed, Provider, Sandbox, seed};

const ROCKET: &str = "boundaryrocketreach00000001";
const ROCKET_UNIVERSAL: &str = "boundaryrocketreach00000002";
const RR_TOKEN: &str = "u-boundary-token-0001";
const ENRICH: &str = "sk_boundary_000000000001";
const SPIDER: &str = "boundary-spider-key-000000000001";

/// A sandbox with unthrottled keys with plenty of credits.
async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start().await.unwrap();
    for (provider, key, universal) in [
        (Provider::RocketReach, ROCKET, false),
        (Provider::RocketReach, ROCKET_UNIVERSAL, true),
        (Provider::RequestRocket, RR_TOKEN, false),
        (Provider::Enrich, ENRICH, false),
        (Provider::SpiderNews, SPIDER, false),
    ] {
        sandbox
            .add_account(
                provider,
                AccountSeed {
                    key: key.into(),
                    credits: Some(1_000_000_000),
                    rows: Some(1_000_000_000),
                    universal,
                    plan: Some(tollgate_sandbox::seed::PlanSeed::Named("none".into())),
                },
            )
            .unwrap();
    }
    sandbox
}

fn key_header(provider: Provider, path: &str) -> (&'static str, &'static str) {
    match provider {
        Provider::RocketReach if path.starts_with("/universal") => ("Api-Key", ROCKET_UNIVERSAL),
        Provider::RocketReach => ("Api-Key", ROCKET),
        Provider::RequestRocket => ("Authorization", RR_TOKEN),
        Provider::Enrich => ("x-api-key", ENRICH),
        Provider::SpiderNews => ("X-API-KEY", SPIDER),
    }
}

/// Follows a `$ref` within the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .map_or(value, |v| resolve(doc, v)),
        None => value,
    }
}

/// `(name, in, kind)` of an operation's integer and string parameters.
fn parameters(doc: &Value, item: &Value, op: &Value) -> Vec<(String, String, &'static str)> {
    let listed = item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    listed
        .filter_map(|p| {
            let p = resolve(doc, p);
            let schema = resolve(doc, p.get("schema")?);
            let kind = match schema.get("type") {
                Some(Value::String(t)) if t == "integer" => "integer",
                Some(Value::String(t)) if t == "string" => "string",
                Some(Value::Array(ts)) if ts.iter().any(|t| t == "integer") => "integer",
                Some(Value::Array(ts)) if ts.iter().any(|t| t == "string") => "string",
                _ => return None,
            };
            Some((
                p.get("name")?.as_str()?.to_owned(),
                p.get("in")?.as_str()?.to_owned(),
                kind,
            ))
        })
        .filter(|(_, place, _)| place == "query" || place == "path")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundary_values_in_every_parameter_get_an_answer_never_a_5xx() {
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    let huge = "x".repeat(10_000);
    let integers = [
        "0".to_owned(),
        "-1".to_owned(),
        i64::MAX.to_string(),
        i64::MIN.to_string(),
        "99999999999999999999999".to_owned(),
    ];
    let strings = [
        String::new(),
        "-1".to_owned(),
        huge.clone(),
        "%00".to_owned(),
    ];
    let mut sent = 0;
    let mut failures = Vec::new();
    for provider in Provider::ALL {
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(
                tollgate_tests::workspace().join(format!("crates/sandbox/specs/{provider}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                if id == "create_new_api_key" {
                    continue; // it would rotate the key the rest of the test uses
                }
                for (name, place, kind) in parameters(&doc, item, op) {
                    let values = if kind == "integer" {
                        &integers[..]
                    } else {
                        &strings[..]
                    };
                    for value in values {
                        let mut path = template.clone();
                        let mut query = Vec::new();
                        if place == "path" {
                            path = path.replace(&format!("{{{name}}}"), &value.replace('%', "%25"));
                        } else {
                            query.push((name.clone(), value.clone()));
                        }
                        // Other path parameters get a plain value.
                        while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
                            path.replace_range(a..=b, "1");
                        }
                        let (header, key) = key_header(provider, &path);
                        let url = format!("{}{path}", sandbox.base_url(provider));
                        let request = http
                            .request(method.to_uppercase().parse().unwrap(), &url)
                            .header(header, key)
                            .query(&query);
                        let request = if method == "post" || method == "put" {
                            request.json(&json!({}))
                        } else {
                            request
                        };
                        sent += 1;
                        match request.send().await {
                            Ok(answer) if answer.status().is_server_error() => {
                                failures.push(format!(
                                    "{provider} {method} {template} {name}={value:.20}: {}",
                                    answer.status()
                                ))
                            }
                            Ok(answer) => {
                                // The whole answer arrives.
                                if let Err(e) = answer.bytes().await {
                                    failures
                                        .push(format!("{provider} {template} {name}: body {e}"));
                                }
                            }
                            Err(e) => failures.push(format!(
                                "{provider} {method} {template} {name}={value:.20}: no answer: {e}"
                            )),
                        }
                    }
                }
            }
        }
        assert_eq!(sandbox.panics(provider), 0, "{provider}");
    }
    assert!(sent > 600, "{sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent}: {failures:#?}",
        failures.len()
    );
    let stats: Value = http
        .get(format!("http://{}/_sandbox/stats", sandbox.address()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["panics"]["enrich"], 0);
}

#[tokio::test]
async fn what_rocketreachs_own_clients_send_is_accepted() {
    let sandbox = sandbox().await;
    let rr = tollgate_rocketreach::Client::builder()
        .api_key(ROCKET)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .build()
        .unwrap();
    // `return_cached_emails` is optional, as RocketReach documents it.
    let looked_up = rr
        .create_person_lookup()
        .id(424_242)
        .send()
        .await
        .unwrap()
        .into_inner();
    // A lookup by id answers that id, and its status is found under it.
    assert_eq!(looked_up.id, Some(424_242));
    let status = rr
        .check_person_lookup_status()
        .ids(vec![424_242])
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.0[0].id, Some(424_242));

    // Bulk lookups answer 200 with no body, and no JSON label on it.
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/bulkLookup",
            sandbox.base_url(Provider::RocketReach)
        ))
        .header("Api-Key", ROCKET)
        .json(&json!({"queries": [{"email": "ada@figma.com"}], "webhook_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.headers().get("content-type").is_none());
    assert!(raw.bytes().await.unwrap().is_empty());

    // The key rotation takes a form body (RocketReach's Python library) and a multipart one.
    let base = sandbox.base_url(Provider::RocketReach);
    let form = reqwest::Client::new()
        .post(format!("{base}/account/key/"))
        .header("Api-Key", ROCKET)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200, "{:?}", form.text().await);
    let rotated: Value = reqwest::Client::new()
        .get(format!("http://{}/_sandbox/accounts", sandbox.address()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_key = rotated["rocketreach"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["key"] != ROCKET_UNIVERSAL
                && a["key"] != seed::ROCKETREACH_KEY
                && a["key"] != seed::ROCKETREACH_UNIVERSAL_KEY
                && a["universal"] == false
        })
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let boundary = "XyZboundary";
    let multipart = reqwest::Client::new()
        .post(format!("{base}/account/key/"))
        .header("Api-Key", new_key.as_str())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nrotate\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), 200, "{:?}", multipart.text().await);
}

#[tokio::test]
async fn refusals_keep_each_providers_envelope_and_405_says_what_is_allowed() {
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    let wrong = http
        .delete(format!(
            "{}/wallets/balance",
            sandbox.base_url(Provider::Enrich)
        ))
        .header("x-api-key", ENRICH)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET");
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");

    for (method, path, status) in [
        (reqwest::Method::GET, "/api/nothing", 404),
        (reqwest::Method::POST, "/api/entities", 405),
    ] {
        let answer = http
            .request(
                method,
                format!("{}{path}", sandbox.base_url(Provider::SpiderNews)),
            )
            .header("X-API-KEY", SPIDER)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
        if status == 405 {
            assert_eq!(answer.headers()["allow"], "GET");
        }
        let body: Value = answer.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn batches_as_large_as_the_spec_allows_are_accepted_and_larger_bodies_refused_in_the_envelope()
 {
    let sandbox = sandbox().await;
    let enrich = tollgate_enrich::Client::builder()
        .api_key(ENRICH)
        .base_url(sandbox.base_url(Provider::Enrich))
        .rate_limit(None)
        .build()
        .unwrap();
    // 70,000 addresses: about 2.5 MB, past axum's default limit of 2 MiB.
    let emails: Vec<String> = (0..70_000)
        .map(|i| format!("person.{i}@figma.com"))
        .collect();
    let body: tollgate_enrich::types::BatchEmailValidationRequest =
        tollgate_tests::from_json(json!({ "emails": emails }));
    let submitted = enrich
        .validate_email_batch()
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        submitted.meta.as_ref().and_then(|m| m.credits_reserved),
        Some(70_000)
    );

    let huge = vec![b' '; tollgate_sandbox::engine::MAX_BODY_BYTES + 1];
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/email-validation/batch",
            sandbox.base_url(Provider::Enrich)
        ))
        .header("x-api-key", ENRICH)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 413);
}

#[tokio::test]
async fn a_pending_reveal_job_has_no_null_error() {
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    let base = sandbox.base_url(Provider::Enrich);
    let submitted: Value = http
        .post(format!("{base}/lead-finder/reveal"))
        .header("x-api-key", ENRICH)
        .json(&json!({"leads": [{"id": "enc_abc123def456"}], "fields": ["email"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = submitted["data"]["jobId"]
        .as_str()
        .unwrap_or_else(|| panic!("{submitted}"));
    let status: Value = http
        .get(format!("{base}/lead-finder/reveal-jobs/{job}"))
        .header("x-api-key", ENRICH)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["data"].is_object(), "{status}");
    assert!(
        status["data"].get("error").is_none_or(Value::is_string),
        "{status}"
    );
}

/// Collects what the sandbox logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_request_log_names_the_fault_instead_of_a_200() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sandbox = sandbox().await;
    sandbox.faults().reset_next(1);
    let _ = reqwest::Client::new()
        .get(format!(
            "{}/api/entities",
            sandbox.base_url(Provider::SpiderNews)
        ))
        .header("X-API-KEY", SPIDER)
        .send()
        .await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("/spidernews/api/entities"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("reset: closed without an answer"), "{line}");
    assert!(!line.contains(SPIDER), "the key never reaches the log");
}
