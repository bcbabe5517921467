//! What to do with a message whose processing failed for a transient reason:
//! which delay queue it waits in, or whether its retries are spent. Delays
//! live in the broker (a TTL queue dead-lettering back to push.queue), so the
//! consumer never sleeps and other messages are never held up.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Publish to the delay queue of `delay`, with the retry header set to `attempt`.
    Retry { delay: Duration, attempt: u32 },
    /// Every retry was used: dead-letter it.
    Exhausted,
}

/// `done` is the number of retries the message already went through.
pub fn decide(done: u32, delays: &[Duration]) -> RetryDecision {
    match delays.get(done as usize) {
        Some(delay) => RetryDecision::Retry { delay: *delay, attempt: done + 1 },
        None => RetryDecision::Exhausted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_after_two_four_and_eight_seconds_then_gives_up() {
        let delays = [2, 4, 8].map(Duration::from_secs);
        assert_eq!(decide(0, &delays), RetryDecision::Retry { delay: Duration::from_secs(2), attempt: 1 });
        assert_eq!(decide(1, &delays), RetryDecision::Retry { delay: Duration::from_secs(4), attempt: 2 });
        assert_eq!(decide(2, &delays), RetryDecision::Retry { delay: Duration::from_secs(8), attempt: 3 });
        assert_eq!(decide(3, &delays), RetryDecision::Exhausted);
        assert_eq!(decide(u32::MAX, &delays), RetryDecision::Exhausted);
    }

    #[test]
    fn no_delays_means_no_retries() {
        assert_eq!(decide(0, &[]), RetryDecision::Exhausted);
    }
}
