//! Points where a test can step into the running worker: to pin an
//! interleaving (hold a lookup between its database read and its cache write
//! while a user changes) or to inject a fault (a panic in a delivery's task),
//! deterministically rather than by racing sleeps. Races and panics are what
//! these tests are about, and neither can be provoked reliably from outside.
//!
//! Production code builds [`Hooks::default`], where every hook is `None`:
//! one branch per point, nothing else.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// An async step at a hook point, given the user id concerned.
pub type UserHook = Arc<dyn Fn(uuid::Uuid) -> BoxFuture<'static, ()> + Send + Sync>;

/// A synchronous step at the start of a delivery, given its body (it may panic).
pub type DeliveryHook = Arc<dyn Fn(&[u8]) + Send + Sync>;

#[derive(Clone, Default)]
pub struct Hooks {
    /// As a delivery's processing starts, before anything else.
    pub on_delivery: Option<DeliveryHook>,
    /// After a cache miss was read from PostgreSQL, before the cache is touched.
    pub after_database_read: Option<UserHook>,
    /// After the cache fill's claim is in Redis, before the record is re-checked.
    pub after_cache_claim: Option<UserHook>,
}

impl Hooks {
    pub(crate) fn delivery(&self, body: &[u8]) {
        if let Some(hook) = &self.on_delivery {
            hook(body);
        }
    }

    pub(crate) async fn run(hook: &Option<UserHook>, user: uuid::Uuid) {
        if let Some(hook) = hook {
            hook(user).await;
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_delivery", &self.on_delivery.is_some())
            .field("after_database_read", &self.after_database_read.is_some())
            .field("after_cache_claim", &self.after_cache_claim.is_some())
            .finish()
    }
}
