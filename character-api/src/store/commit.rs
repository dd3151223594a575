//! Group commit: a write is acknowledged only once it is on disk, and writes that arrive
//! together share one flush.
//!
//! ## What sled 0.34.7 does on a flush
//!
//! `Tree::flush_async` runs `PageCache::flush` on sled's IO thread pool. That reads the
//! highest log sequence number reserved so far and calls `make_stable` on it
//! (`pagecache/iobuf.rs`): if another flush already made that point stable it returns at
//! once; otherwise it seals the current IO buffer, which holds every write reserved into
//! it by any thread, writes it with one `pwrite` and one
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`, and threads whose point is covered
//! by a write in progress wait on a condition variable until it finishes. So concurrent
//! flushes do share the underlying write: sled already group-commits.
//!
//! Two things are left to this module:
//!
//! * `sync_file_range` neither writes the file's metadata (its growing size, as sled
//!   appends to the log) nor flushes the device's write cache; its man page warns that it
//!   gives no guarantee after a crash of the machine. sled's background flusher calls
//!   `sync_all` only every 500 ms. An acknowledgement after `flush_async` alone survives
//!   the process being killed, not a power cut. So after `flush_async` the committer also
//!   calls `fdatasync` on its own handle to sled's log file (`<data-dir>/db`), which covers
//!   data written through sled's handle too, since it acts on the file.
//! * `fdatasync` does not coalesce concurrent callers, so the committer runs one flush at a
//!   time: every write that arrives while a flush is under way joins the next one. Under
//!   load the batch grows until one flush carries all concurrent writers; alone, a write
//!   costs one flush.
//!
//! A write is acknowledged when a flush that *started after the write was applied* has
//! finished: the writer registers after applying, and takes the number of the next batch to
//! start.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, watch};

/// Why a write could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The flush failed; the write may or may not be on disk.
    #[error("flushing to disk failed: {0}")]
    Flush(String),
    /// The store is closing and takes no more writes.
    #[error("the store is shutting down")]
    Closed,
}

/// Makes applied writes durable in shared batches. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Committer {
    shared: Arc<Shared>,
}

struct Shared {
    db: sled::Db,
    /// sled's log file, for `fdatasync`; `None` when fsync is turned off.
    log: Option<Arc<File>>,
    state: Mutex<State>,
    wake: Notify,
    done: watch::Sender<Progress>,
}

struct State {
    /// The batch that writes registering now belong to: the next flush to start.
    open_batch: u64,
    /// Whether any write is registered in `open_batch`.
    pending: bool,
    /// No more registrations; the loop ends once the pending batch is flushed.
    closed: bool,
}

#[derive(Debug, Clone)]
struct Progress {
    /// The last batch whose flush finished (0: none yet).
    completed: u64,
    /// How that flush went.
    result: Result<(), CommitError>,
}

impl Committer {
    /// A committer for `db` whose files live in `dir`; its loop runs on the current tokio
    /// runtime until [`Committer::close`].
    pub(crate) fn start(db: sled::Db, dir: &Path, fsync: bool) -> std::io::Result<Self> {
        let log = if fsync {
            // sled 0.34 keeps its whole log in this one file (`Config::db_path`).
            Some(Arc::new(File::open(dir.join("db"))?))
        } else {
            None
        };
        let (done, _) = watch::channel(Progress {
            completed: 0,
            result: Ok(()),
        });
        let shared = Arc::new(Shared {
            db,
            log,
            state: Mutex::new(State {
                open_batch: 1,
                pending: false,
                closed: false,
            }),
            wake: Notify::new(),
            done,
        });
        tokio::spawn(run(shared.clone()));
        Ok(Self { shared })
    }

    /// Waits until every write this thread applied before the call is on disk.
    pub(crate) async fn durable(&self) -> Result<(), CommitError> {
        // Subscribe first, so no completion between registering and waiting is missed.
        let mut done = self.shared.done.subscribe();
        let batch = {
            let mut state = self.lock();
            if state.closed {
                return Err(CommitError::Closed);
            }
            state.pending = true;
            state.open_batch
        };
        self.shared.wake.notify_one();
        let progress = done
            .wait_for(|p| p.completed >= batch)
            .await
            .map_err(|_| CommitError::Closed)?
            .clone();
        progress.result
    }

    /// Flushes what is pending, then stops taking writes and ends the loop.
    pub(crate) async fn close(&self) {
        let last = {
            let mut state = self.lock();
            state.closed = true;
            // The batch of the last registered write, if one is still to be flushed.
            state.pending.then_some(state.open_batch)
        };
        self.shared.wake.notify_one();
        if let Some(batch) = last {
            let mut done = self.shared.done.subscribe();
            let _ = done.wait_for(|p| p.completed >= batch).await;
        }
    }

    /// Whether writes are being taken and the last flush worked.
    pub(crate) fn healthy(&self) -> bool {
        !self.lock().closed && self.shared.done.borrow().result.is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few integers updated atomically under the lock: a panic elsewhere
        // cannot leave it half-written, so a poisoned lock is still good.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn run(shared: Arc<Shared>) {
    loop {
        let batch = loop {
            // Registered before `notified()` polls, so a wake-up between the check and the
            // wait is kept as a permit by `Notify` and not lost.
            let woken = shared.wake.notified();
            {
                let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.pending {
                    state.pending = false;
                    state.open_batch += 1;
                    break state.open_batch - 1;
                }
                if state.closed {
                    return;
                }
            }
            woken.await;
        };
        let started = Instant::now();
        let result = flush(&shared).await;
        crate::metrics::record_flush(started.elapsed(), result.is_ok());
        if let Err(e) = &result {
            tracing::error!(error = %e, batch, "group commit failed");
        }
        shared.done.send_replace(Progress {
            completed: batch,
            result,
        });
    }
}

async fn flush(shared: &Shared) -> Result<(), CommitError> {
    let fail = |e: &dyn std::fmt::Display| CommitError::Flush(e.to_string());
    shared.db.flush_async().await.map_err(|e| fail(&e))?;
    if let Some(log) = &shared.log {
        let log = log.clone();
        tokio::task::spawn_blocking(move || log.sync_data())
            .await
            .map_err(|e| fail(&e))?
            .map_err(|e| fail(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_flushes_and_close_drains() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let committer = Committer::start(db.clone(), dir.path(), true).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let (db, committer) = (db.clone(), committer.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"v"[..]).unwrap();
                committer.durable().await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let batches = committer.shared.done.borrow().completed;
        assert!((1..=64).contains(&batches), "{batches} batches");
        committer.close().await;
        assert!(matches!(
            committer.durable().await,
            Err(CommitError::Closed)
        ));
    }
}
