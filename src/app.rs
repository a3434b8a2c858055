//! The running gateway's shared state: configuration, credentials, the
//! storage service, metrics and limits, built once at start-up and shared by
//! every request.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{BlobStoreConfig, Config, ConfigError, IndexConfig, PublicUrl, S3StoreConfig};
use crate::index::{Index, IndexError, PostgresIndex, SqliteIndex};
use crate::sigv4::{ClaimedSecret, Credentials};
use crate::storage::{Settings, Storage};
use crate::store::{BlobStore, LocalStore, S3Store};
use crate::throttle::Throttle;

pub use crate::storage::{inline_reader, INLINE_BLOB_MAX, PENDING_GRACE_SECS};

pub struct App {
    pub config: Config,
    /// Base of every URL we sign; from config or the bound address.
    pub public_url: PublicUrl,
    /// The key pair presigned URLs are signed with.
    pub credentials: Credentials,
    /// The storage service: every read and write of rows and bytes.
    pub storage: Storage,
    /// The clock (the storage service's): every "now" of a request.
    pub clock: Arc<dyn Clock>,
    /// Prometheus counters (`/metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The HTTPS acceptor when `tls_cert`/`tls_key` are set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Presign requests per token name (`[limits] presign_per_token_per_sec`).
    pub presign_throttle: Throttle,
    /// Failed authentications per client address
    /// (`[limits] auth_failures_per_sec`).
    pub auth_failures: Throttle,
    /// Bucket policies parsed for earlier requests.
    pub policies: crate::policy::PolicyCache,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `backend` names the index (SQLite in which data dir, or PostgreSQL
    /// at which host and database), never its URL's password.
    #[error("cannot open the {backend}: {source}")]
    Index { backend: String, source: IndexError },
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
    /// `store` names the blob store (the S3 endpoint and bucket), never
    /// its secret.
    #[error("cannot open the {store}: {why}")]
    BlobStore { store: String, why: String },
}

/// The blob store the configuration names: the data dir's files (opened
/// by the gateway, which sweeps leftover temp files; attached by a
/// maintenance command, which leaves them to a gateway that may be
/// serving), or an S3 bucket.
pub fn open_blob_store(config: &Config, gateway: bool) -> Result<Arc<dyn BlobStore>, StartError> {
    match &config.storage.blobs {
        BlobStoreConfig::Local => {
            let dir = &config.data_dir;
            let durable = config.storage.fsync;
            let store = if gateway {
                LocalStore::open(dir, durable)
            } else {
                LocalStore::attach(dir, durable)
            };
            let store = store.map_err(|source| StartError::DataDir {
                path: dir.clone(),
                source,
            })?;
            Ok(Arc::new(store))
        }
        BlobStoreConfig::S3(s3) => Ok(Arc::new(s3_store(s3).map_err(|why| {
            StartError::BlobStore {
                store: config.storage.blobs.describe(),
                why,
            }
        })?)),
    }
}

/// The S3 store of `[storage] backend = "s3"`.
fn s3_store(c: &S3StoreConfig) -> Result<S3Store, String> {
    let mut up = crate::upstream::Config::new(
        String::new(),
        c.region.clone(),
        c.bucket.clone(),
        c.access_key_id.clone(),
        c.secret_access_key.clone(),
    );
    up.endpoints = c.endpoints.clone();
    up.ca_file = c.ca_cert.clone();
    let client = crate::upstream::Client::new(up).map_err(|e| e.to_string())?;
    let part_size = usize::try_from(c.part_size).map_err(|_| "s3_part_size is too large")?;
    Ok(S3Store::new(client, part_size).with_prefix(c.prefix.clone()))
}

/// How long unreferenced bytes are kept, for the store `config` names
/// (only a store of write-once ids keeps any).
pub fn garbage_grace_secs(config: &Config) -> u64 {
    match &config.storage.blobs {
        BlobStoreConfig::Local => 0,
        BlobStoreConfig::S3(s3) => s3.gc_grace_secs,
    }
}

/// Creates the data dir `dir` (and its parents) if it is missing, durably
/// and readable by its owner only: blobs, index and credentials. An
/// existing data dir keeps the mode its operator chose.
pub fn create_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    crate::store::fsutil::create_dir_all_durable(dir)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
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
        create_data_dir(&config.data_dir).map_err(dir_err)?;
        let durable = config.storage.fsync;
        if !durable {
            tracing::warn!(
                "[storage] fsync = false: uploads answered 200 can be lost on a power cut; \
                 use this only for throwaway dev or CI data"
            );
        }
        let store = open_blob_store(&config, true)?;
        let index_err = |source| StartError::Index {
            backend: config.index.describe(&config.data_dir),
            source,
        };
        let index: Arc<dyn Index> = match &config.index {
            IndexConfig::Sqlite => {
                Arc::new(SqliteIndex::open_with(&config.data_dir, durable).map_err(index_err)?)
            }
            IndexConfig::Postgres { url } => Arc::new(PostgresIndex::open(url).map_err(index_err)?),
        };
        let credentials = config.credentials()?;
        let tls = match &config.tls {
            Some(files) => Some(crate::tls::acceptor(files).map_err(StartError::Tls)?),
            None => None,
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::from_addr(bound, config.tls.is_some()));
        let storage = Storage::new(
            index.clone(),
            store.clone(),
            clock.clone(),
            Settings {
                upload_bucket: config.s3.bucket.clone(),
                reserve_bytes: config.storage.reserve_bytes,
                abandoned_multipart_secs: config.s3.abandoned_multipart_secs,
                garbage_grace_secs: garbage_grace_secs(&config),
            },
        );
        Ok(App {
            public_url,
            credentials,
            storage,
            clock,
            tls,
            metrics: crate::metrics::Metrics::new(),
            policies: crate::policy::PolicyCache::new(),
            presign_throttle: Throttle::new(
                config.limits.presign_per_token_per_sec,
                config.limits.presign_per_token_per_sec.saturating_mul(2),
            ),
            auth_failures: Throttle::new(
                config.limits.auth_failures_per_sec,
                config.limits.auth_failures_per_sec.saturating_mul(10),
            ),
            config,
        })
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

    /// Now, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.storage.now()
    }
}
