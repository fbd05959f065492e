//! The runtime against a broken or hostile server on 127.0.0.1, through the generated clients'
//! public API, on tokio's paused clock (the server runs on the test's runtime, so every time
//! below is exact): redirects never carry the key elsewhere, no number panics or stalls, no
//! reservation outlives its call, reported costs never lower spending, answers have a size
//! limit, jobs and page streams end, and nothing a server sends can forge the runtime's state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tollgate::jobs::JobOptions;
use tollgate::{Basis, Budget, Error, RateLimitPlan, RetryPolicy};
use tollgate_tests::hostile::{Hostile, Reply, json_type};

const RR_TOKEN: &str = "u-test-token-123456789";
const ENRICH_KEY: &str = "sk_test_0123456789abcdef";
const SPIDER_KEY: &str = "Gp41Z-GgyZQ9fyIa3uWy0N-HRKD1b9ouui2qhAs26Qk";
const ROCKET_KEY: &str = "3e7k0123456789abcdef0123456789abcdef";

fn spidernews(url: &str) -> tollgate::ClientBuilder<tollgate_spidernews::Client> {
    tollgate_spidernews::Client::builder()
        .api_key(SPIDER_KEY)
        .base_url(url)
        .rate_limit(None)
}

fn requestrocket(url: &str) -> tollgate_requestrocket::Client {
    tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(url)
        .rate_limit(None)
        .build()
        .unwrap()
}

fn enrich(url: &str) -> tollgate::ClientBuilder<tollgate_enrich::Client> {
    tollgate_enrich::Client::builder()
        .api_key(ENRICH_KEY)
        .base_url(url)
        .rate_limit(None)
}

fn entities(rows: serde_json::Value) -> Reply {
    Reply::json(200, json!({"rows_returned": rows, "entities": []}))
}

fn clients_ok() -> Reply {
    Reply::json(200, json!({"clients": [], "message": "Success"}))
}

fn redirect(status: u16, to: &str) -> Reply {
    Reply::Full {
        status,
        headers: vec![("location".into(), to.into())],
        body: Vec::new(),
    }
}

// 1. Redirects.

#[tokio::test(start_paused = true)]
async fn no_redirect_carries_a_key_to_another_origin() {
    let elsewhere = Hostile::start(|_, _| clients_ok()).await;
    let target = format!("{}/collect", elsewhere.url());
    for status in [301, 302, 303, 307, 308] {
        let to = target.clone();
        let origin = Hostile::start(move |_, _| redirect(status, &to)).await;
        // Each provider's header: a free GET (RequestRocket), a charged GET (Spider News), a
        // charged POST (Enrich), a free GET (RocketReach).
        let err = requestrocket(&origin.url())
            .list_clients()
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Redirect { status: s, reason, .. } if s == status && reason.contains("another origin")),
            "{err}"
        );
        let err = spidernews(&origin.url())
            .build()
            .unwrap()
            .list_entities()
            .ent_name("Tesla")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Redirect { .. }), "{err}");
        let batch: tollgate_enrich::types::BatchEmailValidationRequest =
            tollgate_tests::from_json(json!({"emails": ["a@b.co"]}));
        let err = enrich(&origin.url())
            .build()
            .unwrap()
            .validate_email_batch()
            .body(batch)
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Redirect { .. }), "{err}");
        let rocket = tollgate_rocketreach::Client::builder()
            .api_key(ROCKET_KEY)
            .base_url(origin.url())
            .rate_limit(None)
            .build()
            .unwrap();
        let err = rocket.get_account().send().await.unwrap_err();
        assert!(err.to_string().contains("another origin"), "{err}");
    }
    assert_eq!(
        elsewhere.seen().len(),
        0,
        "nothing reached the other origin"
    );
}

