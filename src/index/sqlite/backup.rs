//! A consistent copy of the SQLite index file, for `stowage backup`: a
//! file copy, so not part of the [`Index`](crate::index::Index) interface
//! (a PostgreSQL index is backed up by its own server's tools).

use std::path::Path;

use rusqlite::Connection;

use super::{DbError, SqliteIndex};

impl SqliteIndex {
    /// Writes a consistent copy of the whole index, as of one moment, to
    /// the new file `dest` (the online backup API, in one step, so writers
    /// go on meanwhile).
    pub fn backup_to(&self, dest: &Path) -> Result<(), DbError> {
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
}
