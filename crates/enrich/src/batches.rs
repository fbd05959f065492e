//! Batches as one awaited call: submit, poll the progress (every 5 s by default, as Enrich
//! advises), then fetch every page of results, which also settles the batch's credits (excess
//! refunded). Results pages are also available as `futures::Stream`s.

use std::future::Future;
use std::num::NonZeroU64;

use futures::{Stream, StreamExt, TryStreamExt};
use tollgate::jobs::{self, JobOptions, JobStatus, Progress};
use tollgate::pages::{self, Page};

use crate::types::{self, BatchStatus, BatchStatusValue};
use crate::Client;

/// Results per page when fetching results (the largest Enrich allows).
const PAGE_LIMIT: i64 = 1000;

fn job_status(data: Option<types::BatchStatusData>) -> JobStatus<()> {
    let data = data.unwrap_or_default();
    let progress = Progress {
        done: data
            .processed_items
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        total: data.total_items.and_then(|n| u64::try_from(n).ok()),
    };
    match data.status {
        Some(BatchStatusValue::Known(BatchStatus::Completed)) => JobStatus::Done(()),
        Some(BatchStatusValue::Known(BatchStatus::Failed)) => {
            JobStatus::Failed("the batch failed".into())
        }
        _ => JobStatus::Running(progress),
    }
}

fn batch_id(data: Option<&types::BatchSubmitData>) -> Result<String, tollgate::Error> {
    data.and_then(|d| d.batch_id.clone()).ok_or_else(|| {
        tollgate::Error::Other("Enrich accepted the batch but sent no batchId".into())
    })
}

