//! The worker's command line. Everything lives in the library; this file only
//! parses arguments and sets up logging.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "native-worker", about = "The user service's native sidecar")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed and apply every pending migration.
    Migrate {
        /// PostgreSQL URL of the service's database.
        #[arg(long, env = "DATABASE_URL", default_value = native_worker::migrate::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Migrate { database_url } => {
            let applied = native_worker::migrate::run(&database_url).await?;
            tracing::info!(count = applied.len(), ?applied, "migrations applied");
        }
    }
    Ok(())
}
