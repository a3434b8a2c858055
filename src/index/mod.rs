//! The metadata index: which ids exist, what each declared, whether its
//! bytes have arrived, and the API tokens.
//!
//! This module owns every state transition of an upload
//! (`pending` → `uploaded` → `completed`) and makes each one a single
//! transaction, so concurrent requests for one id see one consistent answer.
//! It never touches blob bytes and never sees a token in clear, only its
//! SHA-256. The [`Index`] trait is narrow so PostgreSQL can stand beside
//! SQLite later.

#[cfg(test)]
pub(crate) mod contract;
mod error;
mod migrations;
mod postgres;
mod sqlite;
pub mod tx;

use std::any::Any;

use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::store::Digest;

pub use error::IndexError;
#[cfg(test)]
pub(crate) use postgres::testing as postgres_testing;
pub use postgres::PostgresIndex;
pub use sqlite::{SqliteIndex, DB_FILE};
pub use tx::{BlobRow, BucketRow, Cursor, Tx, TxResult};

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

/// What a key may do with a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketAccess {
    pub exists: bool,
    /// The key created the bucket: everything, its settings included.
    pub owner: bool,
    pub read: bool,
    pub write: bool,
}

/// The answer to creating a bucket for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateBucketOutcome {
    Created,
    OwnedByYou,
    /// Another key's bucket.
    Taken,
}

/// The answer to putting an object.
#[derive(Debug, PartialEq, Eq)]
pub enum PutObjectOutcome {
    /// Stored; `replaced` names the blob the key referred to before, if it
    /// differs (it may now be garbage).
    Stored {
        replaced: Option<Digest>,
    },
    NoSuchBucket,
    /// The write's condition did not hold when it came to commit.
    ConditionFailed(ConditionFailure),
    /// The key is a file's of the upload API, which is written once (see
    /// [`Index::put_object`]): nothing was recorded.
    WrittenOnce,
}

/// A conditional write's condition (`If-None-Match: *`, `If-Match`),
/// checked in the transaction that writes, so concurrent writers of one key
/// cannot both pass it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Unconditional: the last completed write wins.
    #[default]
    Always,
    /// Only if the key has no object (`If-None-Match: *`).
    IfAbsent,
    /// Only if the key's object has this ETag (hex, no quotes).
    IfEtag(String),
}

/// Why a conditional write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionFailure {
    /// The key exists (IfAbsent) or has another ETag (IfEtag): 412.
    Precondition,
    /// IfEtag, and the key has no object: 404 NoSuchKey, as S3 answers.
    NoObject,
}

impl WriteCondition {
    /// Whether the condition holds for the key's current object (its ETag,
    /// if it has one).
    pub fn check(&self, current_etag: Option<&str>) -> Result<(), ConditionFailure> {
        match (self, current_etag) {
            (WriteCondition::Always, _) => Ok(()),
            (WriteCondition::IfAbsent, None) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => Err(ConditionFailure::Precondition),
            (WriteCondition::IfEtag(_), None) => Err(ConditionFailure::NoObject),
            (WriteCondition::IfEtag(want), Some(have)) if want == have => Ok(()),
            (WriteCondition::IfEtag(_), Some(_)) => Err(ConditionFailure::Precondition),
        }
    }
}

/// The answer to deleting a bucket.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteBucketOutcome {
    /// Deleted; it held nothing.
    Deleted,
    /// Deleted, and with it the unfinished multipart uploads it held (as
    /// S3 does): `uploads` were aborted, and `released` are the blobs their
    /// parts referred to, each to be released (removed from disk once
    /// nothing refers to it any more).
    DeletedWithUploads {
        uploads: usize,
        released: Vec<Digest>,
    },
    NotFound,
    /// It holds objects, or a part-wise upload of the JSON API for a file
    /// that is still pending (a field client's progress, not an S3 client's
    /// leftover).
    NotEmpty,
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
}

/// The answer to storing a part.
#[derive(Debug, PartialEq, Eq)]
pub enum PutPartOutcome {
    /// Stored; names the blob of the part it replaced, if different.
    Stored {
        replaced: Option<Digest>,
    },
    NoSuchUpload,
}

/// The answer to completing a multipart upload.
#[derive(Debug, PartialEq, Eq)]
pub enum CompleteMultipartOutcome {
    /// The object now exists; the listed blobs (old object, parts) may be
    /// garbage.
    Completed {
        released: Vec<Digest>,
    },
    NoSuchUpload,
    /// A part was replaced while the object was assembled.
    PartsChanged,
    /// The completion's condition did not hold (the upload stays open).
    ConditionFailed(ConditionFailure),
    /// The key is a file's of the upload API, which is written once (see
    /// [`Index::put_object`]): nothing was recorded, the upload stays open.
    WrittenOnce,
}

