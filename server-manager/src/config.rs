//! The manager's settings: the [`Config`] the library runs with, and the command line
//! ([`Cli`]) the binary fills it from. Every flag has an environment fallback (clap `env`),
//! so containers configure the manager without a wrapper script.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use protocol::cluster::Subjects;
use protocol::{AccountId, AreaId, WorldGrid};
use service_kit::logging::LogFormat;
use service_kit::nats::NatsArgs;

/// The default listen address, fixed by the design (`DESIGN.md`, "Processes").
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7100";
/// The default NATS server.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// The default character-api base URL.
pub const DEFAULT_CHARACTER_API: &str = "http://127.0.0.1:7101";
/// The largest grid the manager accepts, in areas: `GET /v1/areas` and the dashboard list
/// every area, so the grid must stay a size a page and a response can hold.
pub const MAX_GRID_AREAS: u32 = 65_536;

/// Why a setting is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A secret was not given.
    #[error("{0} is required (flag or environment variable)")]
    Missing(&'static str),
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
}

/// How the manager runs. Built from [`Settings`] by the binary, directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where sled keeps the epoch counter. One manager per directory (sled locks it).
    pub data_dir: PathBuf,
    /// The NATS server(s) and the manager role's credentials.
    pub nats: NatsArgs,
    /// The subject prefix shared by the whole cluster.
    pub nats_prefix: String,
    /// The character-api base URL, e.g. `http://127.0.0.1:7101`.
    pub character_api: String,
    /// The bearer token for character-api.
    pub service_token: String,
    /// The HS256 secret players' join tokens are signed with.
    pub jwt_secret: String,
    /// The bearer token of the operator API.
    pub admin_token: String,
    /// The world grid (shared with every zone).
    pub grid: WorldGrid,
    /// Idle zones the pool should keep; `GET /v1/pool` reports the change to make.
    pub idle_buffer: Option<u32>,
    /// How long an allocated area may stay without players before it is released.
    pub release_grace: Duration,
    /// Areas kept allocated at all times (allocated as soon as zones are available), so the
    /// first player there does not wait for an allocation.
    pub spawn_areas: Vec<AreaId>,
    /// How often zones heartbeat (sent to them in `RegisterAck`).
    pub heartbeat_interval: Duration,
    /// A zone silent for this long is Unhealthy (3 missed heartbeats by default).
    pub heartbeat_timeout: Duration,
    /// How long a join ticket stays valid.
    pub ticket_ttl: Duration,
    /// How long to wait for a zone's answer to `Allocate`, `Release` and `LostArea`.
    pub zone_timeout: Duration,
    /// How long to wait for a zone's answer to `Expect` (it preloads from both APIs).
    pub expect_timeout: Duration,
    /// How long a draining zone may take to answer `Migrate`.
    pub migrate_timeout: Duration,
    /// The `Retry-After` sent with a 503 when no idle zone is left.
    pub retry_after: Duration,
    /// After a restart, how long to listen to heartbeats before allocating areas nobody
    /// claimed. `None`: the heartbeat timeout when the store has issued epochs before (zones
    /// may hold areas), zero on a fresh store.
    pub settle: Option<Duration>,
    /// Epochs reserved (persisted) per sled flush; see `store`.
    pub epoch_block: u64,
    /// HTTP worker threads; `None` for actix-web's default (one per core).
    pub workers: Option<usize>,
    /// An Unhealthy zone is forgotten after this long without a heartbeat.
    pub forget_after: Duration,
    /// Serve the development login (`POST /v1/dev/login`): a character and a join token for
    /// any name, no questions asked. Off unless asked for; never for players who matter.
    pub dev_login: bool,
}

