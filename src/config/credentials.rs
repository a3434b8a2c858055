//! The S3 key pair presigned URLs are signed with: one configured
//! (`s3.access_key_id` and `s3.secret_access_key`), or one generated on
//! first start and kept in `data_dir/s3-credentials.json`.
//!
//! Owns checking a configured pair, generating a pair, and that file: it
//! is written with mode 0600 and refused when others could read it. Must
//! never echo the secret: an error names the key or the file and the fix
//! (`chmod 600`), never the value.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};
use super::Config;
use crate::sigv4::Credentials;

/// Name of the file in the data dir that keeps generated S3 credentials.
pub const CREDENTIALS_FILE: &str = "s3-credentials.json";

impl Config {
    /// The configured key pair, or the one generated on first start and kept
    /// in `data_dir/s3-credentials.json` (mode 0600).
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        if let Some(c) = &self.s3.credentials {
            return Ok(c.clone());
        }
        load_or_create_credentials(&self.data_dir)
    }
}

/// The configured pair (both set, each well-formed), `None` when neither
/// is set (a pair is then generated), an error naming the missing half.
pub(super) fn resolve_key_pair(
    key_id: Option<String>,
    secret: Option<String>,
) -> Result<Option<Credentials>, ConfigError> {
    match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => {
            if !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid(
                    "s3.access_key_id",
                    "must be letters and digits only",
                ));
            }
            if secret_access_key.len() < 16 || secret_access_key.contains(char::is_whitespace) {
                // The value itself is never echoed: it is a secret.
                return Err(invalid(
                    "s3.secret_access_key",
                    "must be at least 16 characters without spaces",
                ));
            }
            Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
            }))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            "s3.secret_access_key",
            "is required when s3.access_key_id is set (or remove both to generate a pair)",
        )),
        (None, Some(_)) => Err(invalid(
            "s3.access_key_id",
            "is required when s3.secret_access_key is set (or remove both to generate a pair)",
        )),
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    secret_access_key: String,
}

/// A new random key pair, AWS-shaped: 20 uppercase alphanumerics for the
/// id, 44 characters of secret.
pub fn generate_credentials() -> Credentials {
    let mut id_bytes = [0u8; 10];
    let mut secret_bytes = [0u8; 32];
    crate::random::fill(&mut id_bytes);
    crate::random::fill(&mut secret_bytes);
    use base64::Engine;
    Credentials {
        access_key_id: format!("STW{}", hex::encode_upper(&id_bytes[..]))[..20].to_string(),
        secret_access_key: base64::engine::general_purpose::STANDARD.encode(secret_bytes),
    }
}

/// The pair kept in `data_dir`, generated and written (mode 0600) when
/// there is none yet; refused when other users can read the file.
pub(super) fn load_or_create_credentials(data_dir: &Path) -> Result<Credentials, ConfigError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let err = |message: String| ConfigError::Credentials {
        path: path.clone(),
        message,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            // A secret others can read is a leaked secret: refuse to run on
            // it rather than sign with it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| err(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(err(format!(
                        "it is readable by other users (mode {:o}); it holds the S3 secret key: \
                         run `chmod 600 {}` (and consider the key leaked: remove the file to \
                         generate a new pair)",
                        mode & 0o777,
                        path.display()
                    )));
                }
            }
            let c: StoredCredentials = serde_json::from_slice(&bytes).map_err(|_| {
                err("not valid JSON with access_key_id and secret_access_key".into())
            })?;
            return Ok(Credentials {
                access_key_id: c.access_key_id,
                secret_access_key: c.secret_access_key,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let fresh = generate_credentials();
    let stored = StoredCredentials {
        access_key_id: fresh.access_key_id,
        secret_access_key: fresh.secret_access_key,
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| err(e.to_string()))?;
    crate::store::fsutil::write_private_file(&path, &json).map_err(|e| err(e.to_string()))?;
    Ok(Credentials {
        access_key_id: stored.access_key_id,
        secret_access_key: stored.secret_access_key,
    })
}
