//! What the benchmarks share (`tests/benches/`): the loopback server they measure against, its
//! answers, and the keys and inputs they send.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark support: a panic is the report

use std::time::Duration;

use serde_json::{Value, json};

/// The Spider News key the benchmarks send.
pub const KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";
/// The Enrich key the benchmarks send.
pub const ENRICH_KEY: &str = "sk_bench_000000000000000001";

/// One Spider News entity of an answer.
pub fn entity(i: usize) -> Value {
    json!({"ent_uuid": format!("2fde488e-26be-4c1d-8d4c-{i:012}"), "ent_name": format!("Entity {i}"),
           "ent_type": "ORG", "ent_aliases": [], "occurrence_count": "12"})
}

/// The loopback server, on its own runtime thread: a small answer, a 10,000-row answer, and an
/// Enrich batch submit.
pub fn start_server() -> String {
    let small =
        json!({"rows_returned": 3, "entities": (0..3).map(entity).collect::<Vec<_>>()}).to_string();
    let large =
        json!({"rows_returned": 10_000, "entities": (0..10_000).map(entity).collect::<Vec<_>>()})
            .to_string();
    let submitted = json!({"success": true, "data": {"batchId": "665a1f4e2c3b7800129dce01", "status": "processing",
        "totalItems": 100_000}, "meta": {"creditsReserved": 100_000}})
    .to_string();
    on_own_thread(move |tx| async move {
        let json = |body: String| {
            move || {
                let body = body.clone();
                async move { ([("content-type", "application/json")], body) }
            }
        };
        let app = axum::Router::new()
            .route("/api/entities", axum::routing::get(json(small.clone())))
            .route(
                "/slow/api/entities",
                axum::routing::get(move || {
                    let body = small.clone();
                    async move {
                        // A provider's own work: 5 ms (RocketReach and Enrich take 100 ms
                        // and more).
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        ([("content-type", "application/json")], body)
                    }
                }),
            )
            .route("/large/api/entities", axum::routing::get(json(large)))
            .route(
                "/email-validation/batch",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let answer = submitted.clone();
                    async move {
                        // Read the whole body, as a server does.
                        let _ = body.len();
                        ([("content-type", "application/json")], answer)
                    }
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send(format!("http://{}", listener.local_addr().unwrap()))
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    })
}

/// Runs `serve` on a runtime of its own (one worker thread), on a thread of its own, and
/// returns the first thing it sends (its address).
pub fn on_own_thread<T, F>(
    serve: impl FnOnce(std::sync::mpsc::Sender<T>) -> F + Send + 'static,
) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve(tx));
    });
    rx.recv().unwrap()
}

/// A Spider News client of the benchmarks' server at `base`, without pacing.
pub fn client(base: &str) -> tollgate_spidernews::Client {
    tollgate_spidernews::Client::builder()
        .api_key(KEY)
        .base_url(base)
        .rate_limit(None)
        .build()
        .unwrap()
}

/// The same call as the client's `list_entities`, by hand: reqwest and serde_json alone.
pub async fn raw_call(
    http: &reqwest::Client,
    url: &str,
) -> tollgate_spidernews::types::EntitiesResponse {
    let bytes = http
        .get(url)
        .header("X-API-KEY", KEY)
        .query(&[("ent_name", "Tesla")])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The same call as the generated `list_entities().ent_name("Tesla").send()`, without the
/// runtime: the request built and the answer decoded as the generated code does it (the same
/// builder calls, in the same order, and progenitor's `ResponseValue::from_response`), sent
/// with `reqwest::Client::execute` where the generated code hands it to the runtime. What
/// the generated code's own shape costs over [`raw_call`].
pub async fn generated_shape_call(
    http: &reqwest::Client,
    base: &str,
) -> tollgate_spidernews::types::EntitiesResponse {
    use reqwest::header::{ACCEPT, HeaderName, HeaderValue};
    use tollgate::__private::progenitor_client::{QueryParam, ResponseValue};
    let (ent_name, ent_type, limit) = (Some("Tesla".to_owned()), None::<String>, None::<u64>);
    let mut request = http
        .get(format!("{base}/api/entities"))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .query(&QueryParam::new("ent_name", &ent_name))
        .query(&QueryParam::new("ent_type", &ent_type))
        .query(&QueryParam::new("limit", &limit))
        .build()
        .unwrap();
    // The key, as the runtime adds it.
    request.headers_mut().insert(
        HeaderName::from_static("x-api-key"),
        HeaderValue::from_static(KEY),
    );
    let answer = http.execute(request).await.unwrap();
    ResponseValue::<tollgate_spidernews::types::EntitiesResponse>::from_response::<
        tollgate_spidernews::types::Error,
    >(answer)
    .await
    .unwrap()
    .into_inner()
}

/// `n` distinct e-mail addresses.
pub fn emails(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("person.number{i}@example-company.com"))
        .collect()
}
