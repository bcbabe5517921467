//! The `outbox` table: events the native worker relays to RabbitMQ.
//! Statements that cause an event insert it themselves (see [`super::users`]);
//! this is for events with no change of their own.

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::event::Event;

pub fn append(db: &Db, event: &Event) -> Result<(), DbError> {
    let [queue, payload, priority] = param::event(event);
    db.execute("INSERT INTO outbox (routing_key, payload, priority) VALUES ($1, $2, $3)", &[queue, payload, priority])?;
    Ok(())
}

/// [`append`], recording `audit` in the same statement.
pub fn append_audited(db: &Db, event: &Event, audit: &AuditEvent) -> Result<(), DbError> {
    let [queue, payload, priority] = param::event(event);
    let _: Vec<serde_json::Value> = db.rows(
        Rows::select(
            "INSERT INTO outbox (routing_key, payload, priority) VALUES ($1, $2, $3) RETURNING id AS outbox_id",
        )
        .audited(audit),
        &[queue, payload, priority],
    )?;
    Ok(())
}
