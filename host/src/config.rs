//! The host's configuration: [`UpFlags`], `host up`'s flags (each also read
//! from the environment variable named beside it), is the one place a
//! default is written; [`HostConfig`], what [`crate::Application`] runs with,
//! is built from it. An embedder (the tests) starts from
//! [`HostConfig::new`], the same defaults without the command line or the
//! `HOST_*` environment, and changes fields.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::engine::{CompileCache, EngineSettings, Limits};
use crate::postgres::{EmptyResults, PoolSize, PostgresSettings};
use crate::variable_sources::VariableSource;
use crate::variables::Environment;

/// `host up`'s flags: every setting of a running host, with its default.
#[derive(Debug, Clone, Parser)]
pub struct UpFlags {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// The runtime config file (TOML), as `spin up --runtime-config-file`
    /// (and Spin's variable): this host implements its
    /// `[key_value_store.<label>]` stores of type "redis" and refuses
    /// anything else in it by name.
    #[arg(long = "runtime-config-file", env = "RUNTIME_CONFIG_FILE")]
    pub runtime_config_file: Option<PathBuf>,
    /// A value for an application variable, as `spin up --variable`:
    /// `key=value`, `key=@file`, `@file.json` or `@file.toml`. These come
    /// before `SPIN_VARIABLE_*`; repeated, the last value of a name wins.
    #[arg(long = "variable", value_name = "KEY=VALUE | KEY=@FILE | @FILE.json | @FILE.toml")]
    pub variables: Vec<VariableSource>,
    /// Address to listen on (spin up's default).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Longest time one request's instance may run, in milliseconds.
    #[arg(long, env = "HOST_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Longest time a request's whole body may take to arrive, in
    /// milliseconds; it is read before the request waits for an
    /// instance, and answered 408 past this.
    #[arg(long, env = "HOST_BODY_READ_TIMEOUT_MS", default_value_t = 5_000)]
    pub body_read_timeout_ms: u64,
    /// Connections one client address may hold open at once; more are
    /// closed at accept.
    #[arg(long, env = "HOST_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = NonZeroUsize::new(64).expect("not zero"))]
    pub max_connections_per_address: NonZeroUsize,
    /// Linear memory limit of one instance, in MiB.
    #[arg(long, env = "HOST_MAX_MEMORY_MIB", default_value_t = 128)]
    pub max_memory_mib: usize,
    /// Instances (requests) in flight at once; more wait their turn.
    #[arg(long, env = "HOST_MAX_INSTANCES", default_value_t = 128)]
    pub max_instances: u32,
    /// The most connections the pool of one database address opens, for
    /// all components together (Spin's is 64).
    #[arg(long, env = "HOST_PG_POOL_SIZE", default_value_t = PoolSize::default())]
    pub postgres_pool_size: PoolSize,
    /// What a synchronous Postgres `query` that returns no rows answers:
    /// `fail` (Spin 4.0.0-4.0.2 never answers it) or `columns` (an empty
    /// result with the statement's columns, as a Spin with the fix).
    #[arg(long, env = "HOST_POSTGRES_EMPTY_RESULTS", value_enum, default_value_t = EmptyResults::Fail)]
    pub postgres_empty_results: EmptyResults,
    /// KiB of each pooled memory reset in place rather than released
    /// when a slot is reused (default: 16384 on Linux 6.7+, else 1024).
    #[arg(long, env = "HOST_KEEP_RESIDENT_KIB")]
    pub keep_resident_kib: Option<usize>,
    /// Pooled slots whose memory is released together.
    #[arg(long, env = "HOST_DECOMMIT_BATCH", default_value_t = 1)]
    pub decommit_batch: usize,
    /// Where compiled components are kept across restarts (default:
    /// wasmtime's, `~/.cache/wasmtime`); `off` compiles at every start.
    #[arg(long, env = "HOST_COMPILE_CACHE")]
    pub compile_cache: Option<PathBuf>,
    /// Write /tmp/perf-<pid>.map so `perf report` names guest functions.
    #[arg(long, env = "HOST_PERF_MAP")]
    pub perf_map: bool,
}

impl UpFlags {
    /// Every flag at its default: an empty command line, read without the
    /// environment, so an embedder never picks up an operator's `HOST_*`.
    pub fn defaults() -> Self {
        let command = Self::command().mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command.try_get_matches_from(["host"]).expect("every flag has a default or is optional");
        Self::from_arg_matches(&matches).expect("the defaults parse")
    }

