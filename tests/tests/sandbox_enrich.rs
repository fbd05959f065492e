//! The Enrich client end to end against the sandbox: every operation of the spec called with a
//! valid request and decoded; batches reserved on submit, progressing over time and settled on
//! their results; the sandbox's credit ledger equal to the client's at every step; 402 before
//! anything is taken; rate-limit headers and 429s.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use serde_json::json;
use tollgate_enrich::{Client, types};
use tollgate_sandbox::{AccountSeed, Provider, Sandbox, seed};

const JOB: Duration = Duration::from_millis(300);

async fn sandbox() -> Sandbox {
    Sandbox::builder().job_duration(JOB).start().await.unwrap()
}

fn client(sandbox: &Sandbox, key: &str) -> Client {
    Client::builder()
        .api_key(key)
        .base_url(sandbox.base_url(Provider::Enrich))
        .rate_limit(None)
        .build()
        .unwrap()
}

use tollgate_tests::from_json as body;

use tollgate_tests::fast_jobs as fast;

fn status(e: &tollgate_enrich::Error) -> Option<u16> {
    e.status()
}

/// The sandbox's ledger of the built-in key equals what the client recorded.
fn agree(sandbox: &Sandbox, client: &Client, step: &str) -> i64 {
    let spent = sandbox
        .account(Provider::Enrich, seed::ENRICH_KEY)
        .unwrap()
        .spent();
    assert_eq!(
        spent,
        client.runtime().ledger().spent(),
        "after {step}: sandbox charges {:?}\nclient entries {:?}",
        sandbox
            .account(Provider::Enrich, seed::ENRICH_KEY)
            .unwrap()
            .charges(),
        client.runtime().ledger().entries()
    );
    spent
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one walk through every operation, checking the ledgers
async fn every_operation_answers_and_the_ledgers_agree() {
    let sandbox = sandbox().await;
    let en = client(&sandbox, seed::ENRICH_KEY);

    // Single lookups: charged when found, free when not.
    let valid = en
        .validate_email()
        .body(body::<types::EmailValidationRequest>(
            json!({"email": "ada.lovelace@figma.com"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        valid.data.as_ref().unwrap().email.as_deref(),
        Some("ada.lovelace@figma.com")
    );
    let risky = en
        .validate_email()
        .body(body::<types::EmailValidationRequest>(
            json!({"email": "risky@figma.com"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(risky.meta.as_ref().unwrap().credits_used, Some(0));
    let found = en
        .find_email()
        .body(body::<types::EmailFinderRequest>(
            json!({"firstName": "Emily", "lastName": "Zhang", "domain": "figma.com"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        found.data.as_ref().unwrap().email.as_deref(),
        Some("emily.zhang@figma.com")
    );
    en.find_phones()
        .email("grace@stripe.com")
        .send()
        .await
        .unwrap();
    en.reverse_lookup()
        .body(body::<types::LookupRequest>(
            json!({"email": "grace@stripe.com"}),
        ))
        .send()
        .await
        .unwrap();
    let none = en
        .reverse_lookup()
        .body(body::<types::LookupRequest>(
            json!({"email": "nobody@stripe.com"}),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&none), Some(404));
    // 1 + 0 + 10 + 500 + 10.
    assert_eq!(agree(&sandbox, &en, "single lookups"), 521);

    // Batches through the helpers: reserve, poll, fetch; the unfound item is refunded.
    let mut progress = Vec::new();
    let results = en
        .validate_emails(
            vec![
                "a@figma.com".into(),
                "nobody@figma.com".into(),
                "A@figma.com".into(),
            ],
            &fast(),
            |p| progress.push(*p),
        )
        .await
        .unwrap();
    assert_eq!(
        results.len(),
        2,
        "e-mails are de-duplicated case-insensitively"
    );
    assert!(
        !progress.is_empty(),
        "progress was reported while the batch ran"
    );
    assert_eq!(agree(&sandbox, &en, "validation batch"), 521 + 1);
    let leads: Vec<types::Lead> = vec![
        body(json!({"firstName": "Ada", "lastName": "Lovelace", "domain": "figma.com"})),
        body(json!({"firstName": "Nobody", "lastName": "Here", "domain": "figma.com"})),
    ];
    let finds = en.find_emails(leads, &fast(), |_| {}).await.unwrap();
    assert_eq!(finds.len(), 2);
    assert_eq!(agree(&sandbox, &en, "finder batch"), 522 + 10);

    // Batches by hand: phones and reverse lookups.
    let phones = en
        .find_phones_bulk()
        .body(body::<types::PhoneBatchRequest>(
            json!({"emails": ["ada@figma.com"], "linkedins": ["https://linkedin.com/in/nobody"]}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(phones.meta.as_ref().unwrap().credits_reserved, Some(1000));
    let phone_id = phones.data.as_ref().unwrap().batch_id.clone().unwrap();
    let reverse = en
        .reverse_lookup_bulk()
        .body(body::<types::BulkLookupRequest>(
            json!({"emails": ["ada@figma.com", "grace@stripe.com"]}),
        ))
        .send()
        .await
        .unwrap();
    let reverse_id = reverse.data.as_ref().unwrap().batch_id.clone().unwrap();
    let early = en
        .get_phone_bulk_job()
        .job_id(phone_id.as_str())
        .send()
        .await
        .unwrap();
    assert_ne!(
        early.data.as_ref().unwrap().processed_items,
        Some(2),
        "not done at once"
    );
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    let done = en
        .get_phone_bulk_job()
        .job_id(phone_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(done.data.as_ref().unwrap().processed_items, Some(2));
    let settled = en
        .get_phone_bulk_job_results()
        .job_id(phone_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(settled.meta.as_ref().unwrap().credits_refunded, Some(500));
    // A second fetch repeats the settlement; nothing moves twice.
    en.get_phone_bulk_job_results()
        .job_id(phone_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_reverse_lookup_bulk()
        .batch_id(reverse_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_reverse_lookup_bulk_results()
        .batch_id(reverse_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        agree(&sandbox, &en, "phone and reverse batches"),
        532 + 500 + 20
    );

    // The lower-level batch operations the helpers use, once each by hand.
    let v = en
        .validate_email_batch()
        .body(body::<types::BatchEmailValidationRequest>(
            json!({"emails": ["x@figma.com"]}),
        ))
        .send()
        .await
        .unwrap();
    let f = en
        .find_email_batch()
        .body(body::<types::BatchEmailFinderRequest>(json!({"leads": [{"firstName": "Grace", "lastName": "Hopper", "domain": "stripe.com"}]})))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    let v_id = v.data.as_ref().unwrap().batch_id.clone().unwrap();
    let f_id = f.data.as_ref().unwrap().batch_id.clone().unwrap();
    en.get_email_validation_batch()
        .batch_id(v_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_email_validation_batch_results()
        .batch_id(v_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_email_finder_batch()
        .batch_id(f_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_email_finder_batch_results()
        .batch_id(f_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(agree(&sandbox, &en, "raw batches"), 1052 + 1 + 10);

    // Company followers: an estimate (100), a scrape reserving 50 x 100 that delivers 40.
    let estimate = en
        .start_count_estimate()
        .body(body::<types::CountEstimateRequest>(
            json!({"companyUrl": "https://linkedin.com/company/stripe"}),
        ))
        .send()
        .await
        .unwrap();
    let estimate_id = estimate.data.as_ref().unwrap().batch_id.clone().unwrap();
    let scrape = en
        .start_company_follower_scrape()
        .body(body::<types::CompanyFollowerRequest>(
            json!({"companyUrl": "https://linkedin.com/company/stripe", "max_limit": 50}),
        ))
        .send()
        .await
        .unwrap();
    let scrape_id = scrape.data.as_ref().unwrap().batch_id.clone().unwrap();
    en.get_company_follower_limit().send().await.unwrap();
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    en.get_count_estimate()
        .batch_id(estimate_id.as_str())
        .send()
        .await
        .unwrap();
    let progress = en
        .get_company_follower_progress()
        .batch_id(scrape_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(progress.data.as_ref().unwrap().done, Some(true));
    let followers = en
        .get_company_follower_results()
        .batch_id(scrape_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(followers.data.as_ref().unwrap().count, Some(40));
    let csv = en
        .export_company_follower_results()
        .batch_id(scrape_id.as_str())
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(
        futures::TryStreamExt::try_fold(
            csv.into_inner_stream(),
            Vec::new(),
            |mut acc, chunk| async move {
                acc.extend_from_slice(&chunk);
                Ok(acc)
            },
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(text.lines().count(), 41, "a header and 40 followers");
    assert_eq!(agree(&sandbox, &en, "followers"), 1063 + 100 + 4000);

    // Lead Finder.
    let filters = json!({"jobTitle": "CTO"});
    en.search_leads()
        .body(body::<types::LeadSearchRequest>(
            json!({"filters": filters}),
        ))
        .send()
        .await
        .unwrap();
    let page4 = en
        .search_leads()
        .body(body::<types::LeadSearchRequest>(
            json!({"filters": filters, "page": 4, "pageSize": 10}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page4.meta.as_ref().unwrap().credits_used,
        Some(10),
        "page 4 costs 1 per result"
    );
    en.count_leads()
        .body(body::<types::LeadCountRequest>(json!({"filters": filters})))
        .send()
        .await
        .unwrap();
    en.get_lead_filter_options().send().await.unwrap();
    en.suggest_companies().q("Fig").send().await.unwrap();
    let saved = en
        .save_search()
        .body(body::<types::SavedSearchCreateRequest>(
            json!({"name": "CTOs", "filters": filters}),
        ))
        .send()
        .await
        .unwrap();
    let saved_id = saved.data.as_ref().unwrap().id.clone().unwrap();
    assert_eq!(en.list_saved_searches().send().await.unwrap().data.len(), 1);
    en.delete_saved_search()
        .id(saved_id.as_str())
        .send()
        .await
        .unwrap();
    assert!(
        en.list_saved_searches()
            .send()
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let again = en
        .delete_saved_search()
        .id(saved_id.as_str())
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&again), Some(404));

    let reveal = en
        .reveal_leads()
        .body(body::<types::LeadRevealRequest>(
            json!({"leads": [{"id": "enc_abc123"}, {"id": "enc_nobody"}], "fields": ["email"]}),
        ))
        .send()
        .await
        .unwrap();
    let reveal_id = reveal.data.as_ref().unwrap().job_id.clone().unwrap();
    en.enrich_leads()
        .body(body::<types::LeadEnrichRequest>(
            json!({"leads": [{"id": "enc_def456"}], "fields": ["phone"]}),
        ))
        .send()
        .await
        .unwrap();
    en.unlock_lead_names()
        .body(body::<types::UnlockNamesRequest>(
            json!({"leads": [{"id": "enc_abc123"}, {"id": "enc_def456"}]}),
        ))
        .send()
        .await
        .unwrap();
    let export = en
        .export_leads()
        .body(body::<types::LeadExportRequest>(
            json!({"filters": filters, "maxResults": 20, "includeEmail": true}),
        ))
        .send()
        .await
        .unwrap();
    let export_id = export.data.as_ref().unwrap().job_id.clone().unwrap();
    let Err(not_yet) = en
        .download_export_job()
        .job_id(export_id.as_str())
        .send()
        .await
    else {
        panic!("an export still running cannot be downloaded");
    };
    assert_eq!(status(&not_yet), Some(409));
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    en.get_reveal_job()
        .job_id(reveal_id.as_str())
        .send()
        .await
        .unwrap();
    en.get_reveal_job()
        .job_id(reveal_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        en.list_reveal_jobs()
            .send()
            .await
            .unwrap()
            .data
            .as_ref()
            .unwrap()
            .jobs
            .len(),
        2
    );
    en.get_export_job()
        .job_id(export_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        en.list_export_jobs()
            .send()
            .await
            .unwrap()
            .data
            .as_ref()
            .unwrap()
            .jobs
            .len(),
        1
    );
    en.download_export_job()
        .job_id(export_id.as_str())
        .send()
        .await
        .unwrap();
    // search 10; reveal 20 - 10 refunded; enrich 525; names 2; export 200 - 20 refunded.
    assert_eq!(
        agree(&sandbox, &en, "lead finder"),
        5163 + 10 + 10 + 525 + 2 + 180
    );

    // People search: one credit per result returned.
    let icp = en
        .waterfall_icp_search()
        .body(body::<types::WaterfallIcpSearchRequest>(json!({"company_linkedin_url": "https://www.linkedin.com/company/figma/", "max_results": 5})))
        .send()
        .await
        .unwrap();
    assert_eq!(icp.data.as_ref().unwrap().results.len(), 5);
    en.find_employees()
        .body(body::<types::EmployeeFinderRequest>(
            json!({"company_linkedin_url": "https://www.linkedin.com/company/figma/"}),
        ))
        .send()
        .await
        .unwrap();
    let spent = agree(&sandbox, &en, "people search");
    assert_eq!(spent, 5890 + 5 + 10);

    // Teams.
    en.list_team_members()
        .team_id("665a1f4e2c3b7800129dce09")
        .send()
        .await
        .unwrap();
    let invite = en
        .invite_team_member()
        .team_id("665a1f4e2c3b7800129dce09")
        .body(body::<types::InviteBody>(
            json!({"email": "grace@figma.com", "role": "member"}),
        ))
        .send()
        .await
        .unwrap();
    let invitation = invite.data.as_ref().unwrap().id.clone().unwrap();
    assert_eq!(
        en.list_team_invitations()
            .team_id("665a1f4e2c3b7800129dce09")
            .send()
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    en.cancel_team_invitation()
        .team_id("665a1f4e2c3b7800129dce09")
        .invitation_id(invitation.as_str())
        .send()
        .await
        .unwrap();

    // The wallet reads the sandbox's ledger, and the client records the balance it reports.
    let balance = en.get_wallet_balance().send().await.unwrap();
    assert_eq!(
        balance.data.as_ref().unwrap().balance,
        Some(seed::DEFAULT_ENRICH_CREDITS - spent)
    );
    assert_eq!(
        en.runtime().ledger().reported_balance().map(|(b, _)| b),
        Some(seed::DEFAULT_ENRICH_CREDITS - spent)
    );
    let history = en.list_wallet_transactions().send().await.unwrap();
    assert!(!history.data.as_ref().unwrap().transactions.is_empty());

    let answered = sandbox.answered(Provider::Enrich);
    let missing: Vec<String> = sandbox
        .operations(Provider::Enrich)
        .into_iter()
        .filter(|op| !answered.contains_key(op))
        .collect();
    assert!(missing.is_empty(), "operations never answered: {missing:?}");
}

#[tokio::test]
async fn too_few_credits_is_a_402_before_anything_is_taken() {
    let sandbox = sandbox().await;
    let key = "sk_sandbox_poor_0000000000000001";
    sandbox
        .add_account(
            Provider::Enrich,
            AccountSeed {
                key: key.into(),
                credits: Some(15),
                rows: None,
                universal: false,
                plan: None,
            },
        )
        .unwrap();
    let en = client(&sandbox, key);
    let batch = en
        .validate_email_batch()
        .body(body::<types::BatchEmailValidationRequest>(
            json!({"emails": (0..20).map(|i| format!("p{i}@figma.com")).collect::<Vec<_>>()}),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&batch), Some(402));
    let problem = batch;
    assert!(
        problem.to_string().contains("Required: 20, available: 15"),
        "{problem}"
    );
    let account = sandbox.account(Provider::Enrich, key).unwrap();
    assert_eq!(account.remaining(), 15);
    assert_eq!(en.runtime().ledger().spent(), 0);

    // Enrich's own validation: an address that is not one, a URL that is not a company page.
    // The spec states both as patterns, so the typed client refuses them before sending ...
    assert!(
        serde_json::from_value::<types::EmailValidationRequest>(json!({"email": "not-an-email"}))
            .is_err()
    );
    assert!(
        serde_json::from_value::<types::EmployeeFinderRequest>(
            json!({"company_linkedin_url": "https://figma.com"})
        )
        .is_err()
    );
    // ... and the sandbox refuses them from any other client, in Enrich's words.
    let raw = |path: &'static str, body: serde_json::Value| {
        let url = format!("{}{path}", sandbox.base_url(Provider::Enrich));
        async move {
            let answer = reqwest::Client::new()
                .post(url)
                .header("x-api-key", seed::ENRICH_KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        }
    };
    let (status, text) = raw("/email-validation", json!({"email": "not-an-email"})).await;
    assert_eq!(status, 400);
    assert!(text.contains("body/email Invalid email"), "{text}");
    let (_, text) = raw(
        "/email-validation/batch",
        json!({"emails": ["a@figma.com", "oops"]}),
    )
    .await;
    assert!(text.contains("body/emails/1"), "{text}");
    let (status, text) = raw(
        "/people-search/employee-finder",
        json!({"company_linkedin_url": "https://figma.com"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("company_linkedin_url"), "{text}");
    assert_eq!(account.remaining(), 15, "refusals take nothing");

    // Reveal jobs do not refuse: the job fails, and nothing is taken.
    let reveal = en
        .reveal_leads()
        .body(body::<types::LeadRevealRequest>(
            json!({"leads": [{"id": "enc_a"}], "fields": ["phone"]}),
        ))
        .send()
        .await
        .unwrap();
    let job = reveal.data.as_ref().unwrap().job_id.clone().unwrap();
    let polled = en
        .get_reveal_job()
        .job_id(job.as_str())
        .send()
        .await
        .unwrap();
    let data = polled.data.as_ref().unwrap();
    assert!(
        data.error
            .as_deref()
            .unwrap()
            .contains("Insufficient credits (balance: 15, required: 525)")
    );
    assert_eq!(account.remaining(), 15);
    assert_eq!(en.runtime().ledger().spent(), account.spent());
}

#[tokio::test]
async fn answers_carry_rate_limit_headers_and_a_free_plan_is_throttled() {
    let sandbox = sandbox().await;
    let key = "sk_sandbox_free_0000000000000001";
    sandbox
        .add_account(
            Provider::Enrich,
            AccountSeed {
                key: key.into(),
                credits: None,
                rows: None,
                universal: false,
                plan: Some(seed::PlanSeed::Named("free".into())),
            },
        )
        .unwrap();
    let url = format!("{}/wallets/balance", sandbox.base_url(Provider::Enrich));
    let http = reqwest::Client::new();
    let mut remaining = Vec::new();
    let mut throttled = None;
    for _ in 0..7 {
        let r = http.get(&url).bearer_auth(key).send().await.unwrap();
        if r.status() == 429 {
            throttled = Some((
                r.headers()
                    .get("retry-after")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
                r.headers()["content-type"].to_str().unwrap().to_owned(),
                r.json::<serde_json::Value>().await.unwrap(),
            ));
            break;
        }
        remaining.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
        assert_eq!(r.headers()["x-ratelimit-limit"], "60");
    }
    assert_eq!(
        remaining,
        vec![4, 3, 2, 1, 0],
        "a burst of 5 on the Free plan"
    );
    let (retry, content_type, problem) = throttled.expect("the sixth call is throttled");
    assert_eq!(retry, "1");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(
        problem["type"],
        "https://dev.enrich.so/errors/rate-limit-exceeded"
    );
    assert_eq!(problem["retryAfter"], 1);

    // The client, at its default Free-plan pacing (one a second, no burst), makes calls
    // without a 429.
    let paced = Client::builder()
        .api_key(key)
        .base_url(sandbox.base_url(Provider::Enrich))
        .retry(tollgate::RetryPolicy::none())
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    for _ in 0..3 {
        paced.get_wallet_balance().send().await.unwrap();
    }
}

#[tokio::test]
async fn lead_finder_search_is_free_for_pages_1_to_3_or_75_results_whichever_ends_first() {
    let sandbox = sandbox().await;
    let en = client(&sandbox, seed::ENRICH_KEY);
    let mut expected_total = 0;
    for (page, size, cost) in [
        (1, 25, 0),
        (3, 25, 0),
        (1, 100, 25),
        (2, 100, 100),
        (3, 30, 15),
        (4, 25, 25),
    ] {
        let request = body::<types::LeadSearchRequest>(
            json!({"filters": {"jobTitle": "CTO"}, "page": page, "pageSize": size}),
        );
        assert_eq!(
            tollgate::cost::paged_search_results(page, size, 3, 75),
            cost,
            "the runtime's estimate of page {page} x {size}"
        );
        let answer = en.search_leads().body(request).send().await.unwrap();
        assert_eq!(
            answer.meta.as_ref().unwrap().credits_used,
            Some(cost),
            "page {page} x {size}"
        );
        expected_total += cost;
        assert_eq!(agree(&sandbox, &en, "search"), expected_total);
    }
    // A page number near i64::MAX is answered (no results, nothing charged), not dropped.
    let far = en
        .search_leads()
        .body(body::<types::LeadSearchRequest>(
            json!({"filters": {"jobTitle": "CTO"}, "page": i64::MAX, "pageSize": 100}),
        ))
        .send()
        .await
        .unwrap();
    assert!(far.data.as_ref().unwrap().results.is_empty());
    assert_eq!(agree(&sandbox, &en, "a page past the end"), expected_total);
}

#[tokio::test]
async fn a_partial_follower_scrape_can_be_continued() {
    let sandbox = sandbox().await;
    let en = client(&sandbox, seed::ENRICH_KEY);
    // A company page that under-delivers: 40 followers match, 20 arrive, 20 are recoverable.
    let started = en
        .start_company_follower_scrape()
        .body(body::<types::CompanyFollowerRequest>(json!({
            "companyUrl": "https://www.linkedin.com/company/partial-corp/",
            "max_limit": 50
        })))
        .send()
        .await
        .unwrap();
    let id = started.data.as_ref().unwrap().batch_id.clone().unwrap();
    assert_eq!(agree(&sandbox, &en, "start"), 5_000);
    // Too early: the scrape is still running.
    let early = en.continue_follower_scrape(&id).await.unwrap_err();
    assert_eq!(status(&early), Some(409));
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    let progress = en
        .get_company_follower_progress()
        .batch_id(id.as_str())
        .send()
        .await
        .unwrap();
    let data = progress.data.as_ref().unwrap();
    assert_eq!((data.done, data.partial), (Some(true), Some(true)));
    // Continuing settles the scrape (30 undelivered of 50 refunded) and reserves the 20
    // recoverable profiles anew.
    let continued = en.continue_follower_scrape(&id).await.unwrap();
    assert_eq!(
        continued.data.as_ref().unwrap().estimated_additional,
        Some(20)
    );
    assert_eq!(agree(&sandbox, &en, "continue"), 2_000 + 2_000);
    // Once is enough.
    assert_eq!(
        status(&en.continue_follower_scrape(&id).await.unwrap_err()),
        Some(409)
    );
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    let results = en
        .get_company_follower_results()
        .batch_id(id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        results
            .data
            .as_ref()
            .unwrap()
            .pagination
            .as_ref()
            .unwrap()
            .total,
        Some(40)
    );
    assert_eq!(agree(&sandbox, &en, "results"), 4_000, "40 profiles x 100");
    // A scrape that delivered fully has nothing to continue; an unknown batch is 404.
    let full = en
        .start_company_follower_scrape()
        .body(body::<types::CompanyFollowerRequest>(json!({
            "companyUrl": "https://www.linkedin.com/company/figma/",
            "max_limit": 10
        })))
        .send()
        .await
        .unwrap();
    let full_id = full.data.as_ref().unwrap().batch_id.clone().unwrap();
    tokio::time::sleep(JOB + Duration::from_millis(100)).await;
    assert_eq!(
        status(&en.continue_follower_scrape(&full_id).await.unwrap_err()),
        Some(409)
    );
    assert_eq!(
        status(
            &en.continue_follower_scrape("000000000000000000000000")
                .await
                .unwrap_err()
        ),
        Some(404)
    );
}
