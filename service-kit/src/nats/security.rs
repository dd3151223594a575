//! A deployment's NATS security, made by one command (`server-manager nats-security`): an
//! nkey pair per role instance and the nats-server configuration that admits exactly those
//! keys, each with its role's subject permissions.
//!
//! The directory is the source of truth: `manager.nk`, `zone-1.nk` … `zone-N.nk` hold the
//! seeds (mode 0600; each process is given its own file as `--nats-creds`), and
//! `nats-server.conf` is rewritten from them on every run, so running the command again
//! keeps every existing key and only adds what is missing. Rotating a role's key:
//! `--rotate zone-2` keeps the old seed as `zone-2.retiring.nk` and writes a new
//! `zone-2.nk`; the config admits both until `--retire zone-2` deletes the old one (reload
//! nats-server after each step: `nats-server --signal reload`).
//!
//! Beside it, `nats-cluster.conf` runs one node of a NATS cluster with the same client
//! authorization (it includes `nats-server.conf`): the node's route listener, its routes and
//! the routes' password come from its environment (`NATS_CLUSTER_LISTEN`, `NATS_ROUTES`,
//! `NATS_ROUTE_PASSWORD`), since they differ per node and per deployment while the keys do
//! not. Routes authenticate with that password: a process that reaches a route port but
//! does not know it cannot join the cluster and bypass the clients' permissions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use protocol::cluster::{Identity, Permissions, Subjects};

/// The server configuration's file name.
pub const CONFIG_FILE: &str = "nats-server.conf";
/// The configuration of one node of a NATS cluster (`nats-server -c <this>`, with
/// `NATS_CLUSTER_LISTEN`, `NATS_ROUTES` and `NATS_ROUTE_PASSWORD` set).
pub const CLUSTER_CONFIG_FILE: &str = "nats-cluster.conf";
/// The name of the cluster its nodes form (routes between clusters of other names fail).
pub const CLUSTER_NAME: &str = "zone-cluster";
/// The user name routes authenticate with (the password is the deployment's).
pub const ROUTE_USER: &str = "route";
/// The manager's seed file name.
pub const MANAGER: &str = "manager";
const SEED_EXT: &str = "nk";
const RETIRING: &str = "retiring";

/// What the command is asked to do.
#[derive(Debug, Clone)]
pub struct SecurityOptions {
    /// Where the seeds and the config live.
    pub dir: PathBuf,
    /// How many zone-server identities to have (`zone-1` … `zone-N`); never removes any.
    pub zones: usize,
    /// The cluster's subjects (its prefix).
    pub subjects: Subjects,
    /// Roles (file stems, e.g. `zone-2`) to give a new key, keeping the old one admitted.
    pub rotate: Vec<String>,
    /// Roles whose retiring key to drop.
    pub retire: Vec<String>,
}

/// Why the bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A seed file holds no valid seed.
    #[error("{0} holds no valid nkey seed: {1}")]
    BadSeed(PathBuf, String),
    /// A role named in `--rotate`/`--retire` has no key.
    #[error("no key for role `{0}` in the directory")]
    NoSuchRole(String),
    /// A file stem that names neither the manager nor a zone.
    #[error("{0}: the file name names no role (use manager.nk or zone-<n>.nk)")]
    UnknownRole(PathBuf),
}

/// One admitted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The role instance (`manager`, `zone-3`).
    pub name: String,
    /// Its public key: its identity on every subject it sends.
    pub identity: Identity,
    /// Whether it is the old key of a rotation.
    pub retiring: bool,
}

/// What the directory holds after the command.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The directory.
    pub dir: PathBuf,
    /// Every admitted key.
    pub members: Vec<Member>,
}

impl Bundle {
    /// The seed file of a role instance (`manager`, `zone-1`): its `--nats-creds`.
    pub fn creds(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{SEED_EXT}"))
    }

