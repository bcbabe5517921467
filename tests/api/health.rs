use api_tests::{Spawn, spawn_app, spawn_with};

#[tokio::test]
async fn health_is_up_when_database_and_cache_answer() {
    let app = spawn_app().await;
    let answer = app.get("/api/v1/health/").await;
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
    let app =
        spawn_with(Spawn::default().variable("redis_url", "redis://127.0.0.1:1").variable("redis_host", "127.0.0.1:1"))
            .await;
    let answer = app.get("/api/v1/health/").await;
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
    let answer = app.get("/api/v1/health/").await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.json()["data"]["checks"]["database"], "down");
    assert_eq!(answer.json()["data"]["checks"]["cache"], "up");
}

#[tokio::test]
async fn health_refuses_other_methods_with_allow() {
    let app = spawn_app().await;
    let answer = app.send(app.client.post(app.url("/api/v1/health/"))).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    assert_eq!(answer.json()["code"], "method_not_allowed");
}
