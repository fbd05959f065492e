//! Snapshots of the generated RequestRocket models: the JSON Schema of every model, and every
//! documented example payload of `specs/requestrocket/examples/` decoded into its generated type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate_requestrocket::types;

tollgate_tests::model_schemas!(
    "requestrocket",
    tollgate_requestrocket::types,
    [
        Client,
        ClientConfiguration,
        ClientConfigurationBody,
        ClientConfigurationConfiguration,
        ClientConfigurationResponse,
        ClientCreate,
        ClientCreateClientName,
        ClientEnvelope,
        ClientLimits,
        ClientLimitsValue,
        ClientList,
        ClientMember,
        ClientUpdate,
        ClientUpdateClientName,
        Credential,
        CredentialAuthType,
        CredentialAuthTypeValue,
        CredentialAuthTypeValueOther,
        CredentialCreate,
        CredentialCreateCredentialName,
        CredentialCreateCredentialRegion,
        CredentialEnvelope,
        CredentialList,
        CredentialSecret,
        CredentialType,
        CredentialTypeValue,
        CredentialTypeValueOther,
        CredentialUpdate,
        CredentialUpdateCredentialName,
        Error,
        HttpMethod,
        Message,
        Meter,
        MeterCreate,
        MeterEnvelope,
        MeterExtraction,
        MeterLimit,
        MeterLimitInput,
        MeterList,
        MeterPredicate,
        MeterType,
        MeterTypeValue,
        MeterTypeValueOther,
        MeterUpdate,
        MeterWindow,
        Notification,
        NotificationEnvelope,
        NotificationList,
        NotificationType,
        NotificationTypeValue,
        NotificationTypeValueOther,
        OAuthGrantType,
        Pagination,
        Pattern,
        Presence,
        Proxy,
        ProxyCreate,
        ProxyCreateProxyName,
        ProxyCreateProxyProxyCredentialId,
        ProxyCreateProxyRegion,
        ProxyCreateProxyTargetCredentialId,
        ProxyCreateProxyTargetId,
        ProxyData,
        ProxyEnvelope,
        ProxyList,
        ProxyUpdate,
        ProxyUpdateProxyName,
        ProxyUpdateProxyProxyCredentialId,
        ProxyUpdateProxyTargetCredentialId,
        ProxyUpdateProxyTargetId,
        RequestLog,
        RequestLogEnvelope,
        RequestLogList,
        Role,
        RoleValue,
        RoleValueOther,
        Rule,
        RuleCheck,
        RuleCreate,
        RuleCreatePath,
        RuleEffect,
        RuleEffectValue,
        RuleEffectValueOther,
        RuleList,
        RulePath,
        Target,
        TargetCreate,
        TargetCreateTargetBaseUrl,
        TargetCreateTargetName,
        TargetCreateTargetRegion,
        TargetEnvelope,
        TargetList,
        TargetUpdate,
        TargetUpdateTargetBaseUrl,
        TargetUpdateTargetName,
        TelemetryResponse
    ]
);

tollgate_tests::examples!("requestrocket", tollgate_requestrocket::types, {
    client_created_seed: Client <= "client-created-seed.json";
    clients_list: ClientList <= "clients-list.json";
    clients_seed_pagination_envelope: ClientList <= "clients-seed-pagination-envelope.json";
    client_create: ClientCreate <= "client-create.json";
    client_configuration: ClientConfiguration <= "client-configuration.json";
    credential_create_key: CredentialCreate <= "credential-create-key.json";
    credential_create_jwt_verify: CredentialCreate <= "credential-create-jwt-verify.json";
    credentials_list: CredentialList <= "credentials-list.json";
    targets_list: TargetList <= "targets-list.json";
    proxies_list: ProxyList <= "proxies-list.json";
    proxy_create: ProxyCreate <= "proxy-create.json";
    proxy_update_limits: ProxyUpdate <= "proxy-update-limits.json";
    proxy_bare_unknown_field: ProxyEnvelope <= "proxy-bare-unknown-field.json";
    rule_create_nested_path: RuleCreate <= "rule-create-nested-path.json";
    rule_create_body_check: RuleCreate <= "rule-create-body-check.json";
    rule_create_token_check: RuleCreate <= "rule-create-token-check.json";
    rules_created: RuleList <= "rules-created.json";
    meter_create_response_value: MeterCreate <= "meter-create-response-value.json";
    requests_list: RequestLogList <= "requests-list.json";
    notifications_list: NotificationList <= "notifications-list.json";
    notification_unknown_type: NotificationEnvelope <= "notification-unknown-type.json";
    error_invalid_client_id: Error <= "error-invalid-client-id.json";
    error_rate_limited: Error <= "error-rate-limited.json";
});

#[test]
fn credential_secrets_are_sent_but_never_printed() {
    let body: types::CredentialCreate = tollgate_tests::decode_example(
        "requestrocket",
        "CredentialCreate",
        "credential-create-key.json",
    );
    assert!(!format!("{body:?}").contains("rr_live_"));
    let wire = serde_json::to_value(&body).unwrap();
    assert_eq!(wire["credentialSecret"]["key"], "rr_live_xxxxxxxxxxxxxx");
    // Secret fields the spec does not name are secrets too.
    let secret: types::CredentialSecret =
        serde_json::from_str(r#"{"apiSecretValue": "s3cr3t"}"#).unwrap();
    assert!(!format!("{secret:?}").contains("s3cr3t"));
    assert_eq!(
        serde_json::to_value(&secret).unwrap()["apiSecretValue"],
        "s3cr3t"
    );
}

#[test]
fn envelopes_read_wrapped_and_bare_objects() {
    let wrapped: types::TargetEnvelope = serde_json::from_str(
        r#"{"target": {"sKey": "tgt_1", "targetName": "Stripe API"}, "message": "Success"}"#,
    )
    .unwrap();
    assert_eq!(wrapped.target.unwrap().s_key.as_deref(), Some("tgt_1"));
    let bare: types::ProxyEnvelope = tollgate_tests::decode_example(
        "requestrocket",
        "ProxyEnvelope",
        "proxy-bare-unknown-field.json",
    );
    assert_eq!(bare.s_key.as_deref(), Some("proxy_789e4567"));
    assert!(bare.proxy.is_none());
    assert!(
        matches!(&bare.proxy_default_rule_effect, Some(types::RuleEffectValue::Other(e)) if e.as_str() == "audit")
    );
}

#[test]
fn request_bodies_are_checked_before_sending() {
    // An empty name is refused by the generated type (minLength 1), with a message naming it.
    let err =
        types::ClientCreate::try_from(types::ClientCreate::builder().client_name("")).unwrap_err();
    assert!(err.to_string().contains("client_name"), "{err}");
    assert!("".parse::<types::ClientCreateClientName>().is_err());
}
