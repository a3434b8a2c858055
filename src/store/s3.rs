//! S3 blob store: blob bytes in a bucket of an S3-compatible cluster
//! (Garage, Ceph RGW, SeaweedFS, MinIO), under `blobs/<id>`, through our
//! own client ([`crate::upstream`]).
//!
//! Owns the names: every staged blob gets a fresh id (a random UUID, 32
//! hex digits) before its first byte is sent, and an id is never used
//! again, so two writes of the same content are two objects and deleting
//! one can never remove bytes the other's row names; the index maps a
//! digest to its id. A body streams up as it arrives ([`Upload`]: one PUT
//! for a body that fits in one part, else a multipart upload whose parts
//! carry their CRC32C), and nothing is visible under the id until
//! [`StagedBlob::commit`], which the caller reaches only after verifying
//! the body; a dropped staging aborts its upload.
//!
//! Must never: trust the upstream for a decision (whether a name is free,
//! a conditional write: the index decides), reuse an id, build a key from
//! anything but an id it made (or one read back and checked to be one),
//! or show the secret. It does not delete bytes on its own: the storage
//! service's collector asks, for ids no row names.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};

use super::{
    blobs_of_pages, BlobList, BlobName, BlobReader, BlobStore, Digest, ListedBlob, StagedBlob,
    StoreError,
};
use crate::upstream::{Body, Client, Integrity, Upload, UpstreamError};