impl Config {
    /// Settings with the three secrets and a data dir, everything else at its default.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        service_token: impl Into<String>,
        jwt_secret: impl Into<String>,
        admin_token: impl Into<String>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            nats: NatsArgs::open(DEFAULT_NATS_URL),
            nats_prefix: Subjects::DEFAULT_PREFIX.to_owned(),
            character_api: DEFAULT_CHARACTER_API.to_owned(),
            service_token: service_token.into(),
            jwt_secret: jwt_secret.into(),
            admin_token: admin_token.into(),
            grid: WorldGrid::default(),
            idle_buffer: None,
            release_grace: Duration::from_secs(60),
            spawn_areas: vec![AreaId::new(0, 0)],
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(3),
            ticket_ttl: Duration::from_secs(30),
            zone_timeout: Duration::from_secs(2),
            expect_timeout: Duration::from_secs(5),
            migrate_timeout: Duration::from_secs(30),
            retry_after: Duration::from_secs(2),
            settle: None,
            epoch_block: 256,
            workers: None,
            forget_after: Duration::from_secs(300),
            dev_login: false,
        }
    }

    /// The subject builder for the configured prefix.
    pub fn subjects(&self) -> Result<Subjects, ConfigError> {
        Subjects::new(&self.nats_prefix).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Checks everything that would make the manager unusable or unsafe.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let secret = |value: &str, name: &'static str| -> Result<(), ConfigError> {
            if value.trim().is_empty() {
                return Err(ConfigError::Missing(name));
            }
            if !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be printable ASCII without spaces (it travels in a header)"
                )));
            }
            Ok(())
        };
        secret(&self.service_token, "--service-token / SERVICE_TOKEN")?;
        secret(&self.admin_token, "--admin-token / ADMIN_TOKEN")?;
        if self.jwt_secret.is_empty() {
            return Err(ConfigError::Missing("--jwt-secret / JWT_SECRET"));
        }
        self.subjects()?;
        self.grid
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let cells = u32::from(self.grid.columns) * u32::from(self.grid.rows);
        if cells > MAX_GRID_AREAS {
            return Err(ConfigError::Invalid(format!(
                "the grid has {cells} areas; the manager supports at most {MAX_GRID_AREAS}"
            )));
        }
        if let Some(a) = self.spawn_areas.iter().find(|a| !self.grid.contains(**a)) {
            return Err(ConfigError::Invalid(format!(
                "spawn area {a} is outside the {}x{} grid",
                self.grid.columns, self.grid.rows
            )));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval > Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "the heartbeat interval must be between 1 ms and 60 s".into(),
            ));
        }
        if self.heartbeat_timeout < self.heartbeat_interval {
            return Err(ConfigError::Invalid(
                "the heartbeat timeout must be at least one heartbeat interval".into(),
            ));
        }
        for (d, name) in [
            (self.ticket_ttl, "ticket TTL"),
            (self.zone_timeout, "zone timeout"),
            (self.expect_timeout, "expect timeout"),
            (self.migrate_timeout, "migrate timeout"),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid(format!("the {name} must not be zero")));
            }
        }
        if self.epoch_block == 0 {
            return Err(ConfigError::Invalid(
                "the epoch block must be at least 1".into(),
            ));
        }
        if self.workers == Some(0) {
            return Err(ConfigError::Invalid("workers must be at least 1".into()));
        }
        url_ok(&self.character_api)?;
        Ok(())
    }
}

fn url_ok(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "the character-api URL must start with http:// or https://, got `{url}`"
        )))
    }
}

/// A duration from text: `250ms`, `3s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 250ms, 3s, 2m or 1h"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}`")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("`{text}`: {e}"))
}

/// A comma-separated list of areas (`0-0,1-0`); empty for none.
pub fn parse_areas(text: &str) -> Result<Vec<AreaId>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<AreaId>().map_err(|e| e.to_string()))
        .collect()
}

/// The zone cluster's control plane: zone pool, area map, player routing, operator API and
/// live dashboard.
#[derive(Debug, Parser)]
#[command(name = "server-manager", version)]
pub struct Cli {
    /// What to do (default: run the manager).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The manager's settings.
    #[command(flatten)]
    pub settings: Settings,
}

