//! A user's identifier. Parsing path segments and token subjects into this
//! type turns a malformed ID into a 404 or 401 at the edge instead of a
//! database error deep inside.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(uuid::Uuid);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not a valid user id")]
pub struct UserIdError;

impl UserId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        uuid::Uuid::parse_str(raw.trim()).map(Self).map_err(|_| UserIdError)
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

/// Every UUID names a user (or none): ids read back from the database.
impl From<uuid::Uuid> for UserId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uuids_and_rejects_anything_else() {
        let id = UserId::new();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        assert_eq!(UserId::parse("42"), Err(UserIdError));
        assert_eq!(UserId::parse("../etc"), Err(UserIdError));
    }
}
