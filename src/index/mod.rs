//! The index: the rows behind every answer (files, blobs and their
//! references, buckets, objects, multipart uploads, tokens and keys),
//! behind one backend-neutral interface.
//!
//! The [`Index`] trait runs *transaction bodies* — async code over the row
//! operations of [`Tx`] (`tx.rs`) — in one write or read transaction,
//! and grants the storage service's locks (`lock.rs`), which hold across
//! every gateway sharing the index. Backends: SQLite (`sqlite/`, group
//! commit on its own writer thread) and PostgreSQL (`postgres/`, a pool,
//! SERIALIZABLE writes run again on conflict); both keep one contract
//! (`contract/`, run on each). Schemas of both are migrated from one place
//! (`migrations.rs`).
//!
//! Must never: decide a rule (what presign answers, whether a write's
//! condition holds: the storage service's, in the bodies it runs), touch
//! blob bytes in the store, see a token in clear (only its SHA-256), or let
//! a backend's error type cross the trait ([`IndexError`]).

pub mod acl;
#[cfg(test)]
pub(crate) mod contract;
mod error;
pub mod lock;
mod migrations;
mod postgres;
mod sqlite;
pub mod transfer;
pub mod tx;
pub mod versions;

use std::any::Any;

use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::store::Digest;

pub use acl::CannedAcl;
pub use error::IndexError;
pub use lock::{IndexLock, LockMode, LockName, LockSpace};
#[cfg(test)]
pub(crate) use postgres::testing as postgres_testing;
pub use postgres::PostgresIndex;
pub use sqlite::{SqliteIndex, DB_FILE};
pub use tx::{BlobRow, BucketRow, BucketText, Cursor, DeletedBlob, Tx, TxResult};
pub use versions::{
    DeleteMarker, ListedVersion, PastVersion, Retention, RetentionMode, Version, VersionPlace,
    Versioning, NULL_VERSION,
};
// Moved to the storage service (the rules' terms); here while the
// multipart completion of the retiring interface still names them.

/// What a transaction body returns: a future borrowing the transaction.
pub type TxFuture<'t, R> = BoxFuture<'t, Result<R, IndexError>>;

/// A transaction body with its answer's type erased, as the [`Index`]
/// trait object takes it; see [`Index::run_write`]. The typed way in is
/// [`write`](dyn Index::write) and [`read`](dyn Index::read).
pub type Body = Box<dyn for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, Box<dyn Any + Send>> + Send>;

/// Whether a write's answer must be durable before it is delivered.
pub type MustBeDurable = Box<dyn Fn(&(dyn Any + Send)) -> bool + Send>;

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

/// The facts of one stored blob, recorded once it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    pub sha256: Digest,
    pub size: u64,
    /// MD5 of the bytes: S3's ETag of a single-part object. `None` only for
    /// blobs stored before it was recorded, until the start-up pass fills it.
    pub md5: Option<[u8; 16]>,
}

/// One segment of a composite blob: a blob of bytes, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub sha256: Digest,
    pub size: u64,
}

/// A blob row as the maintenance commands see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    pub info: BlobInfo,
    /// The bytes are in the index (`blob_bytes`), not in the blob store.
    pub inline: bool,
}

/// A row that refers to a blob the index has no row for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    /// `file <id>`, `object <bucket>/<key>` or `part <n> of upload <id>`.
    pub referrer: String,
    pub sha256: String,
}

/// The checksum a multipart upload was created with: its algorithm as S3
/// prints it (`CRC32`, …) and whether the object's is the CRC of the whole
/// object (`FULL_OBJECT`) or the checksum of its parts' (`COMPOSITE`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MultipartChecksum {
    pub algorithm: String,
    pub full_object: bool,
}

/// Headers S3 keeps with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectMeta {
    /// `x-amz-meta-*` pairs (names lowercase, without the prefix), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Verified `x-amz-checksum-*` values: (algorithm name as S3 prints it,
    /// e.g. "CRC32", base64 value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<(String, String)>,
    /// Number of parts for a multipart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    /// A multipart upload's checksum (CreateMultipartUpload's
    /// `x-amz-checksum-algorithm` and `-type`), and then its object's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart_checksum: Option<MultipartChecksum>,
    /// A completed object's part checksums (of that algorithm), in part
    /// order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// Object tags (`x-amz-tagging`, PutObjectTagging), in the order
    /// given; at most 10, checked by the API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Object Lock: this version may not be removed before `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object Lock: this version may not be removed while it is held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// Its canned ACL (`x-amz-acl`, PutObjectAcl); `None`: private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<CannedAcl>,
}

/// One S3 object: a key in a bucket naming a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub bucket: String,
    /// Arbitrary UTF-8 up to 1024 bytes; never a filesystem path.
    pub key: String,
    pub sha256: Digest,
    pub size: u64,
    /// Without quotes: MD5 hex, or `<md5 of part md5s>-N` for multipart.
    pub etag: String,
    pub content_type: String,
    pub meta: ObjectMeta,
    /// Unix seconds.
    pub last_modified: i64,
    /// Its version id: [`NULL_VERSION`] unless it was written while its
    /// bucket's versioning was enabled.
    pub version_id: String,
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    pub name: String,
    pub created_at: i64,
}

