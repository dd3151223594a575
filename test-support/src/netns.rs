//! Hosts simulated as Linux network namespaces, for tests of a cluster spread over several
//! machines: a [`Network`] is a bridge in the root namespace with a subnet of its own
//! (`10.77.<n>.0/24`), and each [`Host`] a namespace plugged into it by a veth pair, with
//! address `10.77.<n>.<i>`. Processes are placed on a host by starting them through
//! `ip netns exec` (which execs the program: its pid is the program's, so SIGKILL and
//! SIGSTOP reach it). The root namespace (the test, its bots) reaches every host at
//! `10.77.<n>.254`, and a host can be cut off from the other hosts by `iptables` in its
//! namespace while the root namespace still reaches it (players stay connected).
//!
//! Clean-up, whatever happens: `<n>` is held by a file lock for the network's whole life;
//! dropping the network kills what runs in its namespaces and deletes them, the bridge and
//! the one rule it adds in the root namespace (bridged traffic passes the root's `FORWARD`
//! chain when `br_netfilter` is loaded, and Docker sets its policy to DROP). A test process
//! that dies without dropping leaves its lock free, and the next network made sweeps
//! everything named after a free `<n>`.
//!
//! Making namespaces needs `CAP_NET_ADMIN` (and `ip`, `iptables`); without them
//! [`Network::create`] says so with [`NetnsError::Unavailable`], and tests skip.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::ProcessSpec;

/// What every name this module makes starts with (namespaces, bridge, veths, rules).
const PREFIX: &str = "zcnet";

/// The first two octets of every network's subnet.
const SUBNET: [u8; 2] = [10, 77];

/// The root namespace's address on every network (the bridge's).
const ROOT_OCTET: u8 = 254;

/// Each host's longest TCP retransmission timeout (Linux 6.15+; the default is 120 s). A
/// connection that a partition leaves open but silent (a NATS route carrying traffic both
/// ways, which its pings then never find stale) backs off while the partition lasts; this
/// bounds how long it waits after the heal before it carries traffic again.
const RTO_MAX_SYSCTL: &str = "net.ipv4.tcp_rto_max_ms=1000";

/// Network numbers tried (the third octet of the subnet).
const NUMBERS: std::ops::RangeInclusive<u8> = 1..=250;

/// The iptables chains a partition's rules go in, inside a host's namespace: one for
/// what comes in, one for what goes out.
const PARTITION_CHAINS: [(&str, &str); 2] = [("INPUT", "zc-part-in"), ("OUTPUT", "zc-part-out")];

/// Why a network could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// This machine or user cannot make namespaces (no `CAP_NET_ADMIN`, no `ip` or
    /// `iptables`): tests skip.
    #[error("network namespaces are unavailable here: {0}")]
    Unavailable(String),
    /// A step failed on a machine that can make them.
    #[error("setting up network namespaces failed: {0}")]
    Failed(String),
}

/// Runs `program args` and returns its stdout, or what it said on failure.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join(format!("{PREFIX}-locks"))
}

/// Takes network number `n` for this process, if no other process holds it.
fn take_number(dir: &Path, n: u8) -> Option<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{n}.lock")))
        .ok()?;
    file.try_lock().ok().map(|()| file)
}

fn bridge_name(n: u8) -> String {
    format!("{PREFIX}{n}")
}

fn namespace_name(n: u8, i: usize) -> String {
    format!("{PREFIX}-{n}-{i}")
}

fn forward_rule(n: u8) -> Vec<String> {
    let bridge = bridge_name(n);
    [
        "FORWARD",
        "-i",
        &bridge,
        "-o",
        &bridge,
        "-m",
        "comment",
        "--comment",
        &format!("{PREFIX}-{n}"),
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Which network number a namespace or bridge of ours belongs to.
fn number_of(name: &str) -> Option<u8> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits = rest.strip_prefix('-').unwrap_or(rest);
    digits.split('-').next()?.parse().ok()
}

/// Deletes everything named after network `n`: what runs in its namespaces, the
/// namespaces, the bridge (its veths go with it) and the root's forward rule.
fn clean(n: u8) {
    let namespaces = run("ip", &["netns", "list"]).unwrap_or_default();
    for line in namespaces.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name.starts_with(&format!("{PREFIX}-{n}-")) {
            kill_all_in(name);
            let _ = run("ip", &["netns", "delete", name]);
        }
    }
    let _ = run("ip", &["link", "delete", &bridge_name(n)]);
    let rule = forward_rule(n);
    let delete: Vec<&str> = std::iter::once("-D")
        .chain(rule.iter().map(String::as_str))
        .collect();
    while run("iptables", &delete).is_ok() {}
}

