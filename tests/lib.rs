//! Test helpers, zero2prod style: [`spawn_app`] starts the real application
//! (the real `spin.toml` and `.wasm` files) against a fresh PostgreSQL
//! database of its own, and [`TestApp`] has one typed helper per endpoint.
//! Each test also speaks from its own loopback address (127.x.y.z), so
//! per-address rate limits of parallel tests never mix.
//!
//! The runtime that serves the app is chosen by `TEST_RUNTIME`:
//! - `host` (the default): this repository's host, in the test's process;
//! - `spin`: a real `spin up` child process per test (the CLI at `SPIN_BIN`,
//!   else `../shared/tools/spin` beside the repository), killed with the test.
//!
//! A request that gets no answer within `TEST_REQUEST_TIMEOUT_SECS` (20)
//! fails its test, naming the request, so a hang never stalls a run.
//! Set `TEST_LOG=1` to see the runtime's and components' logs.

pub mod authenticator;
pub mod instances;
mod memory_growth;
mod runtime_files;
mod spin_process;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use host::engine::Limits;
use host::variable_sources::VariableSource;
use host::variables::Environment;
use host::{Application, HostConfig};
use rand::Rng;
pub use runtime_files::{write_given_variables, write_runtime_config, write_runtime_config_given};
use serde_json::{Value, json};
pub use spin_process::spin_cli;
pub use user_domain::api::endpoints::Op;

/// The path of the endpoint `op`, as the endpoint table declares it (with
/// its `{…}` segments, if it has any): tests call endpoints by name.
pub fn path_of(op: Op) -> &'static str {
    user_domain::api::endpoints::of(op).path
}

/// The path of the endpoint `op` with `params` in its `{…}` segments, in order.
pub fn path_with(op: Op, params: &[&dyn std::fmt::Display]) -> String {
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    let params: Vec<&str> = params.iter().map(String::as_str).collect();
    user_domain::api::endpoints::of(op).path_with(&params)
}

pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
pub const SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// The URL of a database on the test server, as the app must be handed it:
/// Spin negotiates TLS unless told `sslmode=disable`, and the local server's
/// certificate is self-signed (`../shared/SPIN-FACTS.md`).
pub fn database_url(name: &str) -> String {
    format!("{SERVER_URL}/{name}?sslmode=disable")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// What serves the app under test (`TEST_RUNTIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// This repository's host, embedded in the test process.
    Host,
    /// A real `spin up` child process.
    Spin,
}

impl Runtime {
    /// `TEST_RUNTIME`: `host` (also when unset) or `spin`; anything else stops the test.
    pub fn from_env() -> Self {
        match std::env::var("TEST_RUNTIME").as_deref().map(str::trim) {
            Err(std::env::VarError::NotPresent) | Ok("" | "host") => Runtime::Host,
            Ok("spin") => Runtime::Spin,
            other => panic!("TEST_RUNTIME must be `host` or `spin`, not {other:?}"),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Host => "the host",
            Runtime::Spin => "spin up",
        })
    }
}

/// How long one request may go unanswered: `TEST_REQUEST_TIMEOUT_SECS`, 20 by default.
pub fn request_timeout() -> Duration {
    let seconds = std::env::var("TEST_REQUEST_TIMEOUT_SECS")
        .ok()
        .map(|v| v.trim().parse::<u64>().unwrap_or_else(|_| panic!("TEST_REQUEST_TIMEOUT_SECS={v:?} is not seconds")))
        .unwrap_or(20);
    Duration::from_secs(seconds)
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_env_filter("info,wasmtime=warn,cranelift=warn").try_init();
        }
    });
}

fn require_wasm(manifest: &Path) {
    let wasm_dir = repo_root().join("target/wasm32-wasip2/release");
    assert!(
        wasm_dir.join("auth_component.wasm").exists() && wasm_dir.join("testing_component.wasm").exists(),
        "the components are not built: run scripts/build-components.sh (needed by {})",
        manifest.display()
    );
}

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub client_ip: IpAddr,
    pub database_url: String,
    pub database_name: String,
    pub runtime: Runtime,
    /// Keeps the runtime alive as long as the test holds the app.
    _server: Server,
}

enum Server {
    /// The embedded host, stopped when the test's runtime shuts down (aborted
    /// here first), and its record of memory growth (`memory_growth`).
    Host(tokio::task::JoinHandle<anyhow::Result<()>>, Arc<host::memory_growth::MemoryGrowth>),
    /// `spin up`, killed when dropped.
    Spin { _process: Box<spin_process::SpinProcess> },
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Host(task, _) = self {
            task.abort();
        }
    }
}

