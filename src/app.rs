//! The running gateway's shared state: configuration, credentials, index,
//! blob store and clock, built once at start-up and shared by every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use md5::{Digest as _, Md5};
use uuid::Uuid;

use crate::api::throttle::Throttle;
use crate::api::ApiError;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, PublicUrl};
use crate::index::{BlobClaim, DbError, Index, SqliteIndex};
use crate::sigv4::Credentials;
use crate::store::{BlobReader, BlobStore, Digest, LocalStore};

/// Pending rows are swept this long after their URL expired, so a client
/// whose URL just expired still gets a precise answer for a while.
pub const PENDING_GRACE_SECS: i64 = 3600;

/// Blobs up to this size are kept inline in the index: their bytes are
/// committed in the same transaction as the row that references them, so
/// a small upload costs a share of one group-committed WAL fsync instead of
/// a file, two fsyncs and a rename. Bodies this small are gathered in
/// memory (64 KiB per connection at most).
pub const INLINE_BLOB_MAX: u64 = 64 * 1024;

pub struct App {
    pub config: Config,
    /// Base of every URL we sign; from config or the bound address.
    pub public_url: PublicUrl,
    /// The key pair presigned URLs are signed with.
    pub credentials: Credentials,
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    /// Ids whose bytes are arriving right now (with how many PUTs each), so
    /// the sweep never withdraws a row under a slow upload that began
    /// while its URL was valid.
    in_flight: Arc<Mutex<HashMap<Uuid, usize>>>,
    /// Striped locks by blob digest: publishing a blob and recording a
    /// reference to it is one step, deleting an unreferenced blob another,
    /// and the two must never interleave for the same content.
    blob_locks: Vec<tokio::sync::Mutex<()>>,
    /// Striped locks by file id: one part-wise completion of a file at a
    /// time (each copies the whole file; a second would find its parts
    /// gone).
    completion_locks: Vec<tokio::sync::Mutex<()>>,
    /// Prometheus counters (`/metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The `[cors]` default rule, for the JSON API and the built-in bucket
    /// (empty: no origin allowed).
    pub default_cors: Vec<crate::api::s3::cors::CorsRule>,
    /// The HTTPS acceptor when `tls_cert`/`tls_key` are set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Presign requests per token name (`[limits] presign_per_token_per_sec`).
    pub presign_throttle: Throttle,
    /// Failed authentications per client address
    /// (`[limits] auth_failures_per_sec`).
    pub auth_failures: Throttle,
    /// The last `/healthz` verdict (checks run at most once a second).
    pub health: crate::api::HealthCache,
}

/// Longest the start-up recovery pass may take before serving begins.
pub const RECOVERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// How far back the start-up pass checks blob rows against their files.
pub const RECENT_BLOBS_SECS: i64 = 24 * 3600;

/// What the start-up recovery pass found and did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Blob files found in the store.
    pub files_total: usize,
    /// Of them, referenced by a row (or adopted).
    pub kept: usize,
    /// Pending rows completed by a blob published before a crash.
    pub relinked: usize,
    /// Blob files no row wanted, deleted.
    pub removed: usize,
    /// Recent blob rows whose file was checked.
    pub rows_checked: usize,
    /// Blob rows whose file is missing or of the wrong size (now marked).
    pub damaged: Vec<Digest>,
    /// Whether everything was checked within the budget.
    pub complete: bool,
}

/// Number of blob lock stripes; contention only between uploads whose
/// digests share a first byte.
const BLOB_LOCK_STRIPES: usize = 256;
/// Stripes of [`App::completion_lock`].
const COMPLETION_LOCK_STRIPES: usize = 64;

/// Registration of one PUT in progress; unregisters on drop, however the
/// request ends.
pub struct InFlight {
    id: Uuid,
    map: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut m) = self.map.lock() {
            if let Some(n) = m.get_mut(&self.id) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.id);
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the index in the data dir: {0}")]
    Db(#[from] DbError),
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
}

