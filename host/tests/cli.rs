//! The `host` binary as an operator runs it: a manifest or runtime config it
//! cannot honour stops it at start with the key named, and SIGTERM lets the request in
//! flight finish before it exits; its log lines suit a file (no colour codes
//! off a terminal, `LOG_FORMAT=json` one object a line).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Runs `host up` on a one-component manifest with `component_line`, and a
/// runtime config file with `runtime_config` if given; its stderr when it
/// fails to start.
fn refused_at_start(name: &str, component_line: &str, runtime_config: Option<&str>) -> String {
    let dir = std::env::temp_dir().join(format!("host-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!("spin_manifest_version = 2\n[application]\nname = \"x\"\n[component.a]\nsource = \"a.wasm\"\n{component_line}\n"),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_host"));
    command.args(["up", "--from", manifest.to_str().unwrap(), "--listen", &format!("127.0.0.1:{}", free_port())]);
    if let Some(text) = runtime_config {
        let path = dir.join("runtime-config.toml");
        std::fs::write(&path, text).unwrap();
        command.arg("--runtime-config-file").arg(path);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_manifest_with_a_key_this_host_cannot_honour_stops_it_at_start() {
    let stderr = refused_at_start("sqlite", "sqlite_databases = [\"default\"]", None);
    assert!(stderr.contains("component.a.sqlite_databases") && stderr.contains("not supported"), "{stderr}");
}

#[test]
fn a_runtime_config_this_host_cannot_honour_stops_it_at_start() {
    let stores = "key_value_stores = [\"cache\"]";
    let cases = [
        ("[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n", "key_value_store.cache", "\"spin\""),
        ("[key_value_store.cache]\ntype = \"azure_cosmos\"\n", "key_value_store.cache", "azure_cosmos"),
        ("[key_value_store.cache]\ntype = \"redis\"\n", "key_value_store.cache", "url"),
        ("[sqlite_database.default]\ntype = \"spin\"\n", "`sqlite_database`", "not supported"),
    ];
    for (runtime_config, key, named) in cases {
        let stderr = refused_at_start("runtime-config", stores, Some(runtime_config));
        assert!(stderr.contains(key) && stderr.contains(named), "{runtime_config}: {stderr}");
    }
    // Without a runtime config, `default` is not the SQLite file Spin would make.
    let stderr = refused_at_start("default-store", "key_value_stores = [\"default\"]", None);
    assert!(stderr.contains(r#"unknown key_value_stores label "default" for component "a""#), "{stderr}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let wasm = repo().join("target/wasm32-wasip2/release/testing_component.wasm");
    assert!(wasm.exists(), "run scripts/build-components.sh first");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
        .args([
            "up",
            "--from",
            repo().join("tests/fixtures/misbehaving.toml").to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(port, "/allowed/hello").is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "the host did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let slow = std::thread::spawn(move || get(port, "/allowed/slow"));
    std::thread::sleep(Duration::from_millis(150));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());

    let answer = slow.join().unwrap().expect("the request in flight is answered");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("slow done"), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the host did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(get(port, "/allowed/hello").is_err(), "nothing listens any more");
}

#[test]
fn bad_postgres_settings_stop_the_host_at_start() {
    let manifest = repo().join("tests/fixtures/misbehaving.toml");
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (&["--postgres-pool-size", "0"], None, "pool size"),
        (&[], Some("sixteen"), "pool size"),
        (&["--postgres-empty-results", "hang"], None, "--postgres-empty-results"),
    ];
    for (flags, pool_size_env, named) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_host"));
        command.args(["up", "--from", manifest.to_str().unwrap(), "--listen", &format!("127.0.0.1:{}", free_port())]);
        command.args(flags).env_remove("HOST_PG_POOL_SIZE").env_remove("HOST_POSTGRES_EMPTY_RESULTS");
        if let Some(value) = pool_size_env {
            command.env("HOST_PG_POOL_SIZE", value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(named), "{flags:?} {pool_size_env:?}: {stderr}");
    }
}

/// The lines `host up` writes on standard output (a pipe, as when it is
/// logged to a file) until it says it is serving, with `LOG_FORMAT` set to
/// `format` or unset.
fn start_up_log(format: Option<&str>) -> Vec<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host"));
    command
        .args(["up", "--from", repo().join("tests/fixtures/misbehaving.toml").to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("LOG_FORMAT")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(format) = format {
        command.env("LOG_FORMAT", format);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let serving = line.contains("serving on http://");
            lines.push(line);
            if serving {
                break;
            }
        }
        let _ = sender.send(lines);
    });
    let lines = receiver.recv_timeout(Duration::from_secs(60)).expect("the host says it serves");
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

#[test]
fn log_lines_carry_no_colour_codes_off_a_terminal_and_json_is_one_object_a_line() {
    let text = start_up_log(None);
    assert!(text.last().is_some_and(|l| l.contains("serving on http://127.0.0.1:")), "{text:?}");
    assert!(text.iter().all(|l| !l.contains('\u{1b}')), "an escape sequence in {text:?}");

    let json: Vec<serde_json::Value> = start_up_log(Some("json"))
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    let serving = json.last().unwrap();
    assert_eq!(serving["level"], "INFO");
    assert!(serving["message"].as_str().is_some_and(|m| m.starts_with("serving on http://127.0.0.1:")), "{serving}");
    let loaded = json.iter().find(|l| l["message"] == "components loaded").expect("the load line");
    assert_eq!(loaded["components"], 2, "the event's fields beside the message: {loaded}");
}

#[test]
fn a_request_log_line_names_the_callers_trace() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(["up", "--from", repo().join("tests/fixtures/misbehaving.toml").to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> serde_json::Value {
        loop {
            let line = receiver.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no {what} line"));
            let json: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
            let is_it = match what {
                "serving" => json["message"].as_str().is_some_and(|m| m.starts_with("serving on")),
                _ => json["target"] == "host::request",
            };
            if is_it {
                return json;
            }
        }
    };
    next("serving");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /allowed/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let line = next("request");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
    assert!(line["span_id"].is_null(), "no span of ours while spans are not exported: {line}");
}
