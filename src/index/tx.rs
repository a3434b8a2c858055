//! The rows of the index, as one transaction sees them: the interface every
//! backend implements ([`Tx`]) and the storage service decides with.
//!
//! Each method is one row operation — read a file, upsert an object, list
//! the parts of an upload — with no rule of its own: what a presign, a
//! conditional write or a completion *means* is decided once, in
//! `crate::storage`, from these reads and writes, inside one transaction
//! the backend runs ([`super::Index::write`]). So SQLite and PostgreSQL
//! cannot disagree about a rule; they can only differ in how they keep
//! rows.
//!
//! Must never: make a decision (whether a blob may be linked, whether a
//! key is free), touch blob bytes outside `blob_data`, or see a token in
//! clear.

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    AccessKey, BlobEntry, BlobInfo, BucketRecord, Dangling, Declared, FileRecord, IndexError,
    ListedVersion, MultipartUpload, ObjectRecord, PartRecord, PastVersion, Segment, Status,
    TokenRecord, Version, VersionPlace, Versioning,
};
use crate::store::Digest;

/// `Result` of every row operation.
pub type TxResult<T> = Result<T, IndexError>;

/// A position in a listing that goes on: what the backend needs to go on
/// from there, opaque to everyone else (a row number, in both backends),
/// who may only hand it back — or carry it as its [`token`](Cursor::token)
/// and read it back with [`from_token`](Cursor::from_token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub(in crate::index) i64);

impl Cursor {
    /// The cursor as text a client may carry (`nextCursor`).
    pub fn token(&self) -> String {
        self.0.to_string()
    }

    /// A cursor from its token; `None` for text no cursor gave.
    pub fn from_token(token: &str) -> Option<Cursor> {
        token
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && !token.starts_with('+'))
            .map(Cursor)
    }
}

/// One blob row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    pub info: BlobInfo,
    /// Its bytes are kept in the index itself (see `blob_data`).
    pub inline: bool,
    /// Why it was found missing or damaged, if it was (and not healed).
    pub damaged: Option<String>,
    /// Unix seconds of its first record.
    pub created_at: i64,
    /// The write-once id its bytes are under, in a store that names blobs
    /// by id; `None` where the digest names them (or they are inline).
    pub location: Option<String>,
    /// It has no bytes of its own: it is its segments, in order
    /// (`segments`).
    pub composite: bool,
}

/// What deleting a blob's row let go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedBlob {
    /// The id its bytes were under (now in the garbage), if it had one.
    pub location: Option<String>,
    /// A composite's segments, whose rows no longer name them through it.
    pub segments: Vec<Digest>,
}

/// One bucket row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    pub name: String,
    pub created_at: i64,
    /// The access key that created it; `None` for the configured key's.
    pub owner: Option<String>,
    /// Its CORS configuration, as opaque text.
    pub cors: Option<String>,
    pub versioning: Versioning,
    /// Its Object Lock configuration, as opaque text (`None`: not
    /// enabled).
    pub object_lock: Option<String>,
    /// Its lifecycle configuration, as opaque text (`None`: none).
    pub lifecycle: Option<String>,
    /// Its tag set, as opaque text (`None`: none).
    pub tags: Option<String>,
    /// Its canned ACL's name (`None`: private).
    pub acl: Option<String>,
    /// Its bucket policy, as the JSON text it was given (`None`: none).
    pub policy: Option<String>,
    /// Its PublicAccessBlock configuration, as opaque text (`None`: none).
    pub public_access_block: Option<String>,
}

/// A bucket's settings kept as text in its row, each set (or removed) by
/// [`BucketRows::set_bucket_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketText {
    Cors,
    Lifecycle,
    Tags,
    /// The canned ACL's name (`None`: private).
    Acl,
    Policy,
    PublicAccessBlock,
}

impl BucketText {
    /// Its column in `buckets`.
    pub fn column(self) -> &'static str {
        match self {
            BucketText::Cors => "cors",
            BucketText::Lifecycle => "lifecycle",
            BucketText::Tags => "tags",
            BucketText::Acl => "acl",
            BucketText::Policy => "policy",
            BucketText::PublicAccessBlock => "public_access_block",
        }
    }
}

