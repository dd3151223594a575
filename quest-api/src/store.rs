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
//! **Durability.** The routes answer only after [`Store::flush`] has returned, and that
//! waits for a `sled::Db::flush` (write + `sync_file_range`) that *started after* the
//! request's write (reads wait for one only while some write is in flight: see
//! [`Store::has_pending_writes`]). One committer thread does every flush, in a loop: it takes every flush
//! request that arrived while the previous flush ran, flushes once, and answers them all:
//! group commit, one disk write per batch, however many requests are waiting.
//!
//! Why not call sled's `flush_async` from each request? Reading sled 0.34.7 shows that a
//! flush does share writes (`make_stable_inner` seals the current IO buffer, which holds
//! every write reserved so far, and waits on a condition variable for buffers other threads
//! are writing) — but `flush_async` runs the blocking flush on sled's own small thread pool
//! (`threadpool.rs`), and the write of a sealed buffer is queued on that *same* pool
//! (`iobuf.rs`, `maybe_seal_and_write_iobuf`). With dozens of concurrent `flush_async`
//! calls every pool thread ends up blocked in a flush waiting for a buffer write that sits
//! in the queue behind them: the process deadlocks (reproduced with 16 concurrent writers;
//! every request hung). A single flushing thread never occupies more than itself, so the
//! pool stays free to write buffers.
//!
//! Also from sled 0.34.7: a flush holds sled's global concurrency-control read lock while
//! it waits for the disk, and transactions take that lock for writing, so transactions
//! pause during a flush; requests queue meanwhile and the next flush takes them as one
//! batch.
//!
//! On Linux sled makes its writes durable with `sync_file_range`, which survives any crash
//! of the process (the data is in the kernel) but writes neither the file's metadata (the
//! log's growing size) nor the drive's write cache, so it promises nothing after a power
//! cut; sled's own background `fsync` runs only every 500 ms. So each flush of the
//! committer also calls `fdatasync` on its own handle to sled's log file
//! (`<data dir>/db`), which covers what sled wrote through its handle. It costs one
//! `fdatasync` per batch, not per request.
//!
//! Character ids are not checked against character-api: the zone only sends progress for
//! characters it holds, and a character that never existed merely gets an empty quest log.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress, QuestStatus,
};
use protocol::{CharacterId, EventId, QuestId, UnixMillis};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use tokio::sync::oneshot;

use crate::catalog::Catalog;
use crate::error::ApiError;

/// The durable state: the sled database, its two trees and the committer. Cheap to clone
/// (handles).
#[derive(Clone)]
pub struct Store {
    progress: sled::Tree,
    events: sled::Tree,
    committer: Arc<Committer>,
}

/// A flush request: answered once a flush that started after it was sent has finished.
/// `write` says it was sent by a write, which the committer then counts as durable.
struct Waiter {
    answer: oneshot::Sender<Result<(), String>>,
    write: bool,
}

/// What a flush request will be answered on.
pub type Durable = oneshot::Receiver<Result<(), String>>;

/// The one thread that flushes (see the module docs).
struct Committer {
    requests: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Writes begun whose flush has not finished yet. While it is 0, everything a read
    /// can see is already on disk, so reads need no flush.
    pending_writes: AtomicUsize,
}

/// One flush: sled's (write + `sync_file_range`), then `fdatasync` of sled's log file.
fn flush_once(db: &sled::Db, log: &File) -> Result<(), String> {
    db.flush().map_err(|e| e.to_string())?;
    log.sync_data()
        .map_err(|e| format!("fdatasync of sled's log: {e}"))
}

