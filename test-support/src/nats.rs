//! A real `nats-server` (JetStream on) for tests, **with auth on** exactly as a deployment
//! runs it: its configuration and every role's credentials come from the same code as
//! `server-manager nats-security` (`service_kit::nats::security`), so a test that forgets
//! credentials is refused as a deployment would refuse it. `scripts/test` installs the
//! program from Debian's packages when missing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use protocol::cluster::Subjects;
use service_kit::nats::NatsArgs;
use service_kit::nats::security::{self, Bundle, SecurityOptions};

use crate::ports::free_addr;
use crate::process::{ManagedProcess, ProcessSpec};

/// How many free ports to try: another process can take one between finding and binding.
const ATTEMPTS: usize = 5;

/// `$NATS_SERVER`, else `nats-server` from PATH, else Debian's `/usr/sbin/nats-server`
/// (not on every user's PATH).
pub fn nats_server_program() -> PathBuf {
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
#[derive(Debug, Clone)]
pub struct NatsOptions {
    listen: Option<SocketAddr>,
    dir: Option<PathBuf>,
    zones: usize,
    tls: Option<(PathBuf, PathBuf)>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            listen: None,
            dir: None,
            zones: 8,
            tls: None,
        }
    }
}

impl NatsOptions {
    /// Makes `n` zone-server identities (`zone-1` … `zone-n`; default 8).
    pub fn zones(mut self, n: usize) -> Self {
        self.zones = n;
        self
    }

    /// Serves TLS only, with this certificate and key (PEM).
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_owned(), key.to_owned()));
        self
    }

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

    /// How to run nats-server on `addr` with its store in `dir` and the bundle's config.
    fn spec(&self, addr: SocketAddr, dir: &Path, bundle: &Bundle) -> ProcessSpec {
        let mut args = vec![
            "-c".to_owned(),
            bundle.config().display().to_string(),
            "-a".to_owned(),
            addr.ip().to_string(),
            "-p".to_owned(),
            addr.port().to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            dir.join("nats").display().to_string(),
        ];
        if let Some((cert, key)) = &self.tls {
            args.extend([
                "--tls".to_owned(),
                "--tlscert".to_owned(),
                cert.display().to_string(),
                "--tlskey".to_owned(),
                key.display().to_string(),
            ]);
        }
        ProcessSpec::new(format!("nats-{}", addr.port()), nats_server_program(), addr).args(args)
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
        let bundle = security::make(&SecurityOptions {
            dir: dir.join("nats-security"),
            zones: self.zones,
            subjects: Subjects::default(),
            rotate: Vec::new(),
            retire: Vec::new(),
        })
        .map_err(std::io::Error::other)?;
        let attempts = if self.listen.is_some() { 1 } else { ATTEMPTS };
        let mut last_err = None;
        for _ in 0..attempts {
            let addr = match self.listen {
                Some(addr) => addr,
                None => free_addr()?,
            };
            match ManagedProcess::start(self.spec(addr, &dir, &bundle), &dir) {
                Ok(process) => {
                    return Ok(NatsServer {
                        process,
                        bundle,
                        tls: self.tls.is_some(),
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
    bundle: Bundle,
    tls: bool,
    _temp: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Starts `nats-server` (from PATH, or `$NATS_SERVER`) on a free port, with
    /// [`NatsOptions`]' defaults.
    pub fn start() -> std::io::Result<Self> {
        NatsOptions::default().start()
    }

    /// The client URL, `nats://127.0.0.1:<port>` (`tls://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "tls" } else { "nats" };
        format!("{scheme}://{}", self.process.addr())
    }

    /// The credentials and server config this server runs with.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The seed file of a role instance: `manager`, `zone-1` … `zone-8`.
    pub fn creds(&self, name: &str) -> PathBuf {
        self.bundle.creds(name)
    }

    /// Connection settings for a role instance (`manager`, `zone-1`, ...).
    pub fn args(&self, name: &str) -> NatsArgs {
        NatsArgs::with_creds(&self.url(), &self.creds(name))
    }

    /// The server process (to kill, restart or stop it).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
