//! Resolving: each invalid value names its key, a wildcard `listen` needs
//! a `public_url`, the environment overrides the file and flags override
//! both.

use crate::config::file::FileConfig;
use crate::config::{Config, ConfigError, Overrides};

#[test]
fn invalid_values_name_their_key() {
    for (toml, key) in [
        ("listen = 'nope'", "listen"),
        ("public_url = 'ftp://x'", "public_url"),
        ("public_url = 'http://x/prefix'", "public_url"),
        ("[s3]\nbucket = 'A'", "s3.bucket"),
        ("[s3]\nregion = 'US EAST'", "s3.region"),
        ("[s3]\naccess_key_id = 'AKID'", "s3.secret_access_key"),
        (
            "[upload]\npresign_expiry_secs = 604801",
            "upload.presign_expiry_secs",
        ),
        ("[upload]\nmax_size = 0", "upload.max_size"),
    ] {
        match Config::from_toml(toml) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{toml}"),
            other => panic!("{toml}: expected invalid {key}, got {other:?}"),
        }
    }
}

#[test]
fn wildcard_listen_needs_a_public_url() {
    let e = Config::from_toml("listen = '0.0.0.0:8080'").unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Invalid {
                key: "public_url",
                ..
            }
        ),
        "{e}"
    );
    let c =
        Config::from_toml("listen = '0.0.0.0:8080'\npublic_url = 'http://10.1.2.3:8080'").unwrap();
    assert_eq!(c.public_url.unwrap().host, "10.1.2.3:8080");
}

#[test]
fn env_overrides_file_and_flags_override_env() {
    let env = |k: &str| match k {
        "STOWAGE_LISTEN" => Some("127.0.0.1:9000".to_string()),
        "STOWAGE_UPLOAD_MAX_SIZE" => Some("1024".to_string()),
        "STOWAGE_S3_BUCKET" => Some("photos".to_string()),
        _ => None,
    };
    let file = FileConfig {
        listen: Some("127.0.0.1:7000".into()),
        ..Default::default()
    };
    let c = Config::resolve(file, env, &Overrides::default()).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.upload.max_size, 1024);
    assert_eq!(c.s3.bucket, "photos");
    let flags = Overrides {
        listen: Some("127.0.0.1:9500".into()),
        data_dir: None,
    };
    let c = Config::resolve(FileConfig::default(), env, &flags).unwrap();
    assert_eq!(c.listen.port(), 9500);
    let relaxed = |k: &str| (k == "STOWAGE_STORAGE_FSYNC").then(|| "false".to_string());
    let c = Config::resolve(FileConfig::default(), relaxed, &Overrides::default()).unwrap();
    assert!(!c.storage.fsync);
}
