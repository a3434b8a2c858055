//! Step 4b: verifying a presigned (query-authenticated) request as received.
//!
//! Owns: reading the `X-Amz-*` parameters, validating them in S3's order, rebuilding the
//! canonical request from the wire form, the constant-time signature comparison, and the
//! expiry / clock-skew checks.
//! Must never: panic or `unwrap` on client input, compare signatures with `==`, report expiry
//! or skew before the signature is proven valid (that would tell an attacker which forged
//! URLs are "nearly right"), or read the clock (the caller passes `now`).

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri_from_raw, parse_query,
};
use super::credential::Credential;
use super::error::{echo, AuthError};
use super::key::{signature, signing_key};
use super::string_to_sign::{
    credential_scope, parse_amz_date, string_to_sign, ALGORITHM, SCOPE_TERMINATOR, UNSIGNED_PAYLOAD,
};
use super::{MAX_CLOCK_SKEW_SECS, MAX_EXPIRES_SECS};

const ALGORITHM_PARAM: &str = "X-Amz-Algorithm";
const CREDENTIAL_PARAM: &str = "X-Amz-Credential";
const DATE_PARAM: &str = "X-Amz-Date";
const EXPIRES_PARAM: &str = "X-Amz-Expires";
const SIGNED_HEADERS_PARAM: &str = "X-Amz-SignedHeaders";
const SIGNATURE_PARAM: &str = "X-Amz-Signature";

/// Optional query parameter carrying the signed payload hash (default `UNSIGNED-PAYLOAD`).
pub(crate) const CONTENT_SHA256_PARAM: &str = "X-Amz-Content-Sha256";

/// The authentication parameters every presigned request must carry exactly once, in the
/// order they are checked (and so reported when missing).
pub(crate) const AUTH_PARAMS: [&str; 6] = [
    ALGORITHM_PARAM,
    CREDENTIAL_PARAM,
    DATE_PARAM,
    EXPIRES_PARAM,
    SIGNED_HEADERS_PARAM,
    SIGNATURE_PARAM,
];

/// The request as it arrived, before any interpretation.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, as received.
    pub method: &'a str,
    /// Path exactly as on the wire (may be percent-encoded).
    pub raw_path: &'a str,
    /// Query exactly as on the wire, without `?`.
    pub raw_query: &'a str,
    /// Headers with lowercase names and values as received; a name may repeat.
    pub headers: &'a [(String, String)],
}

/// What this gateway accepts in a credential scope.
#[derive(Debug, Clone, Copy)]
pub struct VerifyParams<'a> {
    /// Region the gateway signs for.
    pub region: &'a str,
    /// Service the gateway signs for, `"s3"`.
    pub service: &'a str,
}

/// A presigned request whose signature, validity window and clock skew all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// Access key id from the credential.
    pub access_key_id: String,
    /// `X-Amz-Date`.
    pub signed_at: OffsetDateTime,
    /// `X-Amz-Date` + `X-Amz-Expires`.
    pub expires_at: OffsetDateTime,
    /// `X-Amz-SignedHeaders`, split.
    pub signed_headers: Vec<String>,
    /// Decoded query params, excluding `X-Amz-Signature`, in wire order.
    pub query: Vec<(String, String)>,
    /// The payload hash the signature covers: `X-Amz-Content-Sha256` from the
    /// query, else an `x-amz-content-sha256` header, else `UNSIGNED-PAYLOAD`.
    /// A hex value binds the body, which the caller must then verify.
    pub payload_hash: String,
}

