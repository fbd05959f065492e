//! Snapshots of the generated RocketReach models: the JSON Schema of every model, and every
//! documented example payload of `specs/rocketreach/examples/` decoded into its generated type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate::CreditAmount;
use tollgate_rocketreach::types;

tollgate_tests::model_schemas!(
    "rocketreach",
    tollgate_rocketreach::types,
    [
        ApiKey,
        BirthYear,
        BulkLookupInput,
        BulkWebhookPayload,
        Company,
        CompanyAddress,
        CompanyGrowth,
        CompanyQuery,
        CompanySearchInput,
        CompanySearchPagination,
        CompanySearchResponse,
        CompanySearchRow,
        CreditUsage,
        DepartmentGrowth,
        Education,
        ErrorBody,
        Facet,
        JobHistory,
        KnownState,
        LookupType,
        NpiData,
        OrderBy,
        PersonQuery,
        PersonSearchInput,
        PersonSearchPagination,
        PersonSearchResponse,
        PersonSearchRow,
        Plan,
        Profile,
        ProfileEmail,
        ProfileListRef,
        ProfileMatch,
        ProfilePhone,
        ProfileStatusList,
        ProfileWithCompany,
        RateLimit,
        StateEnum,
        StateEnumOther,
        Teaser,
        TeaserPhone,
        UniversalBulkLookupInput,
        UniversalCompanySearchInput,
        UniversalCreditUsage,
        UniversalCreditUsageByAction,
        UniversalCreditsUserModelWithExtraAttributes,
        UniversalCreditsUserModelWithExtraAttributesCreditUsage,
        UniversalCreditsUserModelWithExtraAttributesDailyApiLimit,
        UniversalLookupInput,
        UniversalPersonSearchInput,
        UserModel,
        YearFounded,
    ]
);

tollgate_tests::examples!("rocketreach", tollgate_rocketreach::types, {
    account_documented: UserModel <= "account-documented.json";
    account_nulls: UserModel <= "account-nulls.json";
    account_unknown_state_and_fields: UserModel <= "account-unknown-state-and-fields.json";
    universal_account_documented: UniversalCreditsUserModelWithExtraAttributes <= "universal-account-documented.json";
    universal_account_credit_usage_list: UniversalCreditsUserModelWithExtraAttributes <= "universal-account-credit-usage-list.json";
    new_api_key: ApiKey <= "new-api-key.json";
    error_universal_credits: ErrorBody <= "error-universal-credits.json";
    error_throttled: ErrorBody <= "error-throttled.json";
    error_field_errors: ErrorBody <= "error-field-errors.json";
    error_documented_401: ErrorBody <= "error-documented-401.json";
    error_not_found: ErrorBody <= "error-not-found.json";
    error_insufficient_credits: ErrorBody <= "error-insufficient-credits.json";
    error_requires_universal: ErrorBody <= "error-requires-universal.json";
    error_no_plan_access: ErrorBody <= "error-no-plan-access.json";
    person_search_universal: PersonSearchResponse <= "person-search-universal.json";
    company_search_universal: CompanySearchResponse <= "company-search-universal.json";
    company_lookup_live: Company <= "company-lookup-live.json";
    check_status_searching: ProfileStatusList <= "check-status-searching.json";
    universal_lookup_progress: Profile <= "universal-lookup-progress.json";
    webhook_bulk: BulkWebhookPayload <= "webhook-bulk.json";
    lookup_unknown_status_and_field: Profile <= "lookup-unknown-status-and-field.json";
    person_search_input: PersonSearchInput <= "person-search-input.json";
    bulk_lookup_input: BulkLookupInput <= "bulk-lookup-input.json";
});

// The facts the snapshots show, asserted on their own so a reviewer cannot miss a regression.

#[test]
fn inf_decodes_as_unlimited() {
    let account: types::UserModel = serde_json::from_str(
        r#"{"credit_usage": [{"credit_type": "company_export", "allocated": "inf", "used": 12, "remaining": "inf"}]}"#,
    )
    .unwrap();
    let usage = &account.credit_usage[0];
    assert_eq!(usage.allocated, Some(CreditAmount::Unlimited));
    assert_eq!(usage.used, Some(CreditAmount::Finite(12)));
    assert_eq!(usage.remaining, Some(CreditAmount::Unlimited));
}

#[test]
fn null_rate_limits_decode_as_none() {
    let limit: types::RateLimit = serde_json::from_str(
        r#"{"action": "person_search", "limit": null, "used": 10, "remaining": null}"#,
    )
    .unwrap();
    assert_eq!(
        (limit.limit, limit.used, limit.remaining),
        (None, Some(10), None)
    );
}

#[test]
fn states_stay_open() {
    let known: types::StateEnum = serde_json::from_str(r#""registered""#).unwrap();
    assert!(matches!(
        known,
        types::StateEnum::Known(types::KnownState::Registered)
    ));
    let other: types::StateEnum = serde_json::from_str(r#""suspended""#).unwrap();
    match other {
        types::StateEnum::Other(value) => assert_eq!(value.as_str(), "suspended"),
        known => panic!("expected Other, got {known:?}"),
    }
    // Re-encoding gives back the same string.
    assert_eq!(
        serde_json::to_string(&types::StateEnum::from(types::KnownState::TestUser)).unwrap(),
        r#""test_user""#
    );
}

#[test]
fn unknown_fields_are_ignored_not_refused() {
    let account: types::UserModel =
        serde_json::from_str(r#"{"id": 1, "lookup_credit_balance": 3, "plan": {"id": 1}}"#)
            .unwrap();
    assert_eq!(account.id, Some(1));
}

#[test]
fn field_errors_are_kept() {
    let body: types::ErrorBody = serde_json::from_str(
        r#"{"email": ["Enter a valid email address."], "detail": "Invalid input."}"#,
    )
    .unwrap();
    assert_eq!(body.detail.as_deref(), Some("Invalid input."));
    assert_eq!(
        body.extra["email"],
        serde_json::json!(["Enter a valid email address."])
    );
}

#[test]
fn echoed_api_keys_are_redacted_in_debug_output() {
    let key = "3e7k0123456789abcdef0123456789abcdef";
    let account: types::UniversalCreditsUserModelWithExtraAttributes =
        serde_json::from_value(serde_json::json!({"api_key": key})).unwrap();
    assert!(!format!("{account:?}").contains(key));
    assert_eq!(
        account.api_key.as_ref().map(tollgate::Secret::expose),
        Some(key)
    );
    let rotated: types::ApiKey =
        serde_json::from_value(serde_json::json!({"api_key": key})).unwrap();
    assert!(!format!("{rotated:?}").contains(key));
    // It still reaches the wire when sent.
    assert_eq!(serde_json::to_value(&rotated).unwrap()["api_key"], key);
}

#[test]
fn universal_credit_usage_takes_both_shapes() {
    use types::UniversalCreditsUserModelWithExtraAttributesCreditUsage as Usage;
    let summary: Usage =
        serde_json::from_str(r#"{"credits_allocated": 100, "credits_used": 50}"#).unwrap();
    assert!(matches!(summary, Usage::Summary(ref s) if s.credits_used == Some(50)));
    let list: Usage =
        serde_json::from_str(r#"[{"credit_type": "universal", "allocated": "inf"}]"#).unwrap();
    assert!(
        matches!(list, Usage::PerCreditType(ref items) if items[0].allocated == Some(CreditAmount::Unlimited))
    );
}
