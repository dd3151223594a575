//! The zone-server binary: parse settings, set up logging, serve until SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zone_server::config::{Args, Command, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Healthcheck) = args.command {
        return healthcheck(&args.config);
    }
    service_kit::logging::init(args.config.log_format);
    let shutdown = service_kit::shutdown::signal()?;
    let listener = bind(&args.config)?;
    zone_server::run(listener, args.config, shutdown, |_| {}).await
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

/// Probes `/readyz` on the port this server bound (from `--port-file` when given).
fn healthcheck(config: &Config) -> anyhow::Result<()> {
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
    service_kit::healthcheck::probe(addr, Duration::from_secs(3))?;
    Ok(())
}