/// The answer to completing an API file from its uploaded parts.
#[derive(Debug)]
pub enum FilePartsOutcome {
    /// The file is stored and completed; the listed blobs (its parts, an
    /// object it replaced) may be garbage.
    Completed {
        record: FileRecord,
        released: Vec<Digest>,
    },
    NoSuchUpload,
    /// A part was replaced while the file was assembled.
    PartsChanged,
    /// No row with this declaration (withdrawn).
    NotPending,
    /// An object the upload API did not write (an S3 client's) holds the
    /// file's key: nothing was recorded, the object stays.
    Occupied,
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
    /// The client must send the bytes: issue a URL. Also for an id whose
    /// bytes were stored but are now damaged or missing: sending them
    /// again heals the blob.
    NeedsUpload,
    /// Intact bytes are already stored for this id (or, with dedupe, for
    /// another file of the upload API, and this id now links to them): no
    /// upload needed.
    AlreadyStored,
    /// An object the upload API did not write holds the id's key; the
    /// description says so.
    Conflict(String),
    /// The id is declared for another file (a different hash, size or
    /// content type): that file's record, for the API to word the refusal
    /// for whoever asks (only a client that may read files is told what
    /// the other declaration is).
    Redeclared(FileRecord),
}

/// The answer to marking an id uploaded after its bytes were committed.
#[derive(Debug, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The row moved from pending to uploaded.
    Marked,
    /// It was already uploaded or completed (a repeated or racing PUT).
    /// The blob is recorded again all the same: these bytes were verified,
    /// so a damage mark on it is cleared.
    AlreadyStored,
    /// No row with this id and declaration.
    NotFound,
    /// The row is pending, but an object the upload API did not write (an
    /// S3 client's) holds its key: nothing was recorded, the object stays.
    Occupied,
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

/// Hands a submitted write its outcome: `Ok` once the transaction it ran in
/// is durable, or the error that stopped that transaction.
pub type Delivery = Box<dyn FnOnce(Result<(), DbError>) + Send>;
/// A write for [`Index::submit_write`]: calls index methods, keeps their
/// result, and returns what delivers it, and whether that must wait until
/// the write is durable (`false` only for results no client takes as
/// "stored", such as a presign whose URL carries the whole declaration).
pub type WriteJob = Box<dyn FnOnce() -> (Delivery, bool) + Send>;

/// The bytes of a blob kept inline in the index.
pub type InlineBytes = Vec<u8>;

