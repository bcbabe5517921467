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
    next_delivery(channel, queue, wanted).await.0
}

/// [`next_message`], with the message's `traceparent` header.
async fn next_delivery(
    channel: &lapin::Channel,
    queue: &str,
    wanted: impl Fn(&Value) -> bool,
) -> (Value, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(message) =
            channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("basic.get")
        {
            let body: Value = serde_json::from_slice(&message.delivery.data).expect("a JSON message");
            if wanted(&body) {
                let trace = message.delivery.properties.headers().as_ref().and_then(|h| {
                    match h.inner().get("traceparent")? {
                        lapin::types::AMQPValue::LongString(s) => {
                            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                        }
                        _ => None,
                    }
                });
                return (body, trace);
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
    system_with(Spawn::default()).await
}

/// [`system`], the app spawned from `spawn`.
async fn system_with(spawn: Spawn) -> System {
    let suffix = format!("e2e.{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut config = Config::defaults().with_name_suffix(&suffix);
    let app = spawn_with(
        spawn
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
    config.held_release_interval_ms = 100;
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

/// Registers a user with a push token, sending `traceparent`; its id.
async fn register_traced(app: &TestApp, traceparent: &str) -> String {
    let email = format!("traced-{}@example.com", uuid::Uuid::new_v4().simple());
    let body =
        json!({"name": "Trace Able", "email": email, "password": "Vq8#mLp2!zr-long", "push_token": "fcm:traced"});
    let request = app.client.post(app.url(path_of(Op::Register))).header("traceparent", traceparent).json(&body);
    let registered = app.send(request).await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    registered.json()["data"]["user"]["id"].as_str().unwrap().to_owned()
}

/// A staff test push to `user_id`, sending `traceparent`; its request_id.
async fn test_push_traced(app: &TestApp, staff: &str, user_id: &str, traceparent: &str) -> Value {
    let request = app
        .client
        .post(app.url(path_of(Op::TestNotification)))
        .bearer_auth(staff)
        .header("traceparent", traceparent)
        .json(&json!({"user_id": user_id}));
    let queued = app.send(request).await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    queued.json()["data"]["request_id"].clone()
}

/// One trace from request to message (issue 20): a registration sent with a
/// `traceparent` writes its email event in that trace, and the relay sends
/// it on as the message's header; a staff test push sent with another
/// reaches `push.ready` in it, through the outbox, `push.queue` and the
/// worker. A request without one starts a trace of its own.
#[tokio::test]
async fn a_requests_trace_travels_with_the_messages_it_causes() {
    let system = system().await;
    let app = &system.app;
    let registration_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let user_id = register_traced(app, registration_trace).await;
    let (mail, header) =
        next_delivery(&system.channel, &system.config.email_queue, |m| m["user_id"] == user_id.as_str()).await;
    assert_eq!(mail["metadata"]["traceparent"], registration_trace);
    assert_eq!(header.as_deref(), Some(registration_trace), "the relay sends the request's trace");

    let push_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (_, staff) = app.staff_user().await;
    let request_id = test_push_traced(app, &staff, &user_id, push_trace).await;
    let (_, header) =
        next_delivery(&system.channel, &system.config.ready_queue, |m| m["request_id"] == request_id).await;
    assert_eq!(header.as_deref(), Some(push_trace), "push.ready continues the request's trace");

    // Without one (or with one that is not valid), a trace starts here.
    let request_id = test_push_traced(app, &staff, &user_id, "bogus").await;
    let (forwarded, header) =
        next_delivery(&system.channel, &system.config.ready_queue, |m| m["request_id"] == request_id).await;
    let started = header.expect("a trace was started");
    assert!(user_domain::trace_context::TraceParent::parse(&started).is_some(), "{started}");
    assert_eq!(forwarded["metadata"]["traceparent"], started.as_str());
    assert!(!started.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    system.stop().await;
}

/// One trace from request to message, in a collector (issue 20): the app's
/// spans (the host's, or `spin up`'s own) and the worker's, for a
/// registration's email and for a test push, under the `traceparent` each
/// request came with. Prints each trace as a waterfall (the README's
/// picture is one of these, from a run under `spin up`).
#[tokio::test]
async fn the_app_and_the_worker_export_one_trace_per_request() {
    use telemetry::collector::{Collector, waterfall};
    let collector = Collector::start().await;
    // The worker runs in this process, and under the host so does the app:
    // their spans go out through this process's exporter.
    let args = telemetry::TraceArgs { otlp_endpoint: Some(collector.url.clone()), ..Default::default() };
    let tracing =
        telemetry::init(telemetry::LogFormat::Text, "warn", Some((&args, "user-service-worker"))).expect("installed");
    let system = system_with(
        Spawn::default()
            .process_env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
            .process_env("OTEL_SERVICE_NAME", "user-service")
            .process_env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    )
    .await;
    let app = &system.app;

    let registration = "0af7651916cd43dd8448eb211c80319c";
    let user_id = register_traced(app, &format!("00-{registration}-b7ad6b7169203331-01")).await;
    next_delivery(&system.channel, &system.config.email_queue, |m| m["user_id"] == user_id.as_str()).await;

    let push = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (_, staff) = app.staff_user().await;
    let request_id = test_push_traced(app, &staff, &user_id, &format!("00-{push}-00f067aa0ba902b7-01")).await;
    next_delivery(&system.channel, &system.config.ready_queue, |m| m["request_id"] == request_id).await;

    let limit = Duration::from_secs(30);
    let emails = collector.wait_for(registration, &["outbox.publish"], limit).await;
    let pushes =
        collector.wait_for(push, &["outbox.publish", "push.consume", "user.lookup", "push.publish"], limit).await;
    let runtime = app.runtime;
    system.stop().await;
    tokio::task::spawn_blocking(move || drop(tracing)).await.unwrap();
    for (spans, trace) in [(&emails, registration), (&pushes, push)] {
        let server = spans.iter().find(|s| s.kind == 2).unwrap_or_else(|| panic!("no request span in {spans:#?}"));
        assert!(server.name.starts_with("POST /api/v1/"), "{}", server.name);
        let relay = spans.iter().find(|s| s.name == "outbox.publish").unwrap();
        assert_eq!(relay.service, "user-service-worker");
        println!("trace {trace} under {runtime}:\n{}", waterfall(&collector.of_trace(trace)));
    }
    let consume = pushes.iter().find(|s| s.name == "push.consume").unwrap();
    let relay = pushes.iter().find(|s| s.name == "outbox.publish").unwrap();
    assert_eq!(consume.parent_span_id, relay.span_id, "the worker consumes what its relay published, one tree");
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

/// Devices end to end (issue 18): two devices registered through the API
/// reach `push.ready` in one push; a token registered by another user moves
/// to them (and out of the first user's pushes); a token the push service
/// reports dead is left out of the next push.
#[tokio::test]
async fn devices_travel_with_pushes_move_between_users_and_retire() {
    let system = system().await;
    let app = &system.app;
    let (alice, alice_bearer) = app.plain_user().await;
    let (bob, bob_bearer) = app.plain_user().await;
    let (_, staff) = app.staff_user().await;
    let (phone, tablet) = (format!("apns:phone-{alice}"), format!("fcm:tablet-{alice}"));
    for (token, platform) in [(&phone, "ios"), (&tablet, "android")] {
        let body = json!({"token": token, "platform": platform});
        assert_eq!(app.post_authed(path_of(Op::RegisterDevice), &alice_bearer, &body).await.status, 201);
    }
    let staff = &staff;
    let push = |user: String| async move {
        let queued =
            app.authed(Method::POST, path_of(Op::TestNotification), staff, Some(&json!({"user_id": user}))).await;
        assert_eq!(queued.status, 202, "{}", queued.text);
        queued.json()["data"]["request_id"].clone()
    };
    let tokens = |message: &Value| -> Vec<String> {
        message["devices"].as_array().unwrap().iter().map(|d| d["token"].as_str().unwrap().to_owned()).collect()
    };

    let first = push(alice.clone()).await;
    let forwarded = next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == first).await;
    assert_eq!(tokens(&forwarded), [tablet.clone(), phone.clone()], "both devices, most recently seen first");
    assert_eq!(forwarded["user"]["push_token"], tablet.as_str());

    // Bob registers Alice's tablet: it is his now.
    let moved = app
        .post_authed(path_of(Op::RegisterDevice), &bob_bearer, &json!({"token": tablet, "platform": "android"}))
        .await;
    assert_eq!(moved.status, 201, "{}", moved.text);
    let second = push(alice.clone()).await;
    let forwarded = next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == second).await;
    assert_eq!(tokens(&forwarded), std::slice::from_ref(&phone), "the moved token left alice's pushes");
    let to_bob = push(bob.clone()).await;
    let forwarded = next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == to_bob).await;
    assert_eq!(tokens(&forwarded), std::slice::from_ref(&tablet));

    // The push service reports Bob's tablet dead: it is retired and left out.
    let feedback = json!({"user_id": bob, "token": tablet, "reason": "Unregistered"});
    system
        .channel
        .basic_publish(
            "".into(),
            system.config.feedback_queue.as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            feedback.to_string().as_bytes(),
            lapin::BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let devices = app.authed(Method::GET, path_of(Op::ListDevices), &bob_bearer, None).await.json();
        if devices["data"][0]["active"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "the device was not retired: {devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = push(bob.clone()).await;
    let status =
        next_message(&system.channel, &system.config.status_queue, |m| m.to_string().contains(after.as_str().unwrap()))
            .await;
    assert!(status.to_string().contains("skip"), "no active device left: {status}");
    system.stop().await;
}

/// A fixed-offset zone where it is now 23:xx, and its offset in hours, so
/// that quiet hours from 22:00 to 02:00 there hold now and span midnight
/// whenever the test runs. (`Etc/GMT-9` is UTC+9: the IANA names' sign is
/// inverted.)
fn zone_at_eleven_pm() -> (String, i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let utc_hour = now / 3600 % 24;
    let offset = match (23 - utc_hour).rem_euclid(24) {
        o if o > 14 => o - 24,
        o => o,
    };
    let name = match offset {
        0 => "Atlantic/Reykjavik".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    (name, offset)
}

/// Preferences end to end (issue 18): a category the user muted through the
/// API is skipped by the worker; inside the user's quiet hours (22:00 to
/// 02:00, across midnight, in a zone where it is 23:xx now) a message of a category that can wait is held with a `held` status
/// event and nothing on `push.ready`, while a `security` one goes out; and
/// turning the quiet hours off through the API releases the held message to
/// `push.ready`, once.
#[tokio::test]
async fn muted_categories_are_skipped_and_quiet_hours_hold_until_the_user_changes_them() {
    let system = system().await;
    let app = &system.app;
    let (user, bearer) = app.plain_user().await;
    let (_, staff) = app.staff_user().await;
    let device = json!({"token": format!("fcm:prefs-{user}"), "platform": "android"});
    assert_eq!(app.post_authed(path_of(Op::RegisterDevice), &bearer, &device).await.status, 201);
    let patch = |body: Value| {
        let bearer = bearer.clone();
        async move {
            let answer = app.authed(Method::PATCH, path_of(Op::PatchPreferences), &bearer, Some(&body)).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
    };
    let staff = &staff;
    let user = &user;
    let push = |category: &'static str| async move {
        let body = json!({"user_id": user, "category": category});
        let queued = app.authed(Method::POST, path_of(Op::TestNotification), staff, Some(&body)).await;
        assert_eq!(queued.status, 202, "{}", queued.text);
        queued.json()["data"]["request_id"].as_str().unwrap().to_owned()
    };
    let (channel, config) = (&system.channel, &system.config);
    let status_of = |id: String| async move {
        next_message(channel, &config.status_queue, |m| m["request_id"] == id.as_str()).await
    };

    // Marketing muted for push: skipped, with the reason and the category.
    patch(json!({"categories": {"marketing": {"push": false}}})).await;
    let muted = push("marketing").await;
    let status = status_of(muted.clone()).await;
    assert_eq!((status["status"].as_str(), status["reason"].as_str()), (Some("skipped"), Some("category_muted")));
    assert_eq!(status["category"], "marketing");

    // Quiet hours across midnight, now inside: reminders are held until
    // 02:00 there, security is not held.
    let (zone, offset) = zone_at_eleven_pm();
    let quiet = json!({"start": "22:00", "end": "02:00", "timezone": zone});
    patch(json!({"quiet_hours": quiet})).await;
    let held = push("reminders").await;
    let status = status_of(held.clone()).await;
    assert_eq!(status["status"], "held", "{status}");
    let release_at = status["release_at"].as_str().expect("a release time");
    let two_am = format!("T{:02}:00:00", (2 - offset).rem_euclid(24));
    assert!(release_at.contains(&two_am), "held until 02:00 in {zone} ({two_am} UTC): {release_at}");
    let urgent = push("security").await;
    let forwarded =
        next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == urgent.as_str()).await;
    assert_eq!(forwarded["category"], "security");
    assert_eq!(forwarded["user"]["preferences"]["quiet_hours"], quiet);
    assert_eq!(forwarded["user"]["preferences"]["categories"]["marketing"], json!({"email": true, "push": false}));

    // Quiet hours off: the held message is released, enriched, and forwarded once.
    patch(json!({"quiet_hours": null})).await;
    let released =
        next_message(&system.channel, &system.config.ready_queue, |m| m["request_id"] == held.as_str()).await;
    assert_eq!(released["user"]["preferences"]["quiet_hours"], Value::Null);
    assert_eq!(released["devices"][0]["token"], device["token"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut again = 0;
    while let Some(message) = system
        .channel
        .basic_get(system.config.ready_queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        let body: Value = serde_json::from_slice(&message.delivery.data).unwrap();
        again += usize::from(body["request_id"] == held.as_str() || body["request_id"] == muted.as_str());
    }
    assert_eq!(again, 0, "the held message was forwarded once, the muted one never");
    system.stop().await;
}
