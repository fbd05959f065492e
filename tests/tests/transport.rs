//! The runtime's own transport where a test in-process cannot reach it: over HTTPS, and beside
//! a proxy set in the environment. Each case runs `transport_probe` (one Spider News call) as a
//! child process, so `SSL_CERT_FILE` and `HTTP_PROXY` are set for it alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tollgate_tests::hostile::{Hostile, Reply};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

/// Runs `transport_probe` against `base` with `env` set (and no proxy or certificate setting
/// of the test's own environment); its standard output.
async fn probe(base: &str, env: &[(&str, &str)]) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_transport_probe"));
    command
        .arg(base)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let others = ["NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"];
    for name in tollgate::PROXY_VARIABLES.iter().chain(&others) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().await.expect("run transport_probe");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTPS server on 127.0.0.1 with the fixture certificate, answering every request with a
/// Spider News entities answer; its URL and how many requests it answered.
async fn tls_server() -> (String, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("a certificate");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_request| {
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = json!({"rows_returned": 0, "entities": []}).to_string();
                    let answer = hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body));
                    async move { answer }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (format!("https://{address}"), answered)
}

#[tokio::test]
async fn https_goes_through_the_own_transport_and_checks_the_certificate() {
    let (base, answered) = tls_server().await;
    let ca = fixture("ca.pem");
    let trusted = probe(
        &base,
        &[("SSL_CERT_FILE", ca.to_str().expect("a UTF-8 path"))],
    )
    .await;
    assert_eq!(trusted, "own transport: true\nok 0\n");
    assert_eq!(answered.load(Ordering::SeqCst), 1);
    // Without the test CA the server's certificate is refused, and nothing is sent.
    let refused = probe(&base, &[]).await;
    assert!(
        refused.starts_with("own transport: true\nerror: "),
        "{refused}"
    );
    assert!(refused.contains("certificate"), "{refused}");
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_proxy_in_the_environment_sends_through_reqwest_and_the_proxy() {
    let proxy =
        Hostile::start(|_, _| Reply::json(200, json!({"rows_returned": 0, "entities": []}))).await;
    // Nothing listens on the target: only a request sent to the proxy is answered.
    let target = "http://127.0.0.1:9";
    let out = probe(target, &[("HTTP_PROXY", &proxy.url())]).await;
    assert_eq!(out, "own transport: false\nok 0\n");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].uri.to_string(),
        "http://127.0.0.1:9/api/entities?ent_name=Tesla"
    );
}
