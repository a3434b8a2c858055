//! Copies of the whole index between the two backends: SQLite → PostgreSQL
//! (`stowage index migrate --to`) and PostgreSQL → a new SQLite file (the
//! index of `stowage backup` on PostgreSQL), through one row
//! representation neither backend owns (`rows.rs`).
//!
//! A copy reads one consistent snapshot of its source and writes its
//! target in one transaction: it happens whole or not at all. Every value
//! is copied exactly (inline blob bytes as bytes), rows keep their
//! positions (SQLite's rowid is PostgreSQL's `seq`), counts are checked
//! table by table before the commit, and a value the target cannot hold
//! refuses the whole copy, naming its table and row. A copy into
//! PostgreSQL refuses a database that holds any row: it never merges into
//! or overwrites an index.
//!
//! This module never changes its source, and is no part of the [`Index`]
//! interface: it works on a database nobody serves (or a snapshot).
//!
//! [`Index`]: crate::index::Index

mod error;
mod postgres;
mod rows;
mod sqlite;

#[cfg(test)]
mod tests;

use std::path::Path;

use tokio::sync::mpsc;

pub use error::TransferError;
pub use postgres::PostgresTarget;

/// Rows copied, table by table, in copy order.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies every row of the SQLite index file `db_file` (at this binary's
/// schema version: open it with [`SqliteIndex`](crate::index::SqliteIndex)
/// first, which upgrades it) into the empty PostgreSQL database `target`,
/// whose schema it makes first as the gateway would.
pub async fn sqlite_to_postgres(
    db_file: &Path,
    target: &PostgresTarget,
) -> Result<Copied, TransferError> {
    // Both refusals before anything is written anywhere.
    sqlite::check_version(db_file)?;
    let mut client = postgres::connect_empty(target).await?;
    let (send, mut rows) = mpsc::channel(rows::IN_FLIGHT);
    let file = db_file.to_path_buf();
    std::thread::Builder::new()
        .name("stowage-transfer".into())
        .spawn(move || sqlite::read(&file, &send))
        .map_err(|e| TransferError::Source(format!("cannot start a thread: {e}")))?;
    // On an error the reader stops at its next batch, `rows` being gone.
    postgres::copy_in(&mut client, target, &mut rows).await
}

/// Writes the new SQLite index file `db_file` with every row of the
/// PostgreSQL database `source`, as of one snapshot (REPEATABLE READ): the
/// same file a SQLite gateway keeps. The file is removed again if the copy
/// fails.
pub async fn postgres_to_sqlite(
    source: &PostgresTarget,
    db_file: &Path,
) -> Result<Copied, TransferError> {
    let (send, rows) = mpsc::channel(rows::IN_FLIGHT);
    let file = db_file.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || sqlite::write_new(&file, rows));
    let read = postgres::copy_out(source, &send).await;
    // The writer sees the end of the rows (and fails if they stopped short).
    drop(send);
    let written = writer
        .await
        .map_err(|e| TransferError::Target(format!("the writer stopped: {e}")))?;
    // The reader's own error first: the writer only saw the rows stop.
    read?;
    written
}
