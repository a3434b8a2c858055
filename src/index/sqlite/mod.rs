//! SQLite implementation of [`Index`]: one writer connection and a few
//! reader connections over a WAL journal, with **group commit**.
//!
//! Durability: a write transaction commits with `synchronous = NORMAL` (no
//! fsync of its own) and is answered only once the WAL file has been
//! `fdatasync`ed past its commit ([`Core::wait_durable`]). One waiter at a
//! time does that sync, for every commit made so far, so concurrent writers
//! share one fsync — the same guarantee as `synchronous = FULL` (a commit we
//! answered for survives a power cut), at a fraction of the fsyncs. Reads
//! wait the same way for whatever they might have seen, so no caller acts on
//! (or tells a client about) a commit that is not yet durable; settings
//! reads (tokens, keys, grants: `run_read` with `fresh` false) are the one
//! exception. With `[storage]
//! fsync = false` nothing waits.
//!
//! Three ways in, all ending in that wait:
//! - [`Index::submit_write`] (the upload hot paths, from async code): the
//!   **index thread** (`combine`) runs whatever has queued in one
//!   transaction, each write in a savepoint of its own, and hands the commit
//!   to the **sync thread** (`sync_and_checkpoint`), which delivers the
//!   results once durable. A job may take its result at commit when it says
//!   nobody will read it as "stored" (a presign whose URL carries the whole
//!   declaration).
//! - `write_batched` (the same writes from blocking callers): the job goes
//!   to the same index thread, and the caller blocks until it is answered.
//! - `write` / `read`: one transaction per call, for everything else.
//!
//! The sync thread also checkpoints the WAL into the database, so commits
//! do not; the writer keeps only a short checkpoint that lets the WAL start
//! over.
//!
//! This file must never answer before that wait.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use futures_util::future::BoxFuture;

use super::{
    migrations, BlobEntry, BlobInfo, Body, DbError, Declared, Delivery, FileRecord, Index,
    IndexError, MultipartUpload, MustBeDurable, ObjectRecord, PartRecord, PutPartOutcome, Status,
    TokenRecord, WriteJob,
};
use crate::store::Digest;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "stowage.db";

/// Makes the database file (and its WAL and shared-memory files, which
/// SQLite creates with the database file's mode) readable by its owner
/// only, whatever the umask: it holds the secrets of access keys. A new
/// file is created so; an existing one open to others is tightened, and the
/// log says so.
fn owner_only(path: &Path) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(DbError::Permissions(e)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(DbError::Permissions)?;
            tracing::warn!(file = %file.display(), "the index was readable by other users; now owner-only (0600)");
        }
    }
    Ok(())
}

/// Reader connections: reads never wait for the writer (WAL), and a few
/// let GETs and listings run side by side on the blocking pool.
const READERS: usize = 4;

pub struct SqliteIndex {
    /// The writer and group commit, shared with the combiner thread.
    core: Arc<Core>,
    /// Read-only connections, taken round-robin (each lent out whole to a
    /// read body while it runs, hence the `Option`).
    readers: Arc<Vec<Mutex<Option<Connection>>>>,
    next_reader: AtomicUsize,
    /// Jobs for the combiner thread (`Index::submit_write`); dropping it
    /// stops the thread.
    submit: std::sync::mpsc::Sender<WriteJob>,
}

/// What the callers of this index and its combiner thread share.
struct Core {
    /// The one connection that writes; its mutex orders all commits. `None`
    /// only while the combiner has it out for a batch (with the lock held).
    writer: Mutex<Option<Connection>>,
    /// `None` when `[storage] fsync = false`: commits are not waited for.
    group: Option<GroupCommit>,
}

/// A batch the combiner thread is running: its connection, lent to the
/// index methods its jobs call on that thread.
struct BatchCtx {
    /// `None` only while a transaction body has it (see `run_body_in_batch`).
    conn: Option<Connection>,
    /// A savepoint could not be undone: the batch must roll back.
    broken: bool,
}

thread_local! {
    /// Set on the combiner thread while it runs a batch (see `in_batch`).
    static BATCH: RefCell<Option<BatchCtx>> = const { RefCell::new(None) };
}

/// Most writes one batch runs; the rest wait for the next.
const MAX_BATCH: usize = 256;

