//! The manager's durable state: the epoch counter, in sled.
//!
//! Epochs must never repeat, across crashes included, or a zone holding an old epoch
//! could not be told apart from the new owner. So an epoch is handed out only once a
//! number at least as high is on disk: the store persists a *reservation* (the highest
//! epoch it may hand out), flushed with `flush_async` before any epoch under it is used,
//! and hands out the reserved numbers from memory. A crash loses at most the unused rest
//! of a block (epochs skip ahead; they never go back). One flush per block, started in the
//! background when half the block is used, keeps allocation off the disk's latency path.
//!
//! The area map itself is not stored: zones report their area and epoch in every
//! heartbeat, and after a restart the manager rebuilds the map from them.

use std::path::Path;
use std::sync::Arc;

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
    /// The highest epoch persisted (flushed) as reserved: nothing above it is handed out.
    reserved: u64,
    /// A background extension of the reservation is under way.
    refilling: bool,
}

#[derive(Debug)]
struct Shared {
    db: sled::Db,
    counter: std::sync::Mutex<Counter>,
    /// One writer of the reservation at a time.
    lane: Mutex<()>,
    block: u64,
}

/// The persisted, ever-growing epoch counter.
///
/// When half of the reservation is used, the next block is reserved and flushed in the
/// background, so an allocation waits for the disk only when a burst outruns a flush.
#[derive(Debug, Clone)]
pub struct EpochStore {
    shared: Arc<Shared>,
    /// The reservation found at open: 0 means no epoch was ever issued from this store.
    reserved_at_open: u64,
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
            shared: Arc::new(Shared {
                db,
                // Everything up to the old reservation may have been used before a crash.
                counter: std::sync::Mutex::new(Counter {
                    next: reserved + 1,
                    reserved,
                    refilling: false,
                }),
                lane: Mutex::new(()),
                block: block.max(1),
            }),
            reserved_at_open: reserved,
        })
    }

    /// Whether this store had issued epochs before it was opened (so zones may be holding
    /// areas under them: the manager restarted).
    pub fn issued_before(&self) -> bool {
        self.reserved_at_open > 0
    }

    /// Whether `epoch` may have been handed out by this store, in this run or an earlier
    /// one. Nothing a zone says can move the counter (invariant 5): a claim above this is
    /// refused, not believed.
    pub fn may_have_issued(&self, epoch: Epoch) -> bool {
        epoch.0 > 0 && epoch.0 < self.shared.lock().next
    }

    /// Whether `epoch` was (or may have been) handed out before this process opened the
    /// store: only such claims may be adopted from reports without a grant of this run.
    pub fn issued_before_open(&self, epoch: Epoch) -> bool {
        epoch.0 > 0 && epoch.0 <= self.reserved_at_open
    }

    /// A new epoch, higher than every epoch handed out before, and persisted
    /// (as part of a flushed reservation) before this returns.
    pub async fn next(&self) -> Result<Epoch, StoreError> {
        loop {
            let refill = {
                let mut c = self.shared.lock();
                if c.next <= c.reserved {
                    let epoch = c.next;
                    c.next += 1;
                    let low = c.reserved - epoch < self.shared.block / 2;
                    let refill = low && !c.refilling;
                    if refill {
                        c.refilling = true;
                    }
                    Some((epoch, refill))
                } else {
                    None
                }
            };
            match refill {
                Some((epoch, refill)) => {
                    if refill {
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            if let Err(e) = shared.extend().await {
                                tracing::error!("reserving epochs failed: {e}");
                            }
                            shared.lock().refilling = false;
                        });
                    }
                    return Ok(Epoch(epoch));
                }
                // Used up: reserve now and retry.
                None => self.shared.extend().await?,
            }
        }
    }

    /// Waits for a background reservation to finish, then flushes (on shutdown, so the
    /// database is closed when the last handle drops and can be reopened).
    pub async fn flush(&self) -> Result<(), StoreError> {
        for _ in 0..200 {
            if !self.shared.lock().refilling {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let _lane = self.shared.lane.lock().await;
        self.shared.db.flush_async().await?;
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counter> {
        self.counter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Persists a reservation one block above what is handed out or reserved now, and
    /// makes it usable once it is on disk.
    async fn extend(&self) -> Result<(), StoreError> {
        let _lane = self.lane.lock().await;
        let target = {
            let c = self.lock();
            c.reserved.max(c.next - 1).saturating_add(self.block)
        };
        self.db.insert(RESERVED_KEY, &target.to_be_bytes())?;
        self.db.flush_async().await?;
        let mut c = self.lock();
        c.reserved = c.reserved.max(target);
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
            store.flush().await.unwrap();
        }
        let store = EpochStore::open(dir.path(), 4).unwrap();
        assert!(store.issued_before());
        let e = store.next().await.unwrap().0;
        assert!(e > last, "{e} after {last}");
        assert!(store.issued_before_open(Epoch(last)));
        assert!(store.may_have_issued(Epoch(e)));
        // No message can push the counter: a claim above it is simply not issued.
        assert!(!store.may_have_issued(Epoch(u64::MAX)));
        assert!(!store.may_have_issued(Epoch(e + 1)));
        assert!(!store.issued_before_open(Epoch(e)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_never_share_an_epoch_and_stay_under_the_flushed_reservation() {
        let dir = tempfile::tempdir().unwrap();
        let store = EpochStore::open(dir.path(), 8).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    for _ in 0..50 {
                        let e = s.next().await.unwrap().0;
                        // Whatever was handed out is covered by what is on disk.
                        let on_disk = s.shared.db.get(RESERVED_KEY).unwrap().unwrap();
                        let on_disk = u64::from_be_bytes(on_disk.as_ref().try_into().unwrap());
                        assert!(e <= on_disk, "{e} handed out above the persisted {on_disk}");
                        mine.push(e);
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "no epoch handed out twice");
    }
}
