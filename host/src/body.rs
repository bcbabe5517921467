//! Reads a request's body before the request takes an instance slot.
//!
//! An instance slot (and the request's deadline) is the scarce thing: with
//! the body read inside the instance, about `--max-instances` clients sending
//! their bodies one byte at a time held every slot for the whole request
//! deadline and the API stopped answering (issue 7 item 9). Here the host
//! reads the body itself, with a short deadline for the whole body, and hands
//! the instance a body that is already complete.
//!
//! The components cap bodies at 64 KiB and answer 413 past it
//! (`components/kit/src/request.rs`). The host reads at most one byte more
//! than that and passes what it read on, so a body over the limit still
//! reaches the component over the limit and the component's 413 still
//! applies, while the host never buffers more than `limit + 1` bytes.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// The components' body limit (`kit::request::MAX_BODY_BYTES`).
pub const COMPONENT_BODY_LIMIT: usize = 64 * 1024;

/// How much of a body the host buffers: one byte past the components' limit,
/// which is enough for them to see it is too large.
pub const READ_LIMIT: usize = COMPONENT_BODY_LIMIT + 1;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The whole body did not arrive within the deadline.
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The client went away mid-body, or sent a malformed body (bad chunking).
    #[error("the request body could not be read: {0}")]
    Broken(String),
}

/// Reads `body` until it ends or `limit` bytes have arrived, whichever comes
/// first, within `deadline` for the whole body (not per chunk, so a trickle
/// of one byte a second does not keep it alive). Trailers are dropped: the
/// components do not read them.
pub async fn read_capped<B>(body: B, limit: usize, deadline: Duration) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    tokio::time::timeout(deadline, read_up_to(body, limit)).await.map_err(|_| BodyError::TimedOut(deadline))?
}

async fn read_up_to<B>(mut body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut read = BytesMut::new();
    while read.len() < limit {
        let Some(frame) = body.frame().await else { break };
        let frame = frame.map_err(|error| BodyError::Broken(error.to_string()))?;
        if let Ok(data) = frame.into_data() {
            let room = limit - read.len();
            read.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(read.freeze())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::StreamExt;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    use super::*;

    type Chunk = Result<Frame<Bytes>, Infallible>;

    fn chunks(parts: Vec<&'static [u8]>) -> StreamBody<futures::stream::Iter<std::vec::IntoIter<Chunk>>> {
        StreamBody::new(futures::stream::iter(
            parts.into_iter().map(|p| Ok(Frame::data(Bytes::from_static(p)))).collect::<Vec<_>>(),
        ))
    }

    #[tokio::test]
    async fn a_body_under_the_limit_is_read_whole() {
        let body = chunks(vec![b"{\"a\":", b"1}"]);
        let read = read_capped(body, 10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(&read[..], b"{\"a\":1}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_cut_at_the_limit_so_the_component_still_sees_it_too_large() {
        let read =
            read_capped(Full::new(Bytes::from(vec![7u8; 100_000])), READ_LIMIT, Duration::from_secs(1)).await.unwrap();
        assert_eq!(read.len(), COMPONENT_BODY_LIMIT + 1);
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit_even_if_the_rest_never_comes() {
        let first: Chunk = Ok(Frame::data(Bytes::from_static(b"0123456789")));
        let body = StreamBody::new(futures::stream::iter([first]).chain(futures::stream::pending()));
        let read = read_capped(body, 4, Duration::from_millis(100)).await.unwrap();
        assert_eq!(&read[..], b"0123");
    }

    #[tokio::test]
    async fn a_body_that_stalls_times_out_as_a_whole() {
        let first: Chunk = Ok(Frame::data(Bytes::from_static(b"{")));
        let body = StreamBody::new(futures::stream::iter([first]).chain(futures::stream::pending()));
        let deadline = Duration::from_millis(50);
        let error = read_capped(body, 10, deadline).await.unwrap_err();
        assert!(matches!(error, BodyError::TimedOut(d) if d == deadline), "{error}");
    }

    #[tokio::test]
    async fn a_broken_body_is_an_error_not_a_short_body() {
        let parts: Vec<Result<Frame<Bytes>, &str>> = vec![Ok(Frame::data(Bytes::from_static(b"{"))), Err("reset")];
        let error =
            read_capped(StreamBody::new(futures::stream::iter(parts)), 10, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(error.to_string(), "the request body could not be read: reset");
    }
}