    /// The server configuration (`nats-server -c <this>`).
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The configuration of one node of a NATS cluster (see the module's documentation).
    pub fn cluster_config(&self) -> PathBuf {
        self.dir.join(CLUSTER_CONFIG_FILE)
    }

    /// The zone-server role instances, in order.
    pub fn zone_names(&self) -> Vec<String> {
        let mut names: Vec<(usize, String)> = self
            .members
            .iter()
            .filter(|m| !m.retiring)
            .filter_map(|m| Some((zone_number(&m.name)?, m.name.clone())))
            .collect();
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }
}

fn zone_number(name: &str) -> Option<usize> {
    name.strip_prefix("zone-")?.parse().ok()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SecurityError + '_ {
    move |e| SecurityError::Io(path.to_owned(), e)
}

fn write_seed(path: &Path, seed: &str) -> Result<(), SecurityError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(format!("{seed}\n").as_bytes())
        .map_err(io(path))
}

fn new_seed(path: &Path) -> Result<(), SecurityError> {
    let pair = nkeys::KeyPair::new_user();
    let seed = pair
        .seed()
        .map_err(|e| SecurityError::BadSeed(path.to_owned(), e.to_string()))?;
    write_seed(path, &seed)
}

/// Makes (or brings up to date) the bundle in `options.dir`.
pub fn make(options: &SecurityOptions) -> Result<Bundle, SecurityError> {
    let dir = &options.dir;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let seed_path = |name: &str| dir.join(format!("{name}.{SEED_EXT}"));
    let retiring_path = |name: &str| dir.join(format!("{name}.{RETIRING}.{SEED_EXT}"));

    for name in &options.retire {
        let old = retiring_path(name);
        if old.exists() {
            std::fs::remove_file(&old).map_err(io(&old))?;
        } else if !seed_path(name).exists() {
            return Err(SecurityError::NoSuchRole(name.clone()));
        }
    }
    for name in &options.rotate {
        let current = seed_path(name);
        if !current.exists() {
            return Err(SecurityError::NoSuchRole(name.clone()));
        }
        let old = retiring_path(name);
        std::fs::rename(&current, &old).map_err(io(&current))?;
        new_seed(&current)?;
    }
    let wanted =
        std::iter::once(MANAGER.to_owned()).chain((1..=options.zones).map(|i| format!("zone-{i}")));
    for name in wanted {
        let path = seed_path(&name);
        if !path.exists() {
            new_seed(&path)?;
        }
    }

    let members = read_members(dir)?;
    let config = render(&options.subjects, &members);
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, config).map_err(io(&path))?;
    let cluster = dir.join(CLUSTER_CONFIG_FILE);
    std::fs::write(&cluster, render_cluster()).map_err(io(&cluster))?;
    Ok(Bundle {
        dir: dir.clone(),
        members,
    })
}

fn read_members(dir: &Path) -> Result<Vec<Member>, SecurityError> {
    let mut members = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(&format!(".{SEED_EXT}")) else {
            continue;
        };
        let (name, retiring) = match stem.strip_suffix(&format!(".{RETIRING}")) {
            Some(name) => (name, true),
            None => (stem, false),
        };
        if name != MANAGER && zone_number(name).is_none() {
            return Err(SecurityError::UnknownRole(path));
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let key = super::public_key(&text).map_err(|e| SecurityError::BadSeed(path.clone(), e))?;
        let identity =
            Identity::new(&key).map_err(|e| SecurityError::BadSeed(path.clone(), e.to_string()))?;
        members.insert(
            (name.to_owned(), retiring),
            Member {
                name: name.to_owned(),
                identity,
                retiring,
            },
        );
    }
    Ok(members.into_values().collect())
}

fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(subjects: &Subjects, members: &[Member]) -> String {
    let mut out = String::from(
        "# Made by `server-manager nats-security` from the *.nk seeds beside this file;\n\
         # run it again rather than editing (it keeps every key and rewrites this file).\n\
         # Every client must authenticate with one of these nkeys; each may publish only\n\
         # subjects ending in its own public key (see protocol::cluster::subjects).\n\
         authorization {\n  users = [\n",
    );
    for m in members {
        let Permissions { publish, subscribe } = if m.name == MANAGER {
            subjects.manager_permissions(&m.identity)
        } else {
            subjects.zone_permissions(&m.identity)
        };
        let retiring = if m.retiring { " (retiring)" } else { "" };
        let _ = write!(
            out,
            "    # {}{retiring}\n    {{\n      nkey: \"{}\"\n      permissions: {{\n        \
             publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}\n        \
             allow_responses: true\n      }}\n    }}\n",
            m.name,
            m.identity,
            quoted(&publish),
            quoted(&subscribe),
        );
    }
    out.push_str("  ]\n}\n");
    out
}

