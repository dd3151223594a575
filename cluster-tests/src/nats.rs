//! A real `nats-server` (JetStream on) for tests, on a free loopback port with its store in
//! a temp dir. `scripts/test` installs the program from Debian's packages when missing.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::process::{ManagedProcess, ProcessSpec, free_port};

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

/// How to run nats-server (JetStream on, its store in `store`) on `addr`.
pub(crate) fn nats_spec(addr: SocketAddr, store: &std::path::Path) -> ProcessSpec {
    ProcessSpec {
        name: format!("nats-{}", addr.port()),
        program: nats_server_program(),
        args: vec![
            "-a".into(),
            addr.ip().to_string(),
            "-p".into(),
            addr.port().to_string(),
            "-js".into(),
            "-sd".into(),
            store.display().to_string(),
        ],
        env: vec![],
        ready_addr: addr,
    }
}

/// A running nats-server; stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct NatsServer {
    process: ManagedProcess,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts `nats-server` (from PATH, or `$NATS_SERVER`) on a free port.
    pub fn start() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut last_err = None;
        // A free port can be taken between finding and binding it: try a few.
        for _ in 0..5 {
            let port = free_port()?;
            let spec = nats_spec(
                SocketAddr::from(([127, 0, 0, 1], port)),
                &dir.path().join("js"),
            );
            match ManagedProcess::start(spec, dir.path()) {
                Ok(process) => return Ok(Self { process, _dir: dir }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("nats-server did not start")))
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.process.addr())
    }

    /// The server process (to kill or restart it).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
