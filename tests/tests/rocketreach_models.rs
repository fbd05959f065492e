//! Snapshots of the generated RocketReach models: the JSON Schema of every model, and every
//! documented example payload of `specs/rocketreach/examples/` decoded into its generated type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::fmt::Debug;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use tollgate::CreditAmount;
use tollgate_rocketreach::types;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every model the generated `types` module defines, read from the generated source.
fn generated_models() -> Vec<String> {
    let source =
        std::fs::read_to_string(workspace().join("crates/rocketreach/src/generated.rs")).unwrap();
    let start = source.find("pub mod types {").expect("a types module");
    let mut names: Vec<String> = source[start..]
        .lines()
        .take_while(|line| *line != "}")
        .filter_map(|line| {
            let rest = line
                .strip_prefix("    pub struct ")
                .or_else(|| line.strip_prefix("    pub enum "))?;
            Some(
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()?
                    .to_owned(),
            )
        })
        .collect();
    names.sort();
    names
}

macro_rules! schemas {
    ($($ty:ident),* $(,)?) => {
        #[test]
        fn json_schema_of_every_model() {
            let mut covered = vec![$(stringify!($ty).to_owned()),*];
            covered.sort();
            assert_eq!(covered, generated_models(), "every generated model needs a JSON Schema snapshot here");
            $(
                insta::assert_json_snapshot!(
                    concat!("schema_", stringify!($ty)),
                    schemars::schema_for!(types::$ty)
                );
            )*
        }
    };
}

schemas!(
    ApiKey,
    CreditUsage,
    ErrorBody,
    KnownState,
    Plan,
    RateLimit,
    StateEnum,
    StateEnumOther,
    UniversalCreditUsage,
    UniversalCreditUsageByAction,
    UniversalCreditsUserModelWithExtraAttributes,
    UniversalCreditsUserModelWithExtraAttributesCreditUsage,
    UniversalCreditsUserModelWithExtraAttributesDailyApiLimit,
    UserModel,
);

#[derive(serde::Deserialize)]
struct Example {
    schema: String,
    payload: serde_json::Value,
}

/// Decodes the example file into `T`, checks that `T` is the type generated for the schema the
/// file names, and snapshots the decoded value.
fn decode<T: DeserializeOwned + Debug>(type_name: &str, file: &str) -> T {
    let path = workspace().join("specs/rocketreach/examples").join(file);
    let example: Example = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let simple = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    assert_eq!(
        simple(&example.schema),
        simple(type_name),
        "{file} is an example of `{}`",
        example.schema
    );
    let value: T = serde_json::from_value(example.payload)
        .unwrap_or_else(|e| panic!("{file} does not decode: {e}"));
    insta::assert_debug_snapshot!(format!("example_{}", file.trim_end_matches(".json")), value);
    value
}

macro_rules! examples {
    ($($test:ident: $ty:ident <= $file:literal;)*) => {
        $(
            #[test]
            fn $test() {
                decode::<types::$ty>(stringify!($ty), $file);
            }
        )*

        #[test]
        fn every_example_file_has_a_test() {
            let mut listed = vec![$($file),*];
            listed.sort();
            let mut files: Vec<String> = std::fs::read_dir(workspace().join("specs/rocketreach/examples"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|f| f.ends_with(".json"))
                .collect();
            files.sort();
            assert_eq!(listed, files);
        }
    };
}

examples! {
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
}

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
