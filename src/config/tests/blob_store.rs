//! `[storage] backend`: local by default; `s3` with its keys from the file
//! or the environment (`STOWAGE_STORAGE_*`), each mistake naming its key
//! and never the secret.

use crate::config::file::FileConfig;
use crate::config::{
    BlobStoreConfig, Config, Overrides, S3StoreConfig, DEFAULT_S3_GC_GRACE_SECS,
    DEFAULT_S3_PART_SIZE, DEFAULT_S3_PREFIX,
};

const S3_TOML: &str = "[storage]\nbackend = \"s3\"\ns3_endpoint = \"http://127.0.0.1:3900/\"\n\
                       s3_bucket = \"stowage-blobs\"\ns3_access_key_id = \"GKabc\"\n\
                       s3_secret_access_key = \"s3cretvalue\"\n";

#[test]
fn the_blob_store_is_local_unless_s3_is_chosen_with_its_keys() {
    assert_eq!(
        Config::from_toml("").unwrap().storage.blobs,
        BlobStoreConfig::Local
    );
    let c = Config::from_toml(&format!("{S3_TOML}s3_region = \"garage\"\n")).unwrap();
    let want = S3StoreConfig {
        endpoints: vec!["http://127.0.0.1:3900".into()],
        bucket: "stowage-blobs".into(),
        region: "garage".into(),
        access_key_id: "GKabc".into(),
        secret_access_key: "s3cretvalue".into(),
        ca_cert: None,
        part_size: DEFAULT_S3_PART_SIZE,
        gc_grace_secs: DEFAULT_S3_GC_GRACE_SECS,
        prefix: DEFAULT_S3_PREFIX.into(),
    };
    assert_eq!(c.storage.blobs, BlobStoreConfig::S3(want.clone()));
    assert!(!format!("{c:?} {:?}", c.storage.blobs).contains("s3cretvalue"));

    // The same from the environment alone, under the names tooling uses.
    let env = |k: &str| {
        Some(
            match k {
                "STOWAGE_STORAGE_BACKEND" => "s3",
                "STOWAGE_STORAGE_S3_ENDPOINT" => "http://127.0.0.1:3900",
                "STOWAGE_STORAGE_S3_BUCKET" => "stowage-blobs",
                "STOWAGE_STORAGE_S3_REGION" => "garage",
                "STOWAGE_STORAGE_S3_ACCESS_KEY_ID" => "GKabc",
                "STOWAGE_STORAGE_S3_SECRET_ACCESS_KEY" => "s3cretvalue",
                "STOWAGE_STORAGE_S3_CA_CERT" => "/etc/ssl/site-ca.pem",
                "STOWAGE_STORAGE_S3_PART_SIZE" => "16777216",
                "STOWAGE_STORAGE_S3_GC_GRACE_SECS" => "60",
                "STOWAGE_STORAGE_S3_PREFIX" => "site-a/blobs/",
                _ => return None,
            }
            .to_string(),
        )
    };
    let c = Config::resolve(FileConfig::default(), env, &Overrides::default()).unwrap();
    assert_eq!(
        c.storage.blobs,
        BlobStoreConfig::S3(S3StoreConfig {
            ca_cert: Some("/etc/ssl/site-ca.pem".into()),
            part_size: 16 << 20,
            gc_grace_secs: 60,
            prefix: "site-a/blobs/".into(),
            ..want
        })
    );
}

#[test]
fn each_blob_store_mistake_names_its_key_never_the_secret() {
    let without = |key: &str| {
        S3_TOML
            .lines()
            .filter(|l| !l.starts_with(key))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases = [
        (
            "[storage]\nbackend = \"ceph\"".to_string(),
            "`storage.backend`",
        ),
        (
            "[storage]\ns3_secret_access_key = \"s3cretvalue\"".to_string(),
            "`storage.s3_secret_access_key`",
        ),
        (without("s3_endpoint"), "`storage.s3_endpoint`"),
        (without("s3_bucket"), "`storage.s3_bucket`"),
        (without("s3_access_key_id"), "`storage.s3_access_key_id`"),
        (
            without("s3_secret_access_key"),
            "`storage.s3_secret_access_key`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "ftp://h"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "http://k:s3cretvalue@h:1"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "http://h:1/prefix"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "http://a:1, ftp://b:1"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "http://a:1,,http://b:1"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("http://127.0.0.1:3900/", "http://a:1/, http://a:1"),
            "`storage.s3_endpoint`",
        ),
        (
            S3_TOML.replace("stowage-blobs", "Stowage_Blobs"),
            "`storage.s3_bucket`",
        ),
        (
            format!("{S3_TOML}s3_part_size = 1048576\n"),
            "`storage.s3_part_size`",
        ),
    ];
    let bad_prefixes = [
        "", "blobs", "/blobs/", "a//b/", "../x/", "a/./", "sp ace/", "ü/",
    ];
    let cases = cases.into_iter().chain(bad_prefixes.iter().map(|p| {
        (
            format!("{S3_TOML}s3_prefix = \"{p}\"\n"),
            "`storage.s3_prefix`",
        )
    }));
    for (toml, key) in cases {
        let e = Config::from_toml(&toml).unwrap_err().to_string();
        assert!(e.contains(key), "{toml}: {e}");
        assert!(!e.contains("s3cretvalue"), "{toml}: {e}");
    }
}

/// `s3_endpoint` names several nodes of one cluster, comma-separated (in
/// the file or the environment): all kept, in their order, each without a
/// trailing `/`.
#[test]
fn several_comma_separated_endpoints_are_kept_in_their_order() {
    let toml = S3_TOML.replace(
        "http://127.0.0.1:3900/",
        "http://10.0.0.1:3900, https://node2.example:3900/ ,http://[::1]:3900",
    );
    let c = Config::from_toml(&toml).unwrap();
    let BlobStoreConfig::S3(s3) = &c.storage.blobs else {
        panic!("not the S3 store: {:?}", c.storage.blobs)
    };
    assert_eq!(
        s3.endpoints,
        [
            "http://10.0.0.1:3900",
            "https://node2.example:3900",
            "http://[::1]:3900"
        ]
    );
    assert!(
        c.storage
            .blobs
            .describe()
            .contains("https://node2.example:3900"),
        "{}",
        c.storage.blobs.describe()
    );
}