#[tokio::test(start_paused = true)]
async fn a_free_read_follows_a_same_origin_redirect_and_a_charged_call_does_not() {
    let server = Hostile::start(|seen, _| match seen.uri.path() {
        "/clients" => redirect(302, "/clients-moved"),
        "/clients-moved" => clients_ok(),
        "/api/entities" => redirect(307, "/api/entities-moved"),
        _ => Reply::json(404, json!({"message": "no"})),
    })
    .await;
    let answer = requestrocket(&server.url())
        .list_clients()
        .send()
        .await
        .unwrap();
    assert_eq!(answer.message.as_deref(), Some("Success"));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].headers["authorization"], RR_TOKEN,
        "same origin: the key goes"
    );

    let client = spidernews(&server.url()).build().unwrap();
    let err = client
        .list_entities()
        .ent_name("Tesla")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("may charge"),
        "a charged request never follows a redirect: {err}"
    );
    assert_eq!(server.seen().len(), 3);
    assert_eq!(client.runtime().ledger().reserved(), 0);
}

// 2. Numbers that would panic.

#[tokio::test(start_paused = true)]
async fn absurd_waits_are_typed_retry_laters_not_panics() {
    for value in [
        "1e300",
        "99999999999999999999999999",
        "18446744073709551616",
    ] {
        let v = value.to_owned();
        let server = Hostile::start(move |_, _| {
            Reply::json(429, json!({"error": "slow down"})).header("Retry-After", &v)
        })
        .await;
        let err = requestrocket(&server.url())
            .list_clients()
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::RetryLater {
                    status: Some(429),
                    ..
                }
            ),
            "{value}: {err:?}"
        );
        assert!(err.is_throttled());
    }
    // Enrich's body field.
    let server = Hostile::start(|_, _| {
        Reply::json(
            429,
            json!({"type": "https://dev.enrich.so/errors/rate-limit", "title": "Too Many Requests",
                   "status": 429, "retryAfter": 1e300}),
        )
    })
    .await;
    let err = enrich(&server.url())
        .build()
        .unwrap()
        .get_wallet_balance()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RetryLater { .. }), "{err:?}");
    // A malformed value is ignored: the backoff applies.
    let server = Hostile::start(|_, n| {
        if n == 0 {
            Reply::json(429, json!({"error": "slow"})).header("Retry-After", "soon-ish")
        } else {
            clients_ok()
        }
    })
    .await;
    requestrocket(&server.url())
        .list_clients()
        .send()
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn extreme_reported_costs_saturate_and_exhaust_the_budget() {
    let server = Hostile::start(|_, _| entities(json!(i64::MAX))).await;
    let client = spidernews(&server.url())
        .budget(Budget::rows(1_000))
        .build()
        .unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    let ledger = client.runtime().ledger();
    assert!(
        ledger.entries()[0].anomaly.is_some(),
        "above the maximum of 10"
    );
    assert_eq!(ledger.spent(), i64::MAX);
    let err = client
        .list_entities()
        .ent_name("a")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CostRefused(_)), "{err:?}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reported_cost_is_read_whatever_the_case_of_its_media_type() {
    // Media types are case-insensitive (RFC 9110 §8.3.1): `Application/JSON` is JSON.
    let typed = |content_type: &'static str| {
        move |_: &tollgate_tests::hostile::Seen, _| Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: json!({"rows_returned": 2, "entities": []})
                .to_string()
                .into_bytes(),
        }
    };
    for content_type in [
        "Application/JSON; charset=UTF-8",
        "application/problem+json",
    ] {
        let server = Hostile::start(typed(content_type)).await;
        let client = spidernews(&server.url()).build().unwrap();
        client.list_entities().ent_name("a").send().await.unwrap();
        let entry = &client.runtime().ledger().entries()[0];
        assert_eq!(
            (entry.charged, entry.basis),
            (2, Basis::Reported),
            "{content_type}"
        );
    }
    // Not labelled JSON: its body is not read for a cost, and the maximum stands.
    let server = Hostile::start(typed("text/plain")).await;
    let client = spidernews(&server.url()).build().unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    let entry = &client.runtime().ledger().entries()[0];
    assert_eq!(entry.basis, Basis::Estimated);
    assert_eq!(entry.charged, entry.estimated);
}

// 3. Stalls.

