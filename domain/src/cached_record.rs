//! What the owner's cached reads keep under `cache_keys::preferences` and
//! `cache_keys::profile`: the value, and the user's sessions that ended
//! recently enough for one of their access tokens to be still alive.
//!
//! Why the sessions ride along: a cached read answers an access token
//! without the database, so it must still refuse a token whose session has
//! ended. Carrying the ended sessions in the entry lets a hit decide with the
//! one read it makes (under `spin up`, every further read is another round
//! trip on the request's path). It stays true because whoever ends a session
//! tombstones the user's entries right after (`component_kit::revocation`),
//! and a fill reads the list in the same query as the value: an entry filled
//! before a session ended is overwritten or refused by the tombstone.
//!
//! The encoding starts with [`FORMAT`], which is not JSON: a reader that
//! expects the bare value (an older build, during a rolling deploy) takes it
//! for a miss instead of answering with the wrapper.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The first bytes of every record.
pub const FORMAT: &[u8] = b"rec1:";

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CachedRecord<T> {
    /// The user's sessions that ended within an access token's lifetime
    /// before the record was filled.
    pub ended: Vec<uuid::Uuid>,
    pub value: T,
}

#[derive(Serialize)]
struct Borrowed<'a, T> {
    ended: &'a [uuid::Uuid],
    value: &'a T,
}

/// What reading a cached key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    /// A record.
    Record(CachedRecord<T>),
    /// Nothing: absent, or a tombstone (empty).
    Miss,
    /// Something this build cannot read: an older build's entry (another
    /// format), or a record whose value no longer reads as `T` (a model
    /// that changed). A miss that should be tombstoned, so a fill can
    /// replace it once the tombstone expires instead of every read going to
    /// the database until the entry expires.
    Unreadable,
}

/// `value` and the `ended` sessions, encoded.
pub fn encode<T: Serialize>(value: &T, ended: &[uuid::Uuid]) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = FORMAT.to_vec();
    serde_json::to_writer(&mut bytes, &Borrowed { ended, value })?;
    Ok(bytes)
}

/// What the bytes read from a cached key (`None`: the key is absent) hold.
pub fn decode<T: DeserializeOwned>(bytes: Option<&[u8]>) -> Found<T> {
    match bytes {
        None | Some([]) => Found::Miss,
        Some(bytes) => match bytes.strip_prefix(FORMAT) {
            Some(json) => serde_json::from_slice(json).map_or(Found::Unreadable, Found::Record),
            None => Found::Unreadable,
        },
    }
}

impl<T> CachedRecord<T> {
    /// The value for an access token of `session`: `None` if that session
    /// has ended.
    pub fn for_session(self, session: &uuid::Uuid) -> Option<T> {
        (!self.ended.contains(session)).then_some(self.value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_record_reads_back_and_refuses_only_its_ended_sessions() {
        let (ended, live) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let bytes = encode(&json!({"name": "Ada"}), &[ended]).unwrap();
        let Found::Record(record) = decode::<Value>(Some(&bytes)) else { panic!("a record") };
        assert_eq!(record.ended, vec![ended]);
        assert_eq!(record.clone().for_session(&live), Some(json!({"name": "Ada"})));
        assert_eq!(record.for_session(&ended), None);
    }

    #[test]
    fn an_older_builds_bare_json_is_unreadable_and_the_record_is_not_json() {
        assert_eq!(decode::<Value>(Some(br#"{"name":"Ada"}"#)), Found::Unreadable);
        // An older reader parsing the record as its bare value fails.
        let bytes = encode(&json!({"name": "Ada"}), &[]).unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    }

    #[test]
    fn absent_and_tombstoned_keys_are_misses_and_records_of_another_model_unreadable() {
        assert_eq!(decode::<Value>(None), Found::Miss);
        assert_eq!(decode::<Value>(Some(b"")), Found::Miss);
        assert_eq!(decode::<Value>(Some(b"rec1:{\"ended\":[\"x\"],\"value\":1}")), Found::Unreadable);
        assert_eq!(decode::<u32>(Some(b"rec1:{\"ended\":[],\"value\":\"text\"}")), Found::Unreadable);
    }
}
