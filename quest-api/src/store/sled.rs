//! Quest progress on sled (the embedded default): two trees, written together in sled
//! transactions.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `progress` | character id (16 bytes) ++ quest id | [`Record`] (JSON): active or completed, counters, times |
//! | `events` | character id (16 bytes) ++ event id (16 bytes) | [`StoredEvent`] (JSON): the request and its outcome |
//!
//! A progress event changes its quest's record and stores its outcome under its event id
//! in **one** sled transaction, so after any crash either both are there or neither is: a
//! retried event is either answered from the stored outcome (counted once) or counted now.
//! An accept checks and writes in one transaction, so two racing accepts cannot both win.
//!
//! **Durability.** A write is answered only after the group committer
//! ([`service_kit::commit`], where the durability argument is written out) has flushed
//! sled and `fdatasync`ed its log in a flush that *started after* the write. Reads wait
//! for one only while some write is in flight ([`GroupCommitter::has_pending_writes`]):
//! otherwise everything they can see is on disk already. sled's calls block, so every
//! operation runs on a blocking thread; a write and its flush request run in one blocking
//! task, which completes even if the request is cancelled (the client went away).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress,
};
use protocol::{CharacterId, EventId, QuestId, UnixMillis};
use serde::Serialize;
use serde::de::DeserializeOwned;
use service_kit::commit::{CommitOptions, Durable, GroupCommitter};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::rules::{self, Record, StoredEvent};
use super::{EventRow, ProgressRow, QuestStore, StoreFuture};
use crate::catalog::Catalog;
use crate::error::ApiError;

/// The two trees and the group committer. Cheap to clone (handles).
#[derive(Clone)]
pub struct SledStore {
    progress: sled::Tree,
    events: sled::Tree,
    committer: GroupCommitter,
}

fn progress_key(character: CharacterId, quest: &QuestId) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + quest.0.len());
    key.extend_from_slice(character.0.as_bytes());
    key.extend_from_slice(quest.0.as_bytes());
    key
}

fn event_key(character: CharacterId, event: EventId) -> [u8; 32] {
    let mut key = [0; 32];
    key[..16].copy_from_slice(character.0.as_bytes());
    key[16..].copy_from_slice(event.0.as_bytes());
    key
}

/// The character id at the front of a key.
fn character_of(key: &[u8]) -> Result<CharacterId, ApiError> {
    uuid::Uuid::from_slice(key.get(..16).unwrap_or_default())
        .map(CharacterId)
        .map_err(|e| ApiError::internal("a stored key is malformed", e))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(&format!("a stored {what} could not be decoded"), e))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of numbers and strings: serializing cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Turns a transaction's result into the route's, mapping storage failures to 500s.
fn finish<T>(result: Result<T, TransactionError<ApiError>>) -> Result<T, ApiError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => ApiError::internal("the quest store failed", e),
    })
}

type TxResult<T> = Result<T, ConflictableTransactionError<ApiError>>;

fn abort<T>(error: ApiError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error))
}

/// The record of `quest` read inside a transaction.
fn read_record(tx: &TransactionalTree, key: &[u8], quest: &Quest) -> TxResult<Option<Record>> {
    match tx.get(key)? {
        None => Ok(None),
        Some(bytes) => match decode::<Record>(&bytes, "quest record") {
            Ok(record) => Ok(Some(record.fitted(quest))),
            Err(e) => abort(e),
        },
    }
}

/// Waits for the answer to a flush request.
async fn wait(durable: Durable) -> Result<(), ApiError> {
    let start = Instant::now();
    let result = durable.wait().await;
    crate::metrics::record_commit_wait(start.elapsed());
    Ok(result?)
}

