//! The wasmtime engine and the components it runs. Components are compiled
//! once at start (and cached on disk, so a restart or a test run reuses the
//! machine code), linked against WASI, WASI HTTP and the Spin interfaces, and
//! pre-instantiated, so a request only pays for instantiation.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::SpinImports;
use crate::state::InstanceState;

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

pub fn build_engine(limits: Limits, cache: bool) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);

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
        // Reset the first pages of a reused slot with memset rather than
        // madvise: a request touches them anyway, and it saves page faults.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));

    if cache {
        // The default cache location; a cache that cannot be set up only costs compile time.
        match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(error) => tracing::warn!(%error, "compilation cache disabled"),
        }
    }
    Ok(Engine::new(&config)?)
}

/// A linker with everything a Spin HTTP component may import.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    SpinImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Compiles a component and prepares it for per-request instantiation.
pub fn prepare(engine: &Engine, linker: &Linker<InstanceState>, path: &Path) -> anyhow::Result<ProxyPre<InstanceState>> {
    let component = Component::from_file(engine, path).map_err(anyhow::Error::from).with_context(|| format!("cannot load {}", path.display()))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} imports something this host does not provide", path.display()))?;
    ProxyPre::new(pre).map_err(anyhow::Error::from).with_context(|| format!("{} is not an HTTP component (wasi:http/incoming-handler)", path.display()))
}
