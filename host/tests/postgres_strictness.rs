//! The host is exactly as strict as `spin up` about Postgres, so that what
//! works on the host also works under Spin: TLS unless `sslmode=disable`,
//! no TIMESTAMPTZ columns, no empty synchronous results (Spin 4.0.x hangs;
//! the host fails loudly instead), database errors in Spin's two shapes, one
//! pool per address for all components.
//!
//! Each test starts the host in-process on `fixtures/postgres.toml` (the
//! `testing` component as `first` and `second`) and asks the component's
//! probes. Where Spin answers at all, the host's answer must equal what real
//! Spin answered on the same probe, recorded in `fixtures/spin-answers.json`
//! by `fixtures/record-spin.sh`; only backtraces, temporary names and server
//! source line numbers are set aside before comparing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use host::postgres::{EmptyResults, PostgresSettings};
use host::variables::Environment;
use host::{Application, HostConfig};
use regex::Regex;
use serde_json::Value;

const PLAIN: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
/// tokio-postgres's default `sslmode=prefer`: TLS, since the server offers it.
const PREFER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn require_wasm() {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/testing_component.wasm");
    assert!(wasm.exists(), "run scripts/build-components.sh first ({} is missing)", wasm.display());
}

/// A host serving the fixture app in this process.
struct Host {
    address: SocketAddr,
    client: reqwest::Client,
}

impl Host {
    async fn start(database_url: &str, postgres: PostgresSettings) -> Self {
        require_wasm();
        let mut config = HostConfig::new(fixtures().join("postgres.toml"));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.environment =
            Environment::from_map([("SPIN_VARIABLE_DATABASE_URL".to_owned(), database_url.to_owned())].into());
        config.request_timeout = Duration::from_secs(20);
        config.postgres = postgres;
        let app = Application::build(config).await.expect("the fixture app starts");
        let address = app.local_addr();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { address, client }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("http://{}{path}", self.address)).send().await.expect("an answer");
        (response.status().as_u16(), response.text().await.expect("a body"))
    }

    async fn report(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
    }
}

/// What real Spin answered on the same probes.
fn spin_answers() -> Value {
    let text = std::fs::read_to_string(fixtures().join("spin-answers.json")).expect("the recording exists");
    serde_json::from_str(&text).expect("the recording is JSON")
}

