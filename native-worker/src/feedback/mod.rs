//! The device feedback consumer. The push service reports on the feedback
//! queue (`FEEDBACK_QUEUE`, `device.feedback`) each token FCM or APNs
//! refused, as `{user_id, token, reason}`; the worker retires that device so
//! the next enrichment leaves it out.
//!
//! For each report, in order:
//! - a body over `MAX_MESSAGE_BYTES`, or one that is not a report
//!   ([`Report::parse`]), is dead-lettered with `x-failure-reason` (`too
//!   large: …`, `malformed: …`), counted, never retried;
//! - otherwise the user's active device with that token is retired, with its
//!   audit event and outbox copy, in one statement ([`crate::devices`]);
//!   then the user's cached records are dropped ([`user_cache::invalidate`]),
//!   as the components do after a change. A report naming no active device
//!   of that user is acked and counted as ignored (one naming a device
//!   already retired drops the cached records again: it may be the
//!   redelivery of a report whose invalidation was lost);
//! - a database failure that is not the report's fault is tried again in
//!   place, with backoff, until it succeeds or the worker stops (the report
//!   is then handed back): an outage pauses retirements and loses none.
//!
//! Reports are few and each is one statement, so they are taken one at a
//! time on a channel of their own, beside the push consumer, on the same
//! connection and session ([`crate::worker`]).

mod report;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;
use user_domain::UserId;

pub use report::{MAX_REASON_CHARS, Report, ReportError};

use crate::backoff::Backoff;
use crate::cache::Cache;
use crate::config::Config;
use crate::consumer::panic_message;
use crate::db::DbError;
use crate::devices::{self, Retire, Retirement};
use crate::message::{self, MALFORMED, TOO_LARGE};
use crate::metrics::Metrics;
use crate::topology::{self, PublishError};
use crate::user_cache;

/// Reports the broker may hand over ahead of the one being processed.
const PREFETCH: u16 = 32;

/// Waits between attempts at a report while the database fails.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Attempts at dropping the cached records after a retirement (Redis is
/// allowed to be down; the entry then expires on its own).
const INVALIDATE_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker ended the feedback consumer")]
    ConsumerEnded,
    #[error("the connection to the broker is gone")]
    ConnectionLost,
}

/// What to do with one report once it was looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Retired or ignored: ack it.
    Done,
    /// Dead-letter it with this reason, then ack it.
    Refuse(String),
    /// The worker is stopping while the report waits for the database:
    /// leave it unacked; closing the channel hands it back.
    HandBack,
}

/// Everything the feedback consumer needs.
pub struct FeedbackConsumer {
    pub config: Config,
    pub pool: Pool,
    /// Where the retired user's cached records are dropped.
    pub cache: Arc<Cache>,
    pub metrics: Arc<Metrics>,
}

