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

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::breaker::{Breaker, Clock, Permit};
use crate::config::Config;
use crate::db::DbError;
use crate::dedup::Dedup;
use crate::enrich::Enricher;
use crate::hooks::Hooks;
use crate::message::{self, PushMessage};
use crate::metrics::Metrics;
use crate::retry::{self, RetryDecision};
use crate::topology::{self, PublishError};

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

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    Skipped(&'static str),
    Duplicate,
    Retried(u32),
    DeadLettered(String),
    /// Handed back to the queue untouched (breaker open).
    Requeued,
    /// Nothing could be settled: the channel is gone and the broker will
    /// redeliver the message.
    Abandoned,
}

/// A failure that may pass: a dependency did not answer.
#[derive(Debug, thiserror::Error)]
enum Transient {
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("publish: {0}")]
    Publish(PublishError),
    #[error("request {0} is being processed by another delivery")]
    InFlight(String),
}

/// Everything a delivery's task needs, shared by all of them.
pub struct Processor<C: Clock = crate::breaker::SystemClock> {
    pub config: Config,
    pub enricher: Enricher,
    pub dedup: Dedup,
    pub breaker: Mutex<Breaker<C>>,
    pub metrics: Arc<Metrics>,
    /// request_ids being processed right now, so two copies of one message
    /// held at the same time cannot both pass the dedup check.
    in_flight: Mutex<HashSet<String>>,
    /// Test hooks; all empty in production.
    hooks: Hooks,
}

/// Locks `m` even if a panicking task poisoned it. Every critical section
/// here is a single update (insert, remove, a breaker transition), so the
/// data stays consistent across a panic; refusing it afterwards would turn
/// one delivery's panic into every later delivery's.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes a request_id from the in-flight set when processing ends, however it ends.
struct InFlightGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.id);
    }
}

