//! [`MemoryStore`]: entries in the process's memory, bounded by the bytes of their bodies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{CacheFuture, CacheStore, Entry, Event, ProviderStats, Purge, millis};
use crate::vocab::Unit;

/// Entries in memory, at most `max_bytes` of bodies; when a new entry does not fit, the oldest
/// go first. Gone with the process.
#[derive(Debug)]
pub struct MemoryStore {
    max_bytes: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, (Entry, u64)>,
    /// `(stored_at, sequence)` to key: the order of eviction.
    order: BTreeMap<(u64, u64), String>,
    next: u64,
    bytes: u64,
    counts: BTreeMap<String, ProviderStats>,
}

impl State {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let (entry, seq) = self.entries.remove(key)?;
        self.order.remove(&(entry.stored_at, seq));
        self.bytes = self.bytes.saturating_sub(entry.body.len() as u64);
        Some(entry)
    }
}

impl MemoryStore {
    /// A store of at most `max_bytes` of bodies.
    pub fn new(max_bytes: u64) -> MemoryStore {
        MemoryStore {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }
}

impl CacheStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Entry>> {
        let found = crate::sync::lock(&self.state)
            .entries
            .get(key)
            .map(|(e, _)| e.clone());
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(&'a self, key: &'a str, entry: Entry) -> CacheFuture<'a, ()> {
        let mut state = crate::sync::lock(&self.state);
        state.remove(key);
        let size = entry.body.len() as u64;
        if size <= self.max_bytes {
            while state.bytes + size > self.max_bytes {
                let Some((_, oldest)) = state.order.pop_first() else {
                    break;
                };
                if let Some((e, _)) = state.entries.remove(&oldest) {
                    state.bytes = state.bytes.saturating_sub(e.body.len() as u64);
                }
            }
            let seq = state.next;
            state.next += 1;
            state.order.insert((entry.stored_at, seq), key.to_owned());
            state.bytes += size;
            state.entries.insert(key.to_owned(), (entry, seq));
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }

    fn remove<'a>(&'a self, key: &'a str) -> CacheFuture<'a, ()> {
        crate::sync::lock(&self.state).remove(key);
        Box::pin(async { Ok(()) })
    }

    fn count<'a>(&'a self, provider: &'a str, event: Event) -> CacheFuture<'a, ()> {
        let mut state = crate::sync::lock(&self.state);
        let stats = state.counts.entry(provider.to_owned()).or_default();
        match event {
            Event::Hit { saved, unit } => {
                stats.hits += 1;
                match unit {
                    Unit::Credits => {
                        stats.credits_saved = stats.credits_saved.saturating_add(saved)
                    }
                    Unit::Rows => stats.rows_saved = stats.rows_saved.saturating_add(saved),
                }
            }
            Event::Miss => stats.misses += 1,
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }

    fn stats(&self) -> CacheFuture<'_, Vec<ProviderStats>> {
        let state = crate::sync::lock(&self.state);
        let mut by: BTreeMap<String, ProviderStats> = state.counts.clone();
        for (entry, _) in state.entries.values() {
            let s = by.entry(entry.provider.clone()).or_default();
            s.entries += 1;
            s.bytes += entry.body.len() as u64;
        }
        drop(state);
        let out = by
            .into_iter()
            .map(|(provider, mut s)| {
                s.provider = provider;
                s
            })
            .collect();
        Box::pin(async { Ok(out) })
    }

    fn purge<'a>(&'a self, purge: &'a Purge, now: u64) -> CacheFuture<'a, u64> {
        let mut state = crate::sync::lock(&self.state);
        let before = purge.older_than.map(|d| now.saturating_sub(millis(d)));
        let gone: Vec<String> = state
            .entries
            .iter()
            .filter(|(_, (e, _))| {
                purge.provider.as_ref().is_none_or(|p| *p == e.provider)
                    && before.is_none_or(|b| e.stored_at <= b)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &gone {
            state.remove(key);
        }
        if purge.older_than.is_none() {
            match &purge.provider {
                Some(p) => {
                    state.counts.remove(p);
                }
                None => state.counts.clear(),
            }
        }
        drop(state);
        let n = gone.len() as u64;
        Box::pin(async move { Ok(n) })
    }
}
