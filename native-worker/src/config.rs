//! Every setting of the worker, read from environment variables with
//! documented defaults. One struct, so tests and the bench can build a
//! configuration with unique queue names without touching the environment.

use std::time::Duration;

use clap::{Args, ValueEnum};
use user_domain::preferences::config::{
    CATEGORIES_VARIABLE, DEFAULT_CATEGORIES, DEFAULT_QUIET_HOURS_EXEMPT, DEFAULT_REQUIRED, QUIET_HOURS_EXEMPT_VARIABLE,
    REQUIRED_VARIABLE,
};
use user_domain::preferences::{CategoryConfig, ConfigError};

/// The kind of RabbitMQ queue the worker declares for the queues it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueType {
    /// A single-node queue: what the worker always declared, and what an
    /// existing deployment's queues already are.
    Classic,
    /// A Raft-replicated queue (RabbitMQ 3.8+; message TTL and at-least-once
    /// dead-lettering, which the delay queues need, since 3.10): it survives
    /// the loss of a minority of a cluster's nodes.
    Quorum,
}

impl QueueType {
    /// The name `WORKER_QUEUE_TYPE` takes, which is also RabbitMQ's `x-queue-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// The redis crate reads a `#insecure` fragment on a `rediss://` URL as
/// "skip certificate verification"; the worker verifies every TLS peer
/// (crate::pg_tls), so such a URL is refused at start, not obeyed.
pub fn verified_redis_url(url: &str) -> Result<String, String> {
    if url.contains('#') {
        return Err("a fragment such as #insecure would turn TLS verification off; \
                    give the server's CA in SSL_CERT_FILE instead"
            .into());
    }
    Ok(url.to_owned())
}

/// Where the service's database lives when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/user_service?sslmode=disable";

/// The database argument of the commands that need only PostgreSQL
/// (`migrate`, `create-admin`, `reseal-mfa`), declared once and flattened
/// into each; [`Config`] declares the same for the commands that need every
/// service.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the service's database.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Settings shared by every command that talks to the backing services.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL of the service's database.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Redis URL (the enrichment cache); `rediss://` for TLS, verified.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = verified_redis_url)]
    pub redis_url: String,
    /// RabbitMQ URL.
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// Queue the gateway publishes push notifications to.
    #[arg(long, env = "PUSH_QUEUE", default_value = "push.queue")]
    pub push_queue: String,
    /// Queue the push service consumes enriched messages from.
    #[arg(long, env = "PUSH_READY_QUEUE", default_value = "push.ready")]
    pub ready_queue: String,
    /// Dead-letter exchange named in push.queue's arguments.
    #[arg(long, env = "DLX_EXCHANGE", default_value = "notifications.dlx")]
    pub dlx_exchange: String,
    /// Routing key of dead letters (push.queue's x-dead-letter-routing-key).
    #[arg(long, env = "DLX_ROUTING_KEY", default_value = "failed")]
    pub dlx_routing_key: String,
    /// Queue bound to the dead-letter exchange.
    #[arg(long, env = "FAILED_QUEUE", default_value = "failed.queue")]
    pub failed_queue: String,
    /// Queue email events from the outbox are routed to; declared at start so
    /// an event is never published into the void.
    #[arg(long, env = "EMAIL_QUEUE", default_value = "email.queue")]
    pub email_queue: String,
    /// Queue audit events from the outbox are routed to (the components'
    /// `audit_queue` variable); declared at start, like the email queue.
    #[arg(long, env = "AUDIT_QUEUE", default_value = "audit.events")]
    pub audit_queue: String,
    /// Queue of status events (a push skipped, and why), for the gateway's
    /// notification status tracking.
    #[arg(long, env = "STATUS_QUEUE", default_value = "notification.status")]
    pub status_queue: String,
    /// Queue the push service reports dead device tokens on (`{user_id,
    /// token, reason}`, for a token FCM or APNs refused); the worker retires
    /// those devices. Declared at start with the dead-letter exchange, so
    /// malformed reports end in the failed queue.
    #[arg(long, env = "FEEDBACK_QUEUE", default_value = "device.feedback")]
    pub feedback_queue: String,
    /// Unacknowledged deliveries the broker may push to this worker at once.
    /// Enrichment is I/O bound and lookups are batched, so a deep window
    /// keeps the broker streaming; it also bounds what a crash redelivers.
    /// Measured with `bench` on 2 cores: 2000 forwards ~5,100-5,600 msg/s
    /// with a warm cache where 500 gave ~4,300-4,600.
    #[arg(long, env = "PREFETCH", default_value_t = 2000)]
    pub prefetch: u16,
    /// Confirm-mode channels forwards are spread over.
    #[arg(long, env = "PUBLISH_CHANNELS", default_value_t = 4)]
    pub publish_channels: usize,
    /// Consecutive dependency failures that open the circuit breaker.
    #[arg(long, env = "BREAKER_FAILURE_THRESHOLD", default_value_t = 5)]
    pub breaker_failure_threshold: u32,
    /// How long the breaker stays open before one trial message, in milliseconds.
    #[arg(long, env = "BREAKER_OPEN_MS", default_value_t = 60_000)]
    pub breaker_open_ms: u64,
    /// Delays of the successive retries, in milliseconds, comma separated.
    /// Their count is the number of retries before a message is dead-lettered.
    #[arg(long, env = "RETRY_DELAYS_MS", value_delimiter = ',', default_value = "2000,4000,8000")]
    pub retry_delays_ms: Vec<u64>,
    /// Outbox rows claimed per relay transaction.
    #[arg(long, env = "RELAY_BATCH_SIZE", default_value_t = 200)]
    pub relay_batch_size: i64,
    /// Pause between relay polls when the outbox is empty, in milliseconds.
    #[arg(long, env = "RELAY_INTERVAL_MS", default_value_t = 500)]
    pub relay_interval_ms: u64,
    /// How long published outbox rows are kept (already stripped of their
    /// tokens) before they are deleted, in hours; quarantined rows likewise,
    /// counted from their quarantine. 0 deletes them at the next purge.
    #[arg(long, env = "OUTBOX_RETENTION_HOURS", default_value_t = 168)]
    pub outbox_retention_hours: u64,
    /// How long audit events are kept in PostgreSQL, in days (their copies
    /// on the audit queue are the log pipeline's to keep). 0 keeps them forever.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u64,
    /// Largest push.queue message body processed, in bytes. Anything larger
    /// is dead-lettered as too large without being parsed: the gateway's
    /// messages are a few hundred bytes, and parsing (then caching and
    /// forwarding) megabytes of JSON per delivery would let one sender
    /// starve the worker.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 256 * 1024)]
    pub max_message_bytes: usize,
    /// The access-token lifetime the components use (their
    /// `access_token_ttl_secs`): how long an ended session's mark must be
    /// kept in Redis for the cached reads to refuse its tokens.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// How often the marks of recently ended sessions are written to Redis
    /// again from PostgreSQL (in case one was lost), in milliseconds.
    #[arg(long, env = "SESSION_MARKS_INTERVAL_MS", default_value_t = 2000)]
    pub session_marks_interval_ms: u64,
    /// How long ended and expired sessions, expired refresh tokens and old
    /// sign-in challenges are kept before they are deleted, in days.
    #[arg(long, env = "SESSION_RETENTION_DAYS", default_value_t = 30)]
    pub session_retention_days: u64,
    /// How long a forwarded request_id is remembered, in seconds.
    #[arg(long, env = "DEDUP_TTL_SECS", default_value_t = 86_400)]
    pub dedup_ttl_secs: u64,
    /// Connections in the PostgreSQL pool.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: usize,
    /// The type of the queues the worker owns: push.ready, the retry delay
    /// queues, failed.queue and the feedback queue. `quorum` on a RabbitMQ cluster, so they
    /// survive a node's loss. push.queue stays as the gateway declares it,
    /// and the other services' queues (email, audit, status) as they are.
    /// RabbitMQ refuses to redeclare an existing queue as another type:
    /// switching needs those queues drained and deleted first (README).
    #[arg(long, env = "WORKER_QUEUE_TYPE", value_enum, default_value_t = QueueType::Classic)]
    pub queue_type: QueueType,
    /// Every notification category, comma separated: a push.queue message
    /// of any other is dead-lettered (`unknown_category: …`). The
    /// components' `notification_categories`; both default to the domain's list.
    #[arg(long, env = "NOTIFICATION_CATEGORIES", default_value = DEFAULT_CATEGORIES)]
    pub notification_categories: String,
    /// The categories a user cannot mute (a subset of the categories).
    #[arg(long, env = "NOTIFICATION_REQUIRED_CATEGORIES", default_value = DEFAULT_REQUIRED)]
    pub notification_required_categories: String,
    /// The categories quiet hours never hold back (a subset of the categories).
    #[arg(long, env = "QUIET_HOURS_EXEMPT_CATEGORIES", default_value = DEFAULT_QUIET_HOURS_EXEMPT)]
    pub quiet_hours_exempt_categories: String,
    /// How often messages held for quiet hours are looked for and published
    /// back to push.queue once due, in milliseconds: the delay between a
    /// user's change of preferences (which makes the user's held messages
    /// due) and their release is at most this.
    #[arg(long, env = "HELD_RELEASE_INTERVAL_MS", default_value_t = 1000)]
    pub held_release_interval_ms: u64,
    /// Held messages released per transaction; a full batch is followed by
    /// the next at once, so a morning's backlog drains without waiting.
    #[arg(long, env = "HELD_RELEASE_BATCH", default_value_t = 100)]
    pub held_release_batch: i64,
}

