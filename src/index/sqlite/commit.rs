//! The SQLite commit engine: one writer connection whose transactions are
//! batches of write bodies (a savepoint each), committed by the **index
//! thread** (`combine`) and made durable by the **sync thread**
//! (`sync_and_checkpoint`), which fsyncs the WAL once for every commit so
//! far and delivers the answers; and the running of a body on a connection
//! (`run_body_in_batch`, `read_body`).
//!
//! Must never deliver an answer before the commit it depends on is durable
//! (unless the body said nobody takes it as stored).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::Connection;

use super::tx::SqliteTx;
use crate::index::{Body, DbError, IndexError};

/// What the callers of this index and its combiner thread share.
pub(super) struct Core {
    /// The one connection that writes; its mutex orders all commits. `None`
    /// only while the combiner has it out for a batch (with the lock held).
    pub(super) writer: Mutex<Option<Connection>>,
    /// `None` when `[storage] fsync = false`: commits are not waited for.
    pub(super) group: Option<GroupCommit>,
}

/// A batch the combiner thread is running: its connection, lent to the
/// index methods its jobs call on that thread.
pub(super) struct BatchCtx {
    /// `None` only while a transaction body has it (see `run_body_in_batch`).
    pub(super) conn: Option<Connection>,
    /// A savepoint could not be undone: the batch must roll back.
    pub(super) broken: bool,
    /// What broke it was the disk being full: every write of the batch is
    /// answered so (see `run_body_in_batch`).
    pub(super) full: bool,
}

thread_local! {
    /// Set on the combiner thread while it runs a batch (see `in_batch`).
    static BATCH: RefCell<Option<BatchCtx>> = const { RefCell::new(None) };
}

/// Most writes one batch runs; the rest wait for the next.
pub(super) const MAX_BATCH: usize = 256;

/// The state of group commit. Sequence numbers count write transactions;
/// both counters move only under the writer lock.
pub(super) struct GroupCommit {
    /// The WAL file, reopened by path for each sync (SQLite may recreate
    /// it when the last connection closes; the path is what stays).
    pub(super) wal_path: PathBuf,
    /// Transactions begun: a reader's upper bound on what it may have seen.
    pub(super) begun: AtomicU64,
    /// Transactions ended (committed or not): everything up to here is in
    /// the WAL file, so one fdatasync makes it durable.
    pub(super) ended: AtomicU64,
    /// Everything up to here is durable.
    pub(super) synced: AtomicU64,
    /// Held by the one caller doing the sync; the others queue behind it and
    /// usually find their commit already covered.
    pub(super) sync_lock: Mutex<()>,
    /// WAL syncs done, for tests and metrics: far fewer than commits under
    /// concurrent load.
    pub(super) syncs: AtomicU64,
}

/// Hands a submitted write its outcome: `Ok` once the transaction it ran in
/// is durable, or the error that stopped that transaction.
pub(super) type Delivery = Box<dyn FnOnce(Result<(), DbError>) + Send>;
/// A write for the combiner: runs its body in the batch, keeps the answer,
/// and returns what delivers it, and whether that must wait until the
/// write is durable (`false` only for answers no client takes as "stored",
/// such as a presign whose URL carries the whole declaration).
pub(super) type WriteJob = Box<dyn FnOnce() -> (Delivery, bool) + Send>;

