//! The character-api binary: reads its settings from flags and the environment, sets up
//! logging, and runs the library until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use character_api::Config;
use character_api::config::DEFAULT_LISTEN;
use clap::{Args, Parser, Subcommand};
use service_kit::logging::LogFormat;

/// Characters of the zone cluster over HTTP, stored in sled.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe this service's /readyz (for containers without curl); exit 0 when ready.
    Healthcheck {
        /// The address the service listens on.
        #[arg(long, env = "LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
}

#[derive(Debug, Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, env = "LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    // Required, but `Option` so that `healthcheck` (which needs neither) can be parsed:
    // clap enforces `required` only when no subcommand is given.
    /// Directory of the sled database (created if missing).
    #[arg(long, env = "DATA_DIR", required = true)]
    data_dir: Option<PathBuf>,
    /// Bearer token every /v1 call must carry.
    #[arg(long, env = "SERVICE_TOKEN", hide_env_values = true, required = true)]
    service_token: Option<String>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    log_format: LogFormat,
    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "WORKERS")]
    workers: Option<usize>,
    /// Skip the fdatasync after each group commit: acknowledged writes then survive a
    /// process crash but not necessarily a power cut.
    #[arg(long, env = "NO_FSYNC")]
    no_fsync: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { listen }) = cli.command {
        return match service_kit::healthcheck::probe(listen, Duration::from_secs(3)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("not ready: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let serve = cli.serve;
    service_kit::logging::init(serve.log_format);
    match serve_until_signalled(serve).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_signalled(serve: Serve) -> anyhow::Result<()> {
    let shutdown = service_kit::shutdown::signal()?;
    let listener = std::net::TcpListener::bind(serve.listen)
        .with_context(|| format!("binding {}", serve.listen))?;
    let (Some(data_dir), Some(token)) = (serve.data_dir, serve.service_token) else {
        anyhow::bail!("--data-dir and --service-token are required");
    };
    let mut config = Config::new(data_dir, token);
    config.workers = serve.workers;
    config.fsync = !serve.no_fsync;
    character_api::run(listener, config, shutdown).await
}