#[tokio::test(start_paused = true)]
async fn a_rate_limit_reset_beyond_the_cap_is_a_typed_wait_and_epoch_resets_are_understood() {
    let server = Hostile::start(|_, n| match n {
        0 => clients_ok()
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-Reset", "3600"),
        _ => clients_ok(),
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .build()
        .unwrap();
    client.list_clients().send().await.unwrap();
    let start = Instant::now();
    let err = client.list_clients().send().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "no silent pause");
    match err {
        Error::RetryLater { status, wait, .. } => {
            assert_eq!(status, None);
            assert_eq!(wait, Duration::from_secs(3600));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.seen().len(), 1, "nothing sent during the pause");

    // A Unix-time reset 2 s ahead (in whole seconds, so between 1 and 2 s of wall time from
    // now, less the few milliseconds this test takes to get there) pauses that long, then the
    // call goes.
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let server = Hostile::start(move |_, n| match n {
        0 => clients_ok()
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-Reset", &epoch.to_string()),
        _ => clients_ok(),
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .build()
        .unwrap();
    client.list_clients().send().await.unwrap();
    client.list_clients().send().await.unwrap();
    let seen = server.seen();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap > Duration::from_millis(500) && gap <= Duration::from_secs(2),
        "{gap:?}"
    );
}

// 4. Reservations.

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_never_keeps_its_reservation() {
    let server = Hostile::start(|_, n| {
        if n == 0 {
            Reply::Hang
        } else {
            entities(json!(3))
        }
    })
    .await;
    let client = spidernews(&server.url())
        .budget(Budget::rows(25))
        .build()
        .unwrap();
    // Cancelled after the request reached the server: possibly charged at its maximum.
    let cancelled = tokio::time::timeout(
        Duration::from_secs(5),
        client.list_entities().ent_name("a").send(),
    )
    .await;
    assert!(cancelled.is_err());
    let ledger = client.runtime().ledger();
    assert_eq!(ledger.reserved(), 0);
    assert_eq!(ledger.spent(), 10);
    let entry = &ledger.entries()[0];
    assert_eq!(
        (entry.basis, entry.charged, entry.status),
        (Basis::Uncertain, 10, 0)
    );
    assert_eq!(ledger.totals().uncertain, 10);
    // The rest of the budget still works: 15 left.
    client.list_entities().ent_name("a").send().await.unwrap();
    assert_eq!(ledger.spent(), 13);

    // Cancelled before the request left (waiting for the limiter): released, nothing spent.
    let client = spidernews(&server.url())
        .budget(Budget::rows(25))
        .rate_limit(Some(RateLimitPlan::new(1, Duration::from_secs(60))))
        .build()
        .unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    let sent = server.seen().len();
    let waiting = tokio::time::timeout(
        Duration::from_secs(1),
        client.list_entities().ent_name("a").send(),
    )
    .await;
    assert!(waiting.is_err());
    assert_eq!(server.seen().len(), sent);
    assert_eq!(
        (
            client.runtime().ledger().reserved(),
            client.runtime().ledger().spent()
        ),
        (0, 3)
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_breaks_after_the_status_line_is_possibly_charged_once() {
    let server = Hostile::start(|_, _| Reply::Stream {
        status: 200,
        headers: json_type(),
        chunks: 3,
        chunk: 100,
        broken: true,
    })
    .await;
    let client = spidernews(&server.url())
        .budget(Budget::rows(100))
        .build()
        .unwrap();
    let err = client
        .find_paths()
        .source_name("a")
        .target_name("b")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("broke off"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the transport error is kept"
    );
    assert_eq!(server.seen().len(), 1, "a charged call is not resent");
    let ledger = client.runtime().ledger();
    assert_eq!((ledger.reserved(), ledger.spent()), (0, 57));
}

// 5. Budget bypass.

#[tokio::test(start_paused = true)]
async fn negative_reported_costs_never_lower_spending() {
    let server = Hostile::start(|_, n| entities(json!(if n == 1 { -1000 } else { 10 }))).await;
    let client = spidernews(&server.url())
        .budget(Budget::rows(25))
        .build()
        .unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    let ledger = client.runtime().ledger();
    assert_eq!(ledger.spent(), 10);
    let anomaly = ledger.entries()[1].anomaly.clone().unwrap();
    assert!(anomaly.contains("negative"), "{anomaly}");
    // 15 left: a third call (10) fits, then 5 are left and a fourth does not; nothing beyond
    // the budget is sent.
    client.list_entities().ent_name("a").send().await.unwrap();
    let err = client
        .list_entities()
        .ent_name("a")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CostRefused(_)), "{err:?}");
    assert_eq!(server.seen().len(), 3);
}

// 6. Size limits.

#[tokio::test(start_paused = true)]
async fn answers_beyond_the_size_limit_are_refused_while_reading() {
    // Declared too large: refused before reading.
    let server = Hostile::start(|_, _| Reply::Stream {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), "104857600".into()),
        ],
        chunks: 0,
        chunk: 0,
        broken: true,
    })
    .await;
    let err = requestrocket(&server.url())
        .list_clients()
        .send()
        .await
        .unwrap_err();
    match err {
        Error::TooLarge {
            limit, declared, ..
        } => assert_eq!((limit, declared), (64 * 1024 * 1024, Some(104_857_600))),
        other => panic!("{other:?}"),
    }
    // Streamed without a length: refused as soon as it passes the limit.
    let server = Hostile::start(|_, _| Reply::Stream {
        status: 200,
        headers: json_type(),
        chunks: 100,
        chunk: 64 * 1024,
        broken: false,
    })
    .await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(None)
        .max_response_bytes(1024 * 1024)
        .build()
        .unwrap();
    let err = client.list_clients().send().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: 1_048_576,
                declared: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
    assert!(
        tollgate_requestrocket::Client::builder()
            .api_key(RR_TOKEN)
            .max_response_bytes(0)
            .build()
            .is_err()
    );
}

