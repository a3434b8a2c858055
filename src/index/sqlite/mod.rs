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
//! Write bodies (`Index::run_write`) go to the **index thread**
//! (`commit::combine`), which runs whatever has queued in one transaction,
//! each body in a savepoint of its own, and hands the commit to the **sync
//! thread**, which delivers the answers once durable (an answer nobody takes
//! as "stored" may go at commit). Read bodies (`Index::run_read`) run on a
//! reader connection in one snapshot; settings reads at once on the calling
//! thread when a reader is idle. Files: `commit.rs` (the engine), `rows.rs`
//! (statements and mappers), `tx.rs` (the row operations), `backup.rs`.
//!
//! The sync thread also checkpoints the WAL into the database, so commits
//! do not; the writer keeps only a short checkpoint that lets the WAL start
//! over.
//!
//! This file must never answer before that wait.

mod backup;
mod commit;
mod rows;
mod s3;
#[cfg(test)]
mod tests;
mod tx;
mod versions;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use rusqlite::Connection;

use super::lock::{IndexLock, LocalLocks, LockMode, LockName};
use super::{migrations, Body, DbError, Index, IndexError, MustBeDurable};
use commit::{
    combine, read_body, run_body_in_batch, sync_and_checkpoint, Core, Delivery, GroupCommit,
    ToSync, WriteJob, WRITER_CHECKPOINT_FRAMES,
};

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
    /// The storage service's locks: this process's alone, as the index
    /// file is this gateway's alone.
    locks: LocalLocks,
}

impl SqliteIndex {
    /// Opens (creating and migrating if needed) `data_dir/stowage.db`,
    /// durable: every commit is in an fsynced WAL before it is answered.
    pub fn open(data_dir: &Path) -> Result<Self, IndexError> {
        Self::open_with(data_dir, true)
    }

    /// Like [`Self::open`]; `durable = false` (`[storage] fsync = false`)
    /// skips the WAL syncs: the database stays consistent, but the last
    /// commits can be lost on power failure.
    pub fn open_with(data_dir: &Path, durable: bool) -> Result<Self, IndexError> {
        Ok(Self::open_db(data_dir, durable)?)
    }

    fn open_db(data_dir: &Path, durable: bool) -> Result<Self, DbError> {
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
            locks: LocalLocks::default(),
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
}

impl SqliteIndex {
    /// Runs `f` on a reader connection, on this thread, then waits until
    /// whatever it saw is durable (for the maintenance commands).
    fn with_reader<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        let guard = self.readers[0].lock().map_err(|_| DbError::Poisoned)?;
        let r = f(guard.as_ref().ok_or(DbError::Poisoned)?)?;
        drop(guard);
        if let Some(g) = &self.core.group {
            self.core.wait_durable(g.begun.load(Ordering::SeqCst))?;
        }
        Ok(r)
    }

    /// Hands a write job to the combiner thread (see `combine`).
    fn submit_write(&self, job: WriteJob) {
        // If the index thread is gone (a panic outside any job) the job is
        // dropped, and its caller's channel tells it so; say why here.
        if self.submit.send(job).is_err() {
            tracing::error!("the index thread has stopped; uploads fail until a restart");
        }
    }
}

impl Index for SqliteIndex {
    fn lock(&self, name: LockName, mode: LockMode) -> BoxFuture<'_, Result<IndexLock, IndexError>> {
        Box::pin(async move { Ok(IndexLock::new(self.locks.lock(name, mode).await, None)) })
    }

    fn try_lock(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> BoxFuture<'_, Result<Option<IndexLock>, IndexError>> {
        let held = self.locks.try_lock(name, mode);
        Box::pin(async move { Ok(held.map(|l| IndexLock::new(l, None))) })
    }

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
}
