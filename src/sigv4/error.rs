//! Why a presigned request was refused, as S3 would say it.
//!
//! Owns: the error variants, their S3 error codes, HTTP statuses and client-facing messages.
//! Must never: carry or print the secret, the signature (given or computed), the signing key or
//! the canonical request; those would let a caller probe or leak credentials. Client-supplied
//! values are echoed only when they are harmless scope parts, and then length-capped.

/// Authentication failure for a query-string (presigned) SigV4 request.
///
/// `Display` is the message to send to the client; [`AuthError::s3_code`] and
/// [`AuthError::http_status`] give the S3 `<Code>` and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The auth query parameters are missing, repeated, malformed or inconsistent.
    /// The message names the parameter and what is wrong with it.
    #[error("{0}")]
    QueryParameters(String),
    /// The request path is not valid percent-encoded UTF-8.
    #[error("Couldn't parse the specified URI.")]
    InvalidUri,
    /// No secret is known for the access key id.
    #[error("The AWS access key Id you provided does not exist in our records.")]
    InvalidAccessKeyId,
    /// The credential scope names a different region than this gateway's.
    #[error(
        "The request signature we calculated does not match the signature you provided: \
         the credential scope region '{given}' does not match this gateway's region '{expected}'."
    )]
    RegionMismatch {
        /// Region from the request's credential scope (length-capped).
        given: String,
        /// Region this gateway signs for.
        expected: String,
    },
    /// The credential scope names a different service than this gateway's.
    #[error(
        "The request signature we calculated does not match the signature you provided: \
         the credential scope service '{given}' does not match this gateway's service '{expected}'."
    )]
    ServiceMismatch {
        /// Service from the request's credential scope (length-capped).
        given: String,
        /// Service this gateway signs for.
        expected: String,
    },
    /// The computed signature differs from the one given.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    /// The URL's validity window (`X-Amz-Date` + `X-Amz-Expires`) has passed.
    #[error("Request has expired")]
    Expired,
    /// `X-Amz-Date` is further in the future than the allowed clock skew.
    #[error("The difference between the request time and the server's time is too large.")]
    RequestTimeTooSkewed,
}

impl AuthError {
    /// The S3 error code for the response's `<Code>` element.
    pub fn s3_code(&self) -> &'static str {
        match self {
            AuthError::QueryParameters(_) => "AuthorizationQueryParametersError",
            AuthError::InvalidUri => "InvalidURI",
            AuthError::InvalidAccessKeyId => "InvalidAccessKeyId",
            AuthError::RegionMismatch { .. }
            | AuthError::ServiceMismatch { .. }
            | AuthError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            AuthError::Expired => "AccessDenied",
            AuthError::RequestTimeTooSkewed => "RequestTimeTooSkewed",
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::QueryParameters(_) | AuthError::InvalidUri => 400,
            AuthError::InvalidAccessKeyId
            | AuthError::RegionMismatch { .. }
            | AuthError::ServiceMismatch { .. }
            | AuthError::SignatureDoesNotMatch
            | AuthError::Expired
            | AuthError::RequestTimeTooSkewed => 403,
        }
    }

    pub(crate) fn query(msg: impl Into<String>) -> Self {
        AuthError::QueryParameters(msg.into())
    }
}

/// Caps a client-supplied value before it is echoed in a message, so an error body cannot be
/// inflated by a huge query parameter.
pub(crate) fn echo(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (
                AuthError::query("x"),
                "AuthorizationQueryParametersError",
                400,
            ),
            (AuthError::InvalidUri, "InvalidURI", 400),
            (AuthError::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (
                AuthError::RegionMismatch {
                    given: "a".into(),
                    expected: "b".into(),
                },
                "SignatureDoesNotMatch",
                403,
            ),
            (
                AuthError::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                403,
            ),
            (AuthError::Expired, "AccessDenied", 403),
            (AuthError::RequestTimeTooSkewed, "RequestTimeTooSkewed", 403),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.s3_code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
        }
        assert_eq!(AuthError::Expired.to_string(), "Request has expired");
    }

    #[test]
    fn echo_caps_length_on_char_boundary() {
        assert_eq!(echo("eu-west-1"), "eu-west-1");
        let long = "ሴ".repeat(100);
        let capped = echo(&long);
        assert_eq!(capped.chars().count(), 65);
    }
}