/// Options for [`spawn_with`].
pub struct Spawn {
    pub manifest: PathBuf,
    /// Extra `SPIN_VARIABLE_*` values (names without the prefix, lower case).
    pub variables: Vec<(String, String)>,
    /// Variables left unset, even those the harness sets by default
    /// (`database_url`, `jwt_secret`).
    pub unset: Vec<String>,
    pub with_database: bool,
    /// Serve an existing (migrated) database, another app's, instead of a new one.
    pub database: Option<String>,
    /// Environment of a `spin up` process beyond its variables (e.g.
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`); the embedded host reads none.
    pub process_env: Vec<(String, String)>,
    /// Values given with `--variable @file.toml` (Spin's static provider,
    /// consulted before `SPIN_VARIABLE_*`), names without the prefix.
    pub given: Vec<(String, String)>,
    /// Every `SPIN_VARIABLE_*` value the test sets goes into that file
    /// instead of the environment, as `scripts/bench.sh` runs the app.
    pub all_given: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            manifest: repo_root().join("spin.toml"),
            variables: Vec::new(),
            unset: Vec::new(),
            with_database: true,
            database: None,
            process_env: Vec::new(),
            given: Vec::new(),
            all_given: false,
        }
    }
}

impl Spawn {
    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.push((name.to_owned(), value.into()));
        self
    }

    /// `name` given as `--variable` (in a TOML file), not in the environment.
    pub fn given(mut self, name: &str, value: impl Into<String>) -> Self {
        self.given.push((name.to_owned(), value.into()));
        self
    }

    /// Every variable given as `--variable @file.toml`, none in the environment.
    pub fn all_given(mut self) -> Self {
        self.all_given = true;
        self
    }

    pub fn unset(mut self, name: &str) -> Self {
        self.unset.push(name.to_owned());
        self
    }

    /// Redis unreachable (port 1, where nothing listens) for `redis_url` and
    /// the key-value store alike. Under real Spin the cached reads then use
    /// `cache_reads = "redis"`: Spin's Redis-backed key-value store waits for
    /// its Redis to come back instead of failing (measured; README,
    /// "Caching"), so only that mode falls back to the database there. The
    /// host fails the store at once and falls back in the default mode too.
    pub fn without_redis(self) -> Self {
        let spawn = self.variable("redis_url", "redis://127.0.0.1:1").variable("redis_host", "127.0.0.1:1");
        match Runtime::from_env() {
            Runtime::Spin => spawn.variable("cache_reads", "redis"),
            Runtime::Host => spawn,
        }
    }

    /// Sets `name` in the environment of a `spin up` process.
    pub fn process_env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.process_env.push((name.to_owned(), value.into()));
        self
    }

    /// The app serves `other`'s database, as a restarted or second instance would.
    pub fn sharing_database_of(mut self, other: &TestApp) -> Self {
        self.database = Some(other.database_name.clone());
        self
    }
}

/// The user service on a random port with a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

/// Starts the app or fails the test with the runtime's reason.
pub async fn spawn_with(options: Spawn) -> TestApp {
    let runtime = Runtime::from_env();
    try_spawn_with(options).await.unwrap_or_else(|e| panic!("the app does not start under {runtime}: {e:#}"))
}

/// Starts the app on the runtime `TEST_RUNTIME` names; an app that refuses
/// to start is an error carrying the runtime's reason (for spin: its exit
/// status and what it printed).
pub async fn try_spawn_with(options: Spawn) -> anyhow::Result<TestApp> {
    init_logs();
    require_wasm(&options.manifest);
    let runtime = Runtime::from_env();
    let shared = options.database.is_some();
    let database_name = options.database.unwrap_or_else(|| format!("test_{}", uuid::Uuid::new_v4().simple()));
    let database_url = database_url(&database_name);
    if options.with_database && !shared {
        native_worker::migrate::run(&database_url).await.expect("migrations apply to a fresh database");
    }

    let mut env = HashMap::from([
        ("SPIN_VARIABLE_DATABASE_URL".to_owned(), database_url.clone()),
        ("SPIN_VARIABLE_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
    ]);
    for (name, value) in options.variables {
        env.insert(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
    }
    for name in options.unset {
        env.remove(&format!("SPIN_VARIABLE_{}", name.to_uppercase()));
    }
    let mut given = BTreeMap::new();
    if options.all_given {
        env.retain(|key, value| match key.strip_prefix("SPIN_VARIABLE_") {
            Some(name) => {
                given.insert(name.to_lowercase(), value.clone());
                false
            }
            None => true,
        });
    }
    given.extend(options.given);

    let (address, server) = match runtime {
        Runtime::Host => {
            let mut config = HostConfig::new(options.manifest);
            let dir = std::env::temp_dir();
            config.runtime_config_file = Some(write_runtime_config_given(&dir, &env, &given)?);
            config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            let given = match given.is_empty() {
                true => Vec::new(),
                false => vec![VariableSource::TomlFile(write_given_variables(&dir, &given)?)],
            };
            config.environment = Environment::from_map(env).with_given(given);
            config.limits = Limits { max_instances: 32, max_memory_bytes: 128 << 20 };
            let app = Application::build(config).await?;
            let (address, growth) = (app.local_addr(), app.memory_growth());
            (address, Server::Host(tokio::spawn(app.run_until_stopped(std::future::pending())), growth))
        }
        Runtime::Spin => {
            env.extend(options.process_env);
            let manifest = std::path::absolute(&options.manifest)?;
            let spin = spin_process::SpinProcess::start(&manifest, &env, &given).await?;
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[spin] serving {} after {:?}", spin.address, spin.started_in);
            }
            (spin.address, Server::Spin { _process: Box::new(spin) })
        }
    };

    let mut rng = rand::rng();
    let client_ip =
        IpAddr::V4(Ipv4Addr::new(127, rng.random_range(1..=254), rng.random_range(0..=255), rng.random_range(1..=254)));
    let client = reqwest::Client::builder()
        .local_address(client_ip)
        .redirect(reqwest::redirect::Policy::none())
        // A backstop for requests sent without `send`; `send` gives up first.
        .timeout(request_timeout() + Duration::from_secs(10))
        .build()
        .expect("the client builds");
    Ok(TestApp { address, client, client_ip, database_url, database_name, runtime, _server: server })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends a request and reads the whole answer; a request that fails, or
    /// gets no complete answer within [`request_timeout`], fails the test with
    /// its method and URL (under Spin 4.0.x a query that matches no row hangs:
    /// spinframework/spin#3671).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (client, request) = request.build_split();
        let request = request.expect("the request builds");
        let what = format!("{} {}", request.method(), request.url());
        let limit = request_timeout();
        let exchange = async {
            let response = client.execute(request).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>(Answer { status, headers, text })
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => panic!("{what} failed under {}: {}", self.runtime, error_chain(&e)),
            Err(_) => panic!("{what} got no answer within {limit:?} under {} (the request hangs)", self.runtime),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn register(&self, body: &Value) -> Answer {
        self.post_json(path_of(Op::Register), body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post_json(path_of(Op::Login), &json!({"email": email, "password": password})).await
    }

    /// Registers a valid user and returns (email, password, answer body).
    pub async fn registered_user(&self) -> (String, String, Value) {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "Vq8#mLp2!zr-long".to_owned();
        let answer = self.register(&json!({"name": "Test User", "email": email, "password": password})).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        (email, password, answer.json())
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
            .await
            .expect("the test database is reachable");
        tokio::spawn(connection);
        client
    }
}

impl TestApp {
    /// A POST with a bearer token.
    pub async fn post_authed(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).bearer_auth(token).json(body)).await
    }

    /// The newest outbox event of a template, as the email service would receive it.
    pub async fn last_event(&self, template_code: &str) -> Option<Value> {
        self.db()
            .await
            .query_opt(
                "SELECT payload FROM outbox WHERE payload->>'template_code' = $1 ORDER BY id DESC LIMIT 1",
                &[&template_code],
            )
            .await
            .expect("the outbox is readable")
            .map(|row| row.get(0))
    }
}

impl TestApp {
    /// A request with a bearer token and optional JSON body.
    pub async fn authed(&self, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> Answer {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// A registered user made staff; returns (user id, access token).
    pub async fn staff_user(&self) -> (String, String) {
        let (email, password, registered) = self.registered_user().await;
        self.db().await.execute("UPDATE users SET is_staff = true WHERE email = $1", &[&email]).await.unwrap();
        let login = self.login(&email, &password).await.json();
        (
            registered["data"]["user"]["id"].as_str().unwrap().to_owned(),
            login["data"]["access_token"].as_str().unwrap().to_owned(),
        )
    }

    /// A registered user; returns (user id, access token).
    pub async fn plain_user(&self) -> (String, String) {
        let (_, _, registered) = self.registered_user().await;
        let data = &registered["data"];
        (data["user"]["id"].as_str().unwrap().to_owned(), data["access_token"].as_str().unwrap().to_owned())
    }
}

/// The claims of a JWT, read without verifying it (tests inspect their own tokens).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// A grant for an access token of the same session as `token`, for tests
/// that sign tokens themselves.
pub fn grant_like(token: &str, is_staff: bool) -> user_domain::tokens::Grant {
    let claims = claims_of(token);
    user_domain::tokens::Grant {
        user: user_domain::UserId::parse(claims["sub"].as_str().unwrap()).unwrap(),
        is_staff,
        session: uuid::Uuid::parse_str(claims["sid"].as_str().unwrap()).unwrap(),
        amr: user_domain::amr::Methods::password(),
    }
}

/// Rate limits use fixed windows; a test that must see several requests in
/// one window waits out the last seconds of the current one first.
pub async fn avoid_window_edge(window_secs: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let into_window = now % window_secs as f64;
    if into_window > window_secs as f64 - 5.0 {
        tokio::time::sleep(Duration::from_secs_f64(window_secs as f64 - into_window + 0.1)).await;
    }
}

/// An email address no other test (or earlier run) has used: per-account
/// limits live in the shared Redis.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}
