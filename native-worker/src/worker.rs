//! The `run` command: wires the push consumer, the device feedback
//! consumer, the release of messages held for quiet hours, the relay and
//! the HTTP probes together and keeps them alive. The supervisor loop owns the AMQP
//! connection; when it fails, everything on it stops, and the loop reconnects
//! with backoff. PostgreSQL (pool) and Redis (connection manager) reconnect
//! on their own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::breaker::{self, Breaker, SystemClock};
use crate::cache::Cache;
use crate::config::Config;
use crate::consumer::{self, Processor};
use crate::dedup::Dedup;
use crate::enrich::Enricher;
use crate::feedback::FeedbackConsumer;
use crate::held::Releaser;
use crate::hooks::Hooks;
use crate::http::{self, Probes};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::sessions::Sessions;
use crate::topology;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error("cannot serve http: {0}")]
    Http(#[from] std::io::Error),
    #[error("invalid notification categories: {0}")]
    Categories(#[from] crate::config::CategoryConfigError),
}

/// Which parts to run; tests and the bench run only what they measure.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The consumers: push.queue's, and the device feedback queue's beside
    /// it; and the release of held messages back to push.queue.
    pub consumer: bool,
    pub relay: bool,
}

impl Default for Parts {
    fn default() -> Self {
        Self { consumer: true, relay: true }
    }
}

/// A running worker.
pub struct Worker {
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub processor: Arc<Processor<SystemClock>>,
    pub feedback: Arc<FeedbackConsumer>,
    pub releaser: Arc<Releaser>,
    pub relay: Arc<Relay>,
    pub sessions: Arc<Sessions>,
    pub probes: Arc<Probes>,
    /// Whether the last session got as far as declaring the topology.
    session_was_up: AtomicBool,
}

impl Worker {
    /// Sets everything up without connecting; must be called inside a Tokio
    /// runtime (the query batchers are tasks).
    pub fn build(config: Config) -> Result<Self, WorkerError> {
        Self::build_with_hooks(config, Hooks::default())
    }

    /// [`Worker::build`] with test hooks in the consumer and the lookup.
    pub fn build_with_hooks(config: Config, hooks: Hooks) -> Result<Self, WorkerError> {
        let categories = config.categories()?;
        let metrics = Arc::new(Metrics::default());
        let pool = crate::db::pool(&config.database_url, config.database_pool_size)?;
        let cache = Arc::new(Cache::new(&config.redis_url)?);
        let breaker = Breaker::new(
            breaker::Settings {
                failure_threshold: config.breaker_failure_threshold,
                open_for: config.breaker_open_for(),
            },
            SystemClock,
        );
        let processor = Arc::new(
            Processor::new(
                config.clone(),
                categories,
                Enricher::new(pool.clone(), cache.clone()).with_hooks(hooks.clone()),
                pool.clone(),
                Dedup::new(pool.clone(), Duration::from_secs(config.dedup_ttl_secs)),
                breaker,
                metrics.clone(),
            )
            .with_hooks(hooks),
        );
        let feedback = Arc::new(FeedbackConsumer {
            config: config.clone(),
            pool: pool.clone(),
            cache: cache.clone(),
            metrics: metrics.clone(),
        });
        let releaser = Arc::new(Releaser {
            pool: pool.clone(),
            push_queue: config.push_queue.clone(),
            interval: config.held_release_interval(),
            batch: config.held_release_batch.max(1),
            metrics: metrics.clone(),
        });
        let relay = Arc::new(Relay {
            pool: pool.clone(),
            batch_size: config.relay_batch_size.max(1),
            interval: config.relay_interval(),
            retention: config.outbox_retention(),
            audit_retention: config.audit_retention(),
            metrics: metrics.clone(),
        });
        let sessions = Arc::new(Sessions {
            pool: pool.clone(),
            cache: cache.clone(),
            access_ttl_secs: config.access_token_ttl_secs,
            retention: config.session_retention(),
        });
        let probes = Arc::new(Probes {
            metrics: metrics.clone(),
            pool,
            cache,
            amqp_connected: Arc::new(AtomicBool::new(false)),
        });
        Ok(Self {
            config,
            metrics,
            processor,
            feedback,
            releaser,
            relay,
            sessions,
            probes,
            session_was_up: AtomicBool::new(false),
        })
    }

    /// Serves the probes on `addr`; returns the bound address.
    pub async fn serve_http(&self, addr: SocketAddr, shutdown: CancellationToken) -> Result<SocketAddr, WorkerError> {
        let (bound, _task) = http::serve(addr, self.probes.clone(), shutdown).await?;
        Ok(bound)
    }

