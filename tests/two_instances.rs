//! Two of everything against one PostgreSQL, one Redis and one RabbitMQ, as
//! a deployment with two app pods and two worker pods runs: two processes
//! serving the same spin.toml (`host up` of this repository's host binary,
//! or `spin up` under `TEST_RUNTIME=spin`) and two `native-worker run`
//! processes, each on its own port. Traffic alternates between the two apps.
//!
//! What must hold when the instances share nothing but the backing services:
//! - per-address and per-account limits and lockouts are counted once, in
//!   Redis, whichever instance a request reaches;
//! - an `X-Request-ID` answered by one instance replays on the other, and a
//!   double submit to both at once creates one account;
//! - 10,000 pushes are forwarded exactly once each, both workers taking a
//!   share; every outbox event is relayed exactly once;
//! - a worker killed mid-stream loses nothing: the broker hands what it
//!   held to the other, and copies stay within what it could hold unacked
//!   (its prefetch; README, "The worker": at least once); a worker stopped
//!   with SIGTERM drains and duplicates nothing.
//!
//! Every name is this test's own: database, queues, client addresses, emails.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_tests::instances::{AppProcess, WorkerProcess};
use api_tests::{JWT_SECRET, Op, database_url, path_of, repo_root, unique_email};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicGetOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use native_worker::config::Config;
use rand::Rng;
use serde_json::{Value, json};

const PASSWORD: &str = "Vq8#mLp2!zr-long";

/// What a crashed worker can have taken and forwarded without acking: its
/// prefetch. Set low here so the bound the test checks is tight.
const WORKER_PREFETCH: usize = 500;

/// Two apps, and as many workers as asked, sharing one database and one
/// set of queue names.
struct Deployment {
    apps: [AppProcess; 2],
    workers: Vec<WorkerProcess>,
    config: Config,
    channel: lapin::Channel,
    _connection: lapin::Connection,
}

impl Deployment {
    async fn start(variables: &[(&str, &str)], workers: usize) -> Self {
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
    fn worker_environment(&self) -> HashMap<String, String> {
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
            ("DLX_EXCHANGE".into(), c.dlx_exchange.clone()),
            ("RETRY_DELAYS_MS".into(), "200,400,800".into()),
            ("RELAY_INTERVAL_MS".into(), "50".into()),
            ("PREFETCH".into(), WORKER_PREFETCH.to_string()),
            ("DATABASE_POOL_SIZE".into(), "4".into()),
        ])
    }

    async fn add_worker(&mut self, name: &'static str) {
        let worker = WorkerProcess::start(name, &self.worker_environment()).await.expect("the worker starts");
        self.workers.push(worker);
    }

    fn worker(&mut self, name: &str) -> &mut WorkerProcess {
        self.workers.iter_mut().find(|w| w.name == name).expect("a worker of that name")
    }

    async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.config.database_url, tokio_postgres::NoTls).await.expect("the database");
        tokio::spawn(connection);
        client
    }

    /// Publishes as the gateway does: persistent, confirmed, onto push.queue.
    async fn publish_pushes(&self, bodies: &[Value]) {
        publish(&self.channel, &self.config.push_queue, bodies).await;
    }

    /// [`Deployment::publish_pushes`] while the test goes on: a stream the
    /// workers are still taking when one of them stops.
    fn publish_in_background(&self, bodies: Vec<Value>) -> tokio::task::JoinHandle<()> {
        let (channel, queue) = (self.channel.clone(), self.config.push_queue.clone());
        tokio::spawn(async move { publish(&channel, &queue, &bodies).await })
    }

    /// Takes everything in `queue` now: (message_id, body) of each message.
    async fn drain(&self, queue: &str) -> Vec<(String, Value)> {
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

    async fn finish(mut self) {
        for worker in &mut self.workers {
            worker.kill().await;
        }
        native_worker::topology::remove(&self.channel, &self.config).await;
        // The database stays, as every end-to-end test's does (scripts/test.sh
        // drops what earlier runs left): DROP DATABASE forces a checkpoint,
        // measured at 20 s on this busy machine.
    }
}

async fn publish(channel: &lapin::Channel, queue: &str, bodies: &[Value]) {
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
fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip).timeout(Duration::from_secs(30)).build().expect("a client")
}