impl<C: Clock + 'static> Processor<C> {
    pub fn new(config: Config, enricher: Enricher, dedup: Dedup, breaker: Breaker<C>, metrics: Arc<Metrics>) -> Self {
        Self {
            config,
            enricher,
            dedup,
            breaker: Mutex::new(breaker),
            metrics,
            in_flight: Mutex::new(HashSet::new()),
            hooks: Hooks::default(),
        }
    }

    /// The same processor with test hooks.
    pub fn with_hooks(self, hooks: Hooks) -> Self {
        Self { hooks, ..self }
    }

    fn permit(&self) -> Permit {
        let mut b = lock(&self.breaker);
        let p = b.permit();
        self.metrics.breaker_state.set(b.state().gauge());
        p
    }

    fn breaker_success(&self) {
        let mut b = lock(&self.breaker);
        b.on_success();
        self.metrics.breaker_state.set(b.state().gauge());
    }

    /// Records a dependency failure; true when the breaker is open now.
    fn breaker_failure(&self) -> bool {
        let mut b = lock(&self.breaker);
        let open = b.on_failure();
        self.metrics.breaker_state.set(b.state().gauge());
        open
    }

    /// Processes one delivery to the end: it is acked, or handed back, or
    /// (when the channel died) left for the broker to redeliver.
    /// With `acks`, acks are left to the [`AckLine`] (coalesced); without,
    /// each delivery is acked on its own.
    pub async fn handle(&self, delivery: Delivery, publisher: &Channel, acks: Option<&AckLine>) -> Outcome {
        let started = Instant::now();
        self.metrics.consumed.inc();
        let work = async {
            match self.process(&delivery, publisher).await {
                Ok(outcome) => outcome,
                Err(transient) => self.on_transient(&delivery, publisher, transient).await,
            }
        };
        // A panic must still settle its delivery: an unsettled tag holds
        // every later ack of the channel (acks are a settled prefix), and
        // once the prefetch is used up nothing more is delivered. Unwinding
        // leaves shared state sound: the in-flight guard drops, locks are
        // taken poison-tolerant, and the rest is atomic counters.
        let outcome = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => {
                self.metrics.panics.inc();
                let reason = format!("panicked: {}", panic_message(panic.as_ref()));
                tracing::error!(%reason, "a delivery's processing panicked; dead-lettering it");
                self.dead_letter(&delivery, publisher, &reason).await
            }
        };
        // Settling waits for nothing from the broker in AMQP, yet on a dead
        // connection lapin can hang here; bound it like a confirm.
        let settle = async {
            match (&outcome, acks) {
                (Outcome::Abandoned, _) => Ok(()),
                (Outcome::Requeued, _) => {
                    let r = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.map(drop);
                    if r.is_ok()
                        && let Some(line) = acks
                    {
                        line.complete(delivery.delivery_tag, false);
                    }
                    r
                }
                (_, Some(line)) => {
                    line.complete(delivery.delivery_tag, true);
                    Ok(())
                }
                (_, None) => delivery.ack(BasicAckOptions::default()).await.map(drop),
            }
        };
        let settled = match tokio::time::timeout(topology::CONFIRM_TIMEOUT, settle).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "could not settle a delivery; the broker will redeliver it");
            return Outcome::Abandoned;
        }
        match &outcome {
            Outcome::Forwarded => self.metrics.forwarded.inc(),
            Outcome::Skipped(_) => self.metrics.skipped.inc(),
            Outcome::Duplicate => self.metrics.duplicates.inc(),
            Outcome::Retried(_) => self.metrics.retried.inc(),
            Outcome::DeadLettered(_) => self.metrics.dead_lettered.inc(),
            Outcome::Requeued => self.metrics.requeued.inc(),
            Outcome::Abandoned => 0,
        };
        self.metrics.processing_seconds.observe(started.elapsed().as_secs_f64());
        outcome
    }

    async fn process(&self, delivery: &Delivery, publisher: &Channel) -> Result<Outcome, Transient> {
        self.hooks.delivery(&delivery.data);
        // Before parsing: the size alone settles it, and parsing a huge body
        // is the cost the limit exists to avoid.
        let size = delivery.data.len();
        if size > self.config.max_message_bytes {
            let reason =
                format!("{}{size} bytes, over the limit of {}", message::TOO_LARGE, self.config.max_message_bytes);
            return Ok(self.dead_letter(delivery, publisher, &reason).await);
        }
        let message = match PushMessage::parse(&delivery.data) {
            Ok(m) => m,
            Err(e) => return Ok(self.dead_letter(delivery, publisher, &format!("{}{e}", message::MALFORMED)).await),
        };
        let request_id = message.request_id.as_ref();
        let _guard = {
            let mut set = lock(&self.in_flight);
            if !set.insert(request_id.to_owned()) {
                return Err(Transient::InFlight(request_id.to_owned()));
            }
            InFlightGuard { set: &self.in_flight, id: request_id.to_owned() }
        };
        let seen = match self.dedup.seen(request_id).await {
            Ok(seen) => seen,
            Err(e) => return self.on_database_error(delivery, publisher, e).await,
        };
        if seen {
            self.breaker_success();
            return Ok(Outcome::Duplicate);
        }
        let user = match self.enricher.lookup(message.user_id).await {
            Ok(user) => user,
            Err(e) => return self.on_database_error(delivery, publisher, e).await,
        };
        let Some((user, _source)) = user else {
            self.breaker_success();
            return Ok(self.dead_letter(delivery, publisher, &format!("unknown user {}", message.user_id)).await);
        };
        if let Some(reason) = user.skip_reason() {
            let event = serde_json::json!({
                "request_id": request_id,
                "user_id": message.user_id.to_string(),
                "notification_type": message.body.get("notification_type"),
                "status": "skipped",
                "reason": reason.as_str(),
                "timestamp": chrono::Utc::now().to_rfc3339(),
            });
            let body = serde_json::to_vec(&event).expect("json");
            match topology::publish_confirmed(
                publisher,
                "",
                &self.config.status_queue,
                &body,
                topology::json_properties(),
            )
            .await
            {
                Ok(()) => {}
                Err(e @ (PublishError::Amqp(_) | PublishError::Timeout(_))) => {
                    tracing::warn!(error = %e, "status event failed; leaving the delivery to be redelivered");
                    return Ok(Outcome::Abandoned);
                }
                Err(e) => return Err(Transient::Publish(e)),
            }
            self.breaker_success();
            return Ok(Outcome::Skipped(reason.as_str()));
        }
        let properties = forwarded_properties(&delivery.properties, request_id);
        match topology::publish_confirmed(publisher, "", &self.config.ready_queue, &message.enriched(&user), properties)
            .await
        {
            Ok(()) => {}
            // The channel is gone: nothing can be settled on it either.
            Err(e @ (PublishError::Amqp(_) | PublishError::Timeout(_))) => {
                tracing::warn!(error = %e, "forward failed; leaving the delivery to be redelivered");
                return Ok(Outcome::Abandoned);
            }
            Err(e) => return Err(Transient::Publish(e)),
        }
        // The forward is confirmed; from here the message must not go out again.
        if let Err(e) = self.dedup.record(request_id).await {
            tracing::error!(error = %e, request_id = %message.request_id, "forwarded but not recorded; a redelivery would forward it again");
        }
        self.breaker_success();
        Ok(Outcome::Forwarded)
    }

    /// A lookup failed. When the message's own values are at fault (the
    /// database refused one, or a row it leads to cannot be read), retrying
    /// cannot help and the database did answer: dead-letter it, and tell the
    /// breaker the database is fine. Anything else is transient.
    async fn on_database_error(
        &self,
        delivery: &Delivery,
        publisher: &Channel,
        error: DbError,
    ) -> Result<Outcome, Transient> {
        if !error.is_caller_specific() {
            return Err(error.into());
        }
        self.breaker_success();
        let reason = match error {
            DbError::Unreadable(_) => error.to_string(),
            _ => format!("{}{}", message::MALFORMED, error.shared()),
        };
        Ok(self.dead_letter(delivery, publisher, &reason).await)
    }

    async fn on_transient(&self, delivery: &Delivery, publisher: &Channel, error: Transient) -> Outcome {
        // A copy of a message in flight says nothing about the dependencies.
        let counts_for_breaker = !matches!(error, Transient::InFlight(_));
        if counts_for_breaker && self.breaker_failure() {
            // Failing fast: hand it back untouched rather than spend a retry.
            return Outcome::Requeued;
        }
        let done = message::retry_count(delivery.properties.headers().as_ref());
        match retry::decide(done, &self.config.retry_delays()) {
            RetryDecision::Retry { delay, attempt } => {
                tracing::info!(%error, attempt, ?delay, "retrying later");
                let headers = message::with_retry_count(delivery.properties.headers().as_ref(), attempt);
                let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
                let queue = self.config.retry_queue(delay);
                match topology::publish_confirmed(publisher, "", &queue, &delivery.data, properties).await {
                    Ok(()) => Outcome::Retried(attempt),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not schedule a retry");
                        Outcome::Abandoned
                    }
                }
            }
            RetryDecision::Exhausted => {
                self.dead_letter(delivery, publisher, &format!("retries exhausted: {error}")).await
            }
        }
    }

    /// Publishes the delivery to the dead-letter exchange with `reason` in a
    /// header. Not a plain `nack`: a nack dead-letters without a reason.
    async fn dead_letter(&self, delivery: &Delivery, publisher: &Channel, reason: &str) -> Outcome {
        tracing::info!(reason, "dead-lettering");
        let headers = message::with_failure_reason(delivery.properties.headers().as_ref(), reason);
        let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
        match topology::publish_confirmed(
            publisher,
            &self.config.dlx_exchange,
            &self.config.dlx_routing_key,
            &delivery.data,
            properties,
        )
        .await
        {
            Ok(()) => Outcome::DeadLettered(reason.to_owned()),
            Err(e) => {
                tracing::warn!(error = %e, "could not dead-letter");
                Outcome::Abandoned
            }
        }
    }
}

