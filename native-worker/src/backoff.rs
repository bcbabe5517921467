//! Reconnection backoff: exponential with a cap and jitter, so a fleet of
//! workers does not hammer a broker that just came back, all in step.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, attempt: 0 }
    }

    /// The un-jittered delay before the next attempt; grows until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// `next_delay` scaled by a random factor in [0.5, 1.0].
    pub fn next_jittered(&mut self) -> Duration {
        let delay = self.next_delay();
        let unit = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        delay.mul_f64(0.5 + unit / 2.0)
    }

    /// After a success the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<_> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for expected in [100u128, 200, 400, 800] {
            let d = b.next_jittered().as_millis();
            assert!(d >= expected / 2 && d <= expected, "{d} not in [{}, {expected}]", expected / 2);
        }
    }
}
