//! Notification preferences (issue 18): which categories a user receives on
//! which channel, when notifications that can wait are held, and in which
//! language they are written. Pure rules, no I/O: the preferences component
//! parses and stores them, the worker decides each delivery with them.
//!
//! - [`config`]: the configured categories, the required and the quiet-hours
//!   exempt ones ([`CategoryConfig`]), and the channels ([`Channel`]).
//! - [`model`]: [`NotificationPreferences`], stored and effective, and the
//!   worker's questions of it ([`NotificationPreferences::allows`],
//!   [`NotificationPreferences::held_until`]).
//! - [`quiet_hours`]: the window in the user's time zone and when it ends.
//! - [`locale`]: the language tag.
//!
//! Reading them from a request body, with each problem filed under its
//! field, is [`crate::api::requests`]' job (`PreferencesReplace`,
//! `PreferencesPatch`).

pub mod config;
pub mod locale;
pub mod model;
pub mod quiet_hours;

pub use config::{CategoryConfig, CategoryName, Channel, ConfigError};
pub use locale::Locale;
pub use model::{ChannelSwitches, NotificationPreferences};
pub use quiet_hours::{QuietHours, QuietHoursError, TimeOfDay, Zone};