/// The index. A backend runs transaction bodies ([`Self::run_write`],
/// [`Self::run_read`]) over its rows ([`Tx`]); the rules live in those
/// bodies (`crate::storage`), never in a backend.
///
/// (The synchronous methods below are the interface being retired: each
/// moves into a body as its domain is ported.)
#[allow(unused_variables)]
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
    /// Runs `job` on the index's own writer, possibly in one transaction
    /// with other submitted jobs, and calls the [`Delivery`] it returns
    /// once that transaction is durable (or only committed, if the job
    /// says its result need not wait) or has failed. For async callers:
    /// nothing blocks a thread of theirs. Each index method a job calls is
    /// atomic on its own (the job as a whole is not), so a job should make
    /// one write call; reads inside it see its batch's uncommitted state.
    fn submit_write(&self, job: WriteJob) {
        let (deliver, _) = job();
        deliver(Err(retired()));
    }
    /// Records a presign request and decides whether bytes are needed.
    ///
    /// Bytes count as stored only if they are intact (see
    /// [`Self::blob_intact`]; `store_len` is what the blob store holds
    /// under the declared hash, looked up by the caller just before). With
    /// `dedupe`, a new declaration links to intact bytes that a file of the
    /// upload API holds — never to bytes only an S3 object or part refers
    /// to, which may be another key's private data — and becomes visible as
    /// the S3 object `bucket/<id>`. An id whose key in `bucket` holds an
    /// object the upload API did not write is a conflict: the API never
    /// replaces an S3 client's object.
    fn presign(
        &self,
        d: &Declared,
        bucket: &str,
        now: i64,
        url_expires_at: i64,
        dedupe: bool,
        store_len: Option<u64>,
    ) -> Result<PresignOutcome, DbError> {
        Err(retired())
    }
    /// Whether the blob `sha256` of `size` bytes is intact as far as can be
    /// told without reading it: recorded, not marked damaged, and its bytes
    /// inline in the index or a file of exactly `size` bytes in the store
    /// (`store_len`, looked up by the caller). Only such a blob may be
    /// answered "already stored".
    fn blob_intact(
        &self,
        sha256: &Digest,
        size: u64,
        store_len: Option<u64>,
    ) -> Result<bool, DbError> {
        Err(retired())
    }
    fn get(&self, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
        Err(retired())
    }
    /// Up to `limit` files, newest first, before the cursor `before` (an
    /// opaque position from an earlier page); returns them and the cursor
    /// of the next page, if there is one.
    fn list_files(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<FileRecord>, Option<i64>), DbError> {
        Err(retired())
    }
    /// Marks `id` uploaded if it is pending with exactly this hash and
    /// size, records the blob (clearing a damage mark: the caller has just
    /// published these verified bytes), and makes the file visible as the
    /// S3 object `bucket/<id>` — unless an object the upload API did not
    /// write holds that key ([`MarkOutcome::Occupied`]). Returns the
    /// outcome and the blob the object key referred to before, if
    /// different.
    ///
    /// `inline`: the blob's bytes, to keep in the index itself (small
    /// blobs; see `app::INLINE_BLOB_MAX`); `None` when they are in the blob
    /// store. The same holds for `put_object` and `put_part`.
    ///
    /// `lost`: the declaration a self-contained upload URL carries; if `id`
    /// has no row, a pending one is made from it first (a presign answered
    /// before its row was durable, then lost in a crash).
    fn mark_uploaded(
        &self,
        id: &Uuid,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        lost: Option<&Declared>,
        bucket: &str,
        now: i64,
    ) -> Result<(MarkOutcome, Option<Digest>), DbError> {
        Err(retired())
    }
    fn complete(&self, id: &Uuid, now: i64) -> Result<CompleteOutcome, DbError> {
        Err(retired())
    }
    /// Decides, in one transaction, what becomes of a stored blob of
    /// `size` bytes found on disk: referenced, adopted by pending rows that
    /// declared it, or unreferenced.
    fn claim_blob(
        &self,
        sha256: &Digest,
        size: u64,
        bucket: &str,
        now: i64,
    ) -> Result<BlobClaim, DbError> {
        Err(retired())
    }
    /// Blobs whose MD5 is not recorded yet (stored before it was).
    fn blobs_missing_md5(&self) -> Result<Vec<Digest>, DbError> {
        Err(retired())
    }
    fn set_blob_md5(&self, sha256: &Digest, md5: &[u8; 16]) -> Result<(), DbError> {
        Err(retired())
    }
    /// If nothing refers to the blob any more, forgets it and returns true:
    /// the caller then deletes its bytes (holding the blob's lock, so no
    /// upload can claim it in between).
    fn release_blob(&self, sha256: &Digest) -> Result<bool, DbError> {
        Err(retired())
    }

    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError> {
        Err(retired())
    }
    fn bucket_exists(&self, name: &str) -> Result<bool, DbError> {
        Err(retired())
    }
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, DbError> {
        Err(retired())
    }
    /// Sets (Some) or removes (None) a bucket's CORS configuration, kept as
    /// an opaque text; false if there is no such bucket.
    fn set_bucket_cors(&self, name: &str, cors: Option<&str>) -> Result<bool, DbError> {
        Err(retired())
    }
    /// A bucket's CORS configuration: `None` if no such bucket, `Some(None)`
    /// if it has none.
    fn bucket_cors(&self, name: &str) -> Result<Option<Option<String>>, DbError> {
        Err(retired())
    }
    fn delete_bucket(&self, name: &str) -> Result<DeleteBucketOutcome, DbError> {
        Err(retired())
    }

    /// Records an object (and its blob), if `cond` holds for the key at
    /// commit, in one transaction. `blob.md5` given means the caller has
    /// just received, verified and published these bytes, which heals a
    /// blob marked damaged (the mark is cleared); a copy, which writes no
    /// byte, passes `None` and leaves a mark as it is.
    ///
    /// A file of the upload API is written once: the key `<id>` of
    /// `files_bucket` (the upload bucket) of a file with verified bytes is
    /// never written here ([`PutObjectOutcome::WrittenOnce`]), whether its
    /// object is there or was deleted (the file still says what its bytes
    /// are, and presign makes its object again). The key of a pending file
    /// is not yet its: an object written there makes the upload API refuse
    /// that file instead.
    fn put_object(
        &self,
        obj: &ObjectRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<PutObjectOutcome, DbError> {
        Err(retired())
    }
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        Err(retired())
    }
    /// `get_object` plus the blob's bytes if they are kept inline, in one
    /// lookup (the GET path).
    fn get_object_inline(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectRecord, Option<InlineBytes>)>, DbError> {
        Err(retired())
    }
    /// The bytes of a blob kept inline; `None` if it is not (its bytes are
    /// in the blob store, or it is not recorded).
    fn blob_data(&self, sha256: &Digest) -> Result<Option<Vec<u8>>, DbError> {
        Err(retired())
    }
    /// Removes `bucket/key`; returns the record that was there.
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        Err(retired())
    }
    /// Objects of `bucket` whose key starts with `prefix` and sorts after
    /// `after`, in S3's order (UTF-8 bytes), at most `limit`.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, DbError> {
        Err(retired())
    }

    fn create_multipart(&self, upload: &MultipartUpload) -> Result<bool, DbError> {
        Err(retired())
    }
    fn get_multipart(&self, upload_id: &str) -> Result<Option<MultipartUpload>, DbError> {
        Err(retired())
    }
    /// Records a part (replacing an earlier one with its number). Never
    /// clears a damage mark: a part copied whole from an object names its
    /// blob without writing it.
    fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
    ) -> Result<PutPartOutcome, DbError> {
        Err(retired())
    }
    /// Parts with numbers above `after`, ascending, at most `limit`.
    fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, DbError> {
        Err(retired())
    }
    /// Records the assembled object and forgets the upload and its parts,
    /// in one transaction (the assembled blob was just published, so a
    /// damage mark on it is cleared) — never onto the key of a file of the
    /// upload API (as for [`Self::put_object`]).
    fn complete_multipart(
        &self,
        upload_id: &str,
        assembled: &[(u32, Digest)],
        obj: &ObjectRecord,
        blob: &BlobInfo,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<CompleteMultipartOutcome, DbError> {
        Err(retired())
    }
    /// The API's part-wise upload finished: records the assembled blob as
    /// file `id` (its object in `bucket`, its row completed) and forgets
    /// the upload and its parts, in one transaction — only if the row
    /// declared exactly this blob's hash and size and, while pending, no
    /// object the upload API did not write holds the file's key. A row
    /// that already had bytes (damaged ones, sent again in parts) keeps
    /// its times and its object; the blob is healed (damage mark cleared).
    fn complete_file_parts(
        &self,
        upload_id: &str,
        assembled: &[(u32, Digest)],
        id: &Uuid,
        blob: &BlobInfo,
        bucket: &str,
        now: i64,
    ) -> Result<FilePartsOutcome, DbError> {
        Err(retired())
    }
    /// Marks an upload as still in use at `now` (its age, which the sweep
    /// of abandoned uploads goes by, starts again); false if there is none.
    fn touch_multipart(&self, upload_id: &str, now: i64) -> Result<bool, DbError> {
        Err(retired())
    }
    /// Forgets an upload; returns its parts' blobs (now maybe garbage), or
    /// `None` if there was no such upload.
    fn abort_multipart(&self, upload_id: &str) -> Result<Option<Vec<Digest>>, DbError> {
        Err(retired())
    }
    /// Uploads in `bucket` with keys under `prefix`, after the
    /// (key, upload id) marker, ordered by key then creation.
    fn list_multipart(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>, DbError> {
        Err(retired())
    }
    /// A completed upload's (bucket, key, ETag), if still remembered.
    fn completed_upload(
        &self,
        upload_id: &str,
    ) -> Result<Option<(String, String, String)>, DbError> {
        Err(retired())
    }
    /// Uploads created before `cutoff` (abandoned); also forgets completed
    /// uploads older than it.
    fn stale_multipart(&self, cutoff: i64) -> Result<Vec<String>, DbError> {
        Err(retired())
    }

    /// Deletes pending rows whose URL expired before `cutoff`, except the
    /// ids in `keep` (uploads whose bytes are arriving right now); returns
    /// how many.
    fn sweep_pending(&self, cutoff: i64, keep: &[Uuid]) -> Result<usize, DbError> {
        Err(retired())
    }

    fn create_token(
        &self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> Result<(), DbError> {
        Err(retired())
    }
    /// The live (not revoked) token with this hash.
    fn find_token(&self, token_hash: &Digest) -> Result<Option<TokenRecord>, DbError> {
        Err(retired())
    }
    /// [`Self::find_token`] if it can be answered at once without
    /// blocking (an idle connection, nothing to wait for); `None` tells the
    /// caller to use `find_token` from a thread that may block. For async
    /// callers on the request path.
    fn find_token_now(&self, token_hash: &Digest) -> Option<Result<Option<TokenRecord>, DbError>> {
        None
    }
    fn list_tokens(&self) -> Result<Vec<TokenRecord>, DbError> {
        Err(retired())
    }
    /// Revokes by name; false if no live token has that name.
    fn revoke_token(&self, name: &str, now: i64) -> Result<bool, DbError> {
        Err(retired())
    }
    /// Number of tokens ever created, revoked or not.
    fn token_count(&self) -> Result<u64, DbError> {
        Err(retired())
    }
    /// Counts for `/metrics`: (pending uploads, stored files, S3 objects,
    /// bytes of stored blobs).
    fn stats(&self) -> Result<(u64, u64, u64, u64), DbError> {
        Err(retired())
    }
    /// A trivial query, for `/healthz`.
    fn check(&self) -> Result<(), DbError> {
        Err(retired())
    }

    // ---- maintenance (`stowage verify`, `stowage backup`) ----
    /// Up to `limit` blob rows with digests after `after`, in digest order.
    fn blob_page(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<BlobEntry>, DbError> {
        Err(retired())
    }
    /// One blob row, if there is one.
    fn blob_entry(&self, sha256: &Digest) -> Result<Option<BlobEntry>, DbError> {
        Err(retired())
    }
    /// Rows (stored files, objects, parts) that refer to a blob with no row.
    fn dangling(&self) -> Result<Vec<Dangling>, DbError> {
        Err(retired())
    }
    /// Writes a consistent copy of the whole index, as of one moment, to
    /// the new file `dest` (the online backup API, in one step, so writers
    /// go on meanwhile).
    fn backup_to(&self, dest: &std::path::Path) -> Result<(), DbError> {
        Err(retired())
    }
    /// Removes a blob row and every row that refers to it; returns how many
    /// referrers went. Only for a backup copy whose blob vanished from the
    /// live store (deleted after the copy's moment) before it was copied.
    fn forget_blob(&self, sha256: &Digest) -> Result<usize, DbError> {
        Err(retired())
    }
    /// Up to `limit` blob rows whose bytes are in the store (not inline),
    /// newest first, inserted before the row `before` (a rowid; `None`:
    /// from the newest): (rowid, created_at, entry). For the start-up pass,
    /// which looks at what was written shortly before a crash.
    fn newest_blobs(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, i64, BlobEntry)>, DbError> {
        Err(retired())
    }
    // ---- access keys and bucket owners ----
    /// Adds a key; false if its name is taken.
    fn create_access_key(&self, key: &AccessKey) -> Result<bool, DbError> {
        Err(retired())
    }
    fn list_access_keys(&self) -> Result<Vec<AccessKey>, DbError> {
        Err(retired())
    }
    /// Revokes a key by name; false if no live key has that name.
    fn revoke_access_key(&self, name: &str, now: i64) -> Result<bool, DbError> {
        Err(retired())
    }
    /// The secret of a live key, looked up on the calling thread.
    fn access_key_secret(&self, access_key_id: &str) -> Result<Option<String>, DbError> {
        Err(retired())
    }
    /// Grants the key named `name` read (and `write`) on `bucket`; false if
    /// there is no such live key.
    fn grant_bucket(&self, name: &str, bucket: &str, write: bool) -> Result<bool, DbError> {
        Err(retired())
    }
    /// What `access_key_id` may do with `bucket`.
    fn bucket_access(&self, access_key_id: &str, bucket: &str) -> Result<BucketAccess, DbError> {
        Err(retired())
    }
    /// Creates a bucket owned by `owner` (`None`: the configured key).
    fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<CreateBucketOutcome, DbError> {
        Err(retired())
    }
    /// The buckets `access_key_id` owns or was granted.
    fn buckets_of(&self, access_key_id: &str) -> Result<Vec<BucketRecord>, DbError> {
        Err(retired())
    }
    /// Marks a blob whose bytes were found missing or damaged (`why` says
    /// how, for the operator).
    fn mark_damaged(&self, sha256: &Digest, why: &str) -> Result<(), DbError> {
        Err(retired())
    }
}

/// What a retired method of the interface answers on a backend that never
/// had it (PostgreSQL): every caller is being moved to transaction bodies.
fn retired() -> DbError {
    DbError::Index(IndexError::Backend(
        "this index operation is not available on this backend yet".into(),
    ))
}