impl SledStore {
    /// Opens (or creates) the store in `data_dir` and starts its committer thread.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.to_owned();
        let db =
            tokio::task::spawn_blocking(move || sled::Config::new().path(&dir).open()).await??;
        let progress = db.open_tree("progress")?;
        let events = db.open_tree("events")?;
        let options = CommitOptions {
            fsync: true,
            on_flush: crate::metrics::record_flush,
        };
        let committer = GroupCommitter::start(db, data_dir, options)?;
        Ok(Self {
            progress,
            events,
            committer,
        })
    }

    /// Runs a write on a blocking thread, then waits until it is durable, whatever the
    /// outcome: an answer (even a 409 or a replay) never reflects state that a crash could
    /// still take back.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Self) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.clone();
        let (result, durable) = tokio::task::spawn_blocking(move || {
            let write = store.committer.begin_write();
            let result = op(&store);
            (result, write.commit())
        })
        .await
        .map_err(|e| ApiError::internal("a store task failed", e))?;
        wait(durable?).await?;
        result
    }

    /// Runs a read on a blocking thread. If a write was in flight meanwhile, the read may
    /// have seen it before it was durable: then the answer waits for a flush too.
    async fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Self) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.clone();
        let (result, durable) = tokio::task::spawn_blocking(move || {
            let result = op(&store);
            // Checked after the read: a write visible to it has begun by now.
            let durable = store
                .committer
                .has_pending_writes()
                .then(|| store.committer.request());
            (result, durable)
        })
        .await
        .map_err(|e| ApiError::internal("a store task failed", e))?;
        if let Some(durable) = durable {
            wait(durable?).await?;
        }
        result
    }

    fn records(&self, character: CharacterId) -> Result<HashMap<QuestId, Record>, ApiError> {
        let mut records = HashMap::new();
        for entry in self.progress.scan_prefix(character.0.as_bytes()) {
            let (key, value) =
                entry.map_err(|e| ApiError::internal("reading quest records failed", e))?;
            let Ok(id) = std::str::from_utf8(&key[16..]) else {
                continue;
            };
            records.insert(QuestId(id.to_owned()), decode(&value, "quest record")?);
        }
        Ok(records)
    }

    fn accept_blocking(
        &self,
        catalog: &Catalog,
        character: CharacterId,
        quest: &Quest,
        now: UnixMillis,
    ) -> Result<QuestProgress, ApiError> {
        let key = progress_key(character, &quest.id);
        finish(self.progress.transaction(|tx| {
            let existing = read_record(tx, &key, quest)?;
            let mut done = HashMap::new();
            for pre in &quest.prerequisites {
                let Some(pre_quest) = catalog.get(pre) else {
                    continue; // the catalog was validated: cannot happen
                };
                let completed = read_record(tx, &progress_key(character, pre), pre_quest)?
                    .is_some_and(|r| r.completed);
                done.insert(pre.clone(), completed);
            }
            let record = match rules::accept(
                quest,
                existing.as_ref(),
                |pre| done.get(pre).copied().unwrap_or(false),
                now,
            ) {
                Ok(record) => record,
                Err(e) => return abort(e),
            };
            tx.insert(key.as_slice(), encode(&record))?;
            Ok(rules::progress_of(quest, &record))
        }))
    }

    fn progress_blocking(
        &self,
        character: CharacterId,
        quest: &Quest,
        event: &ProgressEvent,
        now: UnixMillis,
    ) -> Result<ProgressOutcome, ApiError> {
        let pkey = progress_key(character, &quest.id);
        let ekey = event_key(character, event.event_id);
        finish(
            (&self.progress, &self.events).transaction(|(progress, events)| {
                if let Some(bytes) = events.get(ekey)? {
                    let replayed = decode::<StoredEvent>(&bytes, "progress event")
                        .and_then(|stored| rules::replay(stored, quest, event));
                    return replayed.or_else(abort);
                }
                let record = read_record(progress, &pkey, quest)?;
                let (record, stored) = match rules::progress(quest, record, event, now) {
                    Ok(applied) => applied,
                    Err(e) => return abort(e),
                };
                progress.insert(pkey.as_slice(), encode(&record))?;
                events.insert(&ekey, encode(&stored))?;
                Ok(stored.outcome)
            }),
        )
    }

    fn progress_page_blocking(
        &self,
        after: Option<(CharacterId, QuestId)>,
        limit: usize,
    ) -> Result<Vec<ProgressRow>, ApiError> {
        let start = after.map(|(c, q)| progress_key(c, &q));
        page(&self.progress, start, limit, |key, value| {
            Ok(ProgressRow {
                character: character_of(key)?,
                quest: QuestId(
                    std::str::from_utf8(&key[16..])
                        .map_err(|e| ApiError::internal("a stored quest id is not UTF-8", e))?
                        .to_owned(),
                ),
                record: decode(value, "quest record")?,
            })
        })
    }

    fn events_page_blocking(
        &self,
        after: Option<(CharacterId, EventId)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, ApiError> {
        let start = after.map(|(c, e)| event_key(c, e).to_vec());
        page(&self.events, start, limit, |key, value| {
            Ok(EventRow {
                character: character_of(key)?,
                event: EventId(
                    uuid::Uuid::from_slice(&key[16..])
                        .map_err(|e| ApiError::internal("a stored event id is malformed", e))?,
                ),
                stored: decode(value, "progress event")?,
            })
        })
    }

    fn import_blocking(
        &self,
        progress: &[ProgressRow],
        events: &[EventRow],
    ) -> Result<(), ApiError> {
        finish((&self.progress, &self.events).transaction(|(p, e)| {
            for row in progress {
                p.insert(progress_key(row.character, &row.quest), encode(&row.record))?;
            }
            for row in events {
                e.insert(&event_key(row.character, row.event), encode(&row.stored))?;
            }
            Ok(())
        }))
    }
}

