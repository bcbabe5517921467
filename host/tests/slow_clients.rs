//! Slow and greedy clients cannot take the API down (issue 7 item 9): the
//! host reads a body, under its own short deadline, before the request waits
//! for an instance, so bodies trickling in hold no instance slot and get a
//! 408; and one client address holds at most so many connections at once.
//! Every client here is on loopback, each "client" on its own 127.0.0.x
//! address so the per-address cap counts them apart.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host::engine::Limits;
use host::variables::Environment;
use host::{Application, HostConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn config(manifest: PathBuf) -> HostConfig {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    for wasm in ["testing_component.wasm", "health_component.wasm"] {
        assert!(repo.join("target/wasm32-wasip2/release").join(wasm).exists(), "run scripts/build-components.sh first");
    }
    let mut config = HostConfig::new(manifest);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.environment = Environment::from_map(Default::default());
    config
}

/// `health` reads every body before it answers, as the API's components do.
fn body_reader() -> HostConfig {
    config(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/body-reader.toml"))
}

fn misbehaving() -> HostConfig {
    config(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/fixtures/misbehaving.toml"))
}

async fn serve(config: HostConfig) -> SocketAddr {
    let app = Application::build(config).await.expect("the fixture app starts");
    let address = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

/// A connection from the loopback address `127.0.0.<client>`.
async fn connect_from(client: u8, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, client), 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Reads the whole answer (the host closes after it): (status, raw answer).
async fn answer(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    // A connection the host resets reads as an error: status 0.
    if let Err(error) = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
    {
        return (0, error.to_string());
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    (raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0), raw)
}

async fn get_from(client: u8, server: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect_from(client, server).await;
    // A refused connection may already be closed: its answer says so.
    let _ = stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    answer(&mut stream).await
}

fn post_head(path: &str, content_length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn slow_bodies_hold_no_instance_slot_and_get_408_after_the_body_timeout() {
    let mut config = body_reader();
    config.limits = Limits { max_instances: 4, max_memory_bytes: 128 << 20 };
    config.body_read_timeout = Duration::from_secs(1);
    // Without the fix a slow body holds its slot this long; the prompt
    // request below would wait for it and fail.
    config.request_timeout = Duration::from_secs(4);
    let server = serve(config).await;

    // Twice as many slow bodies as instance slots, from one client: half
    // stall after the first byte, half trickle a byte every 100 ms.
    let started = Instant::now();
    let mut slow = Vec::new();
    for n in 0..8 {
        slow.push(tokio::spawn(async move {
            let mut stream = connect_from(3, server).await;
            stream.write_all(post_head("/api/v1/health", 100).as_bytes()).await.unwrap();
            stream.write_all(b"{").await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            // The answer is read while the body trickles, as a client would.
            let trickle = tokio::spawn(async move {
                if n % 2 == 1 {
                    for _ in 0..30 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if writer.write_all(b" ").await.is_err() {
                            break;
                        }
                    }
                }
                writer
            });
            let mut raw = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut raw)).await;
            let after = started.elapsed();
            trickle.abort();
            let raw = format!("{read:?}: {}", String::from_utf8_lossy(&raw));
            let status = raw.find("HTTP/1.1 ").and_then(|i| raw.get(i + 9..i + 12)).and_then(|s| s.parse().ok());
            (status.unwrap_or(0), raw, after)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let asked = Instant::now();
    let (status, raw) = get_from(2, server, "/allowed/hello").await;
    let took = asked.elapsed();
    assert_eq!(status, 200, "{raw}");
    assert!(took < Duration::from_millis(500), "another client waited {took:?} behind the slow bodies");

    for task in slow {
        let (status, raw, after) = task.await.unwrap();
        assert_eq!(status, 408, "{raw}");
        assert!(raw.contains(r#""code":"request_timeout""#), "{raw}");
        assert!(raw.to_ascii_lowercase().contains("content-type: application/json"), "{raw}");
        assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(3), "408 after {after:?}");
    }
}

#[tokio::test]
async fn a_whole_body_reaches_the_component_even_past_the_body_limit() {
    let mut config = body_reader();
    config.body_read_timeout = Duration::from_secs(1);
    let server = serve(config).await;
    // `health` reads the body, then answers a POST 405 in the API's envelope:
    // the body was handed over and the instance ran.
    for size in [2, 70 * 1024] {
        let mut stream = connect_from(2, server).await;
        let mut request = post_head("/api/v1/health", size).into_bytes();
        request.extend(std::iter::repeat_n(b' ', size));
        stream.write_all(&request).await.unwrap();
        let (status, raw) = answer(&mut stream).await;
        assert_eq!(status, 405, "{size} bytes: {raw}");
        assert!(raw.contains("method_not_allowed"), "{size} bytes: {raw}");
    }
}

/// True if the host closed the connection without answering.
async fn closed_unanswered(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_accept_while_other_addresses_are_served() {
    let mut config = misbehaving();
    config.max_connections_per_address = NonZeroUsize::new(2).unwrap();
    let server = serve(config).await;

    // Two idle connections: the cap of 127.0.0.4.
    let mut held = vec![connect_from(4, server).await, connect_from(4, server).await];
    let mut over = connect_from(4, server).await;
    let started = Instant::now();
    assert!(closed_unanswered(&mut over).await, "the third connection of one address is closed");
    assert!(started.elapsed() < Duration::from_secs(1), "closed at accept, took {:?}", started.elapsed());

    let (status, raw) = get_from(5, server, "/allowed/hello").await;
    assert_eq!(status, 200, "another address is served: {raw}");

    // The connections within the cap are served as usual.
    let mut first = held.remove(0);
    first.write_all(b"GET /allowed/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let (status, raw) = answer(&mut first).await;
    assert_eq!(status, 200, "{raw}");
    drop(first);

    // Once one closes, the address may connect again (the host notices the
    // close asynchronously, so allow it a moment).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, _) = get_from(4, server, "/allowed/hello").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.0.4 still refused after one of its connections closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
