//! Group commit for sled: a write is acknowledged only once it is on disk, and writes that
//! arrive together share one flush. Both APIs answer writes through this.
//!
//! ## The durability argument (sled 0.34.7)
//!
//! * **What a sled flush does.** `Db::flush` reads the highest log sequence number reserved
//!   so far and makes it stable (`pagecache/iobuf.rs`, `make_stable`): if another flush
//!   already did, it returns at once; otherwise it seals the current IO buffer, which holds
//!   every write reserved into it by any thread, writes it with one `pwrite` and one
//!   `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`, and threads whose point is
//!   covered by a write in progress wait on a condition variable until it finishes.
//! * **Why that is not enough.** `sync_file_range` survives any crash of the process (the
//!   data is in the kernel) but writes neither the file's metadata (the log's growing
//!   size) nor the drive's write cache; its man page promises nothing after a crash of the
//!   machine, and sled's own background `fsync` runs only every 500 ms. So each flush here
//!   also calls `fdatasync` on this committer's own handle to sled's log file
//!   (`<data dir>/db`, where sled 0.34 keeps its whole log), which covers what sled wrote
//!   through its handle too, since it acts on the file. Services may turn it off (then an
//!   acknowledged write survives a process crash, not a power cut).
//! * **Why one thread.** `fdatasync` does not coalesce concurrent callers, so one flush at
//!   a time: every write that arrives while a flush is under way joins the next one. Under
//!   load a batch grows until one flush carries every concurrent writer; alone, a write
//!   costs one flush. And the flushes run on a thread of their own, not through sled's
//!   `flush_async`: that runs the blocking flush on sled's small IO pool, where the write
//!   of a sealed buffer is queued too (`maybe_seal_and_write_iobuf`), so dozens of
//!   concurrent `flush_async` calls can fill every pool thread with flushes waiting for a
//!   buffer write queued behind them (a deadlock, reproduced with 16 concurrent writers).
//! * **Which flush acknowledges a write.** One that *started after the write was applied*:
//!   the writer asks for durability after applying, and the thread takes every request
//!   that arrived before it starts a flush into that flush's batch.
//! * A flush holds sled's global concurrency-control read lock while it waits for the disk
//!   and transactions take it for writing, so transactions pause during a flush; requests
//!   queue meanwhile and the next flush takes them as one batch.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Why a write could not be made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The flush failed; the write may or may not be on disk.
    #[error("flushing to disk failed: {0}")]
    Flush(String),
    /// The committer is closed and takes no more writes.
    #[error("the store is shutting down")]
    Closed,
}

/// One finished flush, for the service's metrics.
#[derive(Debug, Clone, Copy)]
pub struct FlushReport {
    /// How long sled's flush and the `fdatasync` took.
    pub elapsed: Duration,
    /// How many durability requests it answered.
    pub batch: usize,
    /// Whether it worked.
    pub ok: bool,
}

/// How a committer flushes.
#[derive(Debug, Clone, Copy)]
pub struct CommitOptions {
    /// Also `fdatasync` sled's log file after each flush (see the module docs).
    pub fsync: bool,
    /// Called after every flush, on the committer's thread: record metrics here.
    pub on_flush: fn(&FlushReport),
}

