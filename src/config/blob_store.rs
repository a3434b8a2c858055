//! `[storage] backend`: where blob bytes are kept — files in the data dir
//! (`local`, the default) or an S3-compatible cluster (`s3`: Garage, Ceph
//! RGW, SeaweedFS, MinIO) under write-once names.
//!
//! Owns choosing the backend and checking its settings: the endpoint URLs
//! (http or https; several, comma-separated, for the nodes of one
//! cluster), a bucket name, credentials, the part size and the
//! garbage grace. Must never show the secret access key: not in `Debug`,
//! not in an error. Must never connect: the store does.

use std::fmt;
use std::path::PathBuf;

use super::env::{parse_u64, pick};
use super::error::{invalid, ConfigError};
use super::file::FileStorage;

/// Part size of uploads to the upstream, when not set: large enough that
/// a gigabyte is 128 requests, small enough that a hundred uploads at once
/// hold under 2 GiB (an upload buffers at most two parts).
pub const DEFAULT_S3_PART_SIZE: u64 = 8 << 20;
/// S3's smallest part (all but the last).
const MIN_S3_PART_SIZE: u64 = 5 << 20;
/// S3's largest part.
const MAX_S3_PART_SIZE: u64 = 5 << 30;
/// How long bytes no row refers to are kept upstream, when not set: a
/// week, the longest we expect between an index backup and its restore.
pub const DEFAULT_S3_GC_GRACE_SECS: u64 = 7 * 24 * 3600;
/// Where in the bucket blobs go, when not set.
pub const DEFAULT_S3_PREFIX: &str = crate::store::S3_PREFIX;
/// Longest `s3_prefix`: S3 keys are at most 1024 bytes, and a blob's name
/// after it is 32.
const MAX_S3_PREFIX_LEN: usize = 512;

/// Where the bytes of blobs larger than the inline limit are kept.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BlobStoreConfig {
    /// `data_dir/blobs`, named by digest (the default).
    Local,
    /// An S3-compatible bucket.
    S3(S3StoreConfig),
}

/// `[storage] backend = "s3"` and its `s3_*` keys.
#[derive(Clone, PartialEq, Eq)]
pub struct S3StoreConfig {
    /// `http://host:port` or `https://host:port`, path-style requests: one,
    /// or several nodes of one cluster (`s3_endpoint` comma-separated),
    /// tried in this order when one cannot be connected to.
    pub endpoints: Vec<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// PEM certificates trusted beside the system's roots (a site CA).
    pub ca_cert: Option<PathBuf>,
    /// Bytes per part of an upstream multipart upload.
    pub part_size: u64,
    /// Seconds bytes no row refers to are kept before they are deleted.
    pub gc_grace_secs: u64,
    /// Where in the bucket the blobs' objects go (`blobs/` by default):
    /// the store lists, sweeps and collects only under it, so a bucket may
    /// hold other things, or several sites' blobs under prefixes of their
    /// own.
    pub prefix: String,
}

impl fmt::Debug for S3StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3StoreConfig")
            .field("endpoints", &self.endpoints)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("ca_cert", &self.ca_cert)
            .field("part_size", &self.part_size)
            .field("gc_grace_secs", &self.gc_grace_secs)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl BlobStoreConfig {
    /// The store as an operator knows it, for messages (never a secret).
    pub fn describe(&self) -> String {
        match self {
            BlobStoreConfig::Local => "local blob store in the data dir".into(),
            BlobStoreConfig::S3(s) => {
                format!("S3 blob store {}/{}", s.endpoints.join(", "), s.bucket)
            }
        }
    }
}

