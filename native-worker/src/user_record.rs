//! The user as the worker needs it: what a forward carries (the `user`
//! object and the `devices` list of CONTRACT section 5) and what decides a
//! message's fate for that user ([`UserRecord::decide`]: forward, skip or
//! hold for quiet hours). A model of its own, below both the lookup
//! ([`crate::enrich`]) and the cache protocol ([`crate::user_cache`]) that
//! store and read it, so neither depends on the other for it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use user_domain::preferences::{CategoryConfig, Channel, NotificationPreferences};

/// One of the user's active devices, as the push service addresses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: uuid::Uuid,
    /// `ios`, `android`, `web` or `unknown` (the table's CHECK). Kept as
    /// text: the worker passes it on and decides nothing by it, so a
    /// platform added to the table later is forwarded, not refused.
    pub platform: String,
    pub token: String,
}

/// The worker's cached shape of a user: what enrichment and the skip rule need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: uuid::Uuid,
    pub name: String,
    pub email: String,
    /// The active devices, most recently seen first.
    pub devices: Vec<Device>,
    /// The preferences as stored (only what the user set): the effective
    /// form depends on the category configuration, which may change
    /// between a cache write and a read, so it is derived on use.
    pub preferences: NotificationPreferences,
    pub email_verified: bool,
    pub is_active: bool,
}

/// Why a user receives no push even though the message is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The push master switch is off.
    PushDisabled,
    /// The message's category is off for push (the master switch is on).
    CategoryMuted,
    /// No active device (the name predates devices; consumers know it).
    NoPushToken,
    Inactive,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::PushDisabled => "push_disabled",
            SkipReason::CategoryMuted => "category_muted",
            SkipReason::NoPushToken => "no_push_token",
            SkipReason::Inactive => "inactive",
        }
    }
}

/// What becomes of a message of a category for this user, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Forward,
    Skip(SkipReason),
    /// Quiet hours: kept until this instant, then decided again.
    Hold(DateTime<Utc>),
}

/// How early, by this worker's clock, a released message may arrive for
/// the window it was held for and still count as released for it: the
/// clocks of the worker that held it, the one that released it and this
/// one may differ by that much. Within it, the message is not held again
/// for the same window (it would only be released again a moment later).
pub const RELEASE_TOLERANCE: TimeDelta = TimeDelta::seconds(60);

