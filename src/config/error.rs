//! The one error of configuration, [`ConfigError`], and the helper that
//! makes its most common variant.
//!
//! Owns the wording of what an operator is told. Must never carry a
//! secret's value: an error names the key or file to fix, and its value
//! only when the value cannot be a secret. A leaf: every other file of
//! `config/` may name it, and it names none of them.

use std::path::PathBuf;

/// Why the configuration could not be loaded. Every variant names the key
/// or file so an operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot use S3 credentials file {path}: {message}")]
    Credentials { path: PathBuf, message: String },
}

/// `key` has a value that cannot be used, for the reason in `message`.
pub(super) fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}
