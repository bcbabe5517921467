//! The OpenAPI document describes exactly the API that is served.

use api_tests::{Op, Spawn, path_of, spawn_app, spawn_with};
use serde_json::{Value, json};

#[tokio::test]
async fn the_openapi_document_lists_every_served_endpoint() {
    let app = spawn_app().await;
    let answer = app.get(path_of(Op::OpenApi)).await;
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
    for expected in [path_of(Op::ListUsers), path_of(Op::Login), path_of(Op::GetPreferences), path_of(Op::InternalUser)]
    {
        assert!(paths.contains_key(expected), "{expected} is undocumented");
    }
}

#[tokio::test]
async fn the_served_document_is_the_one_generated_from_the_api_types() {
    // The component serves what its build script generated from
    // `user_domain::api`; generating it again here from the same types gives
    // the same document. A field added to a request type (which its `parse`
    // must then read) changes both: there is no hand-written copy to forget.
    let app = spawn_app().await;
    let served: Value = app.get(path_of(Op::OpenApi)).await.json();
    let generated = user_domain::api::document::document();
    assert!(served == generated, "the served document differs from the one the types generate");
    let register = &served["components"]["schemas"]["RegisterRequest"];
    let mut required: Vec<&str> = register["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    required.sort_unstable();
    assert_eq!(required, ["email", "name", "password"]);
    assert_eq!(served["components"]["schemas"]["UserName"]["minLength"], 1);
    assert_eq!(served["components"]["schemas"]["Password"]["maxLength"], 128);
}

/// The schema a `$ref` points to, in `document`.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.trim_start_matches('#')).expect("the reference resolves"),
        None => schema,
    }
}

#[tokio::test]
async fn every_request_body_requires_exactly_what_its_handler_refuses_without() {
    let app = spawn_with(
        Spawn::default()
            .variable("mfa_key", "docs-test-mfa-key-that-is-32-bytes-or-more")
            .variable("service_keys", "docs-test-service-key"),
    )
    .await;
    let (staff_id, staff_token) = app.staff_user().await;
    let document: Value = app.get(path_of(Op::OpenApi)).await.json();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(body) = operation.pointer("/requestBody/content/application~1json/schema") else { continue };
            let schema = resolve(&document, body);
            let mut required: Vec<String> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            required.sort_unstable();
            let url = app.url(&path.replace("{id}", &staff_id));
            let request = app.client.request(method.to_uppercase().parse().unwrap(), url).json(&json!({}));
            let scheme = operation.pointer("/security/0").and_then(Value::as_object).and_then(|s| s.keys().next());
            let request = match scheme.map(String::as_str) {
                Some("bearerAuth") => request.bearer_auth(&staff_token),
                Some("serviceKey") => request.header("x-service-key", "docs-test-service-key"),
                _ => request,
            };
            let answer = app.send(request).await;
            if required.is_empty() {
                assert_ne!(
                    answer.status, 400,
                    "{method} {path}: nothing is required, yet {{}} is refused: {}",
                    answer.text
                );
                continue;
            }
            assert_eq!(answer.status, 400, "{method} {path} with {{}}: {}", answer.text);
            let answer = answer.json();
            let mut named: Vec<String> = answer["details"].as_object().unwrap().keys().cloned().collect();
            named.sort_unstable();
            assert_eq!(
                named, required,
                "{method} {path}: the fields refused as missing are the documented required ones"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} request bodies with required fields");
}

