//! Settings: flags with environment fallbacks (DESIGN.md, "Processes and how they start").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use protocol::cluster::Subjects;
use protocol::{AreaId, WorldGrid};
use service_kit::logging::LogFormat;
use service_kit::nats::NatsArgs;

/// The zone-server command line.
#[derive(Debug, Parser)]
#[command(
    name = "zone-server",
    version,
    about = "Hosts zone actors that simulate areas of the world"
)]
pub struct Args {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe this server's `/readyz` (for containers without curl); exit 0 when ready.
    Healthcheck,
}

/// Everything a zone-server process needs to run.
#[derive(Debug, Clone, Parser)]
pub struct Config {
    /// Address for WebSocket (`/ws`), health and metrics.
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:7200", global = true)]
    pub listen: SocketAddr,
    /// Serve on the first free port from `--listen`'s port up to this one (several
    /// zone-servers sharing one network namespace, e.g. compose replicas on the host network).
    #[arg(long, env = "LISTEN_PORT_LAST", global = true)]
    pub listen_port_last: Option<u16>,
    /// Write the port actually bound to this file; `healthcheck` then probes that port.
    #[arg(long, env = "PORT_FILE", global = true)]
    pub port_file: Option<PathBuf>,
    /// The WebSocket URL clients are sent to (default: `ws://<bound address>/ws`); `{port}`
    /// in it stands for the port bound (see `--listen-port-last`).
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// NATS: the server(s) and this zone-server's credentials.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Prefix of every NATS subject of this cluster.
    #[arg(long, env = "NATS_PREFIX", default_value = Subjects::DEFAULT_PREFIX, global = true)]
    pub nats_prefix: String,
    /// character-api base URL.
    #[arg(
        long,
        env = "CHARACTER_API_URL",
        default_value = "http://127.0.0.1:7101",
        global = true
    )]
    pub character_api: String,
    /// quest-api base URL.
    #[arg(
        long,
        env = "QUEST_API_URL",
        default_value = "http://127.0.0.1:7102",
        global = true
    )]
    pub quest_api: String,
    /// Bearer token for the two APIs.
    #[arg(
        long,
        env = "SERVICE_TOKEN",
        hide_env_values = true,
        default_value = "",
        global = true
    )]
    pub service_token: String,
    /// Zone actors in this process.
    #[arg(long, env = "SLOTS", default_value_t = 2, global = true)]
    pub slots: u16,
    /// Ticks per second.
    #[arg(long, env = "TICK_RATE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=60), global = true)]
    pub tick_rate: u32,
    /// World grid: areas west to east.
    #[arg(long, env = "GRID_COLUMNS", default_value_t = 4, global = true)]
    pub grid_columns: u16,
    /// World grid: areas north to south.
    #[arg(long, env = "GRID_ROWS", default_value_t = 4, global = true)]
    pub grid_rows: u16,
    /// World grid: edge of one area, metres.
    #[arg(long, env = "AREA_SIZE", default_value_t = 128.0, global = true)]
    pub area_size: f32,
    /// How far past a border a player walks before being handed on, metres.
    #[arg(long, env = "HANDOFF_MARGIN", default_value_t = 2.0, global = true)]
    pub handoff_margin: f32,
    /// Players one area takes at most: joins into a full area are answered 503 with
    /// `Retry-After` by the manager, handoffs into it refused (the player is held at the
    /// border and the handoff retried).
    #[arg(long, env = "AREA_CAPACITY", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub area_capacity: u32,
    /// Capacities of particular areas, instead of `--area-capacity`: `AREA=PLAYERS`,
    /// comma-separated (e.g. `1-0=500,2-3=300`: a town square takes fewer than a field).
    #[arg(long, env = "AREA_CAPACITIES", value_delimiter = ',', value_parser = parse_area_capacity, global = true)]
    pub area_capacities: Vec<AreaCapacity>,
    /// The slowest the zone's clock runs when its tick overruns the budget (time
    /// dilation), percent of real time.
    #[arg(long, env = "DILATION_FLOOR", default_value_t = 50, value_parser = clap::value_parser!(u8).range(10..=100), global = true)]
    pub dilation_floor: u8,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    pub log_format: LogFormat,
}

impl Config {
    /// Settings for tests and tools: everything default but NATS and the URLs given.
    pub fn new(nats: NatsArgs, character_api: &str, quest_api: &str, service_token: &str) -> Self {
        let mut config = Args::parse_from(["zone-server"]).config;
        config.nats = nats;
        config.character_api = character_api.to_owned();
        config.quest_api = quest_api.to_owned();
        config.service_token = service_token.to_owned();
        config
    }

