//! The workspace tests, in one test binary (one link for the whole suite): each module is a
//! file of this folder. Snapshots are named after their module (`workspace__<module>__...`).

mod architecture;
mod budgets;
mod cache;
mod coverage;
mod dependencies;
mod enrich_models;
mod fuzz;
mod hostile_server;
mod jobs_and_pages;
mod redis_shared;
mod requestrocket_models;
mod rocketreach_client;
mod rocketreach_models;
mod runtime;
mod sandbox_concurrency;
mod sandbox_conformance;
mod sandbox_enrich;
mod sandbox_faults;
mod sandbox_requestrocket;
mod sandbox_rocketreach;
mod sandbox_spidernews;
mod shared_local;
mod spidernews_client;
mod spidernews_models;
mod standalone;
#[cfg(feature = "metrics")]
mod telemetry;
mod tracing_redaction;
mod transport;
mod worked_examples;
