//! `spin up` as a child process of one test: started on a port the OS picks,
//! ready once it prints where it serves, killed when the test lets go of it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long `spin up` may take to load the app and listen. A warm start takes
/// about 0.2 s; a cold one compiles every component first (7 s on 2 busy cores).
const START_LIMIT: Duration = Duration::from_secs(90);

/// What spin printed last is kept for the report of a failed test.
const KEPT_OUTPUT_BYTES: usize = 16 * 1024;

/// The spin CLI: `SPIN_BIN`, else `../shared/tools/spin` beside the repository.
pub fn spin_cli() -> PathBuf {
    match std::env::var_os("SPIN_BIN") {
        Some(path) => PathBuf::from(path),
        None => crate::repo_root().join("../shared/tools/spin"),
    }
}

/// A running `spin up`.
pub(crate) struct SpinProcess {
    /// `spin up` and the process it runs the app in, killed when dropped.
    process: ProcessTree,
    /// Where it serves, as it printed it.
    pub(crate) address: SocketAddr,
    /// The tail of its stdout and stderr (component output included).
    output: Arc<Mutex<String>>,
    /// Its state and log directory, and its working directory (so no
    /// developer's `./.env` leaks in): removed with it unless the test failed.
    dir: PathBuf,
    /// How long it took from spawn to serving.
    pub(crate) started_in: Duration,
}

impl SpinProcess {
    /// `spin up --from <manifest> --listen 127.0.0.1:0` with exactly the given
    /// `SPIN_VARIABLE_*` environment, and the `given` values as `--variable
    /// @file.toml`; returns once it serves, or spin's own
    /// words if it exits or stays silent past [`START_LIMIT`].
    pub(crate) async fn start(
        manifest: &Path,
        variables: &HashMap<String, String>,
        given: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let cli = spin_cli();
        anyhow::ensure!(cli.exists(), "TEST_RUNTIME=spin but there is no spin CLI at {} (set SPIN_BIN)", cli.display());
        let dir = std::env::temp_dir().join(format!("api-tests-spin-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

        let mut command = Command::new(&cli);
        command
            .arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .arg("--runtime-config-file")
            .arg(crate::write_runtime_config_given(&dir, variables, given)?)
            .args(match given.is_empty() {
                true => None,
                false => Some(format!("--variable=@{}", crate::write_given_variables(&dir, given)?.display())),
            })
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        only_given_environment(&mut command, variables, |name| {
            name == "RUNTIME_CONFIG_FILE" || name == "SPIN_HTTP_LISTEN_ADDR"
        });
        // Should the test process die without unwinding, the kernel sends
        // `spin up` SIGTERM, which it passes on to its trigger process.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }

        let spawned = Instant::now();
        let mut process = ProcessTree {
            spin_up: command.spawn().with_context(|| format!("starting {}", cli.display()))?,
            killed: false,
        };
        let child = &mut process.spin_up;
        let output = Arc::new(Mutex::new(String::new()));
        let (serving, served) = oneshot::channel();
        let readers = [
            drain(child.stdout.take().expect("stdout is piped"), output.clone(), Some(serving)),
            drain(child.stderr.take().expect("stderr is piped"), output.clone(), None),
        ];

        let outcome = tokio::select! {
            // A closed stdout without the line disables this branch: wait for the exit.
            Ok(address) = served => Some(address),
            status = child.wait() => {
                let status = status.context("waiting for spin")?;
                // Its last words are still in the pipes.
                for reader in readers {
                    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
                }
                let _ = std::fs::remove_dir_all(&dir);
                bail!("spin exited ({status}) before serving:\n{}", output.lock().unwrap());
            }
            () = tokio::time::sleep(START_LIMIT) => None,
        };
        let started_in = spawned.elapsed();
        let Some(address) = outcome else {
            drop(process);
            let _ = std::fs::remove_dir_all(&dir);
            bail!("spin did not serve within {START_LIMIT:?} (killed):\n{}", output.lock().unwrap());
        };
        Ok(Self { process, address, output, dir, started_in })
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        self.process.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- spin up ({}): its output, its logs in {} ---\n{}",
                self.address,
                self.dir.join("logs").display(),
                self.output.lock().map(|o| o.clone()).unwrap_or_default()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `spin up` serves the app from a child process of its own (`spin trigger
/// http`); killing `spin up` alone would orphan it, still listening.
struct ProcessTree {
    spin_up: Child,
    killed: bool,
}

impl ProcessTree {
    /// SIGKILL to `spin up`'s children, then to `spin up`: at once, no waiting.
    fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        if let Some(pid) = self.spin_up.id() {
            for child in children(pid) {
                // SAFETY: kill(2) on a process id; no memory is involved.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
        }
        let _ = self.spin_up.start_kill();
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The children of a process, forked by any of its threads (Linux `/proc`).
fn children(pid: u32) -> Vec<libc::pid_t> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|id| id.parse().ok()).collect::<Vec<_>>())
        .collect()
}

/// Reads one of spin's pipes to its end, keeping the tail, echoing it when
/// `TEST_LOG` is set, and reporting the `Serving http://…` line once.
fn drain(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<String>>,
    mut serving: Option<oneshot::Sender<SocketAddr>>,
) -> JoinHandle<()> {
    let echo = std::env::var_os("TEST_LOG").is_some();
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(address) = line.trim().strip_prefix("Serving http://").and_then(|a| a.parse().ok())
                && let Some(serving) = serving.take()
            {
                let _ = serving.send(address);
            }
            if echo {
                eprintln!("[spin] {line}");
            }
            let mut kept = output.lock().unwrap();
            kept.push_str(&line);
            kept.push('\n');
            if kept.len() > KEPT_OUTPUT_BYTES {
                let cut = kept.len() - KEPT_OUTPUT_BYTES;
                let cut = (cut..kept.len()).find(|&i| kept.is_char_boundary(i)).unwrap_or(kept.len());
                kept.drain(..cut);
            }
        }
    })
}

/// Sets exactly the test's `variables` on a server about to be spawned:
/// nothing from the developer's shell, neither `SPIN_VARIABLE_*` nor what
/// `also_dropped` names (the runtime's own settings), leaks into it.
pub(crate) fn only_given_environment(
    command: &mut Command,
    variables: &HashMap<String, String>,
    also_dropped: impl Fn(&str) -> bool,
) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SPIN_VARIABLE_") || also_dropped(&name) {
            command.env_remove(name.as_ref());
        }
    }
    command.envs(variables);
}