fn random_loopback() -> IpAddr {
    let mut rng = rand::rng();
    IpAddr::V4(Ipv4Addr::new(127, rng.random_range(1..=254), rng.random_range(0..=255), rng.random_range(1..=254)))
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(client: &reqwest::Client, app: &AppProcess, path: &str, body: &Value, key: Option<&str>) -> Answer {
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

/// The fixed window of `window_secs` that now falls in (rate limits count in
/// fixed windows).
fn current_window(window_secs: u64) -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / window_secs
}

/// Runs `block` (requests whose counts must all fall in one rate-limit
/// window) until one run starts and ends in the same window: a run that
/// straddles a boundary has its counts split in two, and is done again from
/// a fresh address rather than judged. No waiting for a window's start.
async fn in_one_window<T>(window_secs: u64, mut block: impl AsyncFnMut() -> T) -> T {
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

fn registration(email: &str) -> Value {
    json!({"name": "Two Instances", "email": email, "password": PASSWORD, "push_token": format!("fcm:{email}")})
}

#[tokio::test]
async fn limits_lockouts_and_idempotency_hold_across_two_instances() {
    let deployment = Deployment::start(
        &[
            ("rate_limit_login_per_minute", "6"),
            ("rate_limit_login_failures", "3"),
            ("rate_limit_register_per_minute", "6"),
        ],
        0,
    )
    .await;
    let [a, b] = &deployment.apps;

    // Registrations per address: six allowed in all, wherever they land,
    // then 429 on both.
    let answers = in_one_window(60, async || {
        let client = client_from(random_loopback());
        let mut answers = Vec::new();
        for app in [a, b, a, b, a, b, a, b] {
            answers
                .push(post(&client, app, path_of(Op::ListUsers), &registration(&unique_email("two-reg")), None).await);
        }
        answers
    })
    .await;
    for (n, answer) in answers.iter().enumerate() {
        let expected = if n < 6 { 201 } else { 429 };
        assert_eq!(answer.status, expected, "registration {n} from one address: {}", answer.body);
    }
    assert!(answers[6].headers.contains_key("retry-after") && answers[7].headers.contains_key("retry-after"));

    // Logins per address: six in all (unknown accounts, so no account's
    // allowance is involved), then 429 on both.
    let answers = in_one_window(60, async || {
        let client = client_from(random_loopback());
        let mut answers = Vec::new();
        for app in [a, b, a, b, a, b, a, b] {
            let login = json!({"email": unique_email("nobody"), "password": "not-the-password"});
            answers.push(post(&client, app, path_of(Op::Login), &login, None).await);
        }
        answers
    })
    .await;
    for (n, answer) in answers.iter().enumerate() {
        let expected = if n < 6 { 401 } else { 429 };
        assert_eq!(answer.status, expected, "login {n} from one address: {}", answer.body);
    }
    assert_eq!(answers[7].headers.get("x-ratelimit-limit").and_then(|v| v.to_str().ok()), Some("6"));

    // An account's failure allowance (3): wrong passwords on A, B, A lock it
    // on both, even for the right password. Counted per instance, B would
    // have seen one failure and let it in.
    let answers = in_one_window(300, async || {
        let client = client_from(random_loopback());
        let email = unique_email("two-lock");
        assert_eq!(post(&client, a, path_of(Op::ListUsers), &registration(&email), None).await.status, 201);
        let mut answers = Vec::new();
        for (app, password) in
            [(a, "wrong-password-1"), (b, "wrong-password-1"), (a, "wrong-password-1"), (b, PASSWORD), (a, PASSWORD)]
        {
            let login = json!({"email": email, "password": password});
            answers.push(post(&client, app, path_of(Op::Login), &login, None).await);
        }
        answers
    })
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429], "locked on every instance, even for the right password");

    // An X-Request-ID answered by A replays on B: same status, same body.
    let client = client_from(random_loopback());
    let email = unique_email("two-idem");
    let key = format!("two-{}", uuid::Uuid::new_v4());
    let first = post(&client, a, path_of(Op::ListUsers), &registration(&email), Some(&key)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = post(&client, b, path_of(Op::ListUsers), &registration(&email), Some(&key)).await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replay.body, first.body, "the same answer, tokens included");
    let mut other = registration(&email);
    other["name"] = json!("Someone Else");
    let reused = post(&client, b, path_of(Op::ListUsers), &other, Some(&key)).await;
    assert_eq!((reused.status, reused.body["code"].as_str()), (422, Some("idempotency_key_reused")));

    // A double submit to both at once: one account, one first answer; the
    // other is the replay or "in progress", never a second registration.
    let email = unique_email("two-double");
    let key = format!("two-{}", uuid::Uuid::new_v4());
    let body = registration(&email);
    let (x, y) = tokio::join!(
        post(&client, a, path_of(Op::ListUsers), &body, Some(&key)),
        post(&client, b, path_of(Op::ListUsers), &body, Some(&key))
    );
    let replayed = |r: &Answer| r.headers.contains_key("idempotent-replayed");
    let firsts = [&x, &y].iter().filter(|r| r.status == 201 && !replayed(r)).count();
    assert_eq!(firsts, 1, "exactly one instance did the work: {} {} / {} {}", x.status, x.body, y.status, y.body);
    for r in [&x, &y] {
        assert!(
            r.status == 201 || (r.status == 409 && r.body["code"] == "request_in_progress"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let accounts: i64 =
        deployment.db().await.query_one("SELECT count(*) FROM users WHERE email = $1", &[&email]).await.unwrap().get(0);
    assert_eq!(accounts, 1);
    deployment.finish().await;
}

/// Counts, per request_id, what reaches push.ready, as the push service
/// would receive it; runs until dropped.
struct ReadyCounter {
    seen: Arc<Mutex<HashMap<String, usize>>>,
    /// Copies whose message_id is not their request_id (the push service
    /// could not drop them as repeats).
    unmarked: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyCounter {
    async fn start(channel: &lapin::Channel, queue: &str) -> Self {
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "two-instances-ready".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("consume push.ready");
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let unmarked = Arc::new(Mutex::new(0));
        let task = {
            let (seen, unmarked) = (seen.clone(), unmarked.clone());
            tokio::spawn(async move {
                while let Some(Ok(delivery)) = consumer.next().await {
                    let body: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
                    let request_id = body["request_id"].as_str().unwrap_or_default().to_owned();
                    if delivery.properties.message_id().as_ref().map(|m| m.as_str()) != Some(request_id.as_str()) {
                        *unmarked.lock().unwrap() += 1;
                    }
                    *seen.lock().unwrap().entry(request_id).or_default() += 1;
                }
            })
        };
        Self { seen, unmarked, task }
    }

    fn count_of(&self, ids: &[String]) -> usize {
        let seen = self.seen.lock().unwrap();
        ids.iter().filter(|id| seen.contains_key(*id)).count()
    }

    /// Extra copies of `ids`.
    fn copies_of(&self, ids: &[String]) -> usize {
        let seen = self.seen.lock().unwrap();
        ids.iter().map(|id| seen.get(id).copied().unwrap_or(0).saturating_sub(1)).sum()
    }

    async fn wait_for(&self, ids: &[String], at_least: usize, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let arrived = self.count_of(ids);
            if arrived >= at_least {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "only {arrived} of {at_least} pushes reached push.ready in {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ReadyCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn pushes(prefix: &str, users: &[String], n: usize) -> (Vec<String>, Vec<Value>) {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let bodies = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"notification_type": "push", "user_id": users[i % users.len()], "template_code": "welcome",
                   "variables": {"n": i}, "request_id": id, "priority": 5, "metadata": {}})
        })
        .collect();
    (ids, bodies)
}

#[tokio::test]
async fn pushes_and_outbox_events_pass_once_through_two_workers_and_survive_one_stopping() {
    let mut deployment = Deployment::start(&[("rate_limit_register_per_minute", "1000")], 2).await;
    let client = client_from(random_loopback());

    // Users registered through both instances; each registration also puts
    // an email and audit events into the outbox.
    let mut users = Vec::new();
    for n in 0..20 {
        let app = &deployment.apps[n % 2];
        let answer = post(&client, app, path_of(Op::ListUsers), &registration(&unique_email("two-push")), None).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        users.push(answer.body["data"]["user"]["id"].as_str().unwrap().to_owned());
    }
    // A staff member queues test pushes through both instances (the outbox
    // again, then push.queue, then the workers).
    let staff_email = unique_email("two-staff");
    assert_eq!(
        post(&client, &deployment.apps[0], path_of(Op::ListUsers), &registration(&staff_email), None).await.status,
        201
    );
    deployment.db().await.execute("UPDATE users SET is_staff = true WHERE email = $1", &[&staff_email]).await.unwrap();
    let login = json!({"email": staff_email, "password": PASSWORD});
    let staff = post(&client, &deployment.apps[1], path_of(Op::Login), &login, None).await;
    let token = staff.body["data"]["access_token"].as_str().expect("a staff token").to_owned();
    let mut test_pushes = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let app = &deployment.apps[n % 2];
        let answer = client
            .post(app.url(path_of(Op::TestNotification)))
            .bearer_auth(&token)
            .json(&json!({"user_id": user}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let body: Value = answer.json().await.unwrap();
        test_pushes.push(body["data"]["request_id"].as_str().unwrap().to_owned());
    }

    let ready = ReadyCounter::start(&deployment.channel, &deployment.config.ready_queue).await;

    // 1. No faults: 10,000 pushes from the gateway, each forwarded once.
    let (ids, bodies) = pushes("two-push", &users, 10_000);
    let started = Instant::now();
    deployment.publish_pushes(&bodies).await;
    let published_in = started.elapsed();
    ready.wait_for(&ids, ids.len(), Duration::from_secs(60)).await;
    let forwarded_in = started.elapsed();
    ready.wait_for(&test_pushes, test_pushes.len(), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // any stray copy lands
    assert_eq!(ready.copies_of(&ids), 0, "no fault, no copy");
    assert_eq!(ready.copies_of(&test_pushes), 0);
    assert_eq!(*ready.unmarked.lock().unwrap(), 0, "every forward carries its request_id as message_id");
    let a = deployment.worker("worker-a").counter("messages_forwarded").await;
    let b = deployment.worker("worker-b").counter("messages_forwarded").await;
    let total = (ids.len() + test_pushes.len()) as u64;
    eprintln!(
        "[two] 10,000 pushes: published in {published_in:?}, all forwarded after {forwarded_in:?} ({:.0}/s); worker-a {a}, worker-b {b}",
        ids.len() as f64 / forwarded_in.as_secs_f64()
    );
    assert_eq!(a + b, total, "the workers' own counts add up to exactly one forward each");
    assert!(a.min(b) >= total / 10, "both workers took a share: {a} and {b}");

    // Every outbox event relayed once: none pending, the relays' confirmed
    // publishes add up to the rows, and each email and audit event arrived
    // once under its event_id.
    let db = deployment.db().await;
    let until = Instant::now() + Duration::from_secs(20);
    while db.query_one("SELECT count(*) FROM outbox WHERE published_at IS NULL", &[]).await.unwrap().get::<_, i64>(0)
        > 0
    {
        assert!(Instant::now() < until, "outbox rows still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows: Vec<(String, String)> = db
        .query("SELECT event_id::text, routing_key FROM outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let relayed_a = deployment.worker("worker-a").counter("outbox_relayed").await;
    let relayed_b = deployment.worker("worker-b").counter("outbox_relayed").await;
    assert_eq!(relayed_a + relayed_b, rows.len() as u64, "each outbox row published once ({relayed_a} + {relayed_b})");
    for queue in [deployment.config.email_queue.clone(), deployment.config.audit_queue.clone()] {
        let expected: HashSet<&str> = rows.iter().filter(|(_, key)| *key == queue).map(|(id, _)| id.as_str()).collect();
        let received = deployment.drain(&queue).await;
        let ids: HashSet<&str> = received.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(received.len(), ids.len(), "an event arrived twice in {queue}");
        assert_eq!(ids, expected, "{queue} holds exactly the outbox's events");
        assert!(!expected.is_empty(), "{queue} had events to relay");
    }
    let relayed_pushes = rows.iter().filter(|(_, key)| *key == deployment.config.push_queue).count();
    assert_eq!(relayed_pushes, test_pushes.len());
    eprintln!("[two] outbox: {} events relayed once each (worker-a {relayed_a}, worker-b {relayed_b})", rows.len());

    // 2. A worker killed mid-stream (SIGKILL, a crash): nothing lost; the
    // copies are what it had forwarded but not yet acked, within its prefetch.
    let (ids, bodies) = pushes("two-kill", &users, 6_000);
    let publishing = deployment.publish_in_background(bodies);
    ready.wait_for(&ids, 300, Duration::from_secs(30)).await;
    let at_kill = ready.count_of(&ids);
    deployment.worker("worker-a").kill().await;
    assert!(at_kill < ids.len() / 2, "the kill came late in the stream ({at_kill} forwarded)");
    publishing.await.expect("published");
    ready.wait_for(&ids, ids.len(), Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let copies = ready.copies_of(&ids);
    eprintln!("[two] worker-a SIGKILLed with {at_kill} of 6,000 forwarded: all 6,000 arrived, {copies} copies");
    assert!(copies <= WORKER_PREFETCH, "{copies} copies: more than the killed worker could hold ({WORKER_PREFETCH})");
    assert_eq!(*ready.unmarked.lock().unwrap(), 0, "every copy carries its request_id as message_id");

    // 3. A replacement starts; the other worker is stopped with SIGTERM
    // mid-stream, as a rollout does: it drains, nothing lost, no copy.
    deployment.add_worker("worker-c").await;
    let (ids, bodies) = pushes("two-term", &users, 3_000);
    let publishing = deployment.publish_in_background(bodies);
    ready.wait_for(&ids, 300, Duration::from_secs(30)).await;
    let at_stop = ready.count_of(&ids);
    let drained_in = deployment.worker("worker-b").terminate().await;
    assert!(at_stop < ids.len() / 2, "the stop came late in the stream ({at_stop} forwarded)");
    publishing.await.expect("published");
    ready.wait_for(&ids, ids.len(), Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let copies = ready.copies_of(&ids);
    let c = deployment.worker("worker-c").counter("messages_forwarded").await;
    eprintln!(
        "[two] worker-b SIGTERMed with {at_stop} of 3,000 forwarded, drained in {drained_in:?}; worker-c forwarded {c}; {copies} copies"
    );
    assert_eq!(copies, 0, "a graceful stop finishes and acks what it holds");
    assert!(c > 0, "the replacement took over");
    assert!(drained_in < Duration::from_secs(30), "the drain fits well inside the pod's grace period");
    drop(ready);
    deployment.finish().await;
}
