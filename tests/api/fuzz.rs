//! Schemathesis (PyPI) against the app as the suite serves it (the host, or
//! a real `spin up`): every check, every phase including the stateful one,
//! with a staff token and a service key (`tests/fuzz/schemathesis.toml`).
//! Two runs: a fixed seed, so a failure can be replayed, and a random one
//! (printed), so each run explores something new. Any failure fails the test.
//!
//! `FUZZ_MAX_EXAMPLES` (default 12) bounds the examples per operation and
//! phase; the stateful phase's steps are bounded in the configuration file.
//! `FUZZ_RANDOM_RUNS` (default 1) runs that many random seeds, one after the
//! other against the same app, for hunting what a single CI run may meet;
//! `FUZZ_SEEDS` (comma-separated) replays given seeds too, such as the one a
//! failed CI run printed.

use std::time::{Duration, Instant};

use api_tests::{Op, Spawn, TestApp, path_of, repo_root, spawn_with};
use reqwest::Method;

use crate::python_tools;

/// The fixed seed. Change it only together with whatever it found.
const FIXED_SEED: u64 = 20261126;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

struct Credentials {
    staff_token: String,
    service_key: String,
    victim_token: String,
    /// A user whose own sessions the run lists and ends.
    sessions_token: String,
}

/// Fresh users for one run: a run may end the sessions of the users it was
/// given (that is what some operations do), and the next run starts whole.
async fn credentials(app: &TestApp, service_key: &str) -> Credentials {
    let (_, staff_token) = app.staff_user().await;
    let (_, victim_token) = app.plain_user().await;
    let (_, sessions_token) = app.plain_user().await;
    // The credentials work before anything is generated with them.
    assert_eq!(app.authed(Method::GET, path_of(Op::ListUsers), &staff_token, None).await.status, 200);
    Credentials { staff_token, service_key: service_key.to_owned(), victim_token, sessions_token }
}

/// Runs `st run` once; returns the failure report if it found anything.
async fn schemathesis(app: &TestApp, credentials: &Credentials, seed: u64, label: &str) -> Option<String> {
    let venv = python_tools::venv();
    let report = repo_root().join(format!("target/fuzz-report/{}-{label}-{seed}", app.database_name));
    let mut command = tokio::process::Command::new(venv.join("bin/st"));
    command
        .arg("--config-file")
        .arg(repo_root().join("tests/fuzz/schemathesis.toml"))
        .arg("run")
        .arg(app.url(path_of(Op::OpenApi)))
        .args(["--url", &app.url("")])
        // Every check is on through the configuration file (`[checks] enabled
        // = true`), not `--checks all`: a check named on the command line
        // overrides the file's per-operation exceptions.
        .args(["--phases", "examples,coverage,fuzzing,stateful", "--mode", "all"])
        .args(["--seed", &seed.to_string()])
        .args(["--max-examples", &setting("FUZZ_MAX_EXAMPLES", 12).to_string()])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .env("FUZZ_STAFF_TOKEN", &credentials.staff_token)
        .env("FUZZ_SERVICE_KEY", &credentials.service_key)
        .env("FUZZ_VICTIM_TOKEN", &credentials.victim_token)
        .env("FUZZ_SESSIONS_TOKEN", &credentials.sessions_token)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "160")
        .kill_on_drop(true);
    let started = Instant::now();
    let limit = Duration::from_secs(setting("FUZZ_TIMEOUT_SECS", 420));
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ({label} seed {seed}) ran past {limit:?} under {}", app.runtime))
        .expect("schemathesis starts");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let summary: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.contains("test cases") || line.contains("failures") || line.contains("passed") || line.contains("Seed")
        })
        .collect();
    eprintln!(
        "[fuzz] {} seed {seed} ({label}) under {} in {:.0?}:\n{}",
        if output.status.success() { "passed" } else { "FAILED" },
        app.runtime,
        started.elapsed(),
        summary.join("\n")
    );
    (!output.status.success()).then(|| {
        format!(
            "schemathesis found failures ({label} seed {seed}) under {} (report in {}):\n{text}",
            app.runtime,
            report.display()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_with_every_check() {
    let service_key = format!("fuzz-service-key-{}", uuid::Uuid::new_v4().simple());
    let app = spawn_with(
        Spawn::default()
            .variable("service_keys", &service_key)
            .variable("mfa_key", "fuzz-mfa-key-that-is-at-least-32-bytes-long")
            // Generous limits, so generated requests reach the handlers instead
            // of the rate limiter (429 stays documented and is still answered).
            .variable("rate_limit_register_per_minute", "100000")
            .variable("rate_limit_login_per_minute", "100000")
            .variable("rate_limit_anonymous_request_ids_per_minute", "100000"),
    )
    .await;
    let mut failures: Vec<String> = Vec::new();
    failures.extend(schemathesis(&app, &credentials(&app, &service_key).await, FIXED_SEED, "fixed").await);
    let given = std::env::var("FUZZ_SEEDS").unwrap_or_default();
    for seed in given.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let seed = seed.parse().unwrap_or_else(|_| panic!("FUZZ_SEEDS holds {seed:?}, not a seed"));
        failures.extend(schemathesis(&app, &credentials(&app, &service_key).await, seed, "given").await);
    }
    for _ in 0..setting("FUZZ_RANDOM_RUNS", 1) {
        let random: u64 = rand::random::<u32>().into();
        failures.extend(schemathesis(&app, &credentials(&app, &service_key).await, random, "random").await);
    }
    assert!(failures.is_empty(), "{} of the runs failed:\n{}", failures.len(), failures.join("\n\n"));
}
