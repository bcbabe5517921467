//! Caps concurrent connections per client address.
//!
//! The host holds at most 4096 connections in all, and each may buffer a
//! request body of up to 64 KiB while it waits (see [`crate::body`]). Without
//! a per-address cap one client could open them all and starve everyone
//! else. A connection over its address's cap is closed at accept, before any
//! byte is read: cheaper than reading a request to answer 429, and a client
//! that already holds that many connections can retry on one of them.
//!
//! The key is the peer's IP address as the socket reports it; an IPv6 client
//! is counted per full address, not per prefix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Counts the open connections of every client address.
#[derive(Debug, Clone)]
pub struct PerAddressLimit {
    /// The most connections one address may hold at once.
    cap: NonZeroUsize,
    /// Open connections per address; an address is removed when its last
    /// connection closes, so the map only holds addresses with connections.
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection; dropping it frees the address's slot.
#[derive(Debug)]
pub struct ConnectionGuard {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddressLimit {
    pub fn new(cap: NonZeroUsize) -> Self {
        Self { cap, open: Arc::default() }
    }

    /// A guard for one more connection from `address`, or `None` if the
    /// address already holds its cap.
    pub fn try_acquire(&self, address: IpAddr) -> Option<ConnectionGuard> {
        let mut open = self.open.lock().expect("the connection counts are never poisoned");
        let count = open.entry(address).or_insert(0);
        if *count >= self.cap.get() {
            return None;
        }
        *count += 1;
        Some(ConnectionGuard { address, open: self.open.clone() })
    }

    /// Open connections of `address` (for tests and logs).
    pub fn open(&self, address: IpAddr) -> usize {
        self.open.lock().expect("the connection counts are never poisoned").get(&address).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("the connection counts are never poisoned");
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(cap: usize) -> PerAddressLimit {
        PerAddressLimit::new(NonZeroUsize::new(cap).unwrap())
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    #[test]
    fn an_address_at_its_cap_is_refused_while_another_is_not() {
        let limit = limit(2);
        let _first = limit.try_acquire(A).unwrap();
        let _second = limit.try_acquire(A).unwrap();
        assert!(limit.try_acquire(A).is_none());
        assert!(limit.try_acquire(B).is_some());
    }

    #[test]
    fn a_closed_connection_frees_its_slot_and_forgets_an_idle_address() {
        let limit = limit(1);
        let first = limit.try_acquire(A).unwrap();
        assert!(limit.try_acquire(A).is_none());
        drop(first);
        assert_eq!(limit.open(A), 0);
        assert!(limit.open.lock().unwrap().is_empty(), "no entry for an address without connections");
        assert!(limit.try_acquire(A).is_some());
    }

    #[test]
    fn a_refused_connection_does_not_count() {
        let limit = limit(1);
        let _first = limit.try_acquire(A).unwrap();
        assert!(limit.try_acquire(A).is_none());
        assert_eq!(limit.open(A), 1);
    }
}
