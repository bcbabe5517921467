//! `WORKER_QUEUE_TYPE=quorum` on the real RabbitMQ (3.10 here): the
//! worker's own queues (push.ready, the retry delay queues, failed.queue,
//! the device feedback queue) are
//! quorum queues, push.queue stays as the gateway declares it, and every
//! path through them still works: message TTL and dead-lettering out of the
//! delay queues, dead letters into failed.queue, and a replay out of it.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use native_worker::config::{Config, QueueType};
use native_worker::worker::Parts;

use crate::flow::{break_lookups, repair_lookups};
use crate::helpers::{AMQP_URL, TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn quorum(config: &mut Config) {
    config.queue_type = QueueType::Quorum;
}

fn queue_type(kind: &str) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
    t
}

/// Redeclares `queue` (durable) with `arguments` on a channel of its own:
/// RabbitMQ answers PRECONDITION_FAILED, and closes the channel, when they
/// are not equivalent to what the queue was declared with.
async fn redeclare(conn: &lapin::Connection, queue: &str, arguments: FieldTable) -> Result<(), lapin::Error> {
    let channel = conn.create_channel().await.unwrap();
    let options = QueueDeclareOptions { durable: true, ..Default::default() };
    let declared = channel.queue_declare(queue.into(), options, arguments).await.map(|_| ());
    native_worker::topology::close_channel(&channel, "checked").await;
    declared
}

#[tokio::test]
async fn the_workers_own_queues_are_quorum_queues_and_push_queue_is_the_gateways() {
    let env = TestEnv::new_with(quorum).await;
    let c = &env.config;
    // Each queue with its arguments as a quorum queue, then the same as a
    // classic one: only the first may be accepted.
    let mut classic = c.clone();
    classic.queue_type = QueueType::Classic;
    let mut feedback_as_classic = native_worker::topology::feedback_queue_arguments(&classic);
    feedback_as_classic.insert("x-queue-type".into(), AMQPValue::LongString("classic".into()));
    let mut own: Vec<(String, FieldTable, FieldTable)> = vec![
        (c.ready_queue.clone(), queue_type("quorum"), queue_type("classic")),
        (c.failed_queue.clone(), queue_type("quorum"), queue_type("classic")),
        (c.feedback_queue.clone(), native_worker::topology::feedback_queue_arguments(c), feedback_as_classic),
    ];
    for delay in c.retry_delays() {
        let mut as_classic = native_worker::topology::retry_queue_arguments(&classic, delay);
        as_classic.insert("x-queue-type".into(), AMQPValue::LongString("classic".into()));
        own.push((c.retry_queue(delay), native_worker::topology::retry_queue_arguments(c, delay), as_classic));
    }
    for (queue, as_quorum, as_classic) in own {
        redeclare(&env.conn, &queue, as_quorum).await.unwrap_or_else(|e| panic!("{queue} is a quorum queue: {e}"));
        let refused = redeclare(&env.conn, &queue, as_classic).await;
        assert!(refused.is_err(), "{queue} must not be equivalent to a classic queue");
    }
    // push.queue is exactly what the gateway declares: no x-queue-type.
    let gateway = native_worker::topology::push_queue_arguments(c);
    redeclare(&env.conn, &c.push_queue, gateway).await.expect("push.queue matches the gateway's declaration");
    let mut as_quorum = native_worker::topology::push_queue_arguments(c);
    as_quorum.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    assert!(redeclare(&env.conn, &c.push_queue, as_quorum).await.is_err(), "push.queue stays classic");
    // Declaring again is a no-op, as every reconnection does.
    native_worker::topology::declare(&env.channel, c).await.expect("the quorum topology redeclares");
    env.cleanup().await;
}

#[tokio::test]
async fn retries_wait_in_quorum_delay_queues_and_come_back_to_push_queue() {
    // Message TTL and dead-lettering out of a quorum queue, back into the
    // classic push.queue: what RabbitMQ before 3.10 could not do.
    let mut env = TestEnv::new_with(|c| {
        quorum(c);
        c.retry_delays_ms = vec![300, 300, 300];
        c.breaker_failure_threshold = 100;
    })
    .await;
    let user = env.insert_user(true, Some("tok")).await;
    break_lookups(&env).await;
    let worker = env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-quorum-retry")).await;

    eventually("two retries, the first one back from its delay queue", WAIT, || worker.metrics.retried.get() >= 2)
        .await;
    repair_lookups(&env).await;
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-quorum-retry");
    assert_eq!(out[0].body["user"]["user_id"], user.to_string());
    assert_eq!(worker.metrics.dead_lettered.get(), 0);
    for queue in env.retry_queues() {
        assert_eq!(env.queue_len(&queue).await, 0, "{queue} emptied by expiry");
    }
    env.cleanup().await;
}

#[tokio::test]
async fn dead_letters_land_in_a_quorum_failed_queue_and_replay_from_it() {
    let mut env = TestEnv::new_with(|c| {
        quorum(c);
        c.breaker_failure_threshold = 100;
    })
    .await;
    let user = env.insert_user(true, Some("tok")).await;
    break_lookups(&env).await;
    env.start(Parts { consumer: true, relay: false }).await;
    env.publish(&TestEnv::push_body(user, "req-quorum-doomed")).await;
    eventually_len(&env, &env.config.failed_queue, 1).await;
    repair_lookups(&env).await;

    // The operator's replay, as the binary with the environment it would
    // have (WORKER_QUEUE_TYPE=quorum: the replay declares the topology too).
    let replay = env.command(&["dlq", "replay"]).output().await.unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert!(String::from_utf8_lossy(&replay.stdout).contains("replayed 1"), "{replay:?}");
    let out = env.take(&env.config.ready_queue, 1, WAIT).await;
    assert_eq!(out[0].request_id(), "req-quorum-doomed");
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0);
    env.cleanup().await;
}

/// Waits until `queue` holds `n` messages, without taking them.
async fn eventually_len(env: &TestEnv, queue: &str, n: u32) {
    let until = std::time::Instant::now() + WAIT;
    while env.queue_len(queue).await < n {
        assert!(std::time::Instant::now() < until, "{queue} never held {n} messages");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn switching_existing_classic_queues_to_quorum_is_refused_with_advice() {
    // A deployment that sets WORKER_QUEUE_TYPE=quorum over queues declared
    // classic: RabbitMQ refuses, and the worker's message says what to do.
    let env = TestEnv::new().await;
    let mut switched = env.config.clone();
    switched.queue_type = QueueType::Quorum;
    let conn = native_worker::topology::connect(AMQP_URL, "test").await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let error = native_worker::topology::declare(&channel, &switched).await.expect_err("a type change is refused");
    let advice = native_worker::topology::explain_declare_error(&error);
    assert!(advice.contains("PRECONDITION_FAILED"), "{advice}");
    assert!(advice.contains("WORKER_QUEUE_TYPE"), "{advice}");
    let _ = conn.close(200, "done".into()).await;
    env.cleanup().await;
}
