//! Connecting to NATS as a role of the cluster, with what NATS clients natively support:
//!
//! - **credentials** (`--nats-creds`/`NATS_CREDS`): an nkey seed file (what
//!   [`security`] makes: the server holds only public keys and checks a signed challenge, so
//!   no secret crosses the wire or sits on the NATS host), or a NATS `.creds` file (a user
//!   JWT and its seed, for deployments run in NATS's operator/JWT mode);
//! - **user/password or a token in the URL** (`nats://user:pass@host`, `nats://token@host`),
//!   passed on as NATS clients normally do;
//! - **TLS**: a `tls://` URL requires it; `--nats-ca`/`NATS_CA` names the CA that signed the
//!   server's certificate (and implies TLS);
//! - **several servers** (the nodes of a NATS cluster): a comma-separated `NATS_URL`. The
//!   client tries them in the order given (list the node nearest the process first: on its
//!   host), and when its server dies or stops answering pings it fails over to the next
//!   with backoff, resubscribing everything. A request in flight when the connection drops
//!   is sent again on the new connection by the client's buffer, and its caller gets the
//!   answer or, after the request timeout, an error: never silence. Each failover is
//!   logged with how long the process was without NATS, and counted in
//!   `nats_reconnects_total` and `nats_failover_seconds`. Once the first server listed is up
//!   again, the client goes back to it (`failback.rs`; `nats_failbacks_total`).
//!
//! The connection's [`Identity`] (the nkey's public key, or `--nats-identity`, or the URL's
//! user name) is the last token of every subject the process sends on, and names the
//! inbox its replies come to (see `protocol::cluster::subjects`).

mod failback;
pub mod security;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use protocol::cluster::{Identity, Subjects};

/// The NATS settings every NATS-speaking binary takes (flattened into its clap args).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL, or several separated by commas (`nats://`, or `tls://` to require
    /// TLS); user/password or a token may be embedded (`nats://user:pass@host:4222`).
    #[arg(
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub url: String,
    /// This role's NATS credentials: an nkey seed file (as `server-manager nats-security`
    /// writes) or a NATS `.creds` file.
    #[arg(long = "nats-creds", env = "NATS_CREDS", global = true)]
    pub creds: Option<PathBuf>,
    /// A directory of credentials shared by several replicas of one role (`zone-*.nk`, as
    /// `server-manager nats-security` writes): the process claims the first one no other
    /// process on this host holds (a file lock, released when the process ends). For
    /// replicas that cannot be given a file each, e.g. `docker compose --scale`.
    #[arg(
        long = "nats-creds-pool",
        env = "NATS_CREDS_POOL",
        global = true,
        conflicts_with = "creds"
    )]
    pub creds_pool: Option<PathBuf>,
    /// CA certificate (PEM) that signed the NATS server's certificate; implies TLS.
    #[arg(long = "nats-ca", env = "NATS_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// The identity this process sends as, when its credentials do not name one (user/
    /// password or token auth); must match the server's permissions for it.
    #[arg(long = "nats-identity", env = "NATS_IDENTITY", global = true)]
    pub identity: Option<String>,
}

impl NatsArgs {
    /// Settings for `url` with no credentials (tests of an open server, tools).
    pub fn open(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            creds: None,
            creds_pool: None,
            ca: None,
            identity: None,
        }
    }

    /// Settings for `url` with the credentials in `creds`.
    pub fn with_creds(url: &str, creds: &Path) -> Self {
        Self {
            creds: Some(creds.to_owned()),
            ..Self::open(url)
        }
    }
}

/// Why the NATS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// A server URL does not parse.
    #[error("bad NATS URL `{0}`: {1}")]
    Url(String, String),
    /// The credentials file cannot be read or holds no usable key.
    #[error("NATS credentials {0}: {1}")]
    Creds(PathBuf, String),
    /// Every credential of the pool is held by another process.
    #[error("NATS credentials pool {0}: {1}")]
    Pool(PathBuf, String),
    /// The identity is not a subject token.
    #[error(transparent)]
    Identity(#[from] protocol::cluster::SubjectError),
    /// The client could not be set up.
    #[error("cannot connect to NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// A NATS connection and the identity it sends as.
#[derive(Debug, Clone)]
pub struct Nats {
    /// The client.
    pub client: Client,
    /// Who the server knows this connection as.
    pub identity: Identity,
}

/// What the credentials say: how to authenticate and who that makes this process.
struct Credentials {
    options: ConnectOptions,
    identity: Option<String>,
}

const JWT_MARKER: &str = "BEGIN NATS USER JWT";

/// The public key of an nkey seed.
pub fn public_key(seed: &str) -> Result<String, String> {
    nkeys::KeyPair::from_seed(seed.trim())
        .map(|k| k.public_key())
        .map_err(|e| e.to_string())
}

fn read_creds(path: &Path) -> Result<Credentials, NatsError> {
    let bad = |why: String| NatsError::Creds(path.to_owned(), why);
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    if text.contains(JWT_MARKER) {
        // A `.creds` file: the JWT, then the seed between its own markers.
        let seed = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU"))
            .ok_or_else(|| bad("no user seed in the .creds file".into()))?;
        let identity = public_key(seed).map_err(bad)?;
        let options = ConnectOptions::with_credentials(&text).map_err(|e| bad(e.to_string()))?;
        return Ok(Credentials {
            options,
            identity: Some(identity),
        });
    }
    let seed = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| bad("the file is empty".into()))?;
    let identity = public_key(seed).map_err(|e| bad(format!("not an nkey seed: {e}")))?;
    Ok(Credentials {
        options: ConnectOptions::with_nkey(seed.to_owned()),
        identity: Some(identity),
    })
}

