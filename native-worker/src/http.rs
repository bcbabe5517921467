//! The worker's small HTTP server: `/health` (the process runs), `/ready`
//! (RabbitMQ, PostgreSQL and Redis reachable, for an orchestrator to route
//! work or restart) and Prometheus `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::Pool;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cache::Cache;
use crate::metrics::Metrics;

/// Where the probes listen unless `HTTP_ADDR` says otherwise: loopback.
/// `/metrics` tells whoever reaches it queue names, traffic and failure
/// counts, and nothing here authenticates; an orchestrator probing from the
/// same host or network namespace reaches loopback, and exposing it wider
/// (`HTTP_ADDR=0.0.0.0:9090`) is a decision to make next to a firewall.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9090";

/// What the probes look at.
pub struct Probes {
    pub metrics: Arc<Metrics>,
    pub pool: Pool,
    pub cache: Arc<Cache>,
    /// Set by the supervisor while its AMQP connection is up.
    pub amqp_connected: Arc<AtomicBool>,
}

impl Probes {
    async fn database_ok(&self) -> bool {
        let check = async {
            let client = self.pool.get().await.ok()?;
            client.simple_query("SELECT 1").await.ok()
        };
        matches!(tokio::time::timeout(Duration::from_secs(2), check).await, Ok(Some(_)))
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

async fn route(probes: Arc<Probes>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != hyper::Method::GET {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            json!({"error": "method not allowed"}).to_string(),
        );
        r.headers_mut().insert("allow", "GET".parse().expect("valid header"));
        return Ok(r);
    }
    Ok(match req.uri().path() {
        "/health" => respond(StatusCode::OK, "application/json", json!({"status": "ok"}).to_string()),
        "/ready" => {
            let amqp = probes.amqp_connected.load(Ordering::Relaxed);
            let (database, cache) = tokio::join!(probes.database_ok(), probes.cache.ping());
            let cache = cache.is_ok();
            let ready = amqp && database && cache;
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let body = json!({"status": if ready {"ready"} else {"not_ready"}, "checks": {"rabbitmq": amqp, "database": database, "cache": cache}});
            respond(status, "application/json", body.to_string())
        }
        "/metrics" => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            probes.metrics.render(),
        ),
        _ => respond(StatusCode::NOT_FOUND, "application/json", json!({"error": "not found"}).to_string()),
    })
}

/// Binds `addr`; returns the bound address (port 0 picks one) and the server task.
pub async fn serve(
    addr: SocketAddr,
    probes: Arc<Probes>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, _) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors, usually: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let probes = probes.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| route(probes.clone(), req));
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!(error = %e, "http connection ended");
                }
            });
        }
    });
    Ok((local, task))
}

/// Asks the probe server at `addr` for `path` and returns the HTTP status:
/// what `native-worker health` does for a container's HEALTHCHECK, since a
/// `FROM scratch` image has no curl to do it. An unspecified listen address
/// (`0.0.0.0`, `::`) is asked on loopback, where it also listens.
pub async fn probe(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        // HTTP/1.0 with no keep-alive: the server closes after its answer.
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes()).await?;
        let mut head = Vec::new();
        stream.take(1024).read_to_end(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 3 s"))??;
    // "HTTP/1.x 200 OK": the second word.
    let status = std::str::from_utf8(&head)
        .ok()
        .and_then(|text| text.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok());
    status.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer"))
}
