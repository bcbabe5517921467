//! `native-baseline ADDR`: answers every request with `200 hello`, as the
//! `testing` component's `/hello` route does, from plain native Rust on the
//! same hyper and tokio the host uses. Benchmarking both gives the host's own
//! cost per request (instantiation, WASI HTTP plumbing, routing).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3102".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("native baseline on http://{address}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
