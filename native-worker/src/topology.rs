//! The AMQP side: connecting, declaring queues and exchanges exactly as the
//! rest of the platform declares them, and publishing with confirms.
//!
//! push.queue's arguments must match the gateway's declaration to the letter:
//! RabbitMQ refuses a redeclaration with different arguments
//! (PRECONDITION_FAILED) and closes the channel.
//!
//! The queues the worker owns (push.ready, the retry delay queues,
//! failed.queue, the device feedback queue) are classic or quorum queues as
//! `WORKER_QUEUE_TYPE` says; everything else is declared the same either way.

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::config::{Config, QueueType};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The channel or connection failed: the session must be rebuilt.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused the message (basic.nack).
    #[error("the broker refused the message")]
    Nacked,
    /// The broker did not answer in time; treated like a dead channel.
    #[error("no {0} from the broker in time")]
    Timeout(&'static str),
    /// No queue is bound for the routing key (mandatory publish returned).
    #[error("message unroutable: {0}")]
    Unroutable(String),
}

/// The persistent, JSON properties every publish of the worker uses.
pub fn json_properties() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into())
}

pub async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, properties).await
}

/// A channel in confirm mode: every publish on it is acknowledged by the broker.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, lapin::Error> {
    let channel = conn.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(channel)
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// push.queue's arguments, as the gateway declares them.
pub fn push_queue_arguments(config: &Config) -> FieldTable {
    table(&[
        ("x-dead-letter-exchange", AMQPValue::LongString(config.dlx_exchange.as_str().into())),
        ("x-dead-letter-routing-key", AMQPValue::LongString(config.dlx_routing_key.as_str().into())),
        ("x-max-priority", AMQPValue::LongInt(10)),
    ])
}

/// The feedback queue's arguments: the worker's queue type, and the
/// dead-letter exchange of push.queue, so a report rejected without a
/// republish still ends in failed.queue.
pub fn feedback_queue_arguments(config: &Config) -> FieldTable {
    let mut entries = own_queue_arguments(config);
    entries.extend([
        ("x-dead-letter-exchange", AMQPValue::LongString(config.dlx_exchange.as_str().into())),
        ("x-dead-letter-routing-key", AMQPValue::LongString(config.dlx_routing_key.as_str().into())),
    ]);
    table(&entries)
}

/// Arguments of a queue the worker owns, for the configured queue type.
/// Classic queues get none, as they always had, so an existing deployment's
/// queues redeclare unchanged.
fn own_queue_arguments(config: &Config) -> Vec<(&'static str, AMQPValue)> {
    match config.queue_type {
        QueueType::Classic => Vec::new(),
        QueueType::Quorum => vec![("x-queue-type", AMQPValue::LongString(QueueType::Quorum.as_str().into()))],
    }
}

/// Arguments of the retry delay queue for `delay`: its messages expire after
/// `delay` and dead-letter through the default exchange straight back to
/// push.queue, so the broker does the waiting, not the consumer.
pub fn retry_queue_arguments(config: &Config, delay: std::time::Duration) -> FieldTable {
    let mut entries = own_queue_arguments(config);
    entries.extend([
        ("x-message-ttl", AMQPValue::LongLongInt(delay.as_millis() as i64)),
        ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
        ("x-dead-letter-routing-key", AMQPValue::LongString(config.push_queue.as_str().into())),
    ]);
    if config.queue_type == QueueType::Quorum {
        // A quorum queue dead-letters at most once by default: an expired
        // message push.queue failed to take would be gone. At least once
        // (RabbitMQ 3.10+) keeps it until push.queue confirms it, and
        // requires the reject-publish overflow (no length limit is set, so
        // nothing is ever rejected for it).
        entries.extend([
            ("x-dead-letter-strategy", AMQPValue::LongString("at-least-once".into())),
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ]);
    }
    table(&entries)
}

/// Deletes every queue and the dead-letter exchange that `declare` makes for
/// `config`. For throw-away topologies (benchmarks, tests with suffixed
/// names); never point it at a live deployment's names.
pub async fn remove(channel: &Channel, config: &Config) {
    let mut queues = vec![
        config.push_queue.clone(),
        config.ready_queue.clone(),
        config.failed_queue.clone(),
        config.email_queue.clone(),
        config.audit_queue.clone(),
        config.status_queue.clone(),
        config.feedback_queue.clone(),
    ];
    queues.extend(config.retry_delays().into_iter().map(|delay| config.retry_queue(delay)));
    for queue in queues {
        let _ = channel.queue_delete(queue.as_str().into(), lapin::options::QueueDeleteOptions::default()).await;
    }
    let _ = channel.exchange_delete(config.dlx_exchange.as_str().into(), Default::default()).await;
}

