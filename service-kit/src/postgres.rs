//! PostgreSQL for both APIs' second storage backend (`--database-url`/`DATABASE_URL`): the
//! flags, a bounded connection pool with timeouts, what a database error means to a caller,
//! and versioned schema migrations. The tables and queries are each API's own.
//!
//! ## Why a write answered after `COMMIT` is durable
//!
//! Every connection runs with `synchronous_commit` at least `on`: PostgreSQL then flushes
//! the commit record of the transaction to its write-ahead log (`fsync`) before `COMMIT`
//! returns, and concurrent commits share one flush (the WAL writer's group commit), as the
//! sled backend's group committer does. A session whose server default is `off` is switched
//! to `on` when the pool makes the connection; a stronger setting (`remote_write`,
//! `remote_apply`) is kept. A commit also becomes visible to other sessions only after that
//! flush, so a read never answers with something a crash could take back.
//!
//! ## Failure
//!
//! The pool holds at most `pool_size` connections; getting one, making one and every
//! operation on one are bounded by `timeout`. A database that is down, restarting or too
//! slow makes an operation fail with [`DbError::Unavailable`] (the APIs answer 503 with
//! `Retry-After`) instead of hanging; closed connections are dropped when the pool hands
//! them out again, and new ones are made once the database answers, so service resumes
//! by itself.
//!
//! ## Migrations
//!
//! Each API ships its schema as numbered SQL files ([`Migration`]) and applies the missing
//! ones at start-up, each in one transaction with its row in the API's own migrations table,
//! so applying is idempotent, and two processes starting at once apply each once (the second
//! waits on the first's row, then sees it applied). The SQL stays within what CockroachDB
//! (PostgreSQL's wire protocol, serializable transactions) also accepts.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use deadpool_postgres::Object as Connection;
pub use tokio_postgres::Row;

/// The database settings both APIs take (flattened into their clap args).
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL (or CockroachDB) connection URL, `postgres://user:pass@host:5432/db`:
    /// store the data there instead of in sled under --data-dir.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Most connections this process holds to the database.
    #[arg(
        long = "database-pool-size",
        env = "DATABASE_POOL_SIZE",
        default_value_t = 16
    )]
    pub pool_size: usize,
    /// Longest wait, in milliseconds, for a connection or for one database operation;
    /// past it the request answers 503.
    #[arg(
        long = "database-timeout-ms",
        env = "DATABASE_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub timeout_ms: u64,
}