    /// The world grid, validated.
    pub fn grid(&self) -> anyhow::Result<WorldGrid> {
        let grid = WorldGrid {
            columns: self.grid_columns,
            rows: self.grid_rows,
            area_size: self.area_size,
            origin_x: 0.0,
            origin_z: 0.0,
            handoff_margin: self.handoff_margin,
        };
        grid.validate()?;
        Ok(grid)
    }

    /// The NATS subjects of this cluster.
    pub fn subjects(&self) -> anyhow::Result<Subjects> {
        Ok(Subjects::new(&self.nats_prefix)?)
    }

    /// The URL clients connect to, given the address actually bound.
    pub fn ws_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.replace("{port}", &bound.port().to_string()),
            None => format!("ws://{bound}/ws"),
        }
    }

    /// The addresses to try binding, in order: `--listen`, then each next port up to
    /// `--listen-port-last`.
    pub fn listen_candidates(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let first = self.listen.port();
        let last = self.listen_port_last.unwrap_or(first);
        anyhow::ensure!(
            last >= first,
            "--listen-port-last ({last}) is below the port of --listen ({first})"
        );
        Ok((first..=last)
            .map(|port| SocketAddr::new(self.listen.ip(), port))
            .collect())
    }

    /// The players `area` takes at most.
    pub fn capacity_of(&self, area: AreaId) -> u32 {
        self.area_capacities
            .iter()
            .rev()
            .find(|c| c.area == area)
            .map_or(self.area_capacity, |c| c.players)
    }

    /// One tick.
    pub fn tick_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.tick_rate))
    }
}

/// One area's own capacity (`--area-capacities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaCapacity {
    /// The area.
    pub area: AreaId,
    /// The players it takes at most (at least 1).
    pub players: u32,
}

/// `AREA=PLAYERS`, e.g. `1-0=500`.
fn parse_area_capacity(s: &str) -> Result<AreaCapacity, String> {
    let (area, players) = s
        .split_once('=')
        .ok_or_else(|| format!("expected `<area>=<players>` such as `1-0=500`, got `{s}`"))?;
    let area = area.trim().parse().map_err(|e| format!("{e}"))?;
    let players = players
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            format!("the capacity of {area} must be a whole number of at least 1, got `{players}`")
        })?;
    Ok(AreaCapacity { area, players })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_may_have_capacities_of_their_own() {
        let args = Args::parse_from([
            "zone-server",
            "--area-capacity",
            "300",
            "--area-capacities",
            "1-0=12, 2-3=40",
        ])
        .config;
        assert_eq!(args.capacity_of(AreaId::new(1, 0)), 12);
        assert_eq!(args.capacity_of(AreaId::new(2, 3)), 40);
        assert_eq!(args.capacity_of(AreaId::new(0, 0)), 300);
        for bad in ["1-0", "1-0=0", "1-0=-3", "x=5", "1-0=many"] {
            let parsed = Args::try_parse_from(["zone-server", "--area-capacities", bad]);
            assert!(parsed.is_err(), "{bad}");
        }
        assert!(Args::try_parse_from(["zone-server", "--area-capacity", "0"]).is_err());
    }

    #[test]
    fn public_url_names_the_bound_port() {
        let mut args = Args::parse_from(["zone-server", "--listen", "0.0.0.0:7200"]).config;
        let bound: SocketAddr = "0.0.0.0:7203".parse().unwrap();
        assert_eq!(args.ws_url(bound), "ws://0.0.0.0:7203/ws");
        args.public_url = Some("ws://10.0.0.5:{port}/ws".into());
        assert_eq!(args.ws_url(bound), "ws://10.0.0.5:7203/ws");
    }

    #[test]
    fn listen_candidates_span_the_port_range() {
        let args = Args::parse_from([
            "zone-server",
            "--listen",
            "127.0.0.1:7200",
            "--listen-port-last",
            "7202",
        ]);
        let ports: Vec<u16> = args
            .config
            .listen_candidates()
            .unwrap()
            .iter()
            .map(|a| a.port())
            .collect();
        assert_eq!(ports, [7200, 7201, 7202]);
        let single = Args::parse_from(["zone-server"]).config;
        assert_eq!(single.listen_candidates().unwrap().len(), 1);
        let backwards = Args::parse_from(["zone-server", "--listen-port-last", "7100"]).config;
        assert!(backwards.listen_candidates().is_err());
    }
}