/// Declares everything the worker publishes to or consumes from. Idempotent.
pub async fn declare(channel: &Channel, config: &Config) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    let own = table(&own_queue_arguments(config));
    channel
        .exchange_declare(
            config.dlx_exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel.queue_declare(config.failed_queue.as_str().into(), durable, own.clone()).await?;
    channel
        .queue_bind(
            config.failed_queue.as_str().into(),
            config.dlx_exchange.as_str().into(),
            config.dlx_routing_key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel.queue_declare(config.push_queue.as_str().into(), durable, push_queue_arguments(config)).await?;
    channel.queue_declare(config.ready_queue.as_str().into(), durable, own).await?;
    channel.queue_declare(config.email_queue.as_str().into(), durable, FieldTable::default()).await?;
    channel.queue_declare(config.audit_queue.as_str().into(), durable, FieldTable::default()).await?;
    channel.queue_declare(config.status_queue.as_str().into(), durable, FieldTable::default()).await?;
    channel.queue_declare(config.feedback_queue.as_str().into(), durable, feedback_queue_arguments(config)).await?;
    for delay in config.retry_delays() {
        let args = retry_queue_arguments(config, delay);
        channel.queue_declare(config.retry_queue(delay).as_str().into(), durable, args).await?;
    }
    Ok(())
}

/// What to tell an operator when [`declare`] fails. A queue that exists with
/// other arguments (most likely another type, after `WORKER_QUEUE_TYPE`
/// changed) is refused with PRECONDITION_FAILED on every reconnection, so
/// the message says what to do rather than only what happened.
pub fn explain_declare_error(error: &lapin::Error) -> String {
    let text = error.to_string();
    if text.contains("PRECONDITION_FAILED") || text.contains("inequivalent arg") {
        format!(
            "declare: {text} (a queue exists with other arguments: push.queue must match the gateway's declaration, \
             and a queue of the worker's declared before WORKER_QUEUE_TYPE changed must be drained and deleted first)"
        )
    } else {
        format!("declare: {text}")
    }
}

/// Publishes one message and waits for the broker's confirm. `mandatory`, so a
/// message no queue would receive is an error rather than silently dropped.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    let pending = tokio::time::timeout(
        CONFIRM_TIMEOUT,
        channel.basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions { mandatory: true, ..Default::default() },
            body,
            properties,
        ),
    )
    .await
    .map_err(|_| PublishError::Timeout("publish"))??;
    let confirm =
        tokio::time::timeout(CONFIRM_TIMEOUT, pending).await.map_err(|_| PublishError::Timeout("confirm"))??;
    check_confirmation(confirm)
}

/// Turns a confirmation into success, refusal or return.
pub fn check_confirmation(confirm: lapin::Confirmation) -> Result<(), PublishError> {
    if confirm.is_nack() {
        return Err(PublishError::Nacked);
    }
    if let Some(returned) = confirm.take_message() {
        return Err(PublishError::Unroutable(returned.reply_text.to_string()));
    }
    Ok(())
}

/// How a [`pause`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// The wait is over: go again.
    Elapsed,
    /// Shutdown was asked for.
    Shutdown,
    /// The connection or the channel is gone.
    ConnectionLost,
}

/// Waits `wait` between the rounds of a loop that publishes (the outbox
/// relay, the release of held messages), checking the link on every tick
/// of `liveness`: an idle loop publishes nothing and would not otherwise
/// notice a dead connection.
pub async fn pause(
    conn: &Connection,
    channel: &Channel,
    wait: std::time::Duration,
    liveness: &mut tokio::time::Interval,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Paused {
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Paused::Shutdown,
            _ = &mut sleep => return Paused::Elapsed,
            _ = liveness.tick() => {
                if !(conn.status().connected() && channel.status().connected()) {
                    return Paused::ConnectionLost;
                }
            }
        }
    }
}

/// Closes a channel without waiting long: on a dead connection the broker's
/// close-ok never comes, and shutdown or reconnection must not wait for it.
pub async fn close_channel(channel: &Channel, reason: &str) {
    if channel.status().connected()
        && let Err(e) = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, reason.into())).await
    {
        tracing::debug!(error = %e, "channel close timed out");
    }
}

/// Closes a connection without waiting long (see [`close_channel`]).
pub async fn close_connection(conn: &Connection, reason: &str) {
    if conn.status().connected()
        && let Err(e) = tokio::time::timeout(CLOSE_TIMEOUT, conn.close(200, reason.into())).await
    {
        tracing::debug!(error = %e, "connection close timed out");
    }
}

/// How long a publish may wait for its confirm. RabbitMQ confirms persistent
/// messages after an fsync, milliseconds normally; far beyond that the link
/// is as good as dead.
pub const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
