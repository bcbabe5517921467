//! `host`: run a Spin application the way `spin up` does, or build its
//! components the way `spin build` does. Everything lives in the library.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use host::engine::{CompileCache, EngineSettings, Limits};
use host::manifest::App;
use host::postgres::{EmptyResults, PoolSize, PostgresSettings};
use host::{Application, HostConfig};

#[derive(Parser)]
#[command(name = "host", about = "Runs a Spin application (spin.toml) on wasmtime, as `spin up` would")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application.
    Up {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        /// Address to listen on (spin up's default).
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Longest time one request's instance may run, in milliseconds.
        #[arg(long, env = "HOST_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
        request_timeout_ms: u64,
        /// Longest time a request's whole body may take to arrive, in
        /// milliseconds; it is read before the request waits for an
        /// instance, and answered 408 past this.
        #[arg(long, env = "HOST_BODY_READ_TIMEOUT_MS", default_value_t = 5_000)]
        body_read_timeout_ms: u64,
        /// Connections one client address may hold open at once; more are
        /// closed at accept.
        #[arg(long, env = "HOST_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = NonZeroUsize::new(64).expect("not zero"))]
        max_connections_per_address: NonZeroUsize,
        /// Linear memory limit of one instance, in MiB.
        #[arg(long, env = "HOST_MAX_MEMORY_MIB", default_value_t = 128)]
        max_memory_mib: usize,
        /// Instances (requests) in flight at once; more wait their turn.
        #[arg(long, env = "HOST_MAX_INSTANCES", default_value_t = 128)]
        max_instances: u32,
        /// The most connections the pool of one database address opens, for
        /// all components together (Spin's is 64).
        #[arg(long, env = "HOST_PG_POOL_SIZE", default_value_t = PoolSize::default())]
        postgres_pool_size: PoolSize,
        /// What a synchronous Postgres `query` that returns no rows answers:
        /// `fail` (Spin 4.0.0-4.0.2 never answers it) or `columns` (an empty
        /// result with the statement's columns, as a Spin with the fix).
        #[arg(long, env = "HOST_POSTGRES_EMPTY_RESULTS", value_enum, default_value_t = EmptyResults::Fail)]
        postgres_empty_results: EmptyResults,
        /// KiB of each pooled memory reset in place rather than released
        /// when a slot is reused (default: 16384 on Linux 6.7+, else 1024).
        #[arg(long, env = "HOST_KEEP_RESIDENT_KIB")]
        keep_resident_kib: Option<usize>,
        /// Pooled slots whose memory is released together.
        #[arg(long, env = "HOST_DECOMMIT_BATCH", default_value_t = 1)]
        decommit_batch: usize,
        /// Where compiled components are kept across restarts (default:
        /// wasmtime's, `~/.cache/wasmtime`); `off` compiles at every start.
        #[arg(long, env = "HOST_COMPILE_CACHE")]
        compile_cache: Option<PathBuf>,
        /// Write /tmp/perf-<pid>.map so `perf report` names guest functions.
        #[arg(long, env = "HOST_PERF_MAP")]
        perf_map: bool,
    },
    /// Run each component's `[component.x.build] command`, like `spin build`.
    Build {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        /// Only these components (default: all).
        #[arg(short = 'c', long = "component-id")]
        components: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Up {
            manifest,
            listen,
            request_timeout_ms,
            body_read_timeout_ms,
            max_connections_per_address,
            max_memory_mib,
            max_instances,
            postgres_pool_size,
            postgres_empty_results,
            keep_resident_kib,
            decommit_batch,
            compile_cache,
            perf_map,
        } => {
            let mut config = HostConfig::new(manifest);
            config.listen = listen;
            config.request_timeout = Duration::from_millis(request_timeout_ms);
            config.body_read_timeout = Duration::from_millis(body_read_timeout_ms);
            config.max_connections_per_address = max_connections_per_address;
            config.limits = Limits { max_instances, max_memory_bytes: max_memory_mib << 20 };
            config.postgres = PostgresSettings { pool_size: postgres_pool_size, empty_results: postgres_empty_results };
            config.engine = EngineSettings {
                keep_resident_bytes: keep_resident_kib.map(|kib| kib << 10),
                decommit_batch,
                compile_cache: match compile_cache {
                    None => CompileCache::Default,
                    Some(path) if path.as_os_str() == "off" => CompileCache::Off,
                    Some(path) => CompileCache::In(path),
                },
                perf_map,
            };
            let app = Application::build(config).await?;
            tracing::info!("serving on http://{}", app.local_addr());
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Build { manifest, components } => build(&manifest, &components),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn build(manifest: &std::path::Path, only: &[String]) -> anyhow::Result<()> {
    let app = App::from_file(manifest)?;
    for (id, component) in &app.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &component.build else {
            println!("{id}: no build command");
            continue;
        };
        let workdir = app.root.join(build.workdir.as_deref().unwrap_or("."));
        println!("Building component {id} with `{}`", build.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run the build command of {id}"))?;
        anyhow::ensure!(status.success(), "building {id} failed ({status})");
    }
    println!("Finished building all Spin components");
    Ok(())
}
