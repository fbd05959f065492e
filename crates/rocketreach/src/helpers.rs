//! Lookups as one awaited call, and searches as `futures::Stream`s of rows.

use futures::Stream;
use tollgate::jobs::{self, JobOptions, JobStatus, Progress};
use tollgate::pages::{self, Page};

use crate::types;
use crate::Client;

/// Which family of endpoints a lookup was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Legacy credits (`/person/checkStatus`).
    Legacy,
    /// Universal Credits (`/universal/person/check_status`).
    Universal,
}

/// How a lookup status reads: `complete` and `failed` are final; anything else is in progress.
fn lookup_status(profile: Option<types::Profile>) -> JobStatus<types::Profile> {
    match profile {
        None => JobStatus::Running(Progress::default()),
        Some(p) => match p.status.as_deref() {
            Some("complete") => JobStatus::Done(p),
            Some("failed") => JobStatus::Failed("RocketReach could not complete the lookup".into()),
            _ => JobStatus::Running(Progress::default()),
        },
    }
}

impl Client {
    /// Polls a lookup (by the profile id the lookup answered) until its status is `complete`
    /// (returning the profile) or `failed`. Status checks are free; poll every second or more
    /// (`JobOptions { interval, .. }`), as RocketReach advises.
    pub async fn wait_for_lookup(
        &self,
        id: i64,
        family: Family,
        options: &JobOptions,
        on_progress: impl FnMut(&Progress),
    ) -> Result<types::Profile, tollgate::Error> {
        jobs::wait(
            &format!("lookup {id}"),
            options,
            || async {
                let profiles = match family {
                    Family::Legacy => self
                        .check_person_lookup_status()
                        .ids(vec![id])
                        .send()
                        .await?
                        .into_inner(),
                    Family::Universal => self
                        .check_universal_person_lookup_status()
                        .ids(vec![id])
                        .send()
                        .await?
                        .into_inner(),
                };
                Ok(lookup_status(
                    profiles.0.into_iter().find(|p| p.id == Some(id)),
                ))
            },
            on_progress,
        )
        .await
    }

    /// Every row of a legacy person search, page after page (`start = pagination.next`), until
    /// the last page (`next > total`) or an empty one. Legacy searches are free.
    pub fn person_search_rows(
        &self,
        input: types::PersonSearchInput,
    ) -> impl Stream<Item = Result<types::PersonSearchRow, tollgate::Error>> + '_ {
        let first = input.start;
        pages::stream(first, move |start| {
            let mut body = input.clone();
            body.start = start;
            async move {
                let answer = self
                    .create_person_search()
                    .body(body)
                    .send()
                    .await?
                    .into_inner();
                let items = answer.profiles.unwrap_or_default();
                let next = answer.pagination.and_then(|p| match (p.next, p.total) {
                    (Some(next), Some(total)) if next > total => None,
                    (Some(next), _) => u64::try_from(next)
                        .ok()
                        .and_then(std::num::NonZeroU64::new)
                        .filter(|next| *next > start),
                    _ => None,
                });
                Ok(Page { items, next })
            }
        })
    }
}
