//! The circuit breaker around what the worker depends on (PostgreSQL, and the
//! broker for its own publishes). When they fail, taking more messages only
//! burns them into retries and dead letters; the breaker makes the consumer
//! stop instead, and probe with one message once the dependency had time to
//! recover.
//!
//! A pure state machine: time comes from an injected [`Clock`], so every
//! transition is tested without sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the breaker reads the time; tests inject a clock they advance by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().expect("clock lock")
    }
}

/// The breaker's state, as exported in metrics (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow; counts consecutive failures.
    Closed { failures: u32 },
    /// Failing fast since `since`.
    Open { since: Instant },
    /// One trial message is allowed; `trial_taken` once it was handed out.
    HalfOpen { trial_taken: bool },
}

impl State {
    pub fn gauge(&self) -> i64 {
        match self {
            State::Closed { .. } => 0,
            State::Open { .. } => 1,
            State::HalfOpen { .. } => 2,
        }
    }
}

/// Whether a message may be processed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Go ahead (closed).
    Allow,
    /// Go ahead: this message is the half-open trial.
    Trial,
    /// Do not take messages; ask again after this long at the earliest.
    Deny { retry_after: Duration },
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before the trial.
    pub open_for: Duration,
}

pub struct Breaker<C: Clock = SystemClock> {
    settings: Settings,
    clock: C,
    state: State,
}

impl<C: Clock> Breaker<C> {
    pub fn new(settings: Settings, clock: C) -> Self {
        Self {
            settings: Settings { failure_threshold: settings.failure_threshold.max(1), ..settings },
            clock,
            state: State::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Asks to process one message. Moving from open to half-open happens
    /// here, lazily, so the machine needs no timer of its own.
    pub fn permit(&mut self) -> Permit {
        match self.state {
            State::Closed { .. } => Permit::Allow,
            State::Open { since } => {
                let elapsed = self.clock.now().saturating_duration_since(since);
                if elapsed >= self.settings.open_for {
                    self.state = State::HalfOpen { trial_taken: true };
                    Permit::Trial
                } else {
                    Permit::Deny { retry_after: self.settings.open_for - elapsed }
                }
            }
            // The trial is out; nobody else goes until it reports back. Poll
            // again soon: the answer comes with the trial's outcome.
            State::HalfOpen { trial_taken: true } => Permit::Deny { retry_after: Duration::from_millis(50) },
            State::HalfOpen { trial_taken: false } => {
                self.state = State::HalfOpen { trial_taken: true };
                Permit::Trial
            }
        }
    }

    /// The dependency worked: any success closes the breaker.
    pub fn on_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    /// The dependency failed. Returns true when the breaker is open afterwards.
    pub fn on_failure(&mut self) -> bool {
        let now = self.clock.now();
        self.state = match self.state {
            State::Closed { failures } if failures + 1 >= self.settings.failure_threshold => State::Open { since: now },
            State::Closed { failures } => State::Closed { failures: failures + 1 },
            // A failed trial starts a new full open period.
            State::HalfOpen { .. } => State::Open { since: now },
            // Late failures of messages taken before opening do not extend it.
            open @ State::Open { .. } => open,
        };
        matches!(self.state, State::Open { .. })
    }

    /// Gives back a trial that found no message to try, so the next one is.
    pub fn release_trial(&mut self) {
        if let State::HalfOpen { trial_taken: true } = self.state {
            self.state = State::HalfOpen { trial_taken: false };
        }
    }

    /// How much longer the breaker stays open; `None` unless open.
    pub fn remaining_open(&self) -> Option<Duration> {
        match self.state {
            State::Open { since } => {
                Some(self.settings.open_for.saturating_sub(self.clock.now().saturating_duration_since(since)))
            }
            _ => None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> (Breaker<ManualClock>, ManualClock) {
        let clock = ManualClock::default();
        let settings = Settings { failure_threshold: 5, open_for: Duration::from_secs(60) };
        (Breaker::new(settings, clock.clone()), clock)
    }

    #[test]
    fn stays_closed_for_four_consecutive_failures() {
        let (mut b, _) = breaker();
        for _ in 0..4 {
            assert!(!b.on_failure());
        }
        assert_eq!(b.state(), State::Closed { failures: 4 });
        assert_eq!(b.permit(), Permit::Allow);
    }

    #[test]
    fn opens_at_the_fifth_consecutive_failure_and_denies() {
        let (mut b, clock) = breaker();
        for _ in 0..4 {
            b.on_failure();
        }
        assert!(b.on_failure());
        assert_eq!(b.state().gauge(), 1);
        clock.advance(Duration::from_secs(59));
        assert_eq!(b.permit(), Permit::Deny { retry_after: Duration::from_secs(1) });
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (mut b, _) = breaker();
        for _ in 0..4 {
            b.on_failure();
        }
        b.on_success();
        for _ in 0..4 {
            assert!(!b.on_failure());
        }
        assert_eq!(b.permit(), Permit::Allow);
    }

    #[test]
    fn half_opens_after_the_open_period_with_exactly_one_trial() {
        let (mut b, clock) = breaker();
        for _ in 0..5 {
            b.on_failure();
        }
        clock.advance(Duration::from_secs(60));
        assert_eq!(b.permit(), Permit::Trial);
        assert_eq!(b.state().gauge(), 2);
        assert!(matches!(b.permit(), Permit::Deny { .. }), "a second message must wait for the trial");
    }

    #[test]
    fn a_successful_trial_closes_the_breaker() {
        let (mut b, clock) = breaker();
        for _ in 0..5 {
            b.on_failure();
        }
        clock.advance(Duration::from_secs(61));
        assert_eq!(b.permit(), Permit::Trial);
        b.on_success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert_eq!(b.permit(), Permit::Allow);
    }

    #[test]
    fn a_failed_trial_reopens_for_a_full_period() {
        let (mut b, clock) = breaker();
        for _ in 0..5 {
            b.on_failure();
        }
        clock.advance(Duration::from_secs(60));
        assert_eq!(b.permit(), Permit::Trial);
        assert!(b.on_failure());
        clock.advance(Duration::from_secs(30));
        assert_eq!(b.permit(), Permit::Deny { retry_after: Duration::from_secs(30) });
        clock.advance(Duration::from_secs(30));
        assert_eq!(b.permit(), Permit::Trial);
    }

    #[test]
    fn a_released_trial_goes_to_the_next_message() {
        let (mut b, clock) = breaker();
        for _ in 0..5 {
            b.on_failure();
        }
        assert_eq!(b.remaining_open(), Some(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(60));
        assert_eq!(b.permit(), Permit::Trial);
        b.release_trial();
        assert_eq!(b.permit(), Permit::Trial);
        assert_eq!(b.remaining_open(), None);
    }

    #[test]
    fn late_failures_while_open_do_not_extend_the_period() {
        let (mut b, clock) = breaker();
        for _ in 0..5 {
            b.on_failure();
        }
        clock.advance(Duration::from_secs(50));
        b.on_failure();
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.permit(), Permit::Trial);
    }
}
