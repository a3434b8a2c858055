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
//! (or tells a client about) a commit that is not yet durable; token
//! lookups are the one exception (`read_without_wait`). With `[storage]
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
    migrations, AccessKey, BlobClaim, BlobEntry, BlobInfo, Body, BucketAccess, BucketRecord,
    CompleteOutcome, ConditionFailure, CreateBucketOutcome, Dangling, DbError, Declared,
    DeleteBucketOutcome, Delivery, FilePartsOutcome, FileRecord, Index, IndexError, InlineBytes,
    MarkOutcome, MultipartUpload, MustBeDurable, ObjectMeta, ObjectRecord, PartRecord,
    PresignOutcome, PutObjectOutcome, PutPartOutcome, Status, TokenRecord, WriteCondition,
    WriteJob,
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
    /// result no reply depends on as "stored" (see `find_token`).
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

/// The blob `sha256` of `size` bytes if it is intact as far as the index
/// and a look at the store (`store_len`, the size of its file there) can
/// tell without reading it: recorded with that size, not marked damaged,
/// and its bytes inline or in a store file of exactly that size.
fn intact_blob(
    conn: &Connection,
    sha256: &Digest,
    size: u64,
    store_len: Option<u64>,
) -> Result<Option<BlobInfo>, DbError> {
    let inline: Option<bool> = conn
        .cached_row(
            "SELECT bytes_id IS NOT NULL FROM blobs \
             WHERE sha256 = ?1 AND size = ?2 AND damaged IS NULL",
            params![sha256.hex(), size as i64],
            |r| r.get(0),
        )
        .optional()?;
    match inline {
        Some(true) => blob_info(conn, sha256),
        Some(false) if store_len == Some(size) => blob_info(conn, sha256),
        _ => Ok(None),
    }
}

