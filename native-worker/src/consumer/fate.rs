//! What happens to one delivery: it is parsed, its category checked,
//! checked against the dedup record, enriched and forwarded, skipped, held
//! for quiet hours (`hold.rs`), retried, dead-lettered or handed back, then
//! settled (acked, or nacked to requeue). A [`Processor`] holds everything
//! a delivery's task needs; [`Processor::handle`] is the whole of one
//! delivery's fate, panics included.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use deadpool_postgres::Pool;
use futures_util::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{BasicProperties, Channel};
use tracing::Instrument;
use user_domain::preferences::CategoryConfig;

use super::acks::AckLine;
use super::lock::lock;
use super::status;
use crate::breaker::{Breaker, Clock, Permit};
use crate::config::Config;
use crate::db::DbError;
use crate::dedup::Dedup;
use crate::enrich::{Enricher, Read};
use crate::hooks::Hooks;
use crate::message::{self, PushMessage};
use crate::metrics::Metrics;
use crate::retry::{self, RetryDecision};
use crate::topology::{self, PublishError};
use crate::user_record::Decision;

/// Decisions to hold a message taken on a read that turned out stale, before
/// the message is retried later: preferences changing that often are rare.
const STALE_DECISIONS: u32 = 3;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    Skipped(&'static str),
    /// Written into `held_messages` for the user's quiet hours.
    Held,
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
pub(super) enum Transient {
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("publish: {0}")]
    Publish(PublishError),
    #[error("request {0} is being processed by another delivery")]
    InFlight(String),
    #[error("the user's preferences changed while a hold was decided, {STALE_DECISIONS} times")]
    PreferencesChanging,
}