impl Config {
    /// A configuration with every default, for tests and the bench to adjust.
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // Parse from an empty command line; clap fills in the defaults (and
        // whatever the environment says, which is what a caller would expect).
        Wrapper::parse_from(["native-worker"]).config
    }

    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect()
    }

    /// The delay queue holding messages waiting `delay` before going back to
    /// push.queue. One queue per delay, because a queue's TTL applies to its
    /// head only: mixed per-message TTLs would hold short delays behind long ones.
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.retry.{}ms", self.push_queue, delay.as_millis())
    }

    pub fn breaker_open_for(&self) -> Duration {
        Duration::from_millis(self.breaker_open_ms)
    }

    pub fn relay_interval(&self) -> Duration {
        Duration::from_millis(self.relay_interval_ms)
    }

    pub fn session_retention(&self) -> Duration {
        Duration::from_secs(self.session_retention_days.saturating_mul(86_400))
    }

    pub fn session_marks_interval(&self) -> Duration {
        Duration::from_millis(self.session_marks_interval_ms.max(100))
    }

    pub fn audit_retention(&self) -> Duration {
        Duration::from_secs(self.audit_retention_days.saturating_mul(86_400))
    }

    pub fn outbox_retention(&self) -> Duration {
        Duration::from_secs(self.outbox_retention_hours.saturating_mul(3600))
    }

    pub fn held_release_interval(&self) -> Duration {
        Duration::from_millis(self.held_release_interval_ms.max(10))
    }

    /// The three category lists as one [`CategoryConfig`]; parsed once, when
    /// the worker is built. An error names the environment variable at
    /// fault, so a typo stops the worker at start instead of letting users
    /// mute a category meant to be required.
    pub fn categories(&self) -> Result<CategoryConfig, CategoryConfigError> {
        CategoryConfig::parse(
            &self.notification_categories,
            &self.notification_required_categories,
            &self.quiet_hours_exempt_categories,
        )
        .map_err(CategoryConfigError)
    }

    /// Puts `suffix` on every queue and exchange name, so concurrent tests and
    /// bench runs never share a queue.
    pub fn with_name_suffix(mut self, suffix: &str) -> Self {
        for name in [
            &mut self.push_queue,
            &mut self.ready_queue,
            &mut self.dlx_exchange,
            &mut self.failed_queue,
            &mut self.email_queue,
            &mut self.audit_queue,
            &mut self.status_queue,
            &mut self.feedback_queue,
        ] {
            name.push('.');
            name.push_str(suffix);
        }
        self
    }
}

