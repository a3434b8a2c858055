//! `tls_cert` and `tls_key`: the PEM files HTTPS is served with, set both
//! or neither.
//!
//! Owns taking the pair from the environment or the file and refusing half
//! of one. Must never open or parse the files: `crate::tls` does, at
//! start-up, where a bad file is reported with its path.

use std::path::PathBuf;

use super::env::env_name;
use super::error::{invalid, ConfigError};

/// The PEM files HTTPS is served with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `STOWAGE_TLS_CERT`/`STOWAGE_TLS_KEY` over the file's paths; an empty
/// path is no path. `None`: plain HTTP.
pub(super) fn resolve_tls(
    env: &impl Fn(&str) -> Option<String>,
    file_cert: Option<PathBuf>,
    file_key: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ConfigError> {
    let tls_cert = env(&env_name("tls_cert"))
        .map(PathBuf::from)
        .or(file_cert)
        .filter(|p| !p.as_os_str().is_empty());
    let tls_key = env(&env_name("tls_key"))
        .map(PathBuf::from)
        .or(file_key)
        .filter(|p| !p.as_os_str().is_empty());
    match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            "tls_key",
            "is required when tls_cert is set (the PEM file of the certificate's key)",
        )),
        (None, Some(_)) => Err(invalid(
            "tls_cert",
            "is required when tls_key is set (the PEM file of the certificate chain)",
        )),
    }
}
