//! Whole processes, as a deployment runs them: the app served by a `host up`
//! process of this repository's host binary (or a `spin up` under
//! `TEST_RUNTIME=spin`), and `native-worker run` processes, each on a port
//! the kernel picks, each killed when the test lets go of it. For tests of
//! several instances side by side (tests/two_instances/), where the
//! in-process host of [`crate::spawn_with`] would share one process, one
//! pool and one runtime between what must be separate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Runtime;
use crate::spin_process::{SpinProcess, only_given_environment};

/// How long a process may take to serve: a cold Wasmtime cache compiles
/// every component first (seconds on 2 busy cores).
const START_LIMIT: Duration = Duration::from_secs(90);

/// A binary of this workspace, built with the same profile as the running
/// test (target/debug or target/release, beside target/*/deps), built with
/// cargo first if that profile has not built it (a `-p api-tests` run).
pub fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps");
    let binary = profile_dir.join(name);
    if !binary.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "-p", package, "--bin", name]).current_dir(crate::repo_root());
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success() && binary.exists(), "could not build {} ({status})", binary.display());
    }
    binary
}

/// One instance of the app: a `host up` process, or `spin up` (and its child).
pub struct AppProcess {
    pub address: SocketAddr,
    /// How long it took from spawn to serving.
    pub started_in: Duration,
    /// Held for their Drop, which kills them: one of the two is there.
    _host: Option<Child>,
    _spin: Option<Box<SpinProcess>>,
}

impl AppProcess {
    /// Starts `manifest` with exactly `variables` (`SPIN_VARIABLE_*`) on the
    /// runtime `TEST_RUNTIME` names, listening on 127.0.0.1:0.
    pub async fn start(manifest: &Path, variables: &HashMap<String, String>) -> anyhow::Result<Self> {
        match Runtime::from_env() {
            Runtime::Spin => {
                let spin = SpinProcess::start(manifest, variables, &Default::default()).await?;
                Ok(Self {
                    address: spin.address,
                    started_in: spin.started_in,
                    _host: None,
                    _spin: Some(Box::new(spin)),
                })
            }
            Runtime::Host => {
                let started = Instant::now();
                let mut command = Command::new(workspace_binary("host", "host"));
                command
                    .args(["up", "--listen", "127.0.0.1:0", "--from"])
                    .arg(manifest)
                    .arg("--runtime-config-file")
                    .arg(crate::write_runtime_config(&std::env::temp_dir(), variables)?)
                    .current_dir(std::env::temp_dir())
                    .env("RUST_LOG", "info,wasmtime=warn,cranelift=warn")
                    .env("NO_COLOR", "1")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                only_given_environment(&mut command, variables, |name| name.starts_with("HOST_"));
                let mut child = command.spawn().context("starting the host binary")?;
                let address = serving_address(&mut child, "serving on http://").await?;
                Ok(Self { address, started_in: started.elapsed(), _host: Some(child), _spin: None })
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// Reads a child's output until it names the address it serves on, after
/// `marker`; keeps draining it afterwards (echoed when `TEST_LOG` is set) so
/// the child never blocks on a full pipe.
async fn serving_address(child: &mut Child, marker: &'static str) -> anyhow::Result<SocketAddr> {
    let echo = std::env::var_os("TEST_LOG").is_some();
    let seen = Arc::new(Mutex::new(String::new()));
    let (found_tx, mut found) = tokio::sync::mpsc::unbounded_channel();
    let pipes: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] =
        [Box::new(child.stdout.take().expect("piped")), Box::new(child.stderr.take().expect("piped"))];
    for pipe in pipes {
        let (seen, found_tx) = (seen.clone(), found_tx.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = without_ansi_escapes(&line);
                if let Some(rest) = line.split(marker).nth(1) {
                    let address: String =
                        rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
                    if let Ok(address) = address.parse::<SocketAddr>() {
                        let _ = found_tx.send(address);
                    }
                }
                if echo {
                    eprintln!("[child] {line}");
                }
                let mut kept = seen.lock().unwrap();
                if kept.len() < 16 * 1024 {
                    kept.push_str(&line);
                    kept.push('\n');
                }
            }
        });
    }
    drop(found_tx);
    tokio::select! {
        Some(address) = found.recv() => Ok(address),
        status = child.wait() => bail!("exited ({:?}) before serving:\n{}", status, seen.lock().unwrap()),
        () = tokio::time::sleep(START_LIMIT) => bail!("did not serve within {START_LIMIT:?}:\n{}", seen.lock().unwrap()),
    }
}

/// `line` without terminal colour codes (ESC [ … letter), which tracing
/// may put around a field's name.
fn without_ansi_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A `native-worker run` process, configured through its environment as an
/// operator would, its probes and metrics on a port the kernel picks.
pub struct WorkerProcess {
    pub name: &'static str,
    pub probes: SocketAddr,
    child: Child,
}

impl WorkerProcess {
    /// Starts `native-worker run` with `environment` (DATABASE_URL, queue
    /// names, …) and waits until `/ready` says it consumes.
    pub async fn start(name: &'static str, environment: &HashMap<String, String>) -> anyhow::Result<Self> {
        let mut command = Command::new(workspace_binary("native-worker", "native-worker"));
        command
            .arg("run")
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("starting native-worker")?;
        let probes = serving_address(&mut child, "bound=").await.context(name)?;
        let worker = Self { name, probes, child };
        let deadline = Instant::now() + START_LIMIT;
        while !worker.get("/ready").await.is_ok_and(|(status, _)| status == 200) {
            if Instant::now() > deadline {
                bail!("worker {name} never became ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(worker)
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = reqwest::get(format!("http://{}{path}", self.probes)).await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// A counter from `/metrics` (`native_worker_<name>_total`).
    pub async fn counter(&self, name: &str) -> u64 {
        let (_, text) = self.get("/metrics").await.unwrap_or_else(|e| panic!("{}: /metrics: {e}", self.name));
        let wanted = format!("native_worker_{name}_total ");
        text.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{}: no {wanted} in /metrics", self.name)) as u64
    }

    /// SIGKILL: a crash. Whatever it held unacked goes back to the queue.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits for the exit: the graceful stop a rollout does.
    /// Returns how long the drain took.
    pub async fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("worker {} did not stop within 60 s of SIGTERM", self.name))
            .expect("wait");
        assert!(status.success(), "worker {} exited with {status} after SIGTERM", self.name);
        started.elapsed()
    }
}
