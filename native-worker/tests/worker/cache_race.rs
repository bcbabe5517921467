//! The worker's cached user never outlives an invalidation, whatever moment
//! the user changes at. Each test stops a lookup at one point of its cache
//! fill (a hook), commits the change the way the components do, lets the
//! lookup go on, and checks no push-enabled record is left behind.

use std::sync::Arc;
use std::time::Duration;

use native_worker::cache::Cache;
use native_worker::enrich::{Enricher, Source};
use native_worker::hooks::Hooks;
use native_worker::worker::Parts;
use user_domain::{UserId, cache_keys};

use crate::helpers::{Gate, TestEnv, eventually, invalidate, turn_push_off, update_push_without_invalidating};

const WAIT: Duration = Duration::from_secs(15);

fn key(user: uuid::Uuid) -> String {
    cache_keys::worker_user(UserId::parse(&user.to_string()).unwrap())
}

/// An enricher of this test's database with `hooks`, and its cache.
fn enricher(env: &TestEnv, hooks: Hooks) -> (Arc<Enricher>, Arc<Cache>) {
    let cache = Arc::new(Cache::new(&env.config.redis_url).unwrap());
    (Arc::new(Enricher::new(env.pool.clone(), cache.clone()).with_hooks(hooks)), cache)
}

/// After the lookup: the key holds nothing, or a record that agrees with the
/// database; and the next lookup sees push off.
async fn assert_push_off_is_seen(enricher: &Enricher, cache: &Cache, user: uuid::Uuid) {
    // A claim is no record; a record must say push off.
    if let Some(raw) = cache.get(&key(user)).await.unwrap()
        && let Ok(cached) = serde_json::from_str::<serde_json::Value>(&raw)
    {
        assert_eq!(cached["preferences"]["push"], false, "a stale record outlived the invalidation: {raw}");
    }
    let (record, _) = enricher.lookup(UserId::from(user)).await.unwrap().unwrap();
    assert!(!record.preferences.push, "the next lookup still sees push on");
}

#[tokio::test]
async fn a_push_turned_off_while_a_message_was_being_enriched_stops_the_next_push() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let (gate, hook) = Gate::new();
    let worker = env
        .start_with_hooks(
            Parts { consumer: true, relay: false },
            Hooks { after_database_read: Some(hook), ..Hooks::default() },
        )
        .await;
    env.publish(&TestEnv::push_body(user, "req-before")).await;
    // The first message read the user (push on) and stands before its cache write.
    assert_eq!(gate.reached().await, user);
    turn_push_off(&env, &worker.probes.cache, user).await;
    gate.release();
    // It goes out: it was read before the change, like any message in flight.
    env.take(&env.config.ready_queue, 1, WAIT).await;
    env.publish(&TestEnv::push_body(user, "req-after")).await;
    eventually("the second is skipped", WAIT, || worker.metrics.skipped.get() == 1).await;
    assert_eq!(worker.metrics.forwarded.get(), 1);
    assert!(env.drain(&env.config.ready_queue).await.is_empty(), "no push after it was turned off");
    env.cleanup().await;
}

#[tokio::test]
async fn a_change_invalidated_between_the_read_and_the_cache_write_leaves_no_stale_entry() {
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let (gate, hook) = Gate::new();
    let (enricher, cache) = enricher(&env, Hooks { after_database_read: Some(hook), ..Hooks::default() });
    let lookup = tokio::spawn({
        let enricher = enricher.clone();
        async move { enricher.lookup(UserId::from(user)).await }
    });
    gate.reached().await;
    turn_push_off(&env, &cache, user).await;
    gate.release();
    let (record, source) = lookup.await.unwrap().unwrap().unwrap();
    assert!(record.preferences.push && source == Source::Database, "read before the change");
    assert_push_off_is_seen(&enricher, &cache, user).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_change_invalidated_between_the_claim_and_its_confirmation_leaves_no_stale_entry() {
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let (gate, hook) = Gate::new();
    let (enricher, cache) = enricher(&env, Hooks { after_cache_claim: Some(hook), ..Hooks::default() });
    let lookup = tokio::spawn({
        let enricher = enricher.clone();
        async move { enricher.lookup(UserId::from(user)).await }
    });
    gate.reached().await;
    // A claim is in the key, and other readers take it for a miss.
    let claim = cache.get(&key(user)).await.unwrap().expect("the claim");
    assert!(claim.starts_with("claim:"), "{claim}");
    turn_push_off(&env, &cache, user).await;
    gate.release();
    lookup.await.unwrap().unwrap().unwrap();
    assert_push_off_is_seen(&enricher, &cache, user).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_change_committed_before_the_recheck_but_invalidated_later_is_caught_by_the_recheck() {
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let (gate, hook) = Gate::new();
    let (enricher, cache) = enricher(&env, Hooks { after_cache_claim: Some(hook), ..Hooks::default() });
    let lookup = tokio::spawn({
        let enricher = enricher.clone();
        async move { enricher.lookup(UserId::from(user)).await }
    });
    gate.reached().await;
    // Committed, but the component has not deleted the keys yet.
    update_push_without_invalidating(&env, user, false).await;
    gate.release();
    lookup.await.unwrap().unwrap().unwrap();
    assert_eq!(cache.get(&key(user)).await.unwrap(), None, "the stale claim was withdrawn, nothing cached");
    invalidate(&cache, user).await;
    assert_push_off_is_seen(&enricher, &cache, user).await;
    env.cleanup().await;
}

#[tokio::test]
async fn without_a_change_the_record_is_cached_with_its_version_and_served_from_the_cache() {
    let env = TestEnv::new().await;
    let user = env.insert_user(true, Some("tok")).await;
    let (enricher, cache) = enricher(&env, Hooks::default());
    let (_, source) = enricher.lookup(UserId::from(user)).await.unwrap().unwrap();
    assert_eq!(source, Source::Database);
    let raw = cache.get(&key(user)).await.unwrap().expect("cached");
    let cached: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(cached["version"].as_str().is_some_and(|v| v.contains(':')), "{raw}");
    let (record, source) = enricher.lookup(UserId::from(user)).await.unwrap().unwrap();
    assert_eq!(source, Source::Cache);
    assert!(record.preferences.push);
    // A record cached in the shape before versions is replaced, not trusted.
    let unversioned = serde_json::to_string(&record).unwrap();
    cache.set_ex(&key(user), &unversioned, 60).await.unwrap();
    let (_, source) = enricher.lookup(UserId::from(user)).await.unwrap().unwrap();
    assert_eq!(source, Source::Database);
    assert!(cache.get(&key(user)).await.unwrap().unwrap().contains("version"));
    // So is one cached before devices: a single push_token, no format.
    let before_devices = format!(
        r#"{{"user_id":"{user}","name":"Test User","email":"x@example.com","push_token":"stale","email_enabled":true,"push_enabled":true,"email_verified":false,"is_active":true,"version":"1:2"}}"#
    );
    cache.set_ex(&key(user), &before_devices, 60).await.unwrap();
    let (record, source) = enricher.lookup(UserId::from(user)).await.unwrap().unwrap();
    assert_eq!(source, Source::Database, "an entry of the old shape is not served");
    assert_eq!(record.push_token(), Some("tok"));
    let replaced = cache.get(&key(user)).await.unwrap().unwrap();
    assert!(!replaced.contains("stale") && replaced.contains(r#""devices""#), "{replaced}");
    cache.del(&[key(user)]).await.unwrap();
    env.cleanup().await;
}
