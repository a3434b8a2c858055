//! Shared settings of the property tests (`proptest`), which stand in for
//! a fuzzer in `cargo test`: each target runs a bounded number of cases so
//! the whole suite stays fast on CI's two cores.
//!
//! `PROPTEST_CASES=100000 cargo test prop_` runs every target longer, for a
//! deeper search by hand; failures are recorded under
//! `proptest-regressions/` and replayed first on every later run.

use proptest::test_runner::Config;

/// The configuration of one property: `cases` random inputs, unless
/// `PROPTEST_CASES` asks for another number.
pub(crate) fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        ..Config::default()
    }
}