impl UserRecord {
    /// The devices a push can go to, most recently seen first. A blank
    /// token (the table allows one; the old `push_token` rule skipped it)
    /// addresses nothing and is left out.
    pub fn push_devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().filter(|d| !d.token.trim().is_empty())
    }

    /// The profile's `push_token`: the most recently seen active device's.
    pub fn push_token(&self) -> Option<&str> {
        self.push_devices().next().map(|d| d.token.as_str())
    }

    /// The preferences as answered and decided with: every configured
    /// category spelled out, required ones always on.
    pub fn effective_preferences(&self, config: &CategoryConfig) -> NotificationPreferences {
        NotificationPreferences::effective(self.preferences.clone(), config)
    }

    /// `None` when a push of `category` may go out (now or after quiet hours).
    /// The master switch is told apart from a category's: `push_disabled`
    /// is what consumers of the status events knew before categories.
    pub fn skip_reason(&self, category: &str, config: &CategoryConfig) -> Option<SkipReason> {
        if !self.is_active {
            Some(SkipReason::Inactive)
        } else if !self.preferences.push {
            Some(SkipReason::PushDisabled)
        } else if !self.effective_preferences(config).allows(category, Channel::Push) {
            Some(SkipReason::CategoryMuted)
        } else if self.push_token().is_none() {
            Some(SkipReason::NoPushToken)
        } else {
            None
        }
    }

    /// The fate of a push of `category` at `now`. A skip is decided first
    /// (a muted category is not kept until morning to be skipped then);
    /// then quiet hours. `released_for` is the end of the window a message
    /// released from quiet hours was held for (its `x-held-until`): once
    /// that is reached, give or take [`RELEASE_TOLERANCE`], it is not held
    /// again, whatever the clocks say; before it (a change of preferences
    /// released it early) the preferences of now decide, and may hold it
    /// anew.
    pub fn decide(
        &self,
        category: &str,
        now: DateTime<Utc>,
        released_for: Option<DateTime<Utc>>,
        config: &CategoryConfig,
    ) -> Decision {
        if let Some(reason) = self.skip_reason(category, config) {
            return Decision::Skip(reason);
        }
        if released_for.is_some_and(|end| now >= end - RELEASE_TOLERANCE) {
            return Decision::Forward;
        }
        match self.preferences.held_until(category, now, config) {
            Some(release) => Decision::Hold(release),
            None => Decision::Forward,
        }
    }

    /// The `user` object added to a forwarded message (CONTRACT section 5),
    /// as it was before devices: `push_token` is the most recent device's.
    /// `preferences` is the whole effective model (`email` and `push`, as
    /// before, then `categories`, `quiet_hours` and `locale`).
    pub fn forwarded_json(&self, config: &CategoryConfig) -> serde_json::Value {
        json!({
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "push_token": self.push_token(),
            "preferences": self.effective_preferences(config),
            "email_verified": self.email_verified,
        })
    }

    /// The `devices` list added beside `user`: `[{id, platform, token}]`.
    pub fn forwarded_devices(&self) -> serde_json::Value {
        self.push_devices().map(|d| json!({"id": d.id, "platform": d.platform, "token": d.token})).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u128, token: &str) -> Device {
        Device { id: uuid::Uuid::from_u128(n), platform: "ios".into(), token: token.into() }
    }

    fn record() -> UserRecord {
        UserRecord {
            user_id: uuid::Uuid::nil(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            devices: vec![device(1, "recent"), device(2, "older")],
            preferences: NotificationPreferences::default(),
            email_verified: false,
            is_active: true,
        }
    }

    fn with_preferences(stored: serde_json::Value) -> UserRecord {
        UserRecord { preferences: serde_json::from_value(stored).unwrap(), ..record() }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn skip_rule_follows_preferences_devices_and_activity() {
        let config = CategoryConfig::default();
        let skip = |r: UserRecord| r.skip_reason("transactional", &config);
        assert_eq!(skip(record()), None);
        assert_eq!(skip(with_preferences(json!({"push": false}))), Some(SkipReason::PushDisabled));
        assert_eq!(skip(UserRecord { devices: vec![], ..record() }), Some(SkipReason::NoPushToken));
        assert_eq!(skip(UserRecord { devices: vec![device(3, " ")], ..record() }), Some(SkipReason::NoPushToken));
        assert_eq!(skip(UserRecord { is_active: false, ..record() }), Some(SkipReason::Inactive));
    }

    #[test]
    fn a_muted_category_is_skipped_but_a_required_one_is_not() {
        let config = CategoryConfig::default();
        let muted = with_preferences(json!({"categories": {
            "marketing": {"email": true, "push": false},
            "security": {"email": false, "push": false},
        }}));
        assert_eq!(muted.skip_reason("marketing", &config), Some(SkipReason::CategoryMuted));
        assert_eq!(muted.skip_reason("reminders", &config), None, "not muted");
        assert_eq!(muted.skip_reason("security", &config), None, "required: stored mutes do not count");
        // The master switch is its own reason, required category or not.
        let off = with_preferences(json!({"push": false, "categories": {"marketing": {"push": false}}}));
        assert_eq!(off.skip_reason("marketing", &config), Some(SkipReason::PushDisabled));
        assert_eq!(off.skip_reason("security", &config), Some(SkipReason::PushDisabled));
        // A category muted for email only goes out by push.
        let email_off = with_preferences(json!({"categories": {"marketing": {"email": false}}}));
        assert_eq!(email_off.skip_reason("marketing", &config), None);
    }

    #[test]
    fn quiet_hours_hold_what_can_wait_until_they_end() {
        let config = CategoryConfig::default();
        let night =
            with_preferences(json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}}));
        // 23:30 in Tokyo (UTC+9) is 14:30 UTC; 07:00 the next morning is 22:00 UTC.
        let now = utc("2025-01-15T14:30:00Z");
        let morning = utc("2025-01-15T22:00:00Z");
        assert_eq!(night.decide("marketing", now, None, &config), Decision::Hold(morning));
        assert_eq!(night.decide("security", now, None, &config), Decision::Forward, "exempt");
        assert_eq!(night.decide("transactional", now, None, &config), Decision::Forward, "exempt");
        assert_eq!(night.decide("marketing", utc("2025-01-15T03:00:00Z"), None, &config), Decision::Forward, "noon");
        // A muted category is skipped, not held.
        let muted = UserRecord {
            preferences: NotificationPreferences {
                categories: serde_json::from_value(json!({"marketing": {"push": false}})).unwrap(),
                ..night.preferences.clone()
            },
            ..night.clone()
        };
        assert_eq!(muted.decide("marketing", now, None, &config), Decision::Skip(SkipReason::CategoryMuted));
    }

    #[test]
    fn a_released_message_is_not_held_again_for_the_window_it_was_held_for() {
        let config = CategoryConfig::default();
        let night =
            with_preferences(json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}}));
        let end = utc("2025-01-15T22:00:00Z");
        // Released at the end by a worker whose clock runs 20 s ahead of ours.
        let early = end - TimeDelta::seconds(20);
        assert_eq!(night.decide("marketing", early, None, &config), Decision::Hold(end), "unreleased: held");
        assert_eq!(night.decide("marketing", early, Some(end), &config), Decision::Forward);
        // Released early by a change of preferences: the quiet hours of now decide.
        let midnight = utc("2025-01-15T15:00:00Z");
        assert_eq!(night.decide("marketing", midnight, Some(end), &config), Decision::Hold(end));
        let later =
            with_preferences(json!({"quiet_hours": {"start": "22:00", "end": "09:00", "timezone": "Asia/Tokyo"}}));
        assert_eq!(
            later.decide("marketing", midnight, Some(end), &config),
            Decision::Hold(utc("2025-01-16T00:00:00Z"))
        );
        assert_eq!(record().decide("marketing", midnight, Some(end), &config), Decision::Forward, "none any more");
        // Skips still apply to a released message.
        let off = UserRecord { is_active: false, ..night };
        assert_eq!(off.decide("marketing", end, Some(end), &config), Decision::Skip(SkipReason::Inactive));
    }

    #[test]
    fn forwarded_user_has_the_contract_shape_and_the_most_recent_token() {
        let config = CategoryConfig::default();
        let v = record().forwarded_json(&config);
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["email", "email_verified", "name", "preferences", "push_token", "user_id"]);
        assert_eq!(v["push_token"], "recent");
        assert_eq!(UserRecord { devices: vec![], ..record() }.forwarded_json(&config)["push_token"], json!(null));
    }

    #[test]
    fn forwarded_preferences_are_the_whole_effective_model() {
        let config = CategoryConfig::default();
        let stored = json!({
            "email": true, "push": true,
            "categories": {"marketing": {"email": false, "push": true}, "security": {"email": false, "push": false}},
            "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"},
            "locale": "pt-BR",
        });
        let on = json!({"email": true, "push": true});
        assert_eq!(
            with_preferences(stored).forwarded_json(&config)["preferences"],
            json!({
                "email": true,
                "push": true,
                "categories": {
                    "account": on, "marketing": {"email": false, "push": true}, "reminders": on,
                    "security": on, "transactional": on,
                },
                "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"},
                "locale": "pt-BR",
            })
        );
    }

    #[test]
    fn forwarded_devices_keep_their_order_and_leave_blank_tokens_out() {
        let r = UserRecord { devices: vec![device(1, "recent"), device(9, "  "), device(2, "older")], ..record() };
        assert_eq!(
            r.forwarded_devices(),
            json!([
                {"id": uuid::Uuid::from_u128(1), "platform": "ios", "token": "recent"},
                {"id": uuid::Uuid::from_u128(2), "platform": "ios", "token": "older"},
            ])
        );
        assert_eq!(UserRecord { devices: vec![], ..record() }.forwarded_devices(), json!([]));
    }
}
