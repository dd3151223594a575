//! The shutdown signal every binary waits for: the first SIGTERM (what container runtimes
//! send) or SIGINT (Ctrl-C).

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal as unix_signal};

/// A signal handler could not be installed. A service that went on without one would
/// ignore `docker stop` and be killed mid-write after the grace period, so this is fatal.
#[derive(Debug, thiserror::Error)]
#[error("installing the {signal} handler: {source}")]
pub struct SignalError {
    /// `SIGTERM` or `SIGINT`.
    pub signal: &'static str,
    /// Why the handler could not be installed.
    pub source: std::io::Error,
}

/// Completes on the first SIGTERM or SIGINT. Both handlers are installed before this
/// returns (call it before binding, so no signal during start-up is lost). Needs a tokio
/// runtime.
pub fn signal() -> Result<impl Future<Output = ()> + Send + 'static, SignalError> {
    let install = |kind: SignalKind, signal: &'static str| {
        unix_signal(kind).map_err(|source| SignalError { signal, source })
    };
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