impl Presigned {
    /// The first value of query parameter `name` (exact, case-sensitive match).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The parsed `X-Amz-Credential` value.
/// Verifies a presigned request.
///
/// `secret_for` maps an access key id to its secret (`None` = unknown key). Checks run in this
/// order, the first failure winning: auth parameters present, unique and well-formed (400
/// `AuthorizationQueryParametersError`); known access key (403 `InvalidAccessKeyId`); scope
/// region/service (403 `SignatureDoesNotMatch`); the signature itself, compared in constant
/// time (403 `SignatureDoesNotMatch`); then, only for a valid signature, expiry (403
/// `AccessDenied`, "Request has expired") and future-dated requests beyond
/// [`MAX_CLOCK_SKEW_SECS`] (403 `RequestTimeTooSkewed`).
pub fn verify_presigned(
    req: &RequestParts<'_>,
    secret_for: impl Fn(&str) -> Option<String>,
    p: &VerifyParams<'_>,
    now: OffsetDateTime,
) -> Result<Presigned, AuthError> {
    // 1. Presence and uniqueness.
    let params = parse_query(req.raw_query).map_err(|e| {
        AuthError::query(format!(
            "The query string could not be parsed ({e}); encode it with %XX escapes of UTF-8."
        ))
    })?;
    let [algorithm, credential, amz_date, expires, signed_headers, given_signature] =
        AUTH_PARAMS.map(|name| single_param(&params, name));
    let (algorithm, credential, amz_date, expires, signed_headers, given_signature) = (
        algorithm?,
        credential?,
        amz_date?,
        expires?,
        signed_headers?,
        given_signature?,
    );
    let content_sha256 = optional_single_param(&params, CONTENT_SHA256_PARAM)?;
    // Some clients (botocore among them) send the hash as a header with a
    // presigned request and sign its value, as S3 accepts.
    let header_sha256 = req
        .headers
        .iter()
        .find(|(n, _)| n == "x-amz-content-sha256")
        .map(|(_, v)| v.trim());
    let payload_hash = content_sha256
        .or(header_sha256)
        .unwrap_or(UNSIGNED_PAYLOAD)
        .to_owned();

    // 2. Well-formedness and internal consistency.
    if algorithm != ALGORITHM {
        return Err(AuthError::query(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\"."
        )));
    }
    let credential = parse_credential(credential)?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::query(
            "X-Amz-Date must be in the ISO8601 basic format \"yyyyMMdd'T'HHmmss'Z'\" (UTC).",
        )
    })?;
    // parse_amz_date guarantees 16 ASCII bytes, so slicing the date part is in bounds.
    let amz_day = &amz_date[..8];
    if credential.date != amz_day {
        return Err(AuthError::query(format!(
            "Error parsing the X-Amz-Credential parameter; incorrect date. \
             This should be the date in X-Amz-Date, \"{amz_day}\"."
        )));
    }
    let expires_secs = parse_expires(expires)?;
    let expires_at = signed_at
        .checked_add(Duration::seconds(expires_secs))
        .ok_or_else(|| AuthError::query("X-Amz-Date plus X-Amz-Expires is out of range."))?;
    let signed_list = parse_signed_headers(signed_headers)?;

    // 3. Known key.
    let secret = secret_for(credential.access_key_id).ok_or(AuthError::InvalidAccessKeyId)?;

    // 4. Scope matches this gateway.
    if credential.region != p.region {
        return Err(AuthError::RegionMismatch {
            given: echo(credential.region),
            expected: p.region.to_owned(),
        });
    }
    if credential.service != p.service {
        return Err(AuthError::ServiceMismatch {
            given: echo(credential.service),
            expected: p.service.to_owned(),
        });
    }

    // 5. Recompute the signature from the request as received.
    let uri = canonical_uri_from_raw(req.raw_path).map_err(|_| AuthError::InvalidUri)?;
    let signed_params: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != SIGNATURE_PARAM)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let query = canonical_query(&signed_params);
    let creq = canonical_request(
        req.method,
        &uri,
        &query,
        &canonical_headers(&signed_list, req.headers),
        signed_headers,
        &payload_hash,
    );
    let scope = credential_scope(credential.date, credential.region, credential.service);
    let sts = string_to_sign(amz_date, &scope, &creq);
    let key = signing_key(
        &secret,
        credential.date,
        credential.region,
        credential.service,
    );
    let expected = signature(&key, &sts);
    // Constant-time on the hex text: the computed value is secret-dependent, and a given value
    // of the wrong length or with non-hex characters simply fails (slice ct_eq checks length
    // first, which leaks nothing about the expected value).
    if !bool::from(expected.as_bytes().ct_eq(given_signature.as_bytes())) {
        return Err(AuthError::SignatureDoesNotMatch);
    }

    // 6. Time checks, only now that the request is known to be authentic.
    if now > expires_at {
        return Err(AuthError::Expired);
    }
    if signed_at - now > Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        return Err(AuthError::RequestTimeTooSkewed);
    }

    Ok(Presigned {
        access_key_id: credential.access_key_id.to_owned(),
        signed_at,
        expires_at,
        signed_headers: signed_list.iter().map(|s| (*s).to_owned()).collect(),
        query: signed_params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        payload_hash,
    })
}

