//! The host keeps one component's failure to itself: a trap, an endless
//! loop or a memory hog costs that request a 500, never the host.

use std::time::{Duration, Instant};

use api_tests::{Spawn, TestApp, repo_root, spawn_with};

async fn fixtures(timeout: Duration) -> TestApp {
    spawn_with(Spawn {
        manifest: repo_root().join("tests/fixtures/misbehaving.toml"),
        request_timeout: timeout,
        with_database: false,
        ..Spawn::default().variable("database_url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
    })
    .await
}

#[tokio::test]
async fn a_trapping_component_gets_500_and_the_host_keeps_serving() {
    let app = fixtures(Duration::from_secs(10)).await;
    let trap = app.get("/allowed/trap").await;
    assert_eq!(trap.status, 500);
    assert_eq!(trap.text, "", "Spin answers a failed component with an empty 500");
    let hello = app.get("/allowed/hello").await;
    assert_eq!((hello.status, hello.text.as_str()), (200, "hello"));
}

#[tokio::test]
async fn a_looping_component_is_cut_off_at_its_time_limit() {
    let app = fixtures(Duration::from_millis(500)).await;
    let started = Instant::now();
    let answer = app.get("/allowed/loop").await;
    let took = started.elapsed();
    assert_eq!(answer.status, 500);
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(app.get("/allowed/hello").await.status, 200);
}

#[tokio::test]
async fn a_memory_hog_hits_the_instance_limit() {
    let app = fixtures(Duration::from_secs(10)).await;
    assert_eq!(app.get("/allowed/memory").await.status, 500);
    assert_eq!(app.get("/allowed/hello").await.status, 200);
}

#[tokio::test]
async fn a_database_outside_allowed_outbound_hosts_is_refused() {
    let app = fixtures(Duration::from_secs(10)).await;
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
    let app = fixtures(Duration::from_secs(10)).await;
    let traps = (0..8).map(|_| app.get("/allowed/trap"));
    let hellos = (0..8).map(|_| app.get("/allowed/hello"));
    let (traps, hellos) = tokio::join!(futures::future::join_all(traps), futures::future::join_all(hellos));
    assert!(traps.iter().all(|a| a.status == 500));
    assert!(hellos.iter().all(|a| a.status == 200 && a.text == "hello"));
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_then_stops_accepting() {
    let mut config = host::HostConfig::new(repo_root().join("tests/fixtures/misbehaving.toml"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.environment = host::variables::Environment::from_map(Default::default());
    let app = host::Application::build(config).await.expect("the fixture app starts");
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let slow = tokio::spawn(client.get(format!("http://{address}/allowed/slow")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();

    let answer = slow.await.unwrap().expect("the request in flight is answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "slow done");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the host stops").unwrap().unwrap();
    let after = reqwest::Client::new().get(format!("http://{address}/allowed/hello")).send().await;
    assert!(after.is_err(), "no longer accepting connections");
}
