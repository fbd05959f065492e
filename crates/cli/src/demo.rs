//! `tollgate demo`: one pipeline through all four providers against the embedded sandbox, with
//! no key and no network. It ends with a spending table per provider whose figures are checked
//! against the sandbox's own ledgers.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tollgate::jobs::JobOptions;
use tollgate::{Budget, Ledger, ProviderClient};
use tollgate_providers::Provider;
use tollgate_sandbox::Sandbox;

use crate::error::CliError;

/// One row of the demo's spending table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Spending {
    /// The provider.
    pub provider: String,
    /// The unit it bills in.
    pub unit: String,
    /// Calls that cost something, as the client's ledger recorded them.
    pub charged_calls: u64,
    /// Spent (charged minus refunded), as the client's ledger recorded it.
    pub client_ledger: i64,
    /// Spent, as the sandbox's account ledger recorded it.
    pub sandbox_ledger: i64,
}

/// What the demo did.
#[derive(Clone, Debug, Serialize)]
pub struct DemoSummary {
    /// The spending table.
    pub spending: Vec<Spending>,
    /// Whether every client ledger equals the sandbox's.
    pub ledgers_agree: bool,
    /// Seconds the walk took.
    pub seconds: f64,
}

/// Prints the demo's narration: on standard output, or standard error when the output is
/// JSON (so standard output holds only the summary).
struct Say {
    quiet: bool,
    to_stderr: bool,
}

impl Say {
    fn line(&self, text: impl AsRef<str>) {
        if self.quiet {
        } else if self.to_stderr {
            eprintln!("{}", text.as_ref());
        } else {
            outln!("{}", text.as_ref());
        }
    }
}

/// Runs the demo: starts the embedded sandbox, walks the pipeline, prints the spending table
/// (or, with `json`, the summary as JSON on standard output).
pub async fn run(json: bool) -> Result<DemoSummary, CliError> {
    let sandbox = crate::start_sandbox().await?;
    let summary = walk(&sandbox, json, false).await?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_else(|_| "{}".into())
        );
    }
    if summary.ledgers_agree {
        Ok(summary)
    } else {
        Err(CliError::Interrupted(
            "the client ledgers and the sandbox's disagree (a bug: please report it)".into(),
        ))
    }
}

fn client<C: ProviderClient>(
    sandbox: &Sandbox,
    provider: Provider,
    budget: Option<Budget>,
) -> Result<C, CliError> {
    let targets = crate::sandbox_targets(sandbox);
    let (base_url, key) = targets.get(&provider).cloned().ok_or_else(|| {
        CliError::Usage(format!("the sandbox does not serve {}", provider.name()))
    })?;
    let mut builder = tollgate::ClientBuilder::<C>::new()
        .api_key(key)
        .base_url(base_url);
    if let Some(budget) = budget {
        builder = builder.budget(budget);
    }
    builder.build().map_err(CliError::from)
}

/// Walks the pipeline against `sandbox`. `json`: narrate on standard error; `quiet`: not at all.
pub async fn walk(sandbox: &Sandbox, json: bool, quiet: bool) -> Result<DemoSummary, CliError> {
    let say = Say {
        quiet,
        to_stderr: json,
    };
    let started = Instant::now();
    say.line("tollgate demo: one pipeline through four providers, against the embedded sandbox");
    say.line(format!(
        "(sandbox on http://{}; no key, no network)\n",
        sandbox.address()
    ));
    let rocket = rocketreach_account_and_lookup(sandbox, &say).await?;
    let news = spidernews_cost_first(sandbox, &say).await?;
    let enrich = enrich_batch_validation(sandbox, &say, quiet || json).await?;
    let rocketrequest = requestrocket_pages(sandbox, &say).await?;
    throttled_call(sandbox, &say, &rocket).await?;
    let ledgers: [(Provider, &Ledger); 4] = [
        (Provider::RocketReach, rocket.runtime().ledger()),
        (Provider::SpiderNews, news.runtime().ledger()),
        (Provider::Enrich, enrich.runtime().ledger()),
        (Provider::RequestRocket, rocketrequest.runtime().ledger()),
    ];
    let spending = spending_table(sandbox, &say, &ledgers);
    let ledgers_agree = spending.iter().all(|s| s.client_ledger == s.sandbox_ledger);
    let seconds = started.elapsed().as_secs_f64();
    say.line(format!("\ndone in {seconds:.1} s"));
    Ok(DemoSummary {
        spending,
        ledgers_agree,
        seconds,
    })
}

