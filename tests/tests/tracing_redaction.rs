//! Traces of a call: the `tollgate.call` span and its retry events are there, the key is not.
//! (A test binary of its own: tracing caches per call site whether anyone listens, and tests
//! running in parallel without a subscriber would race with this one.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RR_TOKEN: &str = "u-test-token-123456789";

fn clients_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"clients": [], "message": "Success"}))
}

fn requestrocket(server: &MockServer) -> tollgate_requestrocket::Client {
    tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.uri())
        .rate_limit(None)
        .build()
        .unwrap()
}

#[tokio::test]
async fn traces_show_the_call_but_never_the_key() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/clients"))
        .respond_with(clients_ok())
        .mount(&server)
        .await;
    let client = requestrocket(&server);
    client.list_clients().send().await.unwrap();
    let _ = format!("{client:?}");

    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(output.contains("tollgate.call"), "{output}");
    assert!(
        output.contains("operation=\"list_clients\"") || output.contains("operation=list_clients"),
        "{output}"
    );
    assert!(output.contains("retrying"), "{output}");
    assert!(output.contains("attempts=2"), "{output}");
    assert!(
        !output.contains(RR_TOKEN),
        "the key leaked into the traces:\n{output}"
    );
    assert!(
        !output.contains("test-token"),
        "the key leaked into the traces:\n{output}"
    );
}