/// Up to `limit` entries of `tree` after the key `after`, each made into a row by `row`.
fn page<T>(
    tree: &sled::Tree,
    after: Option<Vec<u8>>,
    limit: usize,
    row: impl Fn(&[u8], &[u8]) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let entries = match after {
        Some(key) => {
            tree.range::<Vec<u8>, _>((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
        }
        None => tree.iter(),
    };
    entries
        .take(limit)
        .map(|entry| {
            let (key, value) =
                entry.map_err(|e| ApiError::internal("reading the store failed", e))?;
            row(&key, &value)
        })
        .collect()
}

impl QuestStore for SledStore {
    fn character_quests(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
    ) -> StoreFuture<'_, CharacterQuests> {
        Box::pin(self.read(move |s| {
            let records = s.records(character)?;
            Ok(rules::quest_log(&catalog, character, &records))
        }))
    }

    fn accept(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
        quest: Quest,
        now: UnixMillis,
    ) -> StoreFuture<'_, QuestProgress> {
        Box::pin(self.write(move |s| s.accept_blocking(&catalog, character, &quest, now)))
    }

    fn record_progress(
        &self,
        character: CharacterId,
        quest: Quest,
        event: ProgressEvent,
        now: UnixMillis,
    ) -> StoreFuture<'_, ProgressOutcome> {
        Box::pin(self.write(move |s| s.progress_blocking(character, &quest, &event, now)))
    }

    fn ready(&self) -> StoreFuture<'_, ()> {
        let healthy = self.committer.healthy();
        Box::pin(async move {
            if healthy {
                Ok(())
            } else {
                Err(ApiError::Unavailable(
                    "the store is failing to flush".into(),
                ))
            }
        })
    }

    fn progress_page(
        &self,
        after: Option<(CharacterId, QuestId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ProgressRow>> {
        Box::pin(self.read(move |s| s.progress_page_blocking(after, limit)))
    }

    fn events_page(
        &self,
        after: Option<(CharacterId, EventId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<EventRow>> {
        Box::pin(self.read(move |s| s.events_page_blocking(after, limit)))
    }

    fn import(&self, progress: Vec<ProgressRow>, events: Vec<EventRow>) -> StoreFuture<'_, ()> {
        Box::pin(self.write(move |s| s.import_blocking(&progress, &events)))
    }

    fn counts(&self) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(self.read(|s| Ok((s.progress.len() as u64, s.events.len() as u64))))
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        let committer = self.committer.clone();
        Box::pin(async move {
            wait(committer.request()?).await?;
            tokio::task::spawn_blocking(move || committer.close())
                .await
                .map_err(|e| ApiError::internal("a store task failed", e))??;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_store_answers_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).await.unwrap();
        store.close().await.unwrap();
        assert!(matches!(store.ready().await, Err(ApiError::Unavailable(_))));
        let written = store
            .import(Vec::new(), Vec::new())
            .await
            .expect_err("a closed store takes no writes");
        assert!(matches!(written, ApiError::Unavailable(_)), "{written:?}");
    }
}
