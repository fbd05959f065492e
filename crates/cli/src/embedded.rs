//! The embedded sandbox behind `--sandbox` and `tollgate demo` (the default `sandbox`
//! feature; a build without it has neither, and links no server).

use std::collections::BTreeMap;
use std::time::Duration;

use tollgate_providers::Provider;
use tollgate_sandbox::{Sandbox, seed};

use crate::error::CliError;

/// Starts the embedded sandbox (batches finish in a second).
pub async fn start_sandbox() -> Result<Sandbox, CliError> {
    Sandbox::builder()
        .job_duration(Duration::from_secs(1))
        .start()
        .await
        .map_err(|e| CliError::Usage(format!("the embedded sandbox did not start: {e}")))
}

/// Each provider's base URL and key in `sandbox`.
pub fn sandbox_targets(sandbox: &Sandbox) -> BTreeMap<Provider, (String, String)> {
    Provider::ALL
        .into_iter()
        .map(|p| {
            let key = match p {
                Provider::RocketReach => seed::ROCKETREACH_KEY,
                Provider::RequestRocket => seed::REQUESTROCKET_TOKEN,
                Provider::Enrich => seed::ENRICH_KEY,
                Provider::SpiderNews => seed::SPIDERNEWS_KEY,
            };
            (p, (sandbox.base_url(p), key.to_owned()))
        })
        .collect()
}

/// Universal Credits operations of RocketReach need a sandbox key of that plan family.
pub(crate) fn universal_key(targets: &mut BTreeMap<Provider, (String, String)>) {
    if let Some(entry) = targets.get_mut(&Provider::RocketReach) {
        entry.1 = seed::ROCKETREACH_UNIVERSAL_KEY.to_owned();
    }
}
