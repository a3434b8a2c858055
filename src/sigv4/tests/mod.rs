//! Cross-step tests: known-answer suites from AWS, requests captured from botocore, and
//! presign/verify, header-auth, aws-chunked, checksum and SigV2 behaviour.
//!
//! Owns: loading the test vectors under `tests/data/sigv4/` and checking every step against
//! them, plus the round-trip, tampering, error-order and time-window tests of the verifiers
//! and the chunk decoder.
//! Must never: reach outside the crate's own test data, or use the wall clock.

mod aws_suite;
mod botocore;
mod checksums;
mod chunked_decode;
mod claims;
mod header_auth;
mod presign_verify;
mod s3_examples;
mod sign_request;
mod v2_auth;

use std::path::PathBuf;

/// `tests/data/sigv4` of the crate being tested.
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}

/// Parses a JSON file under [`data_dir`].
fn load_json(name: &str) -> serde_json::Value {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// `[[name, value], …]` or `{name: value, …}` as owned pairs.
fn json_pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    match v {
        serde_json::Value::Array(items) => items.iter().map(|p| (s(&p[0]), s(&p[1]))).collect(),
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), s(v))).collect(),
        other => panic!("not a header list: {other}"),
    }
}
