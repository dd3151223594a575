//! quest-api: parse flags (with environment fallbacks), set up logging, load the catalog,
//! and serve until SIGTERM or SIGINT. See the crate README for the flags.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use quest_api::{Catalog, Config, Storage};
use service_kit::logging::LogFormat;
use service_kit::postgres::DatabaseArgs;

/// The quest catalog and per-character quest progress, over HTTP, on sled or PostgreSQL.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:7102", global = true)]
    listen: SocketAddr,
    /// Directory of the sled database (created if missing), when no --database-url is given.
    #[arg(long, env = "DATA_DIR", default_value = "data/quest-api")]
    data_dir: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
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
    /// Bring the database's schema (--database-url) up to date and exit (the service also
    /// does at start).
    Migrate,
    /// Copy all quest progress (records and event outcomes) from one store to an empty
    /// other, then check that both hold the same counts with the same content. Stop the
    /// services on both stores first.
    Copy {
        /// Where the progress is: a sled directory, or a `postgres://` URL.
        #[arg(long)]
        from: String,
        /// Where it goes (empty): a sled directory (created if missing), or a
        /// `postgres://` URL.
        #[arg(long)]
        to: String,
    },
}

fn main() -> ExitCode {
    let mut args = Args::parse();
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
    let result = match args.command.take() {
        Some(Command::Migrate) => migrate(&args),
        Some(Command::Copy { from, to }) => copy(&from, &to),
        _ => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(args: Args) -> anyhow::Result<()> {
    let Some(service_token) = args.service_token.clone().filter(|t| !t.trim().is_empty()) else {
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
        Config::new(storage(&args), service_token, catalog),
        shutdown,
    )
    .await
}

/// The database when a URL is given, else sled in the data dir.
fn storage(args: &Args) -> Storage {
    match args.database.options("quest-api") {
        Some(options) => Storage::Postgres(options),
        None => Storage::sled(&args.data_dir),
    }
}

#[tokio::main]
async fn migrate(args: &Args) -> anyhow::Result<()> {
    let storage = storage(args);
    anyhow::ensure!(
        matches!(storage, Storage::Postgres(_)),
        "migrate needs --database-url (a postgres:// URL)"
    );
    let store = quest_api::store::open(&storage).await?;
    store.close().await?;
    tracing::info!("the database's schema is up to date");
    Ok(())
}

#[tokio::main]
async fn copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (
        Storage::parse(from, "quest-api copy"),
        Storage::parse(to, "quest-api copy"),
    );
    if let Storage::Sled { data_dir } = &from {
        anyhow::ensure!(
            data_dir.is_dir(),
            "--from {}: no such directory",
            data_dir.display()
        );
    }
    let source = quest_api::store::open(&from)
        .await
        .with_context(|| format!("opening the source, {from}"))?;
    let destination = quest_api::store::open(&to)
        .await
        .with_context(|| format!("opening the destination, {to}"))?;
    let copied = quest_api::copy::copy(source.as_ref(), destination.as_ref()).await;
    destination.close().await?;
    source.close().await?;
    let copied = copied.with_context(|| format!("copying from {from} to {to}"))?;
    tracing::info!(
        records = copied.records,
        events = copied.events,
        "copied from {from} to {to}; counts and contents match"
    );
    Ok(())
}
