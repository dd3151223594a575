//! The zone-server binary: parse settings, set up logging, serve until SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zone_server::config::{Args, Command, Config, LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Logs go to stderr, coloured only on a terminal (like every service of the cluster).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.config.log_format {
        LogFormat::Plain => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    if let Some(Command::Healthcheck) = args.command {
        return healthcheck(&args.config).await;
    }
    let listener = bind(&args.config)?;
    zone_server::run(listener, args.config, shutdown_signal(), |_| {}).await
}

/// Binds the first free address of `--listen` .. `--listen-port-last` and records the port
/// in `--port-file` when one is given.
fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    if let Some(file) = &config.port_file {
        // A port left by an earlier run of this container must not be probed.
        let _ = std::fs::remove_file(file);
    }
    let candidates = config.listen_candidates()?;
    for addr in &candidates {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                if let Some(file) = &config.port_file {
                    let port = listener.local_addr()?.port();
                    std::fs::write(file, format!("{port}\n"))
                        .with_context(|| format!("cannot write {}", file.display()))?;
                }
                return Ok(listener);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && candidates.len() > 1 => {}
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
        }
    }
    anyhow::bail!(
        "cannot listen on {}: every port from {} to {} is in use",
        config.listen.ip(),
        config.listen.port(),
        candidates
            .last()
            .map_or(config.listen.port(), SocketAddr::port),
    )
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let addr = match &config.port_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("no port in {} yet", file.display()))?;
            let port: u16 = text
                .trim()
                .parse()
                .with_context(|| format!("{} holds no port", file.display()))?;
            SocketAddr::new(config.listen.ip(), port)
        }
        None => config.listen,
    };
    let url = format!("http://{addr}/readyz");
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}
