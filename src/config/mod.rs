//! Configuration: `config.toml`, then `STOWAGE_*` environment variables, then
//! command-line flags, each overriding the one before.
//!
//! This module owns parsing and validating every setting and the S3
//! credentials kept in the data dir. It must never log or render a secret:
//! `Config`'s `Debug` redacts the secret access key, and every error names
//! the offending key, never its value when the value could be a secret.
//!
//! Here: [`Config`], the value the gateway runs with, and its plain
//! sections. By concept, below it:
//!
//! - `file.rs`: the serde shape of `config.toml` and its parser;
//!   `defaults.rs`: the value of every key not given.
//! - `resolve.rs`: file, environment (`env.rs`) and flags ([`Overrides`])
//!   into a checked `Config`; every error a [`ConfigError`] (`error.rs`)
//!   naming the key and the fix.
//! - The sections with rules of their own: `s3.rs`, `credentials.rs` (the
//!   key pair and its file in the data dir), `limits.rs` (with `ipnet.rs`,
//!   the trusted proxies' ranges), `cors.rs`, `index.rs` (`[index]`),
//!   `blob_store.rs` (`[storage] backend` and its `s3_*` keys),
//!   `public_url.rs`, `tls_files.rs`.
//!
//! This file names its children only to re-export their items, so the
//! paths other modules use (`crate::config::validate_bucket`, …) stay those
//! of one module; a helper two children share lives in a leaf below both
//! (`error.rs`, `env.rs`, `file.rs`, `defaults.rs`), never here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

mod blob_store;
mod cors;
mod credentials;
mod defaults;
mod env;
mod error;
mod file;
mod index;
mod ipnet;
mod limits;
mod public_url;
mod resolve;
mod s3;
mod tls_files;

pub use blob_store::{
    BlobStoreConfig, S3StoreConfig, DEFAULT_S3_GC_GRACE_SECS, DEFAULT_S3_PART_SIZE,
    DEFAULT_S3_PREFIX,
};
pub use cors::CorsDefault;
pub use credentials::{generate_credentials, CREDENTIALS_FILE};
pub use defaults::{
    DEFAULT_ABANDONED_MULTIPART_SECS, DEFAULT_AUTH_FAILURES_PER_SEC,
    DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC, DEFAULT_FORM_FIELDS_TIMEOUT_SECS,
    DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADERS, DEFAULT_MAX_SIZE, DEFAULT_PRESIGN_EXPIRY_SECS,
    DEFAULT_PRESIGN_PER_TOKEN_PER_SEC, DEFAULT_RESERVE_BYTES, DEFAULT_SHUTDOWN_GRACE_SECS,
    FORM_FIELDS_RATE_GRACE_SECS, MAX_FORM_FIELDS_TIMEOUT_SECS,
};
pub use env::env_name;
pub use error::ConfigError;
pub use index::IndexConfig;
pub use ipnet::IpNet;
pub use limits::LimitsConfig;
pub use public_url::PublicUrl;
pub use resolve::Overrides;
pub use s3::{validate_bucket, S3Config};
pub use tls_files::TlsFiles;

/// The validated configuration the gateway runs with.
#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Base URL written into presigned URLs; `None` means "derive it from
    /// the address actually bound", which also covers `--listen …:0`.
    pub public_url: Option<PublicUrl>,
    /// Root of the database, blobs and temp files.
    pub data_dir: PathBuf,
    /// Serve HTTPS with this certificate chain and key (PEM files), for
    /// sites without a TLS-terminating proxy; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    pub s3: S3Config,
    pub upload: UploadConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    /// The default CORS rule (`[cors]`), for the JSON API and the built-in
    /// bucket while it has no configuration of its own; `None` when no
    /// origin is allowed.
    pub cors: Option<CorsDefault>,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsAccess,
    /// Where the index (the metadata) is kept (`[index]`).
    pub index: IndexConfig,
}

/// `[metrics] access`: who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who can reach the port (a scraper on a trusted network).
    Open,
    /// A bearer token with the `read` scope (the default).
    Token,
    /// Not served (404).
    Off,
}

/// `[storage]`: how the bytes are kept.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Make every acknowledged write durable (fsync of data, directory and
    /// SQLite WAL). `false` is for throwaway dev/CI data only: a power cut
    /// can then lose uploads that were answered 200.
    pub fsync: bool,
    /// Free space the gateway keeps on its disk: an upload that would
    /// leave less is refused up front (507), and one that reaches it while
    /// streaming stops, so the index and the system always have room.
    pub reserve_bytes: u64,
    /// Where blob bytes are kept (`backend`, `s3_*`).
    pub blobs: BlobStoreConfig,
}

/// `[upload]`: what the JSON upload API accepts and signs.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Largest upload accepted, in bytes.
    pub max_size: u64,
    /// Lifetime of a presigned URL in seconds (1..=604800, SigV4's limit).
    pub presign_expiry_secs: u64,
    /// Link a new id to an already-stored blob with the same hash and size
    /// instead of asking the client to send the bytes again.
    pub dedupe: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_ref().map(|u| &u.base))
            .field("data_dir", &self.data_dir)
            .field("region", &self.s3.region)
            .field("bucket", &self.s3.bucket)
            .field(
                "access_key_id",
                &self.s3.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .field("upload", &self.upload)
            .field("index", &self.index)
            .finish()
    }
}

#[cfg(test)]
mod tests;
