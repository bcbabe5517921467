//! The `outbox` table: events the native worker relays to RabbitMQ.
//! Statements that cause an event insert it themselves (see [`super::users`]);
//! this is for events with no change of their own.

use crate::db::{Db, DbError, param};
use crate::events::Event;

pub fn append(db: &Db, event: &Event) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO outbox (routing_key, payload, priority) VALUES ($1, $2, $3)",
        &[param::text(event.queue.clone()), param::json(&event.payload), param::int16(event.priority)],
    )?;
    Ok(())
}
