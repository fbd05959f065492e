//! Page/limit lists as `futures::Stream`s: every item of every page, fetched lazily.

use std::num::NonZeroU64;

use futures::Stream;
use tollgate::pages::{self, Page};

use crate::types;
use crate::Client;

/// Items per page when streaming (the most RequestRocket allows).
pub const PAGE_LIMIT: i64 = 100;

fn page_params(page: i64) -> (NonZeroU64, NonZeroU64) {
    let page = NonZeroU64::new(page.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
    let limit = NonZeroU64::new(PAGE_LIMIT.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
    (page, limit)
}

fn next(page: i64, items: usize, pagination: Option<&types::Pagination>) -> Option<i64> {
    pages::next_page(page, PAGE_LIMIT, items, pagination.and_then(|p| p.pages))
}

impl Client {
    /// Every client (organisation) you belong to.
    pub fn all_clients(&self) -> impl Stream<Item = Result<types::Client, tollgate::Error>> + '_ {
        pages::stream(1_i64, move |page| async move {
            let (p, l) = page_params(page);
            let answer = self
                .list_clients()
                .page(p)
                .limit(l)
                .send()
                .await?
                .into_inner();
            let next = next(page, answer.clients.len(), answer.pagination.as_ref());
            Ok(Page {
                items: answer.clients,
                next,
            })
        })
    }

    /// Every proxy of a client.
    pub fn all_proxies<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Stream<Item = Result<types::Proxy, tollgate::Error>> + 'a {
        pages::stream(1_i64, move |page| async move {
            let (p, l) = page_params(page);
            let answer = self
                .list_proxies()
                .client_id(client_id)
                .page(p)
                .limit(l)
                .send()
                .await?
                .into_inner();
            let next = next(page, answer.proxies.len(), answer.pagination.as_ref());
            Ok(Page {
                items: answer.proxies,
                next,
            })
        })
    }

    /// Every credential of a client (never their secrets).
    pub fn all_credentials<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Stream<Item = Result<types::Credential, tollgate::Error>> + 'a {
        pages::stream(1_i64, move |page| async move {
            let (p, l) = page_params(page);
            let answer = self
                .list_credentials()
                .client_id(client_id)
                .page(p)
                .limit(l)
                .send()
                .await?
                .into_inner();
            let next = next(page, answer.credentials.len(), answer.pagination.as_ref());
            Ok(Page {
                items: answer.credentials,
                next,
            })
        })
    }
}
