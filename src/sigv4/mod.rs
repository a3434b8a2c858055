//! AWS Signature Version 4, query-string (presigned URL) flavour, as Amazon S3 applies it.
//!
//! Owns: turning a request description into a signature (presign) and checking one that a
//! client sent (verify), as pure functions. The clock is always passed in (`now`), secrets come
//! from the caller, and nothing here does I/O, so every path is testable with fixed inputs.
//! Must never: read the clock, touch the network or disk, log, panic on client input, or put a
//! secret, signing key or signature into an error or `Debug` output.
//!
//! One step per file, in signing order:
//! - [`encode`]: AWS `UriEncode` and strict percent-decoding.
//! - [`canonical`]: canonical URI / query / headers / request (S3 rules: no path
//!   normalisation, single encoding).
//! - [`string_to_sign`]: the string to sign, dates, credential scope, chunk variant.
//! - [`key`]: credentials, signing-key derivation, HMAC.
//! - [`mod@presign`]: building a presigned query string.
//! - [`verify`]: checking a presigned request, in S3's error order.
//! - [`error`]: [`AuthError`] with S3 codes and HTTP statuses.

pub mod canonical;
pub mod encode;
pub mod error;
pub mod key;
pub mod presign;
pub mod string_to_sign;
pub mod verify;

#[cfg(test)]
mod tests;

pub use error::AuthError;
pub use key::{signing_key, Credentials};
pub use presign::{presign, PresignParams};
pub use verify::{verify_presigned, Presigned, RequestParts, VerifyParams};

/// Longest validity a presigned URL may have: 7 days, as in S3.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// How far in the future `X-Amz-Date` may be before the request is refused (15 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 900;