// 7. Endless jobs.

fn batch_server(
    results_total: serde_json::Value,
) -> impl Fn(&tollgate_tests::hostile::Seen, usize) -> Reply {
    move |seen, _| {
        let path = seen.uri.path();
        if path == "/email-validation/batch" {
            Reply::json(
                200,
                json!({"success": true, "data": {"batchId": "b1", "status": "processing", "totalItems": 2},
                       "meta": {"creditsReserved": 2}}),
            )
        } else if path.ends_with("/results") {
            let results: Vec<serde_json::Value> = (0..1000)
                .map(|i| json!({"email": format!("p{i}@x.co"), "result": "valid"}))
                .collect();
            Reply::json(
                200,
                json!({"success": true, "data": {"batchId": "b1", "status": "completed",
                    "totalItems": results_total, "results": results}}),
            )
        } else {
            Reply::json(
                200,
                json!({"success": true, "data": {"batchId": "b1", "status": "completed",
                    "totalItems": 2, "processedItems": 2}}),
            )
        }
    }
}

#[tokio::test(start_paused = true)]
async fn result_pages_that_are_always_full_end_at_the_reported_total_and_the_submission() {
    let server = Hostile::start(batch_server(json!(2500))).await;
    let client = enrich(&server.url()).build().unwrap();
    let pages = client.email_validation_results("b1");
    let items: Vec<_> = futures::StreamExt::collect::<Vec<_>>(pages).await;
    assert_eq!(
        items.len(),
        3000,
        "3 pages of 1,000 reach the total of 2,500"
    );
    assert_eq!(server.seen().len(), 3);

    // A batch of 2 emails never returns more than 2 results, whatever the pages say.
    let server = Hostile::start(batch_server(json!(i64::MAX))).await;
    let client = enrich(&server.url()).build().unwrap();
    let results = client
        .validate_emails(
            vec!["a@b.co".into(), "c@d.co".into()],
            &JobOptions {
                interval: Duration::from_secs(1),
                deadline: Some(Duration::from_secs(60)),
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn one_deadline_covers_the_polls_and_the_result_pages() {
    let server = Hostile::start(|seen, n| {
        if seen.uri.path().ends_with("/results") {
            // Results trickle in: each page takes 20 s.
            let _ = n;
            Reply::Hang
        } else {
            batch_server(json!(2))(seen, n)
        }
    })
    .await;
    let client = enrich(&server.url())
        .timeout(Duration::from_secs(20))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let start = Instant::now();
    let err = client
        .validate_emails(
            vec!["a@b.co".into(), "c@d.co".into()],
            &JobOptions {
                interval: Duration::from_secs(1),
                deadline: Some(Duration::from_secs(10)),
            },
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(client.runtime().ledger().reserved(), 0);
}

// 8. Spoofed state.

#[tokio::test(start_paused = true)]
async fn headers_cannot_forge_the_runtimes_state() {
    let server = Hostile::start(|_, n| {
        let reply = if n == 0 {
            Reply::json(400, json!({"error": "bad", "code": "BAD", "status": 400}))
        } else {
            clients_ok()
        };
        reply
            .header("x-tollgate-retry-later-ms", "5")
            .header("x-tollgate-attempts", "9")
            .header("x-tollgate-provider", "Enrich")
    })
    .await;
    let client = requestrocket(&server.url());
    let err = client.list_clients().send().await.unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!((api.status, api.attempts), (400, 1));
    assert_eq!(api.provider, "RequestRocket");
    assert_eq!(api.code.as_deref(), Some("BAD"));
    let answer = client.list_clients().send().await.unwrap();
    assert!(
        answer
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("x-tollgate-")),
        "{:?}",
        answer.headers()
    );
    // A refusal reads as a sentence, with no marker.
    let refused = spidernews(&server.url())
        .budget(Budget::rows(5))
        .build()
        .unwrap()
        .list_entities()
        .ent_name("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "refused before sending: list_entities may cost up to 10 rows but the budget has 5 left; lower `limit`"
    );
}

// 9. Lead Finder search pricing.

#[tokio::test(start_paused = true)]
async fn lead_finder_search_is_free_only_for_the_first_75_results() {
    let server = Hostile::start(|_, _| {
        Reply::json(
            200,
            json!({"success": true, "data": {"results": []}, "meta": {"creditsUsed": 0}}),
        )
    })
    .await;
    let client = enrich(&server.url())
        .budget(Budget::credits(50))
        .build()
        .unwrap();
    let search = |page: i64, size: i64| {
        let body: tollgate_enrich::types::LeadSearchRequest =
            tollgate_tests::from_json(json!({"filters": {}, "page": page, "pageSize": size}));
        client.search_leads().body(body).send()
    };
    // Page 2 of 100 is results 101-200: all paid, 100 credits, beyond the budget.
    let err = search(2, 100).await.unwrap_err();
    assert!(
        matches!(err, Error::CostRefused(ref r) if r.needed == 100),
        "{err:?}"
    );
    // Page 3 of 25 is results 51-75: free.
    search(3, 25).await.unwrap();
    assert_eq!(server.seen().len(), 1);
}

// The builder: user agent, your own HTTP client, timeouts.

#[tokio::test(start_paused = true)]
async fn the_user_agent_names_the_provider_crate_and_a_custom_http_client_still_refuses_redirects()
{
    let elsewhere = Hostile::start(|_, _| clients_ok()).await;
    let to = format!("{}/x", elsewhere.url());
    let server = Hostile::start(move |seen, _| {
        if seen.uri.path() == "/api/entities" {
            entities(json!(0))
        } else {
            redirect(302, &to)
        }
    })
    .await;
    let client = spidernews(&server.url())
        .http_client(tollgate::__private::reqwest::Client::builder().pool_max_idle_per_host(1))
        .build()
        .unwrap();
    client.list_entities().ent_name("a").send().await.unwrap();
    let seen = server.seen();
    assert_eq!(
        seen[0].headers["user-agent"],
        format!("tollgate-spidernews/{}", env!("CARGO_PKG_VERSION"))
    );
    let rr = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .http_client(tollgate::__private::reqwest::Client::builder())
        .user_agent("my-pipeline/2")
        .build()
        .unwrap();
    assert!(matches!(
        rr.list_clients().send().await,
        Err(Error::Redirect { .. })
    ));
    assert_eq!(server.seen()[1].headers["user-agent"], "my-pipeline/2");
    assert_eq!(elsewhere.seen().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_hits_the_read_timeout() {
    let server = Hostile::start(|_, _| Reply::Hang).await;
    let client = tollgate_requestrocket::Client::builder()
        .api_key(RR_TOKEN)
        .base_url(server.url())
        .rate_limit(None)
        .retry(RetryPolicy::none())
        .read_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = client.list_clients().send().await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { timeout: true, .. }),
        "{err:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(err.is_retryable());
}

// The runtime's own transport (what a client without an HTTP client builder of the caller's
// sends with): what it adds to a request, the answer's URL, and its timeouts.

#[tokio::test(start_paused = true)]
async fn the_own_transport_sends_the_user_agent_and_a_default_accept_and_keeps_the_url() {
    use tollgate::__private::reqwest;
    let server = Hostile::start(|_, _| entities(json!(0))).await;
    let client = spidernews(&server.url()).build().unwrap();
    assert!(client.runtime().uses_own_transport());
    client.list_entities().ent_name("a").send().await.unwrap();
    let named = spidernews(&server.url())
        .user_agent("my-pipeline/2")
        .build()
        .unwrap();
    named.list_entities().ent_name("b").send().await.unwrap();
    // A request built by hand, without an `Accept` header.
    let url = format!("{}/api/entities?ent_name=c", server.url());
    let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
    let answer = client
        .runtime()
        .send(request, "list_entities")
        .await
        .unwrap();
    assert_eq!(answer.url().as_str(), url);
    let seen = server.seen();
    assert_eq!(
        seen[0].headers["user-agent"],
        format!("tollgate-spidernews/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert_eq!(seen[1].headers["user-agent"], "my-pipeline/2");
    assert_eq!(seen[2].headers["accept"], "*/*");
    // A client given an HTTP client builder of the caller's sends through reqwest.
    let custom = spidernews(&server.url())
        .http_client(reqwest::Client::builder())
        .build()
        .unwrap();
    assert!(!custom.runtime().uses_own_transport());
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_stops_halfway_hits_the_total_timeout_or_the_read_timeout() {
    // The head comes after 1.5 s, then silence.
    let server = Hostile::start(|_, _| Reply::Stall {
        after: Duration::from_millis(1_500),
        status: 200,
        headers: json_type(),
        prefix: 0,
    })
    .await;
    let total = spidernews(&server.url())
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let read = spidernews(&server.url())
        .retry(RetryPolicy::none())
        .read_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(total.runtime().uses_own_transport() && read.runtime().uses_own_transport());
    // The total timeout counts from the send; the read timeout from the last arrival (the
    // head's, then each piece's): 1.5 s + 2 s.
    for (client, after) in [(total, 5_000), (read, 3_500)] {
        let start = Instant::now();
        let err = client
            .list_entities()
            .ent_name("a")
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Transport { timeout: true, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("broke off before its end"),
            "{err}"
        );
        assert_eq!(start.elapsed(), Duration::from_millis(after));
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_progress_callback_leaves_nothing_reserved() {
    let server = Hostile::start(|seen, n| {
        if seen.uri.path() == "/email-validation/batch/b1" {
            Reply::json(
                200,
                json!({"success": true, "data": {"batchId": "b1", "status": "processing",
                    "totalItems": 2, "processedItems": 1}}),
            )
        } else {
            batch_server(json!(2))(seen, n)
        }
    })
    .await;
    let client = enrich(&server.url()).build().unwrap();
    let ledger = client.runtime().ledger_handle();
    let task = tokio::spawn(async move {
        client
            .validate_emails(
                vec!["a@b.co".into(), "c@d.co".into()],
                &JobOptions {
                    interval: Duration::from_secs(1),
                    deadline: Some(Duration::from_secs(60)),
                },
                |_| panic!("a bug in the caller's progress bar"),
            )
            .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(ledger.reserved(), 0);
    assert_eq!(
        ledger.spent(),
        2,
        "the submission's reservation, as the answer reported"
    );
}
