//! The cache of paid answers through the public API, against the sandbox (whose own credit
//! ledger is the truth of what was charged): a repeated question is paid once, in any spelling;
//! entries belong to one key; identical calls in flight pay once; expiry, refresh and bypass;
//! a damaged entry is never a wrong answer; a lookup in progress is kept once it completes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tollgate::cache::{Cache, CacheControl, Clock, Purge, SqliteStore, with_control};
use tollgate::{Basis, ProviderClient};
use tollgate_enrich::types;
use tollgate_sandbox::{AccountSeed, Provider, Sandbox, seed};
use tollgate_tests::from_json as body;

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

fn client<C: ProviderClient>(sandbox: &Sandbox, provider: Provider, key: &str, cache: &Cache) -> C {
    tollgate::ClientBuilder::<C>::new()
        .api_key(key)
        .base_url(sandbox.base_url(provider))
        .rate_limit(None)
        .cache(cache.clone())
        .build()
        .unwrap()
}

fn spent(sandbox: &Sandbox, provider: Provider, key: &str) -> i64 {
    sandbox.account(provider, key).unwrap().spent()
}

async fn validate(en: &tollgate_enrich::Client, email: &str) -> types::EmailValidationResponse {
    en.validate_email()
        .body(body::<types::EmailValidationRequest>(
            json!({ "email": email }),
        ))
        .send()
        .await
        .unwrap()
        .into_inner()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-cache-{name}-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

#[tokio::test]
async fn a_repeated_question_in_any_spelling_is_paid_once_and_decodes_the_same() {
    let sandbox = sandbox().await;
    let cache = Cache::memory(1 << 20);
    let en: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    let first = validate(&en, "ada.lovelace@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 1);
    let again = validate(&en, "Ada.Lovelace@Figma.COM").await;
    assert_eq!(
        spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY),
        1,
        "the second spelling was paid again"
    );
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&again).unwrap(),
        "a hit decodes into the same value"
    );
    let totals = en.runtime().ledger().totals();
    assert_eq!((totals.hits, totals.saved, totals.spent()), (1, 1, 1));
    let last = en.runtime().ledger().entries().pop().unwrap();
    assert_eq!(
        (last.basis, last.charged, last.saved),
        (Basis::Cached, 0, 1)
    );
    cache.flush().await;
    let stats = cache.stats().await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (
            stats[0].provider.as_str(),
            stats[0].entries,
            stats[0].hits,
            stats[0].misses,
            stats[0].credits_saved
        ),
        ("enrich", 1, 1, 1, 1)
    );
    // Another question is another answer.
    validate(&en, "grace@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 2);
}

#[tokio::test]
async fn a_phone_lookup_is_charged_once_and_64_at_once_pay_once() {
    let sandbox = sandbox().await;
    let cache = Cache::memory(1 << 20);
    let en: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    let calls = (0..64).map(|_| {
        let en = en.clone();
        async move { en.find_phones().email("grace@stripe.com").send().await }
    });
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers.iter().all(Result::is_ok),
        "{:?}",
        answers.iter().find(|a| a.is_err())
    );
    assert_eq!(
        spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY),
        500,
        "64 identical phone lookups in flight paid more than once"
    );
    assert_eq!(
        sandbox.answered(Provider::Enrich).get("find_phones"),
        Some(&1),
        "one call reached the provider"
    );
    let totals = en.runtime().ledger().totals();
    assert_eq!((totals.hits, totals.saved), (63, 63 * 500));
}

#[tokio::test]
async fn entries_belong_to_one_key_unless_an_account_is_named() {
    let sandbox = sandbox().await;
    let other = "sk_sandbox_00000000000000000000000002";
    sandbox
        .add_account(
            Provider::Enrich,
            AccountSeed {
                key: other.into(),
                credits: Some(100),
                rows: None,
                universal: false,
                plan: None,
            },
        )
        .unwrap();
    let cache = Cache::memory(1 << 20);
    let one: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    let two: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, other, &cache);
    validate(&one, "ada@figma.com").await;
    validate(&two, "ada@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 1);
    assert_eq!(
        spent(&sandbox, Provider::Enrich, other),
        1,
        "another key saw the entry"
    );
    // Under one named account, the keys share.
    let team = Cache::memory(1 << 20).account("team");
    let one: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &team);
    let two: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, other, &team);
    validate(&one, "grace@figma.com").await;
    validate(&two, "grace@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 2);
    assert_eq!(spent(&sandbox, Provider::Enrich, other), 1);
}