/// Files of the upload API.
#[async_trait]
pub trait FileRows: Send {
    async fn get_file(&mut self, id: &Uuid) -> TxResult<Option<FileRecord>>;
    /// Inserts the row of a declared file with these status and times.
    async fn insert_file(
        &mut self,
        d: &Declared,
        status: Status,
        created_at: i64,
        url_expires_at: i64,
        uploaded_at: Option<i64>,
    ) -> TxResult<()>;
    /// Writes every changeable field of an existing row (name, status,
    /// times) as `rec` has them.
    async fn update_file(&mut self, rec: &FileRecord) -> TxResult<()>;
    /// Whether a file with bytes (not pending) declared this hash and size.
    async fn file_with_bytes(&mut self, sha256: &Digest, size: u64) -> TxResult<bool>;
    /// Ids of the pending files that declared this hash and size.
    async fn pending_files_of(&mut self, sha256: &Digest, size: u64) -> TxResult<Vec<Uuid>>;
    /// Pending files whose URL expired before `cutoff`.
    async fn expired_pending(&mut self, cutoff: i64) -> TxResult<Vec<Uuid>>;
    /// Deletes a row if it is still pending; whether it did.
    async fn delete_pending_file(&mut self, id: &Uuid) -> TxResult<bool>;
    /// Up to `limit` files, newest first, from `from` on (exclusive);
    /// the cursor of the next page, if there is one.
    async fn list_files(
        &mut self,
        from: Option<Cursor>,
        limit: usize,
    ) -> TxResult<(Vec<FileRecord>, Option<Cursor>)>;
}

/// Blobs: digests, sizes, MD5s, inline bytes, damage marks.
#[async_trait]
pub trait BlobRows: Send {
    async fn get_blob(&mut self, sha256: &Digest) -> TxResult<Option<BlobRow>>;
    /// Records a blob (idempotent): fills a missing MD5, keeps `inline`
    /// bytes if the row has none yet, and with `heal` clears a damage mark.
    async fn record_blob(
        &mut self,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        now: i64,
        heal: bool,
    ) -> TxResult<()>;
    /// The bytes of a blob kept inline; `None` if it has none here.
    async fn blob_data(&mut self, sha256: &Digest) -> TxResult<Option<Vec<u8>>>;
    /// Whether a file with bytes, an object or a part refers to it.
    async fn blob_in_use(&mut self, sha256: &Digest) -> TxResult<bool>;
    /// Deletes a blob's row; the id its bytes were under, if it had one,
    /// goes to the garbage, due for deletion at `due_at`; a composite's
    /// segment rows go with it. Says what it let go.
    async fn delete_blob(&mut self, sha256: &Digest, due_at: i64) -> TxResult<DeletedBlob>;
    /// Records a composite blob — `blob.sha256` is made of `segments`, in
    /// order — if no blob row has that digest yet; whether it did (a row
    /// already there is kept as it is).
    async fn record_composite(
        &mut self,
        blob: &BlobInfo,
        segments: &[Segment],
        now: i64,
    ) -> TxResult<bool>;
    /// A composite blob's segments, in order (none for a blob of bytes).
    async fn segments(&mut self, sha256: &Digest) -> TxResult<Vec<Segment>>;
    /// Makes a composite an ordinary blob (its bytes were just published
    /// whole: a heal); the segments it no longer names (none if it was no
    /// composite).
    async fn dissolve_composite(&mut self, sha256: &Digest) -> TxResult<Vec<Digest>>;
    /// Records that a blob's bytes are now under the write-once id
    /// `location`; the id they were under before, if another, goes to the
    /// garbage, due at `due_at`.
    async fn set_blob_location(
        &mut self,
        sha256: &Digest,
        location: &str,
        due_at: i64,
    ) -> TxResult<()>;
    /// Puts a write-once id in the garbage, due for deletion at `due_at`.
    async fn add_garbage(&mut self, name: &str, due_at: i64) -> TxResult<()>;
    /// Up to `limit` ids of the garbage due at or before `now`.
    async fn due_garbage(&mut self, now: i64, limit: usize) -> TxResult<Vec<String>>;
    /// Takes an id out of the garbage (its bytes were deleted).
    async fn drop_garbage(&mut self, name: &str) -> TxResult<()>;
    /// Whether a blob row or the garbage knows this id.
    async fn location_known(&mut self, name: &str) -> TxResult<bool>;
    /// Records a blob's MD5, and gives the objects recorded without one
    /// their ETag (the MD5's hex).
    async fn set_blob_md5(&mut self, sha256: &Digest, md5: &[u8; 16]) -> TxResult<()>;
    async fn mark_damaged(&mut self, sha256: &Digest, why: &str) -> TxResult<()>;
    async fn blobs_missing_md5(&mut self) -> TxResult<Vec<Digest>>;
    /// Up to `limit` blob rows with digests after `after`, in digest order.
    async fn blob_page(&mut self, after: Option<&Digest>, limit: usize)
        -> TxResult<Vec<BlobEntry>>;
    /// Up to `limit` blob rows whose bytes are in the store, newest first,
    /// from `from` on (exclusive): (position, created_at, entry).
    async fn newest_blobs(
        &mut self,
        from: Option<Cursor>,
        limit: usize,
    ) -> TxResult<Vec<(Cursor, i64, BlobEntry)>>;
    /// Rows (files with bytes, objects, parts) naming a blob with no row.
    async fn dangling(&mut self) -> TxResult<Vec<Dangling>>;
    /// Deletes a blob row and every row naming it; how many of those.
    async fn forget_blob(&mut self, sha256: &Digest) -> TxResult<usize>;
}

