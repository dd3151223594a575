//! The workspace's own binaries, for tests that run them as child processes.

use std::path::PathBuf;
use std::process::Command;

/// The path of one of the workspace's binaries: `$<NAME>_BIN` when set (e.g.
/// `CHARACTER_API_BIN` for `character-api`), else found beside the running executable
/// (programs live in `target/<profile>/`, tests in `target/<profile>/deps/`), built first
/// with `cargo build -p <name>` if it is not there (`scripts/test` builds them all up
/// front). A crate's tests that run the crate's own binary use `CARGO_BIN_EXE_<name>`.
pub fn binary(name: &str) -> std::io::Result<PathBuf> {
    let override_var = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(override_var) {
        return Ok(PathBuf::from(path));
    }
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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", name, "--bin", name]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    if !build.status()?.success() {
        return Err(std::io::Error::other(format!(
            "cargo build -p {name} failed"
        )));
    }
    Ok(profile_dir.join(name))
}
