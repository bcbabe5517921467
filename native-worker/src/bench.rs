//! `bench`: throughput of enrich-and-forward (cold cache, then warm cache) and
//! of the outbox relay, against the real local services, in a database and
//! queues of its own that it removes afterwards.
//!
//! Messages are queued before the consumer starts, so the figure is how fast
//! the worker drains a backlog with confirms on, not how fast a publisher
//! can feed it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use tokio_util::sync::CancellationToken;
use user_domain::{UserId, cache_keys};

use crate::config::Config;
use crate::worker::{Parts, Worker};

#[derive(Debug, thiserror::Error)]
#[error("bench: {0}")]
pub struct BenchError(String);

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError(e.to_string())
}

#[derive(Debug, Clone, Copy)]
pub struct BenchReport {
    pub messages: usize,
    pub cold_per_sec: f64,
    pub warm_per_sec: f64,
    pub relay_per_sec: f64,
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub async fn run(base: Config, messages: usize) -> Result<BenchReport, BenchError> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut config = base.clone().with_name_suffix(&format!("bench.{suffix}"));
    let db_name = format!("native_worker_bench_{suffix}");
    config.database_url = with_database(&base.database_url, &db_name);
    crate::migrate::run(&config.database_url).await.map_err(err)?;
    let worker = Arc::new(Worker::build(config.clone()).map_err(err)?);

    // One user (with one device) per message, so the cold pass reads every one from PostgreSQL.
    let client = worker.probes.pool.get().await.map_err(err)?;
    let rows = client
        .query(
            "WITH p AS (INSERT INTO user_preferences (id) SELECT gen_random_uuid() FROM generate_series(1, $1) RETURNING id), \
             u AS (INSERT INTO users (email, name, password, preferences_id) \
                   SELECT 'bench-' || p.id || '@example.com', 'Bench User', 'not-a-hash', p.id FROM p RETURNING id), \
             d AS (INSERT INTO devices (user_id, token, platform) SELECT id, 'push-token-' || id, 'android' FROM u) \
             SELECT id FROM u",
            &[&(messages as i32)],
        )
        .await
        .map_err(err)?;
    let users: Vec<uuid::Uuid> = rows.iter().map(|r| r.try_get(0).map_err(err)).collect::<Result<_, _>>()?;
    let keys: Vec<String> = users.iter().map(|u| cache_keys::worker_user(UserId::from(*u))).collect();
    for chunk in keys.chunks(1000) {
        worker.probes.cache.del(chunk).await.map_err(err)?;
    }

    let conn = crate::topology::connect(&config.amqp_url, "native-worker bench").await.map_err(err)?;
    let channel = crate::topology::confirm_channel(&conn).await.map_err(err)?;
    crate::topology::declare(&channel, &config).await.map_err(err)?;

    let mut per_sec = Vec::new();
    for pass in ["cold", "warm"] {
        for user in &users {
            let body = serde_json::json!({
                "notification_type": "push", "user_id": user, "template_code": "bench",
                "variables": {"n": 1}, "request_id": format!("{pass}-{user}"), "priority": 5, "metadata": {}
            });
            channel
                .basic_publish(
                    "".into(),
                    config.push_queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &serde_json::to_vec(&body).expect("json"),
                    crate::topology::json_properties().with_priority(5),
                )
                .await
                .map_err(err)?;
        }
        channel.wait_for_confirms().await.map_err(err)?;
        let before = worker.metrics.forwarded.get();
        let shutdown = CancellationToken::new();
        let started = Instant::now();
        let running = {
            let worker = worker.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { worker.run(Parts { consumer: true, relay: false }, shutdown).await })
        };
        wait_until(|| worker.metrics.forwarded.get() - before >= messages as u64, Duration::from_secs(300)).await?;
        let elapsed = started.elapsed();
        shutdown.cancel();
        let _ = running.await;
        let rate = messages as f64 / elapsed.as_secs_f64();
        println!("enrich-and-forward, {pass} cache: {messages} messages in {:.2?} = {rate:.0} messages/s", elapsed);
        per_sec.push(rate);
    }

    client
        .execute(
            "INSERT INTO outbox (routing_key, payload, priority) \
             SELECT $1, jsonb_build_object('notification_type', 'email', 'template_code', 'bench', 'request_id', g::text), 5 \
             FROM generate_series(1, $2) g",
            &[&config.email_queue, &(messages as i32)],
        )
        .await
        .map_err(err)?;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let running = {
        let worker = worker.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { worker.run(Parts { consumer: false, relay: true }, shutdown).await })
    };
    wait_until(|| worker.metrics.relayed.get() >= messages as u64, Duration::from_secs(300)).await?;
    let elapsed = started.elapsed();
    shutdown.cancel();
    let _ = running.await;
    let relay_per_sec = messages as f64 / elapsed.as_secs_f64();
    println!("outbox relay: {messages} events in {:.2?} = {relay_per_sec:.0} events/s", elapsed);

    crate::topology::remove(&channel, &config).await;
    crate::topology::close_connection(&conn, "bench done").await;
    for chunk in keys.chunks(1000) {
        let _ = worker.probes.cache.del(chunk).await;
    }
    drop(client);
    worker.probes.pool.close();
    drop(worker);
    let server = with_database(&base.database_url, "postgres").parse::<tokio_postgres::Config>();
    if let Ok((admin, _connection)) = match server {
        Ok(server) => crate::pg_tls::connect(&server).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    } {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)")).await;
    }
    Ok(BenchReport { messages, cold_per_sec: per_sec[0], warm_per_sec: per_sec[1], relay_per_sec })
}

async fn wait_until(mut done: impl FnMut() -> bool, deadline: Duration) -> Result<(), BenchError> {
    let until = Instant::now() + deadline;
    while !done() {
        if Instant::now() > until {
            return Err(BenchError("timed out waiting for the worker".into()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_database("postgres://u@h:5432/app", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h/app?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}