/// Buckets, their owners, CORS rules and grants.
#[async_trait]
pub trait BucketRows: Send {
    async fn get_bucket(&mut self, name: &str) -> TxResult<Option<BucketRow>>;
    /// Inserts a bucket unless one has the name; whether it did.
    async fn insert_bucket(&mut self, name: &str, owner: Option<&str>, now: i64) -> TxResult<bool>;
    /// Sets (or removes) one of its settings kept as text; false if there
    /// is no such bucket.
    async fn set_bucket_text(
        &mut self,
        name: &str,
        what: BucketText,
        text: Option<&str>,
    ) -> TxResult<bool>;
    /// Deletes the bucket row and the grants on it.
    async fn delete_bucket(&mut self, name: &str) -> TxResult<()>;
    /// Every bucket, by name.
    async fn list_buckets(&mut self) -> TxResult<Vec<BucketRecord>>;
    /// The buckets a key owns or was granted, by name.
    async fn buckets_of(&mut self, access_key_id: &str) -> TxResult<Vec<BucketRecord>>;
    /// Sets its Object Lock configuration text; false if there is no such
    /// bucket.
    async fn set_bucket_object_lock(&mut self, name: &str, config: &str) -> TxResult<bool>;

    /// The buckets with a lifecycle configuration: (name, its text), by
    /// name.
    async fn lifecycle_buckets(&mut self) -> TxResult<Vec<(String, String)>>;
    /// Sets its versioning state; false if there is no such bucket.
    async fn set_bucket_versioning(&mut self, name: &str, state: Versioning) -> TxResult<bool>;
    /// Whether the bucket holds any object, version or delete marker.
    async fn bucket_has_objects(&mut self, name: &str) -> TxResult<bool>;
    /// The grant of a key on a bucket: `Some(can_write)`, or `None`.
    async fn get_grant(&mut self, access_key_id: &str, bucket: &str) -> TxResult<Option<bool>>;
    async fn put_grant(&mut self, access_key_id: &str, bucket: &str, write: bool) -> TxResult<()>;
}

