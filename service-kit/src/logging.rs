//! Logs: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as plain lines for
//! people or one JSON object per line for collectors. Colour only on a terminal, so a
//! container's log never holds escape codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines look. A clap value (`--log-format plain|json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// Installs the process's subscriber. Call once, first thing in `main`: a second call
/// panics, as two subscribers would each think they own the output.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