/// A `Debug` text with what differs between runs set aside: backtraces
/// (Spin prints them; the host only when Rust backtraces are enabled) with
/// the escapes around quotes, which a removed backtrace leaves uneven, the
/// names of temporary tables and schemas, and the server's source lines.
fn normalize(text: &str) -> String {
    static RULES: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        [
            (r#"(\\*n){2}Stack backtrace:[^"]*"#, ""),
            (r#"\\+""#, "\""),
            (r"pg_errors_[0-9a-f]{32}", "pg_errors_<id>"),
            (r"pg_temp_\d+", "pg_temp_<n>"),
            (r"line: Some\(\d+\)", "line: Some(<n>)"),
            (r#"\("line", "\d+"\)"#, r#"("line", "<n>")"#),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (Regex::new(pattern).unwrap(), replacement))
        .collect()
    });
    RULES.iter().fold(text.to_owned(), |text, (pattern, replacement)| pattern.replace_all(&text, *replacement).into())
}

/// Every field of `report` equals Spin's answer to the same probe.
fn assert_answers_as_spin(probe: &str, report: &Value) {
    let spin = &spin_answers()[probe];
    let fields = spin.as_object().unwrap_or_else(|| panic!("no recording of {probe}"));
    assert_eq!(report.as_object().unwrap().len(), fields.len(), "{probe}: {report}");
    for (field, expected) in fields {
        let actual = report[field].as_str().unwrap_or_else(|| panic!("{probe}.{field} missing from {report}"));
        assert_eq!(normalize(actual), normalize(expected.as_str().unwrap()), "{probe}.{field}");
    }
}

#[tokio::test]
async fn an_address_without_sslmode_disable_needs_a_certificate_that_verifies() {
    let host = Host::start(PREFER, PostgresSettings::default()).await;
    let (status, text) = host.get("/first/database").await;
    assert_eq!(status, 403, "open fails: {text}");
    assert!(text.starts_with("Error::ConnectionFailed(") && text.contains("certificate verify failed"), "{text}");
    assert_eq!(normalize(&text), normalize(spin_answers()["tls"].as_str().unwrap()), "Spin's words");

    // `require` verifies too; only `disable` is plaintext.
    let required = Host::start(&format!("{PREFER}?sslmode=require"), PostgresSettings::default()).await;
    let (status, text) = required.get("/first/database").await;
    assert!(status == 403 && text.contains("certificate verify failed"), "{status} {text}");

    let plain = Host::start(PLAIN, PostgresSettings::default()).await;
    assert_eq!(plain.get("/first/database").await, (200, "connected".to_owned()));
}

/// The local server's certificate is issued to `localhost`: trusted through
/// `SSL_CERT_FILE` and reached by that name, TLS connects, verified.
#[tokio::test]
async fn a_certificate_that_verifies_gives_a_tls_connection() {
    require_wasm();
    let certificate = Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    assert!(certificate.exists(), "the local PostgreSQL's certificate is missing");
    let application = format!("strict_tls_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres@localhost:5432/postgres?application_name={application}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(["up", "--from", fixtures().join("postgres.toml").to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("SPIN_VARIABLE_DATABASE_URL", &url)
        .env("SSL_CERT_FILE", certificate)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _stop = KillOnDrop(child);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let answer = loop {
        match client.get(format!("http://127.0.0.1:{port}/first/database")).send().await {
            Ok(response) => break (response.status().as_u16(), response.text().await.unwrap()),
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => panic!("the host did not start: {error}"),
        }
    };
    assert_eq!(answer, (200, "connected".to_owned()));
    let encrypted: Vec<bool> = server()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(encrypted, [true], "the pooled connection is TLS");
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plaintext session of the test's own, to look at the server's side.
async fn server() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(PLAIN, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn values_and_errors_travel_as_under_spin() {
    let host = Host::start(PLAIN, PostgresSettings::default()).await;
    assert_answers_as_spin("pg-types", &host.report("/first/pg-types").await);
}

#[tokio::test]
async fn a_timestamptz_column_fails_the_query_as_under_spin() {
    let host = Host::start(PLAIN, PostgresSettings::default()).await;
    let report = host.report("/first/pg-timestamptz").await;
    let column = report["column"].as_str().unwrap();
    assert!(
        column.starts_with(
            r#"Err(Error::QueryFailed(QueryError::Text("Error::QueryFailed(QueryError::Text(\"error deserializing column 1\\n\\nCaused by:\\n    cannot convert between the Rust type `core::option::Option<chrono::naive::datetime::NaiveDateTime>` and the Postgres type `timestamptz`"#
        ),
        "{column}"
    );
    // A `datetime` parameter binds as TIMESTAMP only.
    assert!(report["datetime_parameter"].as_str().unwrap().contains("WrongType { postgres: Timestamptz"));
    assert_answers_as_spin("pg-timestamptz", &report);
}

#[tokio::test]
async fn database_errors_come_back_in_spins_shapes() {
    let host = Host::start(PLAIN, PostgresSettings::default()).await;
    let report = host.report("/first/pg-errors").await;
    let case = |name: &str| report[name].as_str().unwrap().to_owned();
    // Structured: execute, and a query that fails before rows stream.
    for name in ["execute_unique", "execute_unknown_table", "query_syntax", "query_unknown_table"] {
        assert!(
            case(name).starts_with("Err(Error::QueryFailed(QueryError::DbError(DbError {"),
            "{name}: {}",
            case(name)
        );
    }
    assert!(case("execute_unique").contains(r#"code: "23505""#));
    // Flattened: the error arrived while rows streamed. The SQLSTATE is only in the text.
    for name in ["query_unique_returning", "query_check_returning", "query_division_by_zero"] {
        assert!(
            case(name)
                .starts_with(r#"Err(Error::QueryFailed(QueryError::Text("Error::QueryFailed(QueryError::DbError("#),
            "{name}: {}",
            case(name)
        );
    }
    assert!(case("query_unique_returning").contains(r#"code: \"23505\""#), "{}", case("query_unique_returning"));
    assert!(case("query_check_returning").contains(r#"code: \"23514\""#));
    // A constant `1 / 0` fails while the statement is planned, before rows stream.
    assert!(case("query_constant_division_by_zero").contains("QueryError::DbError(DbError {"));
    assert_answers_as_spin("pg-errors", &report);
}

#[tokio::test]
async fn a_query_that_returns_no_rows_fails_naming_the_statement() {
    let host = Host::start(PLAIN, PostgresSettings::default()).await;
    let report = host.report("/first/pg-empty").await;
    let empty = report["empty"].as_str().unwrap();
    assert!(empty.starts_with("Err(Error::QueryFailed(QueryError::Text("), "{empty}");
    assert!(empty.contains("SELECT 1 AS one, 'x'::text AS two WHERE false"), "names the statement: {empty}");
    assert!(empty.contains("spinframework/spin#3671") && empty.contains("--postgres-empty-results columns"), "{empty}");
    assert_eq!(report["execute"], "Ok(0)", "execute is unaffected");
}

#[tokio::test]
async fn emulating_a_fixed_spin_an_empty_result_has_the_statements_columns() {
    let settings = PostgresSettings { empty_results: EmptyResults::Columns, ..PostgresSettings::default() };
    let host = Host::start(PLAIN, settings).await;
    let report = host.report("/first/pg-empty").await;
    assert_eq!(report["empty"], r#"Ok((["one", "two"], 0))"#);
    assert_eq!(report["execute"], "Ok(0)");
}

#[tokio::test]
async fn each_component_keeps_its_own_pool_of_an_address_as_spin_does() {
    let application = format!("strict_pool_{}", uuid::Uuid::new_v4().simple());
    let host = Host::start(&format!("{PLAIN}&application_name={application}"), PostgresSettings::default()).await;
    for path in ["/first/database", "/second/database", "/first/database"] {
        assert_eq!(host.get(path).await, (200, "connected".to_owned()), "{path}");
    }
    let connections: i64 = server()
        .await
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&application])
        .await
        .unwrap()
        .get(0);
    // Under spin up 4.1.0-pre0, 30 concurrent requests to each of three
    // components naming one address left 30, 56, then 80 connections open:
    // a pool per component. The first component's second request reuses its
    // own connection; the second component opens one of its own.
    assert_eq!(connections, 2, "one pooled connection per component");
}
