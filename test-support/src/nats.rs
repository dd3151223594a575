//! A real `nats-server` (JetStream on) for tests. `scripts/test` installs the program from
//! Debian's packages when missing.
//!
//! [`NatsOptions`] says how to run it, so that what a deployment runs with (credentials and
//! subject permissions per role) can be turned on in tests in one place as it lands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::ports::free_addr;
use crate::process::{ManagedProcess, ProcessSpec};

/// How many free ports to try: another process can take one between finding and binding.
const ATTEMPTS: usize = 5;

/// `$NATS_SERVER`, else `nats-server` from PATH, else Debian's `/usr/sbin/nats-server`
/// (not on every user's PATH).
fn nats_server_program() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| d.join("nats-server").is_file())
    });
    if on_path {
        PathBuf::from("nats-server")
    } else {
        PathBuf::from("/usr/sbin/nats-server")
    }
}

/// How to run a test's nats-server: by default on a free loopback port with its store and
/// log in a temp dir of its own.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    listen: Option<SocketAddr>,
    dir: Option<PathBuf>,
}

impl NatsOptions {
    /// Listens on `addr` instead of a free port (the local cluster's well-known 4222).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Keeps the JetStream store (`<dir>/nats`) and the log in `dir`, which outlives the
    /// server, instead of a temp dir dropped with it.
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// How to run nats-server on `addr` with its store in `dir`.
    fn spec(addr: SocketAddr, dir: &Path) -> ProcessSpec {
        ProcessSpec::new(format!("nats-{}", addr.port()), nats_server_program(), addr).args([
            "-a".to_owned(),
            addr.ip().to_string(),
            "-p".to_owned(),
            addr.port().to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            dir.join("nats").display().to_string(),
        ])
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(self) -> std::io::Result<NatsServer> {
        let (dir, temp) = match &self.dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let attempts = if self.listen.is_some() { 1 } else { ATTEMPTS };
        let mut last_err = None;
        for _ in 0..attempts {
            let addr = match self.listen {
                Some(addr) => addr,
                None => free_addr()?,
            };
            match ManagedProcess::start(Self::spec(addr, &dir), &dir) {
                Ok(process) => {
                    return Ok(NatsServer {
                        process,
                        _temp: temp,
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("nats-server did not start")))
    }
}

/// A running nats-server; stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct NatsServer {
    process: ManagedProcess,
    _temp: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Starts `nats-server` (from PATH, or `$NATS_SERVER`) on a free port, with
    /// [`NatsOptions`]' defaults.
    pub fn start() -> std::io::Result<Self> {
        NatsOptions::default().start()
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.process.addr())
    }

    /// The server process (to kill, restart or stop it).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
