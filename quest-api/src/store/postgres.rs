//! Quest progress on PostgreSQL (`--database-url`; schema in `quest-api/migrations/`), with
//! the guarantees the sled backend keeps, by the database's own means, across any number
//! of API processes:
//!
//! * **an event is counted once**: a progress event updates its quest's row and inserts
//!   its outcome under the primary key (character, event id) in one transaction. A retry
//!   finds the outcome and is answered from it; two copies of one event racing each other
//!   cannot both commit (the second insert waits for the first, then fails on the key, and
//!   its transaction is rolled back and run again: it then answers from the stored outcome).
//! * **no lost update**: the transaction locks the quest's row (`SELECT ... FOR UPDATE`)
//!   before reading the counters, so concurrent events on one quest apply one after the
//!   other.
//! * **one accept wins**: the quest's row is inserted under its primary key; a second
//!   accept fails on it, reads again, and is refused as already active.
//! * **durable before the answer**: answered after `COMMIT` returns, with
//!   `synchronous_commit` on; reads see only committed, so durable, rows.
//!
//! Every operation is bounded by the pool's timeout: a database that is down or stalled
//! makes it fail with 503, never hang.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress,
};
use protocol::{CharacterId, EventId, QuestId, UnixMillis};
use service_kit::postgres::{Database, DatabaseOptions, DbError, Migration, Row};

use super::rules::{self, Record, StoredEvent};
use super::{EventRow, ProgressRow, QuestStore, StoreFuture};
use crate::catalog::Catalog;
use crate::error::ApiError;

/// The schema, in order (see [`Database::migrate`]).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "quest progress",
    sql: include_str!("../../migrations/0001_quest_progress.sql"),
}];

/// The table recording which migrations are applied.
const MIGRATIONS_TABLE: &str = "quest_api_migrations";

/// How often a transaction that lost a race is run again before giving up (500).
const ATTEMPTS: usize = 5;

const RECORD_COLUMNS: &str = "quest_id, completed, counters, accepted_at, completed_at";
const INSERT_RECORD: &str = "INSERT INTO quest_progress \
     (character_id, quest_id, completed, counters, accepted_at, completed_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE_RECORD: &str = "UPDATE quest_progress SET completed = $3, counters = $4, \
     completed_at = $5 WHERE character_id = $1 AND quest_id = $2";
const EVENT: &str = "SELECT quest_id, objective, amount, outcome FROM quest_events \
     WHERE character_id = $1 AND event_id = $2";
const INSERT_EVENT: &str = "INSERT INTO quest_events \
     (character_id, event_id, quest_id, objective, amount, outcome) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Quest progress in a PostgreSQL (or CockroachDB) database. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    db: Database,
}

