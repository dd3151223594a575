//! A whole cluster of real processes: nats-server (auth on: each process has its role's
//! credentials, made by the same code as `server-manager nats-security`; one node, or a NATS
//! cluster of several routed together), character-api, quest-api, the server-manager and M
//! zone-server processes, each on its own loopback port with its data and log under one
//! directory. Any process can be killed (SIGKILL) or restarted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use test_support::{
    ManagedProcess, NatsCluster, NatsOptions, NatsServer, NodePlacement, ProcessSpec, binary,
    free_addr, service_spec,
};

/// How to lay a cluster out.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// zone-server processes.
    pub zone_servers: usize,
    /// Zone actors per zone-server process.
    pub slots: u16,
    /// Use the well-known ports (NATS 4222, manager 7100, APIs 7101/7102, zones 7200+)
    /// instead of free ones: the local cluster does, tests do not.
    pub well_known_ports: bool,
    /// Where data and logs go (a temp dir when `None`).
    pub dir: Option<PathBuf>,
    /// Start the manager with `--dev-login` (the web client's development login): the local
    /// cluster does, tests that play in the browser do, others do not.
    pub dev_login: bool,
    /// More flags for every zone-server (e.g. `--area-capacity 12` for a crowd test).
    pub zone_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            zone_servers: 1,
            slots: 2,
            well_known_ports: false,
            dir: None,
            dev_login: false,
            zone_args: Vec::new(),
        }
    }
}

/// The shared secrets of a cluster (development values: never for production).
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Bearer token the services use with the APIs.
    pub service_token: String,
    /// HS256 secret of players' join tokens.
    pub jwt_secret: String,
    /// Bearer token of the manager's operator API.
    pub admin_token: String,
}

