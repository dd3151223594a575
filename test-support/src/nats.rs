//! A real `nats-server` (JetStream on) for tests, **with auth on** exactly as a deployment
//! runs it: its configuration and every role's credentials come from the same code as
//! `server-manager nats-security` (`service_kit::nats::security`), so a test that forgets
//! credentials is refused as a deployment would refuse it. `scripts/test` installs the
//! program from Debian's packages when missing.
//!
//! A [`NatsCluster`] runs several such servers as one NATS cluster (routes between every
//! pair, authenticated with a password of the cluster's own, the same keys admitted on every
//! node), on loopback or wherever each node's [`NodePlacement`] puts it (a network
//! namespace: see [`crate::netns`]).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use protocol::cluster::Subjects;
use service_kit::nats::NatsArgs;
use service_kit::nats::security::{self, Bundle, SecurityOptions};

use crate::ports::free_addr;
use crate::process::{ManagedProcess, ProcessSpec};

/// How many free ports to try: another process can take one between finding and binding.
const ATTEMPTS: usize = 5;

/// How long a cluster's nodes may take to route to each other once they all listen.
const ROUTES_TIMEOUT: Duration = Duration::from_secs(20);

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
    security: Option<PathBuf>,
    node: Option<ClusterNode>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            listen: None,
            dir: None,
            zones: 8,
            tls: None,
            security: None,
            node: None,
        }
    }
}

/// How one node of a cluster is reached and joins the others.
#[derive(Debug, Clone)]
struct ClusterNode {
    name: String,
    placement: NodePlacement,
    peers: Vec<SocketAddr>,
    route_password: String,
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

    /// Takes the credentials and config from (or makes them in) `dir` rather than a
    /// `nats-security` folder of its own: every node of a cluster admits the same keys.
    fn security(mut self, dir: &Path) -> Self {
        self.security = Some(dir.to_owned());
        self
    }

    /// Runs as a node of a cluster: placed as `node.placement` says, routing to its peers.
    fn node(mut self, node: ClusterNode) -> Self {
        self.listen = Some(node.placement.client);
        self.node = Some(node);
        self
    }

