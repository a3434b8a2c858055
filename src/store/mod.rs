//! Blob storage: the bytes of uploaded files, addressed by their SHA-256.
//!
//! This module owns where bytes live and the order that makes a write
//! durable. It knows nothing of ids, tokens, HTTP or the index; it never
//! decides whether bytes are acceptable — the caller hashes and verifies
//! them *before* calling [`StagedBlob::commit`], so unverified bytes are
//! never published. The trait is narrow so that an S3-compatible cluster can
//! stand beside local disk later.
//!
//! Commit order (local disk), the order every acknowledged upload follows:
//!
//! 1. temp file written in `tmp/` and fsynced (fdatasync);
//! 2. renamed to its content-addressed path `blobs/aa/bb/<sha256>`
//!    (directories created and their parents fsynced first);
//! 3. that directory fsynced — the blob is now durable under its name;
//! 4. the caller commits the row in the SQLite index (WAL fdatasync);
//! 5. only then is the client answered 200.
//!
//! Names. A store names a blob either by its digest ([`BlobName::Content`],
//! local disk: one file per content, replaced in place by a verified
//! write) or by a write-once id chosen when it was staged
//! ([`BlobName::Id`], an upstream S3 store: a second write of the same
//! content is a second object, and no name is ever reused, so deleting one
//! can never remove bytes a later write made). The index records an `Id`
//! beside the blob's digest; a `Content` name needs no record.
//!
//! A blob already under that name is replaced in step 2, never kept: the
//! new bytes are verified, the old file may be damaged, and the rename is
//! atomic, so a verified upload heals a damaged or missing blob.
//!
//! A crash before 3 leaves at most a temp file or an unreferenced blob,
//! which the start-up recovery pass removes (or relinks to the pending row
//! that declared it); a crash after 4 leaves the blob and its row. No crash
//! point leaves a row pointing at a missing or partial blob: the
//! power-loss test (`power_loss_tests`, over [`fslog`]) replays every
//! prefix of the real operation log through a filesystem that forgets what
//! no fsync made durable, and the kill -9 test does it to the real binary.
//! A staged blob that is dropped without commit deletes its temp file.
//! Blobs of up to 64 KiB never reach this store: they are committed inside
//! the index row's own transaction.

#[cfg(test)]
pub(crate) mod contract;
pub mod fslog;
pub mod fsutil;
mod local;
#[cfg(test)]
mod power_loss_tests;
mod s3;
#[cfg(test)]
pub(crate) use s3::tests as s3_testing;
#[cfg(test)]
pub(crate) mod tmpfs;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

pub use local::LocalStore;
pub use s3::{S3Store, PREFIX as S3_PREFIX};

/// A SHA-256 digest: the identity of a blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Digest(out))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", self.hex())
    }
}

/// Where a stored blob's bytes are, in the store that holds them.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum BlobName {
    /// Under its own digest (a content-addressed store: local disk).
    Content(Digest),
    /// Under a write-once id the store chose when the blob was staged.
    Id(String),
}

impl BlobName {
    /// The text the index records for an `Id` name; `None` for a
    /// `Content` name, which the digest alone gives.
    pub fn recorded(&self) -> Option<&str> {
        match self {
            BlobName::Content(_) => None,
            BlobName::Id(id) => Some(id),
        }
    }
}

impl std::fmt::Display for BlobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobName::Content(d) => f.write_str(&d.hex()),
            BlobName::Id(id) => f.write_str(id),
        }
    }
}

/// One stored blob, as a listing of the store gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedBlob {
    pub name: BlobName,
    pub len: u64,
    /// Unix seconds of its last write, as the store tells it.
    pub modified: i64,
}

/// Storage failures. None of them is the client's fault: they surface as
/// `InternalError`, with detail only in the server log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob storage I/O failed while {action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A name of another kind of store than this one (an upstream id given
    /// to local disk): the index and the configured store disagree.
    #[error("this blob store holds no blob named {0} (the index names a blob of another store)")]
    ForeignName(String),
    /// The upstream store refused or failed a request.
    #[error("the upstream store failed while {action}: {detail}")]
    Upstream {
        action: &'static str,
        detail: String,
        /// It answered that it is out of space.
        full: bool,
        /// It could not be reached (or answered 503): a retry may work.
        unreachable: bool,
    },
}

