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
//!   with SIGTERM drains and duplicates nothing;
//! - a cached read (preferences, profile: read through the key-value store
//!   `cache`, filled and tombstoned through `redis_url`) sees a change or a
//!   logout made through the other instance at once.
//!
//! Every name is this test's own: database, queues, client addresses, emails.

mod counter;
mod deployment;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use api_tests::{Op, path_of, unique_email};
use serde_json::{Value, json};

use counter::*;
use deployment::*;

#[tokio::test]
async fn cached_reads_see_changes_made_through_the_other_instance() {
    let deployment = Deployment::start(&[], 0).await;
    let [a, b] = &deployment.apps;
    let client = client_from(random_loopback());
    let email = unique_email("two-cache");
    let registered = post(&client, a, path_of(Op::ListUsers), &registration(&email), None).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let token = registered.body["data"]["access_token"].as_str().expect("a token").to_owned();
    let refresh = registered.body["data"]["refresh_token"].as_str().expect("a refresh token").to_owned();
    let id = registered.body["data"]["user"]["id"].as_str().expect("an id").to_owned();
    let get = async |app, op| authed(&client, app, reqwest::Method::GET, path_of(op), &token, None).await;

    // A fills both caches; B reads the same entries.
    for op in [Op::GetPreferences, Op::GetProfile] {
        let (first, second) = (get(a, op).await, get(b, op).await);
        assert_eq!((first.status, second.status), (200, 200), "{op:?}: {} / {}", first.body, second.body);
        assert_eq!(first.body["data"], second.body["data"]);
    }
    // The entries are in Redis, and the reads answer from them: a change
    // made behind the service's back (straight in the database, no
    // tombstone) is not seen by either instance.
    let db = deployment.db().await;
    db.execute(
        "UPDATE user_preferences SET email = false WHERE id = (SELECT preferences_id FROM users WHERE id::text = $1)",
        &[&id],
    )
    .await
    .expect("the row changes");
    for app in [a, b] {
        let cached = get(app, Op::GetPreferences).await;
        assert_eq!(cached.body["data"]["email"], true, "answered from the cache: {}", cached.body);
    }

    // A change through B is seen at once through A, and the other way round.
    let patched = authed(
        &client,
        b,
        reqwest::Method::PATCH,
        path_of(Op::PatchPreferences),
        &token,
        Some(&json!({"push": false})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let seen = get(a, Op::GetPreferences).await;
    assert_eq!((seen.body["data"]["push"].clone(), seen.body["data"]["email"].clone()), (json!(false), json!(false)));
    let renamed = authed(
        &client,
        a,
        reqwest::Method::PATCH,
        path_of(Op::PatchProfile),
        &token,
        Some(&json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(get(b, Op::GetProfile).await.body["data"]["name"], "Renamed");

    // Both filled again; a logout through A ends the token's session on B's
    // cached reads too.
    for app in [a, b] {
        assert_eq!(get(app, Op::GetPreferences).await.status, 200);
        assert_eq!(get(app, Op::GetProfile).await.status, 200);
    }
    let logout = post(&client, a, path_of(Op::Logout), &json!({"refresh_token": refresh}), None).await;
    assert_eq!(logout.status, 200, "{}", logout.body);
    for op in [Op::GetPreferences, Op::GetProfile] {
        let refused = get(b, op).await;
        assert_eq!(refused.status, 401, "{op:?} after the logout: {}", refused.body);
    }
    deployment.finish().await;
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