/// Resolves `[storage] backend` and the `s3_*` keys (environment first).
pub(super) fn resolve_blob_store(
    env: &impl Fn(&str) -> Option<String>,
    file: &FileStorage,
) -> Result<BlobStoreConfig, ConfigError> {
    let backend = pick(env, "storage.backend", file.backend.clone());
    let s3_keys = [
        ("storage.s3_endpoint", &file.s3_endpoint),
        ("storage.s3_bucket", &file.s3_bucket),
        ("storage.s3_access_key_id", &file.s3_access_key_id),
        ("storage.s3_secret_access_key", &file.s3_secret_access_key),
    ];
    match backend.as_deref().map(str::trim) {
        None | Some("" | "local") => {
            for (key, value) in s3_keys {
                if pick(env, key, value.clone()).is_some_and(|v| !v.trim().is_empty()) {
                    return Err(invalid(
                        key,
                        "is set, but storage.backend is not \"s3\": set backend = \"s3\" to keep \
                         blobs in that bucket, or remove the s3_* keys to keep them in the data dir",
                    ));
                }
            }
            Ok(BlobStoreConfig::Local)
        }
        Some("s3") => {
            let required = |key: &'static str, value: &Option<String>, example: &str| {
                pick(env, key, value.clone())
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        invalid(
                            key,
                            format!("is required with backend = \"s3\" ({example})"),
                        )
                    })
            };
            let endpoint = required(
                "storage.s3_endpoint",
                &file.s3_endpoint,
                "e.g. http://127.0.0.1:3900, or several nodes' comma-separated",
            )?;
            let endpoints = endpoint_list(&endpoint)?;
            let bucket = required("storage.s3_bucket", &file.s3_bucket, "the bucket's name")?;
            check_bucket(&bucket)?;
            let access_key_id = required(
                "storage.s3_access_key_id",
                &file.s3_access_key_id,
                "the upstream key's id",
            )?;
            let secret_access_key = required(
                "storage.s3_secret_access_key",
                &file.s3_secret_access_key,
                "the upstream key's secret",
            )?;
            let region = pick(env, "storage.s3_region", file.s3_region.clone())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "us-east-1".into());
            let ca_cert = pick(env, "storage.s3_ca_cert", file.s3_ca_cert.clone())
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from);
            let part_size = parse_u64("storage.s3_part_size", env, file.s3_part_size)?
                .unwrap_or(DEFAULT_S3_PART_SIZE);
            if !(MIN_S3_PART_SIZE..=MAX_S3_PART_SIZE).contains(&part_size) {
                return Err(invalid(
                    "storage.s3_part_size",
                    format!(
                        "{part_size} is outside S3's part sizes ({MIN_S3_PART_SIZE} to \
                         {MAX_S3_PART_SIZE} bytes)"
                    ),
                ));
            }
            let gc_grace_secs = parse_u64("storage.s3_gc_grace_secs", env, file.s3_gc_grace_secs)?
                .unwrap_or(DEFAULT_S3_GC_GRACE_SECS);
            let prefix = match pick(env, "storage.s3_prefix", file.s3_prefix.clone()) {
                Some(p) => check_prefix(p.trim())?,
                None => DEFAULT_S3_PREFIX.to_string(),
            };
            Ok(BlobStoreConfig::S3(S3StoreConfig {
                endpoints,
                bucket,
                region,
                access_key_id,
                secret_access_key,
                ca_cert,
                part_size,
                gc_grace_secs,
                prefix,
            }))
        }
        Some(other) => Err(invalid(
            "storage.backend",
            format!("'{other}' is not one of local, s3"),
        )),
    }
}

/// `s3_endpoint`'s endpoints: one, or several comma-separated (the nodes
/// of one cluster), each checked, none twice; without a trailing `/`.
fn endpoint_list(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut endpoints: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(invalid(
                "storage.s3_endpoint",
                "has an empty entry: separate endpoints with single commas",
            ));
        }
        check_endpoint(item)?;
        let item = item.trim_end_matches('/').to_string();
        if endpoints.contains(&item) {
            return Err(invalid(
                "storage.s3_endpoint",
                format!("names {item} twice"),
            ));
        }
        endpoints.push(item);
    }
    Ok(endpoints)
}

/// An endpoint is `http://` or `https://`, a host, maybe a port, and no
/// path, query or credentials (requests are path-style: `/bucket/key`).
fn check_endpoint(endpoint: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        invalid(
            "storage.s3_endpoint",
            format!("{why}: give it as http://host:port or https://host:port"),
        )
    };
    let uri: http::Uri = endpoint
        .trim_end_matches('/')
        .parse()
        .map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad("must not hold credentials (use s3_access_key_id)"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("must not have a path or query"));
    }
    Ok(())
}

/// `s3_prefix`: segments of letters, digits, `.`, `_` and `-`, each ending
/// in `/` (so one prefix is never the start of another's keys, e.g. `a/`
/// and `a-b/`), none `.` or `..`, not starting with `/`.
fn check_prefix(prefix: &str) -> Result<String, ConfigError> {
    let segments_ok = prefix.strip_suffix('/').is_some_and(|body| {
        body.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
    });
    if segments_ok && prefix.len() <= MAX_S3_PREFIX_LEN {
        Ok(prefix.to_string())
    } else {
        Err(invalid(
            "storage.s3_prefix",
            format!(
                "'{prefix}' is not a key prefix: give path segments of letters, digits, '.', '_' \
                 and '-', each ending in '/' (e.g. \"stowage/blobs/\"), at most \
                 {MAX_S3_PREFIX_LEN} bytes"
            ),
        ))
    }
}

/// S3's bucket names: 3 to 63 lowercase letters, digits, dots and hyphens.
fn check_bucket(bucket: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "storage.s3_bucket",
            format!(
                "'{bucket}' is not an S3 bucket name (3 to 63 lowercase letters, digits, dots \
                 and hyphens)"
            ),
        ))
    }
}
