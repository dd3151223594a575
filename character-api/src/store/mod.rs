//! Characters on sled: the records, the unique-name index and the per-account index, kept
//! consistent with each other, with compare-and-set on each character's version.
//!
//! ## Layout
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `characters` | character id (16 bytes) | `[format 1][version u64 BE][GET JSON]` |
//! | `names` | the name in lowercase (UTF-8) | character id |
//! | `by_account` | account id, `created_at` u64 BE, character id | empty |
//!
//! The version sits in front of the JSON so a `GET` answers with the stored bytes and an
//! `ETag` without decoding anything.
//!
//! ## Atomicity
//!
//! Whatever touches a name (create, rename, delete) runs as one sled transaction over the
//! three trees, so no crash or race can leave two characters with one name or a name
//! pointing nowhere. A save that keeps the name (almost every save: zones write position,
//! stats and inventory) is a single `compare_and_swap` of the record, which fails if any
//! other write got in since it was read. Both kinds are linearized by sled: a transaction
//! excludes every other tree operation while it commits.
//!
//! These methods block (sled may read from disk or wait for a lock): async callers run the
//! heavier ones on a blocking thread. Durability is separate: after a write, await
//! [`Store::durable`] before answering (a group commit, see [`service_kit::commit`]).

use std::path::Path;

use protocol::http::character::{Character, CharacterUpdate, INVENTORY_SLOTS};
use protocol::{AccountId, CharacterId};
use service_kit::commit::{CommitOptions, GroupCommitter};
use service_kit::time::now_millis;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::{IVec, Tree};

pub use service_kit::commit::CommitError;

/// The first byte of every stored record: the layout after it.
const FORMAT: u8 = 1;
/// Format byte plus version.
const HEADER: usize = 9;

/// Why a write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No character with that id.
    #[error("no such character")]
    NotFound,
    /// The named version is not the current one.
    #[error("version {current} is current")]
    Stale {
        /// The current version.
        current: u64,
    },
    /// Another character has this name.
    #[error("name {0:?} taken")]
    NameTaken(String),
    /// sled failed, or a stored record could not be read.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<sled::Error> for WriteError {
    fn from(e: sled::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<TransactionError<WriteError>> for WriteError {
    fn from(e: TransactionError<WriteError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// A stored character as bytes: its version and its `GET` JSON.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The version (the `ETag`).
    pub version: u64,
    raw: IVec,
}

impl Stored {
    /// The JSON representation, exactly as `GET` returns it.
    pub fn json(&self) -> &[u8] {
        &self.raw[HEADER..]
    }

    /// The character.
    pub fn decode(&self) -> Result<Character, WriteError> {
        serde_json::from_slice(self.json())
            .map_err(|e| WriteError::Storage(format!("stored character unreadable: {e}")))
    }

    fn parse(raw: IVec) -> Result<Self, WriteError> {
        if raw.len() < HEADER || raw[0] != FORMAT {
            return Err(WriteError::Storage(
                "stored character has an unknown format".into(),
            ));
        }
        let mut version = [0; 8];
        version.copy_from_slice(&raw[1..HEADER]);
        Ok(Self {
            version: u64::from_be_bytes(version),
            raw,
        })
    }
}

fn encode(c: &Character) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::with_capacity(2048);
    out.push(FORMAT);
    out.extend_from_slice(&c.version.to_be_bytes());
    serde_json::to_writer(&mut out, c)
        .map_err(|e| WriteError::Storage(format!("character unserializable: {e}")))?;
    Ok(out)
}

/// The key under which a name is unique: names differ only if their lowercase forms do.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn account_key(c: &Character) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(c.account_id.0.as_bytes());
    key.extend_from_slice(&c.created_at.to_be_bytes());
    key.extend_from_slice(c.id.0.as_bytes());
    key
}

/// The characters database. Cheap to clone (sled handles are shared).
#[derive(Clone)]
pub struct Store {
    characters: Tree,
    names: Tree,
    by_account: Tree,
    committer: GroupCommitter,
}

