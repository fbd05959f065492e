//! Long-running jobs as one awaited call: poll until the job ends (with a progress callback, a
//! poll interval that follows the provider's advice, and a deadline), then fetch the results.
//!
//! ```
//! use std::time::Duration;
//! use tollgate::jobs::{self, JobOptions, JobStatus, Progress};
//!
//! # tokio_test::block_on(async {
//! let mut polls = 0;
//! let result = jobs::wait(
//!     "demo",
//!     &JobOptions { interval: Duration::from_millis(1), ..JobOptions::default() },
//!     || {
//!         polls += 1;
//!         let status = if polls < 3 {
//!             JobStatus::Running(Progress { done: polls, total: Some(3) })
//!         } else {
//!             JobStatus::Done("ready")
//!         };
//!         async move { Ok::<_, tollgate::Error>(status) }
//!     },
//!     |p| println!("{}/{:?}", p.done, p.total),
//! )
//! .await?;
//! assert_eq!(result, "ready");
//! # Ok::<(), tollgate::Error>(())
//! # })?;
//! # Ok::<(), tollgate::Error>(())
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// How far a job is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Items done.
    pub done: u64,
    /// Items in all, when known.
    pub total: Option<u64>,
}

/// What one poll says.
#[derive(Clone, Debug, PartialEq)]
pub enum JobStatus<T> {
    /// Still running.
    Running(Progress),
    /// Finished; the value the poll carries (often the job id or the final status).
    Done(T),
    /// Finished with an error.
    Failed(String),
}

/// How to wait for a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOptions {
    /// The wait between polls (the provider's advice: Enrich batches 5 s, Lead Finder jobs 2 s,
    /// RocketReach lookups 1 to 3 s).
    pub interval: Duration,
    /// Give up after this long.
    pub deadline: Option<Duration>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            interval: Duration::from_secs(5),
            deadline: Some(Duration::from_secs(30 * 60)),
        }
    }
}

/// Polls `poll` every `options.interval` until the job is done (returning its value), failed,
/// or past the deadline; `on_progress` sees every progress report.
pub async fn wait<T, F, Fut>(
    job: &str,
    options: &JobOptions,
    mut poll: F,
    mut on_progress: impl FnMut(&Progress),
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<JobStatus<T>, Error>>,
{
    let start = Instant::now();
    loop {
        match poll().await? {
            JobStatus::Done(value) => return Ok(value),
            JobStatus::Failed(message) => {
                return Err(Error::JobFailed {
                    job: job.to_owned(),
                    message,
                });
            }
            JobStatus::Running(progress) => {
                tracing::debug!(job, done = progress.done, total = ?progress.total, "job running");
                on_progress(&progress);
            }
        }
        if let Some(deadline) = options.deadline
            && start.elapsed().saturating_add(options.interval) > deadline
        {
            return Err(Error::Deadline {
                job: job.to_owned(),
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(options.interval).await;
    }
}

/// Runs the whole of a job (polls and result pages alike) under one deadline: past it, the
/// job is abandoned with [`Error::Deadline`] (calls in flight are cancelled, and their budget
/// reservations released or recorded as possibly charged).
pub async fn within<T>(
    job: &str,
    deadline: Option<Duration>,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(deadline) = deadline else {
        return work.await;
    };
    let start = Instant::now();
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(Error::Deadline {
            job: job.to_owned(),
            waited: start.elapsed(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_deadline_covers_the_whole_job() {
        let err = within("j", Some(Duration::from_secs(5)), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Deadline { waited, .. } if waited == Duration::from_secs(5)),
            "{err:?}"
        );
        assert_eq!(
            within("j", None, async { Ok::<_, Error>(7) })
                .await
                .unwrap(),
            7
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_job_and_a_deadline_are_errors() {
        let options = JobOptions {
            interval: Duration::from_secs(1),
            deadline: Some(Duration::from_secs(3)),
        };
        let err = wait(
            "j",
            &options,
            || async { Ok::<_, Error>(JobStatus::<()>::Failed("boom".into())) },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "job j failed: boom");
        let mut reports = 0;
        let err = wait(
            "j",
            &options,
            || async {
                Ok::<_, Error>(JobStatus::<()>::Running(Progress {
                    done: 1,
                    total: Some(9),
                }))
            },
            |_| reports += 1,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
        // Polls at 0, 1, 2 and 3 s; the next would be past the deadline.
        assert_eq!(reports, 4);
    }
}