impl Default for Secrets {
    fn default() -> Self {
        Self {
            service_token: "dev-service-token".into(),
            jwt_secret: "dev-jwt-secret".into(),
            admin_token: "dev-admin-token".into(),
        }
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// nats-server (the first node, when NATS runs as a cluster).
    pub nats: NatsServer,
    /// The other nodes of the NATS cluster (none with a single nats-server).
    pub nats_peers: Vec<NatsServer>,
    /// character-api.
    pub characters: ManagedProcess,
    /// quest-api.
    pub quests: ManagedProcess,
    /// server-manager.
    pub manager: ManagedProcess,
    /// zone-server processes.
    pub zones: Vec<ManagedProcess>,
    /// The secrets in use.
    pub secrets: Secrets,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

fn addr(well_known: bool, port: u16) -> std::io::Result<SocketAddr> {
    if well_known {
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    } else {
        free_addr()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Starts the cluster's NATS: one server, or `nodes` routed into a NATS cluster (on the
/// well-known ports 4222, 4223, … with routes on 6222, … when asked for).
fn start_nats(
    dir: &Path,
    zones: usize,
    well_known: bool,
    nodes: usize,
) -> std::io::Result<(NatsServer, Vec<NatsServer>)> {
    if nodes <= 1 {
        let mut nats = NatsOptions::default().dir(dir).zones(zones);
        if well_known {
            nats = nats.listen(addr(true, 4222)?);
        }
        return Ok((nats.start()?, Vec::new()));
    }
    let placements = (0..nodes)
        .map(|i| {
            let i = u16::try_from(i).map_err(std::io::Error::other)?;
            if well_known {
                Ok(NodePlacement {
                    client: addr(true, 4222 + i)?,
                    route: addr(true, 6222 + i)?,
                    monitor: addr(true, 8222 + i)?,
                    launcher: Vec::new(),
                })
            } else {
                NodePlacement::loopback()
            }
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut nodes = NatsCluster::start_placed(dir, zones, placements)?
        .into_nodes()
        .into_iter();
    let first = nodes
        .next()
        .ok_or_else(|| std::io::Error::other("no NATS node"))?;
    Ok((first, nodes.collect()))
}

/// The client URLs of the first node and its peers, comma-separated.
fn joined_urls(first: &NatsServer, peers: &[NatsServer]) -> String {
    std::iter::once(first)
        .chain(peers)
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",")
}

impl Cluster {
    /// Starts every process and waits until each listens.
    pub fn start(options: ClusterOptions) -> std::io::Result<Self> {
        Self::start_with_nats_nodes(options, 1)
    }

    /// [`Cluster::start`], with NATS as a cluster of `nats_nodes` nodes (auth on, routes
    /// between every pair); every process is given all of them and fails over between them.
    pub fn start_with_nats_nodes(
        options: ClusterOptions,
        nats_nodes: usize,
    ) -> std::io::Result<Self> {
        let temp = match options.dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let dir = options.dir.clone().unwrap_or_else(|| {
            temp.as_ref()
                .map(|t| t.path().to_path_buf())
                .unwrap_or_default()
        });
        std::fs::create_dir_all(&dir)?;
        let secrets = Secrets::default();
        let wk = options.well_known_ports;
        let data = |name: &str| dir.join(name).display().to_string();

        let (nats, nats_peers) = start_nats(&dir, options.zone_servers.max(8), wk, nats_nodes)?;
        let nats_url = joined_urls(&nats, &nats_peers);

        let api = |name: &str, port: u16| -> std::io::Result<ManagedProcess> {
            let spec = service_spec(
                name,
                binary(name)?,
                addr(wk, port)?,
                Path::new(&data(name)),
                &secrets.service_token,
            );
            ManagedProcess::start(spec, &dir)
        };
        let characters = api("character-api", 7101)?;
        let quests = api("quest-api", 7102)?;
        let character_url = format!("http://{}", characters.addr());
        let quest_url = format!("http://{}", quests.addr());

        let manager_addr = addr(wk, 7100)?;
        let manager = ManagedProcess::start(
            ProcessSpec::new("server-manager", binary("server-manager")?, manager_addr).args(
                [
                    strings(&[
                        "--listen",
                        &manager_addr.to_string(),
                        "--data-dir",
                        &data("server-manager"),
                        "--nats-url",
                        &nats_url,
                        "--nats-creds",
                        &nats.creds("manager").display().to_string(),
                    ]),
                    strings(&[
                        "--character-api",
                        &character_url,
                        "--service-token",
                        &secrets.service_token,
                    ]),
                    strings(&[
                        "--jwt-secret",
                        &secrets.jwt_secret,
                        "--admin-token",
                        &secrets.admin_token,
                    ]),
                    strings(if options.dev_login {
                        &["--dev-login"]
                    } else {
                        &[]
                    }),
                ]
                .concat(),
            ),
            &dir,
        )?;

        let mut zones = Vec::new();
        for i in 0..options.zone_servers {
            let a = addr(wk, 7200 + i as u16)?;
            zones.push(ManagedProcess::start(
                ProcessSpec::new(format!("zone-server-{i}"), binary("zone-server")?, a).args(
                    [
                        strings(&[
                            "--listen",
                            &a.to_string(),
                            "--nats-url",
                            &nats_url,
                            "--nats-creds",
                            &nats.creds(&format!("zone-{}", i + 1)).display().to_string(),
                            "--slots",
                            &options.slots.to_string(),
                        ]),
                        strings(&[
                            "--character-api",
                            &character_url,
                            "--quest-api",
                            &quest_url,
                            "--service-token",
                            &secrets.service_token,
                        ]),
                        options.zone_args.clone(),
                    ]
                    .concat(),
                ),
                &dir,
            )?);
        }
        Ok(Self {
            nats,
            nats_peers,
            characters,
            quests,
            manager,
            zones,
            secrets,
            dir,
            _temp: temp,
        })
    }

    /// Every NATS node's client URL, comma-separated (what each process is given).
    pub fn nats_url(&self) -> String {
        joined_urls(&self.nats, &self.nats_peers)
    }

    /// The manager's base URL (join, operator API, dashboard).
    pub fn manager_url(&self) -> String {
        format!("http://{}", self.manager.addr())
    }

    /// character-api's base URL.
    pub fn character_api_url(&self) -> String {
        format!("http://{}", self.characters.addr())
    }

    /// Every zone-server's base URL (health, metrics, `/v1/stays`).
    pub fn zone_urls(&self) -> Vec<String> {
        self.zones
            .iter()
            .map(|z| format!("http://{}", z.addr()))
            .collect()
    }

    /// A bot configuration for this cluster.
    pub fn bot_config(&self) -> crate::bot::BotConfig {
        crate::bot::BotConfig {
            manager_url: self.manager_url(),
            character_api_url: self.character_api_url(),
            service_token: self.secrets.service_token.clone(),
            jwt_secret: self.secrets.jwt_secret.clone(),
        }
    }

    /// Where data and logs live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops everything gently (SIGTERM, so services flush), in the order that loses
    /// nothing: the zones (all at once; each saves its players to character-api, so the
    /// APIs must still be up), then the manager, then the two APIs, then NATS (which every
    /// zone and the manager talk through until they stop). Each step waits up to 15 s and
    /// SIGKILLs what has not exited by then; the names of the processes it had to kill
    /// come back (empty when everything stopped by itself).
    pub fn stop(&mut self) -> Vec<String> {
        let timeout = std::time::Duration::from_secs(15);
        let mut killed = Vec::new();
        let in_parallel = |steps: Vec<(String, &mut ManagedProcess)>| -> Vec<String> {
            std::thread::scope(|scope| {
                let waits: Vec<_> = steps
                    .into_iter()
                    .map(|(name, p)| {
                        // One a test killed already is not one this stop had to kill.
                        let was_running = p.pid().is_some();
                        scope.spawn(move || {
                            (was_running && p.terminate(timeout).is_none()).then_some(name)
                        })
                    })
                    .collect();
                waits
                    .into_iter()
                    .filter_map(|w| w.join().ok().flatten())
                    .collect()
            })
        };
        let zones = self
            .zones
            .iter_mut()
            .enumerate()
            .map(|(i, z)| (format!("zone-server-{i}"), z))
            .collect();
        killed.extend(in_parallel(zones));
        killed.extend(in_parallel(vec![(
            "server-manager".into(),
            &mut self.manager,
        )]));
        killed.extend(in_parallel(vec![
            ("quest-api".into(), &mut self.quests),
            ("character-api".into(), &mut self.characters),
        ]));
        let single = self.nats_peers.is_empty();
        let nats = std::iter::once(&mut self.nats)
            .chain(self.nats_peers.iter_mut())
            .enumerate()
            .map(|(i, n)| {
                let name = if single {
                    "nats-server".to_owned()
                } else {
                    format!("nats-server-{}", i + 1)
                };
                (name, n.process())
            })
            .collect();
        killed.extend(in_parallel(nats));
        killed
    }
}