impl Core {
    pub(super) fn lock_writer(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<Connection>>, DbError> {
        self.writer.lock().map_err(|_| DbError::Poisoned)
    }

    /// Counts a write transaction as ended (under the writer lock) and
    /// returns its sequence number.
    pub(super) fn end_transaction(&self) -> u64 {
        match &self.group {
            Some(g) => g.ended.fetch_add(1, Ordering::SeqCst) + 1,
            None => 0,
        }
    }

    /// Returns once transactions up to `seq` are durable, syncing the WAL
    /// if no one else already did.
    pub(super) fn wait_durable(&self, seq: u64) -> Result<(), DbError> {
        let Some(g) = &self.group else {
            return Ok(());
        };
        if g.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let _leader = g.sync_lock.lock().map_err(|_| DbError::Poisoned)?;
        loop {
            if g.synced.load(Ordering::SeqCst) >= seq {
                return Ok(());
            }
            let target = g.ended.load(Ordering::SeqCst);
            if target < seq {
                // A transaction a reader may have seen is still committing:
                // wait for the writer to let go, then look again.
                drop(self.lock_writer()?);
                continue;
            }
            sync_wal(&g.wal_path).map_err(DbError::Sync)?;
            g.syncs.fetch_add(1, Ordering::Relaxed);
            g.synced.fetch_max(target, Ordering::SeqCst);
        }
    }
}

/// A committed (or failed) batch on its way to the syncer thread: the
/// outcome, and each job's delivery with whether it must wait for the sync.
pub(super) type Committed = (Result<u64, DbError>, Vec<(Delivery, bool)>);
/// What the syncer delivers once the batch's sequence number is durable.
pub(super) type ToSync = (Result<u64, DbError>, Vec<Delivery>);

/// The combiner thread: runs the jobs of `Index::submit_write` in batches,
/// one transaction per batch, and hands each committed batch to a syncer
/// thread of its own, which delivers the results once the WAL sync covers
/// the batch. So the next batch is built and committed while the disk
/// syncs the last one (and one sync may cover several). Ends when the
/// index is dropped; the syncer ends after the last batch it was handed.
pub(super) fn combine(
    core: &Core,
    jobs: &std::sync::mpsc::Receiver<WriteJob>,
    to_syncer: &std::sync::mpsc::Sender<ToSync>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let (outcome, jobs) = run_jobs(core, batch);
        // Results that need not be durable go out now; the rest after the
        // sync (all of them, if the batch failed).
        let mut deliveries = Vec::with_capacity(jobs.len());
        for (d, durable) in jobs {
            if durable || outcome.is_err() {
                deliveries.push(d);
            } else {
                d(Ok(()));
            }
        }
        if let Err(std::sync::mpsc::SendError((outcome, deliveries))) =
            to_syncer.send((outcome, deliveries))
        {
            // The syncer is gone (it panicked): sync here.
            deliver(outcome.and_then(|seq| core.wait_durable(seq)), deliveries);
        }
    }
}

/// How often the syncer copies the WAL into the database when idle or
/// between batches.
pub(super) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// WAL frames (pages) at which the writer's own checkpoint runs after a
/// commit (16 MiB at 4 KiB pages; SQLite's default is 1000).
pub(super) const WRITER_CHECKPOINT_FRAMES: i64 = 4096;

/// WAL frames beyond which the syncer forces the WAL to start over (a
/// RESTART checkpoint, which holds the writer off while it runs): only if
/// the writer's checkpoints could not reset it, e.g. under readers that
/// never pause (1 GiB at 4 KiB pages).
pub(super) const WAL_RESTART_FRAMES: i64 = 1 << 18;

