//! The OpenAPI document describes exactly the API that is served.

use api_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_lists_every_served_endpoint() {
    let app = spawn_app().await;
    let answer = app.get("/api/v1/openapi.json").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let document: Value = answer.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", &id);
            let request = app.client.request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let answer = app.send(request).await;
            // Every documented operation reaches a component that knows it:
            // no empty 404 from the router, no 404/405 envelope from a component.
            assert!(
                !(answer.status == 404 && (answer.text.is_empty() || answer.text.contains("Endpoint not found")))
                    && answer.status != 405,
                "{} {} -> {} {}",
                method,
                concrete,
                answer.status,
                answer.text
            );
        }
    }
    for expected in
        ["/api/v1/users/", "/api/v1/auth/login/", "/api/v1/users/preferences/", "/api/v1/internal/users/{id}/"]
    {
        assert!(paths.contains_key(expected), "{expected} is undocumented");
    }
}

#[tokio::test]
async fn the_docs_page_renders_the_document_for_people() {
    let app = spawn_app().await;
    let page = app.get("/api/v1/docs/").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text.contains("/api/v1/auth/refresh/") && page.text.contains("Envelope"));
}

#[tokio::test]
async fn every_unrouted_path_gets_the_envelope_404() {
    let app = spawn_app().await;
    for path in ["/", "/favicon.ico", "/api/v2/users/", "/api/v1/nowhere/", "/api/v1/healthz"] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        let body = answer.json();
        assert_eq!((body["success"].as_bool(), body["code"].as_str()), (Some(false), Some("not_found")), "{path}");
        assert!(answer.header("x-correlation-id").is_some(), "{path}");
    }
    // Routed paths still reach their own components.
    assert_eq!(app.get("/api/v1/openapi.json").await.status, 200);
    let post = app.send(app.client.post(app.url("/nowhere")).body("x")).await;
    assert_eq!(post.status, 404, "{}", post.text);
}