/// Where blobs live in the bucket.
pub const PREFIX: &str = "blobs/";
/// The start of a health probe's name under the prefix (written and
/// deleted by [`BlobStore::check`]; not an id, so listings pass it by).
const HEALTH_PROBE: &str = "health-";
/// An upstream multipart upload no live staging of this gateway owns is
/// aborted by the staging sweep once it is this old: another gateway's
/// upload in progress is younger, a crashed one's is not.
const STAGING_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Most keys of abandoned stagings kept for the next sweep; past it (a
/// store down a long while under many uploads) the rest wait for
/// [`STAGING_MAX_AGE`].
const MAX_ABANDONED: usize = 10_000;

/// Blob bytes in an S3 bucket (see the module docs).
pub struct S3Store {
    client: Client,
    /// The keys' prefix: [`PREFIX`] (tests give each store its own).
    prefix: String,
    part_size: usize,
    /// Keys of this gateway's stagings in progress, which its sweep leaves
    /// alone whatever their age.
    live: Arc<Mutex<HashSet<String>>>,
    /// Keys of this gateway's stagings that ended without a commit. Their
    /// upload was aborted as they ended, unless the store could not be
    /// reached then: the next sweep aborts any still in progress, however
    /// young (no other gateway owns these keys).
    abandoned: Arc<Mutex<HashSet<String>>>,
}

impl S3Store {
    /// A store over `client`'s bucket, uploading in parts of `part_size`
    /// bytes. Connects to nothing yet: [`BlobStore::check`] does.
    pub fn new(client: Client, part_size: usize) -> Self {
        S3Store {
            client,
            prefix: PREFIX.to_string(),
            part_size,
            live: Arc::new(Mutex::new(HashSet::new())),
            abandoned: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The same store with its keys under `prefix` instead of [`PREFIX`].
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key of an id this store made (or a name read back that is one).
    fn key_of(&self, name: &BlobName) -> Result<String, StoreError> {
        match name {
            BlobName::Id(id) if is_id(id) => Ok(format!("{}{id}", self.prefix)),
            other => Err(StoreError::ForeignName(other.to_string())),
        }
    }
}

/// An id as [`S3Store`] makes them: 32 lowercase hex digits.
fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An upstream failure as the store's error: what was being done, and
/// whether the upstream is full or unreachable (the API answers 507 or
/// 503 for those).
fn upstream(action: &'static str) -> impl FnOnce(UpstreamError) -> StoreError {
    move |e| StoreError::Upstream {
        action,
        full: matches!(e, UpstreamError::Full { .. }),
        unreachable: e.is_transient(),
        detail: e.to_string(),
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn names_by_content(&self) -> bool {
        false
    }

    fn free_space(&self) -> Result<Option<u64>, StoreError> {
        // S3 does not say; a full cluster says so when written to.
        Ok(None)
    }

    async fn stage(&self) -> Result<Box<dyn StagedBlob>, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!("{}{id}", self.prefix);
        if let Ok(mut live) = self.live.lock() {
            live.insert(key.clone());
        }
        Ok(Box::new(S3Staged {
            upload: Some(Upload::begin(&self.client, key.clone(), self.part_size)),
            id,
            key,
            live: self.live.clone(),
            abandoned: self.abandoned.clone(),
            committed: false,
        }))
    }

    async fn open_range(
        &self,
        name: &BlobName,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError> {
        let key = self.key_of(name)?;
        let range = (start, len) != (0, u64::MAX);
        let got = self
            .client
            .get_object(&key, range.then_some((start, len)))
            .await;
        let (total, body) = match got {
            Ok(found) => found,
            Err(UpstreamError::NotFound) => return Ok(None),
            // A range that starts at or past the end: S3 refuses it, our
            // readers give no bytes (and the whole size).
            Err(UpstreamError::Status { status: 416, .. }) => {
                return match self.client.head_object(&key).await {
                    Ok(Some(total)) => Ok(Some(BlobReader {
                        len: total,
                        chunks: Box::pin(futures_util::stream::empty()),
                    })),
                    Ok(None) => Ok(None),
                    Err(e) => Err(upstream("looking up a blob")(e)),
                }
            }
            Err(e) => return Err(upstream("reading a blob")(e)),
        };
        Ok(Some(BlobReader {
            len: total,
            chunks: Box::pin(body.map_err(std::io::Error::other)),
        }))
    }

    async fn stored_len(&self, name: &BlobName) -> Result<Option<u64>, StoreError> {
        let key = self.key_of(name)?;
        self.client
            .head_object(&key)
            .await
            .map_err(upstream("looking up a blob"))
    }

    fn list(&self) -> BlobList {
        let pages = self.client.list_objects(&self.prefix);
        let prefix = self.prefix.clone();
        blobs_of_pages(pages.map(move |page| {
            let entries = page.map_err(upstream("listing blobs"))?;
            let blobs = entries.into_iter().filter_map(|e| {
                let id = e.key.strip_prefix(prefix.as_str())?;
                if id.starts_with(HEALTH_PROBE) {
                    return None;
                }
                if !is_id(id) {
                    tracing::warn!(key = %e.key, "an object of no blob in the blobs' prefix");
                    return None;
                }
                Some(ListedBlob {
                    name: BlobName::Id(id.to_string()),
                    len: e.size,
                    modified: e.last_modified.unix_timestamp(),
                })
            });
            Ok(blobs.collect::<Vec<_>>())
        }))
    }

    async fn remove(&self, name: &BlobName) -> Result<(), StoreError> {
        let key = self.key_of(name)?;
        self.client
            .delete_object(&key)
            .await
            .map_err(upstream("deleting a blob"))
    }

    async fn sweep_staging(&self) -> Result<usize, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(STAGING_MAX_AGE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let abandoned: HashSet<String> =
            self.abandoned.lock().map(|a| a.clone()).unwrap_or_default();
        let mut pages = Box::pin(self.client.list_multipart_uploads(&self.prefix));
        let mut stale = Vec::new();
        while let Some(page) = pages.next().await {
            for u in page.map_err(upstream("listing uploads in progress"))? {
                let owned = self.live.lock().map(|l| l.contains(&u.key)).unwrap_or(true);
                let old = SystemTime::from(u.initiated) < cutoff;
                if abandoned.contains(&u.key) || (!owned && old) {
                    stale.push(u);
                }
            }
        }
        let mut aborted = 0;
        for u in stale {
            match self.client.abort_multipart(&u.key, &u.upload_id).await {
                Ok(()) | Err(UpstreamError::NotFound) => aborted += 1,
                Err(e) => return Err(upstream("aborting an abandoned upload")(e)),
            }
        }
        // Each is aborted now, or was not in progress: forgotten.
        if let Ok(mut left) = self.abandoned.lock() {
            left.retain(|k| !abandoned.contains(k));
        }
        Ok(aborted)
    }

    async fn check(&self) -> Result<(), StoreError> {
        // Written and deleted: a store that cannot take a write (full,
        // read-only, a key without write access) shows.
        // Under the prefix, where this store may write (a key restricted
        // to it may write nowhere else); never an id, so never a blob.
        let key = format!(
            "{}{HEALTH_PROBE}{}",
            self.prefix,
            uuid::Uuid::new_v4().simple()
        );
        let probe = bytes::Bytes::from_static(b"ok");
        let integrity = Integrity::crc32c_of(&probe);
        self.client
            .put_object(&key, Body::from_bytes(probe), 2, integrity)
            .await
            .map_err(upstream("writing a health probe"))?;
        self.client
            .delete_object(&key)
            .await
            .map_err(upstream("deleting a health probe"))
    }
}

/// One blob on its way up.
struct S3Staged {
    /// `None` once finished.
    upload: Option<Upload>,
    id: String,
    key: String,
    live: Arc<Mutex<HashSet<String>>>,
    abandoned: Arc<Mutex<HashSet<String>>>,
    committed: bool,
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        // An unfinished `Upload` aborts itself as it drops (a failed
        // `finish` already tried); if the store cannot be reached then,
        // the next sweep does.
        if !self.committed {
            if let Ok(mut abandoned) = self.abandoned.lock() {
                if abandoned.len() < MAX_ABANDONED {
                    abandoned.insert(self.key.clone());
                }
            }
        }
        if let Ok(mut live) = self.live.lock() {
            live.remove(&self.key);
        }
    }
}

#[async_trait]
impl StagedBlob for S3Staged {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(StoreError::ForeignName(self.id.clone()));
        };
        upload
            .write(chunk)
            .await
            .map_err(upstream("sending a blob upstream"))
    }

    async fn commit(mut self: Box<Self>, _digest: &Digest) -> Result<BlobName, StoreError> {
        let Some(upload) = self.upload.take() else {
            return Err(StoreError::ForeignName(self.id.clone()));
        };
        upload
            .finish()
            .await
            .map_err(upstream("completing a blob upstream"))?;
        self.committed = true;
        Ok(BlobName::Id(self.id.clone()))
    }
}

/// The contract of every blob store (`super::contract`) on a real Garage
/// cluster (`scripts/test` starts one and names it in `STOWAGE_TEST_S3_*`),
/// each test under a prefix of its own; and what only this store has: a
/// body of several parts, and an upstream that cannot be reached.
#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::S3Store;
    use crate::store::{BlobName, BlobStore, Digest};
    use crate::upstream::{Client, Config};

    /// `off`: tests of the S3 store return at once (said on stderr).
    const SWITCH_VAR: &str = "STOWAGE_TEST_GARAGE";

    /// The test cluster's client, or `None` when its tests are off. Panics
    /// (fails the test) when neither is said.
    pub(crate) fn test_client() -> Option<Client> {
        if std::env::var(SWITCH_VAR).is_ok_and(|v| v == "off") {
            eprintln!("{SWITCH_VAR}=off: this test of the S3 store did not run");
            return None;
        }
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: this test needs an S3 store. Run the tests with \
                     scripts/test, which starts a Garage cluster ({SWITCH_VAR}=off leaves \
                     these tests out)"
                )
            })
        };
        let config = Config::new(
            var("STOWAGE_TEST_S3_ENDPOINT"),
            var("STOWAGE_TEST_S3_REGION"),
            var("STOWAGE_TEST_S3_BUCKET"),
            var("STOWAGE_TEST_S3_ACCESS_KEY_ID"),
            var("STOWAGE_TEST_S3_SECRET_ACCESS_KEY"),
        );
        Some(Client::new(config).expect("the test cluster's client"))
    }

    /// A store over the test cluster, under a prefix no other test uses,
    /// uploading in parts of 5 MiB.
    pub(crate) fn test_store() -> Option<S3Store> {
        let prefix = format!("test-{}/blobs/", crate::random::hex(8));
        Some(S3Store::new(test_client()?, 5 << 20).with_prefix(prefix))
    }

    fn store() -> Option<((), Arc<dyn BlobStore>)> {
        Some(((), Arc::new(test_store()?)))
    }

    crate::store::contract::blob_store_contract_tests!(store());

    fn digest(data: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(sha2::Sha256::digest(data).into())
    }

    /// A body of three parts and a bit goes up as a multipart upload and
    /// reads back whole and by ranges across its parts; dropped half-way,
    /// another leaves nothing visible.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_of_several_parts_reads_back_whole_and_by_ranges() {
        let Some(store) = test_store() else { return };
        let data: Vec<u8> = (0..(15u32 << 20) + 4321)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut staged = store.stage().await.unwrap();
        for piece in data.chunks(1 << 20) {
            staged.write(piece).await.unwrap();
        }
        let name = staged.commit(&digest(&data)).await.unwrap();
        assert_eq!(
            store.stored_len(&name).await.unwrap(),
            Some(data.len() as u64)
        );
        for (start, len) in [(0u64, u64::MAX), ((5 << 20) - 3, 7), (14 << 20, 2 << 20)] {
            let mut r = store.open_range(&name, start, len).await.unwrap().unwrap();
            let mut got = Vec::new();
            while let Some(piece) = futures_util::StreamExt::next(&mut r.chunks).await {
                got.extend_from_slice(&piece.unwrap());
            }
            let from = start as usize;
            let to = start.saturating_add(len).min(data.len() as u64) as usize;
            assert_eq!(r.len, data.len() as u64);
            assert!(got == data[from..to], "range {start}+{len}");
        }
        let mut half = store.stage().await.unwrap();
        half.write(&data[..11 << 20]).await.unwrap();
        drop(half);
        let mut names = Vec::new();
        let mut list = store.list();
        while let Some(b) = futures_util::StreamExt::next(&mut list).await {
            names.push(b.unwrap().name);
        }
        assert_eq!(names, vec![name]);
    }

    /// A staging dropped where its upload cannot be aborted at once (here
    /// outside a runtime, as when the store is unreachable at that moment)
    /// leaves its multipart upload in progress; the next sweep aborts it,
    /// though it is far younger than a day, and forgets it.
    #[test]
    fn the_sweep_aborts_the_uploads_of_stagings_that_ended_uncommitted() {
        let Some(store) = test_store() else { return };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let uploads = |store: &S3Store| {
            rt.block_on(async {
                let mut pages = Box::pin(store.client.list_multipart_uploads(&store.prefix));
                let mut n = 0;
                while let Some(page) = futures_util::StreamExt::next(&mut pages).await {
                    n += page.unwrap().len();
                }
                n
            })
        };
        let staged = rt.block_on(async {
            let mut staged = store.stage().await.unwrap();
            staged.write(&vec![7u8; (5 << 20) + 1]).await.unwrap();
            staged
        });
        // Outside the runtime: the upload cannot abort itself.
        drop(staged);
        assert_eq!(uploads(&store), 1, "the part went up, the upload is there");
        assert_eq!(rt.block_on(store.sweep_staging()).unwrap(), 1);
        // Garage's listing can lag an abort (seen once under a full CI
        // run, as in the upstream scenarios): wait up to 30 s for it; an
        // upload that stays listed fails here.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while uploads(&store) != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the swept upload is still listed"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(store.abandoned.lock().unwrap().is_empty());
        assert_eq!(rt.block_on(store.sweep_staging()).unwrap(), 0);
    }

    /// A store that cannot be reached says so (the API answers 503), for a
    /// write, a read and a look; no name of another store is taken.
    #[tokio::test]
    async fn an_unreachable_store_says_so_and_foreign_names_are_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = Config::new(
            format!("http://127.0.0.1:{port}"),
            "garage",
            "nowhere",
            "GKnobody",
            "secret-never-shown",
        );
        let store = S3Store::new(Client::new(config).unwrap(), 5 << 20);
        let mut staged = store.stage().await.unwrap();
        staged.write(b"abc").await.unwrap();
        let e = staged.commit(&digest(b"abc")).await.unwrap_err();
        assert!(e.is_unreachable(), "{e:?}");
        assert!(!e.to_string().contains("secret-never-shown"));
        let id = BlobName::Id("0123456789abcdef0123456789abcdef".into());
        assert!(store.stored_len(&id).await.unwrap_err().is_unreachable());
        assert!(store.open(&id).await.err().unwrap().is_unreachable());
        assert!(store.check().await.unwrap_err().is_unreachable());
        for foreign in [
            BlobName::Content(digest(b"abc")),
            BlobName::Id("../etc/passwd".into()),
            BlobName::Id("0123456789ABCDEF0123456789ABCDEF".into()),
        ] {
            assert!(matches!(
                store.remove(&foreign).await,
                Err(crate::store::StoreError::ForeignName(_))
            ));
        }
    }
}
