//! Devices in enrichment.

use std::time::Duration;

use native_worker::worker::Parts;
use serde_json::{Value, json};
use user_domain::{UserId, cache_keys};

use crate::helpers::TestEnv;

const WAIT: Duration = Duration::from_secs(15);

fn user_id(user: uuid::Uuid) -> UserId {
    UserId::parse(&user.to_string()).unwrap()
}

#[tokio::test]
async fn every_active_device_is_forwarded_most_recently_seen_first() {
    let mut env = TestEnv::new().await;
    let user = env.insert_user(true, None).await;
    let older = env.insert_device(user, "tok-older", "android", 3600).await;
    let recent = env.insert_device(user, "tok-recent", "ios", 10).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-devices")).await;

    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    let body = &out[0].body;
    assert_eq!(
        body["devices"],
        json!([
            {"id": recent, "platform": "ios", "token": "tok-recent"},
            {"id": older, "platform": "android", "token": "tok-older"},
        ])
    );
    assert_eq!(body["user"]["push_token"], "tok-recent", "the profile's token: the most recently seen device's");
    // The cached record carries the devices, in the current format, and a
    // push served from it carries the same list.
    let key = cache_keys::worker_user(user_id(user));
    let cached: Value = serde_json::from_str(&worker.probes.cache.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(cached["format"], native_worker::user_cache::FORMAT);
    assert_eq!(cached["devices"].as_array().map(Vec::len), Some(2));
    env.publish(&TestEnv::push_body(user, "req-devices-cached")).await;
    let again = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(again[0].body["devices"], body["devices"]);
    worker.probes.cache.del(&[key]).await.unwrap();
    env.cleanup().await;
}
