//! The one error type of the [`Index`](super::Index) interface: what every
//! backend's failures become before they cross it. No backend's own error
//! type (rusqlite's, tokio-postgres's) appears here or above.

/// Why the index could not answer.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index cannot be reached or used right now (its server is down,
    /// its connections are all taken, a transaction kept conflicting with
    /// others): nothing was changed, and the request may be retried.
    #[error("the index is unavailable: {0}")]
    Unavailable(String),
    /// The filesystem holding the index is full: nothing was written.
    #[error("the disk holding the index is full")]
    DiskFull,
    /// A stored value cannot be read back (`what` names the column).
    #[error("the index holds an invalid value in {0}")]
    Corrupt(&'static str),
    /// The index was written by a newer Stowage: refused, never downgraded.
    #[error("index schema version {found} is newer than this binary supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    /// A transaction body waited on something other than the index (a bug:
    /// bodies only read and write rows).
    #[error("a transaction body waited on something other than the index")]
    BodyBlocked,
    /// A value this backend cannot store: PostgreSQL's text cannot hold the
    /// NUL character, which S3 keys (and SQLite) may. `what` names the
    /// value ("object key"). Nothing was changed; the client's request is
    /// refused (400), not the server's fault.
    #[error("the {0} contains the NUL character (U+0000), which this index backend cannot store")]
    NotStorable(&'static str),
    /// Anything else the backend reported, as text for the log.
    #[error("index error: {0}")]
    Backend(String),
}

impl IndexError {
    /// Whether the client should be told to retry later (503), rather than
    /// that the server failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, IndexError::Unavailable(_))
    }
}
