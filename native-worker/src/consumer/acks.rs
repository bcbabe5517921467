//! Ack coalescing. Each ack costs the queue's process on the broker as much
//! as a delivery, so the consumer acks many deliveries at once with
//! `multiple`; deliveries finish out of order, so an [`AckLine`] tracks
//! which prefix of delivery tags is settled and may be acked.

use std::sync::Mutex;
use std::time::Duration;

use super::lock::lock;

/// How often coalesced acks are sent. Each ack costs the queue's process on
/// the broker as much as a delivery; one `multiple` ack per few milliseconds
/// instead of one per message frees it for deliveries.
pub const ACK_FLUSH_EVERY: Duration = Duration::from_millis(5);

/// Coalesces acks on one channel. Deliveries finish out of order; an ack with
/// `multiple` may only cover a prefix of delivery tags that are all settled,
/// so this tracks the lowest unsettled tag and the highest ackable one below it.
pub struct AckLine {
    state: Mutex<AckState>,
}

struct AckState {
    /// Lowest delivery tag not settled yet.
    next: u64,
    /// Settled tags above `next`, and whether each wants an ack (false: it
    /// was nacked already, and an ack naming it would be an unknown tag).
    done: std::collections::BTreeMap<u64, bool>,
    /// Highest ackable tag of the settled prefix, not acked yet.
    flushable: Option<u64>,
}

impl AckLine {
    pub fn new(first_tag: u64) -> Self {
        Self { state: Mutex::new(AckState { next: first_tag, done: Default::default(), flushable: None }) }
    }

    /// Marks `tag` settled; `ack` when it should be acked (not nacked).
    pub fn complete(&self, tag: u64, ack: bool) {
        let mut s = lock(&self.state);
        s.done.insert(tag, ack);
        loop {
            let next = s.next;
            let Some(ackable) = s.done.remove(&next) else { break };
            if ackable {
                s.flushable = Some(next);
            }
            s.next += 1;
        }
    }

    /// The tag to ack with `multiple`, if any became ackable since last time.
    pub fn take_flushable(&self) -> Option<u64> {
        lock(&self.state).flushable.take()
    }
}

#[cfg(test)]
mod tests {
    use super::AckLine;

    #[test]
    fn acks_only_a_settled_prefix() {
        let line = AckLine::new(1);
        line.complete(2, true);
        line.complete(3, true);
        assert_eq!(line.take_flushable(), None, "tag 1 is still being processed");
        line.complete(1, true);
        assert_eq!(line.take_flushable(), Some(3));
        assert_eq!(line.take_flushable(), None, "already taken");
    }

    #[test]
    fn never_names_a_nacked_tag() {
        let line = AckLine::new(5);
        line.complete(5, true);
        line.complete(6, false);
        assert_eq!(line.take_flushable(), Some(5));
        line.complete(7, false);
        assert_eq!(line.take_flushable(), None, "only nacked tags since");
        line.complete(8, true);
        assert_eq!(line.take_flushable(), Some(8));
    }
}
