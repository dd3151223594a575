//! Child processes under test: their output kept in a log file (printed when a test
//! fails), stopped with SIGTERM (a graceful stop) or SIGKILL (a crash), frozen with
//! SIGSTOP, waited for, and restarted with the same command on the same address.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::ports::accepts;

/// How long a started process may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a waiting test looks at a process again.
const POLL: Duration = Duration::from_millis(20);

/// Whether every process started from now on gets a process group of its own (see
/// [`own_process_groups`]).
static OWN_GROUPS: AtomicBool = AtomicBool::new(false);

/// From now on, starts every child (whatever its [`ProcessSpec`]) in a process group of its
/// own, as [`ProcessSpec::own_process_group`] does for one. For the local cluster's
/// launcher, whose cluster builds its specs itself: a Ctrl-C in its terminal goes to the
/// terminal's whole foreground group, and children in that group would all stop at once
/// (NATS and the APIs before the zones have saved their players); in groups of their own
/// they hear only the launcher, which stops them in order.
pub fn own_process_groups() {
    OWN_GROUPS.store(true, Ordering::SeqCst);
}

/// How to (re)start one process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    clean_env: bool,
    own_group: bool,
    ready_addr: SocketAddr,
}

impl ProcessSpec {
    /// `program`, known as `name` in logs (its log is `<name>.log`), up once it listens on
    /// `ready_addr`.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        ready_addr: SocketAddr,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            clean_env: false,
            own_group: false,
            ready_addr,
        }
    }

    /// Adds arguments.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable, replacing an earlier value of it.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Starts it with no environment but what [`ProcessSpec::env`] sets, so a developer's
    /// `LISTEN` or `DATA_DIR` cannot change what a test runs.
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }

    /// Starts it in a process group of its own (its pid is the group's id), so a signal
    /// sent to the starter's group (a terminal's Ctrl-C) does not reach it, and one sent
    /// to its group (`kill -INT -- -<pid>`) reaches it and everything it starts.
    pub fn own_process_group(mut self) -> Self {
        self.own_group = true;
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if self.clean_env {
            command.env_clear();
        }
        if self.own_group || OWN_GROUPS.load(Ordering::SeqCst) {
            command.process_group(0);
        }
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }
}

/// A running (or stopped) child process with its log; SIGKILLed when dropped.
#[derive(Debug)]
pub struct ManagedProcess {
    spec: ProcessSpec,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ManagedProcess {
    /// Starts the process, appending its stdout and stderr to `<log_dir>/<name>.log`, and
    /// waits up to 20 s for its address to accept connections. Fails, with the log, if it
    /// exits or does not listen in time.
    pub fn start(spec: ProcessSpec, log_dir: &Path) -> std::io::Result<Self> {
        let mut process = Self::spawn(spec, log_dir)?;
        process.wait_listening()?;
        Ok(process)
    }

    /// Starts the process without waiting for it to listen (for one expected to exit).
    pub fn spawn(spec: ProcessSpec, log_dir: &Path) -> std::io::Result<Self> {
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let mut process = Self {
            spec,
            log_path,
            child: None,
        };
        process.spawn_child()?;
        Ok(process)
    }

    /// Starts the process again (after [`ManagedProcess::kill`]) with the same spec, and
    /// waits as [`ManagedProcess::start`] does.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn_child()?;
        self.wait_listening()
    }

    fn spawn_child(&mut self) -> std::io::Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = self
            .spec
            .command()
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
        Ok(())
    }

    fn wait_listening(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if accepts(self.spec.ready_addr) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let failure = match exited {
                Some(status) => format!("exited ({status}) before listening"),
                None if Instant::now() >= deadline => format!(
                    "did not listen on {} within {START_TIMEOUT:?}",
                    self.spec.ready_addr
                ),
                None => {
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            let log = self.log();
            self.kill();
            return Err(std::io::Error::other(format!(
                "{} {failure}; its log:\n{log}",
                self.spec.name
            )));
        }
    }

    /// Kills the process with SIGKILL (no chance to flush or say goodbye) and reaps it;
    /// its exit status, if it was running.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status; SIGKILLs it (and
    /// returns `None`) if it has not exited by then.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        let status = self.wait_exit(timeout);
        if status.is_none() {
            self.kill();
        }
        status
    }

    /// Waits up to `timeout` for the process to exit on its own; its exit status, or
    /// `None` if it still runs (or was not running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Freezes the process (SIGSTOP): it keeps its sockets, the kernel still accepts
    /// connections for it, but it answers nothing, like a process stalled on a disk.
    /// Returns whether the signal was delivered.
    pub fn pause(&self) -> bool {
        self.signal(Signal::SIGSTOP)
    }

    /// Lets a [paused](ManagedProcess::pause) process run again (SIGCONT).
    pub fn resume(&self) -> bool {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, signal: Signal) -> bool {
        self.pid()
            .and_then(|pid| i32::try_from(pid).ok())
            .is_some_and(|pid| kill(Pid::from_raw(pid), signal).is_ok())
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