/// The committer thread: flush once per batch of waiting requests, answer the batch.
fn commit_loop(
    db: sled::Db,
    log: File,
    requests: mpsc::Receiver<Waiter>,
    committer: std::sync::Weak<Committer>,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        batch.extend(requests.try_iter());
        let start = Instant::now();
        let result = flush_once(&db, &log);
        metrics::histogram!("quest_api_flush_seconds").record(start.elapsed().as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // batch sizes are far below 2^52
        metrics::histogram!("quest_api_flush_batch_size").record(batch.len() as f64);
        if let Err(e) = &result {
            tracing::error!(error = %e, "flushing the quest store failed");
        }
        let writes = batch.iter().filter(|w| w.write).count();
        if let Some(committer) = committer.upgrade() {
            committer.pending_writes.fetch_sub(writes, Ordering::SeqCst);
        }
        for waiter in batch {
            // A waiter whose request was cancelled has gone; nothing to tell it.
            let _ = waiter.answer.send(result.clone());
        }
    }
    if let Err(e) = flush_once(&db, &log) {
        tracing::error!(error = %e, "the final flush of the quest store failed");
    }
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
        // sled 0.34 keeps its whole log in `<data dir>/db`; `fdatasync` on any handle to
        // the file covers what sled wrote through its own.
        let log_path = data_dir.join("db");
        let log = File::open(&log_path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("opening {}: {e}", log_path.display()))
        })?;
        let (tx, rx) = mpsc::channel();
        let committer = Arc::new(Committer {
            requests: Mutex::new(Some(tx)),
            thread: Mutex::new(None),
            pending_writes: AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&committer);
        let thread = std::thread::Builder::new()
            .name("quest-committer".into())
            .spawn(move || commit_loop(db, log, rx, weak))?;
        *committer.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(Self {
            progress,
            events,
            committer,
        })
    }

    /// Marks the start of a write. Call it before the write, and follow the write with
    /// [`Store::request_flush`]`(true)`: until that flush has finished, reads flush too.
    pub fn begin_write(&self) {
        self.committer.pending_writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether some write has begun whose flush has not finished: then what a read saw may
    /// not be on disk yet.
    pub fn has_pending_writes(&self) -> bool {
        self.committer.pending_writes.load(Ordering::SeqCst) > 0
    }

    /// Asks the committer for a flush covering every write made so far; `write` when
    /// asked on behalf of a write begun with [`Store::begin_write`]. The flush happens
    /// even if no one waits for the answer.
    pub fn request_flush(&self, write: bool) -> Result<Durable, ApiError> {
        let (answer, durable) = oneshot::channel();
        let sent = match &*self
            .committer
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            Some(requests) => requests.send(Waiter { answer, write }).is_ok(),
            None => false,
        };
        if sent {
            Ok(durable)
        } else {
            if write {
                self.committer.pending_writes.fetch_sub(1, Ordering::SeqCst);
            }
            Err(ApiError::Unavailable("the store is closed".to_owned()))
        }
    }

    /// Waits for the answer to a flush request.
    pub async fn wait(durable: Durable) -> Result<(), ApiError> {
        let start = Instant::now();
        let result = durable.await;
        metrics::histogram!("quest_api_commit_wait_seconds").record(start.elapsed().as_secs_f64());
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal("flushing the quest store failed", e)),
            Err(_) => Err(ApiError::internal(
                "flushing the quest store failed",
                "committer gone",
            )),
        }
    }

    /// Waits until every write made so far (by any request) is on disk. Requests that
    /// flush at the same time share one disk write (see the module docs).
    pub async fn flush(&self) -> Result<(), ApiError> {
        Self::wait(self.request_flush(false)?).await
    }

    /// Stops the committer after a last flush, and waits for it (blocking). Later
    /// [`Store::flush`] calls fail with 503. Called by [`crate::run`] once the server has
    /// stopped, so the database is closed when `run` returns.
    pub fn close(&self) {
        drop(
            self.committer
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let thread = self
            .committer
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the committer thread panicked");
        }
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
    async fn writes_are_pending_until_their_flush_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let store = Store::open(db, dir.path()).unwrap();
        assert!(!store.has_pending_writes());
        store.begin_write();
        assert!(store.has_pending_writes());
        let durable = store.request_flush(true).unwrap();
        Store::wait(durable).await.unwrap();
        assert!(!store.has_pending_writes());
        // A read's flush request does not touch the count.
        Store::wait(store.request_flush(false).unwrap())
            .await
            .unwrap();
        assert!(!store.has_pending_writes());
        store.close();
        assert!(matches!(store.flush().await, Err(ApiError::Unavailable(_))));
        store.begin_write();
        assert!(store.request_flush(true).is_err());
        assert!(
            !store.has_pending_writes(),
            "a refused write is not left pending"
        );
    }
}
