//! Requests whose instance grew its linear memory, recorded so the suite can
//! hold the hot reads to the memory an instance starts with.
//!
//! Why it matters where users run the app: under `spin up` (4.1, pooling
//! allocator) one `memory.grow` during a request cost about 110 µs more of
//! the server's CPU, most of what a whole trivial request costs (about 150
//! µs), while each 64 KiB page an instance starts with costs about 5 µs
//! (README, "Benchmark"). A change that made a cached read allocate past the
//! room its component starts with would cut that read's throughput under
//! Spin by about a third, and nothing else would show it. Growth is the
//! guest's own doing (the same `.wasm` given the same request grows the same
//! way under any runtime), so the host can watch for it.
//!
//! [`Limiter`] is each store's [`ResourceLimiter`]: it applies the runtime's
//! limits ([`StoreLimits`]) unchanged and notes what grew.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::{ResourceLimiter, StoreLimits};

/// The growths kept: enough for a test to read its own; older ones are dropped.
const KEPT: usize = 1024;

/// One request whose instance grew a linear memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    pub component: Arc<str>,
    /// The request's path (without the query).
    pub path: String,
    /// The memory's size before its first growth in the request, and after its last.
    pub from_bytes: usize,
    pub to_bytes: usize,
}

/// The application's most recent growths (at most [`KEPT`]), one entry per
/// request and memory.
#[derive(Debug, Default)]
pub struct MemoryGrowth {
    recorded: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    /// Every growth ever recorded, kept or not.
    count: u64,
    recent: VecDeque<Growth>,
}

impl MemoryGrowth {
    /// How many growths were ever recorded: a mark for [`Self::since`].
    pub fn mark(&self) -> u64 {
        self.lock().count
    }

    /// The growths recorded after `mark` was taken, oldest first (those
    /// still kept).
    pub fn since(&self, mark: u64) -> Vec<Growth> {
        let recorded = self.lock();
        let new = recorded.count.saturating_sub(mark).min(recorded.recent.len() as u64) as usize;
        recorded.recent.iter().skip(recorded.recent.len() - new).cloned().collect()
    }

    fn record(&self, growth: Growth) {
        tracing::debug!(
            target: "host::memory",
            component = %growth.component,
            path = %growth.path,
            from_kib = growth.from_bytes / 1024,
            to_kib = growth.to_bytes / 1024,
            "linear memory grew during the request"
        );
        let mut recorded = self.lock();
        if recorded.recent.len() == KEPT {
            recorded.recent.pop_front();
        }
        recorded.recent.push_back(growth);
        recorded.count += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A panic while holding the lock leaves whole entries behind.
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One instance's limiter: the runtime's limits, and the growth it saw.
pub struct Limiter {
    limits: StoreLimits,
    component: Arc<str>,
    path: String,
    record: Arc<MemoryGrowth>,
    /// Size before the first growth and after the latest, while serving.
    grown: Option<(usize, usize)>,
}

impl Limiter {
    pub fn new(limits: StoreLimits, component: Arc<str>, path: String, record: Arc<MemoryGrowth>) -> Self {
        Self { limits, component, path, record, grown: None }
    }
}

/// The growth is recorded when the instance ends (its store is dropped), so
/// a request that grows several times is one entry.
impl Drop for Limiter {
    fn drop(&mut self) {
        if let Some((from_bytes, to_bytes)) = self.grown.take() {
            let growth = Growth {
                component: self.component.clone(),
                path: std::mem::take(&mut self.path),
                from_bytes,
                to_bytes,
            };
            self.record.record(growth);
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        // A memory is created by "growing" from 0 to its initial size: that
        // is instantiation, not growth.
        if allowed && current > 0 {
            let from = self.grown.map_or(current, |(from, _)| from);
            self.grown = Some((from, desired));
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(record: &Arc<MemoryGrowth>, path: &str) -> Limiter {
        let limits = wasmtime::StoreLimitsBuilder::new().memory_size(1 << 20).build();
        Limiter::new(limits, Arc::from("c"), path.to_owned(), record.clone())
    }

    #[test]
    fn instantiation_is_not_growth_and_one_request_is_one_entry() {
        let record = Arc::new(MemoryGrowth::default());
        let mark = record.mark();
        let mut quiet = limiter(&record, "/quiet");
        assert!(quiet.memory_growing(0, 5 << 16, None).unwrap());
        drop(quiet);
        assert_eq!(record.since(mark), []);

        let mut busy = limiter(&record, "/busy");
        assert!(busy.memory_growing(0, 5 << 16, None).unwrap());
        assert!(busy.memory_growing(5 << 16, 6 << 16, None).unwrap());
        assert!(busy.memory_growing(6 << 16, 9 << 16, None).unwrap());
        // Past the store's limit: refused, and not recorded as growth.
        assert!(!busy.memory_growing(9 << 16, 2 << 20, None).unwrap());
        drop(busy);
        let growths = record.since(mark);
        assert_eq!(growths.len(), 1);
        assert_eq!((growths[0].path.as_str(), growths[0].from_bytes, growths[0].to_bytes), ("/busy", 5 << 16, 9 << 16));
        assert_eq!(record.since(record.mark()), []);
    }

    #[test]
    fn only_the_most_recent_are_kept() {
        let record = Arc::new(MemoryGrowth::default());
        for n in 0..KEPT + 10 {
            let mut grows = limiter(&record, &format!("/{n}"));
            grows.memory_growing(1 << 16, 2 << 16, None).unwrap();
        }
        assert_eq!(record.mark(), (KEPT + 10) as u64);
        let kept = record.since(0);
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].path, "/10");
        assert_eq!(
            record.since(record.mark() - 2).iter().map(|g| g.path.as_str()).collect::<Vec<_>>(),
            [format!("/{}", KEPT + 8), format!("/{}", KEPT + 9)]
        );
    }
}