fn render_cluster() -> String {
    format!(
        "# Made by `server-manager nats-security`: one node of a NATS cluster, admitting the\n\
         # same clients as {CONFIG_FILE}. Set per node, in its environment:\n\
         #   NATS_CLUSTER_LISTEN  its route listener, e.g. 0.0.0.0:6222\n\
         #   NATS_ROUTE_PASSWORD  the password every route of the cluster uses\n\
         #   NATS_ROUTES          the other nodes, as a list with that password:\n\
         #                        [nats-route://{ROUTE_USER}:<password>@nats-2:6222, ...]\n\
         include \"{CONFIG_FILE}\"\n\
         cluster {{\n  \
           name: \"{CLUSTER_NAME}\"\n  \
           listen: $NATS_CLUSTER_LISTEN\n  \
           authorization {{ user: \"{ROUTE_USER}\", password: $NATS_ROUTE_PASSWORD }}\n  \
           routes: $NATS_ROUTES\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, zones: usize) -> SecurityOptions {
        SecurityOptions {
            dir: dir.to_owned(),
            zones,
            subjects: Subjects::default(),
            rotate: Vec::new(),
            retire: Vec::new(),
        }
    }

    #[test]
    fn running_again_keeps_keys_and_rotation_admits_both_until_retired() {
        let temp = tempfile::tempdir().unwrap();
        let first = make(&options(temp.path(), 2)).unwrap();
        assert_eq!(first.members.len(), 3);
        assert_eq!(first.zone_names(), ["zone-1", "zone-2"]);
        let again = make(&options(temp.path(), 3)).unwrap();
        assert_eq!(again.members.len(), 4);
        for m in &first.members {
            assert!(again.members.contains(m), "{} kept", m.name);
        }
        let config = std::fs::read_to_string(again.config()).unwrap();
        for m in &again.members {
            assert!(config.contains(m.identity.as_str()));
        }
        let mode = std::fs::metadata(again.creds("zone-1")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );

        let mut rotate = options(temp.path(), 3);
        rotate.rotate = vec!["zone-2".into()];
        let rotated = make(&rotate).unwrap();
        let zone2: Vec<_> = rotated
            .members
            .iter()
            .filter(|m| m.name == "zone-2")
            .collect();
        assert_eq!(zone2.len(), 2, "old and new key both admitted");
        let mut retire = options(temp.path(), 3);
        retire.retire = vec!["zone-2".into()];
        let retired = make(&retire).unwrap();
        let zone2: Vec<_> = retired
            .members
            .iter()
            .filter(|m| m.name == "zone-2")
            .collect();
        assert_eq!(zone2.len(), 1);
        assert!(!zone2[0].retiring);
        assert!(!first.members.contains(zone2[0]), "a new key");

        let mut unknown = options(temp.path(), 3);
        unknown.rotate = vec!["zone-9".into()];
        assert!(matches!(make(&unknown), Err(SecurityError::NoSuchRole(_))));
    }

    #[test]
    fn a_cluster_node_config_admits_the_same_clients_and_takes_its_routes_from_the_environment() {
        let temp = tempfile::tempdir().unwrap();
        let bundle = make(&options(temp.path(), 1)).unwrap();
        let cluster = std::fs::read_to_string(bundle.cluster_config()).unwrap();
        assert!(cluster.contains(&format!("include \"{CONFIG_FILE}\"")));
        for variable in ["NATS_CLUSTER_LISTEN", "NATS_ROUTE_PASSWORD", "NATS_ROUTES"] {
            assert!(cluster.contains(&format!("${variable}")), "{variable}");
        }
    }
}
