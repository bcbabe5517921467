//! The worker's command line. Everything lives in the library; this file only
//! parses arguments, reads secrets from the terminal and sets up logging.
//!
//! Commands (every setting also reads an environment variable, see `--help`):
//! - `run`: consumer, outbox relay and the HTTP probes (`HTTP_ADDR`, default 0.0.0.0:9090).
//! - `migrate`: applies `migrations/`.
//! - `create-admin --email E --name N`: creates or promotes a staff user; the
//!   password is read from stdin when it is not a terminal, else prompted for.
//! - `dlq replay [--reason S] [--contains S] [--limit N] [--dry-run]`.
//! - `bench [--messages N]`: throughput figures against the local services.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use native_worker::config::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "native-worker", about = "The user service's native sidecar")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume push.queue, relay the outbox and serve /health, /ready, /metrics.
    Run {
        #[command(flatten)]
        config: Config,
        /// Address of the probe and metrics server.
        #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:9090")]
        http_addr: SocketAddr,
    },
    /// Create the database if needed and apply every pending migration.
    Migrate {
        /// PostgreSQL URL of the service's database.
        #[arg(long, env = "DATABASE_URL", default_value = native_worker::migrate::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Create a staff user, or promote an existing one.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
        #[arg(long, env = "DATABASE_URL", default_value = native_worker::migrate::DEFAULT_DATABASE_URL)]
        database_url: String,
        #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
    },
    /// Dead-letter queue tools.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Measure enrich-and-forward (cold and warm cache) and relay throughput.
    Bench {
        #[command(flatten)]
        config: Config,
        /// Messages per pass (and outbox events).
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// Move dead letters back to push.queue (confirmed before each original is acked).
    Replay {
        #[command(flatten)]
        config: Config,
        /// Only messages whose x-failure-reason contains this.
        #[arg(long)]
        reason: Option<String>,
        /// Only messages whose body contains this.
        #[arg(long)]
        contains: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
        /// Count what would be replayed, move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn read_password() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line);
    }
    eprint!("Password: ");
    std::io::stderr().flush()?;
    // Hide the typing; if stty is missing the password merely echoes.
    let hidden = std::process::Command::new("stty").arg("-echo").status().is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if hidden {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.map(|_| line)
}

async fn shutdown_signal(token: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing what is held");
    token.cancel();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Run { config, http_addr } => {
            let worker = native_worker::worker::Worker::build(config).context("cannot set up the worker")?;
            let shutdown = CancellationToken::new();
            tokio::spawn(shutdown_signal(shutdown.clone()));
            let bound = worker.serve_http(http_addr, shutdown.clone()).await.context("cannot serve http")?;
            tracing::info!(%bound, "probes and metrics listening");
            worker.run(Default::default(), shutdown).await;
            tracing::info!("stopped");
        }
        Command::Migrate { database_url } => {
            let applied = native_worker::migrate::run(&database_url).await?;
            tracing::info!(count = applied.len(), ?applied, "migrations applied");
        }
        Command::CreateAdmin { email, name, database_url, redis_url } => {
            let outcome = native_worker::admin::create_or_promote(&database_url, &email, &name, read_password).await?;
            let (verb, id) = match outcome {
                native_worker::admin::AdminOutcome::Created(id) => ("created", id),
                native_worker::admin::AdminOutcome::Promoted(id) => ("promoted", id),
            };
            native_worker::admin::invalidate_cache(&redis_url, id).await;
            println!("{verb} staff user {id}");
        }
        Command::Dlq { action: DlqAction::Replay { config, reason, contains, limit, dry_run } } => {
            let filter = native_worker::dlq::Filter { reason_contains: reason, body_contains: contains };
            let report = native_worker::dlq::replay(&config, &filter, limit, dry_run).await?;
            if dry_run {
                println!("dry run: {} of {} dead letters examined would be replayed", report.matched, report.examined);
            } else {
                println!("replayed {} ({} examined)", report.replayed, report.examined);
            }
        }
        Command::Bench { config, messages } => {
            let report = native_worker::bench::run(config, messages).await?;
            println!("{report:?}");
        }
    }
    Ok(())
}