/// A database failure as the routes answer it.
fn api_error(e: DbError) -> ApiError {
    match e {
        DbError::Unavailable(e) => ApiError::Unavailable(format!(
            "the database is unavailable ({e}); a write may or may not have been applied: \
             retrying with the same event id is safe"
        )),
        other => ApiError::internal("the quest database failed", other),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The record in a row of [`RECORD_COLUMNS`] starting at column `at`.
fn record_at(row: &Row, at: usize) -> Record {
    let counters: Vec<i64> = row.get(at + 2);
    Record {
        completed: row.get(at + 1),
        counters: counters
            .into_iter()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .collect(),
        accepted_at: u64::try_from(row.get::<_, i64>(at + 3)).unwrap_or_default(),
        completed_at: row
            .get::<_, Option<i64>>(at + 4)
            .map(|t| u64::try_from(t).unwrap_or_default()),
    }
}

/// The stored event in a row of `quest_id, objective, amount, outcome` starting at `at`.
fn stored_event_at(row: &Row, at: usize) -> Result<StoredEvent, ApiError> {
    let outcome: &str = row.get(at + 3);
    Ok(StoredEvent {
        quest_id: QuestId(row.get(at)),
        objective: u8::try_from(row.get::<_, i16>(at + 1)).unwrap_or(u8::MAX),
        amount: u32::try_from(row.get::<_, i64>(at + 2)).unwrap_or(u32::MAX),
        outcome: serde_json::from_str(outcome)
            .map_err(|e| ApiError::internal("a stored progress event could not be decoded", e))?,
    })
}

fn counters(record: &Record) -> Vec<i64> {
    record.counters.iter().map(|&n| i64::from(n)).collect()
}

fn outcome_json(stored: &StoredEvent) -> String {
    // Plain structs of numbers and strings: serializing cannot fail.
    serde_json::to_string(&stored.outcome).unwrap_or_default()
}

/// How a transaction ended: its answer, or a database failure ([`DbError::Unique`] and
/// [`DbError::Conflict`] mean "run it again").
type Attempt<T> = Result<Result<T, ApiError>, DbError>;

impl PostgresStore {
    /// Connects to the database and brings its schema up to date.
    pub async fn open(options: &DatabaseOptions) -> Result<Self, DbError> {
        let db = Database::open(options)?;
        db.migrate(MIGRATIONS_TABLE, MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Runs `attempt` until it neither loses a race nor hits a key another transaction
    /// just took (at most [`ATTEMPTS`] times), each run bounded by the timeout.
    async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.db.bounded(attempt()).await {
                Ok(answer) => return answer,
                Err(DbError::Unique(_) | DbError::Conflict(_)) if tries < ATTEMPTS => {}
                Err(e) => return Err(api_error(e)),
            }
        }
    }

    async fn accept_once(
        &self,
        catalog: &Catalog,
        character: CharacterId,
        quest: &Quest,
        now: UnixMillis,
    ) -> Attempt<QuestProgress> {
        let c = self.db.connection().await?;
        let ids: Vec<&str> = std::iter::once(&quest.id)
            .chain(&quest.prerequisites)
            .map(|id| id.0.as_str())
            .collect();
        let statement = c
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM quest_progress \
                 WHERE character_id = $1 AND quest_id = ANY($2)"
            ))
            .await?;
        let rows = c.query(&statement, &[&character.0, &ids]).await?;
        let records: HashMap<QuestId, Record> = rows
            .iter()
            .map(|row| (QuestId(row.get(0)), record_at(row, 0)))
            .collect();
        let existing = records.get(&quest.id).map(|r| r.clone().fitted(quest));
        let completed = |id: &QuestId| {
            catalog.get(id).is_some() && records.get(id).is_some_and(|r| r.completed)
        };
        let record = match rules::accept(quest, existing.as_ref(), completed, now) {
            Ok(record) => record,
            Err(e) => return Ok(Err(e)),
        };
        let statement = c.prepare_cached(INSERT_RECORD).await?;
        c.execute(
            &statement,
            &[
                &character.0,
                &quest.id.0,
                &record.completed,
                &counters(&record),
                &to_i64(record.accepted_at),
                &record.completed_at.map(to_i64),
            ],
        )
        .await?;
        Ok(Ok(rules::progress_of(quest, &record)))
    }

    async fn progress_once(
        &self,
        character: CharacterId,
        quest: &Quest,
        event: &ProgressEvent,
        now: UnixMillis,
    ) -> Attempt<ProgressOutcome> {
        let mut c = self.db.connection().await?;
        let tx = c.transaction().await?;
        let statement = tx.prepare_cached(EVENT).await?;
        if let Some(row) = tx
            .query_opt(&statement, &[&character.0, &event.event_id.0])
            .await?
        {
            return Ok(stored_event_at(&row, 0).and_then(|s| rules::replay(s, quest, event)));
        }
        let statement = tx
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM quest_progress \
                 WHERE character_id = $1 AND quest_id = $2 FOR UPDATE"
            ))
            .await?;
        let record = tx
            .query_opt(&statement, &[&character.0, &quest.id.0])
            .await?
            .map(|row| record_at(&row, 0));
        let (record, stored) = match rules::progress(quest, record, event, now) {
            Ok(applied) => applied,
            Err(e) => return Ok(Err(e)),
        };
        let statement = tx.prepare_cached(UPDATE_RECORD).await?;
        tx.execute(
            &statement,
            &[
                &character.0,
                &quest.id.0,
                &record.completed,
                &counters(&record),
                &record.completed_at.map(to_i64),
            ],
        )
        .await?;
        let statement = tx.prepare_cached(INSERT_EVENT).await?;
        tx.execute(
            &statement,
            &[
                &character.0,
                &event.event_id.0,
                &stored.quest_id.0,
                &i16::from(stored.objective),
                &i64::from(stored.amount),
                &outcome_json(&stored),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(stored.outcome))
    }
}

