//! Bad input never gets a 500: every documented operation is sent malformed
//! and hostile bodies, with and without credentials, and must answer with the
//! envelope and a 4xx.

use api_tests::{Op, Spawn, path_of, spawn_with};
use serde_json::Value;

#[tokio::test]
async fn malformed_input_to_every_endpoint_is_a_clear_4xx() {
    let app = spawn_with(
        Spawn::default()
            .variable("service_keys", "robustness-key")
            .variable("rate_limit_register_per_minute", "100000")
            .variable("rate_limit_login_per_minute", "100000"),
    )
    .await;
    let (user_id, staff) = app.staff_user().await;
    let document: Value = app.get(path_of(Op::OpenApi)).await.json();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let long = format!("{{\"name\":\"{}\",\"email\":\"{}\"}}", "x".repeat(60_000), "y".repeat(3000));
    let bodies: Vec<(Option<&str>, String)> = vec![
        (Some("application/json"), String::new()),
        (Some("application/json"), "null".into()),
        (Some("application/json"), "[]".into()),
        (Some("application/json"), "{\"a\":".into()),
        (Some("application/json"), "{\"email\": 1, \"password\": [], \"name\": {}, \"token\": false, \"refresh_token\": 7, \"user_id\": null, \"push\": \"x\"}".into()),
        (Some("application/json"), deep),
        (Some("application/json"), long),
        (Some("application/json"), "\u{0}\u{1}\u{2}".into()),
        (Some("text/plain"), "{}".into()),
        (None, "{}".into()),
    ];
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", &user_id);
        for (method, operation) in operations.as_object().unwrap() {
            // Only operations that read a body can be fed a bad one.
            if operation.get("requestBody").is_none() {
                continue;
            }
            for credentials in [None, Some(staff.as_str())] {
                for (content_type, body) in &bodies {
                    let mut request = app
                        .client
                        .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                        .header("x-service-key", "robustness-key")
                        .body(body.clone());
                    if let Some(content_type) = content_type {
                        request = request.header("content-type", *content_type);
                    }
                    if let Some(token) = credentials {
                        request = request.bearer_auth(token);
                    }
                    let answer = app.send(request).await;
                    assert!(
                        (400..500).contains(&answer.status),
                        "{method} {concrete} with {content_type:?} {:.60?} -> {} {}",
                        body,
                        answer.status,
                        answer.text
                    );
                    let envelope = answer.json();
                    assert_eq!(envelope["success"], false, "{method} {concrete}: {envelope}");
                    assert!(envelope["code"].is_string(), "{method} {concrete}: {envelope}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 250, "only {checked} requests were checked");
}

/// A pooled connection the server closed (a restart, an idle timeout, an
/// operator's `pg_terminate_backend`) is an outage: 503 with the envelope,
/// never a 500 (issue 16, item 12: Spin answered `Error { kind: Closed }`
/// as a 500 when PostgreSQL restarted under load). The app's connections
/// are closed from the server's side again and again while clients read.
#[tokio::test]
async fn connections_the_server_closes_under_load_are_503_never_500() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = api_tests::spawn_app().await;
    let (_, token) = app.plain_user().await;
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (stop, db, admin) = (stop.clone(), app.database_name.clone(), app.db().await);
        tokio::spawn(async move {
            let mut closed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rows = admin
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&db],
                    )
                    .await
                    .expect("the server answers");
                closed += rows.len() as u64;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            closed
        })
    };
    let client = |_| {
        let (app, token) = (&app, token.clone());
        async move {
            let mut seen = Vec::new();
            for _ in 0..40 {
                let answer = app.authed(reqwest::Method::GET, path_of(Op::ListOwnSessions), &token, None).await;
                if answer.status == 503 {
                    assert_eq!(answer.json()["code"], "service_unavailable", "{}", answer.text);
                }
                seen.push(answer.status);
            }
            seen
        }
    };
    let statuses: Vec<u16> = futures::future::join_all((0..8).map(client)).await.into_iter().flatten().collect();
    stop.store(true, Ordering::Relaxed);
    let closed = killer.await.unwrap();
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    eprintln!(
        "closed {closed} connections; 200: {}, 503: {}, other: {:?}",
        count(200),
        count(503),
        statuses.iter().filter(|s| !matches!(s, 200 | 503)).collect::<Vec<_>>()
    );
    assert!(closed > 0, "the server closed some of the app's connections");
    assert!(statuses.iter().all(|s| matches!(s, 200 | 503)), "only answers or outages: {statuses:?}");
    // And it recovers by itself.
    let after = app.authed(reqwest::Method::GET, path_of(Op::ListOwnSessions), &token, None).await;
    assert_eq!(after.status, 200, "{}", after.text);
}
