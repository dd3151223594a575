//! The service's settings, independent of where they come from (the binary fills them from
//! flags and environment; tests and the benchmark build them directly).

use std::path::PathBuf;
use std::time::Duration;

/// The default listen address, fixed by the design (`DESIGN.md`, "Processes").
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7101";

/// The largest JSON body accepted. A full character is about 2 KiB; 64 KiB leaves room for
/// growth while bounding what one request can make the service buffer.
pub const JSON_LIMIT: usize = 64 * 1024;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where sled keeps its files. Created if missing; one process at a time (sled locks it).
    pub data_dir: PathBuf,
    /// The bearer token every `/v1` call must carry. Callers are zones and the manager,
    /// never players, so one shared secret is enough.
    pub service_token: String,
    /// HTTP worker threads; `None` for one per CPU (actix-web's default).
    pub workers: Option<usize>,
    /// How long a graceful shutdown waits for in-flight requests before dropping them.
    pub shutdown_timeout: Duration,
    /// Also `fdatasync` sled's log file in each group commit (see `store::commit`). On by
    /// default: without it an acknowledged write survives a process crash but not
    /// necessarily a power cut.
    pub fsync: bool,
}

impl Config {
    /// Settings for `data_dir` and `service_token`, everything else at its default.
    pub fn new(data_dir: impl Into<PathBuf>, service_token: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            service_token: service_token.into(),
            workers: None,
            shutdown_timeout: Duration::from_secs(10),
            fsync: true,
        }
    }

    /// Checks the settings that could make the service unusable or unsafe.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.service_token.trim().is_empty(),
            "the service token must not be empty (set --service-token or SERVICE_TOKEN)"
        );
        anyhow::ensure!(
            self.service_token.bytes().all(|b| b.is_ascii_graphic()),
            "the service token must be printable ASCII without spaces, as it goes in a header"
        );
        anyhow::ensure!(self.workers != Some(0), "workers must be at least 1");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unusable_tokens() {
        assert!(Config::new("/tmp/x", "s3cret").validate().is_ok());
        assert!(Config::new("/tmp/x", "").validate().is_err());
        assert!(Config::new("/tmp/x", "with space").validate().is_err());
    }
}
