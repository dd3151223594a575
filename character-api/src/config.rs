//! The service's settings, independent of where they come from (the binary fills them from
//! flags and environment; tests and the benchmark build them directly).

use std::path::PathBuf;
use std::time::Duration;

use service_kit::postgres::DatabaseOptions;

/// The default listen address, fixed by the design (`DESIGN.md`, "Processes").
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7101";

/// The largest JSON body accepted. A full character is about 2 KiB; 64 KiB leaves room for
/// growth while bounding what one request can make the service buffer.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Where the characters are kept (see [`crate::store`]).
#[derive(Debug, Clone)]
pub enum Storage {
    /// sled in a directory: the embedded default.
    Sled {
        /// Where sled keeps its files. Created if missing; one process at a time (sled
        /// locks it).
        data_dir: PathBuf,
        /// Also `fdatasync` sled's log file in each group commit (see
        /// [`service_kit::commit`]). On by default: without it an acknowledged write
        /// survives a process crash but not necessarily a power cut.
        fsync: bool,
    },
    /// A PostgreSQL (or CockroachDB) database, which any number of processes may share.
    Postgres(DatabaseOptions),
}

impl Storage {
    /// sled in `data_dir`, with `fdatasync` on.
    pub fn sled(data_dir: impl Into<PathBuf>) -> Self {
        Self::Sled {
            data_dir: data_dir.into(),
            fsync: true,
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
            Self::Sled { data_dir, .. } => write!(f, "sled in {}", data_dir.display()),
            Self::Postgres(_) => f.write_str("PostgreSQL"),
        }
    }
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the characters are kept.
    pub storage: Storage,
    /// The bearer token every `/v1` call must carry. Callers are zones and the manager,
    /// never players, so one shared secret is enough.
    pub service_token: String,
    /// HTTP worker threads; `None` for one per CPU (actix-web's default).
    pub workers: Option<usize>,
    /// How long a graceful shutdown waits for in-flight requests before dropping them.
    pub shutdown_timeout: Duration,
}

impl Config {
    /// Settings for `storage` and `service_token`, everything else at its default.
    pub fn new(storage: Storage, service_token: impl Into<String>) -> Self {
        Self {
            storage,
            service_token: service_token.into(),
            workers: None,
            shutdown_timeout: Duration::from_secs(10),
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
        let config = |token| Config::new(Storage::sled("/tmp/x"), token);
        assert!(config("s3cret").validate().is_ok());
        assert!(config("").validate().is_err());
        assert!(config("with space").validate().is_err());
    }

    #[test]
    fn locations_are_directories_or_database_urls() {
        assert!(matches!(
            Storage::parse("/var/lib/chars", "t"),
            Storage::Sled { fsync: true, .. }
        ));
        let db = Storage::parse("postgres://u:secret@h/db", "t");
        assert!(matches!(db, Storage::Postgres(_)));
        assert!(!db.to_string().contains("secret"));
    }
}