/// The state of group commit. Sequence numbers count write transactions;
/// both counters move only under the writer lock.
struct GroupCommit {
    /// The WAL file, reopened by path for each sync (SQLite may recreate
    /// it when the last connection closes; the path is what stays).
    wal_path: PathBuf,
    /// Transactions begun: a reader's upper bound on what it may have seen.
    begun: AtomicU64,
    /// Transactions ended (committed or not): everything up to here is in
    /// the WAL file, so one fdatasync makes it durable.
    ended: AtomicU64,
    /// Everything up to here is durable.
    synced: AtomicU64,
    /// Held by the one caller doing the sync; the others queue behind it and
    /// usually find their commit already covered.
    sync_lock: Mutex<()>,
    /// WAL syncs done, for tests and metrics: far fewer than commits under
    /// concurrent load.
    syncs: AtomicU64,
}

const FILE_COLUMNS: &str = "id, file_name, content_type, size, sha256, status, created_at, \
                            url_expires_at, uploaded_at, completed_at";

impl SqliteIndex {
    /// Opens (creating and migrating if needed) `data_dir/stowage.db`,
    /// durable: every commit is in an fsynced WAL before it is answered.
    pub fn open(data_dir: &Path) -> Result<Self, DbError> {
        Self::open_with(data_dir, true)
    }

    /// Like [`Self::open`]; `durable = false` (`[storage] fsync = false`)
    /// skips the WAL syncs: the database stays consistent, but the last
    /// commits can be lost on power failure.
    pub fn open_with(data_dir: &Path, durable: bool) -> Result<Self, DbError> {
        let path = data_dir.join(DB_FILE);
        owner_only(&path)?;
        let open = |read_only: bool| -> Result<Connection, DbError> {
            let conn = Connection::open(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // NORMAL: commits do not fsync; `wait_durable` does, once per
            // group (durable mode). Checkpoints still sync WAL and database.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            if read_only {
                conn.pragma_update(None, "query_only", "ON")?;
            }
            // The token CLI may write while the server runs; wait, don't fail.
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        let mut writer = open(false)?;
        migrations::migrate(&mut writer)?;
        // The WAL file is cut back to this size after each reset.
        writer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let readers = Arc::new(
            (0..READERS)
                .map(|_| open(true).map(|c| Mutex::new(Some(c))))
                .collect::<Result<_, _>>()?,
        );
        let group = durable.then(|| GroupCommit {
            wal_path: data_dir.join(format!("{DB_FILE}-wal")),
            begun: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
            syncs: AtomicU64::new(0),
        });
        let core = Arc::new(Core {
            writer: Mutex::new(Some(writer)),
            group,
        });
        // Whatever migrations wrote is durable before anything is served.
        if let Some(g) = &core.group {
            g.begun.store(1, Ordering::SeqCst);
            g.ended.store(1, Ordering::SeqCst);
            core.wait_durable(1)?;
        }
        // Checkpoints are mostly the syncer thread's work (see
        // `sync_and_checkpoint`). The writer's own automatic checkpoint
        // stays, at a higher mark, for what only it can do: copy the last
        // few frames right after a commit, so that the next transaction
        // starts the WAL over. By then the syncer has copied nearly all of
        // it, so that checkpoint is short.
        core.lock_writer()?
            .as_ref()
            .ok_or(DbError::Poisoned)?
            .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_FRAMES)?;
        let checkpointer = open(false)?;
        let (to_syncer, committed) = std::sync::mpsc::channel::<ToSync>();
        let c = core.clone();
        std::thread::Builder::new()
            .name("stowage-sync".into())
            .spawn(move || sync_and_checkpoint(&c, &committed, &checkpointer))
            .map_err(DbError::Sync)?;
        let (submit, jobs) = std::sync::mpsc::channel();
        let c = core.clone();
        std::thread::Builder::new()
            .name("stowage-index".into())
            .spawn(move || combine(&c, &jobs, &to_syncer))
            .map_err(DbError::Sync)?;
        Ok(SqliteIndex {
            core,
            readers,
            next_reader: AtomicUsize::new(0),
            submit,
        })
    }

    /// (commits, WAL syncs) so far; `None` when not durable.
    pub fn commit_stats(&self) -> Option<(u64, u64)> {
        self.core.group.as_ref().map(|g| {
            (
                g.ended.load(Ordering::SeqCst),
                g.syncs.load(Ordering::SeqCst),
            )
        })
    }

