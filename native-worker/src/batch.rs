//! Batching of per-message database queries. Under load, many messages ask
//! the same kind of question at once; answering everything queued with one
//! `= ANY($1)` query costs the database one statement instead of hundreds,
//! and adds no latency when the worker is idle (a lone request goes at once).

use tokio::sync::{mpsc, oneshot};

use crate::db::DbError;

/// Most requests one query answers.
pub const MAX_BATCH: usize = 512;

/// Where a caller waits for its answer; errors travel as text because every
/// caller of a failed batch gets the same one.
pub type Reply<T> = oneshot::Sender<Result<T, String>>;

/// Collects what is queued (up to [`MAX_BATCH`]), runs one query for it in
/// its own task, and answers each caller. Ends when every sender is gone.
pub async fn batcher<K, T, F, Fut>(mut rx: mpsc::UnboundedReceiver<(K, Reply<T>)>, query: F)
where
    K: Send + 'static,
    T: Send + 'static,
    F: Fn(Vec<K>) -> Fut,
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
        let (ids, replies): (Vec<K>, Vec<Reply<T>>) = batch.into_iter().unzip();
        let fut = query(ids);
        // Batches run concurrently, bounded by the pool; the next one
        // gathers while this one is in the database.
        tokio::spawn(async move {
            match fut.await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) => {
                    let e = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
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
    answer.await.map_err(|_| DbError::Batch("batcher stopped".into()))?.map_err(DbError::Batch)
}
