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

impl Client {
    /// What RocketReach's account says this key has spent, per credit type, through the free
    /// account endpoints: a legacy key's `credit_usage[].used` (the lookup types RocketReach
    /// names by lookup type, `standard_lookup`, `premium_lookup`, `phone_lookup`,
    /// `person_enrich`, counted as tollgate's one `lookup` type), or a Universal Credits key's
    /// `credits_used` as `universal`. The figures are the account's totals since its credits
    /// were allocated. Set them against tollgate's with [`tollgate::reconcile`].
    pub async fn account_spending(
        &self,
    ) -> Result<std::collections::BTreeMap<String, i64>, tollgate::Error> {
        let mut spent = std::collections::BTreeMap::new();
        let used = |u: &types::CreditUsage| u.used.and_then(tollgate::CreditAmount::finite);
        match self.get_account().send().await {
            Ok(account) => {
                for usage in &account.credit_usage {
                    let name = usage.credit_type.as_deref().unwrap_or("unknown");
                    let name =
                        if name == "lookup" || name.ends_with("_lookup") || name == "person_enrich"
                        {
                            "lookup"
                        } else {
                            name
                        };
                    let sum: &mut i64 = spent.entry(name.to_owned()).or_default();
                    *sum = sum.saturating_add(used(usage).unwrap_or(0));
                }
            }
            Err(error) if error.kind() == Some(tollgate::ErrorKind::WrongPlanFamily) => {
                let account = self.get_universal_account().send().await?;
                use types::UniversalCreditsUserModelWithExtraAttributesCreditUsage as Usage;
                let total = match &account.credit_usage {
                    Some(Usage::Summary(summary)) => summary.credits_used.unwrap_or(0),
                    Some(Usage::PerCreditType(list)) => list.iter().filter_map(used).sum(),
                    None => 0,
                };
                spent.insert(String::from("universal"), total);
            }
            Err(other) => return Err(other),
        }
        Ok(spent)
    }
}