/// Everything a delivery's task needs, shared by all of them.
pub struct Processor<C: Clock = crate::breaker::SystemClock> {
    pub config: Config,
    /// The configured categories (`NOTIFICATION_CATEGORIES` and its two
    /// subsets), parsed once at start.
    pub categories: CategoryConfig,
    pub enricher: Enricher,
    /// Where held messages are written (`held_messages`).
    pub pool: Pool,
    pub dedup: Dedup,
    pub breaker: Mutex<Breaker<C>>,
    pub metrics: Arc<Metrics>,
    /// request_ids being processed right now, so two copies of one message
    /// held at the same time cannot both pass the dedup check.
    in_flight: Mutex<HashSet<String>>,
    /// Test hooks; all empty in production.
    hooks: Hooks,
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
    pub fn new(
        config: Config,
        categories: CategoryConfig,
        enricher: Enricher,
        pool: Pool,
        dedup: Dedup,
        breaker: Breaker<C>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            config,
            categories,
            enricher,
            pool,
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

    /// Asks the breaker whether a delivery may go ahead, and shows its state.
    pub(super) fn permit(&self) -> Permit {
        let mut b = lock(&self.breaker);
        let p = b.permit();
        self.metrics.breaker_state.set(b.state().gauge());
        p
    }

    pub(super) fn breaker_success(&self) {
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
        // One span per delivery, continuing the trace the message came with
        // (exported only when a collector is configured: `telemetry`).
        // Its trace, span and correlation ids are in every log line written
        // for the delivery (`LOG_FORMAT=json`: under `span`); the span id
        // only while spans are exported.
        let trace = message::trace_of(delivery.properties.headers().as_ref(), &delivery.data);
        let span = tracing::info_span!(
            "push.consume",
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.destination.name = %self.config.push_queue,
            trace_id = %trace.trace_id(),
            span_id = tracing::field::Empty,
            correlation_id = delivery.properties.correlation_id().as_ref().map(|id| id.as_str()),
            outcome = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, trace);
        if let Some(own) = telemetry::traceparent_of(&span) {
            span.record("span_id", own.parent_id());
        }
        let outcome = self.handle_in_span(delivery, publisher, acks).instrument(span.clone()).await;
        span.record("outcome", tracing::field::debug(&outcome));
        outcome
    }

    async fn handle_in_span(&self, delivery: Delivery, publisher: &Channel, acks: Option<&AckLine>) -> Outcome {
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
            Outcome::Held => self.metrics.held.inc(),
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
        if let Some(reason) = message.unknown_category(&self.categories) {
            return Ok(self.dead_letter(delivery, publisher, &reason).await);
        }
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
        let released_for = message::held_until(delivery.properties.headers().as_ref());
        let mut read = Read::CacheFirst;
        let mut stale = 0;
        let user = loop {
            let lookup = tracing::info_span!("user.lookup", user_id = %message.user_id, source = tracing::field::Empty);
            let found = match self.enricher.lookup_versioned(message.user_id, read).instrument(lookup.clone()).await {
                Ok(found) => found,
                Err(e) => return self.on_database_error(delivery, publisher, e).await,
            };
            if let Some((_, source)) = &found {
                lookup.record("source", tracing::field::debug(source));
            }
            let Some((found, _source)) = found else {
                self.breaker_success();
                return Ok(self.dead_letter(delivery, publisher, &format!("unknown user {}", message.user_id)).await);
            };
            let now = chrono::Utc::now();
            match found.record.decide(&message.category, now, released_for, &self.categories) {
                Decision::Forward => break found.record,
                Decision::Skip(reason) => {
                    if !self.publish_status(publisher, delivery, &status::skipped(&message, reason)).await? {
                        return Ok(Outcome::Abandoned);
                    }
                    self.breaker_success();
                    return Ok(Outcome::Skipped(reason.as_str()));
                }
                Decision::Hold(release_at) => {
                    if let Some(outcome) = self.hold(delivery, publisher, &message, &found, release_at).await? {
                        return Ok(outcome);
                    }
                    // Decided on preferences that changed meanwhile: the
                    // database's word, not a cache entry about to go.
                    stale += 1;
                    if stale >= STALE_DECISIONS {
                        return Err(Transient::PreferencesChanging);
                    }
                    read = Read::Database;
                }
            }
        };
        let properties = forwarded_properties(delivery, request_id);
        let enriched = message.enriched(&user, &self.categories);
        let publish = tracing::info_span!("push.publish", messaging.destination.name = %self.config.ready_queue);
        match topology::publish_confirmed(publisher, "", &self.config.ready_queue, &enriched, properties)
            .instrument(publish)
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

    /// Publishes a status event ([`status`]) about `delivery`, in its trace,
    /// and waits for its confirm. False when the channel is gone: the
    /// delivery can be settled on it no more, and is left to be redelivered.
    pub(super) async fn publish_status(
        &self,
        publisher: &Channel,
        delivery: &Delivery,
        event: &serde_json::Value,
    ) -> Result<bool, Transient> {
        let body = serde_json::to_vec(event).expect("json");
        let properties = topology::json_properties().with_headers(message::with_trace(None, outgoing_trace(delivery)));
        match topology::publish_confirmed(publisher, "", &self.config.status_queue, &body, properties).await {
            Ok(()) => Ok(true),
            Err(e @ (PublishError::Amqp(_) | PublishError::Timeout(_))) => {
                tracing::warn!(error = %e, "status event failed; leaving the delivery to be redelivered");
                Ok(false)
            }
            Err(e) => Err(Transient::Publish(e)),
        }
    }

    /// A lookup failed. When the message's own values are at fault (the
    /// database refused one, or a row it leads to cannot be read), retrying
    /// cannot help and the database did answer: dead-letter it, and tell the
    /// breaker the database is fine. Anything else is transient.
    pub(super) async fn on_database_error(
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
        // Nor do preferences that keep changing under a hold.
        let counts_for_breaker = !matches!(error, Transient::InFlight(_) | Transient::PreferencesChanging);
        if counts_for_breaker && self.breaker_failure() {
            // Failing fast: hand it back untouched rather than spend a retry.
            return Outcome::Requeued;
        }
        let done = message::retry_count(delivery.properties.headers().as_ref());
        match retry::decide(done, &self.config.retry_delays()) {
            RetryDecision::Retry { delay, attempt } => {
                tracing::info!(%error, attempt, ?delay, "retrying later");
                let headers = message::with_retry_count(Some(&traced_headers(delivery)), attempt);
                let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
                let queue = self.config.retry_queue(delay);
                let span = tracing::info_span!("push.retry", attempt, messaging.destination.name = %queue);
                match topology::publish_confirmed(publisher, "", &queue, &delivery.data, properties)
                    .instrument(span)
                    .await
                {
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
        let headers = message::with_failure_reason(Some(&traced_headers(delivery)), reason);
        let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
        let span = tracing::info_span!("push.dead_letter", reason);
        match topology::publish_confirmed(
            publisher,
            &self.config.dlx_exchange,
            &self.config.dlx_routing_key,
            &delivery.data,
            properties,
        )
        .instrument(span)
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

/// The message a panic was raised with, when it is text (it almost always is).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a non-text panic payload"
    }
}

/// The trace to send on for `delivery`: the current span's when spans are
/// exported (so the next hop is its child), else the one the delivery came
/// with (or the one derived for it: `message::trace_of`).
pub(super) fn outgoing_trace(delivery: &Delivery) -> user_domain::trace_context::TraceParent {
    telemetry::traceparent_of(&tracing::Span::current())
        .unwrap_or_else(|| message::trace_of(delivery.properties.headers().as_ref(), &delivery.data))
}

/// The delivery's headers, with [`outgoing_trace`] as `traceparent`.
pub(super) fn traced_headers(delivery: &Delivery) -> lapin::types::FieldTable {
    message::with_trace(delivery.properties.headers().as_ref(), outgoing_trace(delivery))
}

/// Properties of a forwarded message: persistent JSON, keeping the original's
/// priority, correlation id and trace, with the request_id as message_id. The one
/// case the dedup record cannot cover (the link dies after the broker took a
/// forward but before its confirm came back) yields a second copy with the
/// same message_id, which the push service can drop.
fn forwarded_properties(delivery: &Delivery, request_id: &str) -> BasicProperties {
    let original = &delivery.properties;
    let trace = outgoing_trace(delivery);
    let mut p =
        topology::json_properties().with_message_id(request_id.into()).with_headers(message::with_trace(None, trace));
    if let Some(priority) = original.priority() {
        p = p.with_priority(*priority);
    }
    if let Some(id) = original.correlation_id() {
        p = p.with_correlation_id(id.clone());
    }
    p
}
