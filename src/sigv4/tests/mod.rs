//! Cross-step tests: known-answer suites from AWS and presign/verify behaviour.
//!
//! Owns: loading the test vectors under `tests/data/sigv4/` and checking every step against
//! them, plus the round-trip, tampering, error-order and time-window tests of the verifier.
//! Must never: reach outside the crate's own test data, or use the wall clock.

mod aws_suite;
mod presign_verify;
mod s3_examples;

use std::path::PathBuf;

/// `tests/data/sigv4` of the crate being tested.
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}
