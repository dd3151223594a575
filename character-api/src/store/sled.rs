//! Characters on sled (the embedded default): the records, the unique-name index and the
//! per-account index, kept consistent with each other, with compare-and-set on each
//! character's version.
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
//! sled's calls block (it may read from disk or wait for a lock), so writes run on a
//! blocking thread; then each waits for a group commit ([`service_kit::commit`]) before it
//! returns. One process at a time: sled locks its directory.

use std::path::Path;

use actix_web::web::Bytes;
use protocol::http::character::{Character, CharacterUpdate};
use protocol::{AccountId, CharacterId};
use service_kit::commit::{CommitOptions, GroupCommitter};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::{IVec, Tree};

use super::{CharacterStore, StoreError, StoreFuture, Stored, apply, name_key};

/// The first byte of every stored record: the layout after it.
const FORMAT: u8 = 1;
/// Format byte plus version.
const HEADER: usize = 9;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// A record as sled holds it: the version, and the raw bytes (kept for compare-and-swap).
struct Record {
    version: u64,
    raw: IVec,
}

impl Record {
    fn parse(raw: IVec) -> Result<Self, StoreError> {
        if raw.len() < HEADER || raw[0] != FORMAT {
            return Err(StoreError::Internal(
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

    fn json(&self) -> &[u8] {
        &self.raw[HEADER..]
    }

    fn decode(&self) -> Result<Character, StoreError> {
        super::decode(self.json())
    }

    fn stored(&self) -> Stored {
        Stored {
            version: self.version,
            json: Bytes::copy_from_slice(self.json()),
        }
    }
}

fn encode(c: &Character) -> Result<Vec<u8>, StoreError> {
    let json = super::encode(c)?;
    let mut out = Vec::with_capacity(HEADER + json.len());
    out.push(FORMAT);
    out.extend_from_slice(&c.version.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

fn account_key(c: &Character) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(c.account_id.0.as_bytes());
    key.extend_from_slice(&c.created_at.to_be_bytes());
    key.extend_from_slice(c.id.0.as_bytes());
    key
}

/// The characters in a sled directory. Cheap to clone (sled handles are shared).
#[derive(Clone)]
pub struct SledStore {
    characters: Tree,
    names: Tree,
    by_account: Tree,
    committer: GroupCommitter,
}

impl SledStore {
    /// Opens (or creates) the store in `dir` and starts its committer thread. `fsync`: see
    /// [`crate::config::Storage::Sled`].
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

    /// Runs the blocking `op` on a blocking thread, then waits until what it wrote is on
    /// disk (a group commit), whatever its outcome.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Self) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        let result = tokio::task::spawn_blocking(move || op(&store))
            .await
            .map_err(|e| StoreError::Internal(format!("blocking pool: {e}")))?;
        self.committer.durable().await?;
        result
    }

    fn record(&self, id: CharacterId) -> Result<Option<Record>, StoreError> {
        self.characters
            .get(id.0.as_bytes())?
            .map(Record::parse)
            .transpose()
    }

    fn list_blocking(&self, account: AccountId) -> Result<Vec<Character>, StoreError> {
        let mut out = Vec::new();
        for entry in self.by_account.scan_prefix(account.0.as_bytes()) {
            let (key, _) = entry?;
            let id = &key[key.len() - 16..];
            // A character deleted between the scan and this read is simply not listed.
            if let Some(raw) = self.characters.get(id)? {
                out.push(Record::parse(raw)?.decode()?);
            }
        }
        Ok(out)
    }

    fn create_blocking(&self, c: &Character) -> Result<(), StoreError> {
        let record = encode(c)?;
        let name = name_key(&c.name);
        let account = account_key(c);
        let id = *c.id.0.as_bytes();
        (&self.characters, &self.names, &self.by_account).transaction(
            |(characters, names, by_account)| {
                if names.get(name.as_bytes())?.is_some() {
                    return abort(StoreError::NameTaken(c.name.clone()));
                }
                if characters.get(id)?.is_some() {
                    return abort(StoreError::Internal("character id collision".into()));
                }
                names.insert(name.as_bytes(), &id)?;
                characters.insert(&id, record.as_slice())?;
                by_account.insert(account.as_slice(), &[])?;
                Ok(())
            },
        )?;
        Ok(())
    }

    fn update_blocking(
        &self,
        id: CharacterId,
        expected: u64,
        update: &CharacterUpdate,
    ) -> Result<Character, StoreError> {
        let key = id.0.as_bytes();
        loop {
            let current = self.record(id)?.ok_or(StoreError::NotFound)?;
            if current.version != expected {
                return Err(StoreError::Stale {
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
    ) -> Result<Character, StoreError> {
        let id = *old.id.0.as_bytes();
        let (old_name, new_name) = (name_key(&old.name), name_key(&new.name));
        (&self.characters, &self.names).transaction(|(characters, names)| {
            let current = characters.get(id)?.ok_or(StoreError::NotFound);
            let current = match current.and_then(Record::parse) {
                Ok(c) => c,
                Err(e) => return abort(e),
            };
            if current.version != old.version {
                return abort(StoreError::Stale {
                    current: current.version,
                });
            }
            if names.get(new_name.as_bytes())?.is_some() {
                return abort(StoreError::NameTaken(new.name.clone()));
            }
            names.remove(old_name.as_bytes())?;
            names.insert(new_name.as_bytes(), &id)?;
            characters.insert(&id, record.as_slice())?;
            Ok(())
        })?;
        Ok(new)
    }

    fn delete_blocking(&self, id: CharacterId, expected: u64) -> Result<(), StoreError> {
        let key = *id.0.as_bytes();
        (&self.characters, &self.names, &self.by_account).transaction(
            |(characters, names, by_account)| {
                let current = characters.get(key)?.ok_or(StoreError::NotFound);
                let current = match current.and_then(|raw| {
                    let r = Record::parse(raw)?;
                    Ok((r.version, r.decode()?))
                }) {
                    Ok(c) => c,
                    Err(e) => return abort(e),
                };
                let (version, c) = current;
                if version != expected {
                    return abort(StoreError::Stale { current: version });
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

    fn page_blocking(
        &self,
        after: Option<CharacterId>,
        limit: usize,
    ) -> Result<Vec<Character>, StoreError> {
        let entries = match after {
            Some(id) => self.characters.range::<&[u8], _>((
                std::ops::Bound::Excluded(&id.0.as_bytes()[..]),
                std::ops::Bound::Unbounded,
            )),
            None => self.characters.iter(),
        };
        entries
            .take(limit)
            .map(|entry| Record::parse(entry?.1)?.decode())
            .collect()
    }
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

impl CharacterStore for SledStore {
    fn get(&self, id: CharacterId) -> StoreFuture<'_, Option<Stored>> {
        // A point read from sled's cache: cheap enough for the async thread.
        let result = self.record(id).map(|r| r.map(|r| r.stored()));
        Box::pin(async move { result })
    }

    fn list(&self, account: AccountId) -> StoreFuture<'_, Vec<Character>> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.list_blocking(account))
                .await
                .map_err(|e| StoreError::Internal(format!("blocking pool: {e}")))?
        })
    }

    fn create<'a>(&'a self, c: &'a Character) -> StoreFuture<'a, ()> {
        let c = c.clone();
        Box::pin(self.write(move |s| s.create_blocking(&c)))
    }

    fn update<'a>(
        &'a self,
        id: CharacterId,
        expected: u64,
        update: &'a CharacterUpdate,
    ) -> StoreFuture<'a, Character> {
        let update = update.clone();
        Box::pin(self.write(move |s| s.update_blocking(id, expected, &update)))
    }

    fn delete(&self, id: CharacterId, expected: u64) -> StoreFuture<'_, ()> {
        Box::pin(self.write(move |s| s.delete_blocking(id, expected)))
    }

    fn ready(&self) -> StoreFuture<'_, ()> {
        let healthy = self.committer.healthy();
        Box::pin(async move {
            if healthy {
                Ok(())
            } else {
                Err(StoreError::Unavailable(
                    "storage is failing to flush".into(),
                ))
            }
        })
    }

    fn page(&self, after: Option<CharacterId>, limit: usize) -> StoreFuture<'_, Vec<Character>> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.page_blocking(after, limit))
                .await
                .map_err(|e| StoreError::Internal(format!("blocking pool: {e}")))?
        })
    }

    fn import<'a>(&'a self, batch: &'a [Character]) -> StoreFuture<'a, ()> {
        let batch = batch.to_vec();
        Box::pin(self.write(move |s| batch.iter().try_for_each(|c| s.create_blocking(c))))
    }

    fn count(&self) -> StoreFuture<'_, u64> {
        let n = self.characters.len() as u64;
        Box::pin(async move { Ok(n) })
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        let committer = self.committer.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || committer.close())
                .await
                .map_err(|e| StoreError::Internal(format!("blocking pool: {e}")))??;
            Ok(())
        })
    }
}