/// An S3 access key beside the configured one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret: String,
    /// The operator's name for it (unique), used by the CLI.
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub meta: ObjectMeta,
    pub created_at: i64,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub part_number: u32,
    pub sha256: Digest,
    pub size: u64,
    pub md5: [u8; 16],
    pub last_modified: i64,
    /// Its checksum of the upload's algorithm (base64), if the upload was
    /// created with one.
    pub checksum: Option<String>,
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

/// An API token as stored: never the token itself.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Index failures: the server's, surfacing as `InternalError`, detail
/// only in the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database holds an invalid value in {0}")]
    Corrupt(&'static str),
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("database lock poisoned by an earlier panic")]
    Poisoned,
    /// The group-commit fdatasync of the WAL failed: the commits it covered
    /// may not be durable, so none of them is answered as stored.
    #[error("could not sync the database journal: {0}")]
    Sync(std::io::Error),
    /// The shared transaction of a batch of writes failed to commit.
    #[error("a batch of index writes failed: {0}")]
    Batch(String),
    /// The filesystem holding the index is full: nothing was written.
    #[error("the disk holding the index is full")]
    DiskFull,
    /// The index file could not be created owner-only or tightened to it.
    #[error("cannot make the index file readable by its owner only: {0}")]
    Permissions(std::io::Error),
    /// A transaction body's own error (its writes are undone).
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl dyn Index {
    /// Runs a typed write body (see [`Index::run_write`]); durable before
    /// it answers.
    pub async fn write<R, F>(&self, body: F) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, R> + Send + 'static,
    {
        self.write_when(body, |_| true).await
    }

    /// [`Self::write`], answered at commit when `durable` says of the
    /// answer that it need not wait for the sync.
    pub async fn write_when<R, F>(&self, body: F, durable: fn(&R) -> bool) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, R> + Send + 'static,
    {
        let must: MustBeDurable = Box::new(move |a| a.downcast_ref::<R>().is_none_or(durable));
        let out = self.run_write(erase(body), must).await?;
        unerase(out)
    }

    /// Runs a typed read body whose answer may be called stored.
    pub async fn read<R, F>(&self, body: F) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, R> + Send + 'static,
    {
        unerase(self.run_read(erase(body), true).await?)
    }

    /// Runs a typed read body of settings (tokens, keys, grants): answered
    /// at once, without waiting for writes in flight to become durable.
    pub async fn read_settings<R, F>(&self, body: F) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, R> + Send + 'static,
    {
        unerase(self.run_read(erase(body), false).await?)
    }
}

fn erase<R, F>(mut body: F) -> Body
where
    R: Send + 'static,
    F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, R> + Send + 'static,
{
    Box::new(move |tx| {
        let f = body(tx);
        Box::pin(async move { f.await.map(|r| Box::new(r) as Box<dyn Any + Send>) })
    })
}

fn unerase<R: 'static>(out: Box<dyn Any + Send>) -> Result<R, IndexError> {
    out.downcast::<R>()
        .map(|b| *b)
        .map_err(|_| IndexError::Backend("a transaction answered with another type".into()))
}

impl DbError {
    /// Whether this failure is the disk being full (the client is told to
    /// retry later with 507, not that the server broke).
    pub fn is_disk_full(&self) -> bool {
        match self {
            DbError::DiskFull => true,
            DbError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            DbError::Sync(e) => e.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

/// The index. A backend runs transaction bodies ([`Self::run_write`],
/// [`Self::run_read`]) over its rows ([`Tx`]); the rules live in those
/// bodies (`crate::storage`), never in a backend.
pub trait Index: Send + Sync + 'static {
    /// Runs `body` in one write transaction and answers once it is
    /// committed — and durable, unless `durable` says of the answer that
    /// nobody will take it as "stored" (it becomes durable moments later,
    /// with its batch). The body may be run more than once (after a
    /// conflict with a concurrent transaction, which is then rolled back):
    /// it must only read and write rows. A body that returns an error has
    /// its writes undone.
    fn run_write(
        &self,
        body: Body,
        durable: MustBeDurable,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, IndexError>>;
    /// Runs `body` in one read transaction: it sees one consistent state.
    /// `fresh`: the answer waits until whatever it saw is durable (a reply
    /// may call it stored); settings read to authorize a request (tokens,
    /// keys, grants) need not.
    fn run_read(
        &self,
        body: Body,
        fresh: bool,
    ) -> BoxFuture<'_, Result<Box<dyn Any + Send>, IndexError>>;
    /// Waits for the lock `name` in `mode`, held against every gateway
    /// sharing this index (and every task of this one) until the guard
    /// drops. Never taken inside a transaction body.
    fn lock(&self, name: LockName, mode: LockMode) -> BoxFuture<'_, Result<IndexLock, IndexError>>;
    /// The lock `name` in `mode` if nobody holds it against that mode now.
    fn try_lock(
        &self,
        name: LockName,
        mode: LockMode,
    ) -> BoxFuture<'_, Result<Option<IndexLock>, IndexError>>;
}
