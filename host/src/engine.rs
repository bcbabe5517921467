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

/// Bytes of each pooled memory and table that are reset in place (memset)
/// instead of released (madvise) when a slot is reused: `HOST_KEEP_RESIDENT_KIB`,
/// by default 16 MiB where the kernel has `PAGEMAP_SCAN` (Linux 6.7+, so only
/// the pages a request touched are reset) and 1 MiB elsewhere (where the
/// whole range is memset). Measured with `scripts/bench.sh`: a trivial
/// component went from ~6,400 to ~14,000 requests/s on 2 cores.
fn keep_resident_bytes() -> usize {
    let kib = std::env::var("HOST_KEEP_RESIDENT_KIB").ok().and_then(|v| v.parse::<usize>().ok());
    kib.unwrap_or(if kernel_has_pagemap_scan() { 16 << 10 } else { 1 << 10 }) << 10
}

fn kernel_has_pagemap_scan() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    matches!((numbers.next(), numbers.next()), (Some(major), Some(minor)) if (major, minor) >= (6, 7))
}

/// `HOST_DECOMMIT_BATCH` (default 1): slots whose memory is released together.
fn decommit_batch() -> usize {
    std::env::var("HOST_DECOMMIT_BATCH").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(1)
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
        // Reset the first bytes of a reused slot with memset rather than
        // madvise, saving the page faults of pages every request touches.
        .linear_memory_keep_resident(keep_resident_bytes())
        .table_keep_resident(keep_resident_bytes())
        // Where the kernel can tell which pages a request touched (Linux
        // 6.7+), reset only those; elsewhere this falls back to the above.
        .pagemap_scan(wasmtime::Enabled::Auto)
        // madvise in batches: fewer TLB shootdowns across cores.
        .decommit_batch_size(decommit_batch());
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
