//! Why a copy of the index between backends did not happen. Every variant
//! means nothing was committed to the target; its message says what to do.
//! No backend's error type appears here: their failures are text.

use crate::index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The target is not named by a PostgreSQL URL.
    #[error(
        "not a PostgreSQL URL ({0}): name the database as postgresql://user@host:port/database"
    )]
    NotPostgresUrl(String),
    /// The server could not be reached, or would not let us in. `target`
    /// is the URL without its password.
    #[error(
        "cannot connect to PostgreSQL at {target}: {why}; check that the server runs, that the \
         database exists (createdb) and that its user may log in"
    )]
    Unreachable { target: String, why: String },
    /// The target database already holds an index (rows in its tables).
    #[error(
        "the database at {target} already holds rows ({tables}); index migrate copies into an \
         empty database only and never merges into or overwrites an index: create a new \
         database (createdb) and name it with --to"
    )]
    NotEmpty { target: String, tables: String },
    /// A schema is not at this binary's version (`what` says which, and
    /// what to do).
    #[error("{0}")]
    Schema(String),
    /// A value PostgreSQL cannot hold (text with U+0000, or not UTF-8).
    #[error(
        "{table} row {key}: its {column} {why}, which PostgreSQL cannot store; nothing was \
         copied. Change or delete that row with the gateway on SQLite (e.g. delete or rename \
         the object), then run the migration again"
    )]
    NotStorable {
        table: &'static str,
        key: String,
        column: &'static str,
        why: String,
    },
    /// A value of the source not of its column's type.
    #[error(
        "{table} row {key}: its {column} {why}; nothing was copied (run `stowage verify`, and \
         repair or delete that row)"
    )]
    Invalid {
        table: &'static str,
        key: String,
        column: &'static str,
        why: String,
    },
    /// The rows written are not the rows read.
    #[error("{table}: {read} rows were read but {written} are in the copy; nothing was kept")]
    Count {
        table: &'static str,
        read: u64,
        written: u64,
    },
    /// The source failed.
    #[error("reading the index: {0}")]
    Source(String),
    /// The target refused or failed (a statement, a constraint).
    #[error("writing the copy: {0}")]
    Target(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}