    /// Runs `f` in one IMMEDIATE write transaction and commits it if `f`
    /// returns `Ok` (rolls back otherwise), then waits until the commit is
    /// durable.
    fn write<R>(&self, f: impl FnOnce(&Connection) -> Result<R, DbError>) -> Result<R, DbError> {
        let f = match in_batch(f) {
            Ok(done) => return done,
            Err(f) => f,
        };
        let seq;
        let result = {
            let mut guard = self.core.lock_writer()?;
            let conn = guard.as_mut().ok_or(DbError::Poisoned)?;
            if let Some(g) = &self.core.group {
                g.begun.fetch_add(1, Ordering::SeqCst);
            }
            let result = (|| -> Result<R, DbError> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let r = f(&tx)?;
                tx.commit()?;
                Ok(r)
            })();
            seq = self.core.end_transaction();
            result
        };
        let r = result?;
        self.core.wait_durable(seq)?;
        Ok(r)
    }

    /// Like [`Self::write`], for the hot paths: `f` goes to the index
    /// thread like a job of [`Index::submit_write`], shares its batch's
    /// transaction (in a savepoint of its own, so a failing one is rolled
    /// back alone) and is answered once that batch is durable. So N
    /// concurrent uploads cost one BEGIN/COMMIT and one WAL fsync, whether
    /// they come from async code (`submit_write`) or a blocking caller
    /// (this). On the index thread itself it simply runs in the batch.
    #[cfg(test)]
    fn write_batched<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, DbError> + Send + 'static,
    {
        let f = match in_batch(f) {
            Ok(done) => return done,
            Err(f) => f,
        };
        let (send, recv) = std::sync::mpsc::sync_channel::<Result<R, DbError>>(1);
        self.submit_write(Box::new(move || {
            // On the index thread, inside its batch.
            let r = in_batch(f).unwrap_or_else(|_| Err(DbError::Poisoned));
            let deliver: Delivery = Box::new(move |batch: Result<(), DbError>| {
                let _ = send.send(batch.and(r));
            });
            (deliver, true)
        }));
        // A dropped channel: the index thread is gone, or the job panicked.
        recv.recv().map_err(|_| DbError::Poisoned)?
    }

    /// Runs `f` on a reader connection, then waits until everything it may
    /// have seen is durable (at once, unless a group sync is under way).
    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, DbError>) -> Result<R, DbError> {
        let r = self.read_without_wait(f)?;
        if let Some(g) = &self.core.group {
            // Loaded after the read: any commit the read saw had begun.
            self.core.wait_durable(g.begun.load(Ordering::SeqCst))?;
        }
        Ok(r)
    }

    /// [`Self::read`] without the durability wait: only for reads whose
    /// result no reply depends on as "stored".
    fn read_without_wait<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        // Inside a batch, read what the batch has written so far.
        let f = match in_batch(f) {
            Ok(done) => return done,
            Err(f) => f,
        };
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let guard = self.readers[n].lock().map_err(|_| DbError::Poisoned)?;
        f(guard.as_ref().ok_or(DbError::Poisoned)?)
    }
}

impl Core {
    fn lock_writer(&self) -> Result<std::sync::MutexGuard<'_, Option<Connection>>, DbError> {
        self.writer.lock().map_err(|_| DbError::Poisoned)
    }

    /// Counts a write transaction as ended (under the writer lock) and
    /// returns its sequence number.
    fn end_transaction(&self) -> u64 {
        match &self.group {
            Some(g) => g.ended.fetch_add(1, Ordering::SeqCst) + 1,
            None => 0,
        }
    }

    /// Returns once transactions up to `seq` are durable, syncing the WAL
    /// if no one else already did.
    fn wait_durable(&self, seq: u64) -> Result<(), DbError> {
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

/// If this thread is running a batch (the combiner), runs `f` there, in a
/// savepoint of its own, and returns `Ok` with its result: it becomes
/// durable with the batch, which the combiner waits for before delivering
/// anything. Otherwise hands `f` back.
fn in_batch<R, F>(f: F) -> Result<Result<R, DbError>, F>
where
    F: FnOnce(&Connection) -> Result<R, DbError>,
{
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(ctx) = b.as_mut() else {
            return Err(f);
        };
        if ctx.broken {
            return Ok(Err(DbError::Batch(
                "an earlier write of its batch failed".into(),
            )));
        }
        let Some(conn) = ctx.conn.as_ref() else {
            return Ok(Err(DbError::Poisoned));
        };
        Ok(in_savepoint(conn, f).unwrap_or_else(|e| {
            ctx.broken = true;
            Err(e)
        }))
    })
}

