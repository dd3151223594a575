//! A real PostgreSQL for tests and benchmarks, from Debian's package (`scripts/test`
//! installs it): `initdb` into a temp dir of its own, the server on a free loopback port,
//! stopped and deleted when dropped. No mocks: the APIs' PostgreSQL backend is tested
//! against the database it will run on.
//!
//! PostgreSQL refuses to run as root, and tests run as root here and in CI: then `initdb`
//! and the server run as the `postgres` system user (which the package creates) through
//! `setpriv`, which `exec`s, so the process this module starts and signals is the server
//! itself. As any other user they run as that user.
//!
//! The server runs with PostgreSQL's durable defaults (`fsync` and `synchronous_commit`
//! on); only `initdb`'s own writes skip the sync (`--no-sync`), to start in about a second.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

use crate::ports::free_addr;
use crate::process::{ManagedProcess, ProcessSpec};

/// How many free ports to try: another process can take one between finding and binding.
const ATTEMPTS: usize = 5;

/// How long the server may take to accept queries after it listens (crash recovery
/// included).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The system user the server runs as when the tests run as root.
const SYSTEM_USER: &str = "postgres";

/// The directory of PostgreSQL's server programs: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (where Debian puts them, off `PATH`), else the
/// directory of `initdb` on `PATH`.
pub fn postgres_bin_dir() -> std::io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max();
    if let Some((_, bin)) = newest {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        })
        .ok_or_else(|| {
            std::io::Error::other(
                "PostgreSQL's server programs were not found: install Debian's `postgresql` \
                 package (scripts/test does) or set PG_BIN",
            )
        })
}

/// Which storage backend a service under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// sled in a directory (the embedded default).
    Sled,
    /// A PostgreSQL server of the test's own.
    Postgres,
}

/// The store of one test: a temp dir (for sled's directory and logs) and, on
/// [`Backend::Postgres`], a server of the test's own, stopped when this is dropped.
#[derive(Debug)]
pub struct TestStore {
    /// The temp dir.
    pub dir: tempfile::TempDir,
    /// The database server, on [`Backend::Postgres`].
    pub postgres: Option<Postgres>,
}

impl TestStore {
    /// A store on `backend` (starting PostgreSQL off the async threads).
    pub async fn new(backend: Backend) -> Self {
        let postgres = match backend {
            Backend::Sled => None,
            Backend::Postgres => Some(
                tokio::task::spawn_blocking(Postgres::start)
                    .await
                    .expect("starting postgres panicked")
                    .expect("postgres starts"),
            ),
        };
        Self {
            dir: tempfile::tempdir().expect("a temp dir"),
            postgres,
        }
    }

    /// The database's URL, on [`Backend::Postgres`].
    pub fn database_url(&self) -> Option<String> {
        self.postgres.as_ref().map(Postgres::url)
    }

    /// The service binary's arguments for this store: `--database-url <url>`, or none (the
    /// harness passes `--data-dir`).
    pub fn args(&self) -> Vec<String> {
        match self.database_url() {
            Some(url) => vec!["--database-url".to_owned(), url],
            None => Vec::new(),
        }
    }
}

/// Runs each listed `async fn name(backend: Backend)` of the calling module as two tests,
/// `sled::name` and `postgres::name`, so one test body holds a contract on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::postgres::Backend::Sled).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::postgres::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A running PostgreSQL server of its own; stopped (immediately) and deleted when dropped.
#[derive(Debug)]
pub struct Postgres {
    process: ManagedProcess,
    bin: PathBuf,
    data: PathBuf,
    /// The user the programs run as, when the tests run as root.
    run_as: Option<User>,
    _temp: tempfile::TempDir,
}