/// Whether a file of the upload API holds these bytes (a row with bytes):
/// the only bytes dedupe may link a new declaration to. Bytes that only an
/// S3 object or part refers to may be another key's private data, and
/// linking to them would hand them to whoever knows their hash and size.
fn held_by_file(conn: &Connection, sha256: &Digest, size: u64) -> Result<bool, DbError> {
    Ok(conn
        .cached_row(
            "SELECT 1 FROM files WHERE sha256 = ?1 AND size = ?2 AND status <> 'pending' LIMIT 1",
            params![sha256.hex(), size as i64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// What an id's key in the upload bucket holds, as far as the file of that
/// id is concerned: an object the upload API did not write there (an S3
/// client's) is never replaced by the API. A file with bytes owns the
/// object of its own blob at its key; a pending file owns none yet, so any
/// object there is someone else's.
fn occupied_by_other(
    conn: &Connection,
    bucket: &str,
    rec: Option<&FileRecord>,
    id: &Uuid,
) -> Result<bool, DbError> {
    let Some(obj) = get_object_row(conn, bucket, &id.to_string())? else {
        return Ok(false);
    };
    Ok(match rec {
        Some(r) if r.status.has_bytes() => obj.sha256 != r.sha256,
        _ => true,
    })
}

/// Whether `bucket/key` is the key of a file of the upload API that has
/// verified bytes: written once, by the upload API, never by an S3 write
/// (which would put other bytes behind a record that says completed with
/// the hash of these, and hand them out through its download URL). The
/// object may have been deleted meanwhile: the key is still the file's
/// (its row stays, and presign makes the object again from its blob). A
/// pending file owns no key yet.
fn file_key(
    conn: &Connection,
    files_bucket: &str,
    bucket: &str,
    key: &str,
) -> Result<bool, DbError> {
    if bucket != files_bucket {
        return Ok(false);
    }
    // Ids are stored in one spelling (lowercase, hyphenated), the one
    // their objects' keys have; another spelling is another key.
    Ok(conn
        .cached_row(
            "SELECT 1 FROM files WHERE id = ?1 AND status <> 'pending'",
            [key],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The refusal of an id whose key holds an object the upload API did not
/// write.
fn occupied_message(bucket: &str, id: &Uuid) -> String {
    format!(
        "id {id} is already used by an object written through the S3 API (bucket '{bucket}', \
         key '{id}'), which the upload API never replaces; nothing was changed. Upload the \
         file under a new id"
    )
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

/// The inline bytes of a blob, if it has them.
/// Checks a conditional write against the key's object as this
/// transaction sees it.
fn check_condition(
    conn: &Connection,
    obj: &ObjectRecord,
    cond: &WriteCondition,
) -> Result<Result<(), ConditionFailure>, DbError> {
    if *cond == WriteCondition::Always {
        return Ok(Ok(()));
    }
    let etag: Option<String> = conn
        .cached_row(
            "SELECT etag FROM objects WHERE bucket = ?1 AND key = ?2",
            params![obj.bucket, obj.key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(cond.check(etag.as_deref()))
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

fn ensure_bucket(conn: &Connection, name: &str, now: i64) -> Result<(), DbError> {
    conn.cached_exec(
        "INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?1, ?2)",
        params![name, now],
    )?;
    Ok(())
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

/// The S3 object through which an upload-API file is visible.
fn file_object(bucket: &str, d: &FileRecord, blob: &BlobInfo, now: i64) -> ObjectRecord {
    ObjectRecord {
        bucket: bucket.to_string(),
        key: d.id.to_string(),
        sha256: blob.sha256,
        size: blob.size,
        etag: blob.md5.map(hex::encode).unwrap_or_default(),
        content_type: d.content_type.clone(),
        meta: ObjectMeta {
            content_disposition: Some(crate::headers::content_disposition(&d.file_name)),
            checksums: vec![(
                "SHA256".into(),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob.sha256.0),
            )],
            ..ObjectMeta::default()
        },
        last_modified: now,
    }
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

/// Whether a declaration differs from the record of its id in what makes
/// the file (hash, size, content type); the name may change while nothing
/// is stored.
fn redeclared(existing: &FileRecord, d: &Declared) -> bool {
    existing.sha256 != d.sha256
        || existing.size != d.size
        || existing.content_type != d.content_type
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

/// Whether the parts assembled are still the parts recorded: a part
/// re-uploaded meanwhile would make the object something never sent.
fn parts_unchanged(
    conn: &Connection,
    upload_id: &str,
    assembled: &[(u32, Digest)],
) -> Result<bool, DbError> {
    for (number, sha) in assembled {
        let now: Option<String> = conn
            .cached_row(
                "SELECT sha256 FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, number],
                |r| r.get(0),
            )
            .optional()?;
        if now.as_deref() != Some(sha.hex().as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
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

    fn presign(
        &self,
        d: &Declared,
        bucket: &str,
        now: i64,
        url_expires_at: i64,
        dedupe: bool,
        store_len: Option<u64>,
    ) -> Result<PresignOutcome, DbError> {
        // One write transaction: the reads and the write below are one
        // decision.
        let (d, bucket) = (d.clone(), bucket.to_string());
        self.write_batched(move |tx| {
            let (d, bucket) = (&d, bucket.as_str());
            let existing = get_file(tx, &d.id)?;
            if occupied_by_other(tx, bucket, existing.as_ref(), &d.id)? {
                return Ok(PresignOutcome::Conflict(occupied_message(bucket, &d.id)));
            }
            let intact = intact_blob(tx, &d.sha256, d.size, store_len)?;
            let outcome = match existing {
                Some(rec) => {
                    if redeclared(&rec, d) {
                        PresignOutcome::Redeclared(rec)
                    } else if rec.status.has_bytes() && intact.is_some() {
                        PresignOutcome::AlreadyStored
                    } else if rec.status.has_bytes() {
                        // Stored once, but the bytes are damaged or gone:
                        // a URL, so the client sends them again and heals
                        // the blob (the row keeps its status and name).
                        tx.cached_exec(
                            "UPDATE files SET url_expires_at = ?2 WHERE id = ?1",
                            params![d.id.to_string(), url_expires_at],
                        )?;
                        PresignOutcome::NeedsUpload
                    } else if dedupe && intact.is_some() && held_by_file(tx, &d.sha256, d.size)? {
                        tx.cached_exec(
                            "UPDATE files SET status = 'uploaded', uploaded_at = ?2 WHERE id = ?1",
                            params![d.id.to_string(), now],
                        )?;
                        PresignOutcome::AlreadyStored
                    } else {
                        // The newest declaration's name wins while nothing is
                        // stored yet (a client may have corrected it).
                        tx.cached_exec(
                            "UPDATE files SET url_expires_at = ?2, file_name = ?3 WHERE id = ?1",
                            params![d.id.to_string(), url_expires_at, d.file_name],
                        )?;
                        PresignOutcome::NeedsUpload
                    }
                }
                None => {
                    let linkable =
                        dedupe && intact.is_some() && held_by_file(tx, &d.sha256, d.size)?;
                    let (status, uploaded_at) = if linkable {
                        ("uploaded", Some(now))
                    } else {
                        ("pending", None)
                    };
                    insert_file(tx, d, status, now, url_expires_at, uploaded_at)?;
                    if linkable {
                        PresignOutcome::AlreadyStored
                    } else {
                        PresignOutcome::NeedsUpload
                    }
                }
            };
            if let (PresignOutcome::AlreadyStored, Some(blob)) = (&outcome, intact) {
                // The file's object: made for a new link, and made again if
                // an S3 client deleted it.
                if let Some(rec) = get_file(tx, &d.id)? {
                    ensure_bucket(tx, bucket, now)?;
                    if get_object_row(tx, bucket, &rec.id.to_string())?.is_none() {
                        upsert_object(tx, &file_object(bucket, &rec, &blob, now))?;
                    }
                }
            }
            Ok(outcome)
        })
    }

    fn blob_intact(
        &self,
        sha256: &Digest,
        size: u64,
        store_len: Option<u64>,
    ) -> Result<bool, DbError> {
        self.read(|conn| Ok(intact_blob(conn, sha256, size, store_len)?.is_some()))
    }

    fn get(&self, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
        self.read(|conn| get_file(conn, id))
    }

    fn list_files(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<FileRecord>, Option<i64>), DbError> {
        self.read(|conn| {
            // Newest first by insertion (the rowid B-tree, read backwards:
            // no index needed); one row more than asked says a page follows.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {FILE_COLUMNS}, rowid FROM files WHERE rowid < ?1 \
                 ORDER BY rowid DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![before.unwrap_or(i64::MAX), limit as i64 + 1], |r| {
                    Ok((file_from_row(r)?, r.get::<_, i64>(10)?))
                })?;
            let mut out = Vec::new();
            let mut last = None;
            let mut more = false;
            for row in rows {
                let (rec, rowid) = row?;
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(rec?);
                last = Some(rowid);
            }
            Ok((out, if more { last } else { None }))
        })
    }

    fn mark_uploaded(
        &self,
        id: &Uuid,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        lost: Option<&Declared>,
        bucket: &str,
        now: i64,
    ) -> Result<(MarkOutcome, Option<Digest>), DbError> {
        let (id, blob, bucket) = (*id, *blob, bucket.to_string());
        let inline = inline.map(<[u8]>::to_vec);
        let lost = lost.cloned();
        self.write_batched(move |tx| {
            let (id, blob, bucket) = (&id, &blob, bucket.as_str());
            let inline = inline.as_deref();
            let mut rec = get_file(tx, id)?;
            if let (None, Some(d)) = (&rec, &lost) {
                // The URL carried the whole declaration and its row is
                // gone (a presign answered before its commit was durable,
                // then a crash): the signed URL is the declaration.
                if d.id == *id && d.sha256 == blob.sha256 && d.size == blob.size {
                    if occupied_by_other(tx, bucket, None, id)? {
                        return Ok((MarkOutcome::Occupied, None));
                    }
                    insert_file(tx, d, "pending", now, now, None)?;
                    rec = get_file(tx, id)?;
                }
            }
            let outcome = match rec {
                Some(r) if r.sha256 == blob.sha256 && r.size == blob.size => {
                    // Pending, and an S3 client's object holds the key
                    // (written after the presign): it stays, and this
                    // upload records nothing.
                    if !r.status.has_bytes() && occupied_by_other(tx, bucket, Some(&r), id)? {
                        return Ok((MarkOutcome::Occupied, None));
                    }
                    record_blob(tx, blob, inline, now, true)?;
                    if r.status.has_bytes() {
                        // A repeated PUT (or one healing a damaged blob):
                        // the file's object is made again if it was
                        // deleted, never replaced.
                        if get_object_row(tx, bucket, &id.to_string())?.is_none() {
                            ensure_bucket(tx, bucket, now)?;
                            upsert_object(tx, &file_object(bucket, &r, blob, now))?;
                        }
                        (MarkOutcome::AlreadyStored, None)
                    } else {
                        tx.cached_exec(
                            "UPDATE files SET status = 'uploaded', uploaded_at = ?2 WHERE id = ?1",
                            params![id.to_string(), now],
                        )?;
                        ensure_bucket(tx, bucket, now)?;
                        let replaced = upsert_object(tx, &file_object(bucket, &r, blob, now))?;
                        (MarkOutcome::Marked, replaced)
                    }
                }
                _ => (MarkOutcome::NotFound, None),
            };
            Ok(outcome)
        })
    }

    fn complete(&self, id: &Uuid, now: i64) -> Result<CompleteOutcome, DbError> {
        let id = *id;
        self.write_batched(move |tx| {
            let id = &id;
            let outcome = match get_file(tx, id)? {
                None => CompleteOutcome::NotFound,
                Some(r) if r.status == Status::Pending => CompleteOutcome::NotUploaded(r),
                Some(mut r) => {
                    if r.status == Status::Uploaded {
                        tx.cached_exec(
                            "UPDATE files SET status = 'completed', completed_at = ?2 WHERE id = ?1",
                            params![id.to_string(), now],
                        )?;
                        r.status = Status::Completed;
                        r.completed_at = Some(now);
                    }
                    CompleteOutcome::Completed(r)
                }
            };
            Ok(outcome)
        })
    }

    fn claim_blob(
        &self,
        sha256: &Digest,
        size: u64,
        bucket: &str,
        now: i64,
    ) -> Result<BlobClaim, DbError> {
        self.write(|tx| {
            let info = BlobInfo {
                sha256: *sha256,
                size,
                md5: None,
            };
            let claim = if blob_in_use(tx, sha256)? {
                record_blob(tx, &info, None, now, false)?;
                BlobClaim::Referenced
            } else {
                let declared: Vec<String> = tx
                    .prepare_cached(
                        "SELECT id FROM files WHERE sha256 = ?1 AND size = ?2 AND status = 'pending'",
                    )?
                    .query_map(params![sha256.hex(), size as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                // A pending row whose key an S3 client's object holds is
                // left pending: adopting the bytes would replace that
                // object (a presigned PUT would have been refused too).
                let mut pending = Vec::with_capacity(declared.len());
                for id in &declared {
                    let id = Uuid::parse_str(id).map_err(|_| DbError::Corrupt("files.id"))?;
                    if !occupied_by_other(tx, bucket, None, &id)? {
                        pending.push(id);
                    }
                }
                if pending.is_empty() {
                    tx.cached_exec("DELETE FROM blobs WHERE sha256 = ?1", [sha256.hex()])?;
                    BlobClaim::Unreferenced
                } else {
                    record_blob(tx, &info, None, now, false)?;
                    ensure_bucket(tx, bucket, now)?;
                    for id in &pending {
                        tx.cached_exec(
                            "UPDATE files SET status = 'uploaded', uploaded_at = ?2 WHERE id = ?1",
                            params![id.to_string(), now],
                        )?;
                        if let Some(rec) = get_file(tx, id)? {
                            upsert_object(tx, &file_object(bucket, &rec, &info, now))?;
                        }
                    }
                    BlobClaim::Relinked(pending.len())
                }
            };
            Ok(claim)
        })
    }

    fn blobs_missing_md5(&self) -> Result<Vec<Digest>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT sha256 FROM blobs WHERE md5 IS NULL")?;
            let hexes: Vec<String> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            hexes
                .iter()
                .map(|h| Digest::from_hex(h).ok_or(DbError::Corrupt("blobs.sha256")))
                .collect()
        })
    }

    fn set_blob_md5(&self, sha256: &Digest, md5: &[u8; 16]) -> Result<(), DbError> {
        self.write(|tx| {
            tx.cached_exec(
                "UPDATE blobs SET md5 = ?2 WHERE sha256 = ?1",
                params![sha256.hex(), hex::encode(md5)],
            )?;
            // Objects recorded while the MD5 was unknown get their ETag now.
            tx.cached_exec(
                "UPDATE objects SET etag = ?2 WHERE sha256 = ?1 AND etag = ''",
                params![sha256.hex(), hex::encode(md5)],
            )?;
            Ok(())
        })
    }

    fn release_blob(&self, sha256: &Digest) -> Result<bool, DbError> {
        self.write(|tx| {
            let free = !blob_in_use(tx, sha256)?;
            if free {
                tx.cached_exec("DELETE FROM blobs WHERE sha256 = ?1", [sha256.hex()])?;
            }
            Ok(free)
        })
    }

    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError> {
        self.write(|conn| {
            Ok(conn.cached_exec(
                "INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?1, ?2)",
                params![name, now],
            )? > 0)
        })
    }

    fn bucket_exists(&self, name: &str) -> Result<bool, DbError> {
        self.read(|conn| {
            Ok(conn
                .cached_row("SELECT 1 FROM buckets WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn set_bucket_cors(&self, name: &str, cors: Option<&str>) -> Result<bool, DbError> {
        self.write(|tx| {
            Ok(tx.cached_exec(
                "UPDATE buckets SET cors = ?2 WHERE name = ?1",
                params![name, cors],
            )? > 0)
        })
    }

    fn bucket_cors(&self, name: &str) -> Result<Option<Option<String>>, DbError> {
        self.read(|conn| {
            Ok(conn
                .cached_row("SELECT cors FROM buckets WHERE name = ?1", [name], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .optional()?)
        })
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, DbError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT name, created_at FROM buckets ORDER BY name")?;
            let rows = stmt.query_map([], |r| {
                Ok(BucketRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn delete_bucket(&self, name: &str) -> Result<DeleteBucketOutcome, DbError> {
        // One transaction: no object or upload can arrive between the
        // check and the delete (their writes check the bucket in theirs).
        self.write(|tx| {
            let exists = tx
                .cached_row("SELECT 1 FROM buckets WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Ok(DeleteBucketOutcome::NotFound);
            }
            // Objects, or a part-wise upload of a file the JSON API still
            // waits for (its key is the file's id): a field client's
            // progress is no leftover to sweep away with the bucket.
            let content = tx
                .cached_row(
                    "SELECT 1 FROM objects WHERE bucket = ?1 \
                     UNION ALL SELECT 1 FROM multipart_uploads u JOIN files f \
                     ON f.id = u.key AND f.status = 'pending' WHERE u.bucket = ?1 \
                     LIMIT 1",
                    [name],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if content {
                return Ok(DeleteBucketOutcome::NotEmpty);
            }
            let uploads: Vec<String> = tx
                .prepare_cached("SELECT upload_id FROM multipart_uploads WHERE bucket = ?1")?
                .query_map([name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut released = Vec::new();
            for id in &uploads {
                released.extend(part_blobs(tx, id)?);
                delete_upload(tx, id)?;
            }
            released.sort_unstable_by_key(|d| d.0);
            released.dedup();
            // Grants were given on this bucket: they must not pass to
            // whichever key creates the name next.
            tx.cached_exec("DELETE FROM bucket_grants WHERE bucket = ?1", [name])?;
            tx.cached_exec("DELETE FROM buckets WHERE name = ?1", [name])?;
            Ok(if uploads.is_empty() {
                DeleteBucketOutcome::Deleted
            } else {
                DeleteBucketOutcome::DeletedWithUploads {
                    uploads: uploads.len(),
                    released,
                }
            })
        })
    }

    fn put_object(
        &self,
        obj: &ObjectRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<PutObjectOutcome, DbError> {
        let (obj, blob, cond) = (obj.clone(), *blob, cond.clone());
        let inline = inline.map(<[u8]>::to_vec);
        let files_bucket = files_bucket.to_string();
        self.write_batched(move |tx| {
            let (obj, blob, inline) = (&obj, &blob, inline.as_deref());
            let exists = tx
                .cached_row(
                    "SELECT 1 FROM buckets WHERE name = ?1",
                    [&obj.bucket],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Ok(PutObjectOutcome::NoSuchBucket);
            }
            if file_key(tx, &files_bucket, &obj.bucket, &obj.key)? {
                return Ok(PutObjectOutcome::WrittenOnce);
            }
            if let Err(f) = check_condition(tx, obj, &cond)? {
                return Ok(PutObjectOutcome::ConditionFailed(f));
            }
            // Only a write that brought bytes heals (see `Index::put_object`).
            record_blob(tx, blob, inline, obj.last_modified, blob.md5.is_some())?;
            let replaced = upsert_object(tx, obj)?;
            Ok(PutObjectOutcome::Stored { replaced })
        })
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        self.read(|conn| get_object_row(conn, bucket, key))
    }

    fn get_object_inline(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectRecord, Option<InlineBytes>)>, DbError> {
        self.read(|conn| {
            let Some(obj) = get_object_row(conn, bucket, key)? else {
                return Ok(None);
            };
            let data = inline_data(conn, &obj.sha256)?;
            Ok(Some((obj, data)))
        })
    }

    fn blob_data(&self, sha256: &Digest) -> Result<Option<Vec<u8>>, DbError> {
        self.read(|conn| inline_data(conn, sha256))
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        self.write(|tx| {
            let rec = get_object_row(tx, bucket, key)?;
            if rec.is_some() {
                tx.cached_exec(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                    params![bucket, key],
                )?;
            }
            Ok(rec)
        })
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, DbError> {
        self.read(|conn| {
            // Keys compare as BLOBs so the order is S3's: UTF-8 bytes.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 \
                 AND CAST(key AS BLOB) > CAST(?2 AS BLOB) \
                 AND substr(key, 1, length(?3)) = ?3 \
                 ORDER BY CAST(key AS BLOB) LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![bucket, after, prefix, limit as i64],
                object_from_row,
            )?;
            rows.map(|r| r?).collect()
        })
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

    fn complete_file_parts(
        &self,
        upload_id: &str,
        assembled: &[(u32, Digest)],
        id: &Uuid,
        blob: &BlobInfo,
        bucket: &str,
        now: i64,
    ) -> Result<FilePartsOutcome, DbError> {
        self.write(|tx| {
            if get_multipart_row(tx, upload_id)?.is_none() {
                return Ok(FilePartsOutcome::NoSuchUpload);
            }
            let rec = match get_file(tx, id)? {
                Some(r) if r.sha256 == blob.sha256 && r.size == blob.size => r,
                _ => return Ok(FilePartsOutcome::NotPending),
            };
            // A stored file's own object is kept as it is (made again if
            // deleted); a pending file never takes an S3 client's key.
            if !rec.status.has_bytes() && occupied_by_other(tx, bucket, Some(&rec), id)? {
                return Ok(FilePartsOutcome::Occupied);
            }
            if !parts_unchanged(tx, upload_id, assembled)? {
                return Ok(FilePartsOutcome::PartsChanged);
            }
            let mut released = part_blobs(tx, upload_id)?;
            record_blob(tx, blob, None, now, true)?;
            ensure_bucket(tx, bucket, now)?;
            if !rec.status.has_bytes() || get_object_row(tx, bucket, &id.to_string())?.is_none() {
                if let Some(old) = upsert_object(tx, &file_object(bucket, &rec, blob, now))? {
                    released.push(old);
                }
            }
            // A file stored before keeps when it was first uploaded and
            // completed: these parts only healed its blob.
            tx.cached_exec(
                "UPDATE files SET status = 'completed', uploaded_at = coalesce(uploaded_at, ?2), \
                 completed_at = coalesce(completed_at, ?2) WHERE id = ?1",
                params![id.to_string(), now],
            )?;
            delete_upload(tx, upload_id)?;
            released.retain(|d| *d != blob.sha256);
            let record = get_file(tx, id)?.ok_or(DbError::Corrupt("files.id"))?;
            Ok(FilePartsOutcome::Completed { record, released })
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

    fn sweep_pending(&self, cutoff: i64, keep: &[Uuid]) -> Result<usize, DbError> {
        self.write(|tx| {
            let expired: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM files WHERE status = 'pending' AND url_expires_at < ?1",
                )?
                .query_map([cutoff], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let keep: Vec<String> = keep.iter().map(Uuid::to_string).collect();
            let mut removed = 0;
            for id in expired.iter().filter(|id| !keep.contains(id)) {
                removed += tx.cached_exec(
                    "DELETE FROM files WHERE id = ?1 AND status = 'pending'",
                    [id],
                )?;
            }
            Ok(removed)
        })
    }

    fn create_token(
        &self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> Result<(), DbError> {
        self.write(|conn| {
            let taken = conn
                .cached_row("SELECT 1 FROM tokens WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Err(DbError::NameTaken(name.to_string()));
            }
            conn.cached_exec(
                "INSERT INTO tokens (name, token_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, token_hash.hex(), scopes.join(","), now],
            )?;
            Ok(())
        })
    }

    fn find_token_now(&self, token_hash: &Digest) -> Option<Result<Option<TokenRecord>, DbError>> {
        // Only a reader nobody holds: a query of the small tokens table
        // takes microseconds, and WAL readers never wait for the writer.
        let guard = self.readers.iter().find_map(|r| r.try_lock().ok())?;
        Some(token_row(guard.as_ref()?, token_hash))
    }

    fn find_token(&self, token_hash: &Digest) -> Result<Option<TokenRecord>, DbError> {
        // Only an authorisation decision rests on this: no reply says a
        // token exists, and the server itself never writes tokens after
        // start-up, so there is no uncommitted write worth waiting for
        // (and every API request would otherwise wait for the group sync
        // of the uploads in flight).
        self.read_without_wait(|conn| token_row(conn, token_hash))
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, scopes, created_at, revoked_at FROM tokens ORDER BY created_at, name",
            )?;
            let rows = stmt.query_map([], token_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_token(&self, name: &str, now: i64) -> Result<bool, DbError> {
        self.write(|conn| {
            Ok(conn.cached_exec(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now],
            )? > 0)
        })
    }

    fn token_count(&self) -> Result<u64, DbError> {
        let n: i64 = self
            .read(|conn| Ok(conn.cached_row("SELECT count(*) FROM tokens", [], |r| r.get(0))?))?;
        Ok(n as u64)
    }

    fn blob_page(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<BlobEntry>, DbError> {
        let after = after.map(Digest::hex).unwrap_or_default();
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL FROM blobs \
                 WHERE sha256 > ?1 ORDER BY sha256 LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], blob_entry_row)?;
            rows.map(|r| r?).collect()
        })
    }

    fn blob_entry(&self, sha256: &Digest) -> Result<Option<BlobEntry>, DbError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL FROM blobs WHERE sha256 = ?1",
            )?
            .query_row([sha256.hex()], blob_entry_row)
            .optional()?
            .transpose()
        })
    }

    fn dangling(&self) -> Result<Vec<Dangling>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT 'file ' || id, sha256 FROM files \
                   WHERE status <> 'pending' AND sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'object ' || bucket || '/' || key, sha256 FROM objects \
                   WHERE sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'part ' || part_number || ' of upload ' || upload_id, sha256 \
                   FROM multipart_parts WHERE sha256 NOT IN (SELECT sha256 FROM blobs)",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Dangling {
                    referrer: r.get(0)?,
                    sha256: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn backup_to(&self, dest: &Path) -> Result<(), DbError> {
        let mut out = Connection::open(dest)?;
        self.read(|conn| {
            let backup = rusqlite::backup::Backup::new(conn, &mut out)?;
            // All pages in one step: the copy reads one snapshot (a WAL read
            // transaction), so it is consistent and never blocks a writer.
            backup.step(-1)?;
            Ok(())
        })?;
        out.pragma_update(None, "journal_mode", "WAL")?;
        Ok(())
    }

    fn newest_blobs(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, i64, BlobEntry)>, DbError> {
        self.read(|conn| {
            // Walks the rowid B-tree backwards: no index needed, and it stops
            // after `limit` rows however large the table is.
            let mut stmt = conn.prepare_cached(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL, rowid, created_at FROM blobs \
                 WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit as i64], |r| {
                Ok((r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, blob_entry_row(r)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (rowid, created, entry) = row?;
                out.push((rowid, created, entry?));
            }
            Ok(out)
        })
    }

    fn create_access_key(&self, key: &AccessKey) -> Result<bool, DbError> {
        self.write(|tx| {
            Ok(tx.execute(
                "INSERT OR IGNORE INTO access_keys (access_key_id, secret, name, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![key.access_key_id, key.secret, key.name, key.created_at],
            )? > 0)
        })
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKey>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT access_key_id, secret, name, created_at, revoked_at FROM access_keys \
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AccessKey {
                    access_key_id: r.get(0)?,
                    secret: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_access_key(&self, name: &str, now: i64) -> Result<bool, DbError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE access_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now],
            )? > 0)
        })
    }

    fn access_key_secret(&self, access_key_id: &str) -> Result<Option<String>, DbError> {
        // A key's secret is settings, not data a reply calls stored.
        self.read_without_wait(|conn| {
            Ok(conn
                .cached_row(
                    "SELECT secret FROM access_keys WHERE access_key_id = ?1 \
                     AND revoked_at IS NULL",
                    [access_key_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn grant_bucket(&self, name: &str, bucket: &str, write: bool) -> Result<bool, DbError> {
        self.write(|tx| {
            let id: Option<String> = tx
                .cached_row(
                    "SELECT access_key_id FROM access_keys WHERE name = ?1 AND revoked_at IS NULL",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            tx.execute(
                "INSERT OR REPLACE INTO bucket_grants (access_key_id, bucket, can_write) \
                 VALUES (?1, ?2, ?3)",
                params![id, bucket, write],
            )?;
            Ok(true)
        })
    }

    fn bucket_access(&self, access_key_id: &str, bucket: &str) -> Result<BucketAccess, DbError> {
        self.read_without_wait(|conn| {
            let owner: Option<Option<String>> = conn
                .cached_row("SELECT owner FROM buckets WHERE name = ?1", [bucket], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(owner) = owner else {
                return Ok(BucketAccess::default());
            };
            if owner.as_deref() == Some(access_key_id) {
                return Ok(BucketAccess {
                    exists: true,
                    owner: true,
                    read: true,
                    write: true,
                });
            }
            let grant: Option<bool> = conn
                .cached_row(
                    "SELECT can_write FROM bucket_grants WHERE access_key_id = ?1 AND bucket = ?2",
                    params![access_key_id, bucket],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(BucketAccess {
                exists: true,
                owner: false,
                read: grant.is_some(),
                write: grant == Some(true),
            })
        })
    }

    fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<CreateBucketOutcome, DbError> {
        self.write(|tx| {
            let existing: Option<Option<String>> = tx
                .cached_row("SELECT owner FROM buckets WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            match existing {
                Some(o) if o.as_deref() == owner => Ok(CreateBucketOutcome::OwnedByYou),
                Some(_) => Ok(CreateBucketOutcome::Taken),
                None => {
                    tx.execute(
                        "INSERT INTO buckets (name, created_at, owner) VALUES (?1, ?2, ?3)",
                        params![name, now, owner],
                    )?;
                    Ok(CreateBucketOutcome::Created)
                }
            }
        })
    }

    fn buckets_of(&self, access_key_id: &str) -> Result<Vec<BucketRecord>, DbError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, created_at FROM buckets WHERE owner = ?1 \
                 OR name IN (SELECT bucket FROM bucket_grants WHERE access_key_id = ?1) \
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([access_key_id], |r| {
                Ok(BucketRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn mark_damaged(&self, sha256: &Digest, why: &str) -> Result<(), DbError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE blobs SET damaged = ?2 WHERE sha256 = ?1",
                params![sha256.hex(), why],
            )?;
            Ok(())
        })
    }

    fn forget_blob(&self, sha256: &Digest) -> Result<usize, DbError> {
        self.write(|tx| {
            let h = sha256.hex();
            let mut n = tx.execute(
                "DELETE FROM files WHERE sha256 = ?1 AND status <> 'pending'",
                [&h],
            )?;
            n += tx.execute("DELETE FROM objects WHERE sha256 = ?1", [&h])?;
            n += tx.execute("DELETE FROM multipart_parts WHERE sha256 = ?1", [&h])?;
            tx.execute("DELETE FROM blobs WHERE sha256 = ?1", [&h])?;
            Ok(n)
        })
    }

    fn stats(&self) -> Result<(u64, u64, u64, u64), DbError> {
        self.read(|conn| {
            Ok(conn.cached_row(
                "SELECT (SELECT count(*) FROM files WHERE status = 'pending'), \
                        (SELECT count(*) FROM files WHERE status <> 'pending'), \
                        (SELECT count(*) FROM objects), \
                        (SELECT coalesce(sum(size), 0) FROM blobs)",
                [],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                    Ok((n(0)?, n(1)?, n(2)?, n(3)?))
                },
            )?)
        })
    }

    fn check(&self) -> Result<(), DbError> {
        // A write transaction proves the database is writable, not just
        // readable (and its commit that the WAL can be synced); nothing is
        // changed.
        self.write(|tx| {
            tx.cached_row("SELECT count(*) FROM files", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
mod tx;
