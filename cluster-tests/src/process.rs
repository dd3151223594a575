//! Child processes of a test cluster: started on free loopback ports, their output kept in
//! a log file (printed when a test fails), killable with SIGKILL and restartable.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port, found by binding port 0 and letting it go.
///
/// Another process could take it before the caller binds it; callers that start servers
/// retry (see [`ManagedProcess::start`]) rather than trusting it blindly.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls until `addr` accepts TCP connections, or `timeout` passes.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// How to (re)start one process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// A name for logs ("nats", "zone-1", ...).
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The address it listens on once ready.
    pub ready_addr: SocketAddr,
}

/// A running (or stopped) child process with its log.
#[derive(Debug)]
pub struct ManagedProcess {
    spec: ProcessSpec,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ManagedProcess {
    /// Starts the process, appending its stdout and stderr to `<log_dir>/<name>.log`, and
    /// waits up to 20 s for its address to accept connections.
    pub fn start(spec: ProcessSpec, log_dir: &Path) -> std::io::Result<Self> {
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let mut process = Self {
            spec,
            log_path,
            child: None,
        };
        process.restart()?;
        Ok(process)
    }

    /// Starts the process again (after [`ManagedProcess::kill`]) with the same spec.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(&self.spec.program)
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", self.spec.program.display()),
                )
            })?;
        self.child = Some(child);
        if !wait_for_tcp(self.spec.ready_addr, Duration::from_secs(20)) {
            let log = self.log();
            self.kill();
            return Err(std::io::Error::other(format!(
                "{} did not listen on {} within 20 s; its log:\n{log}",
                self.spec.name, self.spec.ready_addr
            )));
        }
        Ok(())
    }

    /// Kills the process with SIGKILL (no chance to flush or say goodbye) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Freezes the process (SIGSTOP): it keeps its sockets, the kernel still accepts
    /// connections for it, but it answers nothing, like a process stalled on a disk.
    /// Returns whether the signal was delivered.
    pub fn pause(&self) -> bool {
        self.signal("-STOP")
    }

    /// Lets a [paused](ManagedProcess::pause) process run again (SIGCONT).
    pub fn resume(&self) -> bool {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> bool {
        self.pid().is_some_and(|pid| {
            Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.spec.ready_addr
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- log of {} -----\n{}", self.spec.name, self.log());
        }
        self.kill();
    }
}
