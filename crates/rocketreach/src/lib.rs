//! A typed client for the RocketReach API, generated from RocketReach's OpenAPI document.
mod generated;
pub use generated::*;
tollgate::provider_client!(Client, &tollgate::profile::ROCKETREACH);