impl DatabaseArgs {
    /// The options, if a URL was given. An empty one counts as none, so that a deployment
    /// can pass `DATABASE_URL` through with an empty default (compose.yaml does).
    pub fn options(&self, application: &str) -> Option<DatabaseOptions> {
        let url = self.url.as_ref().filter(|url| !url.trim().is_empty());
        url.map(|url| DatabaseOptions {
            url: url.clone(),
            application: application.to_owned(),
            pool_size: self.pool_size,
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

/// How to reach the database.
#[derive(Clone)]
pub struct DatabaseOptions {
    /// `postgres://...` (or a libpq key/value string).
    pub url: String,
    /// The `application_name` the connections show in `pg_stat_activity`.
    pub application: String,
    /// Most connections in the pool.
    pub pool_size: usize,
    /// Bound on getting a connection and on each operation.
    pub timeout: Duration,
}

impl DatabaseOptions {
    /// `url` for `application`, with a pool of 16 and a 5 s timeout.
    pub fn new(url: impl Into<String>, application: &str) -> Self {
        Self {
            url: url.into(),
            application: application.to_owned(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for DatabaseOptions {
    /// Never prints the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseOptions")
            .field("application", &self.application)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether `location` names a database rather than a directory (the copy subcommands take
/// either).
pub fn is_database_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// What a failed database operation means to its caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The database is unreachable, shutting down, or did not answer in time; a write may or
    /// may not have been applied. Try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint (named) refused the write.
    #[error("unique constraint {0} refused the write")]
    Unique(String),
    /// The transaction lost a race the database detected (serialization failure, deadlock)
    /// and changed nothing: running it again may succeed.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug, or a schema this binary does not expect.
    #[error("database error: {0}")]
    Failed(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No answer from the server: the connection broke, closed, or never opened.
            return Self::Unavailable(e.to_string());
        };
        let code = db.code();
        let class = &code.code()[..2];
        if *code == SqlState::UNIQUE_VIOLATION {
            Self::Unique(db.constraint().unwrap_or("?").to_owned())
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            Self::Conflict(db.message().to_owned())
        } else if matches!(class, "08" | "53" | "57" | "58") {
            // Connection exceptions, insufficient resources, operator intervention (admin or
            // crash shutdown, cannot connect now, query cancelled by statement_timeout),
            // system errors.
            Self::Unavailable(db.message().to_owned())
        } else {
            Self::Failed(format!("{} ({})", db.message(), code.code()))
        }
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    timeout: Duration,
}

impl Database {
    /// A pool for `options`. Connects lazily: nothing is reached until the first use.
    pub fn open(options: &DatabaseOptions) -> Result<Self, DbError> {
        let mut config = tokio_postgres::Config::from_str(&options.url)
            .map_err(|e| DbError::Failed(format!("bad database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name(&options.application);
        }
        // Notice a peer that vanished without closing (a host down, a partition) on idle
        // connections too.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection handed out again is checked for being closed, not queried:
                // a broken one fails its operation once (503) and is dropped.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .runtime(Runtime::Tokio1)
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    durable_commits(client)
                        .await
                        .map_err(|e| HookError::message(e.to_string()))
                })
            }))
            .build()
            .map_err(|e| DbError::Failed(format!("building the connection pool: {e}")))?;
        Ok(Self {
            pool,
            timeout: options.timeout,
        })
    }

    /// A connection from the pool (waiting at most the timeout for one).
    pub async fn connection(&self) -> Result<Connection, DbError> {
        Ok(self.pool.get().await?)
    }

    /// `work`, bounded by the timeout.
    pub async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(DbError::Unavailable(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )))
            })
    }

    /// Whether the database answers a query now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.bounded(async {
            self.connection().await?.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    /// Applies the `migrations` the database lacks, in order, recording each in `table`.
    /// Returns how many were applied. Fails if the database records a migration under a
    /// number this binary ships with another name (the schemas have diverged).
    pub async fn migrate(&self, table: &str, migrations: &[Migration]) -> Result<usize, DbError> {
        // Two processes creating the table at once: one may see the other's half-made
        // catalog entry (a unique violation); the second try finds the table.
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (\
                version BIGINT PRIMARY KEY, \
                name TEXT NOT NULL, \
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        );
        let mut tries = 0;
        loop {
            let created = self
                .bounded(async { Ok(self.connection().await?.batch_execute(&create).await?) })
                .await;
            match created {
                Err(DbError::Unique(_)) if tries < 3 => tries += 1,
                other => break other?,
            }
        }
        let mut applied = 0;
        for migration in migrations {
            if self.bounded(self.apply(table, migration)).await? {
                tracing::info!(
                    version = migration.version,
                    name = migration.name,
                    "applied a schema migration"
                );
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Applies one migration unless recorded; whether it did.
    async fn apply(&self, table: &str, migration: &Migration) -> Result<bool, DbError> {
        let mut connection = self.connection().await?;
        let recorded = connection
            .query_opt(
                &format!("SELECT name FROM {table} WHERE version = $1"),
                &[&migration.version],
            )
            .await?;
        if let Some(row) = recorded {
            let name: String = row.get(0);
            return if name == migration.name {
                Ok(false)
            } else {
                Err(DbError::Failed(format!(
                    "migration {} is `{name}` in the database but `{}` in this binary",
                    migration.version, migration.name
                )))
            };
        }
        let tx = connection.transaction().await?;
        // A process applying the same migration holds this row until it commits; then this
        // insert fails and the migration is known applied.
        match tx
            .execute(
                &format!("INSERT INTO {table} (version, name) VALUES ($1, $2)"),
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(DbError::from)
        {
            Err(DbError::Unique(_)) => return Ok(false),
            other => other?,
        };
        tx.batch_execute(migration.sql).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Closes the pool: idle connections are dropped, later requests fail.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// One versioned schema change, shipped in the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in increasing order, once.
    pub version: i64,
    /// A short name, recorded with the number.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Makes sure a new connection's commits wait for the WAL flush (see the module docs).
async fn durable_commits(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    let rows = match client.simple_query("SHOW synchronous_commit").await {
        Ok(rows) => rows,
        // A server without the setting (CockroachDB, whose commits are always replicated
        // to a quorum's disks before they return): nothing to raise.
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let off = rows.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("off"),
        _ => false,
    });
    if off {
        client.batch_execute("SET synchronous_commit TO on").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_databases_and_paths_name_directories() {
        assert!(is_database_url("postgres://u@h/db"));
        assert!(is_database_url("postgresql://h/db"));
        assert!(!is_database_url("/var/lib/characters"));
        assert!(!is_database_url("data/postgres"));
    }

    #[test]
    fn an_empty_url_means_no_database() {
        let args = |url: Option<&str>| DatabaseArgs {
            url: url.map(str::to_owned),
            pool_size: 4,
            timeout_ms: 100,
        };
        assert!(args(None).options("t").is_none());
        assert!(args(Some("")).options("t").is_none());
        assert!(args(Some("  ")).options("t").is_none());
        let options = args(Some("postgres://h/db")).options("t").unwrap();
        assert_eq!(
            (options.pool_size, options.timeout),
            (4, Duration::from_millis(100))
        );
    }

    #[test]
    fn options_never_print_the_url() {
        let o = DatabaseOptions::new("postgres://u:hunter2@h/db", "test");
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable_within_the_timeout() {
        // A port nothing listens on: refused at once; every operation fails cleanly.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut options = DatabaseOptions::new(format!("postgres://u@127.0.0.1:{port}/db"), "t");
        options.timeout = Duration::from_millis(500);
        let db = Database::open(&options).unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(db.ping().await, Err(DbError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