    /// The configuration these flags describe, with `--variable` values, then
    /// `SPIN_VARIABLE_*` from the process environment and `./.env`, as `spin
    /// up` reads them.
    pub fn into_config(self) -> HostConfig {
        HostConfig {
            manifest: self.manifest,
            runtime_config_file: self.runtime_config_file,
            listen: self.listen,
            environment: Environment::from_process().with_given(self.variables),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            max_connections_per_address: self.max_connections_per_address,
            limits: Limits { max_instances: self.max_instances, max_memory_bytes: self.max_memory_mib << 20 },
            engine: EngineSettings {
                keep_resident_bytes: self.keep_resident_kib.map(|kib| kib << 10),
                decommit_batch: self.decommit_batch,
                compile_cache: match self.compile_cache {
                    None => CompileCache::Default,
                    Some(path) if path.as_os_str() == "off" => CompileCache::Off,
                    Some(path) => CompileCache::In(path),
                },
                perf_map: self.perf_map,
            },
            shutdown_grace: SHUTDOWN_GRACE,
            postgres: PostgresSettings {
                pool_size: self.postgres_pool_size,
                empty_results: self.postgres_empty_results,
            },
        }
    }
}

/// How long shutdown waits for requests in flight (not a flag: a request
/// runs at most `--request-timeout-ms`, and SIGKILL is the operator's).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything `host up` can be told.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub manifest: PathBuf,
    /// The runtime config file, if any: its key-value stores.
    pub runtime_config_file: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Where `SPIN_VARIABLE_*` values come from.
    pub environment: Environment,
    /// The longest one request may run before its instance is stopped.
    pub request_timeout: Duration,
    /// How long a request's whole body may take to arrive. It is read before
    /// the request waits for an instance; past this it is answered 408.
    pub body_read_timeout: Duration,
    /// Connections one client address may hold open at once; more are
    /// closed at accept.
    pub max_connections_per_address: NonZeroUsize,
    pub limits: Limits,
    /// Compilation cache, pooled memory reuse, profiling map.
    pub engine: EngineSettings,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Postgres pool size and how an empty `query` result is answered.
    pub postgres: PostgresSettings,
}

impl HostConfig {
    /// [`UpFlags`]' defaults for `manifest`: `spin up`'s 127.0.0.1:3000, the
    /// process environment, Spin's 64 connections per database address, an
    /// empty `query` result fails; the host's own 5 s for a body and 64
    /// connections per client address.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self { manifest: manifest.into(), ..UpFlags::defaults().into_config() }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let config = HostConfig::new("app.toml");
        assert_eq!(config.manifest, PathBuf::from("app.toml"));
        assert_eq!(config.runtime_config_file, None);
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 3000)));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.body_read_timeout, Duration::from_secs(5));
        assert_eq!(config.max_connections_per_address.get(), 64);
        assert_eq!((config.limits.max_instances, config.limits.max_memory_bytes), (128, 128 << 20));
        assert_eq!(config.engine.keep_resident_bytes, None);
        assert_eq!(config.engine.decommit_batch, 1);
        assert_eq!(config.engine.compile_cache, CompileCache::Default);
        assert!(!config.engine.perf_map);
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.postgres, PostgresSettings::default());
    }

    #[test]
    fn every_setting_but_the_manifest_and_address_reads_its_host_variable() {
        let command = UpFlags::command();
        for arg in command
            .get_arguments()
            .filter(|a| !["help", "manifest", "listen", "variables"].contains(&a.get_id().as_str()))
        {
            let env = arg.get_env().unwrap_or_else(|| panic!("--{} has no variable", arg.get_id()));
            let expected = match arg.get_id().as_str() {
                // Spin's own variable for the same flag.
                "runtime_config_file" => "RUNTIME_CONFIG_FILE".to_owned(),
                id => format!("HOST_{}", id.to_uppercase()),
            };
            let env = env.to_str().unwrap();
            assert!(env == expected || (env == "HOST_PG_POOL_SIZE" && expected == "HOST_POSTGRES_POOL_SIZE"), "{env}");
        }
    }

    #[test]
    fn flags_become_the_configuration() {
        let flags = UpFlags::parse_from([
            "host",
            "--from",
            "x.toml",
            "--runtime-config-file",
            "runtime-config.toml",
            "--max-memory-mib",
            "64",
            "--keep-resident-kib",
            "2",
            "--compile-cache",
            "off",
            "--postgres-empty-results",
            "columns",
        ]);
        let config = flags.into_config();
        assert_eq!(config.manifest, PathBuf::from("x.toml"));
        assert_eq!(config.runtime_config_file, Some(PathBuf::from("runtime-config.toml")));
        assert_eq!(config.limits.max_memory_bytes, 64 << 20);
        assert_eq!(config.engine.keep_resident_bytes, Some(2048));
        assert_eq!(config.engine.compile_cache, CompileCache::Off);
        assert_eq!(config.postgres.empty_results, EmptyResults::Columns);
    }
}