/// The access key a presigned request claims (its single `X-Amz-Credential`'s first part), read
/// without checking anything else: the key whose secret the caller looks up before
/// [`verify_presigned`], which judges the request (and the claim) in S3's order.
pub fn presigned_key_id(req: &RequestParts<'_>) -> Option<String> {
    let params = parse_query(req.raw_query).ok()?;
    let credential = optional_single_param(&params, CREDENTIAL_PARAM).ok()??;
    Credential::parse(credential).map(|c| c.access_key_id.to_owned())
}

/// The value of an auth parameter that must appear exactly once.
fn single_param<'q>(params: &'q [(String, String)], name: &str) -> Result<&'q str, AuthError> {
    optional_single_param(params, name)?.ok_or_else(|| {
        AuthError::query(format!(
            "Query-string authentication requires the {name} parameter"
        ))
    })
}

/// The value of a parameter that may appear at most once.
fn optional_single_param<'q>(
    params: &'q [(String, String)],
    name: &str,
) -> Result<Option<&'q str>, AuthError> {
    let mut found = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v.as_str())),
        (Some(_), Some(_)) => Err(AuthError::query(format!(
            "The {name} parameter must be given only once"
        ))),
    }
}

/// `<access key id>/<yyyymmdd>/<region>/<service>/aws4_request`, every part non-empty.
fn parse_credential(value: &str) -> Result<Credential<'_>, AuthError> {
    Credential::parse(value)
        .filter(|c| c.terminator == SCOPE_TERMINATOR)
        .ok_or_else(|| {
            AuthError::query(
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; \
                 expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
            )
        })
}

/// Decimal seconds in `1..=MAX_EXPIRES_SECS`, digits only (no sign, no spaces).
fn parse_expires(value: &str) -> Result<i64, AuthError> {
    let out_of_range = || {
        AuthError::query(format!(
            "X-Amz-Expires must be between 1 and {MAX_EXPIRES_SECS} seconds"
        ))
    };
    // `u64::from_str` would accept a leading '+'; the wire format is plain digits.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    let secs: u64 = value.parse().map_err(|_| out_of_range())?;
    if !(1..=MAX_EXPIRES_SECS).contains(&secs) {
        return Err(out_of_range());
    }
    i64::try_from(secs).map_err(|_| out_of_range())
}

/// A `;`-separated list of lowercase header names, strictly sorted (so also unique), that
/// includes `host`.
///
/// Requiring the sorted form (which every SDK sends) means the canonical headers can be built
/// in list order and the list itself is signed verbatim, with no ambiguity about ordering.
fn parse_signed_headers(value: &str) -> Result<Vec<&str>, AuthError> {
    let names: Vec<&str> = value.split(';').collect();
    let well_formed = names.iter().all(|n| is_lowercase_token(n))
        && names.windows(2).all(|pair| pair[0] < pair[1]);
    if !well_formed {
        return Err(AuthError::query(
            "X-Amz-SignedHeaders must be a ';'-separated list of lowercase header names \
             in sorted order without duplicates.",
        ));
    }
    if !names.contains(&"host") {
        return Err(AuthError::query(
            "X-Amz-SignedHeaders must include the host header.",
        ));
    }
    Ok(names)
}

/// An HTTP header name (RFC 9110 `token`) without uppercase letters.
fn is_lowercase_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}
