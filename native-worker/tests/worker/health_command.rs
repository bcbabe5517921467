//! `native-worker health`: the probe a container image without a shell or
//! curl runs as its HEALTHCHECK (deploy/worker/Containerfile).

use native_worker::worker::Parts;
use tokio_util::sync::CancellationToken;

use crate::helpers::TestEnv;

#[tokio::test]
async fn the_health_command_asks_a_running_worker_and_fails_without_one() {
    let mut env = TestEnv::new().await;
    let worker = env.start(Parts { consumer: false, relay: false }).await;
    let served = CancellationToken::new();
    let addr = worker.serve_http("127.0.0.1:0".parse().unwrap(), served.clone()).await.unwrap();

    let healthy = env.command(&["health"]).env("HTTP_ADDR", addr.to_string()).output().await.unwrap();
    assert!(healthy.status.success(), "{healthy:?}");
    assert_eq!(String::from_utf8_lossy(&healthy.stdout).trim(), "healthy");
    // In a container HTTP_ADDR is 0.0.0.0:9090; the check asks loopback.
    let wide = env.command(&["health"]).env("HTTP_ADDR", format!("0.0.0.0:{}", addr.port())).output().await.unwrap();
    assert!(wide.status.success(), "{wide:?}");

    served.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let down = env.command(&["health"]).env("HTTP_ADDR", addr.to_string()).output().await.unwrap();
    assert!(!down.status.success(), "no worker listening, yet healthy: {down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("no answer"), "{down:?}");
    env.cleanup().await;
}
