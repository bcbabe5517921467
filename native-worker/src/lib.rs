//! # native-worker
//!
//! The native half of the user service. Spin components run as Wasm and have
//! no AMQP sockets, so this process owns everything that talks to RabbitMQ:
//! it enriches push messages with the user, relays the outbox, and replays
//! dead letters; it also applies migrations and creates the first admin.
//!
//! ## Layout
//! - [`config`]: every setting, from environment variables with defaults
//!   (the `DATABASE_URL` of the commands that need only PostgreSQL too).
//! - [`topology`]: queue and exchange declarations, confirmed publishing.
//! - [`message`]: the push message and the headers the worker keeps on it;
//!   [`request_id`]: its id, checked at parse time.
//! - [`consumer`]: the push.queue consumer: its loop (`consumer/mod.rs`),
//!   each delivery's fate (`consumer/fate.rs`), ack coalescing
//!   (`consumer/acks.rs`).
//! - [`held`]: messages held for the user's quiet hours: written down by
//!   the consumer, published back to push.queue when due by a loop of the
//!   `run` command.
//! - [`feedback`]: the device feedback consumer: dead tokens reported by the
//!   push service retire their device; [`devices`]: that statement, with
//!   its audit event and outbox copy.
//! - [`enrich`], [`cache`], [`db`]: the user lookup (Redis, then PostgreSQL);
//!   [`db`] also names the statement behind every database error;
//!   [`pg_tls`]: how PostgreSQL connections are secured (the address's `sslmode`, as Spin reads it);
//!   [`user_record`]: the user (with its active devices and stored
//!   preferences) as the worker caches and forwards it, and what it decides
//!   for a message (forward, skip, hold);
//!   [`user_cache`]: how a cache entry is written so no invalidation is lost.
//! - [`dedup`]: request_ids already forwarded. [`batch`]: one query for many messages.
//! - [`retry`]: which delay queue a failed message waits in.
//! - [`reseal`]: the end of an `mfa_key` rotation (`reseal-mfa`).
//! - [`sessions`]: marks of ended sessions for the cached reads, and the sessions' retention.
//! - [`breaker`]: the circuit breaker, a pure state machine.
//! - [`backoff`]: reconnection delays.
//! - [`relay`]: the outbox relay. [`outbox`]: its queries, quarantine and retention.
//! - [`metrics`], [`http`]: Prometheus metrics and the probe server.
//! - [`worker`]: the `run` command wiring it all, with reconnection.
//! - [`admin`]: `create-admin`. [`dlq`]: `dlq replay`. [`bench`]: `bench`.
//! - [`hooks`]: where tests step in to pin an interleaving or inject a panic.
//! - [`migrate`]: applies `migrations/` (embedded at build time) with refinery.
//!
//! No module uses itself through others (`scripts/import-cycles.py
//! native-worker/src` checks it): the model ([`user_record`], [`message`])
//! sits below the lookups and caches that use it, which sit below the
//! consumers, which sit below [`worker`].

pub mod admin;
pub mod backoff;
pub mod batch;
pub mod bench;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod consumer;
pub mod db;
pub mod dedup;
pub mod devices;
pub mod dlq;
pub mod enrich;
pub mod feedback;
pub mod held;
pub mod hooks;
pub mod http;
pub mod message;
pub mod metrics;
pub mod migrate;
pub mod outbox;
pub mod pg_tls;
pub mod relay;
pub mod request_id;
pub mod reseal;
pub mod retry;
pub mod sessions;
pub mod topology;
pub mod user_cache;
pub mod user_record;
pub mod worker;