/// Step 1. RocketReach: the account and its credits, then one lookup.
async fn rocketreach_account_and_lookup(
    sandbox: &Sandbox,
    say: &Say,
) -> Result<tollgate_rocketreach::Client, CliError> {
    say.line("1. RocketReach: account and credits");
    let rocket: tollgate_rocketreach::Client = client(sandbox, Provider::RocketReach, None)?;
    let account = rocket.get_account().send().await?.into_inner();
    for usage in &account.credit_usage {
        say.line(format!(
            "   {:<16} {} remaining of {}",
            usage.credit_type.as_deref().unwrap_or("credits"),
            usage
                .remaining
                .map_or_else(|| "-".to_owned(), |r| r.to_string()),
            usage
                .allocated
                .map_or_else(|| "-".to_owned(), |r| r.to_string()),
        ));
    }
    let person = rocket
        .create_person_lookup()
        .name("Sarah Chen")
        .current_employer("Stripe")
        .send()
        .await?
        .into_inner();
    say.line(format!(
        "   looked up {} ({}): {} credit(s) spent",
        person.name.as_deref().unwrap_or("a person"),
        person.current_employer.as_deref().unwrap_or("-"),
        rocket.runtime().ledger().spent()
    ));
    Ok(rocket)
}

/// Step 2. Spider News: an estimate, a call within a budget of 100 rows, one refused by it.
async fn spidernews_cost_first(
    sandbox: &Sandbox,
    say: &Say,
) -> Result<tollgate_spidernews::Client, CliError> {
    say.line("\n2. Spider News: cost first (a budget of 100 rows)");
    let news: tollgate_spidernews::Client =
        client(sandbox, Provider::SpiderNews, Some(Budget::rows(100)))?;
    let estimate = news
        .runtime()
        .cost_rule("list_connections")
        .max_cost(&tollgate::cost::RequestView::from_parts(
            "connection_limit=20",
            None,
        ))
        .map_err(tollgate::Error::from)?;
    say.line(format!(
        "   estimate: 20 connections may cost up to {estimate} rows (3 per connection)"
    ));
    let answer = news
        .list_connections()
        .source_name("Raytheon")
        .connection_limit(std::num::NonZeroU64::new(20).unwrap_or(std::num::NonZeroU64::MIN))
        .send()
        .await?
        .into_inner();
    say.line(format!(
        "   within budget: {} connection(s) returned, {} rows charged (the answer's rows_returned)",
        answer.connections.len(),
        answer.rows_returned
    ));
    match news
        .list_connections()
        .source_name("Raytheon")
        .connection_limit(std::num::NonZeroU64::new(50).unwrap_or(std::num::NonZeroU64::MIN))
        .send()
        .await
    {
        Err(tollgate::Error::CostRefused(refusal)) => {
            say.line(format!("   refused before sending: {refusal}"));
            Ok(news)
        }
        Err(other) => Err(other.into()),
        Ok(_) => Err(CliError::Interrupted(
            "the budget let a request through that it should have refused".into(),
        )),
    }
}

