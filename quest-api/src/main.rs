//! quest-api: parse flags (with environment fallbacks), set up logging, load the catalog,
//! and serve until SIGTERM or SIGINT. See the crate README for the flags.

use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use quest_api::{Catalog, Config};
use tokio::signal::unix::{SignalKind, signal};

/// The quest catalog and per-character quest progress, over HTTP, on sled.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:7102", global = true)]
    listen: SocketAddr,
    /// Directory of the sled database (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "data/quest-api")]
    data_dir: PathBuf,
    /// Bearer token every `/v1` request must carry (required to serve).
    #[arg(long, env = "SERVICE_TOKEN", hide_env_values = true)]
    service_token: Option<String>,
    /// Quest catalog file (TOML); the catalog built into the binary when absent.
    #[arg(long, env = "QUEST_CATALOG")]
    catalog: Option<PathBuf>,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe the running server's `/readyz` (at `--listen`); exit 0 when ready, 1 if not.
    Healthcheck {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Healthcheck { timeout_secs }) = args.command {
        return match quest_api::healthcheck::probe(args.listen, Duration::from_secs(timeout_secs)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("quest-api healthcheck: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    init_tracing(args.log_format);
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(args: Args) -> anyhow::Result<()> {
    let Some(service_token) = args.service_token.filter(|t| !t.trim().is_empty()) else {
        bail!("a service token is required: pass --service-token or set SERVICE_TOKEN");
    };
    let catalog = match &args.catalog {
        Some(path) => Catalog::load(path)?,
        None => Catalog::builtin()?,
    };
    // Handlers are installed before binding, so a signal is never missed.
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    };
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    quest_api::run(
        listener,
        Config::new(args.data_dir, service_token, catalog),
        shutdown,
    )
    .await
}
