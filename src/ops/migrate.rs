//! `stowage index migrate --to URL`: the SQLite index of a data dir whose
//! gateway is stopped, copied into an empty PostgreSQL database, so that
//! the gateway can be started on PostgreSQL with the same files, objects,
//! uploads in progress, tokens and keys (the blobs stay where they are).
//!
//! Order: the URL is checked, the data dir locked (refused while a gateway
//! serves it: see `lock.rs`), the SQLite index brought to this binary's
//! schema by opening it as the gateway would, then the copy
//! ([`crate::index::transfer`]): all of it or nothing. The source is left
//! in place, unchanged but for that schema upgrade.

use std::path::{Path, PathBuf};

use super::lock::{DataDirLock, LockError};
use crate::index::transfer::{sqlite_to_postgres, Copied, PostgresTarget, TransferError};
use crate::index::{SqliteIndex, DB_FILE};

/// What a migration copied.
#[derive(Debug)]
pub struct Migrated {
    /// The target's URL without its password.
    pub target: String,
    /// The index file copied.
    pub source: PathBuf,
    /// Rows per table.
    pub tables: Copied,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A precondition on this side (the data dir, its gateway, its index).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Transfer(#[from] TransferError),
}

/// Copies the SQLite index of `data_dir` into the empty PostgreSQL
/// database at `url`.
pub async fn to_postgres(data_dir: &Path, url: &str) -> Result<Migrated, MigrateError> {
    let target = PostgresTarget::parse(url)?;
    let source = data_dir.join(DB_FILE);
    if !source.exists() {
        return Err(MigrateError::Refused(format!(
            "{} holds no SQLite index ({DB_FILE}); name the data dir with --data-dir",
            data_dir.display()
        )));
    }
    let _lock = DataDirLock::acquire(data_dir, "stowage index migrate").map_err(|e| match e {
        LockError::Held { dir, holder } => MigrateError::Refused(format!(
            "a gateway is running on {} ({holder}): stop it first, then run the migration \
             again (the copy must be of an index nobody writes)",
            dir.display()
        )),
        e => MigrateError::Refused(e.to_string()),
    })?;
    // Upgrades an older schema (or refuses a newer one), as the gateway's
    // start would; closed again before the copy reads the file.
    let index = SqliteIndex::open(data_dir).map_err(|e| {
        MigrateError::Refused(format!("the SQLite index in {}: {e}", data_dir.display()))
    })?;
    drop(index);
    let tables = sqlite_to_postgres(&source, &target).await?;
    Ok(Migrated {
        target: target.shown,
        source,
        tables,
    })
}
