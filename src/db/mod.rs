//! The metadata index: which ids exist, what each declared, whether its
//! bytes have arrived, and the API tokens.
//!
//! This module owns every state transition of an upload
//! (`pending` → `uploaded` → `completed`) and makes each one a single
//! transaction, so concurrent requests for one id see one consistent answer.
//! It never touches blob bytes and never sees a token in clear, only its
//! SHA-256. The [`Index`] trait is narrow so PostgreSQL can stand beside
//! SQLite later.

mod migrations;
mod sqlite;

use uuid::Uuid;

use crate::store::Digest;

pub use sqlite::SqliteIndex;

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Presigned; no verified bytes yet.
    Pending,
    /// Verified bytes are stored; the client has not called complete.
    Uploaded,
    /// The client called complete.
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Uploaded => "uploaded",
            Status::Completed => "completed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
            "uploaded" => Some(Status::Uploaded),
            "completed" => Some(Status::Completed),
            _ => None,
        }
    }

    /// Whether verified bytes exist for this record.
    pub fn has_bytes(self) -> bool {
        !matches!(self, Status::Pending)
    }
}

/// What a client declares when it asks for a presigned URL.
#[derive(Debug, Clone)]
pub struct Declared {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: Digest,
}

/// One file as the index knows it.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: Digest,
    pub status: Status,
    /// Unix seconds.
    pub created_at: i64,
    /// When the presigned URL last issued for it expires (unix seconds).
    pub url_expires_at: i64,
    pub uploaded_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// The answer to a presign request, decided in one transaction.
#[derive(Debug)]
pub enum PresignOutcome {
    /// The client must send the bytes: issue a URL.
    NeedsUpload,
    /// The bytes are already stored for this id (or, with dedupe, for
    /// another id, and this id now links to them): no upload needed.
    AlreadyStored,
    /// The id exists with a different declaration.
    Conflict(String),
}

/// The answer to marking an id uploaded after its bytes were committed.
#[derive(Debug, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The row moved from pending to uploaded.
    Marked,
    /// It was already uploaded or completed (a repeated or racing PUT).
    AlreadyStored,
    /// No row with this id and declaration.
    NotFound,
}

/// What the index makes of a stored blob during recovery.
#[derive(Debug, PartialEq, Eq)]
pub enum BlobClaim {
    /// A row with bytes refers to it.
    Referenced,
    /// No row had it, but these pending rows declared exactly these bytes
    /// and are now marked uploaded (the crash came between publish and
    /// commit).
    Relinked(usize),
    /// Nothing refers to it.
    Unreferenced,
}

/// The answer to a complete request.
#[derive(Debug)]
pub enum CompleteOutcome {
    Completed(FileRecord),
    NotFound,
    /// Still pending: no verified bytes yet.
    NotUploaded(FileRecord),
}

/// An API token as stored: never the token itself.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Index failures. `NameTaken` is the caller's fault; the rest are the
/// server's and surface as `InternalError`, detail only in the log.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a token named '{0}' already exists")]
    NameTaken(String),
    #[error("the database holds an invalid value in {0}")]
    Corrupt(&'static str),
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("database lock poisoned by an earlier panic")]
    Poisoned,
}

/// The index. Methods are synchronous (SQLite is); async callers run them
/// on the blocking pool.
pub trait Index: Send + Sync + 'static {
    /// Records a presign request and decides whether bytes are needed.
    fn presign(
        &self,
        d: &Declared,
        now: i64,
        url_expires_at: i64,
        dedupe: bool,
    ) -> Result<PresignOutcome, DbError>;
    fn get(&self, id: &Uuid) -> Result<Option<FileRecord>, DbError>;
    /// Marks `id` uploaded if it is pending with exactly this hash and size.
    fn mark_uploaded(
        &self,
        id: &Uuid,
        sha256: &Digest,
        size: u64,
        now: i64,
    ) -> Result<MarkOutcome, DbError>;
    fn complete(&self, id: &Uuid, now: i64) -> Result<CompleteOutcome, DbError>;
    /// Decides, in one transaction, what becomes of a stored blob of
    /// `size` bytes found on disk: referenced, adopted by pending rows that
    /// declared it, or unreferenced.
    fn claim_blob(&self, sha256: &Digest, size: u64, now: i64) -> Result<BlobClaim, DbError>;
    /// Deletes pending rows whose URL expired before `cutoff`, except the
    /// ids in `keep` (uploads whose bytes are arriving right now); returns
    /// how many.
    fn sweep_pending(&self, cutoff: i64, keep: &[Uuid]) -> Result<usize, DbError>;

    fn create_token(
        &self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> Result<(), DbError>;
    /// The live (not revoked) token with this hash.
    fn find_token(&self, token_hash: &Digest) -> Result<Option<TokenRecord>, DbError>;
    fn list_tokens(&self) -> Result<Vec<TokenRecord>, DbError>;
    /// Revokes by name; false if no live token has that name.
    fn revoke_token(&self, name: &str, now: i64) -> Result<bool, DbError>;
    /// Number of tokens ever created, revoked or not.
    fn token_count(&self) -> Result<u64, DbError>;
    /// A trivial query, for `/healthz`.
    fn check(&self) -> Result<(), DbError>;
}
