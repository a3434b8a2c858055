//! The running gateway's shared state: configuration, credentials, the
//! storage service, metrics and limits, built once at start-up and shared by
//! every request.

use std::net::SocketAddr;
use std::sync::Arc;

use uuid::Uuid;

use crate::api::throttle::Throttle;
use crate::api::ApiError;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, IndexConfig, PublicUrl};
use crate::index::{DbError, Index, PostgresIndex, SqliteIndex};
use crate::sigv4::{ClaimedSecret, Credentials};
use crate::storage::{InFlight, Recovery, Settings, Storage};
use crate::store::{BlobReader, BlobStore, Digest, LocalStore};

pub use crate::storage::{inline_reader, INLINE_BLOB_MAX, PENDING_GRACE_SECS};

pub struct App {
    pub config: Config,
    /// Base of every URL we sign; from config or the bound address.
    pub public_url: PublicUrl,
    /// The key pair presigned URLs are signed with.
    pub credentials: Credentials,
    /// The storage service: every read and write of rows and bytes.
    pub storage: Storage,
    /// The storage service's index, store and clock (shared handles).
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
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
        let index: Arc<dyn Index> = match &config.index {
            IndexConfig::Sqlite => Arc::new(SqliteIndex::open_with(&config.data_dir, durable)?),
            IndexConfig::Postgres { url } => {
                Arc::new(PostgresIndex::open(url).map_err(DbError::from)?)
            }
        };
        let credentials = config.credentials()?;
        let tls = match &config.tls {
            Some(files) => Some(crate::server::tls::acceptor(files).map_err(StartError::Tls)?),
            None => None,
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::from_addr(bound, config.tls.is_some()));
        let store: Arc<dyn BlobStore> = Arc::new(store);
        let storage = Storage::new(
            index.clone(),
            store.clone(),
            clock.clone(),
            Settings {
                upload_bucket: config.s3.bucket.clone(),
                reserve_bytes: config.storage.reserve_bytes,
                abandoned_multipart_secs: config.s3.abandoned_multipart_secs,
            },
        );
        Ok(App {
            public_url,
            credentials,
            storage,
            index,
            store,
            clock,
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

    /// The lock of completing file `id` from its parts.
    pub async fn completion_lock(&self, id: &Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        self.storage.completion_lock(id).await
    }

    /// The lock of one blob digest.
    pub async fn blob_lock(&self, digest: &Digest) -> tokio::sync::MutexGuard<'_, ()> {
        self.storage.blob_lock(digest).await
    }

    /// See [`Storage::open_blob`].
    pub async fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, ApiError> {
        Ok(self.storage.open_blob(digest, size, start, len).await?)
    }

    /// The secret of the S3 access key a request claims (`None`: it claims
    /// none that could be read), for the signature check that follows: the
    /// configured pair's, or a live key's made with `stowage key create`.
    /// A key that is unknown, revoked, or cannot be looked up has none, and
    /// the check refuses it as an unknown key.
    pub async fn secret_for(&self, claimed: Option<&str>) -> ClaimedSecret {
        let Some(id) = claimed else {
            return ClaimedSecret::default();
        };
        if id == self.credentials.access_key_id {
            return ClaimedSecret::known(id, self.credentials.secret_access_key.clone());
        }
        match self.storage.access_key_secret(id).await {
            Ok(Some(secret)) => ClaimedSecret::known(id, secret),
            Ok(None) => ClaimedSecret::default(),
            Err(e) => {
                tracing::error!(error = ?e, "could not look up an access key's secret");
                ClaimedSecret::default()
            }
        }
    }

    /// Whether a request was signed with the configured key, which may do
    /// everything (the keys made later have what they are granted).
    pub fn is_main_key(&self, access_key_id: &str) -> bool {
        access_key_id == self.credentials.access_key_id
    }

    /// See [`Storage::check_space`].
    pub fn check_space(&self, bytes: u64) -> Result<(), ApiError> {
        Ok(self.storage.check_space(bytes)?)
    }

    /// See [`Storage::release`].
    pub async fn release_blob(&self, digest: Digest) -> Result<bool, ApiError> {
        Ok(self.storage.release(digest).await?)
    }

    /// See [`Storage::release_after_failure`].
    pub async fn release_after_failure(&self, digest: Digest) {
        self.storage.release_after_failure(digest).await
    }

    /// See [`Storage::begin_upload`].
    pub async fn begin_upload(&self, id: Uuid) -> InFlight {
        self.storage.begin_upload(id).await
    }

    /// See [`Storage::recover`].
    pub async fn recover(&self) -> Result<Recovery, ApiError> {
        Ok(self.storage.recover().await?)
    }

    /// See [`Storage::sweep`].
    pub async fn sweep(&self) -> Result<(usize, usize), ApiError> {
        Ok(self.storage.sweep().await?)
    }

    /// Now, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.storage.now()
    }

    /// Runs a call of the index interface being retired (see
    /// [`Storage::legacy`]).
    pub async fn db<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Index) -> Result<R, DbError> + Send + 'static,
    {
        Ok(self.storage.legacy(f).await?)
    }

    /// [`Self::db`] on the index's own writer thread, batched with
    /// concurrent writes; durable before it answers.
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
}
