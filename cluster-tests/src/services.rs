//! The project's own services as child processes for tests: each on a free loopback port
//! with a temp data dir, logs kept, killable and restartable on the same data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{ManagedProcess, ProcessSpec, free_port};

/// The path of one of the workspace's binaries, found beside the running executable
/// (the launcher lives in `target/<profile>/`, tests in `target/<profile>/deps/`), built
/// first with `cargo build -p <name>` if it is not there (scripts/test builds them all up
/// front).
pub fn binary(name: &str) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let here = exe
        .parent()
        .ok_or_else(|| std::io::Error::other("cannot locate the target directory"))?;
    let candidates = [Some(here), here.parent()];
    if let Some(found) = candidates
        .iter()
        .flatten()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let profile_dir = if here.ends_with("deps") {
        here.parent().unwrap_or(here)
    } else {
        here
    };
    let release = profile_dir.ends_with("release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", name, "--bin", name]);
    if release {
        build.arg("--release");
    }
    if !build.status()?.success() {
        return Err(std::io::Error::other(format!(
            "cargo build -p {name} failed"
        )));
    }
    Ok(profile_dir.join(name))
}

/// A running service of the project.
#[derive(Debug)]
pub struct Service {
    process: ManagedProcess,
    dir: tempfile::TempDir,
}

impl Service {
    /// Starts `name` with `--listen <free port> --data-dir <temp> --service-token <token>`
    /// and `extra` arguments.
    pub fn start(name: &str, token: &str, extra: &[&str]) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let program = binary(name)?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut args = vec![
                "--listen".to_owned(),
                addr.to_string(),
                "--data-dir".to_owned(),
                dir.path().join("data").display().to_string(),
                "--service-token".to_owned(),
                token.to_owned(),
            ];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            let spec = ProcessSpec {
                name: format!("{name}-{port}"),
                program: program.clone(),
                args,
                env: vec![],
                ready_addr: addr,
            };
            match ManagedProcess::start(spec, dir.path()) {
                Ok(process) => return Ok(Self { process, dir }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other(format!("{name} did not start"))))
    }

    /// A character-api.
    pub fn character_api(token: &str) -> std::io::Result<Self> {
        Self::start("character-api", token, &[])
    }

    /// A quest-api with its shipped catalog.
    pub fn quest_api(token: &str) -> std::io::Result<Self> {
        Self::start("quest-api", token, &[])
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.process.addr())
    }

    /// The process (to kill, restart or read its log).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Its data dir's parent (logs live here too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
