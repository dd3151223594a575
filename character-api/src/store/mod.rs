//! Where characters are kept: one interface, [`CharacterStore`], and two backends with the
//! same guarantees by each one's own means.
//!
//! | backend | module | compare-and-set | unique names | durable before the answer |
//! | --- | --- | --- | --- | --- |
//! | sled in `--data-dir` (the embedded default) | [`sled`] | `compare_and_swap` of the record; a transaction over record and indexes for renames | a `names` tree, written in the same transaction | group commit: flush + `fdatasync` ([`service_kit::commit`]) |
//! | PostgreSQL (`--database-url`) | [`postgres`] | `UPDATE ... WHERE id = $1 AND version = $2` | a unique index on the lowercased name | `COMMIT` with `synchronous_commit` on ([`service_kit::postgres`]) |
//!
//! Every write method returns only once its effect is durable, so a route answers as soon
//! as the store does. The rules of a save (which fields it replaces, the version bump,
//! the inventory padding) are [`apply`], shared by both.

pub mod postgres;
pub mod sled;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::Bytes;
use protocol::http::character::{Character, CharacterUpdate, INVENTORY_SLOTS};
use protocol::{AccountId, CharacterId};
use service_kit::commit::CommitError;
use service_kit::postgres::DbError;
use service_kit::time::now_millis;

/// What a store operation returns: a boxed future, so that the backends sit behind one
/// `dyn CharacterStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
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
    /// The storage cannot take requests now (the database is unreachable, the store is
    /// closing, a flush failed); a write may or may not have been applied. Retrying later
    /// may work.
    #[error("{0}")]
    Unavailable(String),
    /// The storage failed, or a stored record could not be read.
    #[error("storage: {0}")]
    Internal(String),
}

impl From<CommitError> for StoreError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Flush(e) => Self::Unavailable(format!(
                "the write was applied but could not be confirmed on disk ({e}); \
                 read the character again before retrying"
            )),
            CommitError::Closed => Self::Unavailable("the service is shutting down".into()),
        }
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(e) => Self::Unavailable(format!(
                "the database is unavailable ({e}); a write may or may not have been \
                 applied: read the character again before retrying"
            )),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A stored character as bytes: its version and its `GET` JSON, exactly as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The version (the `ETag`).
    pub version: u64,
    /// The JSON representation, exactly as `GET` returns it.
    pub json: Bytes,
}

/// The character in `json`, the form both backends store.
pub fn decode(json: &[u8]) -> Result<Character, StoreError> {
    serde_json::from_slice(json)
        .map_err(|e| StoreError::Internal(format!("stored character unreadable: {e}")))
}

/// The JSON both backends store and `GET` answers with.
pub fn encode(c: &Character) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(c)
        .map_err(|e| StoreError::Internal(format!("character unserializable: {e}")))
}

/// The characters, wherever they are kept. Every write is durable when it returns `Ok`.
pub trait CharacterStore: Send + Sync {
    /// The stored character, as bytes ready to send.
    fn get(&self, id: CharacterId) -> StoreFuture<'_, Option<Stored>>;

    /// The account's characters, oldest first (ties by id).
    fn list(&self, account: AccountId) -> StoreFuture<'_, Vec<Character>>;

    /// Stores a new character as given (its version, usually 1), claiming its name.
    fn create<'a>(&'a self, c: &'a Character) -> StoreFuture<'a, ()>;

    /// Replaces character `id` with `update` ([`apply`]) if its version is still
    /// `expected`; returns the stored result (version `expected + 1`).
    fn update<'a>(
        &'a self,
        id: CharacterId,
        expected: u64,
        update: &'a CharacterUpdate,
    ) -> StoreFuture<'a, Character>;

    /// Deletes character `id` if its version is still `expected`, releasing its name.
    fn delete(&self, id: CharacterId, expected: u64) -> StoreFuture<'_, ()>;

    /// Whether the store can take requests now (for `/readyz`); the reason if not.
    fn ready(&self) -> StoreFuture<'_, ()>;

    /// Up to `limit` characters with ids after `after` (all if `None`), in id order: the
    /// copy subcommand reads a whole store this way.
    fn page(&self, after: Option<CharacterId>, limit: usize) -> StoreFuture<'_, Vec<Character>>;

    /// Stores `batch` (characters from another store, names all free) as given, in one
    /// durable step: the copy subcommand writes a store this way.
    fn import<'a>(&'a self, batch: &'a [Character]) -> StoreFuture<'a, ()>;

    /// How many characters there are.
    fn count(&self) -> StoreFuture<'_, u64>;

    /// Makes every write so far durable and stops taking requests.
    fn close(&self) -> StoreFuture<'_, ()>;
}

/// Opens the store `storage` names: sled's directory (created if missing), or the
/// database, whose schema is brought up to date first.
pub async fn open(storage: &crate::config::Storage) -> anyhow::Result<Arc<dyn CharacterStore>> {
    use anyhow::Context as _;
    Ok(match storage {
        crate::config::Storage::Sled { data_dir, fsync } => {
            Arc::new(sled::SledStore::open(data_dir, *fsync)?)
        }
        crate::config::Storage::Postgres(options) => Arc::new(
            postgres::PostgresStore::open(options)
                .await
                .context("opening the PostgreSQL store")?,
        ),
    })
}

/// The key under which a name is unique: names differ only if their lowercase forms do.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// `old` after `update`: the writable fields replaced, the read-only ones kept, the version
/// bumped, the inventory padded to its full slot count.
pub fn apply(old: &Character, update: &CharacterUpdate) -> Character {
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
