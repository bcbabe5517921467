//! Plain data the layers above share: what an audit event, an outbox event,
//! a user record and a session are. Nothing here reaches the database or
//! Redis; the store writes and reads these, the handlers build them.

pub mod audit;
pub mod device;
pub mod event;
pub mod session;
pub mod user;