/// Every item of every results page; `fetch(page, limit)` gets one page's items and the total
/// the batch reports. Stops at that total, on a short page, or at the page cap.
fn results<T, F, Fut>(
    list: &'static str,
    mut fetch: F,
) -> impl Stream<Item = Result<T, tollgate::Error>>
where
    F: FnMut(NonZeroU64, NonZeroU64) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<i64>), tollgate::Error>>,
{
    pages::stream_bounded(list, pages::DEFAULT_MAX_PAGES, 1_i64, move |page| {
        let number = NonZeroU64::new(page.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
        let limit = NonZeroU64::new(PAGE_LIMIT.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
        let items = fetch(number, limit);
        async move {
            let (items, total) = items.await?;
            let next = pages::next_page_by_items(page, PAGE_LIMIT, items.len(), total);
            Ok(Page { items, next })
        }
    })
}

/// Polls a batch's progress until it ends.
async fn wait_batch<F, Fut>(
    job: String,
    options: &JobOptions,
    on_progress: impl FnMut(&Progress),
    mut poll: F,
) -> Result<(), tollgate::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<types::BatchStatusData>, tollgate::Error>>,
{
    jobs::wait(
        &job,
        options,
        || {
            let status = poll();
            async move { Ok(job_status(status.await?)) }
        },
        on_progress,
    )
    .await
}

impl Client {
    /// Continues a `partial` company follower scrape (one whose progress says `partial: true`,
    /// less than 3 days old): only its under-delivered filters run again, with the scrape's own
    /// filters. Reserves credits for the recoverable profiles (`meta.creditsReserved`, recorded
    /// in the ledger; the most a continue may cost is not known before the answer, so a budget
    /// cannot refuse it in advance) and settles on the profiles added; read them with the same
    /// batch id.
    pub async fn continue_follower_scrape(
        &self,
        batch_id: &str,
    ) -> Result<types::StartCompanyFollowerResponse, tollgate::Error> {
        Ok(self
            .start_company_follower_scrape()
            .batch_id(batch_id)
            .body(types::ContinueScrape {})
            .send()
            .await?
            .into_inner())
    }

    /// Validates `emails` as one batch (1 credit per unique email, reserved on submit, settled
    /// on the results) and returns every result once the batch is done. `options.deadline`
    /// covers the whole job after the submission, polls and result pages alike; the result
    /// pages stop at the total the batch reports.
    pub async fn validate_emails(
        &self,
        emails: Vec<String>,
        options: &JobOptions,
        on_progress: impl FnMut(&Progress),
    ) -> Result<Vec<types::EmailValidationResult>, tollgate::Error> {
        let emails = emails
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                types::BatchEmailValidationRequestEmailsItem::try_from(e)
                    .map_err(|err| tollgate::Error::InvalidRequest(format!("email #{i}: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let submitted_items = emails
            .iter()
            .map(|e| e.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let body = types::BatchEmailValidationRequest {
            emails,
            webhook_url: None,
        };
        let submitted = self
            .validate_email_batch()
            .body(body)
            .send()
            .await?
            .into_inner();
        let id = batch_id(submitted.data.as_ref())?;
        let job = format!("email validation {id}");
        jobs::within(&job, options.deadline, async {
            self.wait_email_validation_batch(&id, options, on_progress)
                .await?;
            // A batch has at most one result per unique email, whatever the pages say.
            self.email_validation_results(&id)
                .take(submitted_items)
                .try_collect()
                .await
        })
        .await
    }

    /// Polls a validation batch submitted earlier (by this process or another) until it
    /// ends: `Ok` when completed, [`tollgate::Error::JobFailed`] when it failed,
    /// [`tollgate::Error::Deadline`] past `options.deadline`.
    pub async fn wait_email_validation_batch(
        &self,
        batch_id: &str,
        options: &JobOptions,
        on_progress: impl FnMut(&Progress),
    ) -> Result<(), tollgate::Error> {
        let job = format!("email validation {batch_id}");
        wait_batch(job, options, on_progress, || async {
            Ok(self
                .get_email_validation_batch()
                .batch_id(batch_id)
                .send()
                .await?
                .into_inner()
                .data)
        })
        .await
    }

    /// Every result of a validation batch, page by page.
    pub fn email_validation_results<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> impl Stream<Item = Result<types::EmailValidationResult, tollgate::Error>> + 'a {
        results("email validation results", move |page, limit| async move {
            let answer = self
                .get_email_validation_batch_results()
                .batch_id(batch_id)
                .page(page)
                .limit(limit)
                .send()
                .await?;
            Ok(answer
                .into_inner()
                .data
                .map(|d| (d.results, d.total_items))
                .unwrap_or_default())
        })
    }

    /// Finds the emails of `leads` as one batch (10 credits per unique lead, reserved on
    /// submit; leads not found are refunded) and returns every result once the batch is done.
    pub async fn find_emails(
        &self,
        leads: Vec<types::Lead>,
        options: &JobOptions,
        on_progress: impl FnMut(&Progress),
    ) -> Result<Vec<types::EmailFinderResult>, tollgate::Error> {
        let submitted_items = leads.len();
        let body = types::BatchEmailFinderRequest {
            leads,
            webhook_url: None,
        };
        let submitted = self
            .find_email_batch()
            .body(body)
            .send()
            .await?
            .into_inner();
        let id = batch_id(submitted.data.as_ref())?;
        let job = format!("email finder {id}");
        jobs::within(&job, options.deadline, async {
            self.wait_email_finder_batch(&id, options, on_progress)
                .await?;
            // A batch has at most one result per lead, whatever the pages say.
            self.email_finder_results(&id)
                .take(submitted_items)
                .try_collect()
                .await
        })
        .await
    }

    /// Polls an email finder batch submitted earlier until it ends (as
    /// [`Client::wait_email_validation_batch`]).
    pub async fn wait_email_finder_batch(
        &self,
        batch_id: &str,
        options: &JobOptions,
        on_progress: impl FnMut(&Progress),
    ) -> Result<(), tollgate::Error> {
        let job = format!("email finder {batch_id}");
        wait_batch(job, options, on_progress, || async {
            Ok(self
                .get_email_finder_batch()
                .batch_id(batch_id)
                .send()
                .await?
                .into_inner()
                .data)
        })
        .await
    }

    /// Every result of an email finder batch, page by page.
    pub fn email_finder_results<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> impl Stream<Item = Result<types::EmailFinderResult, tollgate::Error>> + 'a {
        results("email finder results", move |page, limit| async move {
            let answer = self
                .get_email_finder_batch_results()
                .batch_id(batch_id)
                .page(page)
                .limit(limit)
                .send()
                .await?;
            Ok(answer
                .into_inner()
                .data
                .map(|d| (d.results, d.total_items))
                .unwrap_or_default())
        })
    }
}