/// A category list that cannot be honoured, said with the worker's
/// environment variable names (the domain names the components' Spin
/// variables, which are the same names in lower case).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", environment_names(&.0.to_string()))]
pub struct CategoryConfigError(pub ConfigError);

fn environment_names(message: &str) -> String {
    [CATEGORIES_VARIABLE, REQUIRED_VARIABLE, QUIET_HOURS_EXEMPT_VARIABLE]
        .iter()
        .fold(message.to_owned(), |text, variable| text.replace(variable, &variable.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::{Config, verified_redis_url};

    #[test]
    fn a_redis_url_that_would_skip_verification_is_refused() {
        assert!(verified_redis_url("rediss://cache.internal:6380/#insecure").is_err());
        assert!(verified_redis_url("rediss://cache.internal:6380/0").is_ok());
        assert!(verified_redis_url("redis://127.0.0.1:6379").is_ok());
    }

    #[test]
    fn documented_defaults() {
        let c = Config::defaults();
        assert_eq!(c.max_message_bytes, 256 * 1024);
        assert_eq!(c.outbox_retention_hours, 168);
        assert_eq!(c.outbox_retention(), std::time::Duration::from_secs(168 * 3600));
        assert_eq!(c.queue_type, super::QueueType::Classic, "existing deployments keep their classic queues");
        assert_eq!(c.feedback_queue, "device.feedback");
        assert_eq!(c.held_release_interval_ms, 1000);
        assert_eq!(c.held_release_batch, 100);
        assert_eq!(c.with_name_suffix("t").feedback_queue, "device.feedback.t", "tests never share it");
    }

    #[test]
    fn the_category_lists_default_to_the_domains() {
        let c = Config::defaults();
        assert_eq!(c.notification_categories, "transactional,security,account,marketing,reminders");
        assert_eq!(c.notification_required_categories, "security");
        assert_eq!(c.quiet_hours_exempt_categories, "security,transactional");
        assert_eq!(c.categories().unwrap(), user_domain::preferences::CategoryConfig::default());
    }

    #[test]
    fn a_bad_category_list_names_the_environment_variable() {
        let c = Config { notification_required_categories: "Security".into(), ..Config::defaults() };
        assert_eq!(
            c.categories().unwrap_err().to_string(),
            "NOTIFICATION_REQUIRED_CATEGORIES: `Security` is not a category name (1 to 32 of a-z, 0-9, _ and -)"
        );
        let c = Config { quiet_hours_exempt_categories: "alerts".into(), ..Config::defaults() };
        assert_eq!(
            c.categories().unwrap_err().to_string(),
            "QUIET_HOURS_EXEMPT_CATEGORIES: `alerts` is not one of NOTIFICATION_CATEGORIES"
        );
    }
}
