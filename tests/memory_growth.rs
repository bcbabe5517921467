//! The embedded host's record of requests whose instance grew its linear
//! memory (`host::memory_growth`): under `spin up` such a request costs
//! about 110 µs more of CPU, so the cached reads must fit in the memory
//! their instance starts with. Spin keeps no such record.

use host::memory_growth::MemoryGrowth;

use crate::{Server, TestApp};

impl TestApp {
    /// The host's record; `None` under `spin up`.
    pub fn memory_growth(&self) -> Option<&MemoryGrowth> {
        match &self._server {
            Server::Host(_, growth) => Some(growth),
            Server::Spin { .. } => None,
        }
    }
}
