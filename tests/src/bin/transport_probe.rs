//! One Spider News call, for the transport tests (`tests/tests/transport.rs`), which run it as
//! a child process so that its environment (`SSL_CERT_FILE`, `HTTP_PROXY`) is its own:
//! `transport_probe <base-url>` prints `own transport: <true|false>`, then `ok <rows>` or
//! `error: <the error>`, and exits 0 or 1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test's tool: a panic is the report

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(base) = std::env::args().nth(1) else {
        eprintln!("usage: transport_probe <base-url>");
        return ExitCode::from(2);
    };
    let client = tollgate_spidernews::Client::builder()
        .api_key("Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk")
        .base_url(base)
        .rate_limit(None)
        .retry(tollgate::RetryPolicy::none())
        .build()
        .unwrap();
    println!("own transport: {}", client.runtime().uses_own_transport());
    match client.list_entities().ent_name("Tesla").send().await {
        Ok(answer) => {
            println!("ok {}", answer.into_inner().rows_returned);
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
