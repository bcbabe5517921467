//! A user's notification preferences, in the two forms they exist in:
//! stored (only what the user set, so a category added to the
//! configuration later starts on for everyone) and effective (every
//! configured category spelled out, as answers show them and as the worker
//! decides with them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{CategoryConfig, CategoryName, Channel};
use super::locale::Locale;
use super::quiet_hours::QuietHours;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

fn on() -> bool {
    true
}

/// One category's switch per channel.
// Absent ones read as on: a user receives everything until saying otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChannelSwitches {
    #[serde(default = "on")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email: bool,
    #[serde(default = "on")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub push: bool,
}

impl ChannelSwitches {
    pub const ON: Self = Self { email: true, push: true };

    pub fn get(self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email,
            Channel::Push => self.push,
        }
    }

    pub fn set(&mut self, channel: Channel, on: bool) {
        match channel {
            Channel::Email => self.email = on,
            Channel::Push => self.push = on,
        }
    }
}

impl Default for ChannelSwitches {
    fn default() -> Self {
        Self::ON
    }
}

/// What a user wants to receive, on which channel, when, and in which
/// language. A notification goes out on a channel when that channel's master
/// switch and the category's switch for it are both on.
// Reading JSON fills absent members as `Default` does, so a row written
// before a member existed still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Preferences))]
pub struct NotificationPreferences {
    /// Master switch of email: off, no category is emailed.
    #[serde(default = "on")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email: bool,
    /// Master switch of push notifications: off, no category is pushed.
    #[serde(default = "on")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub push: bool,
    /// Every configured category and its switches (`security`, required by
    /// default, is always on).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, ChannelSwitches>, required = true))]
    pub categories: BTreeMap<CategoryName, ChannelSwitches>,
    /// When notifications that can wait are held, to be sent when the
    /// quiet hours end (security and transactional ones are never held, by
    /// default); null: never.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub quiet_hours: Option<QuietHours>,
    /// The language notifications are written in (a BCP 47 tag); null: the
    /// platform's default.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", max_length = 35, example = "pt-BR", required = true))]
    pub locale: Option<Locale>,
}

/// A new user's stored preferences: everything on, no quiet hours, no locale.
impl Default for NotificationPreferences {
    fn default() -> Self {
        Self { email: true, push: true, categories: BTreeMap::new(), quiet_hours: None, locale: None }
    }
}

impl NotificationPreferences {
    /// A new user's stored preferences with the two master switches given,
    /// as registration and the seed's clients set them.
    pub fn with_channels(email: bool, push: bool) -> Self {
        Self { email, push, ..Self::default() }
    }

    /// The answered form of `stored`: every configured category, in any
    /// on where the user set nothing and always on where required;
    /// categories no longer configured are left out.
    pub fn effective(stored: Self, config: &CategoryConfig) -> Self {
        let categories = config
            .categories()
            .iter()
            .map(|name| {
                let switches = if config.is_required(name.as_ref()) {
                    ChannelSwitches::ON
                } else {
                    stored.categories.get(name).copied().unwrap_or_default()
                };
                (name.clone(), switches)
            })
            .collect();
        Self { categories, ..stored }
    }

    /// The stored overrides the configuration still allows: those of
    /// categories no longer configured, and mutes of categories that became
    /// required, are dropped. A PATCH starts from this, so a change of the
    /// configuration never makes a user's next unrelated change a 400.
    pub fn pruned(mut self, config: &CategoryConfig) -> Self {
        self.categories.retain(|name, switches| {
            config.is_category(name.as_ref())
                && !(config.is_required(name.as_ref()) && *switches != ChannelSwitches::ON)
        });
        self
    }

    /// Whether `channel` may carry a notification of `category`: its master
    /// switch and the category's switch both on. Meant for the effective
    /// form; a category it does not list follows the master switch alone.
    pub fn allows(&self, category: &str, channel: Channel) -> bool {
        let master = match channel {
            Channel::Email => self.email,
            Channel::Push => self.push,
        };
        master && self.categories.get(category).is_none_or(|switches| switches.get(channel))
    }

