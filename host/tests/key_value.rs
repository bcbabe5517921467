//! The host's key-value stores are as strict as `spin up`'s, so that what
//! works on the host also works under Spin: a component opens only the
//! labels it declares, every declared label is configured or the host does
//! not start, keys and values are stored as given in the configured Redis,
//! and a Redis that is down is an `other` error, not a trap.
//!
//! Each test starts the host in-process on `fixtures/key-value.toml` (the
//! `testing` component, declaring `cache`) with a runtime config, and asks
//! the component's probes. The host's answers must equal what real Spin
//! answered on the same probes, recorded in
//! `fixtures/spin-key-value-answers.json` by
//! `fixtures/record-spin-key-value.sh`. Keys live in Redis database 11
//! under a prefix of the test's own, and are removed afterwards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use host::variables::Environment;
use host::{Application, HostConfig};
use serde_json::Value;

const CACHE: &str = "redis://127.0.0.1:6379/11";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn require_wasm() {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/testing_component.wasm");
    assert!(wasm.exists(), "run scripts/build-components.sh first ({} is missing)", wasm.display());
}

/// A runtime config file of the test's own, with `text`.
fn runtime_config(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("host-kv-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).unwrap();
    path
}

fn redis_store(label: &str, url: &str) -> String {
    format!("[key_value_store.{label}]\ntype = \"redis\"\nurl = \"{url}\"\n")
}

fn config(runtime_config_file: Option<PathBuf>) -> HostConfig {
    require_wasm();
    let mut config = HostConfig::new(fixtures().join("key-value.toml"));
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.environment = Environment::from_map(Default::default());
    config.request_timeout = Duration::from_secs(20);
    config.runtime_config_file = runtime_config_file;
    config
}

/// A host serving the fixture app in this process.
struct Host {
    address: SocketAddr,
    client: reqwest::Client,
}

impl Host {
    async fn start(runtime_config_file: PathBuf) -> Self {
        let app = Application::build(config(Some(runtime_config_file))).await.expect("the fixture app starts");
        let address = app.local_addr();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { address, client }
    }

    /// A probe's JSON report, on keys under `prefix`.
    async fn report(&self, path: &str, prefix: &str) -> Value {
        let response =
            self.client.get(format!("http://{}{path}", self.address)).header("x-key", prefix).send().await.unwrap();
        let (status, body) = (response.status().as_u16(), response.text().await.unwrap());
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
    }
}

/// The test's own plain Redis connection, on the stores' database.
async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(CACHE).unwrap().get_multiplexed_async_connection().await.expect("the local Redis answers")
}

fn unique_prefix() -> String {
    format!("host-kv-{}", uuid::Uuid::new_v4().simple())
}

/// What real Spin answered on the same probes.
fn spin_answers() -> Value {
    let text = std::fs::read_to_string(fixtures().join("spin-key-value-answers.json")).expect("the recording exists");
    serde_json::from_str(&text).expect("the recording is JSON")
}

/// Every field of `report` equals Spin's answer to the same probe.
fn assert_answers_as_spin(probe: &str, report: &Value) {
    let spin = &spin_answers()[probe];
    let fields = spin.as_object().unwrap_or_else(|| panic!("no recording of {probe}"));
    assert_eq!(report.as_object().unwrap().len(), fields.len(), "{probe}: {report}");
    for (field, expected) in fields {
        assert_eq!(&report[field], expected, "{probe}.{field}");
    }
}

#[tokio::test]
async fn every_operation_round_trips_through_redis_as_under_spin() {
    let host = Host::start(runtime_config(&redis_store("cache", CACHE))).await;
    let prefix = unique_prefix();
    let mut redis = redis().await;
    let () = redis::cmd("SET").arg(format!("{prefix}:raw")).arg("set by redis").query_async(&mut redis).await.unwrap();

    let report = host.report("/kv/kv", &prefix).await;
    assert_eq!(report["get_missing"], "Ok(None)");
    assert_eq!(report["get"], "Ok(Some([118, 49]))");
    assert_eq!(report["get_binary"], "Ok(Some([0, 255, 1, 10]))", "bytes as given");
    assert_eq!(report["get_empty"], "Ok(Some([]))", "an empty value is a value");
    assert_eq!(report["get_keys"], r#"Ok(["binary", "empty", "kept", "raw", "value"])"#);
    assert_eq!(report["get_deleted"], "Ok(None)");
    assert_eq!(report["get_keys_after"], r#"Ok(["kept"])"#);

    let kept: Option<String> = redis::cmd("GET").arg(format!("{prefix}:kept")).query_async(&mut redis).await.unwrap();
    let () = redis::cmd("DEL").arg(format!("{prefix}:kept")).query_async(&mut redis).await.unwrap();
    assert_eq!(kept.as_deref(), Some("kept"), "the key as given, no prefix");
    assert_eq!(kept.as_deref(), spin_answers()["kept"].as_str());
    assert_answers_as_spin("kv", &report);
}

#[tokio::test]
async fn opening_a_label_the_component_does_not_declare_is_access_denied() {
    // `other` is configured, `default` is not; `kv` declares neither.
    let config = format!("{}{}", redis_store("cache", CACHE), redis_store("other", CACHE));
    let host = Host::start(runtime_config(&config)).await;
    let prefix = unique_prefix();
    let report = host.report("/kv/kv", &prefix).await;
    let () = redis::cmd("DEL").arg(format!("{prefix}:kept")).query_async(&mut redis().await).await.unwrap();
    assert_eq!(report["open_undeclared"], "Err(Error::AccessDenied)");
    assert_eq!(report["open_default"], "Err(Error::AccessDenied)");
    assert_eq!(report["open_default"], spin_answers()["kv"]["open_default"]);
}

#[tokio::test]
async fn an_instance_holds_as_many_stores_as_under_spin() {
    let host = Host::start(runtime_config(&redis_store("cache", CACHE))).await;
    let report = host.report("/kv/kv-open-many", &unique_prefix()).await;
    // Not 256: `spin up` gives each instance a table of u32::MAX stores.
    assert_eq!(report["opened"], "300");
    assert_answers_as_spin("open-many", &report);
}

#[tokio::test]
async fn a_redis_that_is_down_is_an_other_error_not_a_trap() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = Host::start(runtime_config(&redis_store("cache", &format!("redis://127.0.0.1:{port}")))).await;
    let report = host.report("/kv/kv", &unique_prefix()).await;
    assert_eq!(report["open"], r#"Err(Error::Other("Connection refused (os error 111)"))"#);
    assert_eq!(report["open_undeclared"], "Err(Error::AccessDenied)", "checked before Redis is asked");
    assert_answers_as_spin("down", &report);
}

#[tokio::test]
async fn a_declared_store_the_runtime_config_lacks_stops_the_host_at_start() {
    let spin = spin_answers()["undefined-label"].as_str().unwrap().to_owned();
    let cases = [
        Some(runtime_config(&redis_store("other", CACHE))),
        Some(runtime_config("")),
        // Spin would back `default` with a SQLite file; `cache` has no fallback even there.
        None,
    ];
    for runtime_config_file in cases {
        let error = Application::build(config(runtime_config_file.clone())).await.err().expect("refused");
        let error = format!("{error:#}");
        let words = r#"unknown key_value_stores label "cache" for component "kv""#;
        assert!(error.starts_with(words), "{runtime_config_file:?}: {error}");
        assert!(spin.contains(words), "Spin's words: {spin}");
    }
}
