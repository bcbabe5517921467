//! Counting what reaches `push.ready`, and making the pushes to count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use serde_json::{Value, json};

pub struct ReadyCounter {
    pub seen: Arc<Mutex<HashMap<String, usize>>>,
    /// Copies whose message_id is not their request_id (the push service
    /// could not drop them as repeats).
    pub unmarked: Arc<Mutex<usize>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl ReadyCounter {
    pub async fn start(channel: &lapin::Channel, queue: &str) -> Self {
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "two-instances-ready".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("consume push.ready");
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let unmarked = Arc::new(Mutex::new(0));
        let task = {
            let (seen, unmarked) = (seen.clone(), unmarked.clone());
            tokio::spawn(async move {
                while let Some(Ok(delivery)) = consumer.next().await {
                    let body: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
                    let request_id = body["request_id"].as_str().unwrap_or_default().to_owned();
                    if delivery.properties.message_id().as_ref().map(|m| m.as_str()) != Some(request_id.as_str()) {
                        *unmarked.lock().unwrap() += 1;
                    }
                    *seen.lock().unwrap().entry(request_id).or_default() += 1;
                }
            })
        };
        Self { seen, unmarked, task }
    }

    pub fn count_of(&self, ids: &[String]) -> usize {
        let seen = self.seen.lock().unwrap();
        ids.iter().filter(|id| seen.contains_key(*id)).count()
    }

    /// Extra copies of `ids`.
    pub fn copies_of(&self, ids: &[String]) -> usize {
        let seen = self.seen.lock().unwrap();
        ids.iter().map(|id| seen.get(id).copied().unwrap_or(0).saturating_sub(1)).sum()
    }

    pub async fn wait_for(&self, ids: &[String], at_least: usize, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let arrived = self.count_of(ids);
            if arrived >= at_least {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "only {arrived} of {at_least} pushes reached push.ready in {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ReadyCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn pushes(prefix: &str, users: &[String], n: usize) -> (Vec<String>, Vec<Value>) {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let bodies = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"notification_type": "push", "user_id": users[i % users.len()], "template_code": "welcome",
                   "variables": {"n": i}, "request_id": id, "priority": 5, "metadata": {}})
        })
        .collect();
    (ids, bodies)
}
