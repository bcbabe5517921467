//! A device of a user's as the store reads it and the API shows it.

use user_domain::UserId;
use user_domain::api::responses::DeviceView;
use user_domain::device::Platform;

use super::user::timestamp;

/// A device as stored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Device {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub token: String,
    pub platform: Platform,
    pub name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub active: bool,
}

impl Device {
    /// The device as its owner and staff see it (`Device` in the document).
    pub fn view(&self) -> DeviceView {
        DeviceView {
            id: self.id,
            token: self.token.clone(),
            platform: self.platform,
            name: self.name.clone(),
            created_at: timestamp(&self.created_at),
            last_seen_at: timestamp(&self.last_seen_at),
            active: self.active,
        }
    }
}