/// The servers of a comma-separated URL list.
fn servers(url: &str) -> Result<Vec<ServerAddr>, NatsError> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<ServerAddr>()
                .map_err(|e| NatsError::Url(u.to_owned(), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|list| {
            if list.is_empty() {
                Err(NatsError::Url(url.to_owned(), "no server".into()))
            } else {
                Ok(list)
            }
        })
}

/// How long between reconnect attempts: 100 ms doubling to 5 s (the default climbs to
/// minutes, too slow for a cluster whose NATS node comes back).
fn reconnect_delay(attempts: usize) -> Duration {
    let exp = u32::try_from(attempts.min(6)).unwrap_or(6);
    Duration::from_millis(100 * 2u64.pow(exp)).min(Duration::from_secs(5))
}

/// How often the client pings its server: a server that stops answering two pings in a row
/// (a dead host, a partition: connections that hang instead of closing) is left for another
/// within about three intervals, not the client's default two minutes.
const PING_INTERVAL: Duration = Duration::from_secs(3);

/// Connects as the role `args` gives, naming the connection `name` on the server. Keeps
/// retrying in the background when the server is not up yet (or refuses the credentials:
/// that is logged), so a service still starts and reports not-ready meanwhile.
pub async fn connect(args: &NatsArgs, name: &str) -> Result<Nats, NatsError> {
    let servers = servers(&args.url)?;
    let claimed = match &args.creds_pool {
        Some(pool) => Some(claim(pool, "zone-")?),
        None => None,
    };
    let creds = match claimed.as_ref().or(args.creds.as_ref()) {
        Some(path) => read_creds(path)?,
        None => {
            // The user name is an identity; a token is a secret and never one (it would be
            // in every subject sent).
            let first = &servers[0];
            match (first.username(), first.password()) {
                (Some(user), Some(pass)) => Credentials {
                    options: ConnectOptions::with_user_and_password(
                        user.to_owned(),
                        pass.to_owned(),
                    ),
                    identity: Some(user.to_owned()),
                },
                (Some(token), None) => Credentials {
                    options: ConnectOptions::with_token(token.to_owned()),
                    identity: None,
                },
                _ => Credentials {
                    options: ConnectOptions::new(),
                    identity: None,
                },
            }
        }
    };
    let identity = Identity::new(
        args.identity
            .as_deref()
            .or(creds.identity.as_deref())
            .unwrap_or(Subjects::ANONYMOUS),
    )?;
    let tls = args.ca.is_some() || servers.iter().any(|s| s.tls_required());
    let outage = Outage::default();
    let mut options = creds
        .options
        .name(name)
        .custom_inbox_prefix(Subjects::inbox_prefix(&identity))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(Duration::from_secs(10)))
        .ping_interval(PING_INTERVAL)
        .retain_servers_order()
        .require_tls(tls)
        .event_callback({
            let outage = outage.clone();
            move |event| {
                let outage = outage.clone();
                async move { log_event(&event, &outage) }
            }
        });
    if let Some(ca) = &args.ca {
        options = options.add_root_certificates(ca.clone());
    }
    let nearest = (servers.len() > 1).then(|| servers[0].clone());
    let client = options.connect(servers).await?;
    if let Some(nearest) = nearest {
        failback::spawn(client.clone(), nearest, outage);
    }
    Ok(Nats { client, identity })
}

/// Claims the first `<prefix>*.nk` of `pool` that no other process holds, by an exclusive
/// lock on `<file>.lock` kept until this process exits (the identity is this process's for
/// its whole life; a process that dies releases it with its file descriptors).
fn claim(pool: &Path, prefix: &str) -> Result<PathBuf, NatsError> {
    let bad = |why: String| NatsError::Pool(pool.to_owned(), why);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(pool)
        .map_err(|e| bad(e.to_string()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                f.starts_with(prefix) && f.ends_with(".nk") && !f.contains(".retiring.")
            })
        })
        .collect();
    seeds.sort();
    for seed in seeds {
        let lock_path = seed.with_extension("nk.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| bad(format!("{}: {e}", lock_path.display())))?;
        if lock.try_lock().is_ok() {
            tracing::info!(creds = %seed.display(), "claimed NATS credentials from the pool");
            // Held until the process exits, on purpose (see above).
            Box::leak(Box::new(lock));
            return Ok(seed);
        }
    }
    Err(bad(format!(
        "every {prefix}*.nk is in use: make more with `server-manager nats-security --zones N`"
    )))
}