#[tokio::test]
async fn every_operation_lists_its_statuses_security_and_envelopes() {
    let app = spawn_app().await;
    let document: Value = app.get(path_of(Op::OpenApi)).await.json();
    let statuses = |method: &str, path: &str| -> Vec<String> {
        document["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    // A body and a mutating method: every status the pipeline can answer.
    for status in ["201", "400", "409", "413", "415", "422", "429", "503"] {
        assert!(statuses("post", path_of(Op::Register)).contains(&status.to_owned()), "register lacks {status}");
    }
    assert!(!statuses("get", path_of(Op::GetProfile)).contains(&"415".to_owned()), "no body, no 415");
    let security = |method: &str, path: &str| document["paths"][path][method]["security"].clone();
    assert_eq!(security("get", path_of(Op::ListUsers)), json!([{"bearerAuth": []}]));
    assert_eq!(security("get", path_of(Op::InternalUser)), json!([{"serviceKey": []}]));
    assert_eq!(security("post", path_of(Op::Login)), json!([]));
    assert_eq!(document["components"]["securitySchemes"]["serviceKey"]["name"], "X-Service-Key");
    // Each error status carries the codes the error type gives it.
    let codes = |status: &str| {
        document["components"]["responses"][format!("Error{status}")]["content"]["application/json"]["schema"]["allOf"]
            [1]["properties"]["code"]["enum"]
            .clone()
    };
    assert_eq!(codes("409"), json!(["conflict", "request_in_progress"]));
    assert_eq!(codes("422"), json!(["idempotency_key_reused", "rule_violated"]));
    assert_eq!(codes("400"), json!(["validation_failed", "malformed_json"]));
}

#[tokio::test]
async fn the_docs_page_serves_swagger_ui_from_this_origin() {
    let app = spawn_app().await;
    let page = app.get(path_of(Op::DocsPage)).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    for asset in [path_of(Op::DocsBundle), path_of(Op::DocsStyle), path_of(Op::DocsStart)] {
        assert!(page.text.contains(asset), "the page loads {asset}");
    }
    // Nothing from another origin: the viewer works without the internet.
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "{}", page.text);
    let policy = page.header("content-security-policy").expect("the page sets a policy");
    for directive in ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    let bundle = app.get(path_of(Op::DocsBundle)).await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(bundle.text.contains("SwaggerUIBundle"));
    let start = app.get(path_of(Op::DocsStart)).await;
    assert!(start.text.contains(path_of(Op::OpenApi)), "{}", start.text);
    let styles = app.get(path_of(Op::DocsStyle)).await;
    assert!(styles.header("content-type").unwrap().starts_with("text/css"));
    let post = app.send(app.client.post(app.url(path_of(Op::DocsPage)))).await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(app.get("/api/v1/docs/nothing.js").await.status, 404);
}

/// The document and the viewer's files are kept compressed in the
/// component: a client that takes gzip gets them so (a quarter of the bytes
/// for the viewer's script), any other the same bytes inflated.
#[tokio::test]
async fn the_document_and_the_viewer_travel_compressed_to_clients_that_take_gzip() {
    use std::io::Read;
    let app = spawn_app().await;
    let vendored = |name: &str| {
        std::fs::read(api_tests::repo_root().join("components/docs/vendor/swagger-ui").join(name)).unwrap()
    };
    let fetch = |path: &'static str, accept: Option<&'static str>| {
        let mut request = app.client.get(app.url(path));
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let (encoding, vary) = (header("content-encoding"), header("vary"));
            (encoding, vary, response.bytes().await.unwrap().to_vec())
        }
    };
    let plain_document = fetch(path_of(Op::OpenApi), None).await.2;
    let cases = [
        (path_of(Op::DocsBundle), vendored("swagger-ui-bundle.js")),
        (path_of(Op::DocsStyle), vendored("swagger-ui.css")),
        (path_of(Op::OpenApi), plain_document.clone()),
    ];
    for (path, original) in cases {
        let (encoding, vary, body) = fetch(path, Some("br, gzip")).await;
        assert_eq!((encoding.as_deref(), vary.as_deref()), (Some("gzip"), Some("accept-encoding")), "{path}");
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice()).read_to_end(&mut inflated).unwrap();
        assert!(inflated == original, "{path}: the compressed body is the file");
        assert!(body.len() * 3 < original.len(), "{path}: {} of {} bytes", body.len(), original.len());
        for identity in [None, Some("gzip;q=0"), Some("identity")] {
            let (encoding, vary, body) = fetch(path, identity).await;
            assert_eq!((encoding, vary.as_deref()), (None, Some("accept-encoding")), "{path} {identity:?}");
            assert!(body == original, "{path} {identity:?}: the plain body is the file");
        }
    }
    serde_json::from_slice::<Value>(&plain_document).expect("the plain document is JSON");
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
    assert_eq!(app.get(path_of(Op::OpenApi)).await.status, 200);
    let post = app.send(app.client.post(app.url("/nowhere")).body("x")).await;
    assert_eq!(post.status, 404, "{}", post.text);
}
