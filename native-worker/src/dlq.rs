//! `dlq replay`: moves dead letters from failed.queue back to push.queue once
//! their cause is fixed (a user created late, a bug deployed away).
//!
//! Messages dead-lettered as malformed or too large stay where they are
//! unless `--include-malformed` asks for them: replayed as they are, they
//! would only be dead-lettered again for the same reason.
//!
//! Never loses one: each message is republished with a confirm before its
//! original is acked. Messages that do not match the filter, or are counted in
//! a dry run, are held unacked until the end and then handed back in one
//! go, so `basic.get` never sees the same message twice in one run.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::config::Config;
use crate::message;
use crate::topology::{self, PublishError};

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("republish failed: {0}")]
    Publish(#[from] PublishError),
}

/// Which dead letters to replay. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Substring of the `x-failure-reason` header.
    pub reason_contains: Option<String>,
    /// Substring of the body (e.g. a user id or a template code).
    pub body_contains: Option<String>,
    /// Replay messages dead-lettered as malformed or too large too.
    pub include_malformed: bool,
}

impl Filter {
    pub fn matches(&self, reason: Option<&str>, body: &[u8]) -> bool {
        let reason_ok = self.reason_contains.as_deref().is_none_or(|want| reason.is_some_and(|r| r.contains(want)));
        let body_ok = self.body_contains.as_deref().is_none_or(|want| String::from_utf8_lossy(body).contains(want));
        reason_ok && body_ok
    }

    /// True when a dead letter with `reason` is left alone as malformed.
    pub fn skips_as_malformed(&self, reason: Option<&str>) -> bool {
        !self.include_malformed && reason.is_some_and(message::is_malformed_reason)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters looked at.
    pub examined: usize,
    /// Matching ones (replayed, or that would be in a dry run).
    pub matched: usize,
    pub replayed: usize,
    /// Left in place because they were dead-lettered as malformed or too large.
    pub skipped_malformed: usize,
}

pub async fn replay(config: &Config, filter: &Filter, limit: usize, dry_run: bool) -> Result<ReplayReport, DlqError> {
    let conn = topology::connect(&config.amqp_url, "native-worker dlq").await?;
    let channel = topology::confirm_channel(&conn).await?;
    topology::declare(&channel, config).await?;
    // Only what is there now: replayed messages that fail again come back
    // to failed.queue and must not be picked up by this same run.
    let queue = channel
        .queue_declare(
            config.failed_queue.as_str().into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    let available = queue.message_count() as usize;
    let mut report = ReplayReport::default();
    let mut held = Vec::new();
    while report.examined < available && report.matched < limit {
        let Some(message) = channel.basic_get(config.failed_queue.as_str().into(), BasicGetOptions::default()).await?
        else {
            break;
        };
        report.examined += 1;
        let delivery = message.delivery;
        let reason = message::failure_reason(delivery.properties.headers().as_ref());
        if filter.skips_as_malformed(reason.as_deref()) {
            report.skipped_malformed += 1;
            held.push(delivery);
            continue;
        }
        if !filter.matches(reason.as_deref(), &delivery.data) {
            held.push(delivery);
            continue;
        }
        report.matched += 1;
        if dry_run {
            held.push(delivery);
            continue;
        }
        // A replayed message starts over, with its full set of retries.
        let headers = message::fresh_headers(delivery.properties.headers().as_ref());
        let properties = delivery.properties.clone().with_headers(headers).with_delivery_mode(2);
        topology::publish_confirmed(&channel, "", &config.push_queue, &delivery.data, properties).await?;
        delivery.ack(BasicAckOptions::default()).await?;
        report.replayed += 1;
    }
    for delivery in held {
        delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
    }
    crate::topology::close_channel(&channel, "done").await;
    crate::topology::close_connection(&conn, "done").await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_filter_matches_everything() {
        assert!(Filter::default().matches(None, b"{}"));
    }

    #[test]
    fn filters_on_reason_and_body_together() {
        let f = Filter {
            reason_contains: Some("unknown user".into()),
            body_contains: Some("welcome".into()),
            include_malformed: false,
        };
        assert!(f.matches(Some("unknown user 42"), br#"{"template_code":"welcome"}"#));
        assert!(!f.matches(Some("malformed"), br#"{"template_code":"welcome"}"#));
        assert!(!f.matches(Some("unknown user 42"), br#"{"template_code":"reset"}"#));
        assert!(!f.matches(None, br#"{"template_code":"welcome"}"#));
    }

    #[test]
    fn malformed_and_too_large_are_skipped_unless_included() {
        let f = Filter::default();
        assert!(f.skips_as_malformed(Some("malformed: body is not valid JSON")));
        assert!(f.skips_as_malformed(Some("too large: 300000 bytes, over the limit of 262144")));
        assert!(!f.skips_as_malformed(Some("unknown user 42")));
        assert!(!f.skips_as_malformed(None));
        let all = Filter { include_malformed: true, ..Filter::default() };
        assert!(!all.skips_as_malformed(Some("malformed: body is not valid JSON")));
    }
}
