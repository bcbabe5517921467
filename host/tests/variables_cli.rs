//! `host variables` and `host up --variable` as an operator runs them: the
//! file `spin up --variable @file.toml` reads, with every variable of the
//! manifest resolved and readable by its owner only, and the values it
//! gives beating the environment when the host serves with it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("host-variables-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `host` with no `SPIN_VARIABLE_*` from the test's own environment, run
/// where no `.env` lies.
fn host(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("SPIN_VARIABLE_") {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn host_variables_writes_every_variable_for_spin_up() {
    let dir = scratch("write");
    let out = dir.join("state/variables.toml");
    let manifest = repo().join("spin.toml");
    let output = host(&dir)
        .args(["variables", "--from", manifest.to_str().unwrap(), "--variable", "jwt_issuer=given"])
        .arg("--out")
        .arg(&out)
        .env("SPIN_VARIABLE_JWT_SECRET", "a-secret-from-the-environment-32-bytes!")
        .env("SPIN_VARIABLE_CACHE_READS", "redis")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600, "it holds the secrets");

    let declared: toml::Table = toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let declared = declared["variables"].as_table().unwrap();
    let written: toml::Table = toml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let names = |t: &toml::Table| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&written), names(declared), "every variable, none more");
    let value = |name: &str| written[name].as_str().unwrap().to_owned();
    assert_eq!(value("jwt_secret"), "a-secret-from-the-environment-32-bytes!");
    assert_eq!((value("cache_reads"), value("jwt_issuer")), ("redis".into(), "given".into()));
    assert_eq!(value("rate_limit_login_per_minute"), "30", "defaults are written too");

    // A file left readable by others is narrowed when written again.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = host(&dir)
        .args(["variables", "--from", manifest.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("SPIN_VARIABLE_JWT_SECRET", "a-secret-from-the-environment-32-bytes!")
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn host_variables_refuses_a_required_variable_without_a_value() {
    let dir = scratch("required");
    let out = dir.join("variables.toml");
    let output = host(&dir)
        .args(["variables", "--from", repo().join("spin.toml").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("jwt_secret"), "{stderr}");
    assert!(!out.exists(), "no file with a value missing");
}

fn get_variable(port: u16, name: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /allowed/variable HTTP/1.1\r\nHost: localhost\r\nx-variable: {name}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn host_up_takes_variables_from_a_file_before_the_environment() {
    let dir = scratch("up");
    let file = dir.join("variables.toml");
    std::fs::write(&file, "greeting = \"from the file\"\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let manifest = repo().join("tests/fixtures/misbehaving.toml");
    let mut child = host(&dir)
        .args(["up", "--from", manifest.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .arg(format!("--variable=@{}", file.display()))
        .env("SPIN_VARIABLE_GREETING", "from the environment")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let answer = loop {
        if let Ok(answer) = get_variable(port, "greeting") {
            break answer;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the host did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\r\nfrom the file\r\n"), "{answer}");

    // Spin's own words for an argument of neither form.
    let output =
        host(&dir).args(["up", "--from", manifest.to_str().unwrap(), "--variable", "no_equals"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("variables must be in the form 'key=value' or '@file'"),
        "{stderr}"
    );
}
