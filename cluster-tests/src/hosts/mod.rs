//! A whole cluster spread over simulated hosts (network namespaces on one bridge, see
//! `test_support::netns`), one NATS node per host, routed into a NATS cluster with auth on:
//!
//! | host | runs |
//! | --- | --- |
//! | `control` | nats-1, the server-manager |
//! | `data` | nats-2, character-api, quest-api |
//! | `zone-a` | nats-3, zone-server `zone-a-1` (one zone: area 0-0), `zone-a-2` (one idle zone) |
//! | `zone-b` | nats-4, zone-server `zone-b-1` (two zones: area 1-0 and an idle one) |
//!
//! Every process lists its own host's NATS node first (and the others after it, to fail
//! over to). The areas players cross between, 0-0 and 1-0, are owned on different hosts,
//! and each zone host keeps an idle zone to take the other's area over. Bots play from the
//! root namespace, reaching every service at its host's address; the APIs live on a host of
//! their own so that cutting the manager's host off leaves saves and handoffs working.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::AreaId;
use protocol::http::manager::{AreaInfo, ZoneInfo};
use test_support::netns::{Host, NetnsError, Network};
use test_support::{ManagedProcess, NatsCluster, NodePlacement, ProcessSpec, binary};

use crate::Secrets;
use crate::bot::BotConfig;

/// The hosts, in the order their addresses are given.
pub const HOSTS: [&str; 4] = ["control", "data", "zone-a", "zone-b"];

/// The areas bots cross between: owned on `zone-a` and `zone-b`.
pub const WEST: AreaId = AreaId::new(0, 0);
/// See [`WEST`].
pub const EAST: AreaId = AreaId::new(1, 0);

const NATS_PORT: u16 = 4222;
const ROUTE_PORT: u16 = 6222;
const MONITOR_PORT: u16 = 8222;
const MANAGER_PORT: u16 = 7100;
const CHARACTER_API_PORT: u16 = 7101;
const QUEST_API_PORT: u16 = 7102;

/// How long a placement step (an allocation the harness asks for) may take.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    /// Namespaces cannot be made here: tests skip (the reason says why).
    #[error("{0}")]
    Unavailable(String),
    /// Something failed.
    #[error("{0}")]
    Failed(String),
}

impl From<std::io::Error> for HostsError {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.to_string())
    }
}

/// One zone-server process and the host it runs on.
#[derive(Debug)]
pub struct PlacedZone {
    /// Its name (`zone-a-1`, …): its log is `<name>.log`.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// The process.
    pub process: ManagedProcess,
}

/// A running cluster over simulated hosts. Dropping it kills every process and deletes the
/// namespaces, the bridge and the rules.
#[derive(Debug)]
pub struct HostCluster {
    /// The server-manager (on `control`).
    pub manager: ManagedProcess,
    /// character-api (on `data`).
    pub characters: ManagedProcess,
    /// quest-api (on `data`).
    pub quests: ManagedProcess,
    /// The zone-server processes.
    pub zones: Vec<PlacedZone>,
    /// The NATS cluster, node `i` on host `HOSTS[i]`.
    pub nats: NatsCluster,
    /// The secrets in use.
    pub secrets: Secrets,
    dir: PathBuf,
    network: Network,
    _temp: Option<tempfile::TempDir>,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

impl HostCluster {
    /// Makes the hosts and starts everything, with data and logs under `dir` (a temp dir
    /// when `None`). It blocks its worker thread while processes start: run it on a
    /// multi-threaded runtime.
    pub async fn start(dir: Option<&Path>) -> Result<Self, HostsError> {
        tokio::task::block_in_place(|| Self::start_processes(dir))?
            .place_zones()
            .await
    }

