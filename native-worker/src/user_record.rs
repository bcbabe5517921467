//! The user as the worker needs it: what a forward carries (the `user`
//! object and the `devices` list of CONTRACT section 5) and what decides a
//! skip. A model of its own, below both the lookup ([`crate::enrich`]) and
//! the cache protocol ([`crate::user_cache`]) that store and read it, so
//! neither depends on the other for it.

use serde::{Deserialize, Serialize};
use serde_json::json;

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
    pub email_enabled: bool,
    pub push_enabled: bool,
    pub email_verified: bool,
    pub is_active: bool,
}

/// Why a user receives no push even though the message is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    PushDisabled,
    /// No active device (the name predates devices; consumers know it).
    NoPushToken,
    Inactive,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::PushDisabled => "push_disabled",
            SkipReason::NoPushToken => "no_push_token",
            SkipReason::Inactive => "inactive",
        }
    }
}

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

    /// `None` when a push may go out.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        if !self.is_active {
            Some(SkipReason::Inactive)
        } else if !self.push_enabled {
            Some(SkipReason::PushDisabled)
        } else if self.push_token().is_none() {
            Some(SkipReason::NoPushToken)
        } else {
            None
        }
    }

    /// The `user` object added to a forwarded message (CONTRACT section 5),
    /// as it was before devices: `push_token` is the most recent device's.
    pub fn forwarded_json(&self) -> serde_json::Value {
        json!({
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "push_token": self.push_token(),
            "preferences": {"email": self.email_enabled, "push": self.push_enabled},
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
            email_enabled: true,
            push_enabled: true,
            email_verified: false,
            is_active: true,
        }
    }

    #[test]
    fn skip_rule_follows_preferences_devices_and_activity() {
        assert_eq!(record().skip_reason(), None);
        assert_eq!(UserRecord { push_enabled: false, ..record() }.skip_reason(), Some(SkipReason::PushDisabled));
        assert_eq!(UserRecord { devices: vec![], ..record() }.skip_reason(), Some(SkipReason::NoPushToken));
        assert_eq!(
            UserRecord { devices: vec![device(3, " ")], ..record() }.skip_reason(),
            Some(SkipReason::NoPushToken)
        );
        assert_eq!(UserRecord { is_active: false, ..record() }.skip_reason(), Some(SkipReason::Inactive));
    }

    #[test]
    fn forwarded_user_has_the_contract_shape_and_the_most_recent_token() {
        let v = record().forwarded_json();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["email", "email_verified", "name", "preferences", "push_token", "user_id"]);
        assert_eq!(v["preferences"], json!({"email": true, "push": true}));
        assert_eq!(v["push_token"], "recent");
        assert_eq!(UserRecord { devices: vec![], ..record() }.forwarded_json()["push_token"], json!(null));
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
