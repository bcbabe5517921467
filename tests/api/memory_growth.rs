//! The cached reads fit in the linear memory their instance starts with.
//! Under `spin up` a request that grows its memory costs about 110 µs more
//! of the server's CPU, a third of a cached read (README, "Benchmark"), and
//! nothing but a benchmark would show it. The embedded host records every
//! request that grows (`host::memory_growth`); Spin records none, so under
//! `spin up` this test checks only the answers.

use api_tests::{Op, Spawn, path_of, path_with, spawn_with};
use reqwest::Method;

const KEY: &str = "service-key-for-memory-tests";

#[tokio::test]
async fn the_cached_reads_do_not_grow_their_instances_memory() {
    let app = spawn_with(Spawn::default().variable("service_keys", KEY)).await;
    let (id, token) = app.plain_user().await;
    let service_read = path_with(Op::ServicePreferences, &[&id]);
    let reads = || async {
        let owner = app.authed(Method::GET, path_of(Op::GetPreferences), &token, None).await;
        let profile = app.authed(Method::GET, path_of(Op::GetProfile), &token, None).await;
        let service = app.send(app.client.get(app.url(&service_read)).header("x-service-key", KEY)).await;
        let live = app.get(path_of(Op::Live)).await;
        for answer in [&owner, &profile, &service, &live] {
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
        owner
    };
    // The first reads miss and fill the cache from the database.
    reads().await;
    // Changed behind the service's back: what follows is served from the cache.
    app.db()
        .await
        .execute(
            "UPDATE user_preferences SET push = false WHERE id = (SELECT preferences_id FROM users WHERE id = $1::text::uuid)",
            &[&id],
        )
        .await
        .unwrap();

    let mark = app.memory_growth().map(|growth| growth.mark());
    for _ in 0..3 {
        assert_eq!(reads().await.json()["data"]["push"], true, "a cached answer");
    }
    let (Some(growth), Some(mark)) = (app.memory_growth(), mark) else { return };
    let grown = growth.since(mark);
    assert!(grown.is_empty(), "cached reads grew their memory: {grown:#?}");

    // The record is real: a login's Argon2id takes 19 MiB, far past any
    // instance's starting memory.
    let (email, password, _) = app.registered_user().await;
    let mark = growth.mark();
    let login = app.login(&email, &password).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let grown = growth.since(mark);
    assert!(
        grown.iter().any(|g| g.path == path_of(Op::Login) && g.to_bytes >= 19 << 20),
        "a login's growth is recorded: {grown:#?}"
    );
}
