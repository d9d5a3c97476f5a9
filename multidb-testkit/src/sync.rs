//! Locking shared by the fakes, the proxy and the simulated network.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poison: no code path panics while holding these locks, and a
/// test double should keep serving rather than cascade a panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
