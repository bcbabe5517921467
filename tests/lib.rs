//! Test helpers, zero2prod style: [`spawn_app`] starts the real application
//! (the real `spin.toml` and `.wasm` files on the project's host) against a
//! fresh PostgreSQL database of its own, and [`TestApp`] has one typed helper
//! per endpoint. Each test also speaks from its own loopback address
//! (127.x.y.z), so per-address rate limits of parallel tests never mix.
//!
//! Set `TEST_LOG=1` to see the host's and components' logs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use host::engine::Limits;
use host::variables::Environment;
use host::{Application, HostConfig};
use rand::Rng;
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";
pub const SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("info,wasmtime=warn,cranelift=warn").init();
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
}

/// Options for [`spawn_with`].
pub struct Spawn {
    pub manifest: PathBuf,
    /// Extra `SPIN_VARIABLE_*` values (names without the prefix, lower case).
    pub variables: Vec<(String, String)>,
    pub request_timeout: Duration,
    pub with_database: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            manifest: repo_root().join("spin.toml"),
            variables: Vec::new(),
            request_timeout: Duration::from_secs(30),
            with_database: true,
        }
    }
}

impl Spawn {
    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.push((name.to_owned(), value.into()));
        self
    }
}

/// The user service on a random port with a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

pub async fn spawn_with(options: Spawn) -> TestApp {
    init_logs();
    require_wasm(&options.manifest);
    let database_name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let database_url = format!("{SERVER_URL}/{database_name}?sslmode=disable");
    if options.with_database {
        native_worker::migrate::run(&database_url).await.expect("migrations apply to a fresh database");
    }

    let mut env = HashMap::from([
        ("SPIN_VARIABLE_DATABASE_URL".to_owned(), database_url.clone()),
        ("SPIN_VARIABLE_JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
    ]);
    for (name, value) in options.variables {
        env.insert(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
    }
    let mut config = HostConfig::new(options.manifest);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.environment = Environment::from_map(env);
    config.request_timeout = options.request_timeout;
    config.limits = Limits { max_instances: 32, max_memory_bytes: 128 << 20 };
    let app = Application::build(config).await.expect("the app starts");
    let address = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let mut rng = rand::rng();
    let client_ip =
        IpAddr::V4(Ipv4Addr::new(127, rng.random_range(1..=254), rng.random_range(0..=255), rng.random_range(1..=254)));
    let client = reqwest::Client::builder()
        .local_address(client_ip)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("the client builds");
    TestApp { address, client, client_ip, database_url, database_name }
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

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the request completes");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body reads");
        Answer { status, headers, text }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn register(&self, body: &Value) -> Answer {
        self.post_json("/api/v1/users/", body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post_json("/api/v1/auth/login/", &json!({"email": email, "password": password})).await
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