/// The syncer thread: delivers each committed batch once the WAL sync
/// covers it, and checkpoints the WAL into the database on the side, on a
/// connection of its own. PASSIVE checkpoints never block the combiner, but
/// cannot let the WAL start over while it keeps appending: the writer's
/// own (short) checkpoint does that, and a RESTART here only if the WAL
/// still grows past [`WAL_RESTART_FRAMES`]. Ends when the combiner does.
pub(super) fn sync_and_checkpoint(
    core: &Core,
    committed: &std::sync::mpsc::Receiver<ToSync>,
    checkpointer: &Connection,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut last = std::time::Instant::now();
    loop {
        match committed.recv_timeout(CHECKPOINT_EVERY) {
            Ok((outcome, deliveries)) => {
                deliver(outcome.and_then(|seq| core.wait_durable(seq)), deliveries);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if last.elapsed() < CHECKPOINT_EVERY {
            continue;
        }
        last = std::time::Instant::now();
        let frames = |mode: &str| -> rusqlite::Result<i64> {
            checkpointer.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(1))
        };
        let r = frames("PASSIVE").and_then(|log| {
            if log > WAL_RESTART_FRAMES {
                frames("RESTART")
            } else {
                Ok(log)
            }
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

/// Hands every job of a batch the batch's outcome.
pub(super) fn deliver(outcome: Result<(), DbError>, deliveries: Vec<Delivery>) {
    match outcome {
        Ok(()) => deliveries.into_iter().for_each(|d| d(Ok(()))),
        Err(e) => {
            let msg = e.to_string();
            tracing::warn!(error = %msg, "a batch of index writes failed");
            let full = e.is_disk_full();
            deliveries.into_iter().for_each(|d| {
                d(Err(if full {
                    DbError::DiskFull
                } else {
                    DbError::Batch(msg.clone())
                }))
            });
        }
    }
}

/// One batch of the combiner: takes the writer connection out for the
/// batch (holding its lock), runs every job (their index calls land in
/// the batch through `in_batch`) and commits; returns the commit's
/// sequence number, to be waited for before delivering. A job whose
/// deliverer is missing (it panicked) fails by its dropped channel.
pub(super) fn run_jobs(core: &Core, jobs: Vec<WriteJob>) -> Committed {
    let mut deliveries = Vec::with_capacity(jobs.len());
    let seq;
    let outcome = {
        let mut guard = match core.lock_writer() {
            Ok(g) => g,
            Err(e) => return (Err(e), deliveries),
        };
        let Some(conn) = guard.take() else {
            return (Err(DbError::Poisoned), deliveries);
        };
        if let Some(g) = &core.group {
            g.begun.fetch_add(1, Ordering::SeqCst);
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        let ok = began.is_ok();
        BATCH.with(|b| {
            *b.borrow_mut() = Some(BatchCtx {
                conn: Some(conn),
                broken: !ok,
                full: false,
            })
        });
        // Every job runs even if BEGIN failed: its index calls then fail
        // at once (the batch is "broken"), and its delivery carries the
        // batch's error.
        for job in jobs {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                Ok(d) => deliveries.push(d),
                Err(_) => BATCH.with(|b| {
                    if let Some(ctx) = b.borrow_mut().as_mut() {
                        ctx.broken = true;
                    }
                }),
            }
        }
        let Some(ctx) = BATCH.with(|b| b.borrow_mut().take()) else {
            return (Err(DbError::Poisoned), deliveries);
        };
        let Some(conn) = ctx.conn else {
            return (Err(DbError::Poisoned), deliveries);
        };
        let outcome = match began {
            Err(e) => Err(e.into()),
            Ok(()) if ctx.broken => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(if ctx.full {
                    DbError::DiskFull
                } else {
                    DbError::Batch("a write of the batch could not be undone".into())
                })
            }
            Ok(()) => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                DbError::from(e)
            }),
        };
        *guard = Some(conn);
        seq = core.end_transaction();
        outcome
    };
    (outcome.map(|()| seq), deliveries)
}

/// Runs a transaction body to its end on this thread. A SQLite row
/// operation finishes when it is called, so the body's future is ready at
/// its first poll; one that is not waits on something else, which a body
/// must never do (it would hold the writer): refused.
pub(super) fn run_now<R>(mut body: crate::index::TxFuture<'_, R>) -> Result<R, IndexError> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match body.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(IndexError::BodyBlocked),
    }
}

/// Runs a write body in the batch this thread (the combiner) is running,
/// in a savepoint of its own: kept if it succeeds, undone alone if not.
/// The connection is lent to the body whole (see [`tx::SqliteTx`]).
pub(super) fn run_body_in_batch(body: &mut Body) -> Result<Box<dyn std::any::Any + Send>, DbError> {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(ctx) = b.as_mut() else {
            return Err(DbError::Poisoned);
        };
        if ctx.broken {
            return Err(DbError::Batch(
                "an earlier write of its batch failed".into(),
            ));
        }
        let conn = ctx.conn.take().ok_or(DbError::Poisoned)?;
        let mut t = SqliteTx { conn };
        let saved = t
            .conn
            .prepare_cached("SAVEPOINT job")
            .and_then(|mut s| s.execute([]));
        let r = match saved {
            Ok(_) => run_now(body(&mut t)).map_err(DbError::Index),
            Err(e) => {
                ctx.conn = Some(t.conn);
                ctx.broken = true;
                return Err(e.into());
            }
        };
        let undone = (|| -> rusqlite::Result<()> {
            if r.is_err() {
                t.conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            t.conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(())
        })();
        ctx.conn = Some(t.conn);
        if let Err(e) = undone {
            ctx.broken = true;
            // SQLITE_FULL in a statement without a statement journal (a
            // plain INSERT) makes SQLite roll back the whole transaction,
            // savepoint and batch with it: the batch is lost for the disk
            // being full, and every write of it is answered so (507, not
            // a fault), this one included.
            if matches!(r, Err(DbError::Index(IndexError::DiskFull))) {
                ctx.full = true;
                return r;
            }
            return Err(e.into());
        }
        r
    })
}

/// Runs a read body on the reader connection in `slot`, on this thread, in
/// one read transaction (one snapshot of the WAL for the whole body).
pub(super) fn read_body(
    slot: &mut Option<Connection>,
    body: &mut Body,
) -> Result<Box<dyn std::any::Any + Send>, IndexError> {
    let conn = slot
        .take()
        .ok_or_else(|| IndexError::Backend("a reader connection is missing".into()))?;
    let mut t = SqliteTx { conn };
    let r = t
        .conn
        .execute_batch("BEGIN")
        .map_err(IndexError::from)
        .and_then(|()| run_now(body(&mut t)));
    let _ = t.conn.execute_batch("COMMIT");
    *slot = Some(t.conn);
    r
}

/// fdatasync of the WAL. Should it not exist (every connection closed and
/// SQLite checkpointed it away), the commits are in the database file,
/// which is synced instead.
pub(super) fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The database is the WAL's name without its `-wal`.
            let db = wal.to_string_lossy();
            std::fs::File::open(db.trim_end_matches("-wal"))?.sync_data()
        }
        Err(e) => Err(e),
    }
}
