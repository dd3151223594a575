//! quest-api: parse flags (with environment fallbacks), set up logging, load the catalog,
//! and serve until SIGTERM or SIGINT. See the crate README for the flags.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use quest_api::{Catalog, Config};
use service_kit::logging::LogFormat;

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe the running server's `/readyz` (at `--listen`); exit 0 when ready, 1 if not.
    Healthcheck {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Healthcheck { timeout_secs }) = args.command {
        return match service_kit::healthcheck::probe(args.listen, Duration::from_secs(timeout_secs))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("quest-api healthcheck: {e}");
                ExitCode::FAILURE
            }
        };
    }
    service_kit::logging::init(args.log_format);
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
    let shutdown = service_kit::shutdown::signal()?;
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    quest_api::run(
        listener,
        Config::new(args.data_dir, service_token, catalog),
        shutdown,
    )
    .await
}
