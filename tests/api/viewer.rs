//! The docs page as a person uses it: Swagger UI in headless Chromium
//! (driven by Selenium, `tests/viewer/drive_docs.py`) renders every
//! operation of the served document, and a try-it-out call of
//! `GET /api/v1/health/` shows 200, under the page's own
//! Content-Security-Policy and with no internet.

use std::process::Command;
use std::time::{Duration, Instant};

use api_tests::{Op, path_of, repo_root, spawn_app};
use serde_json::Value;

use crate::python_tools;

/// Chromium and its driver from Debian's packages, installed if missing so
/// a fresh machine (and CI, as root) runs this test as it is.
fn chromium() {
    let present = |binary: &str| std::path::Path::new(binary).exists();
    if present("/usr/bin/chromium") && present("/usr/bin/chromedriver") {
        return;
    }
    let install =
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver";
    let status = Command::new("sh").args(["-c", install]).status().expect("sh runs");
    assert!(status.success(), "could not install chromium and chromium-driver: {install}");
}

fn operations(document: &Value) -> usize {
    document["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_renders_every_operation_and_tries_health_out() {
    chromium();
    let venv = python_tools::venv();
    let app = spawn_app().await;
    let document = app.get(path_of(Op::OpenApi)).await.json();
    let expected = operations(&document);

    let started = Instant::now();
    let mut command = tokio::process::Command::new(venv.join("bin/python"));
    command
        .arg(repo_root().join("tests/viewer/drive_docs.py"))
        .arg(app.url(""))
        .arg(expected.to_string())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the browser run ends within 3 minutes")
        .expect("python starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed under {}:\n{stderr}", app.runtime);
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    eprintln!("[viewer] {seen} in {:.1?} under {}", started.elapsed(), app.runtime);

    assert_eq!(seen["operations"].as_u64(), Some(expected as u64), "every operation is rendered");
    assert_eq!(seen["status"], "200", "try-it-out of GET /api/v1/health/");
    assert_eq!(seen["request_url"], app.url(path_of(Op::Health)), "try-it-out calls the same origin");
    // The policy lets the viewer work: nothing it does is refused. (The
    // favicon the browser asks for on its own is the envelope's 404.)
    let errors: Vec<&str> = seen["console_errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|message| !message.contains("/favicon.ico"))
        .collect();
    assert!(errors.is_empty(), "the browser console reports errors: {errors:#?}");
}
