//! One component's failure stays its own: a trap costs that request an empty
//! 500 while its neighbours are answered, and a database outside the
//! manifest's `allowed_outbound_hosts` is refused. The runtime's own limits
//! (deadlines, memory ceilings, graceful shutdown) are knobs only the host
//! has; they are tested in `host/tests/isolation.rs`.

use api_tests::{Spawn, TestApp, database_url, repo_root, spawn_with};

async fn fixtures() -> TestApp {
    spawn_with(Spawn {
        manifest: repo_root().join("tests/fixtures/misbehaving.toml"),
        with_database: false,
        ..Spawn::default().variable("database_url", database_url("postgres"))
    })
    .await
}

#[tokio::test]
async fn a_trapping_component_gets_an_empty_500_and_the_app_keeps_serving() {
    let app = fixtures().await;
    let trap = app.get("/allowed/trap").await;
    assert_eq!(trap.status, 500);
    assert_eq!(trap.text, "", "Spin answers a failed component with an empty 500");
    let hello = app.get("/allowed/hello").await;
    assert_eq!((hello.status, hello.text.as_str()), (200, "hello"));
}

#[tokio::test]
async fn a_database_outside_allowed_outbound_hosts_is_refused() {
    let app = fixtures().await;
    let allowed = app.get("/allowed/database").await;
    assert_eq!((allowed.status, allowed.text.as_str()), (200, "connected"));
    let denied = app.get("/denied/database").await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert!(
        denied.text.contains("ConnectionFailed") && denied.text.contains("postgres://127.0.0.1:5432 is not permitted"),
        "{}",
        denied.text
    );
}

#[tokio::test]
async fn concurrent_requests_are_isolated_from_a_failing_neighbour() {
    let app = fixtures().await;
    let traps = (0..8).map(|_| app.get("/allowed/trap"));
    let hellos = (0..8).map(|_| app.get("/allowed/hello"));
    let (traps, hellos) = tokio::join!(futures::future::join_all(traps), futures::future::join_all(hellos));
    assert!(traps.iter().all(|a| a.status == 500));
    assert!(hellos.iter().all(|a| a.status == 200 && a.text == "hello"));
}
