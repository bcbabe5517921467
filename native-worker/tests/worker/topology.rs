//! push.queue must be declared exactly as the gateway declares it, or
//! RabbitMQ closes the channel with PRECONDITION_FAILED.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use native_worker::config::Config;

use crate::helpers::AMQP_URL;

fn gateway_arguments(config: &Config, priority: AMQPValue) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(config.dlx_exchange.as_str().into()));
    t.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString("failed".into()));
    t.insert("x-max-priority".into(), priority);
    t
}

#[tokio::test]
async fn worker_declarations_match_a_gateway_declared_push_queue() {
    // A gateway in Python (pika) sends the priority as a 32-bit int, one in
    // another language may send 64 bits; both must be accepted.
    for priority in [AMQPValue::LongInt(10), AMQPValue::LongLongInt(10), AMQPValue::ShortShortUInt(10)] {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let config = Config::defaults().with_name_suffix(&format!("test.{id}"));
        let conn = native_worker::topology::connect(AMQP_URL, "test").await.unwrap();
        let gateway = conn.create_channel().await.unwrap();
        gateway
            .queue_declare(
                config.push_queue.as_str().into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                gateway_arguments(&config, priority.clone()),
            )
            .await
            .unwrap();
        let worker = conn.create_channel().await.unwrap();
        let declared = native_worker::topology::declare(&worker, &config).await;
        assert!(declared.is_ok(), "priority as {priority:?}: {declared:?}");
        let _ = worker.queue_delete(config.push_queue.as_str().into(), Default::default()).await;
        for q in [
            &config.ready_queue,
            &config.failed_queue,
            &config.email_queue,
            &config.audit_queue,
            &config.status_queue,
            &config.feedback_queue,
        ] {
            let _ = worker.queue_delete(q.as_str().into(), Default::default()).await;
        }
        for d in config.retry_delays() {
            let _ = worker.queue_delete(config.retry_queue(d).as_str().into(), Default::default()).await;
        }
        let _ = worker.exchange_delete(config.dlx_exchange.as_str().into(), Default::default()).await;
        let _ = conn.close(200, "done".into()).await;
    }
}

#[tokio::test]
async fn a_push_queue_declared_differently_is_refused() {
    // The check above is only meaningful if RabbitMQ does refuse a mismatch.
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let config = Config::defaults().with_name_suffix(&format!("test.{id}"));
    let conn = native_worker::topology::connect(AMQP_URL, "test").await.unwrap();
    let gateway = conn.create_channel().await.unwrap();
    gateway
        .queue_declare(
            config.push_queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            gateway_arguments(&config, AMQPValue::LongInt(5)),
        )
        .await
        .unwrap();
    let worker = conn.create_channel().await.unwrap();
    let declared = native_worker::topology::declare(&worker, &config).await;
    assert!(declared.is_err(), "x-max-priority 5 against 10 must be refused");
    let cleanup = conn.create_channel().await.unwrap();
    let _ = cleanup.queue_delete(config.push_queue.as_str().into(), Default::default()).await;
    for q in [
        &config.ready_queue,
        &config.failed_queue,
        &config.email_queue,
        &config.audit_queue,
        &config.status_queue,
        &config.feedback_queue,
    ] {
        let _ = cleanup.queue_delete(q.as_str().into(), Default::default()).await;
    }
    let _ = cleanup.exchange_delete(config.dlx_exchange.as_str().into(), Default::default()).await;
    let _ = conn.close(200, "done".into()).await;
}