/// The subcommands next to the default "run".
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a development join token (HS256, signed with --jwt-secret) for an account.
    Token {
        /// The account the token names (its `sub`).
        #[arg(long)]
        account: AccountId,
        /// How long the token is valid (e.g. 30m, 1h).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// Probe this manager's /readyz (for containers without curl); exit 0 when ready.
    Healthcheck,
    /// Make (or bring up to date) a deployment's NATS security in a directory: an nkey seed
    /// per role instance (`manager.nk`, `zone-1.nk` …, each a process's `--nats-creds`)
    /// and `nats-server.conf` admitting exactly those keys with their subject permissions.
    /// Existing keys are kept; run it again after `--rotate`/`--retire`, then reload
    /// nats-server (`nats-server --signal reload`).
    NatsSecurity {
        /// The directory (created if missing).
        #[arg(long, default_value = "nats-security")]
        out: PathBuf,
        /// zone-server identities to have (`zone-1` … `zone-N`); existing ones are kept.
        #[arg(long, default_value_t = 4)]
        zones: usize,
        /// Give these roles (e.g. `zone-2`) a new key; the old one stays admitted until
        /// retired.
        #[arg(long, value_delimiter = ',')]
        rotate: Vec<String>,
        /// Drop these roles' old (retiring) keys.
        #[arg(long, value_delimiter = ',')]
        retire: Vec<String>,
    },
}

/// Flags with environment fallbacks. Global, so they may follow a subcommand
/// (`server-manager token --account … --jwt-secret …`).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address for HTTP (join, operator API, dashboard, health, metrics).
    #[arg(long, env = "LISTEN", default_value = DEFAULT_LISTEN, global = true)]
    pub listen: SocketAddr,
    /// Directory of the sled database holding the epoch counter (created if missing).
    #[arg(
        long,
        env = "DATA_DIR",
        default_value = "data/server-manager",
        global = true
    )]
    pub data_dir: PathBuf,
    /// NATS: the server(s) and this role's credentials.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Prefix of every NATS subject of this cluster.
    #[arg(long, env = "NATS_PREFIX", default_value = Subjects::DEFAULT_PREFIX, global = true)]
    pub nats_prefix: String,
    /// character-api base URL.
    #[arg(long, env = "CHARACTER_API_URL", default_value = DEFAULT_CHARACTER_API, global = true)]
    pub character_api: String,
    /// Bearer token for character-api.
    #[arg(long, env = "SERVICE_TOKEN", hide_env_values = true, global = true)]
    pub service_token: Option<String>,
    /// HS256 secret of players' join tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// Bearer token of the operator API.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,
    /// Areas west to east.
    #[arg(long, env = "GRID_COLUMNS", default_value_t = 4, global = true)]
    pub grid_columns: u16,
    /// Areas north to south.
    #[arg(long, env = "GRID_ROWS", default_value_t = 4, global = true)]
    pub grid_rows: u16,
    /// Edge of one square area, metres.
    #[arg(long, env = "AREA_SIZE", default_value_t = 128.0, global = true)]
    pub area_size: f32,
    /// Idle zones to keep; `GET /v1/pool` then reports how many slots to add or remove.
    #[arg(long, env = "IDLE_BUFFER", global = true)]
    pub idle_buffer: Option<u32>,
    /// How long an area without players stays allocated before its zone is released.
    #[arg(long, env = "RELEASE_GRACE", default_value = "60s", value_parser = parse_duration, global = true)]
    pub release_grace: Duration,
    /// Areas always kept allocated, comma-separated (`0-0,1-0`); empty for none.
    #[arg(long, env = "SPAWN_AREAS", default_value = "0-0", value_parser = parse_areas, global = true)]
    pub spawn_areas: std::vec::Vec<AreaId>,
    /// How often zones heartbeat (told to them when they register).
    #[arg(long, env = "HEARTBEAT_INTERVAL", default_value = "1s", value_parser = parse_duration, global = true)]
    pub heartbeat_interval: Duration,
    /// Silence after which a zone is Unhealthy and its area reallocated.
    #[arg(long, env = "HEARTBEAT_TIMEOUT", default_value = "3s", value_parser = parse_duration, global = true)]
    pub heartbeat_timeout: Duration,
    /// How long a join ticket is valid.
    #[arg(long, env = "TICKET_TTL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub ticket_ttl: Duration,
    /// Wait after a start before allocating unclaimed areas (default: the heartbeat
    /// timeout if epochs were issued before, else none).
    #[arg(long, env = "SETTLE", value_parser = parse_duration, global = true)]
    pub settle: Option<Duration>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Development only: serve `POST /v1/dev/login`, which gives anyone who picks a name a
    /// character and a join token. Never in production, where the game's identity provider
    /// issues the tokens.
    #[arg(long, env = "DEV_LOGIN", global = true)]
    pub dev_login: bool,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    pub log_format: LogFormat,
}