    fn start_processes(dir: Option<&Path>) -> Result<Self, HostsError> {
        let network = Network::create(&HOSTS).map_err(|e| match e {
            NetnsError::Unavailable(why) => HostsError::Unavailable(why),
            NetnsError::Failed(why) => HostsError::Failed(why),
        })?;
        let temp = match dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let dir = dir
            .map(Path::to_path_buf)
            .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
            .unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        let placements = network
            .hosts()
            .iter()
            .map(|h| NodePlacement {
                client: h.addr(NATS_PORT),
                route: h.addr(ROUTE_PORT),
                monitor: h.addr(MONITOR_PORT),
                launcher: h.launcher(),
            })
            .collect();
        let nats = NatsCluster::start_placed(&dir, 8, placements)?;
        let secrets = Secrets::default();
        let host = |name: &str| -> Result<Host, HostsError> {
            network
                .host(name)
                .cloned()
                .ok_or_else(|| HostsError::Failed(format!("no host {name}")))
        };
        let data = host("data")?;
        let api = |name: &str, port: u16| -> Result<ManagedProcess, HostsError> {
            let listen = data.addr(port);
            let spec = data.spec(name, &binary(name)?, listen).args(strings(&[
                "--listen",
                &listen.to_string(),
                "--data-dir",
                &dir.join(name).display().to_string(),
                "--service-token",
                &secrets.service_token,
            ]));
            Ok(ManagedProcess::start(spec, &dir)?)
        };
        let characters = api("character-api", CHARACTER_API_PORT)?;
        let quests = api("quest-api", QUEST_API_PORT)?;

        let control = host("control")?;
        let manager_addr = control.addr(MANAGER_PORT);
        let manager_spec = control
            .spec("server-manager", &binary("server-manager")?, manager_addr)
            .args(strings(&[
                "--listen",
                &manager_addr.to_string(),
                "--data-dir",
                &dir.join("server-manager").display().to_string(),
                "--nats-url",
                &nats.url_from(0),
                "--nats-creds",
                &nats.creds("manager").display().to_string(),
                "--character-api",
                &format!("http://{}", characters.addr()),
                "--service-token",
                &secrets.service_token,
                "--jwt-secret",
                &secrets.jwt_secret,
                "--admin-token",
                &secrets.admin_token,
            ]));
        let manager = ManagedProcess::start(manager_spec, &dir)?;
        Ok(Self {
            manager,
            characters,
            quests,
            zones: Vec::new(),
            nats,
            secrets,
            dir,
            network,
            _temp: temp,
        })
    }

    /// Starts the zone-servers one by one, so the manager can only pick the zone meant for
    /// each area.
    async fn place_zones(mut self) -> Result<Self, HostsError> {
        tokio::task::block_in_place(|| self.start_zone("zone-a-1", "zone-a", 7200, 1))?;
        self.allocate(WEST, "zone-a-1").await?;
        tokio::task::block_in_place(|| self.start_zone("zone-b-1", "zone-b", 7200, 2))?;
        self.allocate(EAST, "zone-b-1").await?;
        tokio::task::block_in_place(|| self.start_zone("zone-a-2", "zone-a", 7201, 1))?;
        Ok(self)
    }

    fn start_zone(
        &mut self,
        name: &str,
        host_name: &str,
        port: u16,
        slots: u16,
    ) -> Result<(), HostsError> {
        let host = self
            .host(host_name)
            .ok_or_else(|| HostsError::Failed(format!("no host {host_name}")))?
            .clone();
        let node = HOSTS.iter().position(|h| *h == host_name).unwrap_or(0);
        let listen = host.addr(port);
        let identity = format!("zone-{}", self.zones.len() + 1);
        let spec: ProcessSpec = host
            .spec(name, &binary("zone-server")?, listen)
            .args(strings(&[
                "--listen",
                &listen.to_string(),
                "--nats-url",
                &self.nats.url_from(node),
                "--nats-creds",
                &self.nats.creds(&identity).display().to_string(),
                "--slots",
                &slots.to_string(),
                "--character-api",
                &format!("http://{}", self.characters.addr()),
                "--quest-api",
                &format!("http://{}", self.quests.addr()),
                "--service-token",
                &self.secrets.service_token,
            ]));
        let process = ManagedProcess::start(spec, &self.dir)?;
        self.zones.push(PlacedZone {
            name: name.to_owned(),
            host: host_name.to_owned(),
            process,
        });
        Ok(())
    }

