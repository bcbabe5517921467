//! Sessions from the worker's side: ended sessions whose marks are missing
//! are announced again by the running worker (entries tombstoned, marks
//! written back), and old
//! sessions, refresh tokens and sign-in challenges are purged.

use std::time::Duration;

use native_worker::cache::Cache;
use native_worker::worker::Parts;
use user_domain::{UserId, cache_keys};

use crate::helpers::TestEnv;

async fn session(
    env: &TestEnv,
    user: uuid::Uuid,
    ended_ago_days: Option<f64>,
    token_expired_days_ago: f64,
) -> uuid::Uuid {
    let client = env.pool.get().await.unwrap();
    let id = uuid::Uuid::new_v4();
    client
        .execute(
            "INSERT INTO sessions (id, user_id, amr, ended_at) \
             VALUES ($1, $2, '{pwd}', CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $3 * 86400) END)",
            &[&id, &user, &ended_ago_days],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO refresh_tokens (user_id, session_id, token_hash, expires_at, spent_at, child_sealed) \
             VALUES ($1, $2, $3, now() - make_interval(secs => $4::float8 * 86400), now() - interval '2 hours', 'sealed')",
            &[&user, &id, &uuid::Uuid::new_v4().to_string(), &token_expired_days_ago],
        )
        .await
        .unwrap();
    id
}

/// Whether `key` appears in Redis within 5 seconds.
async fn appears(cache: &Cache, key: &str) -> bool {
    for _ in 0..50 {
        if cache.get(key).await.unwrap().is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    env.pool.get().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn sessions_tokens_and_challenges_past_retention_are_purged() {
    let env = TestEnv::new_with(|c| c.session_retention_days = 30).await;
    let user = env.insert_user(true, None).await;
    let old_ended = session(&env, user, Some(31.0), -1.0).await;
    let recent_ended = session(&env, user, Some(1.0), -1.0).await;
    let long_expired = session(&env, user, None, 31.0).await;
    let live = session(&env, user, None, -10.0).await;
    let client = env.pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES \
             ('old', $1, now() - interval '2 days'), ('fresh', $1, now() + interval '5 minutes')",
            &[&user],
        )
        .await
        .unwrap();
    // What the worker's housekeeping runs at start and every ten minutes.
    let worker = native_worker::worker::Worker::build(env.config.clone()).unwrap();
    let purged = worker.sessions.purge().await.unwrap();
    assert_eq!((purged.sessions, purged.challenges), (2, 1), "{purged:?}");
    let left: Vec<uuid::Uuid> = client
        .query("SELECT id FROM sessions ORDER BY created_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(left.contains(&recent_ended) && left.contains(&live), "{left:?}");
    assert!(!left.contains(&old_ended) && !left.contains(&long_expired), "{left:?}");
    assert_eq!(count(&env, "SELECT count(*) FROM refresh_tokens").await, 2, "their tokens went with them");
    assert_eq!(count(&env, "SELECT count(*) FROM mfa_challenges").await, 1);
    assert_eq!(
        count(&env, "SELECT count(*) FROM refresh_tokens WHERE child_sealed IS NOT NULL").await,
        0,
        "sealed children are cleared an hour after use"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn the_running_worker_announces_sessions_whose_mark_was_lost_again() {
    let mut env = TestEnv::new_with(|c| c.session_marks_interval_ms = 100).await;
    let user = env.insert_user(true, None).await;
    let ended = session(&env, user, Some(0.0), -1.0).await;
    let long_ago = session(&env, user, Some(1.0), -1.0).await;
    let cache = Cache::new("redis://127.0.0.1:6379").unwrap();
    let keys = [cache_keys::session_ended(&ended), cache_keys::session_ended(&long_ago)];
    cache.del(&keys).await.unwrap();
    env.start(Parts { consumer: false, relay: false }).await;
    assert!(appears(&cache, &keys[0]).await, "the mark of a session ended just now is written");
    // Deleted again (a Redis restart), while an entry filled before the
    // session ended sits in the cache: the mark comes back within the
    // interval, and the entry is tombstoned first.
    let entries = [cache_keys::preferences(UserId::from(user)), cache_keys::profile(UserId::from(user))];
    for key in &entries {
        cache.set_ex(key, "rec1:{\"ended\":[],\"value\":{}}", 600).await.unwrap();
    }
    cache.del(&keys[..1]).await.unwrap();
    assert!(appears(&cache, &keys[0]).await, "a lost mark comes back");
    for key in &entries {
        assert_eq!(cache.get(key).await.unwrap().as_deref(), Some(""), "{key} is tombstoned");
    }
    assert!(cache.get(&keys[1]).await.unwrap().is_none(), "a session ended a day ago has no live token to refuse");
    env.stop().await;
    env.cleanup().await;
}
