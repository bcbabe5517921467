//! Two apps and their workers on one PostgreSQL, Redis and RabbitMQ, and
//! what the tests send them through: clients from addresses of their own,
//! keyed posts, fixed rate-limit windows.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use api_tests::instances::{AppProcess, WorkerProcess};
use api_tests::{JWT_SECRET, database_url, repo_root};
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use native_worker::config::Config;
use rand::Rng;
use serde_json::{Value, json};

pub const PASSWORD: &str = "Vq8#mLp2!zr-long";

/// What a crashed worker can have taken and forwarded without acking: its
/// prefetch. Set low here so the bound the test checks is tight.
pub const WORKER_PREFETCH: usize = 500;

/// Two apps, and as many workers as asked, sharing one database and one
/// set of queue names.
pub struct Deployment {
    pub apps: [AppProcess; 2],
    pub workers: Vec<WorkerProcess>,
    pub config: Config,
    pub channel: lapin::Channel,
    pub _connection: lapin::Connection,
}

impl Deployment {
    pub async fn start(variables: &[(&str, &str)], workers: usize) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database_name = format!("test_{id}");
        let mut config = Config::defaults().with_name_suffix(&format!("two.{}", &id[..12]));
        config.database_url = database_url(&database_name);
        native_worker::migrate::run(&config.database_url).await.expect("migrations apply");
        let connection = native_worker::topology::connect(&config.amqp_url, "two-instances").await.expect("RabbitMQ");
        let channel = native_worker::topology::confirm_channel(&connection).await.expect("a channel");
        native_worker::topology::declare(&channel, &config).await.expect("the topology declares");

        let mut env: HashMap<String, String> = HashMap::from([
            ("SPIN_VARIABLE_DATABASE_URL".into(), config.database_url.clone()),
            ("SPIN_VARIABLE_JWT_SECRET".into(), JWT_SECRET.into()),
            ("SPIN_VARIABLE_EMAIL_QUEUE".into(), config.email_queue.clone()),
            ("SPIN_VARIABLE_PUSH_QUEUE".into(), config.push_queue.clone()),
            ("SPIN_VARIABLE_AUDIT_QUEUE".into(), config.audit_queue.clone()),
        ]);
        for (name, value) in variables {
            env.insert(format!("SPIN_VARIABLE_{}", name.to_uppercase()), (*value).into());
        }
        let manifest = repo_root().join("spin.toml");
        let (a, b) = tokio::join!(AppProcess::start(&manifest, &env), AppProcess::start(&manifest, &env));
        let apps = [a.expect("app A starts"), b.expect("app B starts")];
        eprintln!(
            "[two] apps serve on {} and {} ({:?}, {:?})",
            apps[0].address, apps[1].address, apps[0].started_in, apps[1].started_in
        );

