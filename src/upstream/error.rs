//! [`UpstreamError`]: what can go wrong talking to the S3 store, in the
//! kinds the storage layer acts on (503 for an unreachable store, 507 for
//! a full one, "absent" for a missing object, …).
//!
//! Must never: carry a response body (an S3 error body may echo the string
//! to sign or the request's headers), a signature, the secret, or a
//! dependency's error type; only the S3 error code, checked to look like
//! one, travels.

/// A failed call to the upstream S3 store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No answer: the connection was refused, timed out, was reset or cut,
    /// TLS failed, or nothing moved for the idle timeout. The storage layer
    /// answers 503: the store may be back in a moment.
    #[error("the upstream S3 store at {endpoint} is unreachable: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// The store refused the request with an S3 error (`code` from the
    /// XML body, or empty when there was none, as for HEAD).
    #[error("the upstream S3 store answered {status} {}", shown(code))]
    Status { status: u16, code: String },
    /// The store says it is out of space (507, or an S3 code saying so).
    #[error("the upstream S3 store is out of space ({status} {})", shown(code))]
    Full { status: u16, code: String },
    /// No such object (or multipart upload) upstream.
    #[error("no such object or upload in the upstream S3 store")]
    NotFound,
    /// An answer that makes no sense (unparseable XML, a missing ETag, a
    /// body of the wrong length, a range that was not asked for).
    #[error("the upstream S3 store gave an unusable answer: {0}")]
    Protocol(String),
    /// The body given to send failed: its source's error, or a length other
    /// than the Content-Length it was sent with. Not the store's fault.
    #[error("the body being sent upstream failed: {0}")]
    Body(String),
    /// The configuration cannot work (a bad endpoint URL, an unreadable CA
    /// file, an empty bucket name).
    #[error("upstream S3 configuration: {0}")]
    Config(String),
}

impl UpstreamError {
    /// Whether trying the same request again later may succeed: the store
    /// was unreachable, or answered 5xx, 408 or 429.
    pub fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } => true,
            UpstreamError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            _ => false,
        }
    }

    /// The error an S3 refusal (`status`, error `code`) means. `code` is
    /// kept only if it looks like an S3 code.
    pub fn from_refusal(status: u16, code: &str) -> UpstreamError {
        let code = if looks_like_a_code(code) {
            code.to_owned()
        } else {
            String::new()
        };
        if status == 507 || FULL_CODES.contains(&code.as_str()) {
            return UpstreamError::Full { status, code };
        }
        // A HEAD answer has no body, so no code: its 404 is "absent" too.
        if status == 404 && matches!(code.as_str(), "NoSuchKey" | "NoSuchUpload" | "") {
            return UpstreamError::NotFound;
        }
        UpstreamError::Status { status, code }
    }
}

/// S3 codes that mean "out of space", from the stores we know: our own
/// gateway and versitygw (`InsufficientStorage`, 507), MinIO
/// (`XMinioStorageFull`), SeaweedFS and others (`StorageFull`).
const FULL_CODES: [&str; 3] = ["InsufficientStorage", "XMinioStorageFull", "StorageFull"];

/// An S3 error code: a short run of letters, digits, `.`, `_` or `-`.
/// Anything else is not echoed (it could be any text of the body).
fn looks_like_a_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn shown(code: &str) -> &str {
    if code.is_empty() {
        "(no error code)"
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_sort_into_the_kinds_the_storage_layer_acts_on() {
        assert_eq!(
            UpstreamError::from_refusal(404, "NoSuchKey"),
            UpstreamError::NotFound
        );
        assert_eq!(
            UpstreamError::from_refusal(404, ""),
            UpstreamError::NotFound
        );
        assert_eq!(
            UpstreamError::from_refusal(404, "NoSuchBucket"),
            UpstreamError::Status {
                status: 404,
                code: "NoSuchBucket".into()
            }
        );
        assert!(matches!(
            UpstreamError::from_refusal(507, "InsufficientStorage"),
            UpstreamError::Full { status: 507, .. }
        ));
        assert!(matches!(
            UpstreamError::from_refusal(503, "XMinioStorageFull"),
            UpstreamError::Full { status: 503, .. }
        ));
        let denied = UpstreamError::from_refusal(403, "SignatureDoesNotMatch");
        assert_eq!(
            denied.to_string(),
            "the upstream S3 store answered 403 SignatureDoesNotMatch"
        );
        assert!(!denied.is_transient());
        assert!(UpstreamError::from_refusal(503, "SlowDown").is_transient());
    }

    #[test]
    fn only_code_shaped_codes_are_echoed() {
        let e = UpstreamError::from_refusal(400, "secret=abc <StringToSign>");
        assert_eq!(
            e,
            UpstreamError::Status {
                status: 400,
                code: String::new()
            }
        );
        assert_eq!(
            e.to_string(),
            "the upstream S3 store answered 400 (no error code)"
        );
    }
}
