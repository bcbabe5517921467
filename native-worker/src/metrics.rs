//! Prometheus metrics of the worker: what an operator needs to see whether
//! pushes flow (consumed, forwarded, skipped, held for quiet hours and
//! released, retried, dead-lettered), whether
//! a delivery panicked, whether events leave the outbox (relayed, quarantined,
//! purged), whether dead device tokens are retired, whether the breaker
//! holds consumption back, and how long a message takes.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub consumed: Counter,
    pub forwarded: Counter,
    pub skipped: Counter,
    pub duplicates: Counter,
    pub retried: Counter,
    pub dead_lettered: Counter,
    /// Messages handed back to the queue untouched because the breaker opened.
    pub requeued: Counter,
    /// Deliveries acked as held for the user's quiet hours (in `held_messages`).
    pub held: Counter,
    /// Held messages published back to push.queue (confirmed) and deleted.
    pub held_released: Counter,
    /// Held messages whose release was refused or unconfirmed (tried again).
    pub held_release_failures: Counter,
    /// Deliveries whose task panicked (each is dead-lettered with the panic).
    pub panics: Counter,
    pub relayed: Counter,
    pub relay_failures: Counter,
    /// Outbox rows set aside because they cannot be published as they stand.
    pub quarantined: Counter,
    /// Outbox rows deleted after the retention period.
    pub outbox_purged: Counter,
    /// Ended sessions announced again from PostgreSQL (their mark was
    /// missing: their users' cached entries tombstoned, the mark written).
    pub session_marks: Counter,
    /// Rounds of marks that could not be written (PostgreSQL or Redis down).
    pub session_mark_failures: Counter,
    /// Devices retired on the push service's feedback.
    pub devices_retired: Counter,
    /// Feedback naming no active device of its user (unknown, another
    /// user's, already retired): acked, nothing changed.
    pub feedback_ignored: Counter,
    /// Feedback dead-lettered because it cannot be read as a report.
    pub feedback_malformed: Counter,
    /// Attempts at a feedback report that failed on the way (PostgreSQL
    /// down); the report is tried again in place.
    pub feedback_failures: Counter,
    /// 0 closed, 1 open, 2 half-open.
    pub breaker_state: Gauge,
    /// Seconds from delivery to ack.
    pub processing_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("native_worker");
        let m = Self {
            consumed: Counter::default(),
            forwarded: Counter::default(),
            skipped: Counter::default(),
            duplicates: Counter::default(),
            retried: Counter::default(),
            dead_lettered: Counter::default(),
            requeued: Counter::default(),
            held: Counter::default(),
            held_released: Counter::default(),
            held_release_failures: Counter::default(),
            panics: Counter::default(),
            relayed: Counter::default(),
            relay_failures: Counter::default(),
            quarantined: Counter::default(),
            outbox_purged: Counter::default(),
            session_marks: Counter::default(),
            session_mark_failures: Counter::default(),
            devices_retired: Counter::default(),
            feedback_ignored: Counter::default(),
            feedback_malformed: Counter::default(),
            feedback_failures: Counter::default(),
            breaker_state: Gauge::default(),
            // 0.5 ms to about 8 s.
            processing_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            registry: Registry::default(),
        };
        registry.register("messages_consumed", "Deliveries taken from push.queue", m.consumed.clone());
        registry.register("messages_forwarded", "Messages enriched and confirmed on push.ready", m.forwarded.clone());
        registry.register(
            "messages_skipped",
            "Messages acked without a push (push disabled, category muted, no token, inactive)",
            m.skipped.clone(),
        );
        registry.register(
            "messages_duplicate",
            "Messages whose request_id was already forwarded",
            m.duplicates.clone(),
        );
        registry.register("messages_retried", "Messages sent to a delay queue for a retry", m.retried.clone());
        registry.register("messages_dead_lettered", "Messages sent to failed.queue", m.dead_lettered.clone());
        registry.register("messages_requeued", "Deliveries handed back because the breaker opened", m.requeued.clone());
        registry.register("messages_held", "Messages held for the user's quiet hours", m.held.clone());
        registry.register(
            "held_released",
            "Held messages published back to push.queue once their quiet hours ended",
            m.held_released.clone(),
        );
        registry.register(
            "held_release_failures",
            "Held messages whose release was refused or unconfirmed (tried again next round)",
            m.held_release_failures.clone(),
        );
        registry.register(
            "delivery_panics",
            "Deliveries whose processing panicked; each is dead-lettered with the panic message",
            m.panics.clone(),
        );
        registry.register("outbox_relayed", "Outbox events published and confirmed", m.relayed.clone());
        registry.register("outbox_failures", "Outbox publishes that failed and stay pending", m.relay_failures.clone());
        registry.register(
            "outbox_quarantined",
            "Outbox rows set aside (quarantined_at, last_error) because they cannot be published",
            m.quarantined.clone(),
        );
        registry.register(
            "sessions_announced_again",
            "Ended sessions whose mark was missing, announced again from PostgreSQL",
            m.session_marks.clone(),
        );
        registry.register(
            "session_mark_failures",
            "Rounds of ended-session marks that could not be written",
            m.session_mark_failures.clone(),
        );
        registry.register(
            "devices_retired",
            "Devices retired because the push service reported their token dead",
            m.devices_retired.clone(),
        );
        registry.register(
            "feedback_ignored",
            "Feedback naming no active device of its user (acked, nothing changed)",
            m.feedback_ignored.clone(),
        );
        registry.register(
            "feedback_malformed",
            "Feedback dead-lettered because it is not a report (bad JSON, user_id or token)",
            m.feedback_malformed.clone(),
        );
        registry.register(
            "feedback_failures",
            "Feedback attempts that failed on a dependency and were tried again",
            m.feedback_failures.clone(),
        );
        registry.register("outbox_purged", "Outbox rows deleted after the retention period", m.outbox_purged.clone());
        registry.register("breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open", m.breaker_state.clone());
        registry.register("processing_seconds", "Time from delivery to ack", m.processing_seconds.clone());
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_its_prefix() {
        let m = Metrics::default();
        m.forwarded.inc();
        m.breaker_state.set(1);
        m.processing_seconds.observe(0.01);
        let text = m.render();
        assert!(text.contains("native_worker_messages_forwarded_total 1"), "{text}");
        assert!(text.contains("native_worker_breaker_state 1"), "{text}");
        assert!(text.contains("native_worker_processing_seconds_count 1"), "{text}");
        assert!(text.contains("native_worker_outbox_relayed_total 0"), "{text}");
        assert!(text.contains("native_worker_devices_retired_total 0"), "{text}");
        assert!(text.contains("native_worker_feedback_malformed_total 0"), "{text}");
        assert!(text.contains("native_worker_messages_held_total 0"), "{text}");
        assert!(text.contains("native_worker_held_released_total 0"), "{text}");
        assert!(text.contains("native_worker_held_release_failures_total 0"), "{text}");
    }
}
