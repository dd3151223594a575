//! `quest-api copy --from <dir|url> --to <dir|url>`: all quest progress from one store to
//! another (sled to PostgreSQL when moving to a shared database, and back): every quest
//! record, and every progress event's stored outcome (so an event retried after the move
//! is still counted once). Then checked: the destination must hold as many records and
//! events as the source, with the same content.
//!
//! The destination must be empty, so that "same counts, same content" means the copy is
//! exact; the source is read in pages in its key order and written in batches, each batch
//! durable before the next. Stop the API (or APIs) on either store first: a write made
//! during the copy may be missed, and the check would then fail.
//!
//! The content check compares an order-independent digest of every row's JSON on both
//! sides, so it costs one more pass over each store, not a lookup per row.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use serde::Serialize;

use crate::error::ApiError;
use crate::store::QuestStore;

/// Rows per page read and per batch written.
pub const BATCH: usize = 500;

/// Why a copy did not happen, or did not check out.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] ApiError),
    /// The destination already holds progress.
    #[error(
        "the destination already holds {0} quest records and {1} events: copy into an empty store"
    )]
    NotEmpty(u64, u64),
    /// The destination does not match the source after the copy.
    #[error("the copy does not check out: {0}")]
    Mismatch(String),
}

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Quest records (a character's standing with one quest).
    pub records: u64,
    /// Stored progress events.
    pub events: u64,
}

/// An order-independent digest of a set of rows: a count and two sums of differently keyed
/// hashes of each row's JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Digest {
    count: u64,
    sums: [u64; 2],
}

impl Digest {
    fn add(&mut self, row: &impl Serialize) {
        // Plain structs of numbers and strings: serializing cannot fail.
        let json = serde_json::to_vec(row).unwrap_or_default();
        self.count += 1;
        for (key, sum) in self.sums.iter_mut().enumerate() {
            let mut h = DefaultHasher::new();
            key.hash(&mut h);
            json.hash(&mut h);
            *sum = sum.wrapping_add(h.finish());
        }
    }
}

/// Both tables' digests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Digests {
    records: Digest,
    events: Digest,
}

/// Copies all progress of `from` into the empty `to`, then checks counts and content.
pub async fn copy(from: &dyn QuestStore, to: &dyn QuestStore) -> Result<Copied, CopyError> {
    let (records, events) = to.counts().await?;
    if records + events > 0 {
        return Err(CopyError::NotEmpty(records, events));
    }
    let source = pass(from, Some(to)).await?;
    let destination = pass(to, None).await?;
    let counts = (source.records.count, source.events.count);
    let (in_source, in_destination) = (from.counts().await?, to.counts().await?);
    if in_source != counts || in_destination != counts {
        return Err(CopyError::Mismatch(format!(
            "{counts:?} records and events read and written, but the source now counts \
             {in_source:?} and the destination {in_destination:?} (was the source written to \
             during the copy?)"
        )));
    }
    if destination != source {
        return Err(CopyError::Mismatch(
            "the destination's rows differ from the source's".into(),
        ));
    }
    Ok(Copied {
        records: counts.0,
        events: counts.1,
    })
}

/// Reads every row of `store` into a digest, writing each page to `to` if given.
async fn pass(store: &dyn QuestStore, to: Option<&dyn QuestStore>) -> Result<Digests, ApiError> {
    let mut digests = Digests::default();
    let mut after = None;
    loop {
        let page = store.progress_page(after.clone(), BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.character, last.quest.clone()));
        page.iter().for_each(|row| digests.records.add(row));
        if let Some(to) = to {
            to.import(page, Vec::new()).await?;
        }
    }
    let mut after = None;
    loop {
        let page = store.events_page(after, BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.character, last.event));
        page.iter().for_each(|row| digests.events.add(row));
        if let Some(to) = to {
            to.import(Vec::new(), page).await?;
        }
    }
    if to.is_some() {
        tracing::info!(
            records = digests.records.count,
            events = digests.events.count,
            "copied quest progress"
        );
    }
    Ok(digests)
}
