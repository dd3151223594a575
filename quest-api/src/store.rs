//! Quest progress on sled.
//!
//! Two trees, both keyed by the character first so one character's data is one range:
//!
//! | tree | key | value (JSON) |
//! | --- | --- | --- |
//! | `progress` | character id (16 bytes) ++ quest id | [`Record`]: active or completed, counters, times |
//! | `events` | character id (16 bytes) ++ event id (16 bytes) | [`StoredEvent`]: the request and its outcome |
//!
//! A progress event changes its quest's record and stores its outcome under its event id
//! in **one** sled transaction, so after any crash either both are there or neither is: a
//! retried event is either answered from the stored outcome (counted once) or counted now.
//!
//! **Durability.** The routes answer only after the store's group committer
//! ([`service_kit::commit`], where the durability argument is written out) has flushed
//! sled and `fdatasync`ed its log in a flush that *started after* the request's write.
//! Reads wait for one only while some write is in flight (see
//! [`Store::has_pending_writes`]): otherwise everything they can see is on disk already.
//!
//! Character ids are not checked against character-api: the zone only sends progress for
//! characters it holds, and a character that never existed merely gets an empty quest log.

use std::path::Path;
use std::time::Instant;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress, QuestStatus,
};
use protocol::{CharacterId, EventId, QuestId, UnixMillis};
use serde::{Deserialize, Serialize};
use service_kit::commit::{CommitOptions, Durable, GroupCommitter, PendingWrite};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::catalog::Catalog;
use crate::error::ApiError;

/// The durable state: the two trees and the group committer. Cheap to clone (handles).
#[derive(Clone)]
pub struct Store {
    progress: sled::Tree,
    events: sled::Tree,
    committer: GroupCommitter,
}

/// A character's standing with a quest it has accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    completed: bool,
    counters: Vec<u32>,
    accepted_at: UnixMillis,
    completed_at: Option<UnixMillis>,
}

/// A progress event as first answered, kept so a replay gets the same answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEvent {
    quest_id: QuestId,
    objective: u8,
    amount: u32,
    outcome: ProgressOutcome,
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

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
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

/// The record of `quest` read inside a transaction (counters sized to the catalog's
/// objectives, in case the catalog gained or lost objectives since it was written).
fn read_record(tx: &TransactionalTree, key: &[u8], quest: &Quest) -> TxResult<Option<Record>> {
    match tx.get(key)? {
        None => Ok(None),
        Some(bytes) => match decode::<Record>(&bytes, "quest record") {
            Ok(mut record) => {
                record.counters.resize(quest.objectives.len(), 0);
                Ok(Some(record))
            }
            Err(e) => abort(e),
        },
    }
}

fn progress_of(quest: &Quest, record: &Record) -> QuestProgress {
    QuestProgress {
        quest_id: quest.id.clone(),
        status: if record.completed {
            QuestStatus::Completed
        } else {
            QuestStatus::Active
        },
        counters: record.counters.clone(),
        accepted_at: Some(record.accepted_at),
        completed_at: record.completed_at,
    }
}

