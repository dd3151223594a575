//! The zone-server binary: parse settings, set up logging, serve until SIGTERM/SIGINT.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zone_server::config::{Args, Command, LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match args.config.log_format {
        LogFormat::Plain => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    if let Some(Command::Healthcheck) = args.command {
        return healthcheck(&args.config).await;
    }
    let listener = TcpListener::bind(args.config.listen)
        .with_context(|| format!("cannot listen on {}", args.config.listen))?;
    zone_server::run(listener, args.config, shutdown_signal(), |_| {}).await
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

async fn healthcheck(config: &zone_server::config::Config) -> anyhow::Result<()> {
    let url = format!("http://{}/readyz", config.listen);
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
