//! `[limits]`: ranges, trusted proxies from the file or the environment,
//! the form fields' deadline.

use crate::config::file::{FileConfig, FileLimits};
use crate::config::{
    Config, ConfigError, IpNet, Overrides, DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC,
    DEFAULT_FORM_FIELDS_TIMEOUT_SECS,
};

#[test]
fn limits_are_checked() {
    for (text, key) in [
        (
            "[limits]\nidle_timeout_secs = 0",
            "limits.idle_timeout_secs",
        ),
        ("[limits]\nmax_connections = 0", "limits.max_connections"),
        ("[limits]\nmax_headers = 0", "limits.max_headers"),
        (
            "[limits]\npresign_per_token_per_sec = 99999999999",
            "limits.presign_per_token_per_sec",
        ),
    ] {
        let e = Config::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
    let c = Config::from_toml("[limits]\npresign_per_token_per_sec = 0").unwrap();
    assert_eq!(c.limits.presign_per_token_per_sec, 0);
}

#[test]
fn trusted_proxies_are_addresses_or_ranges_from_file_or_env() {
    let c = Config::from_toml("").unwrap();
    assert!(
        c.limits.trusted_proxies.is_empty(),
        "nobody is trusted by default"
    );
    let c = Config::from_toml(
        "[limits]\ntrusted_proxies = ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', \
         '::ffff:192.168.1.1']",
    )
    .unwrap();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let trusted = |s: &str| c.limits.trusted_proxies.iter().any(|n| n.contains(ip(s)));
    assert!(trusted("127.0.0.1"));
    assert!(trusted("::ffff:127.0.0.1"), "a v4 peer on a v6 socket");
    assert!(!trusted("127.0.0.2"));
    assert!(trusted("10.200.3.4"));
    assert!(!trusted("11.0.0.1"));
    assert!(trusted("fd12:3456::1"));
    assert!(!trusted("fe80::1"));
    assert!(trusted("192.168.1.1"));
    // Host bits in a range are cleared; /0 is everyone of that family.
    let n = IpNet::parse("10.1.2.3/8").unwrap();
    assert_eq!(format!("{n:?}"), "10.0.0.0/8");
    assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    assert!(!IpNet::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
    for bad in [
        "nope",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/x",
        "10.0.0.0/",
        "",
    ] {
        let e = Config::from_toml(&format!("[limits]\ntrusted_proxies = ['{bad}']")).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "limits.trusted_proxies",
                    ..
                }
            ),
            "{bad}: {e}"
        );
    }
    let env = |k: &str| {
        (k == "STOWAGE_LIMITS_TRUSTED_PROXIES").then(|| "127.0.0.1, 192.168.0.0/16,".to_string())
    };
    let file = FileConfig {
        limits: FileLimits {
            trusted_proxies: Some(vec!["10.0.0.1".into()]),
            ..Default::default()
        },
        ..Default::default()
    };
    let c = Config::resolve(file, env, &Overrides::default()).unwrap();
    assert_eq!(
        format!("{:?}", c.limits.trusted_proxies),
        "[127.0.0.1/32, 192.168.0.0/16]"
    );
}

#[test]
fn form_fields_limits_are_checked() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(
        c.limits.form_fields_timeout.as_secs(),
        DEFAULT_FORM_FIELDS_TIMEOUT_SECS
    );
    assert_eq!(
        c.limits.form_fields_min_bytes_per_sec,
        DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC
    );
    for bad in [0, 61, 3600] {
        let e = Config::from_toml(&format!("[limits]\nform_fields_timeout_secs = {bad}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.form_fields_timeout_secs"), "{e}");
    }
    let c = Config::from_toml(
        "[limits]\nform_fields_timeout_secs = 60\nform_fields_min_bytes_per_sec = 0",
    )
    .unwrap();
    assert_eq!(c.limits.form_fields_timeout.as_secs(), 60);
    assert_eq!(c.limits.form_fields_min_bytes_per_sec, 0);
}
