//! Why a request's authentication was refused, as S3 would say it (SigV4 query and header
//! auth, SigV2 query and header auth).
//!
//! Owns: the error variants, their S3 error codes, HTTP statuses and client-facing messages.
//! Must never: carry or print the secret, the signature (given or computed), the signing key or
//! the canonical request; those would let a caller probe or leak credentials. Client-supplied
//! values are echoed only when they are harmless scope parts, and then length-capped.

/// Authentication failure for a SigV4 (query or header) or SigV2 request.
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
    /// `X-Amz-Date` is further in the future than the allowed clock skew (query auth), or the
    /// request time is more than the allowed skew away from now in either direction (header
    /// auth).
    #[error("The difference between the request time and the server's time is too large.")]
    RequestTimeTooSkewed,
    /// The `Authorization` header (SigV4) cannot be parsed, or its credential scope is
    /// inconsistent (date, service, terminator). The message says what is wrong.
    #[error("The authorization header is malformed; {0}")]
    AuthorizationHeaderMalformed(String),
    /// The SigV4 `Authorization` header's credential scope names another region. S3 answers 400
    /// `AuthorizationHeaderMalformed` with a `<Region>` element naming the expected region.
    #[error("The authorization header is malformed; the region '{given}' is wrong; expecting '{expected}'")]
    HeaderRegionMismatch {
        /// Region from the request's credential scope (length-capped).
        given: String,
        /// Region this gateway signs for.
        expected: String,
    },
    /// A header S3 requires for this kind of authentication is absent (e.g.
    /// `x-amz-content-sha256` on SigV4 header auth).
    #[error("Your request was missing a required header: {0}")]
    MissingSecurityHeader(&'static str),
    /// A header or parameter has a value S3 does not accept (e.g. an `x-amz-content-sha256` that
    /// is neither a SHA-256 nor a known keyword, or a SigV2 `Authorization` without `:`).
    #[error("{0}")]
    InvalidArgument(String),
    /// S3's generic 403 for authentication information that is missing or unusable: no valid
    /// `Date`/`x-amz-date`, missing SigV2 query parameters, `host` not signed.
    #[error("{0}")]
    AccessDenied(String),
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
            AuthError::AuthorizationHeaderMalformed(_) | AuthError::HeaderRegionMismatch { .. } => {
                "AuthorizationHeaderMalformed"
            }
            AuthError::MissingSecurityHeader(_) => "MissingSecurityHeader",
            AuthError::InvalidArgument(_) => "InvalidArgument",
            AuthError::AccessDenied(_) => "AccessDenied",
        }
    }

    /// The region S3 names in the error body's `<Region>` element, when it has one.
    pub fn expected_region(&self) -> Option<&str> {
        match self {
            AuthError::HeaderRegionMismatch { expected, .. } => Some(expected),
            _ => None,
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::QueryParameters(_)
            | AuthError::InvalidUri
            | AuthError::AuthorizationHeaderMalformed(_)
            | AuthError::HeaderRegionMismatch { .. }
            | AuthError::MissingSecurityHeader(_)
            | AuthError::InvalidArgument(_) => 400,
            AuthError::InvalidAccessKeyId
            | AuthError::RegionMismatch { .. }
            | AuthError::ServiceMismatch { .. }
            | AuthError::SignatureDoesNotMatch
            | AuthError::Expired
            | AuthError::RequestTimeTooSkewed
            | AuthError::AccessDenied(_) => 403,
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
            (
                AuthError::AuthorizationHeaderMalformed("x".into()),
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::HeaderRegionMismatch {
                    given: "eu-west-1".into(),
                    expected: "us-east-1".into(),
                },
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::MissingSecurityHeader("x-amz-content-sha256"),
                "MissingSecurityHeader",
                400,
            ),
            (
                AuthError::InvalidArgument("x".into()),
                "InvalidArgument",
                400,
            ),
            (AuthError::AccessDenied("x".into()), "AccessDenied", 403),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.s3_code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
        }
        assert_eq!(AuthError::Expired.to_string(), "Request has expired");
        let region = AuthError::HeaderRegionMismatch {
            given: "eu-west-1".into(),
            expected: "us-east-1".into(),
        };
        assert_eq!(
            region.to_string(),
            "The authorization header is malformed; the region 'eu-west-1' is wrong; \
             expecting 'us-east-1'"
        );
        assert_eq!(region.expected_region(), Some("us-east-1"));
    }

    #[test]
    fn echo_caps_length_on_char_boundary() {
        assert_eq!(echo("eu-west-1"), "eu-west-1");
        let long = "ሴ".repeat(100);
        let capped = echo(&long);
        assert_eq!(capped.chars().count(), 65);
    }
}
