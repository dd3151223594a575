//! The server-manager binary: reads its settings from flags and the environment, sets up
//! logging, and runs the library until SIGTERM or SIGINT. Also `token` (mint a development
//! join token) and `healthcheck` (probe /readyz).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use server_manager::config::{Cli, Command, LogFormat, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Token { account, ttl }) => token(&cli.settings, account, ttl),
        Some(Command::Healthcheck) => {
            server_manager::healthcheck(cli.settings.listen, Duration::from_secs(3))
                .await
                .context("not ready")
        }
        None => serve(cli.settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up (subcommands), so stderr directly.
            let _ = writeln!(std::io::stderr(), "server-manager: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn token(settings: &Settings, account: protocol::AccountId, ttl: Duration) -> anyhow::Result<()> {
    let secret = settings
        .jwt_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .context("--jwt-secret (or JWT_SECRET) is needed to sign the token")?;
    let token = server_manager::auth::mint(secret.as_bytes(), account, ttl)?;
    writeln!(std::io::stdout(), "{token}")?;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing(settings.log_format);
    let listen = settings.listen;
    let config = settings.into_config()?;
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    server_manager::run(listener, config, shutdown_signal()?).await?;
    Ok(())
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