impl Settings {
    /// The library configuration these settings describe, validated.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut c = Config::new(
            self.data_dir,
            self.service_token.unwrap_or_default(),
            self.jwt_secret.unwrap_or_default(),
            self.admin_token.unwrap_or_default(),
        );
        c.nats = self.nats;
        c.nats_prefix = self.nats_prefix;
        c.character_api = self.character_api.trim_end_matches('/').to_owned();
        c.grid = WorldGrid {
            columns: self.grid_columns,
            rows: self.grid_rows,
            area_size: self.area_size,
            ..WorldGrid::default()
        };
        c.idle_buffer = self.idle_buffer;
        c.release_grace = self.release_grace;
        c.spawn_areas = self.spawn_areas;
        c.heartbeat_interval = self.heartbeat_interval;
        c.heartbeat_timeout = self.heartbeat_timeout;
        c.ticket_ttl = self.ticket_ttl;
        c.settle = self.settle;
        c.workers = self.workers;
        c.dev_login = self.dev_login;
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "3x", "-1s", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn areas() {
        assert_eq!(
            parse_areas("0-0, 1-2"),
            Ok(vec![AreaId::new(0, 0), AreaId::new(1, 2)])
        );
        assert_eq!(parse_areas(""), Ok(vec![]));
        assert!(parse_areas("0-0,x").is_err());
    }

    #[test]
    fn flags_and_subcommands_parse() {
        let cli = Cli::try_parse_from([
            "server-manager",
            "token",
            "--account",
            "7f1d2a52-2f6b-4a53-9d3a-3a4a3e6a7b10",
            "--jwt-secret",
            "s",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Token { .. })));
        assert_eq!(cli.settings.jwt_secret.as_deref(), Some("s"));

        let cli = Cli::try_parse_from([
            "server-manager",
            "--service-token=a",
            "--jwt-secret=b",
            "--admin-token=c",
            "--spawn-areas=",
            "--heartbeat-interval=200ms",
            "--heartbeat-timeout=600ms",
        ])
        .unwrap();
        let config = cli.settings.into_config().unwrap();
        assert!(config.spawn_areas.is_empty());
        assert_eq!(config.heartbeat_timeout, Duration::from_millis(600));
        assert!(
            !config.dev_login,
            "the development login is off unless asked for"
        );

        let secrets = [
            "server-manager",
            "--service-token=a",
            "--jwt-secret=b",
            "--admin-token=c",
        ];
        let cli = Cli::try_parse_from(secrets.iter().copied().chain(["--dev-login"])).unwrap();
        assert!(cli.settings.into_config().unwrap().dev_login);
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = Config::new("/tmp/x", "svc", "jwt", "adm");
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.admin_token = String::new();
        assert!(matches!(c.validate(), Err(ConfigError::Missing(_))));
        let mut c = ok.clone();
        c.spawn_areas = vec![AreaId::new(9, 9)];
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.nats_prefix = "a b".into();
        assert!(c.validate().is_err());
        let mut c = ok;
        c.heartbeat_timeout = Duration::from_millis(10);
        assert!(c.validate().is_err());
    }
}
