//! Page/limit lists as `futures::Stream`s: every item of every page, fetched lazily.

use std::num::NonZeroU64;

use futures::Stream;
use tollgate::pages::{self, Page};

use crate::types;
use crate::Client;

/// Items per page when streaming (the most RequestRocket allows).
pub const PAGE_LIMIT: i64 = 100;

/// Every item of a page/limit list; `fetch(page, limit)` gets one page's items and paging block.
fn list<'a, T, F, Fut>(mut fetch: F) -> impl Stream<Item = Result<T, tollgate::Error>> + 'a
where
    T: 'a,
    F: FnMut(NonZeroU64, NonZeroU64) -> Fut + 'a,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<types::Pagination>), tollgate::Error>>
        + 'a,
{
    pages::stream(1_i64, move |page| {
        let number = NonZeroU64::new(page.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
        let limit = NonZeroU64::new(PAGE_LIMIT.unsigned_abs()).unwrap_or(NonZeroU64::MIN);
        let fetched = fetch(number, limit);
        async move {
            let (items, pagination) = fetched.await?;
            let next = pages::next_page(
                page,
                PAGE_LIMIT,
                items.len(),
                pagination.and_then(|p| p.pages),
            );
            Ok(Page { items, next })
        }
    })
}

impl Client {
    /// Every client (organisation) you belong to.
    pub fn all_clients(&self) -> impl Stream<Item = Result<types::Client, tollgate::Error>> + '_ {
        list(move |page, limit| async move {
            let answer = self
                .list_clients()
                .page(page)
                .limit(limit)
                .send()
                .await?
                .into_inner();
            Ok((answer.clients, answer.pagination))
        })
    }

    /// Every proxy of a client.
    pub fn all_proxies<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Stream<Item = Result<types::Proxy, tollgate::Error>> + 'a {
        list(move |page, limit| async move {
            let answer = self
                .list_proxies()
                .client_id(client_id)
                .page(page)
                .limit(limit)
                .send()
                .await?
                .into_inner();
            Ok((answer.proxies, answer.pagination))
        })
    }

    /// Every credential of a client (never their secrets).
    pub fn all_credentials<'a>(
        &'a self,
        client_id: &'a str,
    ) -> impl Stream<Item = Result<types::Credential, tollgate::Error>> + 'a {
        list(move |page, limit| async move {
            let answer = self
                .list_credentials()
                .client_id(client_id)
                .page(page)
                .limit(limit)
                .send()
                .await?
                .into_inner();
            Ok((answer.credentials, answer.pagination))
        })
    }
}