    /// Until when a notification of `category` sent at `now` must wait:
    /// `None` to send it now (no quiet hours, outside them, or a category
    /// exempt from them).
    pub fn held_until(&self, category: &str, now: DateTime<Utc>, config: &CategoryConfig) -> Option<DateTime<Utc>> {
        if config.is_quiet_hours_exempt(category) {
            return None;
        }
        self.quiet_hours.as_ref()?.release_at(now)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored(value: serde_json::Value) -> NotificationPreferences {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_seed_shape_still_reads_and_every_category_is_answered() {
        let config = CategoryConfig::default();
        let answer = NotificationPreferences::effective(stored(json!({"email": true, "push": false})), &config);
        let on = json!({"email": true, "push": true});
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({
                "email": true,
                "push": false,
                "categories": {"account": on, "marketing": on, "reminders": on, "security": on, "transactional": on},
                "quiet_hours": null,
                "locale": null,
            })
        );
    }

    #[test]
    fn effective_keeps_overrides_forces_required_on_and_drops_unconfigured() {
        let config = CategoryConfig::default();
        let set = stored(json!({
            "email": true, "push": true,
            "categories": {
                "marketing": {"email": false, "push": true},
                "security": {"email": false, "push": false},
                "retired": {"email": false, "push": false},
            },
            "locale": "pt-BR",
        }));
        let answer = NotificationPreferences::effective(set, &config);
        assert_eq!(answer.categories["marketing"], ChannelSwitches { email: false, push: true });
        assert_eq!(answer.categories["security"], ChannelSwitches::ON);
        assert!(!answer.categories.contains_key("retired"));
        assert_eq!(answer.categories.len(), 5);
        assert_eq!(answer.locale.as_ref().map(AsRef::as_ref), Some("pt-BR"));
    }

    #[test]
    fn pruning_drops_only_what_the_configuration_no_longer_allows() {
        let config = CategoryConfig::default();
        let set = stored(json!({"categories": {
            "marketing": {"email": false, "push": true},
            "security": {"email": false, "push": true},
            "transactional": {"email": true, "push": true},
            "retired": {"email": false, "push": false},
        }}));
        let pruned = set.pruned(&config);
        let kept: Vec<&str> = pruned.categories.keys().map(AsRef::as_ref).collect();
        assert_eq!(kept, ["marketing", "transactional"]);
    }

    #[test]
    fn allows_needs_the_master_switch_and_the_category_switch() {
        let config = CategoryConfig::default();
        let mut set = NotificationPreferences::with_channels(true, false);
        set.categories.insert(CategoryName::parse("marketing").unwrap(), ChannelSwitches { email: false, push: true });
        let answer = NotificationPreferences::effective(set, &config);
        assert!(!answer.allows("marketing", Channel::Email), "category off");
        assert!(!answer.allows("marketing", Channel::Push), "master off");
        assert!(answer.allows("reminders", Channel::Email));
        assert!(!answer.allows("security", Channel::Push), "required, but the master switch is off");
        assert!(answer.allows("security", Channel::Email));
        assert!(answer.allows("unconfigured", Channel::Email), "the master switch alone");
    }

    #[test]
    fn quiet_hours_hold_all_but_exempt_categories() {
        let config = CategoryConfig::default();
        let set = stored(json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "UTC"}}));
        let night = DateTime::parse_from_rfc3339("2025-01-15T23:00:00Z").unwrap().with_timezone(&Utc);
        let morning = DateTime::parse_from_rfc3339("2025-01-16T07:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(set.held_until("marketing", night, &config), Some(morning));
        assert_eq!(set.held_until("security", night, &config), None);
        assert_eq!(set.held_until("transactional", night, &config), None);
        assert_eq!(set.held_until("marketing", morning, &config), None);
        assert_eq!(NotificationPreferences::default().held_until("marketing", night, &config), None);
    }

    #[test]
    fn an_empty_document_is_a_new_users_preferences() {
        assert_eq!(stored(json!({})), NotificationPreferences::default());
        let round = serde_json::to_value(NotificationPreferences::default()).unwrap();
        assert_eq!(round, json!({"email": true, "push": true, "categories": {}, "quiet_hours": null, "locale": null}));
    }

    #[test]
    fn stored_json_that_breaks_a_rule_does_not_read() {
        assert!(serde_json::from_value::<NotificationPreferences>(json!({"locale": "en_US"})).is_err());
        assert!(serde_json::from_value::<NotificationPreferences>(json!({"categories": {"Bad": {}}})).is_err());
    }
}
