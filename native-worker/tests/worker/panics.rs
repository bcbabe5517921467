//! A delivery whose processing panics is dead-lettered with the panic and
//! counted, and its channel keeps flowing.

use std::sync::Arc;
use std::time::Duration;

use native_worker::hooks::Hooks;
use native_worker::worker::Parts;

use crate::helpers::{TestEnv, eventually};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_panicking_delivery_is_dead_lettered_and_its_channel_keeps_flowing() {
    let mut env = TestEnv::new().await;
    // A small window: a stuck tag would stop deliveries after a few messages.
    env.config.prefetch = 4;
    let user = env.insert_user(true, Some("tok")).await;
    let hooks = Hooks {
        on_delivery: Some(Arc::new(|body: &[u8]| {
            if String::from_utf8_lossy(body).contains("req-boom") {
                panic!("injected fault");
            }
        })),
        ..Hooks::default()
    };
    let worker = env.start_with_hooks(Parts { consumer: true, relay: false }, hooks).await;
    let mut bodies = vec![TestEnv::push_body(user, "req-boom")];
    bodies.extend((0..60).map(|i| TestEnv::push_body(user, &format!("req-after-{i}"))));
    env.publish_many(&bodies).await;

    let failed = env.take(&env.config.failed_queue, 1, WAIT).await;
    assert_eq!(failed[0].request_id(), "req-boom");
    assert_eq!(failed[0].reason().unwrap(), "panicked: injected fault");
    let forwarded = env.take(&env.config.ready_queue, 60, WAIT).await;
    assert_eq!(forwarded.len(), 60);
    eventually("everything acked", WAIT, || worker.metrics.forwarded.get() == 60).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.queue_len(&env.config.push_queue).await, 0, "the panicked message was acked too");
    assert_eq!(worker.metrics.panics.get(), 1);
    assert_eq!(worker.metrics.dead_lettered.get(), 1);
    assert!(worker.metrics.render().contains("native_worker_delivery_panics_total 1"));
    env.cleanup().await;
}
