//! What a quest-api server needs to start: where its data lives, the service token and
//! the catalog (already loaded and validated, so a bad catalog stops start-up before the
//! port is bound).

use std::path::PathBuf;
use std::time::Duration;

use service_kit::postgres::DatabaseOptions;

use crate::catalog::Catalog;

/// Where quest progress is kept (see [`crate::store`]).
#[derive(Debug, Clone)]
pub enum Storage {
    /// sled in a directory (created if missing; one process at a time, sled locks it): the
    /// embedded default.
    Sled {
        /// The directory.
        data_dir: PathBuf,
    },
    /// A PostgreSQL (or CockroachDB) database, which any number of processes may share.
    Postgres(DatabaseOptions),
}

impl Storage {
    /// sled in `data_dir`.
    pub fn sled(data_dir: impl Into<PathBuf>) -> Self {
        Self::Sled {
            data_dir: data_dir.into(),
        }
    }

    /// A sled directory, or a database when `location` is a `postgres://` URL (the copy
    /// subcommand's `--from` and `--to`).
    pub fn parse(location: &str, application: &str) -> Self {
        if service_kit::postgres::is_database_url(location) {
            Self::Postgres(DatabaseOptions::new(location, application))
        } else {
            Self::sled(location)
        }
    }
}

impl std::fmt::Display for Storage {
    /// For logs: the directory, or only that it is a database (its URL may hold a
    /// password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sled { data_dir } => write!(f, "sled in {}", data_dir.display()),
            Self::Postgres(_) => f.write_str("PostgreSQL"),
        }
    }
}

/// Settings for [`crate::run`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Where progress is kept.
    pub storage: Storage,
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
    pub fn new(storage: Storage, service_token: impl Into<String>, catalog: Catalog) -> Self {
        Self {
            storage,
            service_token: service_token.into(),
            catalog,
            workers: None,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
