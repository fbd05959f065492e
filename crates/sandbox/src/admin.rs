//! The admin API, under `/_sandbox` on the sandbox's port (in every mode), for tests written in
//! any language:
//!
//! | request | does |
//! |---|---|
//! | `GET /_sandbox/faults` | the faults in force ([`crate::FaultState`] as JSON) |
//! | `PUT /_sandbox/faults` | replaces them, e.g. `{"fail": {"count": 2, "status": 503}, "reset": 1}` |
//! | `DELETE /_sandbox/faults` | removes every fault |
//! | `GET /_sandbox/accounts` | every provider's keys with their balance, what they spent and their rate plan |
//! | `POST /_sandbox/accounts/{provider}` | adds an account ([`crate::AccountSeed`] as JSON) |
//!
//! Admin requests need no key and are never subject to faults.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{AccountSeed, FaultState, Provider, Shared};

/// Where the admin API lives.
pub const PREFIX: &str = "/_sandbox";

fn problem(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<FaultState> {
    Json(shared.faults.state())
}

async fn put_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultState>(&body) {
        Ok(state) => {
            shared.faults.set(state.clone());
            Json(state).into_response()
        }
        Err(e) => problem(
            StatusCode::BAD_REQUEST,
            format!("not a fault description: {e}"),
        ),
    }
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.faults.clear();
    StatusCode::NO_CONTENT
}

async fn list_accounts(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut out = serde_json::Map::new();
    for provider in Provider::ALL {
        let accounts = shared.accounts(provider);
        let list: Vec<Value> = accounts
            .keys()
            .into_iter()
            .filter_map(|key| {
                accounts.get(&key).map(|a| {
                    json!({"key": key, "remaining": a.remaining(), "spent": a.spent(),
                           "universal": a.universal, "plan": a.plan()})
                })
            })
            .collect();
        out.insert(provider.name().into(), Value::Array(list));
    }
    Json(Value::Object(out))
}

async fn add_account(
    State(shared): State<Arc<Shared>>,
    Path(provider): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let provider: Provider = match provider.parse() {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::NOT_FOUND, e.to_string()),
    };
    let seed: AccountSeed = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("not an account description: {e}"),
            );
        }
    };
    match shared.add_account(provider, &seed) {
        Ok(account) => (
            StatusCode::CREATED,
            Json(
                json!({"key": seed.key, "remaining": account.remaining(), "plan": account.plan()}),
            ),
        )
            .into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let panics: serde_json::Map<String, Value> = Provider::ALL
        .iter()
        .map(|p| (p.name().to_owned(), json!(shared.panics(*p))))
        .collect();
    Json(json!({ "panics": panics }))
}

/// The admin routes.
pub(crate) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route(
            "/faults",
            get(get_faults)
                .put(put_faults)
                .post(put_faults)
                .delete(clear_faults),
        )
        .route("/accounts", get(list_accounts))
        .route("/stats", get(stats))
        .route("/accounts/{provider}", post(add_account))
        .with_state(shared)
}
