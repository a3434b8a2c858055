//! `stowage backup DEST`: a consistent copy of a data dir, taken while the
//! gateway goes on serving uploads.
//!
//! Order: the index is copied first, as of one moment, into a SQLite index
//! file in the copy: SQLite's online backup API (one step, so writers are
//! never blocked), or, for an index in PostgreSQL, every row of one
//! REPEATABLE READ snapshot ([`crate::index::transfer`]). Then every blob
//! that copy refers to is copied from the live store, rehashed on the way
//! and published in the copy with the store's own durable commit. The copy
//! is built in `DEST.partial` and renamed to `DEST` only when whole, so a
//! `DEST` that exists is always a complete backup. `DEST` is itself a data
//! dir on SQLite, whichever backend the source used: serve it, verify it,
//! put it back in place of the original, or move its index back to
//! PostgreSQL with `stowage index migrate`.
//!
//! Blobs are immutable, so the only race is deletion: a blob deleted on the
//! live gateway after the index copy's moment but before its bytes were
//! copied. Its rows are then dropped from the copy (they were deleted or
//! overwritten live), and the report lists them. A blob missing or altered
//! in the *source* is reported as a problem and never copied.
//!
//! This module never writes to the source data dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::verify::Finding;
use crate::index::transfer::{postgres_to_sqlite, PostgresTarget, TransferError};
use crate::index::{IndexError, SqliteIndex, DB_FILE};
use crate::storage::{Storage, StorageError};
use crate::store::fsutil::{create_dir_all_durable, fsync_dir};
use crate::store::{Digest, LocalStore, StoreError};

/// Blob rows read from the index copy at a time.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Destination(String),
    #[error("index: {0}")]
    Db(#[from] IndexError),
    #[error("index: {0}")]
    Index(#[from] StorageError),
    #[error("copying the index: {0}")]
    Transfer(#[from] TransferError),
    #[error("blob store: {0}")]
    Store(#[from] StoreError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        action,
        path,
        source,
    }
}

/// What a backup did.
#[derive(Debug, Default)]
pub struct BackupReport {
    /// Blob files copied (and rehashed).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Small blobs, copied inside the index.
    pub inline: u64,
    /// Blobs deleted live after the index copy's moment, with how many rows
    /// referring to them were dropped from the copy.
    pub deleted_meanwhile: Vec<(Digest, usize)>,
    /// Damage found in the source (missing or altered blobs): not copied.
    pub problems: Vec<Finding>,
}

/// Where the live index is, for its copy.
pub enum IndexSource<'a> {
    /// The data dir's SQLite file, through the gateway's own handle on it.
    Sqlite(&'a SqliteIndex),
    /// A PostgreSQL database.
    Postgres(&'a PostgresTarget),
}

/// Copies the data dir behind `live` (whose index is `live_index`, and
/// whose credentials file, if any, is `credentials`) to the new directory
/// `dest`.
pub async fn backup(
    live_index: IndexSource<'_>,
    live: &Storage,
    credentials: Option<&Path>,
    dest: &Path,
    mut progress: impl FnMut(&BackupReport),
) -> Result<BackupReport, BackupError> {
    if dest.exists() {
        return Err(BackupError::Destination(format!(
            "{} already exists; name a new directory (a backup never overwrites)",
            dest.display()
        )));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        return Err(BackupError::Destination(format!(
            "{} is left from an interrupted backup; remove it and run again",
            partial.display()
        )));
    }
    create_dir_all_durable(&partial).map_err(io_err("creating", &partial))?;

    match live_index {
        IndexSource::Sqlite(index) => index.backup_to(&partial.join(DB_FILE))?,
        IndexSource::Postgres(db) => {
            postgres_to_sqlite(db, &partial.join(DB_FILE)).await?;
        }
    }
    let mut report = BackupReport::default();
    {
        let out = LocalStore::attach(&partial, true)
            .map_err(io_err("creating the store in", &partial))?;
        let copy = Storage::new(
            Arc::new(SqliteIndex::open_with(&partial, true)?),
            Arc::new(out),
            live.clock.clone(),
            live.settings.clone(),
        );
        let mut after: Option<Digest> = None;
        loop {
            let page = copy.blob_page(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.info.sha256);
            for entry in page {
                if entry.inline {
                    report.inline += 1;
                    continue;
                }
                copy_blob(live, &copy, entry.info.sha256, entry.info.size, &mut report).await?;
                progress(&report);
            }
        }
    }
    if let Some(c) = credentials.filter(|c| c.exists()) {
        let bytes = std::fs::read(c).map_err(io_err("reading", c))?;
        let to = partial.join(c.file_name().unwrap_or_default());
        crate::store::fsutil::write_private_file(&to, &bytes).map_err(io_err("writing", &to))?;
    }
    fsync_dir(&partial).map_err(io_err("syncing", &partial))?;
    std::fs::rename(&partial, dest).map_err(io_err("renaming the finished backup to", dest))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent).map_err(io_err("syncing", parent))?;
    }
    Ok(report)
}

/// Copies one blob file from `live` to `copy`, rehashing it; records what
/// happened.
async fn copy_blob(
    live: &Storage,
    copy: &Storage,
    sha256: Digest,
    size: u64,
    report: &mut BackupReport,
) -> Result<(), BackupError> {
    let Some(mut blob) = live.open_stored(&sha256).await? else {
        if live.blob_entry(&sha256).await?.is_some() {
            report.problems.push(Finding::Missing { sha256, size });
        } else {
            let dropped = copy.forget_blob(&sha256).await?;
            report.deleted_meanwhile.push((sha256, dropped));
        }
        return Ok(());
    };
    let mut staged = copy.store.stage().await?;
    let mut sha = Sha256::new();
    let n = crate::store::pump(&mut blob, Some(&mut staged), |piece| sha.update(piece)).await?;
    let got = Digest(sha.finalize().into());
    if got != sha256 || n != size {
        // Dropping `staged` removes its temp file.
        report.problems.push(Finding::Corrupt {
            sha256,
            why: format!(
                "the source file has {n} bytes hashing to {}; not copied",
                got.hex()
            ),
        });
        return Ok(());
    }
    staged.commit(&sha256).await?;
    report.files += 1;
    report.bytes += n;
    Ok(())
}
