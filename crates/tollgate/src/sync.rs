//! Locks that outlive a panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking its state even when a thread panicked while holding it. Everything
/// the runtime keeps behind a lock (totals, schedules, maps of flights) is consistent between
/// statements, so a panic in a caller's task must not make every later call panic too.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