/// How often coalesced acks are sent. Each ack costs the queue's process on
/// the broker as much as a delivery; one `multiple` ack per few milliseconds
/// instead of one per message frees it for deliveries.
const ACK_FLUSH_EVERY: Duration = Duration::from_millis(5);

/// Coalesces acks on one channel. Deliveries finish out of order; an ack with
/// `multiple` may only cover a prefix of delivery tags that are all settled,
/// so this tracks the lowest unsettled tag and the highest ackable one below it.
pub struct AckLine {
    state: Mutex<AckState>,
}

struct AckState {
    /// Lowest delivery tag not settled yet.
    next: u64,
    /// Settled tags above `next`, and whether each wants an ack (false: it
    /// was nacked already, and an ack naming it would be an unknown tag).
    done: std::collections::BTreeMap<u64, bool>,
    /// Highest ackable tag of the settled prefix, not acked yet.
    flushable: Option<u64>,
}

impl AckLine {
    pub fn new(first_tag: u64) -> Self {
        Self { state: Mutex::new(AckState { next: first_tag, done: Default::default(), flushable: None }) }
    }

    /// Marks `tag` settled; `ack` when it should be acked (not nacked).
    pub fn complete(&self, tag: u64, ack: bool) {
        let mut s = lock(&self.state);
        s.done.insert(tag, ack);
        loop {
            let next = s.next;
            let Some(ackable) = s.done.remove(&next) else { break };
            if ackable {
                s.flushable = Some(next);
            }
            s.next += 1;
        }
    }

    /// The tag to ack with `multiple`, if any became ackable since last time.
    pub fn take_flushable(&self) -> Option<u64> {
        lock(&self.state).flushable.take()
    }
}

/// The message a panic was raised with, when it is text (it almost always is).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a non-text panic payload"
    }
}

/// Properties of a forwarded message: persistent JSON, keeping the original's
/// priority and correlation id, with the request_id as message_id. The one
/// case the dedup record cannot cover (the link dies after the broker took a
/// forward but before its confirm came back) yields a second copy with the
/// same message_id, which the push service can drop.
fn forwarded_properties(original: &BasicProperties, request_id: &str) -> BasicProperties {
    let mut p = topology::json_properties().with_message_id(request_id.into());
    if let Some(priority) = original.priority() {
        p = p.with_priority(*priority);
    }
    if let Some(id) = original.correlation_id() {
        p = p.with_correlation_id(id.clone());
    }
    p
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

#[cfg(test)]
mod tests {
    use super::AckLine;

    #[test]
    fn acks_only_a_settled_prefix() {
        let line = AckLine::new(1);
        line.complete(2, true);
        line.complete(3, true);
        assert_eq!(line.take_flushable(), None, "tag 1 is still being processed");
        line.complete(1, true);
        assert_eq!(line.take_flushable(), Some(3));
        assert_eq!(line.take_flushable(), None, "already taken");
    }

    #[test]
    fn never_names_a_nacked_tag() {
        let line = AckLine::new(5);
        line.complete(5, true);
        line.complete(6, false);
        assert_eq!(line.take_flushable(), Some(5));
        line.complete(7, false);
        assert_eq!(line.take_flushable(), None, "only nacked tags since");
        line.complete(8, true);
        assert_eq!(line.take_flushable(), Some(8));
    }
}
