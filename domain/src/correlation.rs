//! Correlation IDs tie one request's log lines together across the gateway,
//! this service and the worker. A caller's ID is kept when it is safe to echo
//! into headers and logs; anything else is replaced by a fresh UUID.

/// The header every response carries.
pub const HEADER: &str = "x-correlation-id";

/// Returns the caller's correlation ID if it is usable, else a new UUID v4.
pub fn resolve(incoming: Option<&str>) -> String {
    match incoming.map(str::trim) {
        Some(id) if is_acceptable(id) => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// 1 to 128 characters from a conservative set, so the value can never split
/// a log line or smuggle a header.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_caller_id_is_kept() {
        assert_eq!(resolve(Some("req-123_abc")), "req-123_abc");
    }

    #[test]
    fn missing_or_unsafe_ids_are_replaced_by_a_uuid() {
        for bad in [None, Some(""), Some("a b"), Some("x\r\nSet-Cookie: y")] {
            let id = resolve(bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} gave {id}");
        }
        let long = "a".repeat(129);
        assert_ne!(resolve(Some(&long)), long);
    }
}
