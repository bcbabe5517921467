//! What a component sees is what it would see under `spin up`: Spin's request
//! headers, its 404 for unrouted paths, its variables, its Redis. Run under
//! `TEST_RUNTIME=spin` these pin Spin itself; under the host, that the host
//! matches it.

use api_tests::{Runtime, Spawn, TestApp, repo_root, spawn_with, try_spawn_with};
use serde_json::Value;

async fn fixtures(spawn: Spawn) -> TestApp {
    spawn_with(Spawn { manifest: repo_root().join("tests/fixtures/misbehaving.toml"), with_database: false, ..spawn })
        .await
}

#[tokio::test]
async fn components_receive_spins_request_headers() {
    let app = fixtures(Spawn::default()).await;
    let answer = app.send(app.client.get(app.url("/allowed/echo/more/?q=1")).header("connection", "keep-alive")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let headers: Value = answer.json();
    assert_eq!(headers["spin-path-info"], "/echo/more/");
    assert_eq!(headers["spin-matched-route"], "/allowed/...");
    assert_eq!(headers["spin-raw-component-route"], "/allowed/...");
    assert_eq!(headers["spin-component-route"], "/allowed");
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(headers["spin-full-url"], format!("http://{}/allowed/echo/more/?q=1", app.address));
    let client_addr = headers["spin-client-addr"].as_str().unwrap();
    assert!(client_addr.starts_with(&format!("{}:", app.client_ip)), "{client_addr}");
    assert!(headers.get("connection").is_none(), "Spin drops Connection");
}

#[tokio::test]
async fn named_route_segments_become_path_match_headers() {
    let app = fixtures(Spawn::default()).await;
    let headers = app.get("/users/42/things/x").await.json();
    assert_eq!(headers["spin-path-match-id"], "42");
    assert_eq!(headers["spin-path-info"], "/x");
}

#[tokio::test]
async fn an_unrouted_path_is_an_empty_404() {
    let app = fixtures(Spawn::default()).await;
    let answer = app.get("/nowhere").await;
    assert_eq!((answer.status, answer.text.as_str()), (404, ""));
}

#[tokio::test]
async fn variables_resolve_from_spin_variable_env_then_default() {
    let defaulted = fixtures(Spawn::default()).await;
    let answer =
        defaulted.send(defaulted.client.get(defaulted.url("/allowed/variable")).header("x-variable", "greeting")).await;
    assert_eq!((answer.status, answer.text.as_str()), (200, "hello from a variable"));

    let overridden = fixtures(Spawn::default().variable("greeting", "from the environment")).await;
    let answer = overridden
        .send(overridden.client.get(overridden.url("/allowed/variable")).header("x-variable", "greeting"))
        .await;
    assert_eq!(answer.text, "from the environment");

    // A component only sees what it declares; bad names are their own error.
    let undeclared = overridden
        .send(overridden.client.get(overridden.url("/denied/variable")).header("x-variable", "greeting"))
        .await;
    assert!(undeclared.text.starts_with("Error::Undefined"), "{}", undeclared.text);
    let invalid = overridden
        .send(overridden.client.get(overridden.url("/allowed/variable")).header("x-variable", "Bad-Name"))
        .await;
    assert!(invalid.text.starts_with("Error::InvalidName"), "{}", invalid.text);
}

/// `--variable @file.toml` is Spin's static provider, read before
/// `SPIN_VARIABLE_*`; a name the manifest does not declare is ignored.
#[tokio::test]
async fn variables_given_with_the_variable_flag_beat_the_environment() {
    let app = fixtures(
        Spawn::default()
            .variable("greeting", "from the environment")
            .given("greeting", "from the file")
            .given("nobody_declares_this", "ignored"),
    )
    .await;
    let answer = app.send(app.client.get(app.url("/allowed/variable")).header("x-variable", "greeting")).await;
    assert_eq!((answer.status, answer.text.as_str()), (200, "from the file"));
}

#[tokio::test]
async fn a_required_variable_without_a_value_stops_the_app_at_start() {
    let spawn = Spawn { with_database: false, ..Spawn::default().unset("jwt_secret") };
    let error = try_spawn_with(spawn).await.err().expect("jwt_secret is required");
    let error = format!("{error:#}");
    assert!(error.contains("jwt_secret"), "{error}");
    if Runtime::from_env() == Runtime::Spin {
        assert!(error.starts_with("spin exited"), "{error}");
    }
}

#[tokio::test]
async fn the_services_components_import_only_interfaces_spin_provides() {
    let engine = wasmtime::Engine::default();
    let app = host::manifest::App::from_file(&repo_root().join("spin.toml")).unwrap();
    let spin_interfaces = [
        "spin:postgres/postgres@4.0.0",
        "fermyon:spin/redis@2.0.0",
        "fermyon:spin/key-value@2.0.0",
        "fermyon:spin/variables@2.0.0",
    ];
    let mut seen_spin = std::collections::BTreeSet::new();
    for component in app.components.values() {
        let loaded = wasmtime::component::Component::from_file(&engine, &component.source).unwrap();
        for (name, _) in loaded.component_type().imports(&engine) {
            let allowed = spin_interfaces.contains(&name) || (name.starts_with("wasi:") && name.contains("@0.2."));
            assert!(allowed, "{} imports {name}, which `spin up` does not provide", component.id);
            if spin_interfaces.contains(&name) {
                seen_spin.insert(name.to_owned());
            }
        }
    }
    assert_eq!(seen_spin.len(), 4, "the app uses Postgres, Redis, key-value and variables: {seen_spin:?}");
}

#[tokio::test]
async fn every_redis_operation_answers_as_spin_defines_it() {
    let app = fixtures(Spawn::default()).await;
    let key = format!("spin-conventions:{}", uuid::Uuid::new_v4());
    let answer = app.send(app.client.get(app.url("/allowed/redis")).header("x-key", key)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let report = answer.json();
    let field = |name: &str| report[name].as_str().unwrap().to_owned();
    assert_eq!(field("set"), "Ok(())");
    assert_eq!(field("get"), "Ok(Some([118, 49]))", "b\"v1\"");
    assert_eq!(report["incr"], serde_json::json!(["Ok(1)", "Ok(2)"]));
    assert_eq!(field("sadd"), "Ok(2)", "a duplicate member is added once");
    assert_eq!(field("smembers"), "Ok([\"a\", \"b\"])");
    assert_eq!(field("srem"), "Ok(1)");
    assert_eq!(field("publish"), "Ok(())");
    assert_eq!(field("execute_set"), "Ok([RedisResult::Status(\"OK\")])", "OK comes back as a status");
    assert_eq!(field("execute_get"), "Ok([RedisResult::Binary([118, 50])])");
    assert_eq!(field("del"), "Ok(3)");
    assert_eq!(field("hget_missing"), "Ok([RedisResult::Nil])", "a missing value is nil");
}

#[tokio::test]
async fn a_redis_address_outside_allowed_outbound_hosts_is_invalid() {
    let app = fixtures(Spawn::default()).await;
    let denied = app.send(app.client.get(app.url("/denied/redis"))).await;
    assert_eq!(denied.status, 502, "{}", denied.text);
    assert!(denied.text.contains("InvalidAddress"), "{}", denied.text);
}

#[tokio::test]
async fn postgres_values_travel_as_spin_maps_them() {
    // Spin connects with TLS unless told not to; the local server's certificate does not verify.
    let plain = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
    let app = fixtures(Spawn::default().variable("database_url", plain)).await;
    let answer = app.get("/allowed/pg-types").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let report = answer.json();
    let rows = report["rows"].as_str().unwrap();
    for expected in [
        "DbValue::Int16(1)",
        "DbValue::Floating32(1.5)",
        "DbValue::Binary([1, 2])",
        "DbValue::Date((2024, 2, 29))",
        "DbValue::Time((12, 34, 56, 0))",
        // TIMESTAMP as a date-time tuple (a TIMESTAMPTZ column would fail the query: /pg-timestamptz).
        "DbValue::Datetime((2024, 2, 29, 12, 34, 56, 0))",
        // UUID and NUMERIC as strings, JSONB as bytes.
        "DbValue::Uuid(\"6f1c3f8e-2a52-4a7c-9b1e-0c7c1e2d3f40\")",
        "DbValue::Decimal(\"1.25\")",
        "DbValue::Jsonb([123, 34, 97, 34, 58, 49, 125])",
        "DbValue::ArrayInt32([Some(1), None, Some(3)])",
        "DbValue::Interval(Interval { micros: 7200000000, days: 1, months: 0 })",
        "DbValue::DbNull",
        // Parameters of every kind come back unchanged; NULL fits a text parameter; a
        // `datetime` binds as TIMESTAMP and a `timestamp` (epoch seconds) as TIMESTAMPTZ.
        "DbValue::Decimal(\"3.75\"), DbValue::Jsonb([91, 49, 44, 50, 93]), DbValue::Date((2024, 3, 1)), DbValue::DbNull, DbValue::Datetime((2024, 3, 1, 1, 2, 3, 0)), DbValue::Int64(1709210096)",
    ] {
        assert!(rows.contains(expected), "{expected} missing from {rows}");
    }
    assert!(report["columns"].as_str().unwrap().contains("\"ts:DbDataType::Datetime\", \"u:DbDataType::Uuid\""));
    assert!(report["bad_parameter"].as_str().unwrap().starts_with("Err(Error::BadParameter(\"invalid UUID not-a-uuid"));
    let failed = report["query_failed"].as_str().unwrap();
    assert!(failed.contains("QueryError::DbError") && failed.contains("code: \"42P01\""), "{failed}");
}
