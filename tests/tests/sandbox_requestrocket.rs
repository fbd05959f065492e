//! The RequestRocket client end to end against the sandbox: every operation of the spec called
//! with a valid request and decoded, resources created, read, updated, listed page by page and
//! deleted, unknown ids refused in RequestRocket's `{error, code, status}` envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::num::NonZeroU64;

use futures::TryStreamExt;
use serde_json::json;
use tollgate_requestrocket::{Client, types};
use tollgate_sandbox::{Provider, Sandbox, seed};

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(seed::REQUESTROCKET_TOKEN)
        .base_url(sandbox.base_url(Provider::RequestRocket))
        .rate_limit(None)
        .build()
        .unwrap()
}

use tollgate_tests::from_json as body;

fn status(e: &tollgate_requestrocket::Error) -> Option<u16> {
    e.status()
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one walk through every resource, in order
async fn every_operation_answers_and_resources_keep_their_state() {
    let sandbox = Sandbox::start().await.unwrap();
    let rr = client(&sandbox);

    assert!(rr.list_clients().send().await.unwrap().clients.is_empty());
    let created = rr
        .create_client()
        .body(body::<types::ClientCreate>(json!({"clientName": "Acme"})))
        .send()
        .await
        .unwrap();
    let client_id = created.client_id.clone().unwrap();
    assert_eq!(created.client_name.as_deref(), Some("Acme"));
    let user_id = created.client_members[0].user_id.clone().unwrap();
    let twice = rr
        .create_client()
        .body(body::<types::ClientCreate>(json!({"clientName": "Acme"})))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&twice), Some(409));

    let updated = rr
        .update_client()
        .client_id(&client_id)
        .body(body::<types::ClientUpdate>(
            json!({"clientName": "Acme Corp"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.client.as_ref().unwrap().client_name.as_deref(),
        Some("Acme Corp")
    );
    let configured = rr
        .update_client_configuration()
        .client_id(&client_id)
        .body(body::<types::ClientConfiguration>(
            json!({"configuration": {"limits": {"requestsPerMinute": 50, "requestsPerDay": 1000}}}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        configured
            .configuration
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()
            .requests_per_minute,
        Some(50)
    );
    let read = rr.get_client().client_id(&client_id).send().await.unwrap();
    let read = read.client.as_ref().unwrap();
    assert_eq!(read.client_name.as_deref(), Some("Acme Corp"));
    assert_eq!(
        read.configuration
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()
            .requests_per_day,
        Some(1000),
        "the configuration is kept"
    );
    rr.get_client_telemetry()
        .client_id(&client_id)
        .send()
        .await
        .unwrap();

    // Credentials: a proxy credential and a target credential (its secret never comes back).
    let cred = |kind: &str, name: &str| {
        body::<types::CredentialCreate>(
            json!({"credentialType": kind, "credentialAuthType": "apiKey",
            "credentialName": name, "credentialRegion": "us-east-1", "credentialSecret": {"key": "sk_secret_value"}}),
        )
    };
    let proxy_cred = rr
        .create_credential()
        .client_id(&client_id)
        .body(cred("proxy", "app-key"))
        .send()
        .await
        .unwrap();
    let proxy_cred_id = proxy_cred
        .credential
        .as_ref()
        .unwrap()
        .s_key
        .clone()
        .unwrap();
    let target_cred = rr
        .create_credential()
        .client_id(&client_id)
        .body(cred("target", "stripe-key"))
        .send()
        .await
        .unwrap();
    let target_cred_id = target_cred
        .credential
        .as_ref()
        .unwrap()
        .s_key
        .clone()
        .unwrap();
    let raw = serde_json::to_string(&target_cred.into_inner()).unwrap();
    assert!(
        !raw.contains("sk_secret_value"),
        "secrets are write-only: {raw}"
    );
    let creds: Vec<types::Credential> = rr.all_credentials(&client_id).try_collect().await.unwrap();
    assert_eq!(creds.len(), 2);
    rr.get_credential()
        .client_id(&client_id)
        .credential_id(&proxy_cred_id)
        .send()
        .await
        .unwrap();
    let renamed = rr
        .update_credential()
        .client_id(&client_id)
        .credential_id(&proxy_cred_id)
        .body(body::<types::CredentialUpdate>(
            json!({"credentialName": "app-key-2"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        renamed
            .credential
            .as_ref()
            .unwrap()
            .credential_name
            .as_deref(),
        Some("app-key-2")
    );

    // Targets.
    let target = rr
        .create_target()
        .client_id(&client_id)
        .body(body::<types::TargetCreate>(
            json!({"targetName": "Stripe API",
            "targetBaseURL": "https://api.stripe.com", "targetRegion": "us-east-1"}),
        ))
        .send()
        .await
        .unwrap();
    let target_id = target.target.as_ref().unwrap().s_key.clone().unwrap();
    assert_eq!(
        rr.list_targets()
            .client_id(&client_id)
            .send()
            .await
            .unwrap()
            .targets
            .len(),
        1
    );
    rr.get_target()
        .client_id(&client_id)
        .target_id(&target_id)
        .send()
        .await
        .unwrap();
    rr.update_target()
        .client_id(&client_id)
        .target_id(&target_id)
        .body(body::<types::TargetUpdate>(
            json!({"targetTestPath": "/v1/customers"}),
        ))
        .send()
        .await
        .unwrap();

    // Proxies, their telemetry, meters and request history.
    let proxy = rr
        .create_proxy()
        .client_id(&client_id)
        .body(body::<types::ProxyCreate>(
            json!({"proxyName": "payments", "proxyRegion": "us-east-1",
            "proxyProxyCredentialId": proxy_cred_id, "proxyTargetId": target_id,
            "proxyTargetCredentialId": target_cred_id, "proxyMaxRequestsPerMinute": 60}),
        ))
        .send()
        .await
        .unwrap();
    let proxy_id = proxy.proxy.as_ref().unwrap().s_key.clone().unwrap();
    let proxies: Vec<types::Proxy> = rr.all_proxies(&client_id).try_collect().await.unwrap();
    assert_eq!(proxies.len(), 1);
    rr.get_proxy()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .send()
        .await
        .unwrap();
    let paused = rr
        .update_proxy()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .body(body::<types::ProxyUpdate>(json!({"proxyActive": false})))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.proxy.as_ref().unwrap().proxy_active, Some(false));
    assert_eq!(
        paused.proxy.as_ref().unwrap().proxy_name.as_deref(),
        Some("payments"),
        "a partial update keeps the rest"
    );
    let meter = rr
        .create_meter()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .body(body::<types::MeterCreate>(
            json!({"meterType": "request_count", "meterName": "calls",
            "limits": [{"window": "day", "limit": 1000}]}),
        ))
        .send()
        .await
        .unwrap();
    let meter_id = meter.meter.as_ref().unwrap().s_key.clone().unwrap();
    assert_eq!(
        rr.list_meters()
            .client_id(&client_id)
            .proxy_id(&proxy_id)
            .send()
            .await
            .unwrap()
            .meters
            .len(),
        1
    );
    rr.get_meter()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .meter_id(&meter_id)
        .send()
        .await
        .unwrap();
    rr.update_meter()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .meter_id(&meter_id)
        .body(body::<types::MeterUpdate>(json!({"meterActive": false})))
        .send()
        .await
        .unwrap();
    let requests = rr
        .list_requests()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .send()
        .await
        .unwrap();
    assert_eq!(requests.total_requests, Some(5));
    let request_id = requests.requests[0].s_key.clone().unwrap();
    rr.get_request()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .request_id(&request_id)
        .send()
        .await
        .unwrap();
    let telemetry = rr
        .get_proxy_telemetry()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .send()
        .await
        .unwrap();
    assert_eq!(telemetry.telemetry["totalRequests"], json!(5));
    rr.delete_meter()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .meter_id(&meter_id)
        .send()
        .await
        .unwrap();

    // Rules at the three scopes.
    let rule = || {
        body::<types::RuleCreate>(
            json!({"effect": "allow", "methods": ["GET"], "pathPattern": "^/v1/"}),
        )
    };
    let r = rr
        .create_credential_rule()
        .client_id(&client_id)
        .credential_id(&proxy_cred_id)
        .body(rule())
        .send()
        .await
        .unwrap();
    let rule_id = r.rules[0].s_key.clone().unwrap();
    assert_eq!(
        rr.list_credential_rules()
            .client_id(&client_id)
            .credential_id(&proxy_cred_id)
            .send()
            .await
            .unwrap()
            .rules
            .len(),
        1
    );
    rr.delete_credential_rule()
        .client_id(&client_id)
        .credential_id(&proxy_cred_id)
        .rule_id(&rule_id)
        .send()
        .await
        .unwrap();
    let r = rr
        .create_proxy_rule()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .body(rule())
        .send()
        .await
        .unwrap();
    let rule_id = r.rules[0].s_key.clone().unwrap();
    rr.list_proxy_rules()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .send()
        .await
        .unwrap();
    rr.delete_proxy_rule()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .rule_id(&rule_id)
        .send()
        .await
        .unwrap();
    let r = rr
        .create_target_rule()
        .client_id(&client_id)
        .target_id(&target_id)
        .body(rule())
        .send()
        .await
        .unwrap();
    let rule_id = r.rules[0].s_key.clone().unwrap();
    rr.list_target_rules()
        .client_id(&client_id)
        .target_id(&target_id)
        .send()
        .await
        .unwrap();
    rr.delete_target_rule()
        .client_id(&client_id)
        .target_id(&target_id)
        .rule_id(&rule_id)
        .send()
        .await
        .unwrap();
    let gone = rr
        .delete_target_rule()
        .client_id(&client_id)
        .target_id(&target_id)
        .rule_id(&rule_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&gone), Some(404));

    // Notifications of the three kinds.
    let system = rr.list_system_notifications().send().await.unwrap();
    let id = system.notifications[0].notification_id.clone().unwrap();
    rr.get_system_notification()
        .notification_id(&id)
        .send()
        .await
        .unwrap();
    let mine = rr
        .list_user_notifications()
        .user_id(&user_id)
        .send()
        .await
        .unwrap();
    let id = mine.notifications[0].notification_id.clone().unwrap();
    rr.get_user_notification()
        .user_id(&user_id)
        .notification_id(&id)
        .send()
        .await
        .unwrap();
    let theirs = rr
        .list_client_notifications()
        .client_id(&client_id)
        .send()
        .await
        .unwrap();
    let id = theirs.notifications[0].notification_id.clone().unwrap();
    rr.get_client_notification()
        .client_id(&client_id)
        .notification_id(&id)
        .send()
        .await
        .unwrap();
    let someone_else = rr
        .list_user_notifications()
        .user_id("user_not_me")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&someone_else), Some(404));

    // Deletes, innermost first; then the ids are gone, and so is what was under them.
    rr.delete_proxy()
        .client_id(&client_id)
        .proxy_id(&proxy_id)
        .send()
        .await
        .unwrap();
    rr.delete_target()
        .client_id(&client_id)
        .target_id(&target_id)
        .send()
        .await
        .unwrap();
    rr.delete_credential()
        .client_id(&client_id)
        .credential_id(&target_cred_id)
        .send()
        .await
        .unwrap();
    rr.delete_client()
        .client_id(&client_id)
        .send()
        .await
        .unwrap();
    let err = rr
        .get_client()
        .client_id(&client_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(404));
    match &err {
        tollgate_requestrocket::Error::Api(e) => {
            assert_eq!(e.code.as_deref(), Some("INVALID_CLIENT_ID"));
            let body: tollgate_requestrocket::types::Error = e.body_as().unwrap();
            assert_eq!(body.status, Some(404));
        }
        other => panic!("not the error envelope: {other:?}"),
    }
    let orphan = rr
        .list_credentials()
        .client_id(&client_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&orphan), Some(404));

    let answered = sandbox.answered(Provider::RequestRocket);
    let missing: Vec<String> = sandbox
        .operations(Provider::RequestRocket)
        .into_iter()
        .filter(|op| !answered.contains_key(op))
        .collect();
    assert!(missing.is_empty(), "operations never answered: {missing:?}");
}

#[tokio::test]
async fn lists_page_with_page_and_limit() {
    let sandbox = Sandbox::start().await.unwrap();
    let rr = client(&sandbox);
    for i in 0..130 {
        rr.create_client()
            .body(body::<types::ClientCreate>(
                json!({"clientName": format!("Client {i:03}")}),
            ))
            .send()
            .await
            .unwrap();
    }
    let page = rr
        .list_clients()
        .page(NonZeroU64::new(2).unwrap())
        .limit(NonZeroU64::new(50).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.clients.len(), 50);
    assert_eq!(page.clients[0].client_name.as_deref(), Some("Client 050"));
    let pagination = page.pagination.as_ref().unwrap();
    assert_eq!((pagination.total, pagination.pages), (Some(130), Some(3)));
    let all: Vec<types::Client> = rr.all_clients().try_collect().await.unwrap();
    assert_eq!(
        all.len(),
        130,
        "the stream reads page after page (100 per page)"
    );

    // A limit beyond the documented 100 is refused by the sandbox like the spec says.
    let url = format!(
        "{}/clients?limit=500",
        sandbox.base_url(Provider::RequestRocket)
    );
    let refused = reqwest::Client::new()
        .get(url)
        .header("Authorization", seed::REQUESTROCKET_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("querystring/limit"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_bodies_and_tokens_are_refused_naming_the_problem() {
    let sandbox = Sandbox::start().await.unwrap();
    let base = sandbox.base_url(Provider::RequestRocket);
    let http = reqwest::Client::new();
    let post = |body: &str, token: Option<&str>| {
        let mut r = http
            .post(format!("{base}/clients"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            r = r.header("Authorization", t);
        }
        r.send()
    };
    let missing = post(r#"{}"#, Some(seed::REQUESTROCKET_TOKEN))
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let text = missing.text().await.unwrap();
    assert!(text.contains("clientName"), "{text}");
    let broken = post("{not json", Some(seed::REQUESTROCKET_TOKEN))
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let no_token = post(r#"{"clientName": "x"}"#, None).await.unwrap();
    assert_eq!(no_token.status(), 401);
    let bad_format = post(r#"{"clientName": "x"}"#, Some("Bearer abc"))
        .await
        .unwrap();
    assert_eq!(bad_format.status(), 401, "tokens start with u-");
    let unknown = post(r#"{"clientName": "x"}"#, Some("u-not-a-known-token"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
    let wrong_method = http
        .patch(format!("{base}/clients"))
        .header("Authorization", seed::REQUESTROCKET_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let no_route = http
        .get(format!("{base}/nothing-here"))
        .header("Authorization", seed::REQUESTROCKET_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(no_route.status(), 404);
}
