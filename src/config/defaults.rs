//! The value every setting takes when neither `config.toml` nor the
//! environment gives one, and the fixed bounds some are checked against.
//!
//! Owns the numbers; the shipped `config.toml` states the same ones (a
//! test holds them equal). Must never hold logic: resolving applies them.
//! A leaf of `config/`.

/// Default size limit of one upload: 5 GiB, S3's own single-PUT limit.
pub const DEFAULT_MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Default lifetime of a presigned URL: 15 minutes, as the published API.
pub const DEFAULT_PRESIGN_EXPIRY_SECS: u64 = 900;
/// Default age at which an unfinished multipart upload is abandoned: 1 day.
pub const DEFAULT_ABANDONED_MULTIPART_SECS: u64 = 86_400;

/// Default idle timeout of a connection.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default time allowed for a request's headers.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Default limit of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1024;
/// Default limit of header fields in one request.
pub const DEFAULT_MAX_HEADERS: u64 = 100;
/// Default presign rate of one token.
pub const DEFAULT_PRESIGN_PER_TOKEN_PER_SEC: u64 = 1000;
/// Default time uploads in flight get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// Default rate of failed authentications from one address.
pub const DEFAULT_AUTH_FAILURES_PER_SEC: u64 = 10;
/// Default time allowed for the fields of a form upload before its
/// signature.
pub const DEFAULT_FORM_FIELDS_TIMEOUT_SECS: u64 = 20;
/// Longest time that may be configured for them: a connection held that
/// long by a client nobody has authenticated is already generous.
pub const MAX_FORM_FIELDS_TIMEOUT_SECS: u64 = 60;
/// Default least average rate of those fields.
pub const DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC: u64 = 1024;
/// Time a form's fields get before their rate is held to the minimum, so
/// a client that pauses at the start (a slow network's first round trips)
/// is not cut off for it.
pub const FORM_FIELDS_RATE_GRACE_SECS: u64 = 5;

/// Default free-space reserve: 256 MiB.
pub const DEFAULT_RESERVE_BYTES: u64 = 256 << 20;