impl Postgres {
    /// `initdb` into a new temp dir, then the server on a free loopback port; returns once
    /// it accepts queries.
    pub fn start() -> std::io::Result<Self> {
        let bin = postgres_bin_dir()?;
        let temp = tempfile::tempdir()?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name(SYSTEM_USER)
                .map_err(std::io::Error::other)?
                .ok_or_else(|| {
                    std::io::Error::other(format!(
                        "running as root, PostgreSQL needs the `{SYSTEM_USER}` system user \
                         (Debian's postgresql package makes it)"
                    ))
                })?;
            std::os::unix::fs::chown(
                temp.path(),
                Some(user.uid.as_raw()),
                Some(user.gid.as_raw()),
            )?;
            Some(user)
        } else {
            None
        };
        let data = temp.path().join("data");
        let initdb = as_user(run_as.as_ref(), &bin.join("initdb"))
            .args(["-D", &data.display().to_string()])
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .arg("--no-sync")
            .stdin(Stdio::null())
            .output()?;
        if !initdb.status.success() {
            return Err(std::io::Error::other(format!(
                "initdb failed ({}): {}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stderr)
            )));
        }
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let addr = free_addr()?;
            let spec = server_spec(&bin, run_as.as_ref(), &data, temp.path(), addr);
            match ManagedProcess::start(spec, temp.path()) {
                Ok(process) => {
                    let server = Self {
                        process,
                        bin,
                        data,
                        run_as,
                        _temp: temp,
                    };
                    server.wait_ready()?;
                    return Ok(server);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("postgres did not start")))
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication on loopback).
    pub fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.process.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits until the server accepts queries (`pg_isready`), up to 30 s.
    pub fn wait_ready(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.addr().port().to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "postgres at {} not ready within {READY_TIMEOUT:?}; its log:\n{}",
                    self.addr(),
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_ctl stop -m immediate`: the server quits at once, without a checkpoint, as in
    /// a crash; its clients' connections break. Waits until it has exited.
    pub fn stop_immediate(&mut self) -> std::io::Result<()> {
        let stopped = as_user(self.run_as.as_ref(), &self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .output()?;
        if !stopped.status.success() {
            return Err(std::io::Error::other(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&stopped.stderr)
            )));
        }
        self.process.wait_exit(READY_TIMEOUT);
        Ok(())
    }

    /// Starts the server again on the same port and data (after
    /// [`Postgres::stop_immediate`]: crash recovery replays the log), and waits until it
    /// accepts queries.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.process.restart()?;
        self.wait_ready()
    }

    /// The server process (to pause or resume it).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT is `pg_ctl stop -m immediate`: the server stops its backends and exits at
        // once (a SIGKILL would leave the backends running until they notice).
        if let Some(pid) = self.process.pid().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            if kill(Pid::from_raw(pid), Signal::SIGQUIT).is_ok() {
                self.process.wait_exit(Duration::from_secs(10));
            }
        }
    }
}

/// `setpriv`'s arguments to run a program as `user`, before the program.
fn setpriv_args(user: &User) -> [String; 4] {
    [
        format!("--reuid={}", user.uid),
        format!("--regid={}", user.gid),
        "--init-groups".to_owned(),
        "--".to_owned(),
    ]
}

/// `program`, run as `user` through `setpriv` when one is given.
fn as_user(user: Option<&User>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("setpriv");
            command.args(setpriv_args(user)).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// How to run the server over `data` on `addr`, its socket in `socket_dir`.
fn server_spec(
    bin: &Path,
    user: Option<&User>,
    data: &Path,
    socket_dir: &Path,
    addr: SocketAddr,
) -> ProcessSpec {
    let server = bin.join("postgres");
    let (program, mut args) = match user {
        Some(user) => {
            let mut args = setpriv_args(user).to_vec();
            args.push(server.display().to_string());
            (PathBuf::from("setpriv"), args)
        }
        None => (server, Vec::new()),
    };
    args.extend([
        "-D".to_owned(),
        data.display().to_string(),
        "-p".to_owned(),
        addr.port().to_string(),
        "-c".to_owned(),
        format!("listen_addresses={}", addr.ip()),
        "-c".to_owned(),
        format!("unix_socket_directories={}", socket_dir.display()),
        // Room for several API processes' pools and the tests' own connections.
        "-c".to_owned(),
        "max_connections=200".to_owned(),
    ]);
    ProcessSpec::new(format!("postgres-{}", addr.port()), program, addr).args(args)
}