impl App {
    /// Opens the data dir (creating it on first run) for a server bound at
    /// `bound`.
    pub fn open(
        config: Config,
        clock: Arc<dyn Clock>,
        bound: SocketAddr,
    ) -> Result<Self, StartError> {
        let dir_err = |source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        };
        let new_dir = !config.data_dir.exists();
        crate::store::fsutil::create_dir_all_durable(&config.data_dir).map_err(dir_err)?;
        if new_dir {
            // Blobs, index and credentials: the owner's only. (An existing
            // data dir keeps the mode its operator chose.)
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_err)?;
        }
        let durable = config.storage.fsync;
        if !durable {
            tracing::warn!(
                "[storage] fsync = false: uploads answered 200 can be lost on a power cut; \
                 use this only for throwaway dev or CI data"
            );
        }
        let store = LocalStore::open(&config.data_dir, durable).map_err(dir_err)?;
        let index = SqliteIndex::open_with(&config.data_dir, durable)?;
        let credentials = config.credentials()?;
        let tls = match &config.tls {
            Some(files) => Some(crate::server::tls::acceptor(files).map_err(StartError::Tls)?),
            None => None,
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::from_addr(bound, config.tls.is_some()));
        Ok(App {
            public_url,
            credentials,
            index: Arc::new(index),
            store: Arc::new(store),
            clock,
            in_flight: Arc::default(),
            blob_locks: (0..BLOB_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            completion_locks: (0..COMPLETION_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            tls,
            metrics: crate::metrics::Metrics::new(),
            default_cors: config
                .cors
                .iter()
                .map(|c| crate::api::s3::cors::CorsRule {
                    id: Some("config.toml [cors]".into()),
                    allowed_origins: c.allowed_origins.clone(),
                    allowed_methods: c.allowed_methods.clone(),
                    allowed_headers: c.allowed_headers.clone(),
                    expose_headers: c.expose_headers.clone(),
                    max_age_seconds: Some(c.max_age_secs),
                })
                .collect(),
            presign_throttle: Throttle::new(
                config.limits.presign_per_token_per_sec,
                config.limits.presign_per_token_per_sec.saturating_mul(2),
            ),
            auth_failures: Throttle::new(
                config.limits.auth_failures_per_sec,
                config.limits.auth_failures_per_sec.saturating_mul(10),
            ),
            health: Default::default(),
            config,
        })
    }

    /// The lock of completing file `id` from its parts (see
    /// `completion_locks`). Never held while waiting for a blob lock's
    /// holder to wait for it: blob locks are taken inside, never around.
    pub async fn completion_lock(&self, id: &Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        self.completion_locks[id.as_bytes()[15] as usize % COMPLETION_LOCK_STRIPES]
            .lock()
            .await
    }

    /// The lock of one blob digest (see `blob_locks`).
    pub async fn blob_lock(&self, digest: &Digest) -> tokio::sync::MutexGuard<'_, ()> {
        self.blob_locks[digest.0[0] as usize % BLOB_LOCK_STRIPES]
            .lock()
            .await
    }

    /// Opens `len` bytes from `start` of a stored blob of `size` bytes,
    /// wherever its bytes are: inline in the index (small blobs, looked up
    /// there first) or in the blob store. `None` if neither has it.
    pub async fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, ApiError> {
        let d = *digest;
        if size <= INLINE_BLOB_MAX {
            if let Some(data) = self.db(move |db| db.blob_data(&d)).await? {
                return Ok(Some(inline_reader(data.into(), start, len)));
            }
        }
        Ok(self.store.open_range(digest, start, len).await?)
    }

    /// The secret of an S3 access key: the configured pair, or a live key
    /// made with `stowage key create`.
    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        if access_key_id == self.credentials.access_key_id {
            return Some(self.credentials.secret_access_key.clone());
        }
        self.index.access_key_secret(access_key_id).ok().flatten()
    }

    /// Whether a request was signed with the configured key, which may do
    /// everything (the keys made later have what they are granted).
    pub fn is_main_key(&self, access_key_id: &str) -> bool {
        access_key_id == self.credentials.access_key_id
    }

    /// Refuses (507) a write of `bytes` that would leave less free space
    /// than `[storage] reserve_bytes`; `bytes` = 0 checks that the reserve
    /// is intact (the mid-stream check of a body).
    pub fn check_space(&self, bytes: u64) -> Result<(), ApiError> {
        let Some(free) = self.store.free_space()? else {
            return Ok(());
        };
        let reserve = self.config.storage.reserve_bytes;
        if free >= bytes.saturating_add(reserve) {
            return Ok(());
        }
        tracing::warn!(
            free,
            reserve,
            needed = bytes,
            "write refused: it would eat into the free-space reserve"
        );
        Err(ApiError::InsufficientStorage(if bytes > 0 {
            format!(
                "the gateway is short of disk space and cannot take {bytes} more bytes now; \
                 nothing was stored. Retry later, or send a smaller file."
            )
        } else {
            "the gateway's disk filled up while this body arrived; nothing was stored. \
             Retry later."
                .into()
        }))
    }

    /// Deletes a blob if no file or object refers to it any more.
    pub async fn release_blob(&self, digest: Digest) -> Result<bool, ApiError> {
        let _lock = self.blob_lock(&digest).await;
        let free = self.db(move |db| db.release_blob(&digest)).await?;
        if free {
            self.store.remove(&digest).await?;
        }
        Ok(free)
    }

    /// [`Self::release_blob`] on a failure path: the request already failed,
    /// so a second error is logged rather than returned.
    pub async fn release_after_failure(&self, digest: Digest) {
        if let Err(e) = self.release_blob(digest).await {
            tracing::warn!(error = ?e, "could not release a blob after a failed write");
        }
    }

    /// Marks `id` as receiving bytes until the returned guard drops.
    pub fn begin_upload(&self, id: Uuid) -> InFlight {
        if let Ok(mut m) = self.in_flight.lock() {
            *m.entry(id).or_insert(0) += 1;
        }
        InFlight {
            id,
            map: self.in_flight.clone(),
        }
    }

    /// The start-up recovery pass, run before serving (so no upload races
    /// it). Leftover temp files were already removed when the store opened.
    /// Then, within [`RECOVERY_BUDGET`]:
    /// 1. every blob file is either referenced by a row, adopted by the
    ///    pending rows that declared exactly its bytes (a crash came between
    ///    publishing it and committing the row), or deleted as an orphan;
    /// 2. every blob row written in the [`RECENT_BLOBS_SECS`] before now
    ///    whose bytes live in the store is checked for its file and size;
    ///    one missing or of the wrong size is marked damaged in the index
    ///    and reported in the log. (Older rows are `stowage verify`'s: a
    ///    crash can only lose what was written just before it.)
    ///
    /// Whatever the budget leaves unchecked waits for the next start or for
    /// `stowage verify` (the log says so). What the pass did is logged.
    pub async fn recover(&self) -> Result<Recovery, ApiError> {
        let deadline = std::time::Instant::now() + RECOVERY_BUDGET;
        let mut r = Recovery {
            complete: true,
            ..Recovery::default()
        };
        let bucket = self.config.s3.bucket.clone();
        let now = self.now_unix();
        let b = bucket.clone();
        self.db(move |db| db.create_bucket(&b, now)).await?;
        let blobs = self.store.list().await?;
        r.files_total = blobs.len();
        for (digest, size) in blobs {
            if std::time::Instant::now() > deadline {
                r.complete = false;
                break;
            }
            let bucket = bucket.clone();
            match self
                .db(move |db| db.claim_blob(&digest, size, &bucket, now))
                .await?
            {
                BlobClaim::Referenced => r.kept += 1,
                BlobClaim::Relinked(n) => {
                    r.kept += 1;
                    r.relinked += n;
                }
                BlobClaim::Unreferenced => {
                    self.store.remove(&digest).await?;
                    r.removed += 1;
                }
            }
        }
        // Rows written shortly before start-up are the ones a crash (or a
        // disk that lied about a flush) could have left without their file.
        let since = now - RECENT_BLOBS_SECS;
        let mut before: Option<i64> = None;
        'rows: while r.complete {
            let from = before;
            let page = self.db(move |db| db.newest_blobs(from, 1000)).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.0);
            for (_, created, e) in page {
                if created < since {
                    break 'rows;
                }
                if e.inline {
                    continue;
                }
                if std::time::Instant::now() > deadline {
                    r.complete = false;
                    break 'rows;
                }
                r.rows_checked += 1;
                let why = match self.store.open(&e.info.sha256).await? {
                    None => "its file is missing".to_string(),
                    Some(b) if b.len != e.info.size => {
                        format!("its file has {} bytes, not {}", b.len, e.info.size)
                    }
                    Some(_) => continue,
                };
                let d = e.info.sha256;
                tracing::error!(
                    blob = %d.hex(),
                    problem = %why,
                    "a stored blob is damaged; the files and objects using it cannot be read"
                );
                let stamped = format!("{why} (found at start-up, unix time {now})");
                self.db(move |db| db.mark_damaged(&d, &stamped)).await?;
                r.damaged.push(d);
            }
        }
        // S3 ETags need the MD5 of blobs recorded before it was kept.
        for digest in self.db(|db| db.blobs_missing_md5()).await? {
            let Some(mut blob) = self.store.open(&digest).await? else {
                continue;
            };
            let mut md5 = Md5::new();
            crate::store::pump(&mut blob, None, |b| md5.update(b)).await?;
            let sum: [u8; 16] = md5.finalize().into();
            self.db(move |db| db.set_blob_md5(&digest, &sum)).await?;
        }
        tracing::info!(
            blob_files = r.files_total,
            blobs_kept = r.kept,
            rows_relinked = r.relinked,
            orphan_blobs_removed = r.removed,
            rows_checked = r.rows_checked,
            damaged = r.damaged.len(),
            "recovery pass done"
        );
        if r.relinked + r.removed > 0 {
            tracing::info!(
                rows_relinked = r.relinked,
                orphan_blobs_removed = r.removed,
                "recovery pass repaired the store"
            );
        }
        if !r.damaged.is_empty() {
            tracing::error!(
                damaged = r.damaged.len(),
                "blobs are missing or damaged (marked in the index); run `stowage verify` \
                 and restore them from a backup"
            );
        }
        if !r.complete {
            tracing::warn!(
                budget_secs = RECOVERY_BUDGET.as_secs(),
                "recovery pass stopped at its time budget; the rest is checked at the next \
                 start, or now by `stowage verify`"
            );
        }
        Ok(r)
    }

    /// Now, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Runs an index call on the blocking pool: SQLite waits on fsync, which
    /// must not stall the async workers.
    pub async fn db<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Index) -> Result<R, DbError> + Send + 'static,
    {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || f(&*index))
            .await
            .map_err(|e| ApiError::Internal(crate::api::Internal::Other(e.to_string())))?
            .map_err(ApiError::from)
    }

    /// Runs an index write on the index's own writer thread
    /// ([`Index::submit_write`]), batched with concurrent ones, and returns
    /// its result once durable. The upload hot paths use this rather than
    /// [`Self::db`]: no blocking-pool thread is taken or woken per call.
    pub async fn db_write<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Index) -> Result<R, DbError> + Send + 'static,
    {
        self.db_write_with(f, |_| true).await
    }

    /// [`Self::db_write`], answered as soon as the write is committed when
    /// `must_be_durable` says of its result that nobody will take it as
    /// "stored" (it still becomes durable with its batch, moments later).
    pub async fn db_write_with<R, F>(
        &self,
        f: F,
        must_be_durable: fn(&R) -> bool,
    ) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Index) -> Result<R, DbError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let index = self.index.clone();
        self.index.submit_write(Box::new(move || {
            let r = f(&*index);
            let durable = r.as_ref().map_or(true, must_be_durable);
            let deliver: crate::index::Delivery = Box::new(move |batch: Result<(), DbError>| {
                let _ = tx.send(batch.and(r));
            });
            (deliver, durable)
        }));
        rx.await
            .map_err(|_| {
                ApiError::Internal(crate::api::Internal::Other(
                    "the index writer stopped before answering".into(),
                ))
            })?
            .map_err(ApiError::from)
    }

    /// One pass of housekeeping: pending rows whose URL expired more than
    /// [`PENDING_GRACE_SECS`] ago, and temp files no upload owns.
    pub async fn sweep(&self) -> Result<(usize, usize), ApiError> {
        let cutoff = self.now_unix() - PENDING_GRACE_SECS;
        let in_flight = self.in_flight.clone();
        let rows = self
            .db(move |db| {
                // Held across the delete so no upload can register between
                // the snapshot and the delete and then find its row gone.
                let guard = in_flight.lock().map_err(|_| DbError::Poisoned)?;
                let keep: Vec<Uuid> = guard.keys().copied().collect();
                db.sweep_pending(cutoff, &keep)
            })
            .await?;
        let cutoff = self.now_unix() - self.config.s3.abandoned_multipart_secs as i64;
        let stale = self.db(move |db| db.stale_multipart(cutoff)).await?;
        let uploads = stale.len();
        for id in stale {
            // One failure must not stop the rest of the sweep.
            match self.db(move |db| db.abort_multipart(&id)).await {
                Ok(Some(blobs)) => {
                    for d in blobs {
                        self.release_after_failure(d).await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = ?e, "could not abort an abandoned upload"),
            }
        }
        if uploads > 0 {
            tracing::info!(uploads, "sweep aborted abandoned multipart uploads");
        }
        let temps = self.store.sweep_staging().await?;
        if rows + temps > 0 {
            tracing::info!(
                pending_rows = rows,
                temp_files = temps,
                "sweep removed stale data"
            );
        }
        Ok((rows, temps))
    }
}

/// A reader over `len` bytes from `start` of inline blob bytes (clamped to
/// what is there); `len` of the reader is the whole blob's size, as for
/// store readers.
pub fn inline_reader(data: bytes::Bytes, start: u64, len: u64) -> BlobReader {
    let total = data.len() as u64;
    let from = start.min(total) as usize;
    let to = start.saturating_add(len).min(total) as usize;
    let part = data.slice(from..to);
    BlobReader {
        len: total,
        chunks: Box::pin(futures_util::stream::iter(
            (!part.is_empty()).then_some(Ok(part)),
        )),
    }
}