/// When the connection was lost, while it is, and whether the client dropped it on purpose
/// (going back to the nearest node, `failback.rs`): shared by the client's event callbacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outage(Arc<Mutex<OutageState>>);

#[derive(Debug, Default)]
struct OutageState {
    since: Option<Instant>,
    planned: bool,
}

impl Outage {
    fn state(&self) -> std::sync::MutexGuard<'_, OutageState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn began(&self) {
        self.state().since.get_or_insert_with(Instant::now);
    }

    /// The next loss of the connection is the client's own doing.
    pub(crate) fn plan(&self) {
        self.state().planned = true;
    }

    /// How long the connection was lost, if it was, and whether that was planned.
    fn ended(&self) -> Option<(Duration, bool)> {
        let mut state = self.state();
        let planned = std::mem::take(&mut state.planned);
        state.since.take().map(|since| (since.elapsed(), planned))
    }
}

fn log_event(event: &Event, outage: &Outage) {
    match event {
        Event::Connected => match outage.ended() {
            Some((without, true)) => {
                metrics::histogram!("nats_failback_seconds").record(without.as_secs_f64());
                tracing::info!(
                    without_ms = u64::try_from(without.as_millis()).unwrap_or(u64::MAX),
                    "reconnected to NATS, to the nearest node"
                );
            }
            Some((without, false)) => {
                metrics::counter!("nats_reconnects_total").increment(1);
                metrics::histogram!("nats_failover_seconds").record(without.as_secs_f64());
                tracing::info!(
                    failover_ms = u64::try_from(without.as_millis()).unwrap_or(u64::MAX),
                    "reconnected to NATS"
                );
            }
            None => tracing::info!("connected to NATS"),
        },
        Event::Disconnected => {
            outage.began();
            tracing::warn!("disconnected from NATS; reconnecting");
        }
        Event::ServerError(e) => {
            metrics::counter!("nats_server_errors_total").increment(1);
            tracing::warn!(error = %e, "NATS server error (a refused credential or permission)");
        }
        other => tracing::debug!(event = %other, "NATS event"),
    }
}

/// Flushes what was published, giving up after `within` (a client whose server is gone
/// would otherwise wait for it forever, and a process must still stop on SIGTERM).
pub async fn flush(client: &Client, within: Duration) {
    match tokio::time::timeout(within, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "NATS flush failed"),
        Err(_) => tracing::warn!(?within, "NATS flush gave up: the server is unreachable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists_split_on_commas() {
        let list = servers("nats://a:4222, tls://b:4223 ,nats://u:p@c:1").unwrap();
        assert_eq!(list.len(), 3);
        assert!(list[1].tls_required());
        assert!(list[2].has_user_pass());
        assert!(servers("").is_err());
        assert!(servers("http://x").is_err());
    }

    #[test]
    fn nkey_seed_files_name_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let pair = nkeys::KeyPair::new_user();
        let path = dir.path().join("role.nk");
        std::fs::write(&path, format!("{}\n", pair.seed().unwrap())).unwrap();
        let creds = read_creds(&path).unwrap();
        assert_eq!(creds.identity.unwrap(), pair.public_key());
        std::fs::write(&path, "not a seed").unwrap();
        assert!(read_creds(&path).is_err());
        assert!(read_creds(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_pool_hands_each_claimer_its_own_credentials() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["zone-1.nk", "zone-2.nk", "zone-2.retiring.nk", "manager.nk"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        // Within one process a second lock on the same file fails too (file locks are per
        // open file description), so this shows what two processes would see.
        let first = claim(dir.path(), "zone-").unwrap();
        let second = claim(dir.path(), "zone-").unwrap();
        assert_eq!(first.file_name().unwrap(), "zone-1.nk");
        assert_eq!(second.file_name().unwrap(), "zone-2.nk");
        assert!(claim(dir.path(), "zone-").is_err());
    }

    #[test]
    fn an_outage_is_measured_once() {
        let outage = Outage::default();
        assert_eq!(outage.ended(), None);
        outage.began();
        outage.began();
        assert!(outage.ended().is_some());
        assert_eq!(outage.ended(), None);
    }

    #[test]
    fn reconnects_back_off_to_five_seconds() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(100));
        assert_eq!(reconnect_delay(1), Duration::from_millis(200));
        assert_eq!(reconnect_delay(100), Duration::from_secs(5));
    }
}
