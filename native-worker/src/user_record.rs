//! The user as the worker needs it: what a forward carries (the `user`
//! object of CONTRACT section 5) and what decides a skip. A model of its own,
//! below both the lookup ([`crate::enrich`]) and the cache protocol
//! ([`crate::user_cache`]) that store and read it, so neither depends on the
//! other for it.

use serde::{Deserialize, Serialize};
use serde_json::json;

/// The worker's cached shape of a user: what enrichment and the skip rule need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub push_token: Option<String>,
    pub email_enabled: bool,
    pub push_enabled: bool,
    pub email_verified: bool,
    pub is_active: bool,
}

/// Why a user receives no push even though the message is fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    PushDisabled,
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
    /// `None` when a push may go out.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        if !self.is_active {
            Some(SkipReason::Inactive)
        } else if !self.push_enabled {
            Some(SkipReason::PushDisabled)
        } else if self.push_token.as_deref().is_none_or(|t| t.trim().is_empty()) {
            Some(SkipReason::NoPushToken)
        } else {
            None
        }
    }

    /// The `user` object added to a forwarded message (CONTRACT section 5).
    pub fn forwarded_json(&self) -> serde_json::Value {
        json!({
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "push_token": self.push_token,
            "preferences": {"email": self.email_enabled, "push": self.push_enabled},
            "email_verified": self.email_verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UserRecord {
        UserRecord {
            user_id: uuid::Uuid::nil(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            push_token: Some("tok".into()),
            email_enabled: true,
            push_enabled: true,
            email_verified: false,
            is_active: true,
        }
    }

    #[test]
    fn skip_rule_follows_preferences_token_and_activity() {
        assert_eq!(record().skip_reason(), None);
        assert_eq!(UserRecord { push_enabled: false, ..record() }.skip_reason(), Some(SkipReason::PushDisabled));
        assert_eq!(UserRecord { push_token: None, ..record() }.skip_reason(), Some(SkipReason::NoPushToken));
        assert_eq!(
            UserRecord { push_token: Some(" ".into()), ..record() }.skip_reason(),
            Some(SkipReason::NoPushToken)
        );
        assert_eq!(UserRecord { is_active: false, ..record() }.skip_reason(), Some(SkipReason::Inactive));
    }

    #[test]
    fn forwarded_user_has_the_contract_shape() {
        let v = record().forwarded_json();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["email", "email_verified", "name", "preferences", "push_token", "user_id"]);
        assert_eq!(v["preferences"], json!({"email": true, "push": true}));
    }
}