impl QuestStore for PostgresStore {
    fn character_quests(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
    ) -> StoreFuture<'_, CharacterQuests> {
        Box::pin(async move {
            let rows = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    let statement = c
                        .prepare_cached(&format!(
                            "SELECT {RECORD_COLUMNS} FROM quest_progress WHERE character_id = $1"
                        ))
                        .await?;
                    Ok(c.query(&statement, &[&character.0]).await?)
                })
                .await
                .map_err(api_error)?;
            let records = rows
                .iter()
                .map(|row| (QuestId(row.get(0)), record_at(row, 0)))
                .collect();
            Ok(rules::quest_log(&catalog, character, &records))
        })
    }

    fn accept(
        &self,
        catalog: Arc<Catalog>,
        character: CharacterId,
        quest: Quest,
        now: UnixMillis,
    ) -> StoreFuture<'_, QuestProgress> {
        Box::pin(async move {
            self.retrying(|| self.accept_once(&catalog, character, &quest, now))
                .await
        })
    }

    fn record_progress(
        &self,
        character: CharacterId,
        quest: Quest,
        event: ProgressEvent,
        now: UnixMillis,
    ) -> StoreFuture<'_, ProgressOutcome> {
        Box::pin(async move {
            self.retrying(|| self.progress_once(character, &quest, &event, now))
                .await
        })
    }

    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.db.ping().await.map_err(api_error) })
    }

    fn progress_page(
        &self,
        after: Option<(CharacterId, QuestId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ProgressRow>> {
        Box::pin(async move {
            let limit = to_i64(limit as u64);
            let rows = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    let columns = format!("character_id, {RECORD_COLUMNS}");
                    Ok(match &after {
                        Some((character, quest)) => {
                            c.query(
                                &format!(
                                    "SELECT {columns} FROM quest_progress \
                                     WHERE (character_id, quest_id) > ($1, $2) \
                                     ORDER BY character_id, quest_id LIMIT $3"
                                ),
                                &[&character.0, &quest.0, &limit],
                            )
                            .await?
                        }
                        None => {
                            c.query(
                                &format!(
                                    "SELECT {columns} FROM quest_progress \
                                     ORDER BY character_id, quest_id LIMIT $1"
                                ),
                                &[&limit],
                            )
                            .await?
                        }
                    })
                })
                .await
                .map_err(api_error)?;
            Ok(rows
                .iter()
                .map(|row| ProgressRow {
                    character: CharacterId(row.get(0)),
                    quest: QuestId(row.get(1)),
                    record: record_at(row, 1),
                })
                .collect())
        })
    }

    fn events_page(
        &self,
        after: Option<(CharacterId, EventId)>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<EventRow>> {
        Box::pin(async move {
            let limit = to_i64(limit as u64);
            let columns = "character_id, event_id, quest_id, objective, amount, outcome";
            let rows = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    Ok(match &after {
                        Some((character, event)) => {
                            c.query(
                                &format!(
                                    "SELECT {columns} FROM quest_events \
                                     WHERE (character_id, event_id) > ($1, $2) \
                                     ORDER BY character_id, event_id LIMIT $3"
                                ),
                                &[&character.0, &event.0, &limit],
                            )
                            .await?
                        }
                        None => {
                            c.query(
                                &format!(
                                    "SELECT {columns} FROM quest_events \
                                     ORDER BY character_id, event_id LIMIT $1"
                                ),
                                &[&limit],
                            )
                            .await?
                        }
                    })
                })
                .await
                .map_err(api_error)?;
            rows.iter()
                .map(|row| {
                    Ok(EventRow {
                        character: CharacterId(row.get(0)),
                        event: EventId(row.get(1)),
                        stored: stored_event_at(row, 2)?,
                    })
                })
                .collect()
        })
    }

    fn import(&self, progress: Vec<ProgressRow>, events: Vec<EventRow>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .bounded(async {
                    let mut c = self.db.connection().await?;
                    let tx = c.transaction().await?;
                    let statement = tx.prepare_cached(INSERT_RECORD).await?;
                    for row in &progress {
                        let r = &row.record;
                        tx.execute(
                            &statement,
                            &[
                                &row.character.0,
                                &row.quest.0,
                                &r.completed,
                                &counters(r),
                                &to_i64(r.accepted_at),
                                &r.completed_at.map(to_i64),
                            ],
                        )
                        .await?;
                    }
                    let statement = tx.prepare_cached(INSERT_EVENT).await?;
                    for row in &events {
                        let s = &row.stored;
                        tx.execute(
                            &statement,
                            &[
                                &row.character.0,
                                &row.event.0,
                                &s.quest_id.0,
                                &i16::from(s.objective),
                                &i64::from(s.amount),
                                &outcome_json(s),
                            ],
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                })
                .await
                .map_err(api_error)
        })
    }

    fn counts(&self) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(async move {
            let row = self
                .db
                .bounded(async {
                    let c = self.db.connection().await?;
                    Ok(c.query_one(
                        "SELECT (SELECT count(*) FROM quest_progress), \
                                (SELECT count(*) FROM quest_events)",
                        &[],
                    )
                    .await?)
                })
                .await
                .map_err(api_error)?;
            let count = |i| u64::try_from(row.get::<_, i64>(i)).unwrap_or_default();
            Ok((count(0), count(1)))
        })
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        self.db.close();
        Box::pin(async { Ok(()) })
    }
}
