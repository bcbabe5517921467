//! Log lines fit for files: without a terminal the worker writes no colour
//! codes, and `LOG_FORMAT=json` makes every line one JSON object.

use std::process::Command;

/// Runs `native-worker migrate` on a fresh database, `LOG_FORMAT` set to
/// `format` (or unset), standard output a pipe; returns what it printed.
fn migrate_output(format: Option<&str>) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let url =
        native_worker::bench::with_database(native_worker::migrate::DEFAULT_DATABASE_URL, &format!("worker_logs_{id}"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_native-worker"));
    command.args(["migrate", "--database-url", &url]).env_remove("LOG_FORMAT").env_remove("NO_COLOR");
    command.env("RUST_LOG", "info");
    if let Some(format) = format {
        command.env("LOG_FORMAT", format);
    }
    let output = command.output().expect("the worker runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 logs")
}

#[test]
fn text_logs_carry_no_colour_codes_off_a_terminal() {
    let out = migrate_output(None);
    assert!(out.contains("migrations applied"), "{out}");
    assert!(!out.contains('\u{1b}'), "an escape sequence in {out:?}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_events_fields() {
    let out = migrate_output(Some("json"));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    let applied = lines.iter().find(|l| l["message"] == "migrations applied").expect("the migrate line");
    assert_eq!(applied["level"], "INFO");
    assert!(applied["count"].as_u64().is_some_and(|n| n >= 1), "the event's fields beside the message: {applied}");
    assert!(applied["timestamp"].is_string());
    assert!(!out.contains('\u{1b}'));
}

#[test]
fn an_unknown_log_format_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_native-worker"))
        .args(["migrate"])
        .env("LOG_FORMAT", "yaml")
        .output()
        .expect("the worker runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("yaml") && stderr.contains("--log-format"), "{stderr}");
}
