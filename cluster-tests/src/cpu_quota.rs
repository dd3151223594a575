//! A CPU quota on one process, as a container's CPU limit (`docker run --cpus`) or a
//! crowded host puts it: the kernel's CFS bandwidth control, through a cgroup of the
//! process's own (cgroup v2's `cpu.max` where the unified hierarchy has the `cpu`
//! controller, else v1's `cpu.cfs_quota_us`). It is how the overload tests starve a zone of
//! CPU for real, so that its ticks overrun and its clock slows (time dilation).
//!
//! Needs root and a cgroup filesystem; [`CpuQuota::limit`] says why not otherwise, and the
//! tests that use it skip. Dropping the quota moves the process back and removes the
//! cgroup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The bandwidth period: the quota is spent within each.
const PERIOD_US: u64 = 100_000;
/// The kernel's smallest quota.
const MIN_QUOTA_US: u64 = 1_000;

/// A process held to a share of one CPU until dropped.
#[derive(Debug)]
pub struct CpuQuota {
    /// The cgroup made for it.
    dir: PathBuf,
    /// The cgroup it came from (its `cgroup.procs` takes it back).
    parent: PathBuf,
    pid: u32,
}

impl CpuQuota {
    /// Holds process `pid` (all its threads) to `share` of one CPU (at least 1 %).
    pub fn limit(pid: u32, share: f64) -> io::Result<Self> {
        let quota = ((share * PERIOD_US as f64) as u64).max(MIN_QUOTA_US);
        let (parent, dir) = if let Some(root) = v2_root() {
            let dir = root.join(format!("zone-cluster-quota-{pid}"));
            make(&dir)?;
            fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))?;
            (root, dir)
        } else {
            let root = PathBuf::from("/sys/fs/cgroup/cpu");
            if !root.join("cpu.cfs_quota_us").exists() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "no cgroup CPU controller (neither v2 with `cpu` nor v1 `cpu`)",
                ));
            }
            let dir = root.join(format!("zone-cluster-quota-{pid}"));
            make(&dir)?;
            fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
            fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())?;
            (root, dir)
        };
        let quota = Self { dir, parent, pid };
        // The whole process, every thread (cgroup.procs, not tasks).
        fs::write(quota.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(quota)
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // Gone already, or moved back: either way the cgroup empties and can go.
        let _ = fs::write(self.parent.join("cgroup.procs"), self.pid.to_string());
        if let Err(e) = fs::remove_dir(&self.dir) {
            eprintln!("cpu quota: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// The share of one CPU process `pid` used over the next `span` (user and system time,
/// from `/proc/<pid>/stat`).
pub async fn usage(pid: u32, span: std::time::Duration) -> io::Result<f64> {
    let before = cpu_seconds(pid)?;
    tokio::time::sleep(span).await;
    Ok((cpu_seconds(pid)? - before) / span.as_secs_f64())
}

/// The CPU time process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces, so after its last ')'):
    // state is the 3rd field of the line, utime the 14th and stime the 15th.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("an unreadable /proc stat line"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other("an unreadable /proc stat line"))
    };
    // The kernel's clock ticks are 100 a second on every Linux this runs on.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// The unified (v2) hierarchy's root, if CPU bandwidth control can be had under it.
fn v2_root() -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let controllers = fs::read_to_string(root.join("cgroup.controllers")).ok()?;
    if !controllers.split_whitespace().any(|c| c == "cpu") {
        return None;
    }
    // Children get the controller only once the root hands it down.
    fs::write(root.join("cgroup.subtree_control"), "+cpu").ok()?;
    Some(root.to_path_buf())
}

/// Creates the cgroup (one a crashed run left behind is reused).
fn make(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}
