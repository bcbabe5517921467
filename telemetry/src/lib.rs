//! # telemetry
//!
//! How the native binaries (the host and the worker) report what they do,
//! set up once at start from their command line (`--log-format`, or
//! `LOG_FORMAT`; for spans, [`TraceArgs`]). One crate, so the two write the
//! same lines. Spans: [`spans`].
//!
//! Logs go to standard output, which is as often a file or a log shipper as
//! a terminal (`scripts/up.sh > up.log`, a container runtime's log driver):
//! - `text` (the default): human-readable lines, coloured only when
//!   standard output is a terminal, so files hold no escape sequences
//!   (`NO_COLOR` turns colours off on a terminal too);
//! - `json`: one JSON object per line (`timestamp`, `level`, `target`, the
//!   event's fields flattened beside `message`, and the current span's
//!   fields under `span`), for collectors that parse lines.
//!
//! `RUST_LOG` filters as usual; each binary gives its default filter.

#[cfg(feature = "collector")]
pub mod collector;
pub mod spans;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

pub use spans::{TraceArgs, Tracing, continue_trace, exporting, traceparent_of};
pub use user_domain::trace_context::{HEADER as TRACEPARENT, TraceParent};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; colours only on a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The logging settings of a binary's command line.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// How log lines are written: `text` (coloured only on a terminal) or
    /// `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Installs the process's log subscriber: `RUST_LOG`, else `default_filter`.
pub fn init_logs(format: LogFormat, default_filter: &str) {
    // Without spans there is nothing that can fail.
    let _ = init(format, default_filter, None);
}

/// [`init_logs`], and spans exported over OTLP when `traces` names a
/// collector (`OTEL_EXPORTER_OTLP_ENDPOINT`). Keep the answer until the
/// process ends: dropping it sends the spans still buffered. An error if
/// the collector's address cannot be used, or if the process has a
/// subscriber already.
pub fn init(format: LogFormat, default_filter: &str, traces: Option<(&TraceArgs, &str)>) -> Result<Tracing, String> {
    // `RUST_LOG` filters the log lines only: spans at INFO and above are
    // exported whatever the log level.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let (tracing, spans) = match traces {
        Some((args, default_service)) => spans::exporter(args, default_service)?,
        None => (Tracing::off(), None),
    };
    let spans = spans.map(|layer| layer.with_filter(LevelFilter::INFO));
    let lines: Box<dyn Layer<_> + Send + Sync> = match format {
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_ansi(colours_wanted(std::io::stdout().is_terminal())).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    tracing_subscriber::registry().with(spans).with(lines.with_filter(filter)).try_init().map_err(|e| e.to_string())?;
    Ok(tracing)
}

/// Colours only on a terminal, and not when `NO_COLOR` is set (no-color.org).
fn colours_wanted(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        logs: LogArgs,
    }

    #[test]
    fn the_format_is_text_unless_json_is_asked_and_anything_else_is_refused() {
        assert_eq!(Cli::try_parse_from(["x"]).unwrap().logs.log_format, LogFormat::Text);
        assert_eq!(Cli::try_parse_from(["x", "--log-format", "json"]).unwrap().logs.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["x", "--log-format", "yaml"]).is_err());
    }

    #[test]
    fn no_colours_off_a_terminal() {
        assert!(!colours_wanted(false));
    }
}
