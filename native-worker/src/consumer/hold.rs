//! A delivery held for the user's quiet hours: written into `held_messages`
//! ([`crate::held::hold`]), then told on the status queue, then acked. The
//! dedup record is not written: the message has not been forwarded, and
//! its release must pass the dedup check to be forwarded once.

use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::message::Delivery;
use tracing::Instrument;

use super::fate::{Outcome, Processor, Transient};
use super::status;
use crate::breaker::Clock;
use crate::held::{self, Held};
use crate::message::{self, PushMessage};
use crate::user_cache::{self, Versioned};

impl<C: Clock + 'static> Processor<C> {
    /// Holds `delivery` until `release_at`, as decided on `user`. `None`
    /// when the decision is stale (the user's preferences changed since
    /// `user` was read): nothing was held, decide again on a fresh read.
    pub(super) async fn hold(
        &self,
        delivery: &Delivery,
        publisher: &Channel,
        message: &PushMessage,
        user: &Versioned,
        release_at: DateTime<Utc>,
    ) -> Result<Option<Outcome>, Transient> {
        let Some(version) = user_cache::preferences_version(&user.version) else {
            return Ok(None);
        };
        // Kept as it came, but starting over (no retry count or dead-letter
        // history), and saying which window it waits for.
        let headers = message::fresh_headers(Some(&super::fate::traced_headers(delivery)));
        let headers = message::with_held_until(Some(&headers), release_at);
        let properties = held::stored_properties(&delivery.properties.clone().with_headers(headers));
        let hold = held::Hold {
            user: message.user_id.as_uuid(),
            request_id: message.request_id.as_ref(),
            category: &message.category,
            body: &delivery.data,
            properties: &properties,
            release_at,
            preferences_version: version,
        };
        let span = tracing::info_span!("push.hold", release_at = %release_at);
        let release_at = match held::hold(&self.pool, &hold).instrument(span).await {
            Ok(Held::Stale) => return Ok(None),
            Ok(Held::Stored(at)) => at,
            // A redelivery of a hold that committed: its event may never
            // have gone out, so it is told (again).
            Ok(Held::AlreadyHeld(at)) => at.unwrap_or(release_at),
            Err(e) => return self.on_database_error(delivery, publisher, e).await.map(Some),
        };
        tracing::debug!(request_id = %message.request_id, %release_at, "held for quiet hours");
        if !self.publish_status(publisher, delivery, &status::held(message, release_at)).await? {
            return Ok(Some(Outcome::Abandoned));
        }
        self.breaker_success();
        Ok(Some(Outcome::Held))
    }
}
