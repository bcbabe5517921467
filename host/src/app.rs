//! [`Application`]: a running Spin app. `build` reads the manifest and the
//! runtime config, resolves variables, allowed hosts and key-value stores,
//! compiles and pre-instantiates every component and binds the listener;
//! `run_until_stopped` serves until told to stop, then lets in-flight
//! requests finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::allowed_hosts::AllowedHosts;
use crate::config::HostConfig;
use crate::connection_limit::PerAddressLimit;
use crate::engine::{self, EPOCH_TICK};
use crate::key_value;
use crate::manifest::App;
use crate::memory_growth::MemoryGrowth;
use crate::routes::Router;
use crate::runtime_config::RuntimeConfig;
use crate::server::{LoadedComponent, Server};
use crate::state::{ComponentContext, Shared};
use crate::variables::{AppVariables, ComponentVariables};

pub struct Application {
    listener: TcpListener,
    server: Arc<Server>,
    shutdown_grace: Duration,
    per_address: PerAddressLimit,
    ticker_stop: Arc<AtomicBool>,
}

impl Application {
    pub async fn build(config: HostConfig) -> anyhow::Result<Self> {
        let app = App::from_file(&config.manifest)?;
        let runtime_config = match &config.runtime_config_file {
            Some(path) => {
                RuntimeConfig::from_file(path).with_context(|| format!("runtime config file {}", path.display()))?
            }
            None => RuntimeConfig::default(),
        };
        let environment = config.environment.clone().with_provided(runtime_config.variables.clone());
        let variables = AppVariables::resolve(&app.variables, &environment)?;
        let stores = Arc::new(key_value::AppState::new(&runtime_config.key_value));

        let (router, duplicates) = Router::build(app.routes.iter().map(|r| (r.route.as_str(), r.component.as_str())));
        for duplicate in duplicates {
            tracing::warn!(route = %duplicate.route, replaced = %duplicate.replaced, effective = %duplicate.effective, "duplicate route: the last one wins");
        }

        let engine = engine::build_engine(config.limits, &config.engine)?;
        let linker = engine::linker(&engine)?;
        let mut contexts = Vec::new();
        for (id, decl) in &app.components {
            let resolved_hosts = decl
                .allowed_outbound_hosts
                .iter()
                .map(|entry| variables.render(entry))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("component.{id}.allowed_outbound_hosts"))?;
            let context = ComponentContext {
                id: Arc::from(id.as_str()),
                allowed_hosts: Arc::new(
                    AllowedHosts::parse(resolved_hosts.iter().map(String::as_str))
                        .with_context(|| format!("component.{id}.allowed_outbound_hosts"))?,
                ),
                key_value_stores: stores.allowed_stores(id, &decl.key_value_stores)?,
                variables: Arc::new(
                    ComponentVariables::resolve(&app, id, &variables)
                        .with_context(|| format!("component.{id}.variables"))?,
                ),
                environment: decl.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            };
            contexts.push((context, &decl.source));
        }
        // Loading is CPU-bound (compiling, or with a warm cache, decompressing
        // and deserialising machine code): one thread per component, so a
        // start-up uses every core instead of one.
        let loading = std::time::Instant::now();
        let prepared: Vec<anyhow::Result<(String, LoadedComponent)>> = std::thread::scope(|scope| {
            let loads: Vec<_> = contexts
                .into_iter()
                .map(|(context, source)| {
                    let (engine, linker) = (&engine, &linker);
                    scope.spawn(move || {
                        let pre = engine::prepare(engine, linker, source)
                            .with_context(|| format!("component `{}`", context.id))?;
                        Ok((context.id.to_string(), LoadedComponent { pre, context }))
                    })
                })
                .collect();
            loads
                .into_iter()
                .map(|load| load.join().unwrap_or_else(|_| Err(anyhow::anyhow!("loading panicked"))))
                .collect()
        });
        let components = prepared.into_iter().collect::<anyhow::Result<HashMap<_, _>>>()?;
        tracing::info!(
            components = components.len(),
            ms = format_args!("{:.1}", loading.elapsed().as_secs_f64() * 1000.0),
            "components loaded"
        );

        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());

        let server = Arc::new(Server {
            engine,
            router,
            components,
            shared: Arc::new(Shared::new(config.postgres, stores)),
            limits: config.limits,
            request_timeout: config.request_timeout,
            body_read_timeout: config.body_read_timeout,
            instances: Arc::new(Semaphore::new(config.limits.max_instances as usize)),
        });
        Ok(Self {
            listener,
            server,
            shutdown_grace: config.shutdown_grace,
            per_address: PerAddressLimit::new(config.max_connections_per_address),
            ticker_stop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The requests whose instance grew its linear memory (`memory_growth`).
    pub fn memory_growth(&self) -> Arc<MemoryGrowth> {
        self.server.shared.memory_growth.clone()
    }

    /// Serves until `shutdown` resolves, then waits (up to the grace period)
    /// for connections in flight to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(4096));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = connections.clone().acquire_owned() => permit?,
            };
            let (stream, client) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Usually out of file descriptors: back off rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // Over its address's cap, the connection is dropped unread (see
            // `connection_limit` for why not a 429).
            let Some(address_slot) = self.per_address.try_acquire(client.ip()) else {
                tracing::warn!(%client, "too many connections from this address; closed");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.server.clone();
            let service = hyper::service::service_fn(move |request| server.clone().handle(request, client));
            // A client that never finishes its headers must not hold a
            // connection slot forever.
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _permit = permit;
                let _address_slot = address_slot;
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %client, "connection ended with an error");
                }
            });
        }
        tracing::info!("shutting down: waiting for requests in flight");
        if tokio::time::timeout(self.shutdown_grace, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still in flight after the grace period; stopping anyway");
        }
        self.ticker_stop.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch so deadlines set in ticks expire on time.
fn spawn_epoch_ticker(engine: wasmtime::Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("the epoch thread starts");
}
