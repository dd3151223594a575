//! The quest rules both backends apply, as pure functions of what a backend read: so every
//! answer and every error is the same whichever stores the data, and each backend only
//! decides how to read and write atomically.

use std::collections::HashMap;

use protocol::http::quest::{
    CharacterQuests, ProgressEvent, ProgressOutcome, Quest, QuestProgress, QuestStatus,
};
use protocol::{CharacterId, QuestId, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::ApiError;

/// A character's standing with a quest it has accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Whether every objective is met.
    pub completed: bool,
    /// One counter per objective.
    pub counters: Vec<u32>,
    /// When it was accepted.
    pub accepted_at: UnixMillis,
    /// When it was completed.
    pub completed_at: Option<UnixMillis>,
}

impl Record {
    /// The record with one counter per objective of `quest` (the catalog may have gained or
    /// lost objectives since it was written).
    pub fn fitted(mut self, quest: &Quest) -> Self {
        self.counters.resize(quest.objectives.len(), 0);
        self
    }
}

/// A progress event as first answered, kept so a replay gets the same answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The quest it was for.
    pub quest_id: QuestId,
    /// The objective it counted.
    pub objective: u8,
    /// By how much.
    pub amount: u32,
    /// The first answer.
    pub outcome: ProgressOutcome,
}

/// The answer's view of a record.
pub fn progress_of(quest: &Quest, record: &Record) -> QuestProgress {
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

/// Every catalog quest with the character's standing: completed or active from its
/// record, otherwise available when all prerequisites are completed, else locked.
/// `records` may hold quests the catalog no longer has; they are left out.
pub fn quest_log(
    catalog: &Catalog,
    character: CharacterId,
    records: &HashMap<QuestId, Record>,
) -> CharacterQuests {
    let completed = |id: &QuestId| records.get(id).is_some_and(|r| r.completed);
    let quests = catalog
        .quests()
        .iter()
        .map(|quest| match records.get(&quest.id) {
            Some(record) => progress_of(quest, &record.clone().fitted(quest)),
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
    CharacterQuests {
        character_id: character,
        quests,
    }
}

/// The record accepting `quest` makes, given its current record (if any) and whether each
/// prerequisite is completed; or why it may not be accepted.
pub fn accept(
    quest: &Quest,
    existing: Option<&Record>,
    completed: impl Fn(&QuestId) -> bool,
    now: UnixMillis,
) -> Result<Record, ApiError> {
    if let Some(record) = existing {
        return Err(already(quest, record));
    }
    let missing: Vec<String> = quest
        .prerequisites
        .iter()
        .filter(|pre| !completed(pre))
        .map(|pre| format!("`{pre}`"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::conflict(
            "quest-locked",
            format!(
                "quest `{}` needs these quests completed first: {}",
                quest.id,
                missing.join(", ")
            ),
        ));
    }
    Ok(Record {
        completed: false,
        counters: vec![0; quest.objectives.len()],
        accepted_at: now,
        completed_at: None,
    })
}

/// The answer to accepting a quest that has a record already.
pub fn already(quest: &Quest, record: &Record) -> ApiError {
    if record.completed {
        ApiError::conflict(
            "quest-already-completed",
            format!("quest `{}` is already completed", quest.id),
        )
    } else {
        ApiError::conflict(
            "quest-already-active",
            format!("quest `{}` is already active", quest.id),
        )
    }
}

/// The answer to `event` when its id was stored before as `stored`: the first answer,
/// marked a duplicate, or 422 if the id was used for a different event.
pub fn replay(
    stored: StoredEvent,
    quest: &Quest,
    event: &ProgressEvent,
) -> Result<ProgressOutcome, ApiError> {
    if stored.quest_id != quest.id
        || stored.objective != event.objective
        || stored.amount != event.amount
    {
        return Err(ApiError::Unprocessable {
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
    Ok(outcome)
}

/// The record after a new `event` on the quest's current `record`, and the event as stored
/// (its outcome is the answer); or 409 if the quest is not active.
pub fn progress(
    quest: &Quest,
    record: Option<Record>,
    event: &ProgressEvent,
    now: UnixMillis,
) -> Result<(Record, StoredEvent), ApiError> {
    let Some(mut record) = record.map(|r| r.fitted(quest)) else {
        return Err(ApiError::conflict(
            "quest-not-active",
            format!("quest `{}` has not been accepted", quest.id),
        ));
    };
    if record.completed {
        return Err(ApiError::conflict(
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
    let stored = StoredEvent {
        quest_id: quest.id.clone(),
        objective: event.objective,
        amount: event.amount,
        outcome,
    };
    Ok((record, stored))
}
