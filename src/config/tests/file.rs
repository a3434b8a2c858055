//! The file's shape: type errors and unknown keys name the key.

use crate::config::Config;

#[test]
fn type_errors_name_the_key() {
    let e = Config::from_toml("[upload]\nmax_size = \"5G\"").unwrap_err();
    assert!(e.to_string().contains("`upload.max_size`"), "{e}");
    let e = Config::from_toml("listen = 8080").unwrap_err();
    assert!(e.to_string().contains("`listen`"), "{e}");
}

#[test]
fn unknown_keys_are_refused() {
    let e = Config::from_toml("[upload]\nmax_sise = 3").unwrap_err();
    assert!(e.to_string().contains("max_sise"), "{e}");
}
