//! `STOWAGE_*` environment variables: the name of each key's variable and
//! reading a typed value from it, falling back to the file's.
//!
//! Owns the rule that the environment overrides the file and the parsing of
//! its text (numbers, booleans). Must never read the process environment
//! itself: the lookup is passed in (`std::env::var` in the binary, a
//! closure in tests), so resolving stays a pure function.

use super::error::{invalid, ConfigError};

/// `s3.access_key_id` → `STOWAGE_S3_ACCESS_KEY_ID`.
pub fn env_name(key: &str) -> String {
    format!("STOWAGE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// The text of `key`: its variable's when set, else the file's.
pub(super) fn pick(
    env: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    file_value: Option<String>,
) -> Option<String> {
    env(&env_name(key)).or(file_value)
}

pub(super) fn parse_u64(
    key: &'static str,
    env: &impl Fn(&str) -> Option<String>,
    file_value: Option<u64>,
) -> Result<Option<u64>, ConfigError> {
    match env(&env_name(key)) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid(key, format!("'{v}' is not a non-negative integer"))),
        None => Ok(file_value),
    }
}

pub(super) fn parse_bool(
    key: &'static str,
    env: &impl Fn(&str) -> Option<String>,
    file_value: Option<bool>,
) -> Result<Option<bool>, ConfigError> {
    match env(&env_name(key)) {
        Some(v) => match v.trim() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(invalid(key, format!("'{v}' is not true or false"))),
        },
        None => Ok(file_value),
    }
}