/// S3 objects.
#[async_trait]
pub trait ObjectRows: Send {
    async fn get_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>>;
    /// Points `obj.bucket/obj.key` at its blob; the blob it named before,
    /// if another.
    async fn put_object(&mut self, obj: &ObjectRecord) -> TxResult<Option<Digest>>;
    /// Removes an object; the record that was there.
    async fn delete_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>>;
    /// Objects of `bucket` whose key starts with `prefix` and sorts after
    /// `after`, in S3's order (UTF-8 bytes), at most `limit`.
    async fn list_objects(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> TxResult<Vec<ObjectRecord>>;
}

/// The history of versioned keys: the versions a key had before its
/// current object, and its delete markers (see `super::versions`).
#[async_trait]
pub trait VersionRows: Send {
    /// The version with this id in the history of `bucket/key`.
    async fn past_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<PastVersion>>;
    /// The newest version in the history of `bucket/key`.
    async fn newest_past(&mut self, bucket: &str, key: &str) -> TxResult<Option<PastVersion>>;
    /// Puts `v` into its key's history, newer than every version there;
    /// its sequence number. Its version id must be new to that history.
    async fn push_past(&mut self, v: &Version) -> TxResult<i64>;
    /// Removes a version from the history of `bucket/key`; the one that
    /// was there.
    async fn remove_past(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<PastVersion>>;
    /// Rewrites the metadata of the object version `obj` names (bucket,
    /// key, version id) in the history, keeping its place; false if the
    /// history has no such object version.
    async fn update_past(&mut self, obj: &ObjectRecord) -> TxResult<bool>;
    /// Versions of `bucket` (current objects and history) whose key starts
    /// with `prefix`, after `after` (see [`VersionPlace`]), by key in S3's
    /// order and newest first under each key, at most `limit`.
    async fn list_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &VersionPlace,
        limit: usize,
    ) -> TxResult<Vec<ListedVersion>>;
}

/// Multipart uploads, their parts, and the uploads lately completed.
#[async_trait]
pub trait UploadRows: Send {
    async fn insert_upload(&mut self, u: &MultipartUpload) -> TxResult<()>;
    async fn get_upload(&mut self, upload_id: &str) -> TxResult<Option<MultipartUpload>>;
    /// Deletes an upload and its part rows (not their blobs).
    async fn delete_upload(&mut self, upload_id: &str) -> TxResult<()>;
    /// Starts an upload's age again; false if there is none.
    async fn touch_upload(&mut self, upload_id: &str, now: i64) -> TxResult<bool>;
    async fn get_part(&mut self, upload_id: &str, number: u32) -> TxResult<Option<PartRecord>>;
    /// Inserts or replaces a part (by its number).
    async fn put_part(&mut self, upload_id: &str, part: &PartRecord) -> TxResult<()>;
    /// Parts numbered above `after`, ascending, at most `limit`.
    async fn list_parts(
        &mut self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> TxResult<Vec<PartRecord>>;
    /// The distinct blobs an upload's parts name.
    async fn part_blobs(&mut self, upload_id: &str) -> TxResult<Vec<Digest>>;
    /// Uploads of `bucket` with keys under `prefix`, after the (key,
    /// upload id) marker, by key then age.
    async fn list_uploads(
        &mut self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> TxResult<Vec<MultipartUpload>>;
    /// Every upload of a bucket.
    async fn uploads_in(&mut self, bucket: &str) -> TxResult<Vec<MultipartUpload>>;
    /// Ids of the uploads begun (or last touched) before `cutoff`.
    async fn stale_uploads(&mut self, cutoff: i64) -> TxResult<Vec<String>>;
    /// Remembers a completed upload's object, for a retried completion.
    async fn put_completed(
        &mut self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        etag: &str,
        at: i64,
    ) -> TxResult<()>;
    /// A completed upload's (bucket, key, ETag).
    async fn get_completed(
        &mut self,
        upload_id: &str,
    ) -> TxResult<Option<(String, String, String)>>;
    /// Forgets completions older than `cutoff`.
    async fn forget_completed_before(&mut self, cutoff: i64) -> TxResult<()>;
}

/// API tokens (by hash) and S3 access keys.
#[async_trait]
pub trait KeyRows: Send {
    /// Inserts a token; false if its name is taken.
    async fn insert_token(
        &mut self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> TxResult<bool>;
    /// The live (unrevoked) token with this hash.
    async fn find_token(&mut self, token_hash: &Digest) -> TxResult<Option<TokenRecord>>;
    async fn list_tokens(&mut self) -> TxResult<Vec<TokenRecord>>;
    /// Revokes a live token by name; whether there was one.
    async fn revoke_token(&mut self, name: &str, now: i64) -> TxResult<bool>;
    /// Tokens ever made, revoked or not.
    async fn token_count(&mut self) -> TxResult<u64>;
    /// Inserts a key; false if its name or id is taken.
    async fn insert_access_key(&mut self, key: &AccessKey) -> TxResult<bool>;
    async fn list_access_keys(&mut self) -> TxResult<Vec<AccessKey>>;
    /// Revokes a live key by name; whether there was one.
    async fn revoke_access_key(&mut self, name: &str, now: i64) -> TxResult<bool>;
    /// The secret of a live key.
    async fn access_key_secret(&mut self, access_key_id: &str) -> TxResult<Option<String>>;
    /// The id of the live key with this name.
    async fn access_key_named(&mut self, name: &str) -> TxResult<Option<String>>;
}

/// Counts and a liveness probe.
#[async_trait]
pub trait HealthRows: Send {
    /// (pending files, files with bytes, objects, bytes of blobs).
    async fn stats(&mut self) -> TxResult<(u64, u64, u64, u64)>;
    /// A trivial statement, proving the index answers.
    async fn check(&mut self) -> TxResult<()>;
}

/// Every row operation of one transaction.
///
/// An error from an operation ends the body: pass it on (`?`). A body must
/// not catch one and carry on, because the backends differ after it —
/// PostgreSQL has aborted the transaction (every later statement fails),
/// SQLite has not.
pub trait Tx:
    FileRows + BlobRows + BucketRows + ObjectRows + VersionRows + UploadRows + KeyRows + HealthRows
{
}

impl<T> Tx for T where
    T: FileRows
        + BlobRows
        + BucketRows
        + ObjectRows
        + VersionRows
        + UploadRows
        + KeyRows
        + HealthRows
{
}