/// A committed (or failed) batch on its way to the syncer thread: the
/// outcome, and each job's delivery with whether it must wait for the sync.
type Committed = (Result<u64, DbError>, Vec<(Delivery, bool)>);
/// What the syncer delivers once the batch's sequence number is durable.
type ToSync = (Result<u64, DbError>, Vec<Delivery>);

/// The combiner thread: runs the jobs of `Index::submit_write` in batches,
/// one transaction per batch, and hands each committed batch to a syncer
/// thread of its own, which delivers the results once the WAL sync covers
/// the batch. So the next batch is built and committed while the disk
/// syncs the last one (and one sync may cover several). Ends when the
/// index is dropped; the syncer ends after the last batch it was handed.
fn combine(
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
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// WAL frames (pages) at which the writer's own checkpoint runs after a
/// commit (16 MiB at 4 KiB pages; SQLite's default is 1000).
const WRITER_CHECKPOINT_FRAMES: i64 = 4096;

/// WAL frames beyond which the syncer forces the WAL to start over (a
/// RESTART checkpoint, which holds the writer off while it runs): only if
/// the writer's checkpoints could not reset it, e.g. under readers that
/// never pause (1 GiB at 4 KiB pages).
const WAL_RESTART_FRAMES: i64 = 1 << 18;

/// The syncer thread: delivers each committed batch once the WAL sync
/// covers it, and checkpoints the WAL into the database on the side, on a
/// connection of its own. PASSIVE checkpoints never block the combiner, but
/// cannot let the WAL start over while it keeps appending: the writer's
/// own (short) checkpoint does that, and a RESTART here only if the WAL
/// still grows past [`WAL_RESTART_FRAMES`]. Ends when the combiner does.
fn sync_and_checkpoint(
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
fn deliver(outcome: Result<(), DbError>, deliveries: Vec<Delivery>) {
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
fn run_jobs(core: &Core, jobs: Vec<WriteJob>) -> Committed {
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
                Err(DbError::Batch(
                    "a write of the batch could not be undone".into(),
                ))
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

/// Runs `f` in a savepoint: its writes are kept if it returns `Ok`, undone
/// (and nothing else of the batch) if it fails. The outer error: the
/// savepoint itself failed, and the batch cannot go on.
fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, DbError>,
) -> Result<Result<R, DbError>, DbError> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let r = f(conn);
    if r.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    Ok(r)
}

/// Runs a transaction body to its end on this thread. A SQLite row
/// operation finishes when it is called, so the body's future is ready at
/// its first poll; one that is not waits on something else, which a body
/// must never do (it would hold the writer): refused.
fn run_now<R>(mut body: crate::index::TxFuture<'_, R>) -> Result<R, IndexError> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match body.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(IndexError::BodyBlocked),
    }
}

/// Runs a write body in the batch this thread (the combiner) is running,
/// in a savepoint of its own: kept if it succeeds, undone alone if not.
/// The connection is lent to the body whole (see [`tx::SqliteTx`]).
fn run_body_in_batch(body: &mut Body) -> Result<Box<dyn std::any::Any + Send>, DbError> {
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
        let mut t = tx::SqliteTx { conn };
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
            return Err(e.into());
        }
        r
    })
}

/// Runs a read body on the reader connection in `slot`, on this thread, in
/// one read transaction (one snapshot of the WAL for the whole body).
fn read_body(
    slot: &mut Option<Connection>,
    body: &mut Body,
) -> Result<Box<dyn std::any::Any + Send>, IndexError> {
    let conn = slot
        .take()
        .ok_or_else(|| IndexError::Backend("a reader connection is missing".into()))?;
    let mut t = tx::SqliteTx { conn };
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
fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let db = wal.with_file_name(DB_FILE);
            std::fs::File::open(db)?.sync_data()
        }
        Err(e) => Err(e),
    }
}

