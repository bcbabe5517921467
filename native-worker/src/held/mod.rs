//! Messages held for the user's quiet hours (`held_messages`, migration V9).
//!
//! - [`hold`]: the consumer writes a message down instead of forwarding it,
//!   with the instant its quiet hours end (`release_at`), before acking it.
//! - [`Releaser`]: every `HELD_RELEASE_INTERVAL_MS`, the messages due are
//!   published back to push.queue, as they came (body, priority, headers;
//!   [`properties`]), with confirms. One transaction per round claims the
//!   rows (`FOR UPDATE SKIP LOCKED`, so several workers release each row
//!   once) and deletes them, puts back those the broker did not confirm,
//!   and commits only after the confirms: a row is gone only once its
//!   message is safely on push.queue. A crash between the confirms and the
//!   commit publishes a row again on the next round; the copy is then a
//!   duplicate to the dedup record (a forward records its request_id) and
//!   is not forwarded twice.
//!
//! Back on push.queue, a released message is decided again like any other,
//! with the preferences of that moment: skipped if the user muted it
//! meanwhile, forwarded, or held anew if quiet hours still apply. It
//! carries `x-held-until` (the end of the window it was held for, set when
//! it was held) so that, once that end is reached, it is not held again for
//! the same window however the clocks of the workers differ
//! (`UserRecord::decide`). The components set `release_at = now()` on a
//! user's rows whenever the user's preferences change: such an early
//! release is decided under the new preferences.
//!
//! **Clock.** `release_at` is computed by the worker that holds a message,
//! from its own clock, and the releaser compares it with its own clock too
//! (`release_at <= $1`, not PostgreSQL's `now()`): one kind of clock on both
//! sides. The components' early release writes PostgreSQL's `now()`; a
//! worker whose clock is behind the database's by some seconds releases
//! those rows that much later.

mod properties;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;

pub use properties::{from_json as restored_properties, to_json as stored_properties};

use crate::db::{DbError, column, timed};
use crate::metrics::Metrics;
use crate::topology::{self, Paused, PublishError};

/// A message to hold, and what the decision to hold it was taken on.
#[derive(Debug, Clone, Copy)]
pub struct Hold<'a> {
    pub user: uuid::Uuid,
    pub request_id: &'a str,
    pub category: &'a str,
    /// The delivery's body, byte for byte.
    pub body: &'a [u8],
    /// The delivery's properties ([`stored_properties`]).
    pub properties: &'a serde_json::Value,
    pub release_at: DateTime<Utc>,
    /// The `xmin` of the preferences row the decision was taken on
    /// (`user_cache::preferences_version`).
    pub preferences_version: &'a str,
}

/// What [`hold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Written down, to be released at this instant.
    Stored(DateTime<Utc>),
    /// A row with this request_id was there already (a redelivery of a
    /// message whose hold committed, or a copy sent twice): nothing written;
    /// its release time, when it could be read.
    AlreadyHeld(Option<DateTime<Utc>>),
    /// The user's preferences changed since they were read (or the user is
    /// gone): nothing written; decide again on a fresh read.
    Stale,
}