impl FeedbackConsumer {
    /// Consumes the feedback queue on `conn` until shutdown (Ok) or until
    /// the connection fails (Err; the caller reconnects).
    pub async fn run(&self, conn: &Connection, shutdown: CancellationToken) -> Result<(), FeedbackError> {
        let publisher = topology::confirm_channel(conn).await?;
        let consume = conn.create_channel().await?;
        consume.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let tag = format!("native-worker-feedback-{}", uuid::Uuid::new_v4());
        let mut deliveries = consume
            .basic_consume(
                self.config.feedback_queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // As in the push consumer: the stream does not always end when the
        // socket dies, so the connection itself is watched too.
        let mut liveness = tokio::time::interval(Duration::from_millis(100));
        let stopped = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break Ok(()),
                _ = liveness.tick() => {
                    if !(conn.status().connected() && consume.status().connected() && publisher.status().connected()) {
                        break Err(FeedbackError::ConnectionLost);
                    }
                }
                next = deliveries.next() => match next {
                    None => break Err(FeedbackError::ConsumerEnded),
                    Some(Err(e)) => break Err(e.into()),
                    Some(Ok(delivery)) => {
                        if let Err(e) = self.handle(&delivery, &publisher, &shutdown).await {
                            break Err(e);
                        }
                    }
                },
            }
        };
        // Reports taken but not started go back to the queue with the channel.
        topology::close_channel(&consume, "feedback consumer stopping").await;
        topology::close_channel(&publisher, "feedback consumer stopping").await;
        stopped
    }

    /// Processes one report to the end: acked, dead-lettered, or (on
    /// shutdown) left for the broker. An error means the channel is gone.
    async fn handle(
        &self,
        delivery: &Delivery,
        publisher: &Channel,
        shutdown: &CancellationToken,
    ) -> Result<(), FeedbackError> {
        let decision = match AssertUnwindSafe(self.process(delivery, shutdown)).catch_unwind().await {
            Ok(decision) => decision,
            Err(panic) => {
                self.metrics.panics.inc();
                let reason = format!("panicked: {}", panic_message(panic.as_ref()));
                tracing::error!(%reason, "a feedback report's processing panicked; dead-lettering it");
                Decision::Refuse(reason)
            }
        };
        match decision {
            Decision::HandBack => return Ok(()),
            Decision::Refuse(reason) => {
                if !self.dead_letter(delivery, publisher, &reason).await? {
                    return Ok(());
                }
            }
            Decision::Done => {}
        }
        // On a dead connection lapin can hang here; bound it like a confirm.
        match tokio::time::timeout(topology::CONFIRM_TIMEOUT, delivery.ack(BasicAckOptions::default())).await {
            Ok(acked) => acked.map(drop).map_err(Into::into),
            Err(_) => Err(FeedbackError::ConnectionLost),
        }
    }

    async fn process(&self, delivery: &Delivery, shutdown: &CancellationToken) -> Decision {
        let size = delivery.data.len();
        if size > self.config.max_message_bytes {
            self.metrics.feedback_malformed.inc();
            return Decision::Refuse(format!(
                "{TOO_LARGE}{size} bytes, over the limit of {}",
                self.config.max_message_bytes
            ));
        }
        let report = match Report::parse(&delivery.data) {
            Ok(report) => report,
            Err(e) => {
                self.metrics.feedback_malformed.inc();
                return Decision::Refuse(format!("{MALFORMED}{e}"));
            }
        };
        let retire = Retire {
            user: report.user_id,
            token: &report.token,
            reason: report.reason.as_deref(),
            correlation_id: correlation_id(delivery),
            audit_queue: &self.config.audit_queue,
        };
        let mut backoff = Backoff::new(RETRY_FIRST, RETRY_MAX);
        let retirement = loop {
            match devices::retire(&self.pool, &retire).await {
                Ok(retirement) => break retirement,
                // The report's own values: trying again cannot help.
                Err(e) if e.is_caller_specific() => {
                    self.metrics.feedback_malformed.inc();
                    return Decision::Refuse(match e {
                        DbError::Unreadable(_) => e.to_string(),
                        _ => format!("{MALFORMED}{}", e.shared()),
                    });
                }
                Err(e) => {
                    self.metrics.feedback_failures.inc();
                    let wait = backoff.next_jittered();
                    tracing::warn!(error = %e, ?wait, "cannot retire a reported device yet; trying again");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Decision::HandBack,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        };
        match retirement {
            Retirement::Retired { device } => {
                tracing::info!(%device, user = %report.user_id, reason = ?report.reason, "device retired on the push service's report");
                self.metrics.devices_retired.inc();
                self.invalidate(report.user_id).await;
            }
            Retirement::AlreadyRetired => {
                self.metrics.feedback_ignored.inc();
                self.invalidate(report.user_id).await;
            }
            Retirement::Unknown => {
                tracing::debug!(user = %report.user_id, "feedback names no device of its user");
                self.metrics.feedback_ignored.inc();
            }
        }
        Decision::Done
    }

    /// Drops the user's cached records, a few times if Redis fails.
    async fn invalidate(&self, user: UserId) {
        for attempt in 1..=INVALIDATE_ATTEMPTS {
            match user_cache::invalidate(&self.cache, user).await {
                Ok(()) => return,
                Err(e) if attempt == INVALIDATE_ATTEMPTS => {
                    tracing::error!(error = %e, %user, "a retired device's user is still cached until the entry expires");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100) * attempt).await,
            }
        }
    }

    /// Publishes the report to the dead-letter exchange with `reason` in a
    /// header. True when it went there (ack the original); false when the
    /// broker refused it and the original was rejected instead (the queue's
    /// own dead-lettering takes it, without the reason). An error means the
    /// channel is gone: the report comes back and is refused again.
    async fn dead_letter(&self, delivery: &Delivery, publisher: &Channel, reason: &str) -> Result<bool, FeedbackError> {
        tracing::info!(reason, "dead-lettering a feedback report");
        let headers = message::with_failure_reason(delivery.properties.headers().as_ref(), reason);
        let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
        let published = topology::publish_confirmed(
            publisher,
            &self.config.dlx_exchange,
            &self.config.dlx_routing_key,
            &delivery.data,
            properties,
        )
        .await;
        match published {
            Ok(()) => Ok(true),
            Err(PublishError::Nacked | PublishError::Unroutable(_)) => {
                let reject = delivery.nack(BasicNackOptions { requeue: false, ..Default::default() });
                match tokio::time::timeout(topology::CONFIRM_TIMEOUT, reject).await {
                    Ok(rejected) => rejected.map(|_| false).map_err(Into::into),
                    Err(_) => Err(FeedbackError::ConnectionLost),
                }
            }
            Err(PublishError::Amqp(e)) => Err(e.into()),
            Err(PublishError::Timeout(_)) => Err(FeedbackError::ConnectionLost),
        }
    }
}

/// The report's AMQP correlation id, for the audit event; one PostgreSQL
/// could refuse (a control character) is left out rather than failing the
/// retirement.
fn correlation_id(delivery: &Delivery) -> Option<&str> {
    let id = delivery.properties.correlation_id().as_ref()?.as_str();
    (!id.is_empty() && !id.chars().any(char::is_control)).then_some(id)
}
