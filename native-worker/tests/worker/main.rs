//! Integration tests of the native worker against the real RabbitMQ,
//! PostgreSQL and Redis. One binary; every test has its own database, queues
//! and users, so they run in parallel (`cargo nextest run -p native-worker`).

mod admin_dlq;
mod breaker;
mod cache_race;
mod devices;
mod faults;
mod flow;
mod health_command;
mod helpers;
mod lifecycle;
mod logs;
mod lookups;
mod panics;
mod preferences;
mod quiet_hours;
mod quorum;
mod relay;
mod reseal;
mod sessions;
mod tls;
mod topology;
mod traces;