impl Store {
    /// Opens (or creates) the store in `dir` and starts its committer thread. `fsync`: see
    /// [`crate::Config::fsync`].
    pub fn open(dir: &Path, fsync: bool) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data dir {}", dir.display()))?;
        let db = sled::Config::new()
            .path(dir)
            .open()
            .with_context(|| format!("opening sled in {}", dir.display()))?;
        let characters = db.open_tree("characters")?;
        let names = db.open_tree("names")?;
        let by_account = db.open_tree("by_account")?;
        let options = CommitOptions {
            fsync,
            on_flush: crate::metrics::record_flush,
        };
        let committer = GroupCommitter::start(db, dir, options)
            .with_context(|| format!("opening sled's log file in {}", dir.display()))?;
        Ok(Self {
            characters,
            names,
            by_account,
            committer,
        })
    }

    /// The stored character, as bytes ready to send.
    pub fn get(&self, id: CharacterId) -> Result<Option<Stored>, WriteError> {
        self.characters
            .get(id.0.as_bytes())?
            .map(Stored::parse)
            .transpose()
    }

    /// The account's characters, oldest first.
    pub fn list(&self, account: AccountId) -> Result<Vec<Character>, WriteError> {
        let mut out = Vec::new();
        for entry in self.by_account.scan_prefix(account.0.as_bytes()) {
            let (key, _) = entry?;
            let id = &key[key.len() - 16..];
            // A character deleted between the scan and this read is simply not listed.
            if let Some(raw) = self.characters.get(id)? {
                out.push(Stored::parse(raw)?.decode()?);
            }
        }
        Ok(out)
    }

    /// Stores a new character (version 1 expected), claiming its name.
    pub fn create(&self, c: &Character) -> Result<(), WriteError> {
        let record = encode(c)?;
        let name = name_key(&c.name);
        let account = account_key(c);
        let id = *c.id.0.as_bytes();
        (&self.characters, &self.names, &self.by_account).transaction(
            |(characters, names, by_account)| {
                if names.get(name.as_bytes())?.is_some() {
                    return abort(WriteError::NameTaken(c.name.clone()));
                }
                if characters.get(id)?.is_some() {
                    return abort(WriteError::Storage("character id collision".into()));
                }
                names.insert(name.as_bytes(), &id)?;
                characters.insert(&id, record.as_slice())?;
                by_account.insert(account.as_slice(), &[])?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Replaces character `id` with `update` if its version is still `expected`; returns the
    /// stored result (version `expected + 1`).
    pub fn update(
        &self,
        id: CharacterId,
        expected: u64,
        update: &CharacterUpdate,
    ) -> Result<Character, WriteError> {
        let key = id.0.as_bytes();
        loop {
            let current = self.get(id)?.ok_or(WriteError::NotFound)?;
            if current.version != expected {
                return Err(WriteError::Stale {
                    current: current.version,
                });
            }
            let old = current.decode()?;
            let new = apply(&old, update);
            let record = encode(&new)?;
            if name_key(&old.name) != name_key(&new.name) {
                return self.rename(&old, new, record);
            }
            match self
                .characters
                .compare_and_swap(key, Some(&current.raw), Some(record))?
            {
                Ok(()) => return Ok(new),
                // Someone wrote in between: read again, which reports them as `Stale`.
                Err(_) => continue,
            }
        }
    }

    /// The update of `old` to `new` that changes the name.
    fn rename(
        &self,
        old: &Character,
        new: Character,
        record: Vec<u8>,
    ) -> Result<Character, WriteError> {
        let id = *old.id.0.as_bytes();
        let (old_name, new_name) = (name_key(&old.name), name_key(&new.name));
        (&self.characters, &self.names).transaction(|(characters, names)| {
            let current = characters.get(id)?.ok_or(WriteError::NotFound);
            let current = match current.and_then(Stored::parse) {
                Ok(c) => c,
                Err(e) => return abort(e),
            };
            if current.version != old.version {
                return abort(WriteError::Stale {
                    current: current.version,
                });
            }
            if names.get(new_name.as_bytes())?.is_some() {
                return abort(WriteError::NameTaken(new.name.clone()));
            }
            names.remove(old_name.as_bytes())?;
            names.insert(new_name.as_bytes(), &id)?;
            characters.insert(&id, record.as_slice())?;
            Ok(())
        })?;
        Ok(new)
    }

    /// Deletes character `id` if its version is still `expected`, releasing its name.
    pub fn delete(&self, id: CharacterId, expected: u64) -> Result<(), WriteError> {
        let key = *id.0.as_bytes();
        (&self.characters, &self.names, &self.by_account).transaction(
            |(characters, names, by_account)| {
                let current = characters.get(key)?.ok_or(WriteError::NotFound);
                let current = match current.and_then(|raw| {
                    let s = Stored::parse(raw)?;
                    Ok((s.version, s.decode()?))
                }) {
                    Ok(c) => c,
                    Err(e) => return abort(e),
                };
                let (version, c) = current;
                if version != expected {
                    return abort(WriteError::Stale { current: version });
                }
                characters.remove(&key)?;
                let name = name_key(&c.name);
                if names.get(name.as_bytes())?.as_deref() == Some(&key[..]) {
                    names.remove(name.as_bytes())?;
                }
                by_account.remove(account_key(&c))?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Waits until every write applied before the call is on disk (a group commit).
    pub async fn durable(&self) -> Result<(), CommitError> {
        self.committer.durable().await
    }

    /// Whether writes can be made durable: the store is open and the last flush worked.
    pub fn healthy(&self) -> bool {
        self.committer.healthy()
    }

    /// Flushes everything and stops taking writes.
    pub async fn close(&self) -> anyhow::Result<()> {
        let committer = self.committer.clone();
        tokio::task::spawn_blocking(move || committer.close()).await??;
        Ok(())
    }
}

fn abort<T>(e: WriteError) -> Result<T, ConflictableTransactionError<WriteError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// `old` after `update`: the writable fields replaced, the read-only ones kept, the version
/// bumped, the inventory padded to its full slot count.
fn apply(old: &Character, update: &CharacterUpdate) -> Character {
    let mut inventory = update.inventory.clone();
    if inventory.slots.len() < INVENTORY_SLOTS {
        inventory.slots.resize(INVENTORY_SLOTS, None);
    }
    Character {
        id: old.id,
        account_id: old.account_id,
        name: update.name.clone(),
        version: old.version + 1,
        area: update.area,
        position: update.position,
        yaw: update.yaw,
        stats: update.stats.clone(),
        inventory,
        created_at: old.created_at,
        // Never earlier than the last write, even if the clock stepped back.
        updated_at: now_millis().max(old.updated_at),
    }
}
