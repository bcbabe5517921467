//! The host's own limits, which `spin up` has no knobs for: a request past
//! its deadline is cut off, an instance past its memory ceiling fails, and
//! shutdown lets the request in flight finish. Each costs one request a 500
//! (or ends the server cleanly), never the host. What every runtime must do
//! (a trap is an empty 500, neighbours are unaffected) is in the end-to-end
//! suite, `tests/api/isolation.rs`, which runs under the host and under Spin.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host::engine::Limits;
use host::variables::Environment;
use host::{Application, HostConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixtures() -> HostConfig {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let wasm: PathBuf = repo.join("target/wasm32-wasip2/release/testing_component.wasm");
    assert!(wasm.exists(), "run scripts/build-components.sh first");
    let mut config = HostConfig::new(repo.join("tests/fixtures/misbehaving.toml"));
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.environment = Environment::from_map(Default::default());
    config.limits = Limits { max_instances: 32, max_memory_bytes: 128 << 20 };
    config
}

/// Starts the host; it serves until the test ends.
async fn serve(config: HostConfig) -> SocketAddr {
    let app = Application::build(config).await.expect("the fixture app starts");
    let address = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

/// A whole HTTP/1.1 exchange: (status, raw answer).
async fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((status, answer))
    };
    tokio::time::timeout(Duration::from_secs(20), exchange).await.unwrap_or_else(|_| panic!("GET {path} hangs"))
}

#[tokio::test]
async fn a_looping_component_is_cut_off_at_its_time_limit() {
    let mut config = fixtures();
    config.request_timeout = Duration::from_millis(500);
    let address = serve(config).await;
    let started = Instant::now();
    let (status, _) = get(address, "/allowed/loop").await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 500);
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "took {took:?}");
    let (status, answer) = get(address, "/allowed/hello").await.unwrap();
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_memory_hog_hits_the_instance_limit() {
    let address = serve(fixtures()).await;
    let (status, answer) = get(address, "/allowed/memory").await.unwrap();
    assert_eq!(status, 500, "{answer}");
    let (status, answer) = get(address, "/allowed/hello").await.unwrap();
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_then_stops_accepting() {
    let app = Application::build(fixtures()).await.expect("the fixture app starts");
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let slow = tokio::spawn(get(address, "/allowed/slow"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();

    let (status, answer) = slow.await.unwrap().expect("the request in flight is answered");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("slow done"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the host stops").unwrap().unwrap();
    assert!(get(address, "/allowed/hello").await.is_err(), "no longer accepting connections");
}
