//! The outbox relay. Components cannot speak AMQP (Wasm), so they write
//! events into `outbox` in the same transaction as the change that causes
//! them; this relay publishes pending rows in id order, with confirms, and
//! marks them published.
//!
//! Several workers may relay at once: each claims a batch with
//! `FOR UPDATE SKIP LOCKED`, so no row is published by two of them. A row
//! whose publish fails stays pending, with `attempts` and `last_error` telling
//! an operator why. A row is marked only after its confirm, so a crash can
//! publish a row twice but never lose one; `message_id` is the row's
//! `event_id` for consumers to recognise a repeat.
//!
//! A row that can never be published as it stands (see [`crate::outbox`]) is
//! quarantined, so it cannot stop the rows behind it. A published row keeps
//! no secrets (its `variables` tokens are nulled as it is marked) and is
//! deleted after the retention period (`OUTBOX_RETENTION_HOURS`).

use std::sync::Arc;
use tracing::Instrument;

use deadpool_postgres::Pool;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;

use crate::db::{DbError, timed};
use crate::metrics::Metrics;
use crate::outbox;
use crate::topology::{self, Paused, PublishError};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the connection to the broker is gone")]
    ConnectionLost,
}

pub struct Relay {
    pub pool: Pool,
    /// Rows claimed per transaction.
    pub batch_size: i64,
    /// Pause between polls of an empty (or failing) outbox.
    pub interval: std::time::Duration,
    /// How long published (and quarantined) rows are kept before [`Relay::purge`] deletes them.
    pub retention: std::time::Duration,
    /// How long audit events are kept (zero: forever).
    pub audit_retention: std::time::Duration,
    pub metrics: Arc<Metrics>,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub published: usize,
    pub failed: usize,
    pub quarantined: usize,
}

impl Relay {
    /// Relays until shutdown (Ok) or until the broker connection fails (Err).
    /// A database outage only pauses it: the pool reconnects by itself.
    pub async fn run(&self, conn: &Connection, shutdown: CancellationToken) -> Result<(), RelayError> {
        let channel = topology::confirm_channel(conn).await?;
        // An idle relay publishes nothing and would not notice a dead link.
        let mut liveness = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            let wait = match self.relay_batch(&channel).await {
                // A full batch suggests more are waiting: go again at once.
                Ok(report) if report.claimed as i64 >= self.batch_size && report.failed == 0 => {
                    std::time::Duration::ZERO
                }
                Ok(_) => self.interval,
                Err(RelayError::Database(e)) => {
                    tracing::warn!(error = %e, "outbox relay cannot reach the database");
                    self.interval
                }
                Err(e) => return Err(e),
            };
            match topology::pause(conn, &channel, wait, &mut liveness, &shutdown).await {
                Paused::Elapsed => {}
                Paused::Shutdown => break,
                Paused::ConnectionLost => return Err(RelayError::ConnectionLost),
            }
        }
        topology::close_channel(&channel, "shutdown").await;
        Ok(())
    }

    /// Claims, publishes and marks one batch, in one transaction. A row that
    /// cannot be published as it stands is quarantined, and the rest go on.
    pub async fn relay_batch(&self, channel: &Channel) -> Result<BatchReport, RelayError> {
        let mut client = timed("outbox.begin", self.pool.get()).await?;
        let tx = timed("outbox.begin", client.transaction()).await?;
        let claimed = outbox::claim(&tx, self.batch_size).await?;
        let mut report = BatchReport { claimed: claimed.len(), ..Default::default() };
        if claimed.is_empty() {
            return Ok(report);
        }
        // Publish the whole batch before waiting: confirms are pipelined, so a
        // batch costs one round trip rather than one per row.
        let mut pending = Vec::with_capacity(claimed.len());
        let mut quarantined: Vec<(i64, String)> = Vec::new();
        let mut broken: Option<lapin::Error> = None;
        for row in &claimed {
            let event = match &row.event {
                Ok(event) => event,
                Err(unusable) => {
                    tracing::error!(id = row.id, error = %unusable, "outbox row quarantined");
                    quarantined.push((row.id, unusable.to_string()));
                    continue;
                }
            };
            let mut properties = topology::json_properties()
                .with_priority(event.priority)
                .with_message_id(event.event_id.to_string().into());
            // In the trace of the request that wrote the row: a span of the
            // relay's when spans are exported (the message is its child),
            // else the request's own context.
            let span = tracing::info_span!(
                "outbox.publish",
                otel.kind = "producer",
                messaging.destination.name = %event.routing_key,
                outbox_id = row.id,
            );
            if let Some(trace) = event.traceparent {
                telemetry::continue_trace(&span, trace);
                let sent = telemetry::traceparent_of(&span).unwrap_or(trace);
                properties = properties.with_headers(crate::message::with_trace(None, sent));
            }
            match channel
                .basic_publish(
                    event.exchange.as_str().into(),
                    event.routing_key.as_str().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &event.body,
                    properties,
                )
                .instrument(span)
                .await
            {
                Ok(confirm) => pending.push((row.id, confirm)),
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        let mut published = Vec::new();
        let mut failed: Vec<(i64, String)> = Vec::new();
        for (id, confirm) in pending {
            match confirm.await.map_err(PublishError::from).and_then(topology::check_confirmation) {
                Ok(()) => published.push(id),
                Err(e) => failed.push((id, e.to_string())),
            }
        }
        if let Some(e) = &broken {
            // Rows never handed to the broker stay pending, with the reason.
            let settled: std::collections::HashSet<i64> = published
                .iter()
                .copied()
                .chain(failed.iter().map(|(id, _)| *id))
                .chain(quarantined.iter().map(|(id, _)| *id))
                .collect();
            let unsent = claimed.iter().map(|r| r.id).filter(|id| !settled.contains(id));
            failed.extend(unsent.map(|id| (id, e.to_string())).collect::<Vec<_>>());
        }
        if !published.is_empty() {
            outbox::mark_published(&tx, &published).await?;
        }
        for (id, error) in &failed {
            outbox::mark_failed(&tx, *id, error).await?;
        }
        for (id, error) in &quarantined {
            outbox::quarantine(&tx, *id, error).await?;
        }
        timed("outbox.commit", tx.commit()).await?;
        report.published = published.len();
        report.failed = failed.len();
        report.quarantined = quarantined.len();
        self.metrics.relayed.inc_by(report.published as u64);
        self.metrics.relay_failures.inc_by(report.failed as u64);
        self.metrics.quarantined.inc_by(report.quarantined as u64);
        if let Some(e) = broken {
            return Err(e.into());
        }
        Ok(report)
    }

    /// Deletes outbox rows and audit events past their retention periods;
    /// returns how many outbox rows.
    pub async fn purge(&self) -> Result<u64, DbError> {
        let client = timed("outbox.purge", self.pool.get()).await?;
        let purged = outbox::purge(&client, self.retention).await?;
        self.metrics.outbox_purged.inc_by(purged);
        let audited = outbox::purge_audit(&client, self.audit_retention).await?;
        if audited > 0 {
            tracing::info!(purged = audited, "audit events past retention purged");
        }
        Ok(purged)
    }
}
