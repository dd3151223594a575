//! `character-api copy --from <dir|url> --to <dir|url>`: every character from one store to
//! another (sled to PostgreSQL when moving to a shared database, and back), then checked:
//! the destination must hold as many characters as the source, with the same content.
//!
//! The destination must be empty, so that "same count, same content" means the copy is
//! exact; the source is read in pages in id order and written in batches, each batch
//! durable before the next. Stop the API (or APIs) on either store first: a write made
//! during the copy may be missed, and the check would then fail.
//!
//! The content check compares an order-independent digest of every character's JSON
//! (versions and times included) on both sides, so it costs one more pass over each store,
//! not a lookup per character.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use protocol::http::character::Character;

use crate::store::{CharacterStore, StoreError};

/// Characters per page read and per batch written.
pub const BATCH: usize = 500;

/// Why a copy did not happen, or did not check out.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The destination already holds characters.
    #[error("the destination already holds {0} characters: copy into an empty store")]
    NotEmpty(u64),
    /// The destination does not match the source after the copy.
    #[error("the copy does not check out: {0}")]
    Mismatch(String),
}

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Characters copied (and found in the destination).
    pub characters: u64,
}

/// An order-independent digest of a set of characters: a count and two sums of differently
/// keyed hashes of each character's JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Digest {
    count: u64,
    sums: [u64; 2],
}

impl Digest {
    fn add(&mut self, c: &Character) -> Result<(), StoreError> {
        let json = crate::store::encode(c)?;
        self.count += 1;
        for (key, sum) in self.sums.iter_mut().enumerate() {
            let mut h = DefaultHasher::new();
            key.hash(&mut h);
            json.hash(&mut h);
            *sum = sum.wrapping_add(h.finish());
        }
        Ok(())
    }
}

/// Copies every character of `from` into the empty `to`, then checks count and content.
pub async fn copy(from: &dyn CharacterStore, to: &dyn CharacterStore) -> Result<Copied, CopyError> {
    let already = to.count().await?;
    if already > 0 {
        return Err(CopyError::NotEmpty(already));
    }
    let mut source = Digest::default();
    let mut after = None;
    loop {
        let page = from.page(after, BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for c in &page {
            source.add(c)?;
        }
        to.import(&page).await?;
        tracing::info!(copied = source.count, "copying characters");
    }
    let destination = digest(to).await?;
    let (in_source, in_destination) = (from.count().await?, to.count().await?);
    if in_source != source.count || in_destination != source.count {
        return Err(CopyError::Mismatch(format!(
            "{} characters read and written, but the source now counts {in_source} and the \
             destination {in_destination} (was the source written to during the copy?)",
            source.count
        )));
    }
    if destination != source {
        return Err(CopyError::Mismatch(
            "the destination's characters differ from the source's".into(),
        ));
    }
    Ok(Copied {
        characters: source.count,
    })
}

/// The digest of every character in `store`.
async fn digest(store: &dyn CharacterStore) -> Result<Digest, StoreError> {
    let mut digest = Digest::default();
    let mut after = None;
    loop {
        let page = store.page(after, BATCH).await?;
        let Some(last) = page.last() else {
            return Ok(digest);
        };
        after = Some(last.id);
        for c in &page {
            digest.add(c)?;
        }
    }
}
