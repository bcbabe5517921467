//! Batching of per-message database queries. Under load, many messages ask
//! the same kind of question at once; answering everything queued with one
//! `= ANY($1)` query costs the database one statement instead of hundreds,
//! and adds no latency when the worker is idle (a lone request goes at once).
//!
//! A batch shares its fate, which is right when the database is down and
//! wrong when one caller's value is at fault (a data exception, a row that
//! cannot be read): then the batch is asked again one key at a time, so only
//! that caller gets the error and the others their answers.

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::db::DbError;

/// Most requests one query answers.
pub const MAX_BATCH: usize = 512;

/// Single-key queries in flight at once when a batch falls back; a few keep
/// the fallback quick without taking the whole pool.
const FALLBACK_CONCURRENCY: usize = 4;

/// Where a caller waits for its answer.
pub type Reply<T> = oneshot::Sender<Result<T, DbError>>;

/// Collects what is queued (up to [`MAX_BATCH`]), runs one query for it in
/// its own task, and answers each caller. Ends when every sender is gone.
/// `query` answers keys in the order it was given them.
pub async fn batcher<K, T, F, Fut>(mut rx: mpsc::UnboundedReceiver<(K, Reply<T>)>, query: F)
where
    K: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(Vec<K>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Vec<T>, DbError>> + Send + 'static,
{
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (keys, replies): (Vec<K>, Vec<Reply<T>>) = batch.into_iter().unzip();
        let query = query.clone();
        // Batches run concurrently, bounded by the pool; the next one
        // gathers while this one is in the database.
        tokio::spawn(async move {
            match query(keys.clone()).await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) if e.is_caller_specific() && keys.len() > 1 => {
                    tracing::info!(error = %e, size = keys.len(), "a value failed its batch; asking one key at a time");
                    let singles = futures_util::stream::iter(keys.into_iter().map(move |key| query(vec![key])))
                        .buffered(FALLBACK_CONCURRENCY);
                    let mut singles = std::pin::pin!(singles);
                    let mut replies = replies.into_iter();
                    while let (Some(answer), Some(reply)) = (singles.next().await, replies.next()) {
                        let answer = answer.and_then(|mut one| one.pop().ok_or(DbError::Batch("no answer".into())));
                        let _ = reply.send(answer);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.shared()));
                    }
                }
            }
        });
    }
}

/// Sends `key` to a batcher and waits for its answer.
pub async fn ask<K, T>(tx: &mpsc::UnboundedSender<(K, Reply<T>)>, key: K) -> Result<T, DbError> {
    let (reply, answer) = oneshot::channel();
    tx.send((key, reply)).map_err(|_| DbError::Batch("batcher stopped".into()))?;
    answer.await.map_err(|_| DbError::Batch("batcher stopped".into()))?
}
