//! The whole system: components write events into the outbox, the native
//! worker relays them to RabbitMQ, consumes push.queue and forwards enriched
//! messages. Queue names are unique to the test.

use std::time::{Duration, Instant};

use api_tests::{Op, Spawn, TestApp, path_of, spawn_with};
use lapin::options::BasicGetOptions;
use native_worker::config::Config;
use native_worker::worker::{Parts, Worker};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

async fn next_message(channel: &lapin::Channel, queue: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(message) =
            channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("basic.get")
        {
            let body: Value = serde_json::from_slice(&message.delivery.data).expect("a JSON message");
            if wanted(&body) {
                return body;
            }
            continue;
        }
        assert!(Instant::now() < deadline, "nothing wanted arrived in {queue}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct System {
    app: TestApp,
    config: Config,
    shutdown: CancellationToken,
    running: tokio::task::JoinHandle<()>,
    channel: lapin::Channel,
}

async fn system() -> System {
    let suffix = format!("e2e.{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut config = Config::defaults().with_name_suffix(&suffix);
    let app = spawn_with(
        Spawn::default()
            .variable("email_queue", config.email_queue.clone())
            .variable("push_queue", config.push_queue.clone())
            .variable("audit_queue", config.audit_queue.clone()),
    )
    .await;
    config.database_url = app.database_url.clone();
    config.relay_interval_ms = 50;
    config.retry_delays_ms = vec![100, 200, 300];
    config.prefetch = 32;
    config.database_pool_size = 2;
    let connection =
        native_worker::topology::connect(&config.amqp_url, "api-tests").await.expect("RabbitMQ is reachable");
    let channel = native_worker::topology::confirm_channel(&connection).await.expect("a channel");
    native_worker::topology::declare(&channel, &config).await.expect("the topology declares");
    let worker = Worker::build(config.clone()).expect("the worker builds");
    let shutdown = CancellationToken::new();
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { worker.run(Parts { consumer: true, relay: true }, shutdown).await })
    };
    System { app, config, shutdown, running, channel }
}

impl System {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.running).await;
        native_worker::topology::remove(&self.channel, &self.config).await;
    }
}

#[tokio::test]
async fn a_registration_email_and_a_test_push_travel_the_whole_way() {
    let system = system().await;
    let app = &system.app;

    // Registration queues a verification email; the worker relays it.
    let email = format!("pipeline-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = app
        .register(
            &json!({"name": "Pipe Line", "email": email, "password": "Vq8#mLp2!zr-long", "push_token": "fcm:pipeline"}),
        )
        .await
        .json();
    let user_id = registered["data"]["user"]["id"].as_str().unwrap().to_owned();
    let mail = next_message(&system.channel, &system.config.email_queue, |m| m["user_id"] == user_id.as_str()).await;
    assert_eq!(mail["notification_type"], "email");
    assert_eq!(mail["template_code"], "email_verification");
    assert_eq!(mail["variables"]["email"], email);

    // A staff test push goes through the outbox, push.queue and enrichment.
    let (_, staff) = app.staff_user().await;
    let queued =
        app.authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&json!({"user_id": user_id}))).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let request_id = queued.json()["data"]["request_id"].clone();
    let forwarded = next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == request_id).await;
    assert_eq!(forwarded["user"]["user_id"], user_id.as_str());
    assert_eq!(forwarded["user"]["push_token"], "fcm:pipeline");
    assert_eq!(forwarded["user"]["email"], email);
    assert_eq!(forwarded["template_code"], "test_notification");

    // Push turned off through the API: the next test push is skipped, not forwarded.
    let token = app.login(&email, "Vq8#mLp2!zr-long").await.json()["data"]["access_token"].as_str().unwrap().to_owned();
    let off = app.authed(Method::PATCH, path_of(Op::PatchPreferences), &token, Some(&json!({"push": false}))).await;
    assert_eq!(off.status, 200);
    let second =
        app.authed(Method::POST, path_of(Op::TestNotification), &staff, Some(&json!({"user_id": user_id}))).await;
    let second_id = second.json()["data"]["request_id"].clone();
    let status = next_message(&system.channel, &system.config.status_queue, |m| {
        m.to_string().contains(second_id.as_str().unwrap())
    })
    .await;
    assert!(status.to_string().contains("skip"), "{status}");
    system.stop().await;
}

#[tokio::test]
async fn audit_events_reach_the_audit_queue() {
    let system = system().await;
    let app = &system.app;
    let (email, _, registered) = app.registered_user().await;
    let id = registered["data"]["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.login(&email, "not-the-password").await.status, 401);

    let registered_event =
        next_message(&system.channel, &system.config.audit_queue, |m| m["action"] == "user.registered").await;
    assert_eq!(registered_event["subject_id"], id.as_str());
    assert_eq!(registered_event["actor_kind"], "user");
    assert_eq!(registered_event["outcome"], "success");
    assert!(registered_event["id"].is_number() && registered_event["occurred_at"].is_string());
    let failed =
        next_message(&system.channel, &system.config.audit_queue, |m| m["action"] == "auth.login_failed").await;
    assert_eq!((failed["outcome"].as_str(), failed["subject_id"].as_str()), (Some("failure"), Some(id.as_str())));
    assert!(!failed.to_string().contains("not-the-password"), "no secret leaves: {failed}");
    system.stop().await;
}