/// Step 3. Enrich: a batch e-mail validation with a progress bar, its results paged, its
/// credits settled.
async fn enrich_batch_validation(
    sandbox: &Sandbox,
    say: &Say,
    hide_bar: bool,
) -> Result<tollgate_enrich::Client, CliError> {
    say.line(
        "\n3. Enrich: batch e-mail validation of 250 addresses (paced to the plan: 60 a minute)",
    );
    let enrich: tollgate_enrich::Client = client(sandbox, Provider::Enrich, None)?;
    let emails: Vec<String> = (0..250)
        .map(|i| {
            if i % 10 == 0 {
                format!("nobody{i}@example.org")
            } else {
                format!("person{i}@example{}.com", i % 7)
            }
        })
        .collect();
    let bar = if hide_bar {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(250);
        bar.set_style(
            ProgressStyle::with_template("   {bar:30} {pos}/{len} validated  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let options = JobOptions {
        interval: Duration::from_millis(250),
        deadline: Some(Duration::from_secs(60)),
    };
    let results = enrich
        .validate_emails(emails, &options, |p| bar.set_position(p.done))
        .await?;
    bar.finish_and_clear();
    let valid = results
        .iter()
        .filter(|r| {
            matches!(
                r.result,
                Some(tollgate_enrich::types::ValidationVerdictValue::Known(
                    tollgate_enrich::types::ValidationVerdict::Valid
                ))
            )
        })
        .count();
    say.line(format!(
        "   {} results over {} page(s): {valid} valid",
        results.len(),
        results.len().div_ceil(100)
    ));
    let (reserved, charged, refunded) = settlement(enrich.runtime().ledger());
    say.line(format!(
        "   credits: {reserved} reserved on submit, {charged} charged, {refunded} refunded on settlement"
    ));
    Ok(enrich)
}

/// Step 4. RequestRocket: resources created, then listed across pages.
async fn requestrocket_pages(
    sandbox: &Sandbox,
    say: &Say,
) -> Result<tollgate_requestrocket::Client, CliError> {
    say.line("\n4. RequestRocket: 7 clients created, listed 3 per page (paced to the plan: 100 a minute)");
    let rocketrequest: tollgate_requestrocket::Client =
        client(sandbox, Provider::RequestRocket, None)?;
    for i in 1..=7 {
        let body = tollgate_requestrocket::types::ClientCreate::builder()
            .client_name(format!("Demo organisation {i}"));
        rocketrequest.create_client().body(body).send().await?;
    }
    let mut page = std::num::NonZeroU64::MIN;
    let per_page = std::num::NonZeroU64::new(3).unwrap_or(std::num::NonZeroU64::MIN);
    let mut listed = 0;
    loop {
        let answer = rocketrequest
            .list_clients()
            .page(page)
            .limit(per_page)
            .send()
            .await?
            .into_inner();
        listed += answer.clients.len();
        say.line(format!(
            "   page {page}: {} client(s)",
            answer.clients.len()
        ));
        let pages = answer
            .pagination
            .as_ref()
            .and_then(|p| p.pages)
            .unwrap_or(1);
        if answer.clients.len() < 3 || i64::try_from(page.get()).unwrap_or(i64::MAX) >= pages {
            break;
        }
        page = page.saturating_add(1);
    }
    say.line(format!("   {listed} client(s) in all"));
    Ok(rocketrequest)
}

/// Step 5. A throttled call, retried after Retry-After.
async fn throttled_call(
    sandbox: &Sandbox,
    say: &Say,
    rocket: &tollgate_rocketreach::Client,
) -> Result<(), CliError> {
    say.line("\n5. A throttled call: the sandbox answers 429 with Retry-After: 1");
    sandbox.faults().fail_next(1, 429, Some(1));
    let before = Instant::now();
    rocket.get_account().send().await?;
    say.line(format!(
        "   retried after the wait: answered in {:.1} s",
        before.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The spending table, each client ledger set against the sandbox's ledger for its key.
fn spending_table(sandbox: &Sandbox, say: &Say, ledgers: &[(Provider, &Ledger)]) -> Vec<Spending> {
    let targets = crate::sandbox_targets(sandbox);
    let spending: Vec<Spending> = ledgers
        .iter()
        .map(|(provider, ledger)| {
            let key = targets
                .get(provider)
                .map(|t| t.1.clone())
                .unwrap_or_default();
            let totals = ledger.totals();
            Spending {
                provider: provider.profile().name.to_owned(),
                unit: provider.profile().cost.unit.to_string(),
                charged_calls: totals.calls,
                client_ledger: totals.spent(),
                sandbox_ledger: sandbox.account(*provider, &key).map_or(0, |a| a.spent()),
            }
        })
        .collect();
    let mut table = vec![
        [
            "provider",
            "unit",
            "calls charged",
            "client ledger",
            "sandbox ledger",
            "",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for s in &spending {
        table.push(vec![
            s.provider.clone(),
            s.unit.clone(),
            s.charged_calls.to_string(),
            s.client_ledger.to_string(),
            s.sandbox_ledger.to_string(),
            if s.client_ledger == s.sandbox_ledger {
                "agree".into()
            } else {
                "DISAGREE".into()
            },
        ]);
    }
    let mut text = String::new();
    crate::output::text_table(&mut text, table, 3);
    say.line("\nSpending");
    say.line(text.trim_end());
    spending
}

/// Reserved, charged and refunded over a ledger's entries.
fn settlement(ledger: &Ledger) -> (i64, i64, i64) {
    let entries = ledger.entries();
    let reserved = entries.iter().map(|e| e.estimated).max().unwrap_or(0);
    let totals = ledger.totals();
    (reserved, totals.charged, totals.refunded)
}
