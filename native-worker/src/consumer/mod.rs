//! The push.queue consumer: takes deliveries, enriches and forwards them, and
//! decides the fate of each (forward, skip, retry, dead-letter, hand back).
//!
//! Each delivery is processed in its own task, so a slow lookup never holds up
//! the others, and a panic in one is caught there and dead-letters just that
//! message; the broker's prefetch bounds how many are in flight. The loop
//! itself is a `select!` over deliveries, finished tasks, the breaker's pause
//! and shutdown, and never sleeps on a message's behalf.
//!
//! Ordering that makes "forwarded exactly once" hold: publish to push.ready,
//! wait for the confirm, record the request_id, then ack the original. A
//! crash anywhere before the ack redelivers the message; the record then makes
//! the redelivery an ack without a second forward. Acks themselves are
//! coalesced (see [`AckLine`]): sent every few milliseconds with `multiple`,
//! always after the confirms of everything they cover.
//!
//! - this file: the loop ([`run`]): channels, the breaker's trial and pause,
//!   a task per delivery, the coalesced acks, and shutdown;
//! - `fate`: what happens to one delivery ([`Processor`], [`Outcome`]);
//! - `hold`: a delivery held for the user's quiet hours;
//! - `status`: the status events of skips and holds;
//! - `acks`: which delivery tags may be acked at once ([`AckLine`]);
//! - `lock`: the poison-tolerant lock they share.

mod acks;
mod fate;
mod hold;
mod lock;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::Connection;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use acks::ACK_FLUSH_EVERY;
pub use acks::AckLine;
pub(crate) use fate::panic_message;
pub use fate::{Outcome, Processor};
use lock::lock;

use crate::breaker::{Clock, Permit};
use crate::topology;

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker ended the consumer")]
    ConsumerEnded,
    #[error("the connection to the broker is gone")]
    ConnectionLost,
    #[error("a delivery task failed: {0}")]
    TaskFailed(String),
}

/// Runs the consumer on `conn` until shutdown (Ok) or until the connection
/// fails (Err; the caller reconnects). On the way out it waits for every task,
/// so what it holds is finished and acked; deliveries it had not started are
/// handed back when their channel closes.
pub async fn run<C: Clock + 'static>(
    processor: Arc<Processor<C>>,
    conn: &Connection,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    // Several publishing channels: the broker runs each channel as its own
    // process, so forwards spread over them use both cores on its side.
    let mut publishers = Vec::new();
    for _ in 0..processor.config.publish_channels.max(1) {
        publishers.push(topology::confirm_channel(conn).await?);
    }
    let publisher = publishers[0].clone();
    let mut next_publisher = 0usize;
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    loop {
        // A fresh consuming channel per pause: closing the old one hands back
        // every delivery buffered on it, without us touching them.
        let consume = conn.create_channel().await?;
        // Delivery tags count from 1 per channel; a trial fetched on this
        // channel takes the first one and is acked on its own.
        let mut first_tag = 1;
        consume.basic_qos(processor.config.prefetch, BasicQosOptions::default()).await?;
        if let Permit::Trial = processor.permit() {
            // Half-open: exactly one message, fetched, not pushed to us.
            match consume.basic_get(processor.config.push_queue.as_str().into(), BasicGetOptions::default()).await? {
                Some(message) => {
                    first_tag = message.delivery.delivery_tag + 1;
                    processor.handle(message.delivery, &publisher, None).await;
                }
                // Nothing to try with; let the next delivery be the trial.
                None => lock(&processor.breaker).release_trial(),
            }
            if lock(&processor.breaker).is_open() {
                topology::close_channel(&consume, "breaker open").await;
                if pause(&processor, &shutdown).await {
                    break;
                }
                continue;
            }
        }
        let tag = format!("native-worker-{}", uuid::Uuid::new_v4());
        let acks = Arc::new(AckLine::new(first_tag));
        let mut flush = tokio::time::interval(ACK_FLUSH_EVERY);
        let mut consumer = consume
            .basic_consume(
                processor.config.push_queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // The consumer stream does not always end when the socket dies; look
        // at the connection itself too, so a dead session is noticed quickly.
        let mut liveness = tokio::time::interval(Duration::from_millis(100));
        let stopped: Result<bool, ConsumerError> = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(true),
                _ = flush.tick() => {
                    if let Some(upto) = acks.take_flushable()
                        && let Err(e) = consume.basic_ack(upto, BasicAckOptions { multiple: true }).await
                    {
                        break Err(e.into());
                    }
                }
                _ = liveness.tick() => {
                    if !(conn.status().connected() && consume.status().connected() && publishers.iter().all(|p| p.status().connected())) {
                        break Err(ConsumerError::ConnectionLost);
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                    // A delivery nothing could be settled for stays unacked
                    // until its channel closes: rebuild the session.
                    Ok(Outcome::Abandoned) => break Err(ConsumerError::ConnectionLost),
                    Ok(_) => {}
                    // `handle` catches panics in processing; one here came
                    // from dead-lettering or settling, and its tag is unknown.
                    // Closing the channel hands every unsettled delivery back.
                    Err(e) => {
                        if e.is_panic() {
                            processor.metrics.panics.inc();
                        }
                        tracing::error!(error = %e, "a delivery task failed outside its processing");
                        break Err(ConsumerError::TaskFailed(e.to_string()));
                    }
                },
                next = consumer.next() => match next {
                    None => break Err(ConsumerError::ConsumerEnded),
                    Some(Err(e)) => break Err(e.into()),
                    Some(Ok(delivery)) => match processor.permit() {
                        Permit::Allow | Permit::Trial => {
                            let processor = processor.clone();
                            next_publisher = (next_publisher + 1) % publishers.len();
                            let publisher = publishers[next_publisher].clone();
                            let acks = acks.clone();
                            tasks.spawn(async move { processor.handle(delivery, &publisher, Some(&acks)).await });
                        }
                        Permit::Deny { .. } => {
                            let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
                            processor.metrics.requeued.inc();
                            break Ok(false);
                        }
                    },
                },
            }
        };
        tracing::info!(in_flight = tasks.len(), reason = ?stopped, "consumer stopping; finishing what it holds");
        // Finish what we hold before closing the channel its acks travel on.
        while tasks.join_next().await.is_some() {}
        if let Some(upto) = acks.take_flushable()
            && let Err(e) = consume.basic_ack(upto, BasicAckOptions { multiple: true }).await
        {
            tracing::warn!(error = %e, "final acks failed; the broker will redeliver those messages");
        }
        tracing::info!("consumer settled every delivery it held");
        topology::close_channel(&consume, "consumer stopping").await;
        match stopped {
            Ok(true) => break,
            Ok(false) => {
                if pause(&processor, &shutdown).await {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    for publisher in &publishers {
        topology::close_channel(publisher, "shutdown").await;
    }
    Ok(())
}

/// Waits while the breaker is open. Returns true on shutdown.
async fn pause<C: Clock + 'static>(processor: &Processor<C>, shutdown: &CancellationToken) -> bool {
    let wait = {
        let b = lock(&processor.breaker);
        b.remaining_open().unwrap_or(Duration::from_millis(50))
    };
    tracing::warn!(?wait, "circuit breaker open: consumption paused");
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
