//! W3C Trace Context (`traceparent`), so one request's journey is one trace:
//! the components keep the context of the request that wrote an outbox row,
//! the relay sends it on as an AMQP header, and the worker carries the
//! context of each `push.queue` message onto everything it publishes for it.
//!
//! Parsed strictly, as the recommendation says a receiver must: a value that
//! is not valid is ignored and a new trace starts, so a client cannot break
//! anything by sending garbage (it only loses its own trace).

use std::fmt;

/// The header's name (HTTP and AMQP alike).
pub const HEADER: &str = "traceparent";

/// A parsed `traceparent`: the trace, the parent span and the flags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// A `traceparent` value, or `None` if it is not a valid one. Version
    /// `00` must be exactly 55 characters; a later version may carry more
    /// after a `-` (read as version 00, as the recommendation asks); `ff` is
    /// invalid. Hex is lower case; an all-zero trace or parent id is invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let version = lower_hex::<1>(&value[0..2])?[0];
        let valid_length = match version {
            0xff => false,
            0x00 => bytes.len() == 55,
            _ => bytes.len() == 55 || bytes[55] == b'-',
        };
        if !valid_length {
            return None;
        }
        let trace_id = lower_hex::<16>(&value[3..35])?;
        let parent_id = lower_hex::<8>(&value[36..52])?;
        let flags = lower_hex::<1>(&value[53..55])?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self { trace_id, parent_id, flags })
    }

    /// A new trace, sampled, whose first span is `span_id`; `None` if either
    /// id is all zeros (ask the random source again).
    pub fn root(trace_id: [u8; 16], span_id: [u8; 8]) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self { trace_id, parent_id: span_id, flags: 0x01 })
    }

    /// A new trace, its ids from the random source. Should the source fail,
    /// they are derived from `unique`, a value no other request shares (its
    /// correlation ID): trace ids need to be unique, not secret.
    pub fn start(unique: &str) -> Self {
        match crate::secrets::random_bytes::<24>() {
            Ok(seed) => Self::from_seed(seed),
            Err(_) => Self::derived(unique.as_bytes()),
        }
    }

    /// A new trace whose ids are a digest of `content`: the same content
    /// always starts the same trace. For a message that arrived without a
    /// trace, so that everything published for it (a forward, a retry, a
    /// dead letter, a status event) lands in one trace without carrying
    /// state from one to the next.
    pub fn derived(content: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(content);
        let mut seed = [0; 24];
        seed.copy_from_slice(&digest[..24]);
        Self::from_seed(seed)
    }

    fn from_seed(seed: [u8; 24]) -> Self {
        let (mut trace_id, mut span_id) = ([0; 16], [0; 8]);
        trace_id.copy_from_slice(&seed[..16]);
        span_id.copy_from_slice(&seed[16..]);
        // All zeros (from 24 random or digest bytes: never) is invalid; any other id will do.
        Self::root(trace_id, span_id).unwrap_or(Self { trace_id: [1; 16], parent_id: [1; 8], flags: 0x01 })
    }

    /// The same trace and flags, with `span_id` as the parent of what comes
    /// next (a span of ours that continues the caller's).
    pub fn child(&self, span_id: [u8; 8]) -> Option<Self> {
        (span_id != [0; 8]).then_some(Self { parent_id: span_id, ..*self })
    }

    /// A context from its parts, as a tracing library holds them; `None` if
    /// an id is all zeros.
    pub fn from_parts(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Self { trace_id, parent_id, flags })
    }

    /// The trace id's bytes, the parent span id's and the flags.
    pub fn parts(&self) -> ([u8; 16], [u8; 8], u8) {
        (self.trace_id, self.parent_id, self.flags)
    }

    /// The trace id, as 32 lower-case hex digits (what collectors show).
    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The parent span's id, as 16 lower-case hex digits.
    pub fn parent_id(&self) -> String {
        hex::encode(self.parent_id)
    }

    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }
}

/// The header value, always version `00`.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id(), self.parent_id(), self.flags)
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

/// `N` bytes from exactly `2N` lower-case hex digits.
fn lower_hex<const N: usize>(digits: &str) -> Option<[u8; N]> {
    if digits.len() != 2 * N || !digits.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_recommendations_example_reads_back_unchanged() {
        let parsed = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id(), "00f067aa0ba902b7");
        assert!(parsed.sampled());
        assert_eq!(parsed.to_string(), EXAMPLE);
        assert_eq!(TraceParent::parse(&format!(" {EXAMPLE}\t")), Some(parsed), "optional white space");
    }

    #[test]
    fn invalid_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473\u{0}-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(TraceParent::parse(future).unwrap().to_string(), EXAMPLE);
        assert_eq!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), None);
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_and_a_root_is_sampled() {
        let parent = TraceParent::parse(&EXAMPLE.replace("-01", "-00")).unwrap();
        let child = parent.child([7; 8]).unwrap();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_eq!(child.parent_id(), "0707070707070707");
        assert!(!child.sampled());
        assert_eq!(parent.child([0; 8]), None);
        let root = TraceParent::root([1; 16], [2; 8]).unwrap();
        assert!(root.sampled() && root.to_string().starts_with("00-0101"));
        assert_eq!(TraceParent::root([0; 16], [2; 8]), None);
        let (a, b) = (TraceParent::start("x"), TraceParent::start("x"));
        assert_ne!(a.trace_id(), b.trace_id(), "random, not derived from the seed");
        assert!(a.sampled() && TraceParent::parse(&a.to_string()) == Some(a));
        assert_eq!(TraceParent::derived(b"body"), TraceParent::derived(b"body"));
        assert_ne!(TraceParent::derived(b"body").trace_id(), TraceParent::derived(b"other").trace_id());
    }
}