#[tokio::test]
async fn sqlite_entries_expire_on_the_clock_refresh_pays_again_and_the_file_holds_no_key() {
    let sandbox = sandbox().await;
    let dir = scratch("expiry");
    let path = dir.join("cache.sqlite");
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let cache = Cache::new(SqliteStore::open(&path, 1 << 20).unwrap())
        .clock(Clock::Manual(Arc::clone(&now)));
    let en: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    validate(&en, "ada@figma.com").await;
    validate(&en, "ada@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 1);
    // A maximum age per call: one day old is too old for a call that wants an hour.
    now.fetch_add(86_400_000, Ordering::SeqCst);
    with_control(
        CacheControl::max_age(Duration::from_secs(3_600)),
        validate(&en, "ada@figma.com"),
    )
    .await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 2);
    // Within the operation's 30 days: served.
    now.fetch_add(29 * 86_400_000, Ordering::SeqCst);
    validate(&en, "ada@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 2);
    // Past them: paid again.
    now.fetch_add(2 * 86_400_000, Ordering::SeqCst);
    validate(&en, "ada@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 3);
    // Refresh pays and replaces; bypass pays and keeps nothing.
    with_control(CacheControl::refresh(), validate(&en, "ada@figma.com")).await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 4);
    with_control(CacheControl::bypass(), validate(&en, "ada@figma.com")).await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 5);
    validate(&en, "ada@figma.com").await;
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 5);
    // The file holds answers, never a key.
    cache.flush().await;
    drop(en);
    drop(cache);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(seed::ENRICH_KEY),
        "the key is in the cache file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the cache file is readable by others");
    }
    // Purge by age and by provider.
    let cache = Cache::new(SqliteStore::open(&path, 1 << 20).unwrap())
        .clock(Clock::Manual(Arc::clone(&now)));
    let purge = Purge {
        provider: Some("enrich".into()),
        older_than: Some(Duration::from_secs(86_400)),
    };
    assert_eq!(
        cache.purge(&purge).await.unwrap(),
        0,
        "the entry is newer than a day"
    );
    assert_eq!(cache.purge(&Purge::default()).await.unwrap(), 1);
    assert!(cache.stats().await.unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_damaged_entry_is_a_miss_never_a_wrong_answer() {
    let sandbox = sandbox().await;
    let dir = scratch("damage");
    let path = dir.join("cache.sqlite");
    let cache = Cache::new(SqliteStore::open(&path, 1 << 20).unwrap());
    let en: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    let truth = serde_json::to_value(validate(&en, "ada@figma.com").await.data).unwrap();
    cache.flush().await;
    // Another process flips the verdict inside the kept body.
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        let body: Vec<u8> = db
            .query_row("SELECT body FROM entries", [], |r| r.get(0))
            .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("ada@figma.com"));
        let forged = text.replace("ada@figma.com", "eve@figma.com");
        db.execute("UPDATE entries SET body = ?1", [forged.as_bytes()])
            .unwrap();
    }
    let answer = serde_json::to_value(validate(&en, "ada@figma.com").await.data).unwrap();
    assert_eq!(answer, truth, "a damaged entry was served");
    assert_eq!(
        spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY),
        2,
        "the damaged entry is a miss: asked again"
    );
    // Bytes flipped anywhere in the file: a miss or a clear error, never a wrong answer.
    cache.flush().await;
    drop(en);
    drop(cache);
    let mut bytes = std::fs::read(&path).unwrap();
    for at in (0..bytes.len()).step_by(97) {
        bytes[at] ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.join("cache.sqlite-wal"));
    match SqliteStore::open(&path, 1 << 20) {
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains("cache.sqlite") && text.contains("Move it aside or delete it"),
                "{text}"
            );
        }
        Ok(store) => {
            let cache = Cache::new(store);
            let en: tollgate_enrich::Client =
                client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
            if let Ok(answer) = en
                .validate_email()
                .body(body::<types::EmailValidationRequest>(
                    json!({"email": "ada@figma.com"}),
                ))
                .send()
                .await
            {
                assert_eq!(
                    serde_json::to_value(answer.into_inner().data).unwrap(),
                    truth
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_lookup_in_progress_is_kept_once_the_status_check_delivers_it_complete() {
    let sandbox = sandbox().await;
    let cache = Cache::memory(1 << 20);
    let rr: tollgate_rocketreach::Client = client(
        &sandbox,
        Provider::RocketReach,
        seed::ROCKETREACH_KEY,
        &cache,
    );
    let lookup = || {
        rr.create_person_lookup()
            .return_cached_emails(false)
            .linkedin_url("https://www.linkedin.com/in/ada-lovelace/")
            .send()
    };
    let first = lookup().await.unwrap().into_inner();
    assert_eq!(first.status.as_deref(), Some("searching"));
    assert_eq!(
        spent(&sandbox, Provider::RocketReach, seed::ROCKETREACH_KEY),
        2
    );
    // Still searching: nothing is kept, so asking again pays again (as RocketReach would).
    let id = first.id.unwrap();
    let done = rr
        .wait_for_lookup(
            id,
            tollgate_rocketreach::helpers::Family::Legacy,
            &tollgate_tests::fast_jobs(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(done.status.as_deref(), Some("complete"));
    // The same lookup, spelt another way: the complete profile, from the cache.
    let again = rr
        .create_person_lookup()
        .return_cached_emails(false)
        .linkedin_url("http://linkedin.com/in/Ada-Lovelace")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        spent(&sandbox, Provider::RocketReach, seed::ROCKETREACH_KEY),
        2,
        "the completed lookup was paid again"
    );
    assert_eq!(again.status.as_deref(), Some("complete"));
    assert_eq!(again.recommended_email, done.recommended_email);
    assert!(again.recommended_email.is_some());
    assert_eq!(rr.runtime().ledger().totals().saved, 2);
}

#[tokio::test]
async fn a_dry_run_prices_a_cached_call_at_nothing_and_sends_nothing() {
    let sandbox = sandbox().await;
    let cache = Cache::memory(1 << 20);
    let en: tollgate_enrich::Client = client(&sandbox, Provider::Enrich, seed::ENRICH_KEY, &cache);
    validate(&en, "ada@figma.com").await;
    // The answer is written to the cache in the background: wait for it.
    cache.flush().await;
    let dry: tollgate_enrich::Client = tollgate::ClientBuilder::new()
        .api_key(seed::ENRICH_KEY)
        .base_url(sandbox.base_url(Provider::Enrich))
        .cache(cache.clone())
        .dry_run(true)
        .build()
        .unwrap();
    let ask = |email: &'static str| {
        dry.validate_email()
            .body(body::<types::EmailValidationRequest>(
                json!({ "email": email }),
            ))
            .send()
    };
    match ask("ada@figma.com").await.unwrap_err() {
        tollgate::Error::DryRun {
            max_cost, cached, ..
        } => assert_eq!((max_cost, cached), (0, true)),
        other => panic!("{other}"),
    }
    match ask("grace@figma.com").await.unwrap_err() {
        tollgate::Error::DryRun {
            max_cost, cached, ..
        } => assert_eq!((max_cost, cached), (1, false)),
        other => panic!("{other}"),
    }
    assert_eq!(spent(&sandbox, Provider::Enrich, seed::ENRICH_KEY), 1);
    assert_eq!(
        sandbox.answered(Provider::Enrich).get("validate_email"),
        Some(&1)
    );
}
