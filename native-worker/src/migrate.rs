//! Schema migrations. The SQL files in `migrations/` are embedded into the
//! binary, so a deployed worker always carries the schema it was built with;
//! refinery records what it applied and refuses edited history.

use anyhow::Context;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Where the service's database lives when `DATABASE_URL` is unset (kept
/// here too, where callers found it before it joined the other defaults).
pub use crate::config::DEFAULT_DATABASE_URL;

/// Creates the database named in `database_url` if it does not exist yet,
/// connecting to the server's `postgres` database to do so.
pub async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = database_url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = config.get_dbname().context("DATABASE_URL names no database")?.to_owned();
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, _connection) = crate::pg_tls::connect(&admin).await.context("cannot reach PostgreSQL")?;
    let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; quote it as one instead.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match client.batch_execute(&format!("CREATE DATABASE {quoted}")).await {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our CREATE.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e).context("cannot create the database"),
        }
    }
    Ok(())
}

/// Applies every pending migration; returns the names of those applied now.
pub async fn run(database_url: &str) -> anyhow::Result<Vec<String>> {
    ensure_database(database_url).await?;
    let config: tokio_postgres::Config = database_url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let (mut client, handle) = crate::pg_tls::connect(&config).await.context("cannot connect to the database")?;
    let report = embedded::migrations::runner().run_async(&mut client).await.context("a migration failed")?;
    drop(client);
    let _ = handle.await;
    Ok(report.applied_migrations().iter().map(|m| m.to_string()).collect())
}
