//! Batched lookups: one caller's bad value must not fail the others' answers.

use std::time::Duration;

use native_worker::db::DbError;
use native_worker::dedup::Dedup;

use crate::helpers::TestEnv;

#[tokio::test]
async fn a_data_error_in_a_batch_falls_back_to_one_lookup_per_message() {
    let env = TestEnv::new().await;
    let dedup = Dedup::new(env.pool.clone(), Duration::from_secs(3600));
    // Parsing refuses a NUL in a request_id; this reaches the query anyway,
    // as any value PostgreSQL refuses would.
    let mut ids: Vec<String> = (0..20).map(|i| format!("batch-{i}")).collect();
    ids.insert(7, "nul\0inside".into());
    // Asked together: on one thread they all queue before the batcher runs,
    // so they share one `= ANY($1)` query.
    let record = futures_util::future::join_all(ids.iter().map(|id| dedup.record(id))).await;
    let seen = futures_util::future::join_all(ids.iter().map(|id| dedup.seen(id))).await;
    for (i, (recorded, seen)) in record.iter().zip(&seen).enumerate() {
        if i == 7 {
            assert!(matches!(recorded, Err(e) if e.is_caller_specific()), "{recorded:?}");
            assert!(matches!(seen, Err(e) if e.is_caller_specific()), "{seen:?}");
        } else {
            assert!(recorded.is_ok(), "{}: {recorded:?}", ids[i]);
            assert!(matches!(seen, Ok(true)), "{}: {seen:?}", ids[i]);
        }
    }
    // And a failure that is not the caller's stays shared by the batch.
    env.pool.get().await.unwrap().batch_execute("ALTER TABLE forwarded_requests RENAME TO away").await.unwrap();
    let seen = futures_util::future::join_all(ids[..3].iter().map(|id| dedup.seen(id))).await;
    assert!(seen.iter().all(|s| matches!(s, Err(DbError::Batch(_)))), "{seen:?}");
    env.cleanup().await;
}