impl StoreError {
    /// Whether the filesystem ran out of space (or quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            StoreError::Upstream { full, .. } => *full,
            StoreError::ForeignName(_) => false,
        }
    }

    /// Whether the store could not be reached: the request may be retried
    /// later (503), nothing is wrong with it.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Upstream {
                unreachable: true,
                ..
            }
        )
    }

    pub(crate) fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
        move |source| StoreError::Io { action, source }
    }
}

/// A readable stored blob, or part of one.
pub struct BlobReader {
    /// Size in bytes of the whole blob (not of the part being read).
    pub len: u64,
    /// The bytes, in pieces as the store reads them. A stream of `Bytes`
    /// rather than an `AsyncRead`, so a response body sends the store's
    /// buffers as they are, with no copy into a buffer of its own.
    pub chunks: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + Sync>>,
}

/// Reads a stored blob to its end, handing each piece to `each` and, when
/// given, appending it to `into`; returns the bytes read. The one loop
/// behind multipart assembly, ranged part copies and MD5 backfill.
pub async fn pump(
    blob: &mut BlobReader,
    mut into: Option<&mut Box<dyn StagedBlob>>,
    mut each: impl FnMut(&[u8]),
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    while let Some(piece) = blob.chunks.next().await {
        let piece = piece.map_err(StoreError::io("reading a blob"))?;
        each(&piece);
        if let Some(staged) = into.as_mut() {
            staged.write(&piece).await?;
        }
        total += piece.len() as u64;
    }
    Ok(total)
}

/// The blobs of a store, one by one.
pub type BlobList = Pin<Box<dyn Stream<Item = Result<ListedBlob, StoreError>> + Send>>;

/// A stream of pages of blobs (a directory read, a listing page) as the
/// stream of their blobs, one by one; a page that failed is its error, in
/// its place.
pub(crate) fn blobs_of_pages<P, B>(pages: P) -> BlobList
where
    P: Stream<Item = Result<B, StoreError>> + Send + 'static,
    B: IntoIterator<Item = ListedBlob>,
    B::IntoIter: Send + 'static,
{
    Box::pin(
        pages
            .map(|page| match page {
                Ok(blobs) => futures_util::stream::iter(blobs.into_iter().map(Ok)).left_stream(),
                Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
            })
            .flatten(),
    )
}

/// Where blobs live.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Whether this store names blobs by their digest ([`BlobName::Content`])
    /// — then the index records no name — or by ids it chooses.
    fn names_by_content(&self) -> bool;
    /// Bytes free for new blobs, if the backend can tell.
    fn free_space(&self) -> Result<Option<u64>, StoreError>;
    /// Starts a new upload's staging area.
    async fn stage(&self) -> Result<Box<dyn StagedBlob>, StoreError>;
    /// Opens a stored blob; `None` if it is not there. `BlobReader::len` is
    /// the whole blob's size. (All of it: from 0, `u64::MAX` bytes.)
    async fn open(&self, name: &BlobName) -> Result<Option<BlobReader>, StoreError> {
        self.open_range(name, 0, u64::MAX).await
    }
    /// Opens `len` bytes of a stored blob from `start` (a Range request).
    async fn open_range(
        &self,
        name: &BlobName,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError>;
    /// The size of a stored blob, `None` if there is none: a cheap look
    /// (no byte is read) at whether bytes the index records are still
    /// there, before anyone is told they are stored.
    async fn stored_len(&self, name: &BlobName) -> Result<Option<u64>, StoreError>;
    /// Every stored blob with its size and age (for the start-up recovery
    /// pass and the garbage collector), as a stream: a store of millions
    /// of blobs is never held in memory.
    fn list(&self) -> BlobList;
    /// Deletes a blob. Only for blobs no index row refers to.
    async fn remove(&self, name: &BlobName) -> Result<(), StoreError>;
    /// Removes staging data no live upload owns (temp files of this
    /// gateway; upstream uploads nobody finished); returns how many.
    async fn sweep_staging(&self) -> Result<usize, StoreError>;
    /// Checks the store can be written (for `/healthz`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// Bytes of one upload on their way in. Dropping it without `commit`
/// discards everything written.
#[async_trait]
pub trait StagedBlob: Send {
    /// Appends bytes.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError>;
    /// Makes the bytes durable and visible, and says under which name. The
    /// caller must already have verified that `digest` is the hash of what
    /// it wrote. In a store that names blobs by content, a file already
    /// stored under that digest is replaced atomically: it may be damaged,
    /// and these bytes are known good, so a verified write heals it.
    async fn commit(self: Box<Self>, digest: &Digest) -> Result<BlobName, StoreError>;
}
