//! The server-manager binary: reads its settings from flags and the environment, sets up
//! logging, and runs the library until SIGTERM or SIGINT. Also `token` (mint a development
//! join token), `healthcheck` (probe /readyz) and `nats-security` (make a deployment's NATS
//! credentials and server config).

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
        Some(Command::NatsSecurity {
            out,
            zones,
            rotate,
            retire,
        }) => nats_security(&cli.settings, out, zones, rotate, retire),
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

fn nats_security(
    settings: &Settings,
    dir: std::path::PathBuf,
    zones: usize,
    rotate: Vec<String>,
    retire: Vec<String>,
) -> anyhow::Result<()> {
    use service_kit::nats::security::{self, SecurityOptions};
    let subjects = protocol::cluster::Subjects::new(&settings.nats_prefix)?;
    let bundle = security::make(&SecurityOptions {
        dir,
        zones,
        subjects,
        rotate,
        retire,
    })?;
    let mut out = std::io::stdout();
    writeln!(out, "NATS security in {}:", bundle.dir.display())?;
    writeln!(out, "  server config: {}", bundle.config().display())?;
    for m in &bundle.members {
        let note = if m.retiring { " (retiring)" } else { "" };
        writeln!(out, "  {:<10} {}{note}", m.name, m.identity)?;
    }
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