    /// Asks the manager to allocate `area` (operator API) until it answers, and checks it
    /// went to the zone-server `zone`.
    async fn allocate(&self, area: AreaId, zone: &str) -> Result<(), HostsError> {
        let admin = self.admin();
        let deadline = std::time::Instant::now() + PLACEMENT_TIMEOUT;
        let owner = loop {
            if admin.allocate(area).await
                && let Some(owner) = admin.owner(area).await
            {
                break Some(owner);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let owner = owner.ok_or_else(|| {
            HostsError::Failed(format!(
                "area {area} was not allocated within {PLACEMENT_TIMEOUT:?}"
            ))
        })?;
        match self.zone_of(&owner.ws_url) {
            Some(i) if self.zones[i].name == zone => Ok(()),
            other => Err(HostsError::Failed(format!(
                "area {area} went to {:?}, not {zone}",
                other.map(|i| &self.zones[i].name)
            ))),
        }
    }

    /// The simulated host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.network.host(name)
    }

    /// The index in [`HostCluster::zones`] of the zone-server serving `ws_url`.
    pub fn zone_of(&self, ws_url: &str) -> Option<usize> {
        self.zones
            .iter()
            .position(|z| ws_url.contains(&format!("//{}/", z.process.addr())))
    }

    /// The index of the NATS node on host `name`.
    pub fn nats_node_on(&self, name: &str) -> Option<usize> {
        HOSTS.iter().position(|h| *h == name)
    }

    /// The manager's base URL (from the root namespace).
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
            .map(|z| format!("http://{}", z.process.addr()))
            .collect()
    }

    /// The processes that speak NATS, by name, with their HTTP address (for `/metrics`).
    pub fn nats_clients(&self) -> Vec<(String, SocketAddr)> {
        std::iter::once(("server-manager".to_owned(), self.manager.addr()))
            .chain(
                self.zones
                    .iter()
                    .map(|z| (z.name.clone(), z.process.addr())),
            )
            .collect()
    }

    /// A bot configuration for this cluster.
    pub fn bot_config(&self) -> BotConfig {
        BotConfig {
            manager_url: self.manager_url(),
            character_api_url: self.character_api_url(),
            service_token: self.secrets.service_token.clone(),
            jwt_secret: self.secrets.jwt_secret.clone(),
        }
    }

    /// The manager's operator API.
    pub fn admin(&self) -> Admin {
        Admin {
            http: http_client(),
            base: self.manager_url(),
            token: self.secrets.admin_token.clone(),
        }
    }

    /// Where data and logs live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default()
}

/// The manager's operator API, as the drills read it.
#[derive(Debug, Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// `GET url` with a bearer token, as JSON; `None` while the service does not answer or
/// refuses.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Option<T> {
    let response = http.get(url).bearer_auth(token).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

impl Admin {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Option<T> {
        get_json(&self.http, &format!("{}{path}", self.base), &self.token).await
    }

    /// `POST /v1/areas/{area}/allocate`; whether it answered 200.
    pub async fn allocate(&self, area: AreaId) -> bool {
        self.http
            .post(format!("{}/v1/areas/{area}/allocate", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// `GET /v1/areas`; `None` while the manager does not answer.
    pub async fn areas(&self) -> Option<Vec<AreaInfo>> {
        self.get("/v1/areas").await
    }

    /// One area as the manager sees it.
    pub async fn area(&self, area: AreaId) -> Option<AreaInfo> {
        self.areas().await?.into_iter().find(|a| a.area == area)
    }

    /// `GET /v1/zones`.
    pub async fn zones(&self) -> Option<Vec<ZoneInfo>> {
        self.get("/v1/zones").await
    }

    /// The zone owning `area`, with its details.
    pub async fn owner(&self, area: AreaId) -> Option<ZoneInfo> {
        let owner = self.area(area).await?.zone?;
        self.zones().await?.into_iter().find(|z| z.zone == owner)
    }
}
