//! The shape of `config.toml` as written: one serde struct per section,
//! every field optional so that defaults (`defaults.rs`) apply, and
//! the parser that turns the text into them.
//!
//! Owns which keys and sections exist (an unknown one is refused, so a
//! typo is not silently ignored) and naming the key of a type error. Must
//! never validate or default a value: that is resolving's
//! (`resolve.rs` and the section files), once the environment has had its
//! say. A leaf of `config/`.

use std::path::PathBuf;

use serde::Deserialize;

/// The file as written; every field optional so defaults apply.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    #[serde(default)]
    pub(super) s3: FileS3,
    #[serde(default)]
    pub(super) upload: FileUpload,
    #[serde(default)]
    pub(super) storage: FileStorage,
    #[serde(default)]
    pub(super) limits: FileLimits,
    #[serde(default)]
    pub(super) cors: FileCors,
    #[serde(default)]
    pub(super) metrics: FileMetrics,
    #[serde(default)]
    pub(super) index: FileIndex,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIndex {
    pub(super) backend: Option<String>,
    pub(super) url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMetrics {
    pub(super) access: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCors {
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) allowed_methods: Option<Vec<String>>,
    pub(super) allowed_headers: Option<Vec<String>>,
    pub(super) expose_headers: Option<Vec<String>>,
    pub(super) max_age_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    pub(super) idle_timeout_secs: Option<u64>,
    pub(super) header_timeout_secs: Option<u64>,
    pub(super) max_connections: Option<u64>,
    pub(super) max_headers: Option<u64>,
    pub(super) presign_per_token_per_sec: Option<u64>,
    pub(super) auth_failures_per_sec: Option<u64>,
    pub(super) shutdown_grace_secs: Option<u64>,
    pub(super) trusted_proxies: Option<Vec<String>>,
    pub(super) form_fields_timeout_secs: Option<u64>,
    pub(super) form_fields_min_bytes_per_sec: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStorage {
    pub(super) fsync: Option<bool>,
    pub(super) reserve_bytes: Option<u64>,
    pub(super) backend: Option<String>,
    pub(super) s3_endpoint: Option<String>,
    pub(super) s3_bucket: Option<String>,
    pub(super) s3_region: Option<String>,
    pub(super) s3_access_key_id: Option<String>,
    pub(super) s3_secret_access_key: Option<String>,
    pub(super) s3_ca_cert: Option<String>,
    pub(super) s3_part_size: Option<u64>,
    pub(super) s3_gc_grace_secs: Option<u64>,
    pub(super) s3_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileS3 {
    pub(super) region: Option<String>,
    pub(super) bucket: Option<String>,
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key: Option<String>,
    pub(super) abandoned_multipart_secs: Option<u64>,
    pub(super) public_read: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileUpload {
    pub(super) max_size: Option<u64>,
    pub(super) presign_expiry_secs: Option<u64>,
    pub(super) dedupe: Option<bool>,
}

/// Parses the file, naming the key of any error (`upload.max_size: invalid
/// type: string "5G", expected u64`).
pub(super) fn parse_file(text: &str) -> Result<FileConfig, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = inner
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        if path == "." || path.is_empty() {
            format!("{}{at}", inner.message())
        } else {
            format!("`{path}`: {}{at}", inner.message())
        }
    })
}