/// `execute` and `query_row` through the connection's prepared-statement
/// cache: the hot paths run the same few statements thousands of times a
/// second, and parsing SQL each time was a tenth of the CPU.
trait Cached {
    fn cached_exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize>;
    fn cached_row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn cached_exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    fn cached_row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(p, f)
    }
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<Result<FileRecord, DbError>> {
    let id: String = row.get(0)?;
    let sha: String = row.get(4)?;
    let status: String = row.get(5)?;
    let size: i64 = row.get(3)?;
    let rec = (|| {
        Ok(FileRecord {
            id: Uuid::parse_str(&id).map_err(|_| DbError::Corrupt("files.id"))?,
            file_name: row.get(1)?,
            content_type: row.get(2)?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("files.size"))?,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("files.sha256"))?,
            status: Status::parse(&status).ok_or(DbError::Corrupt("files.status"))?,
            created_at: row.get(6)?,
            url_expires_at: row.get(7)?,
            uploaded_at: row.get(8)?,
            completed_at: row.get(9)?,
        })
    })();
    Ok(rec)
}

fn get_file(conn: &Connection, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
    conn.cached_row(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
        [id.to_string()],
        file_from_row,
    )
    .optional()?
    .transpose()
}

/// The recorded facts of a blob, if it is stored.
fn blob_info(conn: &Connection, sha256: &Digest) -> Result<Option<BlobInfo>, DbError> {
    let row: Option<(i64, Option<String>)> = conn
        .cached_row(
            "SELECT size, md5 FROM blobs WHERE sha256 = ?1",
            [sha256.hex()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(size, md5)| {
        Ok(BlobInfo {
            sha256: *sha256,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("blobs.size"))?,
            md5: match md5 {
                None => None,
                Some(h) => {
                    let mut out = [0u8; 16];
                    hex::decode_to_slice(&h, &mut out)
                        .map_err(|_| DbError::Corrupt("blobs.md5"))?;
                    Some(out)
                }
            },
        })
    })
    .transpose()
}

/// Records a durable blob (idempotent; fills a missing MD5, and keeps
/// `inline` bytes if the row has none yet). `heal`: the caller has just
/// published these bytes, verified, so the blob is whole again and a damage
/// mark on it goes, in this same write. Without it (a copy, the recovery
/// pass) the mark stays: nothing was written.
fn record_blob(
    conn: &Connection,
    blob: &BlobInfo,
    inline: Option<&[u8]>,
    now: i64,
    heal: bool,
) -> Result<(), DbError> {
    let md5 = blob.md5.map(hex::encode);
    let hex = blob.sha256.hex();
    let bytes_id = match inline {
        None => None,
        Some(data) => {
            let has_bytes: Option<bool> = conn
                .cached_row(
                    "SELECT bytes_id IS NOT NULL FROM blobs WHERE sha256 = ?1",
                    [&hex],
                    |r| r.get(0),
                )
                .optional()?;
            if has_bytes == Some(true) {
                None
            } else {
                conn.cached_exec("INSERT INTO blob_bytes (data) VALUES (?1)", [data])?;
                Some(conn.last_insert_rowid())
            }
        }
    };
    conn.cached_exec(
        "INSERT INTO blobs (sha256, size, md5, created_at, bytes_id) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (sha256) DO UPDATE SET md5 = coalesce(blobs.md5, excluded.md5), \
         bytes_id = coalesce(blobs.bytes_id, excluded.bytes_id), \
         damaged = CASE WHEN ?6 THEN NULL ELSE blobs.damaged END",
        params![hex, blob.size as i64, md5, now, bytes_id, heal],
    )?;
    Ok(())
}

/// Inserts the row of a declared file.
fn insert_file(
    conn: &Connection,
    d: &Declared,
    status: &str,
    now: i64,
    url_expires_at: i64,
    uploaded_at: Option<i64>,
) -> Result<(), DbError> {
    conn.cached_exec(
        "INSERT INTO files (id, file_name, content_type, size, sha256, status, \
         created_at, url_expires_at, uploaded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.id.to_string(),
            d.file_name,
            d.content_type,
            d.size as i64,
            d.sha256.hex(),
            status,
            now,
            url_expires_at,
            uploaded_at
        ],
    )?;
    Ok(())
}