/// Writes `hold` into `held_messages`, only if the user's preferences row is
/// still the version the decision was taken on. The row is read `FOR SHARE`:
/// a change being committed is waited for and then seen (the check fails),
/// so a message is not held until morning under quiet hours the user just
/// turned off, whose early release (the components' `UPDATE held_messages`)
/// would have come before this row existed. A decision taken on a cached
/// record the components had not yet invalidated is caught the same way.
///
/// One interleaving is closed by the components instead: a change whose
/// statement began before this one committed, then waited on its `FOR
/// SHARE`, reads the snapshot it began with, which lacks this row. So the
/// preferences component releases the user's held rows again in a statement
/// of its own once the change is saved (`store::preferences::release_held`),
/// whose snapshot is taken after this commit.
pub async fn hold(pool: &Pool, hold: &Hold<'_>) -> Result<Held, DbError> {
    let client = timed("held_messages.hold", pool.get()).await?;
    let stmt = timed(
        "held_messages.hold",
        client.prepare_cached(
            "WITH current AS ( \
                 SELECT p.xmin::text = $7::text AS same \
                 FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
                 WHERE u.id = $1::uuid \
                 FOR SHARE OF p \
             ), \
             held AS ( \
                 INSERT INTO held_messages (user_id, request_id, category, body, properties, release_at) \
                 SELECT $1::uuid, $2::text, $3::text, $4::bytea, $5::jsonb, $6::timestamptz FROM current WHERE same \
                 ON CONFLICT (request_id) DO NOTHING \
                 RETURNING release_at \
             ) \
             SELECT coalesce((SELECT same FROM current), false), \
                    (SELECT release_at FROM held), \
                    (SELECT release_at FROM held_messages WHERE request_id = $2::text)",
        ),
    )
    .await?;
    let row = timed(
        "held_messages.hold",
        client.query_one(
            &stmt,
            &[
                &hold.user,
                &hold.request_id,
                &hold.category,
                &hold.body,
                hold.properties,
                &hold.release_at,
                &hold.preferences_version,
            ],
        ),
    )
    .await?;
    let same: bool = column(&row, 0)?;
    let stored: Option<DateTime<Utc>> = column(&row, 1)?;
    let existing: Option<DateTime<Utc>> = column(&row, 2)?;
    Ok(match (same, stored) {
        (false, _) => Held::Stale,
        (true, Some(at)) => Held::Stored(at),
        (true, None) => Held::AlreadyHeld(existing),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the connection to the broker is gone")]
    ConnectionLost,
}

/// What one round of releases did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseReport {
    pub claimed: usize,
    /// Confirmed on push.queue, and their rows deleted.
    pub released: usize,
    /// Refused or unconfirmed: their rows stay, for the next round.
    pub failed: usize,
}

/// Publishes held messages back to push.queue when they are due.
pub struct Releaser {
    pub pool: Pool,
    pub push_queue: String,
    /// Pause between rounds when nothing (or not a full batch) was due.
    pub interval: Duration,
    /// Rows claimed per transaction.
    pub batch: i64,
    pub metrics: Arc<Metrics>,
}

impl Releaser {
    /// Releases until shutdown (Ok) or until the broker connection fails
    /// (Err). A database outage only pauses it: the pool reconnects.
    pub async fn run(&self, conn: &Connection, shutdown: CancellationToken) -> Result<(), ReleaseError> {
        let channel = topology::confirm_channel(conn).await?;
        // Idle rounds publish nothing and would not notice a dead link.
        let mut liveness = tokio::time::interval(Duration::from_millis(100));
        loop {
            let wait = match self.release_due(&channel).await {
                Ok(report) if report.claimed as i64 >= self.batch && report.failed == 0 => Duration::ZERO,
                Ok(_) => self.interval,
                Err(ReleaseError::Database(e)) => {
                    tracing::warn!(error = %e, "cannot release held messages: the database does not answer");
                    self.interval
                }
                Err(e) => return Err(e),
            };
            match topology::pause(conn, &channel, wait, &mut liveness, &shutdown).await {
                Paused::Elapsed => {}
                Paused::Shutdown => break,
                Paused::ConnectionLost => return Err(ReleaseError::ConnectionLost),
            }
        }
        topology::close_channel(&channel, "shutdown").await;
        Ok(())
    }

