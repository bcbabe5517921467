//! Test harness: a fresh database, queue names and worker per test, so tests
//! run in parallel against the shared RabbitMQ, PostgreSQL and Redis.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use native_worker::config::Config;
use native_worker::hooks::{Hooks, UserHook};
use native_worker::worker::{Parts, Worker};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A message taken from a queue.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub headers: Option<FieldTable>,
    pub properties: BasicProperties,
}

impl Received {
    pub fn request_id(&self) -> String {
        self.body["request_id"].as_str().unwrap_or_default().to_owned()
    }
    pub fn reason(&self) -> Option<String> {
        native_worker::message::failure_reason(self.headers.as_ref())
    }
}

pub struct TestEnv {
    pub config: Config,
    pub conn: Connection,
    pub channel: Channel,
    pub pool: deadpool_postgres::Pool,
    pub worker: Option<Arc<Worker>>,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl TestEnv {
    /// Fresh database and names; short retry delays; nothing running yet.
    pub async fn new() -> Self {
        Self::new_with(|_| {}).await
    }

    /// [`TestEnv::new`] with the configuration adjusted before the topology
    /// is declared (e.g. another queue type).
    pub async fn new_with(adjust: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let mut config = Config::defaults().with_name_suffix(&format!("test.{id}"));
        config.database_url = native_worker::bench::with_database(
            native_worker::migrate::DEFAULT_DATABASE_URL,
            &format!("worker_test_{id}"),
        );
        config.redis_url = "redis://127.0.0.1:6379".into();
        config.amqp_url = AMQP_URL.into();
        config.retry_delays_ms = vec![100, 200, 300];
        config.relay_interval_ms = 50;
        config.held_release_interval_ms = 100;
        config.database_pool_size = 4;
        config.prefetch = 64;
        adjust(&mut config);
        native_worker::migrate::run(&config.database_url).await.expect("migrate");
        let pool = native_worker::db::pool(&config.database_url, 2).expect("pool");
        let conn = native_worker::topology::connect(AMQP_URL, "test").await.expect("amqp");
        let channel = native_worker::topology::confirm_channel(&conn).await.expect("channel");
        native_worker::topology::declare(&channel, &config).await.expect("declare");
        Self { config, conn, channel, pool, worker: None, shutdown: CancellationToken::new(), running: None }
    }

    /// Starts the worker with the current configuration.
    pub async fn start(&mut self, parts: Parts) -> Arc<Worker> {
        self.start_with_hooks(parts, Hooks::default()).await
    }

    /// Starts the worker with test hooks.
    pub async fn start_with_hooks(&mut self, parts: Parts, hooks: Hooks) -> Arc<Worker> {
        let worker = Arc::new(Worker::build_with_hooks(self.config.clone(), hooks).expect("worker"));
        let shutdown = CancellationToken::new();
        let running = {
            let (worker, shutdown) = (worker.clone(), shutdown.clone());
            tokio::spawn(async move { worker.run(parts, shutdown).await })
        };
        self.shutdown = shutdown;
        self.running = Some(running);
        self.worker = Some(worker.clone());
        worker
    }

    /// Graceful stop: returns when the worker settled what it held.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), r).await.expect("worker stops in time").expect("worker task");
        }
    }

    /// A user with pushes on or off and, given a token, one active device
    /// holding it (tokens are unique across users).
    pub async fn insert_user(&self, push: bool, push_token: Option<&str>) -> uuid::Uuid {
        let client = self.pool.get().await.unwrap();
        let prefs: uuid::Uuid = client
            .query_one("INSERT INTO user_preferences (push) VALUES ($1) RETURNING id", &[&push])
            .await
            .unwrap()
            .get(0);
        let email = format!("u-{}@example.com", uuid::Uuid::new_v4());
        let user = client
            .query_one(
                "INSERT INTO users (email, name, password, preferences_id) VALUES ($1, 'Test User', 'x', $2) RETURNING id",
                &[&email, &prefs],
            )
            .await
            .unwrap()
            .get(0);
        if let Some(token) = push_token {
            self.insert_device(user, token, "unknown", 0).await;
        }
        user
    }

    /// An active device of `user`, last seen `seen_secs_ago` seconds ago; its id.
    pub async fn insert_device(&self, user: uuid::Uuid, token: &str, platform: &str, seen_secs_ago: i32) -> uuid::Uuid {
        self.pool
            .get()
            .await
            .unwrap()
            .query_one(
                "INSERT INTO devices (user_id, token, platform, last_seen_at) \
                 VALUES ($1, $2, $3, now() - make_interval(secs => $4)) RETURNING id",
                &[&user, &token, &platform, &f64::from(seen_secs_ago)],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Publishes a report to the feedback queue, as the push service does.
    pub async fn publish_feedback_raw(&self, body: &[u8]) {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                self.config.feedback_queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                native_worker::topology::json_properties(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }

    pub async fn publish_feedback(&self, body: &Value) {
        self.publish_feedback_raw(&serde_json::to_vec(body).unwrap()).await;
    }

    pub fn push_body(user: uuid::Uuid, request_id: &str) -> Value {
        json!({"notification_type": "push", "user_id": user, "template_code": "welcome",
               "variables": {"name": "x"}, "request_id": request_id, "priority": 5, "metadata": {"k": "v"}})
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        self.publish_with(body, native_worker::topology::json_properties().with_priority(5)).await;
    }

    /// Publishes `body` to `push.queue` with `properties` (headers, a
    /// correlation id...) and waits for the broker's confirm.
    pub async fn publish_with(&self, body: &[u8], properties: BasicProperties) {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                self.config.push_queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }

    pub async fn publish(&self, body: &Value) {
        self.publish_raw(&serde_json::to_vec(body).unwrap()).await;
    }

    /// Publishes many without waiting for each confirm.
    pub async fn publish_many(&self, bodies: &[Value]) {
        for body in bodies {
            self.channel
                .basic_publish(
                    "".into(),
                    self.config.push_queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &serde_json::to_vec(body).unwrap(),
                    native_worker::topology::json_properties(),
                )
                .await
                .unwrap();
        }
        self.channel.wait_for_confirms().await.unwrap();
    }

    pub async fn queue_len(&self, queue: &str) -> u32 {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions { passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }

    /// Takes (and acks) everything currently in `queue`.
    pub async fn drain(&self, queue: &str) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(m) = self.channel.basic_get(queue.into(), BasicGetOptions::default()).await.unwrap() {
            let d = m.delivery;
            out.push(Received {
                body: serde_json::from_slice(&d.data)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&d.data).into_owned())),
                headers: d.properties.headers().clone(),
                properties: d.properties.clone(),
            });
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
        out
    }

    /// Polls `queue` until `n` messages were taken from it, or panics at the deadline.
    pub async fn take(&self, queue: &str, n: usize, deadline: Duration) -> Vec<Received> {
        let until = Instant::now() + deadline;
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(self.drain(queue).await);
            if out.len() >= n {
                break;
            }
            assert!(Instant::now() < until, "only {} of {n} messages arrived in {queue}", out.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out
    }

    /// The `native-worker` binary with `args`, configured through the
    /// environment for this test's database and queues, as an operator would.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let c = &self.config;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_native-worker"));
        command
            .args(args)
            .env("DATABASE_URL", &c.database_url)
            .env("REDIS_URL", &c.redis_url)
            .env("AMQP_URL", &c.amqp_url)
            .env("PUSH_QUEUE", &c.push_queue)
            .env("PUSH_READY_QUEUE", &c.ready_queue)
            .env("FAILED_QUEUE", &c.failed_queue)
            .env("EMAIL_QUEUE", &c.email_queue)
            .env("STATUS_QUEUE", &c.status_queue)
            .env("AUDIT_QUEUE", &c.audit_queue)
            .env("FEEDBACK_QUEUE", &c.feedback_queue)
            .env("DLX_EXCHANGE", &c.dlx_exchange)
            .env("WORKER_QUEUE_TYPE", c.queue_type.as_str())
            .env("RETRY_DELAYS_MS", c.retry_delays_ms.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
            .env("RELAY_INTERVAL_MS", c.relay_interval_ms.to_string())
            .env("HELD_RELEASE_INTERVAL_MS", c.held_release_interval_ms.to_string())
            .env("DATABASE_POOL_SIZE", c.database_pool_size.to_string())
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        command
    }

    /// Retry delay queues of this test.
    pub fn retry_queues(&self) -> Vec<String> {
        self.config.retry_delays().into_iter().map(|d| self.config.retry_queue(d)).collect()
    }

    pub async fn cleanup(mut self) {
        self.stop().await;
        native_worker::topology::remove(&self.channel, &self.config).await;
        let _ = self.conn.close(200, "done".into()).await;
        drop(self.worker.take());
        self.pool.close();
        drop_database(&self.config.database_url).await;
    }
}

/// Drops a test database; FORCE ends connections a pool may still hold.
async fn drop_database(url: &str) {
    let name = url.rsplit_once('/').map(|(_, n)| n.to_owned()).unwrap_or_default();
    let admin = native_worker::bench::with_database(url, "postgres");
    if let Ok((client, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
    }
}

/// Polls `cond` every 10 ms until true; panics with `what` at the deadline.
/// Stops a `native-worker run` process as an orchestrator does (SIGTERM),
/// and asserts it drained and exited cleanly within 20 seconds; returns
/// what it printed.
pub async fn stop_gracefully(process: tokio::process::Child) -> std::process::Output {
    let pid = process.id().expect("still running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let output = tokio::time::timeout(Duration::from_secs(20), process.wait_with_output())
        .await
        .expect("the worker stops within 20 s of SIGTERM")
        .unwrap();
    assert!(output.status.success(), "a clean stop after SIGTERM: {}", output.status);
    output
}

pub async fn eventually(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts request_ids in `messages`.
pub fn count_by_request(messages: &[Received]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in messages {
        *m.entry(r.request_id()).or_default() += 1;
    }
    m
}

/// A TCP proxy the test controls, standing between the worker and a service.
/// `cut` drops every open connection and refuses new ones until `restore`.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let (up2, cuts2) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = cuts2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cuts }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A point where a hooked task stops until the test lets it go: the test
/// waits until the task is there, does what must happen meanwhile, then
/// releases it. Only the first pass stops; later ones go straight through.
pub struct Gate {
    reached: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<uuid::Uuid>>,
    release: Arc<tokio::sync::Semaphore>,
}

impl Gate {
    /// The gate and the hook to install where the task should stop.
    pub fn new() -> (Arc<Gate>, UserHook) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let armed = Arc::new(AtomicBool::new(true));
        let gate = Arc::new(Gate { reached: tokio::sync::Mutex::new(rx), release: release.clone() });
        let hook: UserHook = Arc::new(move |user| {
            let (tx, release, armed) = (tx.clone(), release.clone(), armed.clone());
            Box::pin(async move {
                if armed.swap(false, Ordering::SeqCst) {
                    let _ = tx.send(user);
                    release.acquire().await.expect("gate open").forget();
                }
            })
        });
        (gate, hook)
    }

    /// Waits until a task stopped at the gate; returns the user it was on.
    pub async fn reached(&self) -> uuid::Uuid {
        let next = async { self.reached.lock().await.recv().await.expect("hook alive") };
        tokio::time::timeout(Duration::from_secs(15), next).await.expect("the task reached the gate")
    }

    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

/// What the components do when a user turns pushes off: update the row
/// (bumping updated_at), commit, then delete both cached records.
pub async fn turn_push_off(env: &TestEnv, cache: &native_worker::cache::Cache, user: uuid::Uuid) {
    update_push_without_invalidating(env, user, false).await;
    invalidate(cache, user).await;
}

/// The update half of [`turn_push_off`], committed.
pub async fn update_push_without_invalidating(env: &TestEnv, user: uuid::Uuid, push: bool) {
    let changed = env
        .pool
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE user_preferences p SET push = $2, updated_at = now() FROM users u \
             WHERE u.preferences_id = p.id AND u.id = $1",
            &[&user, &push],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

/// The delete half: both keys, as the components invalidate them.
pub async fn invalidate(cache: &native_worker::cache::Cache, user: uuid::Uuid) {
    let id = user_domain::UserId::parse(&user.to_string()).unwrap();
    cache.del(&user_domain::cache_keys::all_for_user(id)).await.unwrap();
}
