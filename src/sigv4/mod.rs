//! AWS request authentication as Amazon S3 applies it: Signature Version 4 (query-string
//! presigned URLs and the `Authorization` header, with `aws-chunked` streaming payloads and
//! their trailers), legacy Signature Version 2, and the `x-amz-checksum-*` algorithms.
//!
//! Owns: turning a request description into a signature (presign) and checking one that a
//! client sent (verify), decoding and verifying `aws-chunked` bodies, and computing checksums,
//! as pure functions and sans-I/O state machines. The clock is always passed in (`now`),
//! secrets come from the caller, and nothing here does I/O, so every path is testable with
//! fixed inputs.
//! Must never: read the clock, touch the network or disk, log, panic on client input, or put a
//! secret, signing key or signature into an error or `Debug` output.
//!
//! One step per file, in signing order:
//! - [`encode`]: AWS `UriEncode` and strict percent-decoding.
//! - [`canonical`]: canonical URI / query / headers / request (S3 rules: no path
//!   normalisation, single encoding).
//! - [`string_to_sign`]: the string to sign, dates, credential scope, chunk and trailer
//!   variants.
//! - [`http_date`]: RFC 2616 dates from `Date` / `x-amz-date` headers.
//! - [`credential`]: the five parts of a SigV4 credential, shape-checked.
//! - [`key`]: credentials, signing-key derivation ([`SigningKey`]), HMAC, and the secret the
//!   caller looked up for the key a request claims ([`ClaimedSecret`]; each verifier has a
//!   `*_key_id` function reading that claim without verifying anything).
//! - [`mod@presign`]: building a presigned query string.
//! - [`verify`]: checking a presigned (query) request, in S3's error order.
//! - [`header`]: checking an `Authorization: AWS4-HMAC-SHA256 …` request and reading its
//!   payload mode ([`PayloadMode`]).
//! - [`sign`]: signing an outgoing request with an `Authorization` header
//!   ([`sign_request`]), as the S3 client of `src/upstream/` sends them.
//! - [`chunked`]: the sans-I/O `aws-chunked` decoder ([`ChunkedDecoder`]) with chunk and
//!   trailer signature verification.
//! - [`checksum`]: CRC32 / CRC32C / CRC64NVME / SHA-1 / SHA-256 as S3 prints them.
//! - [`multipart_checksum`]: an assembled object's composite or full-object checksum, from
//!   its parts'.
//! - [`v2`]: SigV2 (HMAC-SHA1) query and header authentication.
//! - [`error`]: [`AuthError`] with S3 codes and HTTP statuses ([`ChunkError`] lives with the
//!   decoder).

pub mod canonical;
pub mod checksum;
pub mod chunked;
pub mod credential;
pub mod encode;
pub mod error;
pub mod header;
pub mod http_date;
pub mod key;
pub mod multipart_checksum;
pub mod post_policy;
pub mod presign;
pub mod sign;
pub mod string_to_sign;
pub mod v2;
pub mod verify;

#[cfg(test)]
mod tests;

pub use checksum::{ChecksumAlgorithm, Checksummer};
pub use chunked::{ChunkError, ChunkedDecoder, StreamingMode, Trailers};
pub use error::AuthError;
pub use header::{header_key_id, verify_header_auth, HeaderAuth, PayloadMode};
pub use key::{signing_key, ClaimedSecret, Credentials, SigningKey};
pub use presign::{presign, PresignParams};
pub use sign::{sign_request, AuthHeaders, SignRequest};
pub use v2::{
    presign_v2, v2_header_key_id, v2_query_key_id, verify_v2_header, verify_v2_query,
    PresignV2Params, V2Auth,
};
pub use verify::{presigned_key_id, verify_presigned, Presigned, RequestParts, VerifyParams};

/// Longest validity a presigned URL may have: 7 days, as in S3.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// Largest difference allowed between the request time and `now` (15 minutes): for query auth,
/// how far in the future `X-Amz-Date` may be; for header auth (SigV4 and SigV2), in either
/// direction.
pub const MAX_CLOCK_SKEW_SECS: i64 = 900;
