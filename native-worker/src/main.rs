//! The worker's command line. Everything lives in the library; this file only
//! parses arguments, reads secrets from the terminal and sets up logging.
//!
//! Commands (every setting also reads an environment variable, see `--help`):
//! - `run`: consumer, outbox relay and the HTTP probes (`HTTP_ADDR`, default 127.0.0.1:9090).
//! - `migrate`: applies `migrations/`.
//! - `create-admin --email E --name N [--promote-existing]`: creates a staff
//!   user, or with the flag promotes an existing verified one; the password
//!   is read from stdin when it is not a terminal, else prompted for.
//! - `dlq replay [--reason S] [--contains S] [--limit N] [--dry-run] [--include-malformed]`.
//! - `bench [--messages N]`: throughput figures against the local services.
//! - `health`: asks a running worker's `/health` (a container's HEALTHCHECK).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use native_worker::admin::{AdminOptions, PasswordInput};
use native_worker::config::{Config, DatabaseArgs};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "native-worker", version, about = "The user service's native sidecar")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    logs: telemetry::LogArgs,
    #[command(flatten)]
    traces: telemetry::TraceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Consume push.queue, relay the outbox and serve /health, /ready, /metrics.
    Run {
        #[command(flatten)]
        config: Config,
        /// Address of the probe and metrics server; loopback unless widened on purpose.
        #[arg(long, env = "HTTP_ADDR", default_value = native_worker::http::DEFAULT_ADDR)]
        http_addr: SocketAddr,
    },
    /// Create the database if needed and apply every pending migration.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create a staff user, or promote an existing verified one (--promote-existing).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Make an existing account with this email staff. Refused unless its
        /// email is verified, and when a password is given (it keeps its own).
        #[arg(long)]
        promote_existing: bool,
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = native_worker::config::verified_redis_url)]
        redis_url: String,
    },
    /// Seal every TOTP secret under MFA_KEY, opening with it or MFA_PREVIOUS_KEYS:
    /// the end of an mfa_key rotation (README, "Two-factor sign-in"). Exits 1
    /// if a secret opens under no key given.
    ResealMfa {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The app's current mfa_key (from the environment: an argument shows in `ps`).
        #[arg(long, env = "MFA_KEY", hide_env_values = true)]
        mfa_key: String,
        /// The app's mfa_previous_keys: earlier keys, separated by commas or spaces.
        #[arg(long, env = "MFA_PREVIOUS_KEYS", default_value = "", hide_env_values = true)]
        mfa_previous_keys: String,
    },
    /// Ask a running worker's /health; exit 0 if it answers 200. For a
    /// container HEALTHCHECK: the worker's image has no shell and no curl.
    Health {
        /// Where the worker's probes listen (its own HTTP_ADDR).
        #[arg(long, env = "HTTP_ADDR", default_value = native_worker::http::DEFAULT_ADDR)]
        http_addr: SocketAddr,
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
        /// Replay messages dead-lettered as malformed or too large as well
        /// (left in place by default: they would fail again as they are).
        #[arg(long)]
        include_malformed: bool,
    },
}

/// The password for `create-admin`: piped on stdin (read now, since giving
/// one for an existing account is an error), or prompted for on a terminal
/// only if an account is created.
fn password_input() -> std::io::Result<PasswordInput> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(PasswordInput::Prompt(Box::new(prompt_password)));
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    Ok(if line.is_empty() { PasswordInput::Absent } else { PasswordInput::Given(line.to_owned()) })
}

