//! Where quest progress is kept: one interface, [`QuestStore`], and two backends with the
//! same guarantees by each one's own means.
//!
//! | backend | module | one event counted once | no lost update | durable before the answer |
//! | --- | --- | --- | --- | --- |
//! | sled in `--data-dir` (the embedded default) | [`sled`] | the event's outcome stored under its id in the same transaction as the record | sled transactions | group commit: flush + `fdatasync` ([`service_kit::commit`]) |
//! | PostgreSQL (`--database-url`) | [`postgres`] | a primary key on (character, event id), in the same transaction as the record | the record's row locked (`FOR UPDATE`) | `COMMIT` with `synchronous_commit` on ([`service_kit::postgres`]) |
//!
//! The rules (who may accept what, how an event moves the counters, when a replay is a
//! reuse of its id) are [`rules`], shared by both, so every answer and every error is the
//! same on each. Every write method returns only once its effect is durable, and every
//! read only what is durable.

pub mod postgres;
pub mod rules;
pub mod sled;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress,
};
use protocol::{CharacterId, EventId, QuestId, UnixMillis};

pub use rules::{Record, StoredEvent};

use crate::catalog::Catalog;
use crate::error::ApiError;

/// What a store operation returns: a boxed future, so that the backends sit behind one
/// `dyn QuestStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A character's record of one quest, as the copy subcommand moves it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProgressRow {
    /// The character.
    pub character: CharacterId,
    /// The quest.
    pub quest: QuestId,
    /// Its standing.
    pub record: Record,
}

/// A progress event's stored outcome, as the copy subcommand moves it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventRow {
    /// The character.
    pub character: CharacterId,
    /// The event's id.
    pub event: EventId,
    /// The event and its first answer.
    pub stored: StoredEvent,
}

/// Quest progress, wherever it is kept.
pub trait QuestStore: Send + Sync {
    /// Every catalog quest with this character's standing ([`rules::quest_log`]).
    fn character_quests(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
    ) -> StoreFuture<'_, CharacterQuests>;

    /// Accepts `quest` for `character` ([`rules::accept`]); two racing accepts cannot both
    /// succeed.
    fn accept(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
        quest: Quest,
        now: UnixMillis,
    ) -> StoreFuture<'_, QuestProgress>;

    /// Applies a progress event ([`rules::progress`]), or answers a replay of one from its
    /// stored outcome ([`rules::replay`]). The caller has checked `event.objective` and
    /// `event.amount` against the quest.
    fn record_progress(
        &self,
        character: CharacterId,
        quest: Quest,
        event: ProgressEvent,
        now: UnixMillis,
    ) -> StoreFuture<'_, ProgressOutcome>;

    /// Whether the store can take requests now (for `/readyz`).
    fn ready(&self) -> StoreFuture<'_, ()>;

    /// Up to `limit` quest records after `after` (from the start if `None`), in the store's
    /// key order: the copy subcommand reads a whole store this way.
    fn progress_page(
        &self,
        after: Option<(CharacterId, QuestId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ProgressRow>>;

    /// Up to `limit` stored events after `after`, in the store's key order.
    fn events_page(
        &self,
        after: Option<(CharacterId, EventId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<EventRow>>;

    /// Stores records and events from another store as given, in one durable step.
    fn import(&self, progress: Vec<ProgressRow>, events: Vec<EventRow>) -> StoreFuture<'_, ()>;

    /// How many quest records and stored events there are.
    fn counts(&self) -> StoreFuture<'_, (u64, u64)>;

    /// Makes every write so far durable and stops taking requests.
    fn close(&self) -> StoreFuture<'_, ()>;
}

/// Opens the store `storage` names: sled's directory (created if missing), or the
/// database, whose schema is brought up to date first.
pub async fn open(storage: &crate::config::Storage) -> anyhow::Result<Arc<dyn QuestStore>> {
    use anyhow::Context as _;
    Ok(match storage {
        crate::config::Storage::Sled { data_dir } => Arc::new(
            sled::SledStore::open(data_dir)
                .await
                .with_context(|| format!("opening the sled store in {}", data_dir.display()))?,
        ),
        crate::config::Storage::Postgres(options) => Arc::new(
            postgres::PostgresStore::open(options)
                .await
                .context("opening the PostgreSQL store")?,
        ),
    })
}
