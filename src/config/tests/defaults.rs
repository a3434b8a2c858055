//! The defaults of an empty file, and the shipped `config.toml` stating
//! them.

use crate::config::{
    Config, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SIZE,
    DEFAULT_PRESIGN_PER_TOKEN_PER_SEC,
};

#[test]
fn defaults_apply_to_an_empty_file() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.s3.region, "us-east-1");
    assert_eq!(c.s3.bucket, "uploads");
    assert_eq!(c.upload.max_size, DEFAULT_MAX_SIZE);
    assert_eq!(c.upload.presign_expiry_secs, 900);
    assert!(c.upload.dedupe);
    assert!(c.storage.fsync, "durable must be the default");
    assert!(c.public_url.is_none());
    assert_eq!(c.limits.idle_timeout.as_secs(), DEFAULT_IDLE_TIMEOUT_SECS);
    assert_eq!(c.limits.max_connections as u64, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(
        u64::from(c.limits.presign_per_token_per_sec),
        DEFAULT_PRESIGN_PER_TOKEN_PER_SEC
    );
}

#[test]
fn the_shipped_config_file_parses_and_states_the_defaults() {
    let shipped = Config::from_toml(include_str!("../../../config.toml")).unwrap();
    let empty = Config::from_toml("").unwrap();
    assert_eq!(format!("{shipped:?}"), format!("{empty:?}"));
    assert_eq!(
        format!("{:?}", shipped.limits),
        format!("{:?}", empty.limits)
    );
}