    /// Runs until `shutdown` is cancelled, reconnecting to RabbitMQ whenever
    /// the connection fails. Returns once everything held is settled.
    pub async fn run(&self, parts: Parts, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let purge = self.spawn_housekeeping(shutdown.clone());
        let marks = self.spawn_session_marks(shutdown.clone());
        while !shutdown.is_cancelled() {
            match self.session(parts, &shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    self.probes.amqp_connected.store(false, Ordering::Relaxed);
                    let wait = backoff.next_jittered();
                    tracing::warn!(error = %e, ?wait, "rabbitmq session ended; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    // A session that got as far as consuming resets the backoff.
                    if self.session_was_up.swap(false, Ordering::Relaxed) {
                        backoff.reset();
                    }
                }
            }
        }
        self.probes.amqp_connected.store(false, Ordering::Relaxed);
        purge.abort();
        marks.abort();
    }

    /// Announces recently ended sessions whose marks are missing again
    /// (`Sessions::mark_ended`), every `SESSION_MARKS_INTERVAL_MS`, whatever
    /// RabbitMQ is doing: the cached reads depend on it, not on AMQP.
    fn spawn_session_marks(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (sessions, metrics, every) =
            (self.sessions.clone(), self.metrics.clone(), self.config.session_marks_interval());
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                match sessions.mark_ended().await {
                    Ok(n) => {
                        metrics.session_marks.inc_by(n as u64);
                        if failing {
                            tracing::info!(announced = n, "ended sessions announced again");
                        }
                        failing = false;
                    }
                    Err(e) => {
                        metrics.session_mark_failures.inc();
                        if !failing {
                            tracing::warn!(error = %e, "cannot mark ended sessions; retrying");
                        }
                        failing = true;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        })
    }

    /// One AMQP connection's lifetime.
    async fn session(&self, parts: Parts, shutdown: &CancellationToken) -> Result<(), String> {
        let conn =
            topology::connect(&self.config.amqp_url, "native-worker").await.map_err(|e| format!("connect: {e}"))?;
        let setup = conn.create_channel().await.map_err(|e| e.to_string())?;
        topology::declare(&setup, &self.config).await.map_err(|e| topology::explain_declare_error(&e))?;
        topology::close_channel(&setup, "declared").await;
        self.probes.amqp_connected.store(true, Ordering::Relaxed);
        self.session_was_up.store(true, Ordering::Relaxed);
        // If one part fails, the others must stop too: they share the connection.
        let session = shutdown.child_token();
        let consumer = async {
            if !parts.consumer {
                return Ok(());
            }
            let r = consumer::run(self.processor.clone(), &conn, session.clone())
                .await
                .map_err(|e| format!("consumer: {e}"));
            session.cancel();
            r
        };
        let feedback = async {
            if !parts.consumer {
                return Ok(());
            }
            let r = self.feedback.run(&conn, session.clone()).await.map_err(|e| format!("feedback: {e}"));
            session.cancel();
            r
        };
        let release = async {
            if !parts.consumer {
                return Ok(());
            }
            let r = self.releaser.run(&conn, session.clone()).await.map_err(|e| format!("held release: {e}"));
            session.cancel();
            r
        };
        let relay = async {
            if !parts.relay {
                return Ok(());
            }
            let r = self.relay.run(&conn, session.clone()).await.map_err(|e| format!("relay: {e}"));
            session.cancel();
            r
        };
        // The readiness probe follows the connection itself, not the session,
        // which may take a moment to wind down after the link died.
        let watch = async {
            loop {
                self.probes.amqp_connected.store(conn.status().connected(), Ordering::Relaxed);
                tokio::select! {
                    _ = session.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        };
        let (c, f, h, r, ()) = tokio::join!(consumer, feedback, release, relay, watch);
        topology::close_connection(&conn, "bye").await;
        c.and(f).and(h).and(r)?;
        if shutdown.is_cancelled() { Ok(()) } else { Err("session stopped".into()) }
    }

    /// Deletes what outlived its purpose: dedup records past their TTL,
    /// outbox rows past the retention period, and old sessions, refresh
    /// tokens and sign-in challenges (`crate::sessions`). Once at start (a worker that
    /// was down for a week catches up at once), then every ten minutes.
    /// Several workers may purge at once; a DELETE by age is idempotent.
    fn spawn_housekeeping(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (processor, relay, sessions) = (self.processor.clone(), self.relay.clone(), self.sessions.clone());
        tokio::spawn(async move {
            loop {
                match sessions.purge().await {
                    Ok(purged) if purged != Default::default() => {
                        tracing::info!(?purged, "sessions past retention purged")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "session purge failed"),
                }
                match processor.dedup.purge().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "expired dedup records purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "dedup purge failed"),
                }
                match relay.purge().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "outbox rows past retention purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox purge failed"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
                }
            }
        })
    }
}

/// How often expired dedup records and outbox rows are purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