    /// How to run nats-server on `addr` with its store in `dir` and the bundle's config.
    fn spec(&self, addr: SocketAddr, dir: &Path, bundle: &Bundle) -> ProcessSpec {
        let config = match &self.node {
            Some(_) => bundle.cluster_config(),
            None => bundle.config(),
        };
        let mut args = vec![
            "-c".to_owned(),
            config.display().to_string(),
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
        let Some(node) = &self.node else {
            return ProcessSpec::new(format!("nats-{}", addr.port()), nats_server_program(), addr)
                .args(args);
        };
        let routes: Vec<String> = node
            .peers
            .iter()
            .map(|peer| {
                format!(
                    "nats-route://{}:{}@{peer}",
                    security::ROUTE_USER,
                    node.route_password
                )
            })
            .collect();
        args.extend([
            "-n".to_owned(),
            node.name.clone(),
            "-m".to_owned(),
            node.placement.monitor.port().to_string(),
        ]);
        let launcher = &node.placement.launcher;
        let (program, launcher_args) = match launcher.split_first() {
            Some((program, rest)) => (PathBuf::from(program), rest.to_vec()),
            None => (nats_server_program(), Vec::new()),
        };
        let server = (!launcher.is_empty()).then(|| nats_server_program().display().to_string());
        ProcessSpec::new(node.name.clone(), program, addr)
            .args(launcher_args.into_iter().chain(server).chain(args))
            .env("NATS_CLUSTER_LISTEN", node.placement.route.to_string())
            .env("NATS_ROUTE_PASSWORD", node.route_password.clone())
            .env("NATS_ROUTES", format!("[{}]", routes.join(", ")))
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
            dir: self
                .security
                .clone()
                .unwrap_or_else(|| dir.join("nats-security")),
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
                        monitor: self.node.as_ref().map(|n| n.placement.monitor),
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
    monitor: Option<SocketAddr>,
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

    /// Where it listens for clients.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
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

    /// How many routes to other nodes this node has now (from its monitoring port; `None`
    /// for a server that is not a cluster node, or does not answer).
    pub fn routes(&self) -> Option<usize> {
        let monitor = self.monitor?;
        let mut stream = TcpStream::connect_timeout(&monitor, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            stream,
            "GET /routez HTTP/1.0\r\nHost: {monitor}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let body = answer.split_once("\r\n\r\n")?.1;
        let routez: serde_json::Value = serde_json::from_str(body).ok()?;
        routez["num_routes"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
    }
}

/// Where one node of a [`NatsCluster`] runs: its client, route and monitoring addresses,
/// and the command it is started through (empty: directly; `ip netns exec <ns>`: inside a
/// network namespace).
#[derive(Debug, Clone)]
pub struct NodePlacement {
    /// Where clients connect.
    pub client: SocketAddr,
    /// Where the other nodes' routes connect.
    pub route: SocketAddr,
    /// Its HTTP monitoring port (`/routez`: whether the routes are up).
    pub monitor: SocketAddr,
    /// The command (and its arguments) that starts nats-server, prefixed to it.
    pub launcher: Vec<String>,
}

impl NodePlacement {
    /// A node on free loopback ports, started directly.
    pub fn loopback() -> std::io::Result<Self> {
        Ok(Self {
            client: free_addr()?,
            route: free_addr()?,
            monitor: free_addr()?,
            launcher: Vec::new(),
        })
    }
}

/// Several nats-servers routed into one cluster, each with auth on and the same keys; a
/// client given [`NatsCluster::url`] (every node, comma-separated) connects to any and fails
/// over to another. Every node is stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    _temp: Option<tempfile::TempDir>,
}

impl NatsCluster {
    /// Starts `n` nodes on free loopback ports, their store, logs and credentials in a temp
    /// dir, and waits until every node routes to every other.
    pub fn start(n: usize) -> std::io::Result<Self> {
        let temp = tempfile::tempdir()?;
        let placements = (0..n)
            .map(|_| NodePlacement::loopback())
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut cluster = Self::start_placed(temp.path(), 8, placements)?;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    /// Starts one node per placement (named `nats-1` …), with `zones` zone identities, the
    /// credentials in `<dir>/nats-security`, each node's store in `<dir>/<name>` and its log
    /// in `dir`; waits until every node routes to every other.
    pub fn start_placed(
        dir: &Path,
        zones: usize,
        placements: Vec<NodePlacement>,
    ) -> std::io::Result<Self> {
        let password = route_password()?;
        let security = dir.join("nats-security");
        let peers: Vec<SocketAddr> = placements.iter().map(|p| p.route).collect();
        let mut nodes = Vec::new();
        for (i, placement) in placements.into_iter().enumerate() {
            let name = format!("nats-{}", i + 1);
            let node_dir = dir.join(&name);
            std::fs::create_dir_all(&node_dir)?;
            let others = peers
                .iter()
                .copied()
                .filter(|p| *p != placement.route)
                .collect();
            nodes.push(
                NatsOptions::default()
                    .zones(zones)
                    .dir(&node_dir)
                    .security(&security)
                    .node(ClusterNode {
                        name,
                        placement,
                        peers: others,
                        route_password: password.clone(),
                    })
                    .start()?,
            );
        }
        let cluster = Self { nodes, _temp: None };
        cluster.wait_routed(ROUTES_TIMEOUT)?;
        Ok(cluster)
    }

    /// Waits until every running node routes to every other running node (after a node is
    /// restarted, before a test counts on its subscriptions reaching the others).
    pub fn wait_routed(&self, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let running: Vec<Option<usize>> = self.nodes.iter().map(NatsServer::routes).collect();
            let up = running.iter().flatten().count();
            if running.iter().flatten().all(|routes| *routes + 1 >= up) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "the NATS cluster's routes did not form within {timeout:?}: {running:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every node's client URL, comma-separated (what `--nats-url` takes).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every node's client URL with node `first` listed first, then the others in order (a
    /// process lists the node on its own host first: its client keeps that order).
    pub fn url_from(&self, first: usize) -> String {
        let urls: Vec<String> = self.nodes.iter().map(NatsServer::url).collect();
        let others = urls
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != first)
            .map(|(_, u)| u.clone());
        urls.get(first)
            .cloned()
            .into_iter()
            .chain(others)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes, in order (`nats-1` first).
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// The nodes, for an owner that keeps them apart (each is still stopped when dropped;
    /// a cluster made by [`NatsCluster::start`] keeps its temp dir only while it lives).
    pub fn into_nodes(self) -> Vec<NatsServer> {
        self.nodes
    }

    /// One node (to kill, pause or restart it).
    pub fn node(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// The credentials every node admits.
    pub fn bundle(&self) -> &Bundle {
        self.nodes[0].bundle()
    }

    /// The seed file of a role instance: `manager`, `zone-1` … .
    pub fn creds(&self, name: &str) -> PathBuf {
        self.bundle().creds(name)
    }

    /// Connection settings for a role instance, listing every node.
    pub fn args(&self, name: &str) -> NatsArgs {
        NatsArgs::with_creds(&self.url(), &self.creds(name))
    }
}

/// A fresh password for a cluster's routes (from the kernel's random source). It starts
/// with letters: nats-server reads an environment variable as a config value, and one
/// starting with a digit would be taken for a number.
fn route_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("route{hex}"))
}
