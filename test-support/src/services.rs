//! The project's HTTP services (character-api, quest-api) as child processes for tests:
//! each on a free loopback port with its data in a dir, logs kept, killable, restartable,
//! and startable again on the same data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::binaries::binary;
use crate::ports::free_addr;
use crate::process::{ManagedProcess, ProcessSpec};

/// How many free ports to try: another process can take one between finding and binding.
const ATTEMPTS: usize = 5;

/// How to run `program`, the service `name`, on `listen` over `data_dir`, with the bearer
/// token other services use with it. Its log is `<name>-<port>.log`.
pub fn service_spec(
    name: &str,
    program: PathBuf,
    listen: SocketAddr,
    data_dir: &Path,
    token: &str,
) -> ProcessSpec {
    ProcessSpec::new(format!("{name}-{}", listen.port()), program, listen).args([
        "--listen".to_owned(),
        listen.to_string(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--service-token".to_owned(),
        token.to_owned(),
    ])
}

/// How to start a [`Service`]: by default its data and log in a temp dir of its own, with
/// the environment the test runs in.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    name: String,
    token: String,
    program: Option<PathBuf>,
    dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    clean_env: bool,
}

impl ServiceOptions {
    /// The service `name` (a binary of the workspace, found with [`binary`]), taking
    /// `token` as the bearer token of its callers.
    pub fn new(name: &str, token: &str) -> Self {
        Self {
            name: name.to_owned(),
            token: token.to_owned(),
            program: None,
            dir: None,
            args: Vec::new(),
            env: Vec::new(),
            clean_env: false,
        }
    }

    /// Runs `program` rather than looking the binary up (a crate's tests pass its own
    /// `CARGO_BIN_EXE_<name>`, which cargo has just built).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Keeps the data (`<dir>/data`) and logs in `dir`, which outlives the service, so a
    /// test can start it again on the same data.
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Adds command-line arguments.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts it with no environment but what [`ServiceOptions::env`] sets.
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }

    /// Starts the service on a free port and waits until it listens.
    pub fn start(self) -> std::io::Result<Service> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.run(ManagedProcess::start) {
                Ok(service) => return Ok(service),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other(format!("{} did not start", self.name))))
    }

    /// Starts the service without waiting for it to listen (for one expected to exit).
    pub fn spawn(self) -> std::io::Result<Service> {
        self.run(ManagedProcess::spawn)
    }

    fn run(
        &self,
        start: impl FnOnce(ProcessSpec, &Path) -> std::io::Result<ManagedProcess>,
    ) -> std::io::Result<Service> {
        let (dir, temp) = match &self.dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let program = match &self.program {
            Some(program) => program.clone(),
            None => binary(&self.name)?,
        };
        let listen = free_addr()?;
        let mut spec = service_spec(&self.name, program, listen, &dir.join("data"), &self.token)
            .args(self.args.iter().cloned());
        for (key, value) in &self.env {
            spec = spec.env(key.clone(), value.clone());
        }
        if self.clean_env {
            spec = spec.clean_env();
        }
        let process = start(spec, &dir)?;
        Ok(Service {
            process,
            _temp: temp,
        })
    }
}

/// A running service of the project; SIGKILLed when dropped.
#[derive(Debug)]
pub struct Service {
    process: ManagedProcess,
    _temp: Option<tempfile::TempDir>,
}

impl Service {
    /// A character-api in a temp dir of its own.
    pub fn character_api(token: &str) -> std::io::Result<Self> {
        ServiceOptions::new("character-api", token).start()
    }

    /// A quest-api with its shipped catalog, in a temp dir of its own.
    pub fn quest_api(token: &str) -> std::io::Result<Self> {
        ServiceOptions::new("quest-api", token).start()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.process.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// Everything it has written so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The process (to stop, kill, restart or pause it).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