/// A `blobs` row as (sha256, size, md5, inline) → [`BlobEntry`].
fn blob_entry_row(r: &Row<'_>) -> rusqlite::Result<Result<BlobEntry, DbError>> {
    let (sha, size, md5, inline): (String, i64, Option<String>, bool) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    Ok((|| {
        let md5 = match md5 {
            Some(h) => {
                let mut m = [0u8; 16];
                hex::decode_to_slice(&h, &mut m).map_err(|_| DbError::Corrupt("blobs.md5"))?;
                Some(m)
            }
            None => None,
        };
        Ok(BlobEntry {
            info: BlobInfo {
                sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("blobs.sha256"))?,
                size: u64::try_from(size).map_err(|_| DbError::Corrupt("blobs.size"))?,
                md5,
            },
            inline,
        })
    })())
}

fn inline_data(conn: &Connection, sha256: &Digest) -> Result<Option<Vec<u8>>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT b.data FROM blobs JOIN blob_bytes b ON b.id = blobs.bytes_id \
             WHERE blobs.sha256 = ?1",
        )?
        .query_row([sha256.hex()], |r| r.get(0))
        .optional()?)
}

/// Whether any file with bytes or any object refers to the blob.
fn blob_in_use(conn: &Connection, sha256: &Digest) -> Result<bool, DbError> {
    Ok(conn
        .cached_row(
            "SELECT 1 FROM files WHERE sha256 = ?1 AND status <> 'pending' \
             UNION ALL SELECT 1 FROM objects WHERE sha256 = ?1 \
             UNION ALL SELECT 1 FROM multipart_parts WHERE sha256 = ?1 LIMIT 1",
            [sha256.hex()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Points `obj.bucket/obj.key` at its blob; returns the blob it replaced.
fn upsert_object(conn: &Connection, obj: &ObjectRecord) -> Result<Option<Digest>, DbError> {
    let previous: Option<String> = conn
        .cached_row(
            "SELECT sha256 FROM objects WHERE bucket = ?1 AND key = ?2",
            params![obj.bucket, obj.key],
            |r| r.get(0),
        )
        .optional()?;
    let meta = serde_json::to_string(&obj.meta).map_err(|_| DbError::Corrupt("objects.meta"))?;
    conn.cached_exec(
        "INSERT INTO objects (bucket, key, sha256, size, etag, content_type, meta, last_modified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (bucket, key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
         etag = excluded.etag, content_type = excluded.content_type, meta = excluded.meta, \
         last_modified = excluded.last_modified",
        params![
            obj.bucket,
            obj.key,
            obj.sha256.hex(),
            obj.size as i64,
            obj.etag,
            obj.content_type,
            meta,
            obj.last_modified
        ],
    )?;
    Ok(previous
        .and_then(|p| Digest::from_hex(&p))
        .filter(|p| *p != obj.sha256))
}

const OBJECT_COLUMNS: &str = "bucket, key, sha256, size, etag, content_type, meta, last_modified";

fn object_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ObjectRecord, DbError>> {
    let sha: String = row.get(2)?;
    let size: i64 = row.get(3)?;
    let meta: String = row.get(6)?;
    let bucket: String = row.get(0)?;
    let key: String = row.get(1)?;
    let etag: String = row.get(4)?;
    let content_type: String = row.get(5)?;
    let last_modified: i64 = row.get(7)?;
    Ok((|| {
        Ok(ObjectRecord {
            bucket,
            key,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("objects.sha256"))?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("objects.size"))?,
            etag,
            content_type,
            meta: serde_json::from_str(&meta).map_err(|_| DbError::Corrupt("objects.meta"))?,
            last_modified,
        })
    })())
}

fn get_object_row(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectRecord>, DbError> {
    conn.cached_row(
        &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
        params![bucket, key],
        object_from_row,
    )
    .optional()?
    .transpose()
}

const MULTIPART_COLUMNS: &str = "upload_id, bucket, key, content_type, meta, created_at";

fn multipart_from_row(row: &Row<'_>) -> rusqlite::Result<Result<MultipartUpload, DbError>> {
    let meta: String = row.get(4)?;
    let (upload_id, bucket, key, content_type, created_at) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(5)?,
    );
    Ok(serde_json::from_str(&meta)
        .map_err(|_| DbError::Corrupt("multipart_uploads.meta"))
        .map(|meta| MultipartUpload {
            upload_id,
            bucket,
            key,
            content_type,
            meta,
            created_at,
        }))
}

fn get_multipart_row(conn: &Connection, id: &str) -> Result<Option<MultipartUpload>, DbError> {
    conn.cached_row(
        &format!("SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE upload_id = ?1"),
        [id],
        multipart_from_row,
    )
    .optional()?
    .transpose()
}

fn part_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PartRecord, DbError>> {
    let number: i64 = row.get(0)?;
    let sha: String = row.get(1)?;
    let size: i64 = row.get(2)?;
    let md5: String = row.get(3)?;
    let last_modified: i64 = row.get(4)?;
    Ok((|| {
        let mut m = [0u8; 16];
        hex::decode_to_slice(&md5, &mut m).map_err(|_| DbError::Corrupt("multipart_parts.md5"))?;
        Ok(PartRecord {
            part_number: u32::try_from(number)
                .map_err(|_| DbError::Corrupt("multipart_parts.part_number"))?,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("multipart_parts.sha256"))?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("multipart_parts.size"))?,
            md5: m,
            last_modified,
        })
    })())
}

