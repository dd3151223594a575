//! The server-manager binary: reads its settings from flags and the environment, sets up
//! logging, and runs the library until SIGTERM or SIGINT. Also `token` (mint a development
//! join token) and `healthcheck` (probe /readyz).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use server_manager::config::{Cli, Command, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Token { account, ttl }) => token(&cli.settings, account, ttl),
        Some(Command::Healthcheck) => {
            service_kit::healthcheck::probe(cli.settings.listen, Duration::from_secs(3))
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
    service_kit::logging::init(settings.log_format);
    let listen = settings.listen;
    let config = settings.into_config()?;
    let shutdown = service_kit::shutdown::signal()?;
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    server_manager::run(listener, config, shutdown).await?;
    Ok(())
}
