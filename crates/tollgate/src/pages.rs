//! Paged lists as `futures::Stream`s of items: page/limit (RequestRocket, Enrich results) and
//! start/next (RocketReach searches) pagination both reduce to "fetch the page at this cursor,
//! get its items and the next cursor".
//!
//! ```
//! use futures::StreamExt;
//! use tollgate::pages::{self, Page};
//!
//! # tokio_test::block_on(async {
//! // Three pages of two items.
//! let items: Vec<u32> = pages::stream(1u32, |page| async move {
//!     let items = vec![page * 10, page * 10 + 1];
//!     Ok::<_, tollgate::Error>(Page { items, next: (page < 3).then_some(page + 1) })
//! })
//! .map(Result::unwrap)
//! .collect()
//! .await;
//! assert_eq!(items, [10, 11, 20, 21, 30, 31]);
//! # });
//! ```

use std::collections::VecDeque;
use std::future::Future;

use futures::Stream;

use crate::Error;

/// One page: its items and the cursor of the next page (`None` on the last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts.
    pub next: Option<C>,
}

/// The most pages a stream fetches before it stops with [`Error::PageLimit`]: a provider
/// that always answers a full page with a next cursor cannot keep a caller looping forever.
pub const DEFAULT_MAX_PAGES: u64 = 10_000;

/// The items of every page, fetched lazily, starting at `first`. Stops after the last page, on
/// an empty page, or on the first error (which it yields); after [`DEFAULT_MAX_PAGES`] pages
/// it yields [`Error::PageLimit`] and stops.
pub fn stream<T, C, F, Fut>(first: C, fetch: F) -> impl Stream<Item = Result<T, Error>>
where
    C: Clone,
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<Page<T, C>, Error>>,
{
    stream_bounded("a paged list", DEFAULT_MAX_PAGES, first, fetch)
}

/// [`stream`] with a name for errors and a page cap of its own.
pub fn stream_bounded<T, C, F, Fut>(
    list: &'static str,
    max_pages: u64,
    first: C,
    fetch: F,
) -> impl Stream<Item = Result<T, Error>>
where
    C: Clone,
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<Page<T, C>, Error>>,
{
    struct State<T, C, F> {
        buffer: VecDeque<T>,
        cursor: Option<C>,
        fetch: F,
        pages: u64,
        max_pages: u64,
        list: &'static str,
    }
    futures::stream::unfold(
        State {
            buffer: VecDeque::new(),
            cursor: Some(first),
            fetch,
            pages: 0,
            max_pages,
            list,
        },
        |mut state| async move {
            loop {
                if let Some(item) = state.buffer.pop_front() {
                    return Some((Ok(item), state));
                }
                let cursor = state.cursor.take()?;
                if state.pages >= state.max_pages {
                    let error = Error::PageLimit {
                        list: state.list.to_owned(),
                        pages: state.max_pages,
                    };
                    return Some((Err(error), state));
                }
                state.pages += 1;
                match (state.fetch)(cursor).await {
                    Ok(page) => {
                        if page.items.is_empty() {
                            return None;
                        }
                        state.buffer.extend(page.items);
                        state.cursor = page.next;
                    }
                    Err(e) => return Some((Err(e), state)),
                }
            }
        },
    )
}

/// The next page number of a list that reports its total number of items: `None` once the
/// pages so far (`page` full pages of `limit`, the last with `items_on_page`) reach the total,
/// or on a short page.
pub fn next_page_by_items(
    page: i64,
    limit: i64,
    items_on_page: usize,
    total_items: Option<i64>,
) -> Option<i64> {
    let on_page = i64::try_from(items_on_page).unwrap_or(i64::MAX);
    let seen = page
        .saturating_sub(1)
        .saturating_mul(limit)
        .saturating_add(on_page);
    match total_items {
        Some(total) if seen >= total => None,
        _ if on_page < limit => None,
        _ => page.checked_add(1),
    }
}

/// The next page number of a page/limit list: `Some(page + 1)` unless this was the last page,
/// known from the total page count when the answer has one, or from a short page.
pub fn next_page(
    page: i64,
    limit: i64,
    items_on_page: usize,
    total_pages: Option<i64>,
) -> Option<i64> {
    let short = i64::try_from(items_on_page).unwrap_or(i64::MAX) < limit;
    match total_pages {
        Some(pages) if page >= pages => None,
        Some(_) => page.checked_add(1),
        None if short => None,
        None => page.checked_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// Page `page` of a list that never ends: one item, and a next page.
    fn endless(page: u32) -> Page<u32, u32> {
        Page {
            items: vec![page],
            next: Some(page + 1),
        }
    }

    #[test]
    fn next_page_rules() {
        assert_eq!(next_page(1, 20, 20, Some(3)), Some(2));
        assert_eq!(next_page(3, 20, 20, Some(3)), None);
        assert_eq!(next_page(1, 20, 20, None), Some(2));
        assert_eq!(next_page(2, 20, 7, None), None);
    }

    #[test]
    fn totals_end_the_list() {
        assert_eq!(next_page_by_items(1, 10, 10, Some(25)), Some(2));
        assert_eq!(next_page_by_items(3, 10, 10, Some(25)), None);
        assert_eq!(next_page_by_items(2, 10, 10, Some(20)), None);
        assert_eq!(next_page_by_items(2, 10, 10, None), Some(3));
        assert_eq!(next_page_by_items(i64::MAX, 10, 10, None), None);
    }

    #[tokio::test]
    async fn an_endless_list_stops_at_the_page_cap() {
        let items: Vec<Result<u32, Error>> =
            stream_bounded("endless", 5, 1u32, |page| async move { Ok(endless(page)) })
                .collect()
                .await;
        assert_eq!(items.len(), 6);
        assert!(matches!(items[5], Err(Error::PageLimit { pages: 5, .. })));
    }

    #[tokio::test]
    async fn an_error_is_yielded_and_ends_the_stream() {
        let items: Vec<Result<u32, Error>> = stream(1u32, |page| async move {
            if page == 2 {
                Err(Error::Other("page 2 failed".into()))
            } else {
                Ok(endless(page))
            }
        })
        .collect()
        .await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
    }
}
