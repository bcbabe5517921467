//! Redis connections shared per address across every request of the
//! process: one multiplexed connection manager each, which reconnects by
//! itself after Redis comes back, so a request pays no handshake and an
//! outage heals without a restart. After a failed connection attempt, opens
//! fail at once for a second instead of each waiting out its own timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::types::other;
use crate::bindings::redis_wit::Error;

/// How long a connection attempt or a command may take before it fails.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How long a failed connection attempt makes later opens fail at once, so
/// an unreachable Redis costs requests one timeout per interval, not one each.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The process's connections, by the guest's address text.
#[derive(Default)]
pub struct Clients {
    managers: std::sync::Mutex<HashMap<String, Slot>>,
}

enum Slot {
    Ready(ConnectionManager),
    FailedAt(Instant),
}

impl Clients {
    /// The connection to `address`, made on first use.
    pub async fn connect(&self, address: &str) -> Result<ConnectionManager, Error> {
        {
            let managers = self.managers.lock().unwrap_or_else(|p| p.into_inner());
            match managers.get(address) {
                Some(Slot::Ready(manager)) => return Ok(manager.clone()),
                Some(Slot::FailedAt(at)) if at.elapsed() < RETRY_AFTER_FAILURE => {
                    return Err(Error::Other("Redis is unreachable (the last attempt just failed)".into()));
                }
                _ => {}
            }
        }
        // Connect without holding the lock: one slow attempt must not queue every request.
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let result = client.get_connection_manager_with_config(config).await;
        let mut managers = self.managers.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(manager) => {
                // Another request may have connected meanwhile; either connection serves.
                managers.insert(address.to_owned(), Slot::Ready(manager.clone()));
                Ok(manager)
            }
            Err(error) => {
                managers.insert(address.to_owned(), Slot::FailedAt(Instant::now()));
                Err(other(error))
            }
        }
    }
}
