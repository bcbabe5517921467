//! One way to take the consumer's locks (the breaker, the in-flight set, an
//! ack line), shared by its parts.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m` even if a panicking task poisoned it. Every critical section
/// here is a single update (insert, remove, a breaker transition), so the
/// data stays consistent across a panic; refusing it afterwards would turn
/// one delivery's panic into every later delivery's.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