/// Removes a multipart upload and its part rows (not their blobs).
fn delete_upload(conn: &Connection, upload_id: &str) -> Result<(), DbError> {
    conn.cached_exec(
        "DELETE FROM multipart_parts WHERE upload_id = ?1",
        [upload_id],
    )?;
    conn.cached_exec(
        "DELETE FROM multipart_uploads WHERE upload_id = ?1",
        [upload_id],
    )?;
    Ok(())
}

fn part_blobs(conn: &Connection, id: &str) -> Result<Vec<Digest>, DbError> {
    let hexes: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT sha256 FROM multipart_parts WHERE upload_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    hexes
        .iter()
        .map(|h| Digest::from_hex(h).ok_or(DbError::Corrupt("multipart_parts.sha256")))
        .collect()
}

/// The live (unrevoked) token with this hash.
fn token_row(conn: &Connection, token_hash: &Digest) -> Result<Option<TokenRecord>, DbError> {
    Ok(conn
        .cached_row(
            "SELECT name, scopes, created_at, revoked_at FROM tokens \
             WHERE token_hash = ?1 AND revoked_at IS NULL",
            [token_hash.hex()],
            token_from_row,
        )
        .optional()?)
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = row.get(1)?;
    Ok(TokenRecord {
        name: row.get(0)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_at: row.get(2)?,
        revoked_at: row.get(3)?,
    })
}

impl Index for SqliteIndex {
    fn run_write(
        &self,
        mut body: Body,
        durable: MustBeDurable,
    ) -> BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, IndexError>> {
        let (send, recv) = tokio::sync::oneshot::channel();
        // On the combiner thread, inside its batch: one BEGIN/COMMIT and
        // one WAL sync for every write submitted meanwhile.
        self.submit_write(Box::new(move || {
            let r = run_body_in_batch(&mut body);
            let must_wait = r.as_ref().map_or(true, |a| durable(&**a));
            let deliver: Delivery = Box::new(move |batch: Result<(), DbError>| {
                let _ = send.send(batch.and(r));
            });
            (deliver, must_wait)
        }));
        Box::pin(async move {
            recv.await
                .map_err(|_| IndexError::Backend("the index writer stopped".into()))?
                .map_err(IndexError::from)
        })
    }

