//! The manager's durable state: the epoch counter, in sled.
//!
//! Epochs must never repeat, across crashes included, or a zone holding an old epoch
//! could not be told apart from the new owner. So an epoch is handed out only once a
//! number at least as high is on disk: the store persists a *reservation* (the highest
//! epoch it may hand out), flushed with `flush_async` before any epoch under it is used,
//! and hands out the reserved numbers from memory. A crash loses at most the unused rest
//! of a block (epochs skip ahead; they never go back). One flush per block keeps
//! allocation off the disk's latency path.
//!
//! The area map itself is not stored: zones report their area and epoch in every
//! heartbeat, and after a restart the manager rebuilds the map from them.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::Epoch;
use tokio::sync::Mutex;

const RESERVED_KEY: &[u8] = b"epoch_reserved";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, permissions, lock held by another manager).
    #[error("epoch store: {0}")]
    Sled(#[from] sled::Error),
    /// The stored counter is not 8 bytes (a foreign or corrupted database).
    #[error("epoch store: the stored counter is corrupted")]
    Corrupt,
}

#[derive(Debug)]
struct Counter {
    /// The next epoch to hand out.
    next: u64,
    /// The highest epoch persisted as reserved.
    reserved: u64,
}

/// The persisted, ever-growing epoch counter.
#[derive(Debug)]
pub struct EpochStore {
    db: sled::Db,
    counter: Mutex<Counter>,
    /// The highest epoch seen in the cluster (heartbeats): the next epoch handed out is
    /// above it even if the data dir was lost or replaced.
    observed: AtomicU64,
    /// The reservation found at open: 0 means no epoch was ever issued from this store.
    reserved_at_open: u64,
    block: u64,
}

impl EpochStore {
    /// Opens (or creates) the store in `dir`, reserving `block` epochs per flush.
    pub fn open(dir: &Path, block: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        let reserved = match db.get(RESERVED_KEY)? {
            None => 0,
            Some(bytes) => {
                u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt)?)
            }
        };
        Ok(Self {
            db,
            // Everything up to the old reservation may have been used before a crash.
            counter: Mutex::new(Counter {
                next: reserved + 1,
                reserved,
            }),
            observed: AtomicU64::new(0),
            reserved_at_open: reserved,
            block: block.max(1),
        })
    }

    /// Whether this store had issued epochs before it was opened (so zones may be holding
    /// areas under them: the manager restarted).
    pub fn issued_before(&self) -> bool {
        self.reserved_at_open > 0
    }

    /// Notes an epoch seen in the cluster, so no epoch handed out later is at or below it.
    pub fn observe(&self, epoch: Epoch) {
        self.observed.fetch_max(epoch.0, Ordering::AcqRel);
    }

    /// A new epoch, higher than every epoch handed out or observed before, and persisted
    /// (as part of a reservation) before this returns.
    pub async fn next(&self) -> Result<Epoch, StoreError> {
        let mut c = self.counter.lock().await;
        let floor = self.observed.load(Ordering::Acquire).saturating_add(1);
        c.next = c.next.max(floor);
        if c.next > c.reserved {
            let reserved = c.next.saturating_add(self.block - 1);
            self.db.insert(RESERVED_KEY, &reserved.to_be_bytes())?;
            self.db.flush_async().await?;
            c.reserved = reserved;
        }
        let epoch = c.next;
        c.next += 1;
        Ok(Epoch(epoch))
    }

    /// Flushes outstanding writes (on shutdown).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn epochs_grow_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut last = 0;
        {
            let store = EpochStore::open(dir.path(), 4).unwrap();
            assert!(!store.issued_before());
            for _ in 0..10 {
                let e = store.next().await.unwrap().0;
                assert!(e > last);
                last = e;
            }
        }
        let store = EpochStore::open(dir.path(), 4).unwrap();
        assert!(store.issued_before());
        let e = store.next().await.unwrap().0;
        assert!(e > last, "{e} after {last}");
        store.observe(Epoch(1000));
        assert_eq!(store.next().await.unwrap(), Epoch(1001));
    }
}
