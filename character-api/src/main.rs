//! The character-api binary: reads its settings from flags and the environment, sets up
//! logging, and runs the library until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use character_api::config::DEFAULT_LISTEN;
use character_api::{Config, Storage};
use clap::{Args, Parser, Subcommand};
use service_kit::logging::LogFormat;
use service_kit::postgres::DatabaseArgs;

/// Characters of the zone cluster over HTTP, stored in sled or PostgreSQL.
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
    /// Bring the database's schema up to date and exit (the service also does at start).
    Migrate {
        /// The database (`postgres://user:pass@host:5432/db`).
        #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Copy every character from one store to an empty other, then check that both hold
    /// the same count with the same content. Stop the services on both stores first.
    Copy {
        /// Where the characters are: a sled directory, or a `postgres://` URL.
        #[arg(long)]
        from: String,
        /// Where they go (empty): a sled directory (created if missing), or a
        /// `postgres://` URL.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, env = "LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    // Required, but `Option` so that `healthcheck` (which needs neither) can be parsed:
    // clap enforces `required` only when no subcommand is given.
    /// Directory of the sled database (created if missing), when no --database-url is given.
    #[arg(long, env = "DATA_DIR", required_unless_present = "url")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
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
    let result = match cli.command {
        Some(Command::Healthcheck { listen }) => {
            return match service_kit::healthcheck::probe(listen, Duration::from_secs(3)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("not ready: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Migrate { database_url }) => {
            service_kit::logging::init(cli.serve.log_format);
            migrate(&database_url).await
        }
        Some(Command::Copy { from, to }) => {
            service_kit::logging::init(cli.serve.log_format);
            copy(&from, &to).await
        }
        None => {
            service_kit::logging::init(cli.serve.log_format);
            serve_until_signalled(cli.serve).await
        }
    };
    match result {
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
    let Some(token) = serve.service_token else {
        anyhow::bail!("--service-token is required");
    };
    let storage = match (serve.database.options("character-api"), serve.data_dir) {
        (Some(options), _) => Storage::Postgres(options),
        (None, Some(data_dir)) => Storage::Sled {
            data_dir,
            fsync: !serve.no_fsync,
        },
        (None, None) => anyhow::bail!("--data-dir or --database-url is required"),
    };
    let mut config = Config::new(storage, token);
    config.workers = serve.workers;
    character_api::run(listener, config, shutdown).await
}

async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let storage = Storage::parse(database_url, "character-api migrate");
    anyhow::ensure!(
        matches!(storage, Storage::Postgres(_)),
        "--database-url must be a postgres:// URL"
    );
    let store = character_api::store::open(&storage).await?;
    store.close().await?;
    tracing::info!("the database's schema is up to date");
    Ok(())
}

async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (
        Storage::parse(from, "character-api copy"),
        Storage::parse(to, "character-api copy"),
    );
    if let Storage::Sled { data_dir, .. } = &from {
        anyhow::ensure!(
            data_dir.is_dir(),
            "--from {}: no such directory",
            data_dir.display()
        );
    }
    let source = character_api::store::open(&from)
        .await
        .with_context(|| format!("opening the source, {from}"))?;
    let destination = character_api::store::open(&to)
        .await
        .with_context(|| format!("opening the destination, {to}"))?;
    let copied = character_api::copy::copy(source.as_ref(), destination.as_ref()).await;
    destination.close().await?;
    source.close().await?;
    let copied = copied.with_context(|| format!("copying from {from} to {to}"))?;
    tracing::info!(
        characters = copied.characters,
        "copied from {from} to {to}; counts and contents match"
    );
    Ok(())
}
