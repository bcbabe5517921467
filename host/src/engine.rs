//! The wasmtime engine and the components it runs. Components are compiled
//! once at start (and cached on disk, so a restart or a test run reuses the
//! machine code), linked against WASI, WASI HTTP and the Spin interfaces, and
//! pre-instantiated, so a request only pays for instantiation.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::state::InstanceState;
use crate::{key_value, postgres, redis, variables};

/// How often the epoch advances; request deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource ceilings for instances.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Instances that may exist at once (requests in flight).
    pub max_instances: u32,
    /// Linear memory of one instance, in bytes.
    pub max_memory_bytes: usize,
}

/// How the engine compiles and lays out instances: parsed once, from the
/// command line and the environment (`host up --help`, [`crate::config`]),
/// before the engine is built.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Bytes of each pooled memory and table that are reset in place
    /// (memset) instead of released (madvise) when a slot is reused; `None`
    /// picks 16 MiB where the kernel has `PAGEMAP_SCAN` (Linux 6.7+, so only
    /// the pages a request touched are reset) and 1 MiB elsewhere (where the
    /// whole range is memset). Measured with `scripts/bench.sh`: a trivial
    /// component went from ~6,400 to ~14,000 requests/s on 2 cores.
    pub keep_resident_bytes: Option<usize>,
    /// Slots whose memory is released together (fewer TLB shootdowns).
    pub decommit_batch: usize,
    /// Where compiled machine code is kept across restarts.
    pub compile_cache: CompileCache,
    /// Writes `/tmp/perf-<pid>.map` so `perf report` names guest functions.
    pub perf_map: bool,
}

/// The on-disk cache of compiled components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileCache {
    Off,
    /// wasmtime's default location (`$XDG_CACHE_HOME/wasmtime` or `~/.cache/wasmtime`).
    Default,
    In(std::path::PathBuf),
}

fn kernel_has_pagemap_scan() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    matches!((numbers.next(), numbers.next()), (Some(major), Some(minor)) if (major, minor) >= (6, 7))
}

pub fn build_engine(limits: Limits, settings: &EngineSettings) -> anyhow::Result<Engine> {
    let keep_resident =
        settings.keep_resident_bytes.unwrap_or(if kernel_has_pagemap_scan() { 16 << 20 } else { 1 << 20 });
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if settings.perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }

    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(limits.max_instances)
        // A Rust component holds a handful of core instances, memories and tables.
        .total_core_instances(limits.max_instances * 16)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 4)
        .total_stacks(limits.max_instances)
        .max_core_instances_per_component(64)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(limits.max_memory_bytes)
        // Reset the first bytes of a reused slot with memset rather than
        // madvise, saving the page faults of pages every request touches.
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident)
        // Where the kernel can tell which pages a request touched (Linux
        // 6.7+), reset only those; elsewhere this falls back to the above.
        .pagemap_scan(wasmtime::Enabled::Auto)
        // madvise in batches: fewer TLB shootdowns across cores.
        .decommit_batch_size(settings.decommit_batch.max(1));
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));

    let directory = match &settings.compile_cache {
        CompileCache::Off => None,
        CompileCache::Default => Some(None),
        CompileCache::In(path) => Some(Some(path.clone())),
    };
    if let Some(directory) = directory {
        let mut cache_config = wasmtime::CacheConfig::new();
        if let Some(directory) = directory {
            cache_config.with_directory(directory);
        }
        // A cache that cannot be set up only costs compile time.
        match wasmtime::Cache::new(cache_config) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(error) => tracing::warn!(%error, "compilation cache disabled"),
        }
    }
    Ok(Engine::new(&config)?)
}

/// A linker with everything a Spin HTTP component may import: WASI and
/// WASI HTTP on the runtime's state, each Spin interface on its capability's
/// part of it.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    key_value::add_to_linker(&mut linker, InstanceState::key_value)?;
    postgres::add_to_linker(&mut linker, InstanceState::postgres)?;
    redis::add_to_linker(&mut linker, InstanceState::redis)?;
    variables::add_to_linker(&mut linker, InstanceState::variables)?;
    Ok(linker)
}

/// Compiles a component and prepares it for per-request instantiation.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    path: &Path,
) -> anyhow::Result<ProxyPre<InstanceState>> {
    let component = Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load {}", path.display()))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} imports something this host does not provide", path.display()))?;
    ProxyPre::new(pre)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not an HTTP component (wasi:http/incoming-handler)", path.display()))
}
