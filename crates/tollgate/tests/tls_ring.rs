//! The `rustls-ring` feature alone (`cargo test -p tollgate --no-default-features --features
//! rustls-ring --test tls_ring`, which `.ci/run` runs): building a client installs ring as
//! rustls's process-wide crypto provider, which reqwest then uses; a provider the program
//! installed first is kept. Under the default features this file holds no test.

#![cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate::profile::{KeyCharset, KeyFormat, Profile};
use tollgate::{ApiKey, Runtime, Unit};

static EXAMPLE: Profile = Profile::new(
    "Example",
    "https://api.example.com",
    "X-Api-Key",
    "EXAMPLE_API_KEY",
    KeyFormat {
        prefix: Some("ex_"),
        charset: KeyCharset::LowercaseAlphanumeric,
    },
    Unit::Credits,
);

fn suites(provider: &rustls::crypto::CryptoProvider) -> Vec<String> {
    provider
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

#[test]
fn a_client_built_with_ring_alone_uses_ring() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let runtime = Runtime::new(&EXAMPLE, ApiKey::parse(&EXAMPLE, "ex_abc123").unwrap());
    assert!(runtime.is_ok(), "{:?}", runtime.err());
    let installed = rustls::crypto::CryptoProvider::get_default().expect("a provider");
    assert_eq!(
        suites(installed),
        suites(&rustls::crypto::ring::default_provider())
    );
    // A second client keeps the provider (and builds).
    assert!(Runtime::new(&EXAMPLE, ApiKey::parse(&EXAMPLE, "ex_def456").unwrap()).is_ok());
}