/// SIGKILLs every process in namespace `name`.
fn kill_all_in(name: &str) {
    let pids = run("ip", &["netns", "pids", name]).unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = run("kill", &["-9", pid]);
    }
}

/// Cleans every network whose number no running process holds (left by a test that died).
fn sweep_stale(dir: &Path) {
    let namespaces = run("ip", &["netns", "list"]).unwrap_or_default();
    let bridges = run("ip", &["-o", "link", "show", "type", "bridge"]).unwrap_or_default();
    let mut numbers: Vec<u8> = namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .chain(
            bridges
                .lines()
                .filter_map(|l| l.split(": ").nth(1))
                .map(|name| name.split('@').next().unwrap_or(name)),
        )
        .filter_map(number_of)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    for n in numbers {
        if let Some(_held) = take_number(dir, n) {
            clean(n);
        }
    }
}

/// One simulated host: a network namespace on the [`Network`]'s bridge.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    namespace: String,
    address: Ipv4Addr,
    root: Ipv4Addr,
    subnet: String,
}

impl Host {
    /// The name the test gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its network namespace's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its address on the network.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// `address:port`.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.address, port))
    }

    /// The command that runs a program on this host: `ip netns exec <namespace>`.
    pub fn launcher(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.namespace]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// How to run `program` on this host, known as `name`, up once `ready` accepts
    /// connections (from the root namespace).
    pub fn spec(&self, name: &str, program: &Path, ready: SocketAddr) -> ProcessSpec {
        let mut launcher = self.launcher().into_iter();
        let ip = launcher.next().unwrap_or_default();
        ProcessSpec::new(name, ip, ready)
            .args(launcher)
            .args([program.display().to_string()])
    }

    fn iptables(&self, args: &[&str]) -> Result<String, String> {
        let full: Vec<&str> = ["netns", "exec", &self.namespace, "iptables"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        run("ip", &full)
    }

    /// Cuts this host off from every other host (packets to and from them are dropped, as
    /// on a broken link: connections hang rather than fail), while the root namespace (the
    /// players) still reaches it. [`Host::heal`] ends it.
    pub fn partition(&self) -> std::io::Result<()> {
        let root = self.root.to_string();
        for (hook, chain) in PARTITION_CHAINS {
            let (interface, peer) = if hook == "INPUT" {
                ("-i", "-s")
            } else {
                ("-o", "-d")
            };
            let steps: [&[&str]; 4] = [
                // The host's own traffic (to its own address it goes over loopback) stays.
                &["-A", chain, interface, "lo", "-j", "RETURN"],
                &["-A", chain, peer, &root, "-j", "RETURN"],
                &["-A", chain, peer, &self.subnet, "-j", "DROP"],
                &["-I", hook, "-j", chain],
            ];
            // The chain outlives a heal (it is only emptied): make it once.
            if self.iptables(&["-L", chain, "-n"]).is_err() {
                self.iptables(&["-N", chain])
                    .map_err(std::io::Error::other)?;
            }
            for step in steps {
                self.iptables(step).map_err(std::io::Error::other)?;
            }
        }
        Ok(())
    }

    /// Ends a [`Host::partition`]: the links work again (connections that hung resume).
    pub fn heal(&self) -> std::io::Result<()> {
        for (hook, chain) in PARTITION_CHAINS {
            while self.iptables(&["-D", hook, "-j", chain]).is_ok() {}
            self.iptables(&["-F", chain])
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }
}

/// A bridge with simulated hosts on it; everything is deleted when dropped.
#[derive(Debug)]
pub struct Network {
    number: u8,
    hosts: Vec<Host>,
    _lock: File,
}

impl Network {
    /// Makes one host per name (in order: `10.77.<n>.1`, `.2`, …) on a network number no
    /// other test holds, after sweeping networks left behind by tests that died.
    pub fn create(names: &[&str]) -> Result<Self, NetnsError> {
        if names.len() >= usize::from(ROOT_OCTET) {
            return Err(NetnsError::Failed(format!(
                "{} hosts: too many",
                names.len()
            )));
        }
        for tool in ["ip", "iptables"] {
            run(tool, &["-V"]).map_err(NetnsError::Unavailable)?;
        }
        let dir = lock_dir();
        std::fs::create_dir_all(&dir).map_err(|e| NetnsError::Failed(e.to_string()))?;
        sweep_stale(&dir);
        let (number, lock) = NUMBERS
            .filter_map(|n| take_number(&dir, n).map(|lock| (n, lock)))
            .next()
            .ok_or_else(|| NetnsError::Failed("every network number is in use".into()))?;
        clean(number);
        let mut network = Self {
            number,
            hosts: Vec::new(),
            _lock: lock,
        };
        network.build(names)?;
        Ok(network)
    }

    fn build(&mut self, names: &[&str]) -> Result<(), NetnsError> {
        let n = self.number;
        let bridge = bridge_name(n);
        let root = Ipv4Addr::new(SUBNET[0], SUBNET[1], n, ROOT_OCTET);
        let subnet = format!("{}.{}.{n}.0/24", SUBNET[0], SUBNET[1]);
        // The first step tells a machine that cannot from one where something broke.
        run("ip", &["link", "add", &bridge, "type", "bridge"]).map_err(|e| {
            if e.contains("Operation not permitted") {
                NetnsError::Unavailable(e)
            } else {
                NetnsError::Failed(e)
            }
        })?;
        let failed = NetnsError::Failed;
        run(
            "ip",
            &["addr", "add", &format!("{root}/24"), "dev", &bridge],
        )
        .map_err(failed)?;
        run("ip", &["link", "set", &bridge, "up"]).map_err(failed)?;
        let mut insert = vec!["-I".to_owned()];
        insert.extend(forward_rule(n));
        let insert: Vec<&str> = insert.iter().map(String::as_str).collect();
        run("iptables", &insert).map_err(failed)?;
        for (i, name) in names.iter().enumerate() {
            let octet = u8::try_from(i + 1).map_err(|e| failed(e.to_string()))?;
            let namespace = namespace_name(n, i + 1);
            let veth = format!("zcv{n}-{}", i + 1);
            let address = Ipv4Addr::new(SUBNET[0], SUBNET[1], n, octet);
            run("ip", &["netns", "add", &namespace]).map_err(failed)?;
            let host = Host {
                name: (*name).to_owned(),
                namespace: namespace.clone(),
                address,
                root,
                subnet: subnet.clone(),
            };
            self.hosts.push(host);
            let ns = namespace.as_str();
            let steps: [&[&str]; 6] = [
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
                ],
                &["link", "set", &veth, "master", &bridge, "up"],
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{address}/24"),
                    "dev",
                    "eth0",
                ],
                &["-n", ns, "link", "set", "eth0", "up"],
                &["-n", ns, "link", "set", "lo", "up"],
                &[
                    "-n",
                    ns,
                    "route",
                    "add",
                    "default",
                    "via",
                    &root.to_string(),
                ],
            ];
            for step in steps {
                run("ip", step).map_err(failed)?;
            }
            // As README "Many hosts" advises for real hosts; kernels before 6.15 lack the
            // setting, and their hosts keep the default backoff (said, since the partition
            // figures depend on it).
            if let Err(e) = run(
                "ip",
                &["netns", "exec", ns, "sysctl", "-qw", RTO_MAX_SYSCTL],
            ) {
                eprintln!("note: {namespace} keeps TCP's default retransmission backoff: {e}");
            }
        }
        Ok(())
    }

    /// The hosts, in the order named.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The root namespace's address on this network (where players come from).
    pub fn root_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(SUBNET[0], SUBNET[1], self.number, ROOT_OCTET)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        clean(self.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_ours_give_back_their_network_number() {
        assert_eq!(number_of(&namespace_name(7, 2)), Some(7));
        assert_eq!(number_of(&bridge_name(250)), Some(250));
        assert_eq!(number_of("docker0"), None);
        assert_eq!(number_of("zcnetx"), None);
    }
}
