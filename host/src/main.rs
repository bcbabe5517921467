//! `host`: run a Spin application the way `spin up` does, or build its
//! components the way `spin build` does. Everything lives in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use host::Application;
use host::config::UpFlags;
use host::manifest::App;

#[derive(Parser)]
#[command(name = "host", about = "Runs a Spin application (spin.toml) on wasmtime, as `spin up` would")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    logs: telemetry::LogArgs,
    #[command(flatten)]
    traces: telemetry::TraceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application.
    Up(UpFlags),
    /// Write every application variable's value, resolved as `up` resolves
    /// it (`--variable`, `SPIN_VARIABLE_*`, `./.env`, the default), to a
    /// TOML file for `spin up --variable @FILE`: Spin reads such values
    /// without its environment provider's cost on every read (README,
    /// "Variables under spin up"). The file holds secrets: it is written
    /// readable by its owner only.
    Variables {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        #[arg(long = "variable", value_name = "KEY=VALUE | KEY=@FILE | @FILE.json | @FILE.toml")]
        variables: Vec<host::variable_sources::VariableSource>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run each component's `[component.x.build] command`, like `spin build`.
    Build {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        /// Only these components (default: all).
        #[arg(short = 'c', long = "component-id")]
        components: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Kept to the end of `main`: dropping it sends the spans still buffered.
    let _tracing =
        telemetry::init(cli.logs.log_format, "info,wasmtime=warn,cranelift=warn", Some((&cli.traces, "user-service")))
            .map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Up(flags) => {
            let app = Application::build(flags.into_config()).await?;
            tracing::info!("serving on http://{}", app.local_addr());
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Variables { manifest, variables, out } => write_variables(&manifest, variables, &out),
        Command::Build { manifest, components } => build(&manifest, &components),
    }
}

fn write_variables(
    manifest: &std::path::Path,
    given: Vec<host::variable_sources::VariableSource>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let app = App::from_file(manifest)?;
    let environment = host::variables::Environment::from_process().with_given(given);
    let values = host::variables::AppVariables::resolve(&app.variables, &environment)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    // `mode` applies only to a new file; an existing one is narrowed too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(values.to_toml().as_bytes())?;
    println!("{} variables written to {}", app.variables.len(), out.display());
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn build(manifest: &std::path::Path, only: &[String]) -> anyhow::Result<()> {
    let app = App::from_file(manifest)?;
    for (id, component) in &app.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &component.build else {
            println!("{id}: no build command");
            continue;
        };
        let workdir = app.root.join(build.workdir.as_deref().unwrap_or("."));
        println!("Building component {id} with `{}`", build.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run the build command of {id}"))?;
        anyhow::ensure!(status.success(), "building {id} failed ({status})");
    }
    println!("Finished building all Spin components");
    Ok(())
}