fn prompt_password() -> std::io::Result<String> {
    let stdin = std::io::stdin();
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
    let cli = Cli::parse();
    // Kept to the end of `main`: dropping it sends the spans still buffered.
    let _tracing = telemetry::init(cli.logs.log_format, "info", Some((&cli.traces, "user-service-worker")))
        .map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Run { config, http_addr } => {
            let worker = native_worker::worker::Worker::build(config).context("cannot set up the worker")?;
            let shutdown = CancellationToken::new();
            tokio::spawn(shutdown_signal(shutdown.clone()));
            let bound = worker.serve_http(http_addr, shutdown.clone()).await.context("cannot serve http")?;
            tracing::info!(%bound, "probes and metrics listening");
            worker.run(Default::default(), shutdown).await;
            tracing::info!("stopped");
        }
        Command::Migrate { database: DatabaseArgs { database_url } } => {
            let applied = native_worker::migrate::run(&database_url).await?;
            tracing::info!(count = applied.len(), ?applied, "migrations applied");
        }
        Command::CreateAdmin { email, name, promote_existing, database: DatabaseArgs { database_url }, redis_url } => {
            let options = AdminOptions { promote_existing };
            let password = password_input().context("cannot read the password")?;
            let outcome =
                native_worker::admin::create_or_promote(&database_url, &email, &name, options, password).await?;
            let (verb, id) = match outcome {
                native_worker::admin::AdminOutcome::Created(id) => ("created", id),
                native_worker::admin::AdminOutcome::Promoted(id) => ("promoted", id),
            };
            native_worker::admin::invalidate_cache(&redis_url, id).await;
            println!("{verb} staff user {id}");
        }
        Command::ResealMfa { database: DatabaseArgs { database_url }, mfa_key, mfa_previous_keys } => {
            let keys = user_domain::sealed::Keyring::from_settings(&mfa_key, &mfa_previous_keys)
                .context("MFA_KEY / MFA_PREVIOUS_KEYS")?;
            let database: tokio_postgres::Config =
                database_url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
            let report = native_worker::reseal::reseal(&database, &keys).await?;
            println!(
                "resealed {}, already under MFA_KEY {}, changed by the app meanwhile {}, opened by no key {}",
                report.resealed,
                report.current,
                report.changed_meanwhile,
                report.unopenable.len()
            );
            for user in &report.unopenable {
                println!("opened by no key: the factor of user {user}");
            }
            anyhow::ensure!(report.unopenable.is_empty(), "some factors open under no key given");
        }
        Command::Health { http_addr } => {
            let status = native_worker::http::probe(http_addr, "/health")
                .await
                .with_context(|| format!("no answer from the worker's probes on {http_addr}"))?;
            anyhow::ensure!(status == 200, "/health on {http_addr} answered {status}");
            println!("healthy");
        }
        Command::Dlq { action: DlqAction::Replay { config, reason, contains, limit, dry_run, include_malformed } } => {
            let filter =
                native_worker::dlq::Filter { reason_contains: reason, body_contains: contains, include_malformed };
            let report = native_worker::dlq::replay(&config, &filter, limit, dry_run).await?;
            if dry_run {
                println!("dry run: {} of {} dead letters examined would be replayed", report.matched, report.examined);
            } else {
                println!("replayed {} ({} examined)", report.replayed, report.examined);
            }
            if report.skipped_malformed > 0 {
                println!(
                    "{} dead-lettered as malformed or too large left in place (--include-malformed replays them)",
                    report.skipped_malformed
                );
            }
        }
        Command::Bench { config, messages } => {
            let report = native_worker::bench::run(config, messages).await?;
            println!("{report:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn metrics_listen_on_loopback_unless_told_otherwise() {
        let cli = Cli::command();
        let run = cli.find_subcommand("run").expect("a run command");
        let addr = run.get_arguments().find(|a| a.get_id() == "http_addr").expect("an http_addr argument");
        let default = addr.get_default_values()[0].to_str().unwrap();
        assert_eq!(default, "127.0.0.1:9090");
        assert!(default.parse::<std::net::SocketAddr>().unwrap().ip().is_loopback());
        assert_eq!(addr.get_env().unwrap(), "HTTP_ADDR", "still configurable");
    }

    #[test]
    fn every_command_reads_the_database_url_the_same_way() {
        let cli = Cli::command();
        for name in ["run", "migrate", "create-admin", "reseal-mfa", "bench"] {
            let command = cli.find_subcommand(name).expect("the command exists");
            let url = command.get_arguments().find(|a| a.get_id() == "database_url").expect("a database_url");
            assert_eq!(url.get_env().unwrap(), "DATABASE_URL", "{name}");
            let default = url.get_default_values()[0].to_str().unwrap();
            assert_eq!(default, native_worker::config::DEFAULT_DATABASE_URL, "{name}");
        }
    }
}