impl Store {
    /// Opens (or creates) the store in `db`, the sled database in `data_dir`, and starts
    /// its committer thread.
    pub fn open(db: sled::Db, data_dir: &Path) -> std::io::Result<Self> {
        let progress = db.open_tree("progress").map_err(std::io::Error::other)?;
        let events = db.open_tree("events").map_err(std::io::Error::other)?;
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

    /// Marks the start of a write; commit it once applied. Until its flush has finished,
    /// reads flush too.
    pub fn begin_write(&self) -> PendingWrite {
        self.committer.begin_write()
    }

    /// Whether some write has begun whose flush has not finished: then what a read saw may
    /// not be on disk yet.
    pub fn has_pending_writes(&self) -> bool {
        self.committer.has_pending_writes()
    }

    /// Asks for a flush covering every write made so far. The flush happens even if no
    /// one waits for the answer.
    pub fn request_flush(&self) -> Result<Durable, ApiError> {
        Ok(self.committer.request()?)
    }

    /// Waits for the answer to a flush request.
    pub async fn wait(durable: Durable) -> Result<(), ApiError> {
        let start = Instant::now();
        let result = durable.wait().await;
        crate::metrics::record_commit_wait(start.elapsed());
        Ok(result?)
    }

    /// Waits until every write made so far (by any request) is on disk. Requests that
    /// flush at the same time share one disk write.
    pub async fn flush(&self) -> Result<(), ApiError> {
        Self::wait(self.request_flush()?).await
    }

    /// Stops the committer after a last flush, and waits for it (blocking). Later
    /// [`Store::flush`] calls fail with 503. Called by [`crate::run`] once the server has
    /// stopped, so the database is closed when `run` returns.
    pub fn close(&self) -> Result<(), ApiError> {
        Ok(self.committer.close()?)
    }

    /// Every catalog quest with this character's standing: completed or active from its
    /// record, otherwise available when all prerequisites are completed, else locked.
    pub fn character_quests(
        &self,
        catalog: &Catalog,
        character: CharacterId,
    ) -> Result<CharacterQuests, ApiError> {
        let mut records = std::collections::HashMap::new();
        for entry in self.progress.scan_prefix(character.0.as_bytes()) {
            let (key, value) =
                entry.map_err(|e| ApiError::internal("reading quest records failed", e))?;
            let Ok(id) = std::str::from_utf8(&key[16..]) else {
                continue;
            };
            let id = QuestId(id.to_owned());
            if catalog.get(&id).is_some() {
                records.insert(id, decode::<Record>(&value, "quest record")?);
            }
        }
        let completed = |id: &QuestId| records.get(id).is_some_and(|r| r.completed);
        let quests = catalog
            .quests()
            .iter()
            .map(|quest| match records.get(&quest.id) {
                Some(record) => {
                    let mut record = record.clone();
                    record.counters.resize(quest.objectives.len(), 0);
                    progress_of(quest, &record)
                }
                None => QuestProgress {
                    quest_id: quest.id.clone(),
                    status: if quest.prerequisites.iter().all(completed) {
                        QuestStatus::Available
                    } else {
                        QuestStatus::Locked
                    },
                    counters: vec![0; quest.objectives.len()],
                    accepted_at: None,
                    completed_at: None,
                },
            })
            .collect();
        Ok(CharacterQuests {
            character_id: character,
            quests,
        })
    }

    /// Accepts `quest` for `character` if every prerequisite is completed and the quest
    /// was never accepted. Checked and written in one transaction, so two racing accepts
    /// cannot both succeed.
    pub fn accept(
        &self,
        catalog: &Catalog,
        character: CharacterId,
        quest: &Quest,
        now: UnixMillis,
    ) -> Result<QuestProgress, ApiError> {
        let key = progress_key(character, &quest.id);
        finish(self.progress.transaction(|tx| {
            if let Some(record) = read_record(tx, &key, quest)? {
                return abort(if record.completed {
                    ApiError::conflict(
                        "quest-already-completed",
                        format!("quest `{}` is already completed", quest.id),
                    )
                } else {
                    ApiError::conflict(
                        "quest-already-active",
                        format!("quest `{}` is already active", quest.id),
                    )
                });
            }
            let mut missing = Vec::new();
            for pre in &quest.prerequisites {
                let Some(pre_quest) = catalog.get(pre) else {
                    continue; // the catalog was validated: cannot happen
                };
                let done = read_record(tx, &progress_key(character, pre), pre_quest)?
                    .is_some_and(|r| r.completed);
                if !done {
                    missing.push(format!("`{pre}`"));
                }
            }
            if !missing.is_empty() {
                return abort(ApiError::conflict(
                    "quest-locked",
                    format!(
                        "quest `{}` needs these quests completed first: {}",
                        quest.id,
                        missing.join(", ")
                    ),
                ));
            }
            let record = Record {
                completed: false,
                counters: vec![0; quest.objectives.len()],
                accepted_at: now,
                completed_at: None,
            };
            tx.insert(key.as_slice(), encode(&record))?;
            Ok(progress_of(quest, &record))
        }))
    }

    /// Applies a progress event, or answers a replay of one from its stored outcome.
    ///
    /// The caller has checked `event.objective` and `event.amount` against the quest.
    pub fn record_progress(
        &self,
        character: CharacterId,
        quest: &Quest,
        event: ProgressEvent,
        now: UnixMillis,
    ) -> Result<ProgressOutcome, ApiError> {
        let pkey = progress_key(character, &quest.id);
        let ekey = event_key(character, event.event_id);
        finish(
            (&self.progress, &self.events).transaction(|(progress, events)| {
                if let Some(bytes) = events.get(ekey)? {
                    let stored = match decode::<StoredEvent>(&bytes, "progress event") {
                        Ok(stored) => stored,
                        Err(e) => return abort(e),
                    };
                    if stored.quest_id != quest.id
                        || stored.objective != event.objective
                        || stored.amount != event.amount
                    {
                        return abort(ApiError::Unprocessable {
                            slug: "event-id-reused",
                            detail: format!(
                                "event id {} was already used for a different event (quest `{}`, \
                             objective {}, amount {}); each event needs its own id",
                                event.event_id, stored.quest_id, stored.objective, stored.amount
                            ),
                        });
                    }
                    let mut outcome = stored.outcome;
                    outcome.duplicate = true;
                    return Ok(outcome);
                }
                let Some(mut record) = read_record(progress, &pkey, quest)? else {
                    return abort(ApiError::conflict(
                        "quest-not-active",
                        format!("quest `{}` has not been accepted", quest.id),
                    ));
                };
                if record.completed {
                    return abort(ApiError::conflict(
                        "quest-not-active",
                        format!("quest `{}` is already completed", quest.id),
                    ));
                }
                let index = usize::from(event.objective);
                let target = quest.objectives[index].count;
                record.counters[index] = record.counters[index]
                    .saturating_add(event.amount)
                    .min(target);
                let done = record
                    .counters
                    .iter()
                    .zip(&quest.objectives)
                    .all(|(&n, o)| n >= o.count);
                if done {
                    record.completed = true;
                    record.completed_at = Some(now);
                }
                let outcome = ProgressOutcome {
                    progress: progress_of(quest, &record),
                    rewards: done.then(|| quest.rewards.clone()),
                    duplicate: false,
                };
                progress.insert(pkey.as_slice(), encode(&record))?;
                let stored = StoredEvent {
                    quest_id: quest.id.clone(),
                    objective: event.objective,
                    amount: event.amount,
                    outcome: outcome.clone(),
                };
                events.insert(&ekey, encode(&stored))?;
                Ok(outcome)
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_store_answers_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let store = Store::open(db, dir.path()).unwrap();
        store.flush().await.unwrap();
        store.close().unwrap();
        assert!(matches!(store.flush().await, Err(ApiError::Unavailable(_))));
    }
}