/// Makes applied writes durable in shared batches, on a thread of its own. Cheap to clone.
#[derive(Clone)]
pub struct GroupCommitter {
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` once closed.
    requests: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<Result<(), CommitError>>>>,
    /// Writes begun whose flush has not finished. While it is 0, everything a read can see
    /// is already on disk, so a read needs no flush.
    pending_writes: AtomicUsize,
    /// Whether the last flush worked.
    last_ok: AtomicBool,
}

/// A durability request: answered once a flush that started after it was sent finished.
struct Waiter {
    answer: oneshot::Sender<Result<(), CommitError>>,
    /// Sent on behalf of a write counted in `pending_writes`.
    write: bool,
}

/// The answer to a durability request, to await.
#[derive(Debug)]
pub struct Durable(oneshot::Receiver<Result<(), CommitError>>);

impl Durable {
    /// Waits until the flush covering the request has finished.
    pub async fn wait(self) -> Result<(), CommitError> {
        self.0.await.unwrap_or(Err(CommitError::Closed))
    }
}

/// A write in progress (see [`GroupCommitter::begin_write`]). Dropped without
/// [`PendingWrite::commit`] (a panic mid-write), it still asks for the flush, so the
/// pending count always comes back down.
#[must_use = "commit the write to learn when it is durable"]
pub struct PendingWrite {
    shared: Option<Arc<Shared>>,
}

impl PendingWrite {
    /// Asks for a flush covering the write, applied by now.
    pub fn commit(mut self) -> Result<Durable, CommitError> {
        let shared = self.shared.take().ok_or(CommitError::Closed)?;
        request(&shared, true)
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let _ = request(&shared, true);
        }
    }
}

impl GroupCommitter {
    /// A committer for `db`, whose files live in `dir`, flushing on its own thread until
    /// [`GroupCommitter::close`].
    pub fn start(db: sled::Db, dir: &Path, options: CommitOptions) -> std::io::Result<Self> {
        let log = if options.fsync {
            let path = dir.join("db");
            let file = File::open(&path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
            })?;
            Some(file)
        } else {
            None
        };
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Some(tx)),
            thread: Mutex::new(None),
            pending_writes: AtomicUsize::new(0),
            last_ok: AtomicBool::new(true),
        });
        let weak = Arc::downgrade(&shared);
        let thread = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || commit_loop(&db, log.as_ref(), &rx, &weak, options.on_flush))?;
        *lock(&shared.thread) = Some(thread);
        Ok(Self { shared })
    }

    /// Marks the start of a write. Until its [`PendingWrite::commit`]'s flush has
    /// finished, [`GroupCommitter::has_pending_writes`] is true.
    pub fn begin_write(&self) -> PendingWrite {
        self.shared.pending_writes.fetch_add(1, Ordering::SeqCst);
        PendingWrite {
            shared: Some(self.shared.clone()),
        }
    }

    /// Whether some write has begun whose flush has not finished: then what a read saw
    /// may not be on disk yet.
    pub fn has_pending_writes(&self) -> bool {
        self.shared.pending_writes.load(Ordering::SeqCst) > 0
    }

    /// Asks for a flush covering every write applied so far. Never blocks; the flush
    /// happens even if nobody waits for the answer.
    pub fn request(&self) -> Result<Durable, CommitError> {
        request(&self.shared, false)
    }

    /// Waits until every write applied before the call is on disk.
    pub async fn durable(&self) -> Result<(), CommitError> {
        self.request()?.wait().await
    }

    /// Whether writes are being taken and the last flush worked.
    pub fn healthy(&self) -> bool {
        lock(&self.shared.requests).is_some() && self.shared.last_ok.load(Ordering::SeqCst)
    }

    /// Stops taking requests, flushes what is pending and a last time, and waits for the
    /// thread (blocking: call it from a blocking context). Later requests fail with
    /// [`CommitError::Closed`]. Returns how the last flush went.
    pub fn close(&self) -> Result<(), CommitError> {
        drop(lock(&self.shared.requests).take());
        let Some(thread) = lock(&self.shared.thread).take() else {
            return Ok(());
        };
        thread
            .join()
            .unwrap_or_else(|_| Err(CommitError::Flush("the committer thread panicked".into())))
    }
}

/// Locks, taking over a poisoned lock: what it guards is replaced whole, never half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn request(shared: &Shared, write: bool) -> Result<Durable, CommitError> {
    let (answer, durable) = oneshot::channel();
    let sent = lock(&shared.requests)
        .as_ref()
        .is_some_and(|tx| tx.send(Waiter { answer, write }).is_ok());
    if sent {
        Ok(Durable(durable))
    } else {
        if write {
            shared.pending_writes.fetch_sub(1, Ordering::SeqCst);
        }
        Err(CommitError::Closed)
    }
}

/// The committer thread: one flush per batch of waiting requests, then answer the batch.
fn commit_loop(
    db: &sled::Db,
    log: Option<&File>,
    requests: &mpsc::Receiver<Waiter>,
    shared: &std::sync::Weak<Shared>,
    on_flush: fn(&FlushReport),
) -> Result<(), CommitError> {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        batch.extend(requests.try_iter());
        let started = Instant::now();
        let result = flush(db, log);
        on_flush(&FlushReport {
            elapsed: started.elapsed(),
            batch: batch.len(),
            ok: result.is_ok(),
        });
        if let Err(e) = &result {
            tracing::error!(error = %e, batch = batch.len(), "group commit failed");
        }
        if let Some(shared) = shared.upgrade() {
            shared.last_ok.store(result.is_ok(), Ordering::SeqCst);
            let writes = batch.iter().filter(|w| w.write).count();
            shared.pending_writes.fetch_sub(writes, Ordering::SeqCst);
        }
        for waiter in batch {
            // A waiter whose request was cancelled has gone; nothing to tell it.
            let _ = waiter.answer.send(result.clone());
        }
    }
    let last = flush(db, log);
    if let Err(e) = &last {
        tracing::error!(error = %e, "the final flush failed");
    }
    last
}

/// One flush: sled's (write + `sync_file_range`), then `fdatasync` of its log file.
fn flush(db: &sled::Db, log: Option<&File>) -> Result<(), CommitError> {
    db.flush().map_err(|e| CommitError::Flush(e.to_string()))?;
    if let Some(log) = log {
        log.sync_data()
            .map_err(|e| CommitError::Flush(format!("fdatasync of sled's log: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CommitOptions {
        CommitOptions {
            fsync: true,
            on_flush: |_| {},
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_flushes_and_close_drains() {
        static FLUSHES: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let committer = GroupCommitter::start(
            db.clone(),
            dir.path(),
            CommitOptions {
                fsync: true,
                on_flush: |_| {
                    FLUSHES.fetch_add(1, Ordering::SeqCst);
                },
            },
        )
        .unwrap();
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
        let flushes = FLUSHES.load(Ordering::SeqCst);
        assert!((1..=64).contains(&flushes), "{flushes} flushes");
        assert!(committer.healthy());
        let closing = committer.clone();
        tokio::task::spawn_blocking(move || closing.close())
            .await
            .unwrap()
            .unwrap();
        assert!(!committer.healthy());
        assert_eq!(committer.durable().await, Err(CommitError::Closed));
    }

    #[tokio::test]
    async fn writes_are_pending_until_their_flush_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let committer = GroupCommitter::start(db, dir.path(), options()).unwrap();
        assert!(!committer.has_pending_writes());
        let write = committer.begin_write();
        assert!(committer.has_pending_writes());
        write.commit().unwrap().wait().await.unwrap();
        assert!(!committer.has_pending_writes());
        // A read's request does not touch the count.
        committer.durable().await.unwrap();
        assert!(!committer.has_pending_writes());
        // A write dropped mid-way still gets its flush.
        drop(committer.begin_write());
        committer.durable().await.unwrap();
        assert!(!committer.has_pending_writes());
        committer.close().unwrap();
        assert_eq!(committer.durable().await, Err(CommitError::Closed));
        let refused = committer.begin_write().commit();
        assert!(refused.is_err());
        assert!(
            !committer.has_pending_writes(),
            "a refused write is not left pending"
        );
    }
}
