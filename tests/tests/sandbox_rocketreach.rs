//! The RocketReach client end to end against the sandbox: every operation of the spec called
//! with a valid request and decoded, the sandbox's credit ledger equal to the client's, the
//! legacy/universal families kept apart, lookups that complete over time, and refusals in
//! RocketReach's `{"detail": ...}` envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use tollgate_rocketreach::helpers::Family;
use tollgate_rocketreach::{Client, types};
use tollgate_sandbox::{Provider, Sandbox, seed};

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(300))
        .start()
        .await
        .unwrap()
}

fn client(sandbox: &Sandbox, key: &str) -> Client {
    Client::builder()
        .api_key(key)
        .base_url(sandbox.base_url(Provider::RocketReach))
        .rate_limit(None)
        .build()
        .unwrap()
}

use tollgate_tests::from_json as body;

use tollgate_tests::fast_jobs as fast;

#[tokio::test]
async fn every_operation_answers_and_the_ledgers_agree() {
    let sandbox = sandbox().await;
    let legacy = client(&sandbox, seed::ROCKETREACH_KEY);
    let universal = client(&sandbox, seed::ROCKETREACH_UNIVERSAL_KEY);

    // Account (legacy) and its credits.
    let account = legacy.get_account().send().await.unwrap();
    assert_eq!(
        account.credit_usage.len(),
        3,
        "lookup, person_export, company_export"
    );
    assert_eq!(
        account.rate_limits[0].limit,
        Some(tollgate::CreditAmount::Finite(100)),
        "the key's plan"
    );

    // Legacy lookups: the answer is `searching`; the status check follows it to `complete`.
    let person = legacy
        .create_person_lookup()
        .return_cached_emails(false)
        .name("Marc Benioff")
        .current_employer("Salesforce")
        .send()
        .await
        .unwrap();
    assert_eq!(person.name.as_deref(), Some("Marc Benioff"));
    assert_eq!(person.current_employer.as_deref(), Some("Salesforce"));
    assert_eq!(person.status.as_deref(), Some("searching"));
    assert!(
        person.recommended_email.is_none() && person.emails.as_ref().is_none_or(Vec::is_empty),
        "return_cached_emails=false: no email before the search completes"
    );
    let id = person.id.unwrap();
    let done = legacy
        .wait_for_lookup(id, Family::Legacy, &fast(), |_| {})
        .await
        .unwrap();
    assert_eq!(done.status.as_deref(), Some("complete"));
    assert!(
        done.recommended_email.is_some(),
        "complete: the emails are there"
    );
    let with_company = legacy
        .create_person_and_company_lookup()
        .return_cached_emails(true)
        .linkedin_url("https://www.linkedin.com/in/ada-lovelace")
        .send()
        .await
        .unwrap();
    assert!(with_company.company.is_some());
    let company = legacy
        .create_company_lookup()
        .domain("stripe.com")
        .send()
        .await
        .unwrap();
    assert_eq!(company.domain.as_deref(), Some("stripe.com"));
    assert_eq!(
        company.name.as_deref(),
        Some("Stripe"),
        "the data set's company of that domain"
    );
    assert_eq!(
        person.current_employer_domain.as_deref(),
        Some("salesforce.com"),
        "one data set: the employer's domain goes with the employer"
    );

    // Legacy searches page with start/next (free) over 237 results.
    let rows: Vec<types::PersonSearchRow> = legacy
        .person_search_rows(body(
            json!({"query": {"current_title": ["CTO"]}, "page_size": 100}),
        ))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 237);
    let companies = legacy
        .create_company_search()
        .body(body::<types::CompanySearchInput>(
            json!({"query": {"industry": ["Software"]}, "start": 11, "page_size": 10}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(companies.companies.as_ref().unwrap().len(), 10);
    legacy
        .create_person_bulk_lookup()
        .body(body::<types::BulkLookupInput>(
            json!({"queries": [{"name": "Ada Lovelace", "current_employer": "Figma"}, {"email": "grace@stripe.com"}]}),
        ))
        .send()
        .await
        .unwrap();

    // Universal Credits.
    let found = universal
        .create_universal_person_lookup()
        .return_cached_emails(true)
        .email("ada.lovelace@figma.com")
        .reveal_professional_email(true)
        .reveal_phone(true)
        .send()
        .await
        .unwrap();
    assert!(found.phones.is_some(), "revealed");
    assert!(found.job_history.is_none(), "not revealed: absent");
    let done = universal
        .wait_for_lookup(found.id.unwrap(), Family::Universal, &fast(), |_| {})
        .await
        .unwrap();
    assert_eq!(done.status.as_deref(), Some("complete"));
    universal
        .create_universal_person_bulk_lookup()
        .body(body::<types::UniversalBulkLookupInput>(json!({"queries": [
            {"name": "Ada Lovelace", "current_employer": "Figma", "reveal_professional_email": true},
            {"email": "grace@stripe.com", "reveal_personal_email": true, "reveal_phone": true}
        ]})))
        .send()
        .await
        .unwrap();
    let page = universal
        .create_universal_person_search()
        .body(body::<types::UniversalPersonSearchInput>(
            json!({"query": {"current_employer": ["Figma"]}, "page_size": 25}),
        ))
        .send()
        .await
        .unwrap();
    let profiles = page.profiles.as_ref().unwrap();
    assert_eq!(profiles.len(), 25);
    assert!(
        profiles
            .iter()
            .all(|p| p.current_employer.as_deref() == Some("Figma")),
        "a search for Figma people finds Figma people"
    );
    let names: std::collections::BTreeSet<_> = profiles.iter().map(|p| p.name.clone()).collect();
    assert!(names.len() > 10, "rows are different people: {names:?}");
    universal
        .create_universal_company_search()
        .body(body::<types::UniversalCompanySearchInput>(
            json!({"query": {"name": ["Figma"]}}),
        ))
        .send()
        .await
        .unwrap();
    universal
        .create_universal_company_lookup()
        .name("Figma")
        .send()
        .await
        .unwrap();
    let account = universal.get_universal_account().send().await.unwrap();

    // The ledgers: what the sandbox took equals what each client recorded.
    let sandbox_legacy = sandbox
        .account(Provider::RocketReach, seed::ROCKETREACH_KEY)
        .unwrap();
    assert_eq!(sandbox_legacy.spent(), legacy.runtime().ledger().spent());
    // person 2 + person and company 3 + company 1 + bulk 2 x 1.
    assert_eq!(sandbox_legacy.spent(), 8);
    let sandbox_universal = sandbox
        .account(Provider::RocketReach, seed::ROCKETREACH_UNIVERSAL_KEY)
        .unwrap();
    assert_eq!(
        sandbox_universal.spent(),
        universal.runtime().ledger().spent()
    );
    // lookup 2 + 6, bulk 2 + (3 + 6), person search 1, company search 2, company lookup 1.
    assert_eq!(sandbox_universal.spent(), 23);
    assert_eq!(
        universal
            .runtime()
            .ledger()
            .reported_balance()
            .map(|(b, _)| b),
        Some(10_000 - 23),
        "the universal account reports the balance the sandbox keeps"
    );
    let _ = account;

    // Key rotation last: the new key works, the old one does not.
    let rotated = legacy
        .create_new_api_key()
        .body(body::<types::ApiKey>(json!({})))
        .send()
        .await
        .unwrap();
    let new_key = rotated.api_key.as_ref().unwrap().expose().to_owned();
    let old = legacy.get_account().send().await.unwrap_err();
    assert_eq!(old.status(), Some(401), "{old}");
    client(&sandbox, &new_key)
        .get_account()
        .send()
        .await
        .unwrap();

    let answered = sandbox.answered(Provider::RocketReach);
    let missing: Vec<String> = sandbox
        .operations(Provider::RocketReach)
        .into_iter()
        .filter(|op| !answered.contains_key(op))
        .collect();
    assert!(missing.is_empty(), "operations never answered: {missing:?}");
}

#[tokio::test]
async fn refusals_are_rocketreach_shaped_and_charge_nothing() {
    let sandbox = sandbox().await;
    let legacy = client(&sandbox, seed::ROCKETREACH_KEY);
    let universal = client(&sandbox, seed::ROCKETREACH_UNIVERSAL_KEY);

    let family = universal.get_account().send().await.unwrap_err();
    assert_eq!(family.status(), Some(403));
    assert_eq!(family.kind(), Some(tollgate::ErrorKind::WrongPlanFamily));
    assert!(family.is_auth() && !family.is_out_of_credits());
    assert!(family.to_string().contains("Universal Credit"), "{family}");
    let family = legacy.get_universal_account().send().await.unwrap_err();
    assert!(
        family.to_string().contains("require Universal Credits"),
        "{family}"
    );

    let nobody = legacy
        .create_person_lookup()
        .return_cached_emails(true)
        .name("Nobody Atall")
        .current_employer("Figma")
        .send()
        .await
        .unwrap_err();
    assert_eq!(nobody.status(), Some(404));
    assert!(
        nobody.to_string().contains("Could not find the person"),
        "{nobody}"
    );

    let no_reveal = universal
        .create_universal_person_lookup()
        .return_cached_emails(true)
        .email("ada@figma.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(no_reveal.status(), Some(400));
    assert!(
        no_reveal
            .to_string()
            .contains("at least one enrichment type"),
        "{no_reveal}"
    );

    let unidentified = legacy
        .create_person_lookup()
        .return_cached_emails(true)
        .title("CTO")
        .send()
        .await
        .unwrap_err();
    assert_eq!(unidentified.status(), Some(400));

    // An account with 2 credits cannot pay for a 3-credit lookup: 403, as RocketReach answers.
    let poor = "sandboxpooraccount000000000000001";
    sandbox
        .add_account(
            Provider::RocketReach,
            tollgate_sandbox::AccountSeed {
                key: poor.into(),
                credits: Some(2),
                rows: None,
                universal: false,
                plan: None,
            },
        )
        .unwrap();
    let broke = client(&sandbox, poor)
        .create_person_and_company_lookup()
        .return_cached_emails(true)
        .email("ada@figma.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(broke.status(), Some(403));
    // RocketReach's 403 for credits is told apart from its 403s for the key's plan.
    assert!(broke.is_out_of_credits() && !broke.is_auth(), "{broke:?}");
    assert!(
        broke.to_string().contains("insufficient lookup credits"),
        "{broke}"
    );
    assert_eq!(
        sandbox
            .account(Provider::RocketReach, poor)
            .unwrap()
            .remaining(),
        2
    );

    for (key, c) in [
        (seed::ROCKETREACH_KEY, &legacy),
        (seed::ROCKETREACH_UNIVERSAL_KEY, &universal),
    ] {
        assert_eq!(
            sandbox.account(Provider::RocketReach, key).unwrap().spent(),
            0
        );
        assert_eq!(c.runtime().ledger().spent(), 0);
    }

    // The deprecated `api_key` query parameter still authenticates, as at RocketReach.
    let url = format!(
        "{}/account/?api_key={}",
        sandbox.base_url(Provider::RocketReach),
        seed::ROCKETREACH_KEY
    );
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);

    // A key the sandbox does not know.
    let stranger = client(&sandbox, "0123456789abcdef0123456789abcdef")
        .get_account()
        .send()
        .await
        .unwrap_err();
    assert_eq!(stranger.status(), Some(401));
    assert!(stranger.is_auth() && !stranger.is_retryable());
}

#[tokio::test]
async fn a_key_past_its_rate_limit_gets_429_with_retry_after_and_the_client_waits() {
    let sandbox = sandbox().await;
    let key = "sandboxslowaccount000000000000001";
    sandbox
        .add_account(
            Provider::RocketReach,
            tollgate_sandbox::AccountSeed {
                key: key.into(),
                credits: None,
                rows: None,
                universal: false,
                plan: Some(tollgate_sandbox::seed::PlanSeed::Explicit(
                    tollgate_sandbox::RatePlan {
                        requests: 1,
                        per_seconds: 1,
                        burst: 1,
                    },
                )),
            },
        )
        .unwrap();
    // Without the client's own pacing, the second call meets the sandbox's 429 and is retried
    // after the Retry-After it carries.
    let c = client(&sandbox, key);
    c.get_account().send().await.unwrap();
    c.get_account().send().await.unwrap();

    // Raw: the 429 itself.
    let url = format!("{}/account/", sandbox.base_url(Provider::RocketReach));
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = http.get(&url).header("Api-Key", key).send().await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Request was throttled.")
            );
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_same_person_is_the_same_on_every_call_and_after_a_restart() {
    async fn ask(sandbox: &Sandbox, by: &str, cached: bool) -> types::Profile {
        let rr = client(sandbox, seed::ROCKETREACH_KEY);
        let request = rr.create_person_lookup().return_cached_emails(cached);
        let request = match by {
            "id" => request.id(5244),
            "linkedin" => request.linkedin_url("https://www.linkedin.com/in/ada-lovelace/"),
            _ => request.linkedin_url("http://linkedin.com/in/Ada-Lovelace?trk=x"),
        };
        let found = request.send().await.unwrap().into_inner();
        rr.wait_for_lookup(found.id.unwrap(), Family::Legacy, &fast(), |_| {})
            .await
            .unwrap()
    }
    let person = |p: &types::Profile| {
        (
            p.id,
            p.name.clone(),
            p.current_employer.clone(),
            p.current_work_email.clone(),
        )
    };
    let first = sandbox().await;
    let by_id = person(&ask(&first, "id", false).await);
    assert_eq!(by_id.0, Some(5244));
    for cached in [true, false, true] {
        assert_eq!(
            person(&ask(&first, "id", cached).await),
            by_id,
            "id 5244 changed"
        );
    }
    let by_url = person(&ask(&first, "linkedin", false).await);
    assert_eq!(
        person(&ask(&first, "linkedin-other-spelling", true).await),
        by_url,
        "one LinkedIn profile in two spellings is two people"
    );
    // A restart (the same built-in seed) answers the same.
    drop(first);
    let second = sandbox().await;
    assert_eq!(person(&ask(&second, "id", false).await), by_id);
    assert_eq!(person(&ask(&second, "linkedin", false).await), by_url);
}

#[tokio::test]
async fn the_sdks_search_path_is_not_served_as_rocketreach_does_not() {
    // RocketReach's Python SDK posts person searches to `/api/v2/search`, which RocketReach
    // answers 404 (docs/providers/rocketreach.md); the sandbox does the same.
    let sandbox = sandbox().await;
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/search",
            sandbox.base_url(Provider::RocketReach)
        ))
        .header("Api-Key", seed::ROCKETREACH_KEY)
        .json(&json!({"query": {"name": ["Ada Lovelace"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
}
