//! `[s3]`: the region and bucket every signature names, the key pair, the
//! multipart sweep's age and the buckets anyone may read.
//!
//! Owns the S3 naming rules (region, bucket) settings are checked
//! against, here and for buckets created at run time. Must never hold the
//! secret in anything printable: [`S3Config`] has no `Debug`, the pair
//! itself is `credentials.rs`'s.

use super::credentials::resolve_key_pair;
use super::defaults::DEFAULT_ABANDONED_MULTIPART_SECS;
use super::env::{parse_u64, pick};
use super::error::{invalid, ConfigError};
use super::file::FileS3;
use crate::sigv4::Credentials;

#[derive(Clone)]
pub struct S3Config {
    /// Region in the credential scope of every signature.
    pub region: String,
    /// The one bucket presigned URLs point into.
    pub bucket: String,
    /// Explicit key pair; `None` means generate once and keep in the data dir.
    pub credentials: Option<Credentials>,
    /// Multipart uploads neither completed nor aborted this long after they
    /// began are aborted by the sweep, freeing their parts' disk space.
    pub abandoned_multipart_secs: u64,
    /// Buckets anyone may read without signing (GET/HEAD of objects and
    /// listings), for sites that serve files to the public. Writes always
    /// need a signature.
    pub public_read: Vec<String>,
}

/// `[s3]` from its `STOWAGE_S3_*` variables, else the file, else the
/// defaults (`public_read` from the file only).
pub(super) fn resolve_s3(
    file: FileS3,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<S3Config, ConfigError> {
    let region = pick(env, "s3.region", file.region).unwrap_or_else(|| "us-east-1".into());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "s3.region",
            format!("'{region}' is not a region name like us-east-1"),
        ));
    }
    let bucket = pick(env, "s3.bucket", file.bucket).unwrap_or_else(|| "uploads".into());
    validate_bucket(&bucket).map_err(|m| invalid("s3.bucket", m))?;

    let key_id = pick(env, "s3.access_key_id", file.access_key_id).filter(|s| !s.is_empty());
    let secret =
        pick(env, "s3.secret_access_key", file.secret_access_key).filter(|s| !s.is_empty());
    let credentials = resolve_key_pair(key_id, secret)?;

    let abandoned_multipart_secs = parse_u64(
        "s3.abandoned_multipart_secs",
        env,
        file.abandoned_multipart_secs,
    )?
    .unwrap_or(DEFAULT_ABANDONED_MULTIPART_SECS);
    if abandoned_multipart_secs == 0 {
        return Err(invalid(
            "s3.abandoned_multipart_secs",
            "must be greater than 0",
        ));
    }
    let public_read = file.public_read.unwrap_or_default();
    for b in &public_read {
        validate_bucket(b).map_err(|m| invalid("s3.public_read", m))?;
    }
    Ok(S3Config {
        region,
        bucket,
        credentials,
        abandoned_multipart_secs,
        public_read,
    })
}

/// S3's bucket naming rules (the subset that matters for path-style URLs).
pub fn validate_bucket(b: &str) -> Result<(), String> {
    let ok_chars = b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    let edges_ok = b
        .bytes()
        .next()
        .zip(b.bytes().last())
        .is_some_and(|(f, l)| f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric());
    if (3..=63).contains(&b.len()) && ok_chars && edges_ok && !b.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "'{b}' is not a valid bucket name (3-63 lowercase letters, digits, '-' or '.')"
        ))
    }
}
