use api_tests::{Op, Spawn, path_of, spawn_app, spawn_with};

#[tokio::test]
async fn health_is_up_when_database_and_cache_answer() {
    let app = spawn_app().await;
    let answer = app.get(path_of(Op::Health)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["service"], "user-service");
    assert_eq!(body["data"]["status"], "healthy");
    assert_eq!(body["data"]["checks"]["database"], "up");
    assert_eq!(body["data"]["checks"]["cache"], "up");
    assert!(body["data"]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(answer.header("x-correlation-id").is_some());
}

#[tokio::test]
async fn health_is_503_when_the_cache_port_is_closed() {
    // Port 1 is allowed for this app but nothing listens there.
    let app = spawn_with(Spawn::default().without_redis()).await;
    let answer = app.get(path_of(Op::Health)).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "service_unavailable");
    assert_eq!(body["data"]["checks"]["database"], "up");
    assert_eq!(body["data"]["checks"]["cache"], "down");
}

#[tokio::test]
async fn health_is_503_when_the_database_is_missing() {
    let app = spawn_with(Spawn { with_database: false, ..Spawn::default() }).await;
    let answer = app.get(path_of(Op::Health)).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.json()["data"]["checks"]["database"], "down");
    assert_eq!(answer.json()["data"]["checks"]["cache"], "up");
}

#[tokio::test]
async fn health_refuses_other_methods_with_allow() {
    let app = spawn_app().await;
    let answer = app.send(app.client.post(app.url(path_of(Op::Health)))).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    assert_eq!(answer.json()["code"], "method_not_allowed");
}

#[tokio::test]
async fn liveness_touches_nothing_and_answers_while_everything_is_down() {
    let app = spawn_with(Spawn { with_database: false, ..Spawn::default() }.without_redis()).await;
    let live = app.get(path_of(Op::Live)).await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(live.json()["data"]["status"], "alive");
    assert_eq!(live.header("cache-control"), Some("no-store"));
    // The same app is not ready: readiness does check.
    let ready = app.get(path_of(Op::Ready)).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.json()["data"]["checks"]["database"], "down");
    assert_eq!(ready.json()["data"]["checks"]["cache"], "down");
}

#[tokio::test]
async fn readiness_checks_are_kept_for_a_second() {
    let app = spawn_app().await;
    // Past whatever round the start-up wait left behind.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let first = app.get(path_of(Op::Ready)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let checked_at = first.json()["data"]["checked_at"].clone();
    assert!(checked_at.as_str().unwrap().ends_with('Z'));
    // Polled again at once, on either path: the same round of checks.
    for path in [path_of(Op::Ready), path_of(Op::Health)] {
        let again = app.get(path).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json()["data"]["checked_at"], checked_at, "{path} reused the last second's checks");
    }
    // A second later the checks run again.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let later = app.get(path_of(Op::Ready)).await;
    assert_eq!(later.status, 200, "{}", later.text);
    assert_ne!(later.json()["data"]["checked_at"], checked_at);
}

#[tokio::test]
async fn health_subpaths_other_than_live_and_ready_are_404() {
    let app = spawn_app().await;
    let answer = app.get("/api/v1/health/other/").await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(answer.json()["success"], false);
    let post = app.send(app.client.post(app.url(path_of(Op::Live)))).await;
    assert_eq!(post.status, 405);
}