    /// One round: takes the rows due by this worker's clock, publishes
    /// them, puts back those the broker did not confirm, commits.
    ///
    /// The rows are deleted as they are claimed, in the transaction, not
    /// after the confirms: a released message may reach a consumer before
    /// its confirm reaches us, and be held anew there. Its `INSERT … ON
    /// CONFLICT` then finds our uncommitted delete and waits for the commit
    /// (and inserts), where a row still in place would have made it a
    /// duplicate of the row about to go, and the message would be lost.
    pub async fn release_due(&self, channel: &Channel) -> Result<ReleaseReport, ReleaseError> {
        let now = Utc::now();
        let mut client = timed("held_messages.begin", self.pool.get()).await?;
        let tx = timed("held_messages.begin", client.transaction()).await?;
        let rows = timed(
            "held_messages.claim",
            tx.query(
                "DELETE FROM held_messages WHERE id IN ( \
                     SELECT id FROM held_messages WHERE release_at <= $1 \
                     ORDER BY release_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, user_id, request_id, category, body, properties, held_at, release_at",
                &[&now, &self.batch.max(1)],
            ),
        )
        .await?;
        let mut claimed = rows.iter().map(Claimed::read).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| (c.release_at, c.id));
        let mut report = ReleaseReport { claimed: claimed.len(), ..Default::default() };
        if claimed.is_empty() {
            return Ok(report);
        }
        // Publish the whole batch, then wait: confirms are pipelined.
        let mut pending = Vec::with_capacity(claimed.len());
        let mut broken = None;
        for (index, row) in claimed.iter().enumerate() {
            let published = channel
                .basic_publish(
                    "".into(),
                    self.push_queue.as_str().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &row.body,
                    restored_properties(&row.properties),
                )
                .await;
            match published {
                Ok(confirm) => pending.push((index, confirm)),
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        let mut confirmed = vec![false; claimed.len()];
        for (index, confirm) in pending {
            let result = match tokio::time::timeout(topology::CONFIRM_TIMEOUT, confirm).await {
                Ok(confirm) => confirm.map_err(PublishError::from).and_then(topology::check_confirmation),
                Err(_) => Err(PublishError::Timeout("confirm")),
            };
            match result {
                Ok(()) => confirmed[index] = true,
                Err(e) => {
                    tracing::warn!(id = claimed[index].id, error = %e, "a held message was not released; kept for the next round")
                }
            }
        }
        for row in claimed.iter().zip(&confirmed).filter(|(_, ok)| !**ok).map(|(row, _)| row) {
            row.put_back(&tx).await?;
        }
        timed("held_messages.commit", tx.commit()).await?;
        report.released = confirmed.iter().filter(|ok| **ok).count();
        report.failed = report.claimed - report.released;
        self.metrics.held_released.inc_by(report.released as u64);
        self.metrics.held_release_failures.inc_by(report.failed as u64);
        if report.released > 0 {
            tracing::info!(released = report.released, "held messages released to push.queue");
        }
        match broken {
            Some(e) => Err(e.into()),
            None => Ok(report),
        }
    }
}

/// A row taken for release, whole, so it can be put back as it was.
struct Claimed {
    id: i64,
    user_id: uuid::Uuid,
    request_id: String,
    category: String,
    body: Vec<u8>,
    properties: serde_json::Value,
    held_at: DateTime<Utc>,
    release_at: DateTime<Utc>,
}

impl Claimed {
    fn read(row: &tokio_postgres::Row) -> Result<Self, DbError> {
        Ok(Self {
            id: column(row, 0)?,
            user_id: column(row, 1)?,
            request_id: column(row, 2)?,
            category: column(row, 3)?,
            body: column(row, 4)?,
            properties: column(row, 5)?,
            held_at: column(row, 6)?,
            release_at: column(row, 7)?,
        })
    }

    /// Writes the row back, in the transaction that deleted it: its release
    /// was not confirmed. Should the message have reached push.queue all the
    /// same, its consumer's hold (if any) waits for this commit and finds
    /// this row: the message is then released again next round, and the
    /// dedup record keeps it from being forwarded twice.
    async fn put_back(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<(), DbError> {
        timed(
            "held_messages.put_back",
            tx.execute(
                "INSERT INTO held_messages (id, user_id, request_id, category, body, properties, held_at, release_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &self.id,
                    &self.user_id,
                    &self.request_id,
                    &self.category,
                    &self.body,
                    &self.properties,
                    &self.held_at,
                    &self.release_at,
                ],
            ),
        )
        .await?;
        Ok(())
    }
}