    fn run_read(
        &self,
        mut body: Body,
        fresh: bool,
    ) -> BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, IndexError>> {
        // Settings are read at once on this thread when a reader is idle (a
        // lookup takes microseconds, and WAL readers never wait).
        if !fresh {
            if let Some(mut idle) = self.readers.iter().find_map(|r| r.try_lock().ok()) {
                let r = read_body(&mut idle, &mut body);
                return Box::pin(async move { r });
            }
        }
        let readers = self.readers.clone();
        let core = self.core.clone();
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut slot = readers[n]
                    .lock()
                    .map_err(|_| IndexError::Backend("a reader's lock is poisoned".into()))?;
                let r = read_body(&mut slot, &mut body)?;
                drop(slot);
                if fresh {
                    if let Some(g) = &core.group {
                        // Loaded after the read: any commit it saw had begun.
                        core.wait_durable(g.begun.load(Ordering::SeqCst))?;
                    }
                }
                Ok(r)
            })
            .await
            .map_err(|e| IndexError::Backend(format!("a read stopped: {e}")))?
        })
    }

    fn submit_write(&self, job: WriteJob) {
        // If the index thread is gone (a panic outside any job) the job is
        // dropped, and its caller's channel tells it so; say why here.
        if self.submit.send(job).is_err() {
            tracing::error!("the index thread has stopped; uploads fail until a restart");
        }
    }

    fn get(&self, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
        self.read(|conn| get_file(conn, id))
    }

    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError> {
        self.write(|conn| {
            Ok(conn.cached_exec(
                "INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?1, ?2)",
                params![name, now],
            )? > 0)
        })
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        self.read(|conn| get_object_row(conn, bucket, key))
    }

    fn blob_data(&self, sha256: &Digest) -> Result<Option<Vec<u8>>, DbError> {
        self.read(|conn| inline_data(conn, sha256))
    }

    fn create_multipart(&self, u: &MultipartUpload) -> Result<bool, DbError> {
        self.write(|conn| {
            let meta =
                serde_json::to_string(&u.meta).map_err(|_| DbError::Corrupt("multipart.meta"))?;
            let exists = conn
                .cached_row("SELECT 1 FROM buckets WHERE name = ?1", [&u.bucket], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if !exists {
                return Ok(false);
            }
            conn.cached_exec(
                &format!("INSERT INTO multipart_uploads ({MULTIPART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![u.upload_id, u.bucket, u.key, u.content_type, meta, u.created_at],
            )?;
            Ok(true)
        })
    }

    fn get_multipart(&self, upload_id: &str) -> Result<Option<MultipartUpload>, DbError> {
        self.read(|conn| get_multipart_row(conn, upload_id))
    }

    fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
    ) -> Result<PutPartOutcome, DbError> {
        self.write(|tx| {
            if get_multipart_row(tx, upload_id)?.is_none() {
                return Ok(PutPartOutcome::NoSuchUpload);
            }
            let previous: Option<String> = tx
                .cached_row(
                    "SELECT sha256 FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![upload_id, part.part_number],
                    |r| r.get(0),
                )
                .optional()?;
            record_blob(tx, blob, inline, part.last_modified, false)?;
            tx.cached_exec(
                "INSERT INTO multipart_parts (upload_id, part_number, sha256, size, md5, last_modified) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (upload_id, part_number) DO UPDATE SET \
                 sha256 = excluded.sha256, size = excluded.size, md5 = excluded.md5, \
                 last_modified = excluded.last_modified",
                params![
                    upload_id,
                    part.part_number,
                    part.sha256.hex(),
                    part.size as i64,
                    hex::encode(part.md5),
                    part.last_modified
                ],
            )?;
            Ok(PutPartOutcome::Stored {
                replaced: previous
                    .and_then(|p| Digest::from_hex(&p))
                    .filter(|p| *p != part.sha256),
            })
        })
    }

    fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT part_number, sha256, size, md5, last_modified FROM multipart_parts \
                 WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![upload_id, after, limit as i64], part_from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    fn touch_multipart(&self, upload_id: &str, now: i64) -> Result<bool, DbError> {
        self.write(|conn| {
            Ok(conn.cached_exec(
                "UPDATE multipart_uploads SET created_at = ?2 WHERE upload_id = ?1",
                params![upload_id, now],
            )? > 0)
        })
    }

    fn abort_multipart(&self, upload_id: &str) -> Result<Option<Vec<Digest>>, DbError> {
        self.write(|tx| {
            if get_multipart_row(tx, upload_id)?.is_none() {
                return Ok(None);
            }
            let blobs = part_blobs(tx, upload_id)?;
            delete_upload(tx, upload_id)?;
            Ok(Some(blobs))
        })
    }

    fn list_multipart(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = ?1 \
                 AND substr(key, 1, length(?2)) = ?2 \
                 AND (CAST(key AS BLOB) > CAST(?3 AS BLOB) \
                      OR (key = ?3 AND ?4 <> '' AND upload_id > ?4)) \
                 ORDER BY CAST(key AS BLOB), upload_id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![bucket, prefix, key_marker, upload_id_marker, limit as i64],
                multipart_from_row,
            )?;
            rows.map(|r| r?).collect()
        })
    }
}

mod backup;
#[cfg(test)]
mod tests;
mod tx;
