//! Resolving: `config.toml`, then `STOWAGE_*` environment variables, then
//! command-line flags, each overriding the one before, into one validated
//! [`Config`].
//!
//! Owns the order of the three sources and the checks that span sections
//! (a wildcard `listen` needs a `public_url`; TLS needs an `https://` one).
//! Each section with rules of its own is resolved by its file (`s3.rs`,
//! `limits.rs`, `cors.rs`, `index.rs`, `tls_files.rs`). Must never read
//! the process environment itself (the lookup is passed in) nor touch the
//! data dir: a `Config` is values only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::blob_store::resolve_blob_store;
use super::cors::resolve_cors;
use super::defaults::{DEFAULT_MAX_SIZE, DEFAULT_PRESIGN_EXPIRY_SECS, DEFAULT_RESERVE_BYTES};
use super::env::{env_name, parse_bool, parse_u64, pick};
use super::error::{invalid, ConfigError};
use super::file::{parse_file, FileConfig};
use super::index::resolve_index;
use super::limits::resolve_limits;
use super::public_url::PublicUrl;
use super::s3::resolve_s3;
use super::tls_files::resolve_tls;
use super::{Config, MetricsAccess, StorageConfig, UploadConfig};

/// Values given on the command line; `None` leaves the file/env value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads `path` (a missing file is an error only when `explicit`), then
    /// applies `env` (`STOWAGE_*` lookups) and `overrides`.
    pub fn load(
        path: &Path,
        explicit: bool,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => parse_file(&text).map_err(|message| ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                FileConfig::default()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Self::resolve(file, env, overrides)
    }

    /// Parses a config from TOML text (used by tests).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file = parse_file(text).map_err(|message| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message,
        })?;
        Self::resolve(file, |_| None, &Overrides::default())
    }

    /// The file's values under `env`'s and `overrides`', checked. The first
    /// mistake found is the error.
    pub(super) fn resolve(
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let listen_s = overrides
            .listen
            .clone()
            .or_else(|| pick(&env, "listen", file.listen.clone()))
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_s.parse().map_err(|_| {
            invalid(
                "listen",
                format!("'{listen_s}' is not an address like 127.0.0.1:8080"),
            )
        })?;

        let public_url = pick(&env, "public_url", file.public_url)
            .filter(|s| !s.is_empty())
            .map(|s| PublicUrl::parse(&s).map_err(|m| invalid("public_url", m)))
            .transpose()?;
        if public_url.is_none() && listen.ip().is_unspecified() {
            // http://0.0.0.0:8080 in a URL reaches nobody, and the host is
            // signed, so clients could not even correct it by hand.
            return Err(invalid(
                "public_url",
                format!(
                    "must be set when listening on the wildcard address {listen}: it is the \
                     URL clients use to reach this gateway, e.g. http://192.168.1.20:{}",
                    listen.port()
                ),
            ));
        }

        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| env(&env_name("data_dir")).map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }

        let tls = resolve_tls(&env, file.tls_cert, file.tls_key)?;
        let plain_url = public_url
            .as_ref()
            .is_some_and(|u| !u.base.starts_with("https://"));
        if tls.is_some() && plain_url {
            return Err(invalid(
                "public_url",
                "must be an https:// URL when the gateway serves TLS itself (tls_cert)",
            ));
        }

        let s3 = resolve_s3(file.s3, &env)?;
        let max_size =
            parse_u64("upload.max_size", &env, file.upload.max_size)?.unwrap_or(DEFAULT_MAX_SIZE);
        if max_size == 0 {
            return Err(invalid("upload.max_size", "must be greater than 0"));
        }
        let presign_expiry_secs = parse_u64(
            "upload.presign_expiry_secs",
            &env,
            file.upload.presign_expiry_secs,
        )?
        .unwrap_or(DEFAULT_PRESIGN_EXPIRY_SECS);
        if !(1..=crate::sigv4::MAX_EXPIRES_SECS).contains(&presign_expiry_secs) {
            return Err(invalid(
                "upload.presign_expiry_secs",
                format!(
                    "{presign_expiry_secs} is outside 1..={} (SigV4 allows at most 7 days)",
                    crate::sigv4::MAX_EXPIRES_SECS
                ),
            ));
        }
        let fsync = parse_bool("storage.fsync", &env, file.storage.fsync)?.unwrap_or(true);
        let limits = resolve_limits(&file.limits, &env)?;
        let cors = resolve_cors(file.cors)?;
        let metrics = match pick(&env, "metrics.access", file.metrics.access).as_deref() {
            None | Some("token") => MetricsAccess::Token,
            Some("open") => MetricsAccess::Open,
            Some("off") => MetricsAccess::Off,
            Some(other) => {
                return Err(invalid(
                    "metrics.access",
                    format!("'{other}' is not one of token, open, off"),
                ))
            }
        };
        let reserve_bytes = parse_u64("storage.reserve_bytes", &env, file.storage.reserve_bytes)?
            .unwrap_or(DEFAULT_RESERVE_BYTES);
        let dedupe = parse_bool("upload.dedupe", &env, file.upload.dedupe)?.unwrap_or(true);
        let blobs = resolve_blob_store(&env, &file.storage)?;
        let index = resolve_index(
            pick(&env, "index.backend", file.index.backend),
            pick(&env, "index.url", file.index.url),
        )?;

        Ok(Config {
            listen,
            public_url,
            data_dir,
            tls,
            s3,
            storage: StorageConfig {
                fsync,
                reserve_bytes,
                blobs,
            },
            limits,
            cors,
            metrics,
            index,
            upload: UploadConfig {
                max_size,
                presign_expiry_secs,
                dedupe,
            },
        })
    }
}
