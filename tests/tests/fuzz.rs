//! Property-based fuzzing on stable Rust (proptest): whatever a server or a user sends, the
//! decoders, the header readers, the cost probe and the key checks answer without panicking, and
//! keep their promises. `cargo test` runs a short pass (`PROPTEST_CASES`, 64 by default here);
//! `cargo xtask fuzz` runs a long one. A failing input proptest finds is kept in
//! `tests/proptest-regressions/fuzz.txt` and replayed on every run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Any JSON value, a few levels deep, with the numbers and strings servers get wrong.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("inf"),
            Just("-1"),
            Just("1e300"),
            Just("NaN"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        "[a-z_]{1,10}",
                        Just("rows_returned".to_owned()),
                        Just("meta".to_owned()),
                        Just("creditsUsed".to_owned()),
                        Just("data".to_owned()),
                        Just("detail".to_owned()),
                        Just("status".to_owned()),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Decodes `value` as `T`: an error is fine, a panic is not.
fn decode<T: serde::de::DeserializeOwned>(value: &Value) {
    let _ = serde_json::from_value::<T>(value.clone());
    let _ = serde_json::from_slice::<T>(value.to_string().as_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: Some(Box::new(
        proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default() })]

    /// Every provider's response types and error envelopes decode anything without panicking.
    #[test]
    fn response_types_never_panic(value in json()) {
        decode::<tollgate_rocketreach::types::UserModel>(&value);
        decode::<tollgate_rocketreach::types::UniversalCreditsUserModelWithExtraAttributes>(&value);
        decode::<tollgate_rocketreach::types::Profile>(&value);
        decode::<tollgate_rocketreach::types::PersonSearchResponse>(&value);
        decode::<tollgate_rocketreach::types::ErrorBody>(&value);
        decode::<tollgate_requestrocket::types::ClientList>(&value);
        decode::<tollgate_requestrocket::types::ProxyEnvelope>(&value);
        decode::<tollgate_requestrocket::types::Error>(&value);
        decode::<tollgate_enrich::types::EmailValidationBatchResultsResponse>(&value);
        decode::<tollgate_enrich::types::LeadSearchResponse>(&value);
        decode::<tollgate_enrich::types::ErrorEnvelope>(&value);
        decode::<tollgate_spidernews::types::ConnectionsResponse>(&value);
        decode::<tollgate_spidernews::types::PathfindingResponse>(&value);
        decode::<tollgate_spidernews::types::Error>(&value);
        decode::<tollgate::CreditAmount>(&value);
    }

    /// The cost probe finds exactly what a full parse finds, in any document.
    #[test]
    fn the_probe_agrees_with_a_full_parse(value in json()) {
        let bytes = value.to_string();
        let pointers = ["/rows_returned", "/meta/creditsUsed", "/data", "/meta", "/a/b"];
        let found = tollgate::probe::values(bytes.as_bytes(), &pointers);
        for (pointer, got) in pointers.iter().zip(found) {
            // A duplicate key: serde keeps the last, and so does the probe.
            prop_assert_eq!(got, value.pointer(pointer).cloned(), "{}", pointer);
        }
        let len = tollgate::probe::array_len(bytes.as_bytes(), "/data");
        prop_assert_eq!(len, value.pointer("/data").and_then(Value::as_array).map(Vec::len));
        let _ = tollgate_spidernews::count_rows(&value);
    }

    /// Every header the runtime reads: any text is a wait, or ignored; never a panic.
    #[test]
    fn server_headers_never_panic(text in "\\PC{0,40}", number in any::<f64>(), big in any::<u128>()) {
        for value in [text.clone(), number.to_string(), big.to_string(), format!("{big}.5")] {
            let Ok(header) = HeaderValue::from_str(&value) else { continue };
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", header.clone());
            headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            headers.insert("x-ratelimit-reset", header);
            let _ = tollgate::retry::retry_after(&headers);
            let _ = tollgate::limit::reset_wait(&value);
            let _ = tollgate::retry::body_wait(&Value::String(value.clone()));
            let _ = tollgate::limit::observed_wait(&headers);
        }
        let _ = tollgate::retry::body_wait(&serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number));
    }

    /// Key checks refuse with a typed error that never contains the key.
    #[test]
    fn key_checks_never_panic_or_leak(raw in "\\PC{0,48}") {
        for profile in [&tollgate_rocketreach::PROFILE, &tollgate_enrich::PROFILE,
                        &tollgate_requestrocket::PROFILE, &tollgate_spidernews::PROFILE] {
            match tollgate::ApiKey::parse(profile, raw.clone()) {
                Ok(key) => {
                    let shown = format!("{:?}", key);
                    prop_assert!(!shown.contains(&raw) || raw.len() < 4, "{}", shown);
                }
                Err(e) => {
                    if raw.trim().len() >= 4 {
                        prop_assert!(!e.to_string().contains(raw.trim()), "{}", e);
                    }
                }
            }
        }
    }

    /// Reported costs of any shape never lower what is spent.
    #[test]
    fn reported_costs_never_lower_spending(value in json(), estimate in 0_i64..1_000_000) {
        let ledger = std::sync::Arc::new(tollgate::Ledger::default());
        let before = ledger.spent();
        let r = ledger.reserve(None, "x", estimate, None, tollgate::Unit::Credits).unwrap();
        let charged = value.pointer("/meta/creditsUsed").and_then(Value::as_i64).unwrap_or(estimate);
        r.settle(tollgate::Usage {
            operation: "x".into(),
            unit: tollgate::Unit::Credits,
            estimated: estimate,
            charged: charged.max(0),
            refunded: value.pointer("/meta/creditsRefunded").and_then(Value::as_i64).unwrap_or(0).max(0),
            status: 200,
            basis: tollgate::Basis::Reported,
            anomaly: None,
            saved: 0,
        });
        prop_assert!(ledger.spent() >= before);
        prop_assert_eq!(ledger.reserved(), 0);
    }
}
