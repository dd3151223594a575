//! What a quest-api server needs to start: where its data lives, the service token and
//! the catalog (already loaded and validated, so a bad catalog stops start-up before the
//! port is bound).

use std::path::PathBuf;
use std::time::Duration;

use crate::catalog::Catalog;

/// Settings for [`crate::run`].
#[derive(Debug, Clone)]
pub struct Config {
    /// sled's directory; created if missing. One process at a time (sled locks it).
    pub data_dir: PathBuf,
    /// The bearer token every `/v1` request must carry.
    pub service_token: String,
    /// The quest catalog.
    pub catalog: Catalog,
    /// HTTP worker threads; `None` for one per CPU.
    pub workers: Option<usize>,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

impl Config {
    /// Settings with the default worker count and a 30 s shutdown timeout.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        service_token: impl Into<String>,
        catalog: Catalog,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            service_token: service_token.into(),
            catalog,
            workers: None,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