        let mut deployment = Self { apps, workers: Vec::new(), config, channel, _connection: connection };
        for name in ["worker-a", "worker-b"].into_iter().take(workers) {
            deployment.add_worker(name).await;
        }
        deployment
    }

    /// The worker's settings as its pod's environment would carry them.
    pub fn worker_environment(&self) -> HashMap<String, String> {
        let c = &self.config;
        HashMap::from([
            ("DATABASE_URL".into(), c.database_url.clone()),
            ("REDIS_URL".into(), c.redis_url.clone()),
            ("AMQP_URL".into(), c.amqp_url.clone()),
            ("PUSH_QUEUE".into(), c.push_queue.clone()),
            ("PUSH_READY_QUEUE".into(), c.ready_queue.clone()),
            ("FAILED_QUEUE".into(), c.failed_queue.clone()),
            ("EMAIL_QUEUE".into(), c.email_queue.clone()),
            ("AUDIT_QUEUE".into(), c.audit_queue.clone()),
            ("STATUS_QUEUE".into(), c.status_queue.clone()),
            ("FEEDBACK_QUEUE".into(), c.feedback_queue.clone()),
            ("DLX_EXCHANGE".into(), c.dlx_exchange.clone()),
            ("RETRY_DELAYS_MS".into(), "200,400,800".into()),
            ("RELAY_INTERVAL_MS".into(), "50".into()),
            ("PREFETCH".into(), WORKER_PREFETCH.to_string()),
            ("DATABASE_POOL_SIZE".into(), "4".into()),
        ])
    }

    pub async fn add_worker(&mut self, name: &'static str) {
        let worker = WorkerProcess::start(name, &self.worker_environment()).await.expect("the worker starts");
        self.workers.push(worker);
    }

    pub fn worker(&mut self, name: &str) -> &mut WorkerProcess {
        self.workers.iter_mut().find(|w| w.name == name).expect("a worker of that name")
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.config.database_url, tokio_postgres::NoTls).await.expect("the database");
        tokio::spawn(connection);
        client
    }

    /// Publishes as the gateway does: persistent, confirmed, onto push.queue.
    pub async fn publish_pushes(&self, bodies: &[Value]) {
        publish(&self.channel, &self.config.push_queue, bodies).await;
    }

    /// [`Deployment::publish_pushes`] while the test goes on: a stream the
    /// workers are still taking when one of them stops.
    pub fn publish_in_background(&self, bodies: Vec<Value>) -> tokio::task::JoinHandle<()> {
        let (channel, queue) = (self.channel.clone(), self.config.push_queue.clone());
        tokio::spawn(async move { publish(&channel, &queue, &bodies).await })
    }

    /// Takes everything in `queue` now: (message_id, body) of each message.
    pub async fn drain(&self, queue: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(message) =
            self.channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("basic.get")
        {
            let d = message.delivery;
            let id = d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
            out.push((id, serde_json::from_slice(&d.data).unwrap_or(Value::Null)));
        }
        out
    }

    pub async fn finish(mut self) {
        for worker in &mut self.workers {
            worker.kill().await;
        }
        native_worker::topology::remove(&self.channel, &self.config).await;
        // The database stays, as every end-to-end test's does (scripts/test.sh
        // drops what earlier runs left): DROP DATABASE forces a checkpoint,
        // measured at 20 s on this busy machine.
    }
}

pub async fn publish(channel: &lapin::Channel, queue: &str, bodies: &[Value]) {
    for body in bodies {
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &serde_json::to_vec(body).unwrap(),
                native_worker::topology::json_properties().with_priority(5),
            )
            .await
            .expect("publish");
    }
    channel.wait_for_confirms().await.expect("confirms");
}

/// A client speaking from `ip`, a loopback address of its own: per-address
/// limits in the shared Redis never mix with another test's.
pub fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip).timeout(Duration::from_secs(30)).build().expect("a client")
}

pub fn random_loopback() -> IpAddr {
    let mut rng = rand::rng();
    IpAddr::V4(Ipv4Addr::new(127, rng.random_range(1..=254), rng.random_range(0..=255), rng.random_range(1..=254)))
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn post(client: &reqwest::Client, app: &AppProcess, path: &str, body: &Value, key: Option<&str>) -> Answer {
    let mut request = client.post(app.url(path)).json(body);
    if let Some(key) = key {
        request = request.header("x-request-id", key);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("POST {path} on {}: {e}", app.address));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// A request with the caller's access token (and a JSON body, if any).
pub async fn authed(
    client: &reqwest::Client,
    app: &AppProcess,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Answer {
    let mut request = client.request(method.clone(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", app.address));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// The fixed window of `window_secs` that now falls in (rate limits count in
/// fixed windows).
pub fn current_window(window_secs: u64) -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / window_secs
}

/// Runs `block` (requests whose counts must all fall in one rate-limit
/// window) until one run starts and ends in the same window: a run that
/// straddles a boundary has its counts split in two, and is done again from
/// a fresh address rather than judged. No waiting for a window's start.
pub async fn in_one_window<T>(window_secs: u64, mut block: impl AsyncFnMut() -> T) -> T {
    for _ in 0..3 {
        let window = current_window(window_secs);
        let outcome = block().await;
        if current_window(window_secs) == window {
            return outcome;
        }
        eprintln!("[two] a block straddled a {window_secs} s rate-limit window; again");
    }
    panic!("three runs in a row straddled a {window_secs} s window");
}

pub fn registration(email: &str) -> Value {
    json!({"name": "Two Instances", "email": email, "password": PASSWORD, "push_token": format!("fcm:{email}")})
}
