//! Helpers of the workspace tests (in `tests/`): the models a generated client defines, and the
//! documented example payloads of `specs/<provider>/examples/`. The README's examples are
//! compiled here too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report

pub mod bench;
pub mod hostile;
pub mod redis_server;
pub mod stores;

use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every model the generated `types` module of `crates/<provider>` defines, sorted, read from the
/// generated source.
pub fn generated_models(provider: &str) -> Vec<String> {
    let path = workspace()
        .join("crates")
        .join(provider)
        .join("src/generated.rs");
    let source = std::fs::read_to_string(&path).unwrap();
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

/// The example files of `specs/<provider>/examples/`, sorted.
pub fn example_files(provider: &str) -> Vec<String> {
    let mut files: Vec<String> =
        std::fs::read_dir(workspace().join("specs").join(provider).join("examples"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json"))
            .collect();
    files.sort();
    files
}

#[derive(serde::Deserialize)]
struct Example {
    schema: String,
    payload: serde_json::Value,
}

/// Decodes `specs/<provider>/examples/<file>` into `T`, after checking that `T` (named
/// `type_name`) is the type generated for the schema the file names.
pub fn decode_example<T: DeserializeOwned>(provider: &str, type_name: &str, file: &str) -> T {
    let path = workspace()
        .join("specs")
        .join(provider)
        .join("examples")
        .join(file);
    let example: Example = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let simple = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    assert_eq!(
        simple(&example.schema),
        simple(type_name),
        "{file} is an example of `{}`",
        example.schema
    );
    serde_json::from_value(example.payload)
        .unwrap_or_else(|e| panic!("{file} does not decode: {e}"))
}

/// `model_schemas!("provider", crate::types, [A, B, ...])`: one test that snapshots the JSON
/// Schema of every listed model and checks that the list is every model the client generates.
#[macro_export]
macro_rules! model_schemas {
    ($provider:literal, $types:path, [$($ty:ident),* $(,)?]) => {
        #[test]
        fn json_schema_of_every_model() {
            use $types as types;
            let mut covered: Vec<String> = vec![$(stringify!($ty).to_owned()),*];
            covered.sort();
            assert_eq!(covered, $crate::generated_models($provider), "every generated model needs a JSON Schema snapshot here");
            $(
                insta::assert_json_snapshot!(concat!("schema_", stringify!($ty)), schemars::schema_for!(types::$ty));
            )*
        }
    };
}

/// `examples!("provider", crate::types, { test_name: Type <= "file.json"; ... })`: one test per
/// documented example (decode, then snapshot the decoded value), and one that checks every file
/// of the examples folder has a test.
#[macro_export]
macro_rules! examples {
    ($provider:literal, $types:path, { $($test:ident: $ty:ident <= $file:literal;)* }) => {
        $(
            #[test]
            fn $test() {
                use $types as types;
                let value: types::$ty = $crate::decode_example($provider, stringify!($ty), $file);
                insta::assert_debug_snapshot!(format!("example_{}", $file.trim_end_matches(".json")), value);
            }
        )*

        #[test]
        fn every_example_file_has_a_test() {
            let mut listed = vec![$($file),*];
            listed.sort();
            assert_eq!(listed, $crate::example_files($provider));
        }
    };
}

/// A generated type from JSON, for request bodies written as the provider documents them.
///
/// # Panics
/// When the JSON does not fit the type (a test's own mistake).
#[allow(clippy::expect_used)]
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("the JSON fits the generated type")
}

/// Job options for tests against the sandbox: poll every 50 ms, give up after 10 s.
pub fn fast_jobs() -> tollgate::jobs::JobOptions {
    tollgate::jobs::JobOptions {
        interval: std::time::Duration::from_millis(50),
        deadline: Some(std::time::Duration::from_secs(10)),
    }
}

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../../docs/cli.md")]
#[cfg(doctest)]
pub struct CliDocDoctests;

#[doc = include_str!("../../docs/runtime.md")]
#[cfg(doctest)]
pub struct RuntimeDocDoctests;

#[doc = include_str!("../../docs/cache.md")]
#[cfg(doctest)]
pub struct CacheDocDoctests;

#[doc = include_str!("../../docs/sandbox.md")]
#[cfg(doctest)]
pub struct SandboxDocDoctests;

#[doc = include_str!("../../docs/codegen.md")]
#[cfg(doctest)]
pub struct CodegenDocDoctests;

#[doc = include_str!("../../docs/testing.md")]
#[cfg(doctest)]
pub struct TestingDocDoctests;

#[doc = include_str!("../../docs/providers/rocketreach.md")]
#[cfg(doctest)]
pub struct RocketReachDocDoctests;

#[doc = include_str!("../../docs/providers/requestrocket.md")]
#[cfg(doctest)]
pub struct RequestRocketDocDoctests;

#[doc = include_str!("../../docs/providers/enrich.md")]
#[cfg(doctest)]
pub struct EnrichDocDoctests;

#[doc = include_str!("../../docs/providers/spidernews.md")]
#[cfg(doctest)]
pub struct SpiderNewsDocDoctests;

#[doc = include_str!("../../crates/tollgate/README.md")]
#[cfg(doctest)]
pub struct TollgateCrateReadmeDoctests;

#[doc = include_str!("../../crates/providers/README.md")]
#[cfg(doctest)]
pub struct ProvidersCrateReadmeDoctests;

#[doc = include_str!("../../crates/rocketreach/README.md")]
#[cfg(doctest)]
pub struct RocketReachCrateReadmeDoctests;

#[doc = include_str!("../../crates/requestrocket/README.md")]
#[cfg(doctest)]
pub struct RequestRocketCrateReadmeDoctests;

#[doc = include_str!("../../crates/enrich/README.md")]
#[cfg(doctest)]
pub struct EnrichCrateReadmeDoctests;

#[doc = include_str!("../../crates/spidernews/README.md")]
#[cfg(doctest)]
pub struct SpiderNewsCrateReadmeDoctests;

#[doc = include_str!("../../crates/sandbox/README.md")]
#[cfg(doctest)]
pub struct SandboxCrateReadmeDoctests;

#[doc = include_str!("../../crates/cli/README.md")]
#[cfg(doctest)]
pub struct CliCrateReadmeDoctests;
