//! Step 4c: verifying a SigV4 request authenticated by its `Authorization` header, as S3 does.
//!
//! Owns: parsing `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`,
//! reading `x-amz-content-sha256` into a [`PayloadMode`], the request time from `x-amz-date`
//! (or `Date`), S3's checks in S3's order with S3's error codes, rebuilding the canonical
//! request from the wire form, the constant-time signature comparison and the ±15 minute skew
//! check; and handing the signing key on (opaque) for `aws-chunked` chunk verification.
//! Must never: panic on client input, compare signatures with `==`, report clock skew before
//! the signature is proven valid, read the clock, verify the body (the caller hashes the body
//! against [`PayloadMode::Sha256`] or feeds it to the chunk decoder), or print the signature or
//! the signing key (`HeaderAuth`'s `Debug` redacts both).

use std::fmt;

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri_from_raw, parse_query,
};
use super::chunked::StreamingMode;
use super::credential::Credential;
use super::error::{echo, AuthError};
use super::http_date::parse_http_date;
use super::key::SigningKey;
use super::string_to_sign::{
    credential_scope, format_amz_date, parse_amz_date, string_to_sign, ALGORITHM, SCOPE_TERMINATOR,
    STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    UNSIGNED_PAYLOAD,
};
use super::verify::{RequestParts, VerifyParams};
use super::MAX_CLOCK_SKEW_SECS;

/// Header carrying the payload hash or payload mode; S3 requires it on SigV4 header auth.
pub const CONTENT_SHA256_HEADER: &str = "x-amz-content-sha256";

/// How the body of a header-authenticated request is covered, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// A hex SHA-256 was given; the caller must verify the body against it
    /// (`XAmzContentSHA256Mismatch` when it differs).
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `aws-chunked` body, every chunk signed.
    StreamingSigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked` body without chunk signatures,
    /// trailing headers (checksums) at the end.
    StreamingUnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks plus signed trailing headers.
    StreamingSignedTrailer,
}

impl PayloadMode {
    /// Reads an `x-amz-content-sha256` value: 64 hex digits (either case) or one of the
    /// keywords. `None` for anything else (including the SigV4a ECDSA streaming modes, which
    /// this gateway does not speak).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            UNSIGNED_PAYLOAD => Some(PayloadMode::Unsigned),
            STREAMING_PAYLOAD => Some(PayloadMode::StreamingSigned),
            STREAMING_UNSIGNED_PAYLOAD_TRAILER => Some(PayloadMode::StreamingUnsignedTrailer),
            STREAMING_PAYLOAD_TRAILER => Some(PayloadMode::StreamingSignedTrailer),
            hash if hash.len() == 64 => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hash, &mut out).ok()?;
                Some(PayloadMode::Sha256(out))
            }
            _ => None,
        }
    }

    /// Whether the body is `aws-chunked` encoded (any `STREAMING-*` mode).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned
                | PayloadMode::StreamingUnsignedTrailer
                | PayloadMode::StreamingSignedTrailer
        )
    }

    /// Whether trailing headers follow the final chunk.
    pub fn has_trailer(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingUnsignedTrailer | PayloadMode::StreamingSignedTrailer
        )
    }
}

/// A header-authenticated request whose signature and time checked out.
#[derive(Clone)]
pub struct HeaderAuth {
    /// Access key id from the credential.
    pub access_key_id: String,
    /// Request time (`x-amz-date`, or `Date` when there is no `x-amz-date`).
    pub signed_at: OffsetDateTime,
    /// Signed header names, lowercase, sorted, unique.
    pub signed_headers: Vec<String>,
    /// Credential-scope region (equal to the gateway's).
    pub region: String,
    /// Credential-scope service (equal to the gateway's).
    pub service: String,
    /// Credential-scope date, `yyyymmdd`.
    pub date: String,
    /// The verified request signature, lowercase hex: the seed of the `aws-chunked` chain.
    pub signature: String,
    /// What `x-amz-content-sha256` announced.
    pub payload: PayloadMode,
    /// The key that verified the request, for chunk and trailer signatures.
    pub signing_key: SigningKey,
}

impl fmt::Debug for HeaderAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderAuth")
            .field("access_key_id", &self.access_key_id)
            .field("signed_at", &self.signed_at)
            .field("signed_headers", &self.signed_headers)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("date", &self.date)
            .field("signature", &"***")
            .field("payload", &self.payload)
            .field("signing_key", &self.signing_key)
            .finish()
    }
}

impl HeaderAuth {
    /// `yyyymmdd/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        credential_scope(&self.date, &self.region, &self.service)
    }

    /// The request time as `yyyymmddThhmmssZ` (what every chunk string to sign carries).
    pub fn amz_date(&self) -> String {
        format_amz_date(self.signed_at)
    }

    /// For an `aws-chunked` body: the decoder mode and whether a trailer is expected, ready for
    /// [`super::chunked::ChunkedDecoder::new`]. `None` when the body is not `aws-chunked`.
    pub fn streaming_mode(&self) -> Option<(StreamingMode, bool)> {
        let signed = || StreamingMode::Signed {
            seed_signature: self.signature.clone(),
            signing_key: self.signing_key.clone(),
            amz_date: self.amz_date(),
            scope: self.scope(),
        };
        match self.payload {
            PayloadMode::StreamingSigned => Some((signed(), false)),
            PayloadMode::StreamingSignedTrailer => Some((signed(), true)),
            PayloadMode::StreamingUnsignedTrailer => Some((StreamingMode::Unsigned, true)),
            PayloadMode::Sha256(_) | PayloadMode::Unsigned => None,
        }
    }
}

/// The three components of the `Authorization` header.
struct AuthorizationHeader<'h> {
    credential: &'h str,
    signed_headers: &'h str,
    signature: &'h str,
}

/// Verifies a request signed with SigV4 in the `Authorization` header.
///
/// Checks run in this order, the first failure winning:
/// 1. `Authorization` present once and parseable, credential well-formed (400
///    `AuthorizationHeaderMalformed`); `host` among the signed headers (403 `AccessDenied`).
/// 2. `x-amz-content-sha256` present (400 `MissingSecurityHeader`) and valid (400
///    `InvalidArgument`).
/// 3. A request time from `x-amz-date`, or `Date` if there is no `x-amz-date` (403
///    `AccessDenied`); the credential date equal to its day, the service and terminator right
///    (400 `AuthorizationHeaderMalformed`).
/// 4. A known access key (403 `InvalidAccessKeyId`).
/// 5. The region (400 `AuthorizationHeaderMalformed`, naming the expected region).
/// 6. The signature, compared in constant time (403 `SignatureDoesNotMatch`).
/// 7. Only then the time: more than [`MAX_CLOCK_SKEW_SECS`] away from `now` in either
///    direction is 403 `RequestTimeTooSkewed`.
///
/// The canonical request uses the `x-amz-content-sha256` value exactly as sent. Only signed
/// headers count here; refusing unsigned `x-amz-*` headers, as S3 does, is the caller's policy
/// (`api/s3/auth.rs`), since it decides what such a header could change.
pub fn verify_header_auth(
    req: &RequestParts<'_>,
    secret_for: impl Fn(&str) -> Option<String>,
    p: &VerifyParams<'_>,
    now: OffsetDateTime,
) -> Result<HeaderAuth, AuthError> {
    // 1. The Authorization header.
    let authorization = single_header(req.headers, "authorization")
        .map_err(|()| malformed("the Authorization header must be given exactly once"))?
        .ok_or_else(|| malformed("the Authorization header is missing"))?;
    let auth = parse_authorization(authorization)?;
    let credential = parse_credential(auth.credential)?;
    let signed_list = parse_signed_headers(auth.signed_headers)?;
    if !signed_list.iter().any(|h| h == "host") {
        return Err(AuthError::AccessDenied(
            "There were headers present in the request which were not signed: host".into(),
        ));
    }

    // 2. Payload mode.
    let content_sha256 = single_header(req.headers, CONTENT_SHA256_HEADER)
        .map_err(|()| invalid_content_sha256())?
        .ok_or(AuthError::MissingSecurityHeader(CONTENT_SHA256_HEADER))?
        .trim();
    let payload = PayloadMode::parse(content_sha256).ok_or_else(invalid_content_sha256)?;

    // 3. Request time and scope consistency.
    let (signed_at, amz_date) = request_time(req.headers)?;
    let amz_day = &amz_date[..8];
    if credential.date != amz_day {
        return Err(malformed(&format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{amz_day}\".",
            echo(credential.date)
        )));
    }
    if credential.service != p.service {
        return Err(malformed(&format!(
            "incorrect service \"{}\". This endpoint belongs to \"{}\".",
            echo(credential.service),
            p.service
        )));
    }
    if credential.terminator != SCOPE_TERMINATOR {
        return Err(malformed(&format!(
            "incorrect terminal \"{}\". This endpoint uses \"{SCOPE_TERMINATOR}\".",
            echo(credential.terminator)
        )));
    }

    // 4. Known key.
    let secret = secret_for(credential.access_key_id).ok_or(AuthError::InvalidAccessKeyId)?;

    // 5. Region.
    if credential.region != p.region {
        return Err(AuthError::HeaderRegionMismatch {
            given: echo(credential.region),
            expected: p.region.to_owned(),
        });
    }

    // 6. Signature over the request as received.
    let uri = canonical_uri_from_raw(req.raw_path).map_err(|_| AuthError::InvalidUri)?;
    let params = parse_query(req.raw_query).map_err(|_| AuthError::InvalidUri)?;
    let query = canonical_query(&params);
    let signed_line = signed_list.join(";");
    let creq = canonical_request(
        req.method,
        &uri,
        &query,
        &canonical_headers(&signed_list, req.headers),
        &signed_line,
        content_sha256,
    );
    let scope = credential_scope(credential.date, credential.region, credential.service);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = SigningKey::derive(
        &secret,
        credential.date,
        credential.region,
        credential.service,
    );
    let expected = key.sign(&sts);
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(AuthError::SignatureDoesNotMatch);
    }

    // 7. Time, only for an authentic request.
    if (signed_at - now).abs() > Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        return Err(AuthError::RequestTimeTooSkewed);
    }

    Ok(HeaderAuth {
        access_key_id: credential.access_key_id.to_owned(),
        signed_at,
        signed_headers: signed_list,
        region: credential.region.to_owned(),
        service: credential.service.to_owned(),
        date: credential.date.to_owned(),
        signature: expected,
        payload,
        signing_key: key,
    })
}

fn malformed(msg: &str) -> AuthError {
    AuthError::AuthorizationHeaderMalformed(msg.to_owned())
}

fn invalid_content_sha256() -> AuthError {
    AuthError::InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
         STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a \
         valid sha256 value."
            .into(),
    )
}

/// The access key a request signed in its `Authorization` header claims (the credential's first
/// part), read without checking anything else: the key whose secret the caller looks up before
/// [`verify_header_auth`], which judges the request (and the claim) in S3's order.
pub fn header_key_id<'r>(req: &RequestParts<'r>) -> Option<&'r str> {
    let authorization = single_header(req.headers, "authorization").ok()??;
    let auth = parse_authorization(authorization).ok()?;
    Credential::parse(auth.credential).map(|c| c.access_key_id)
}

/// The value of a header that may appear at most once (`Err` when repeated). Names compare
/// ASCII-case-insensitively.
pub(crate) fn single_header<'h>(
    headers: &'h [(String, String)],
    name: &str,
) -> Result<Option<&'h str>, ()> {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v)),
        (Some(_), Some(_)) => Err(()),
    }
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. Components may come in any
/// order, separated by commas and/or whitespace, each exactly once.
fn parse_authorization(value: &str) -> Result<AuthorizationHeader<'_>, AuthError> {
    let value = value.trim();
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with([' ', '\t']))
        .ok_or_else(|| {
            malformed(&format!(
                "the authorization header must start with \"{ALGORITHM} \"."
            ))
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split([',', ' ', '\t']).filter(|part| !part.is_empty()) {
        let (name, v) = part.split_once('=').ok_or_else(|| {
            malformed("each component must be written as Name=value (Credential, SignedHeaders, Signature).")
        })?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(malformed(&format!(
                    "unknown component \"{}\"; expecting Credential, SignedHeaders and Signature.",
                    echo(name)
                )))
            }
        };
        if slot.replace(v).is_some() {
            return Err(malformed(&format!(
                "the {name} component must be given only once."
            )));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(AuthorizationHeader {
            credential,
            signed_headers,
            signature,
        }),
        _ => Err(malformed(
            "it must contain Credential, SignedHeaders and Signature.",
        )),
    }
}

/// The parsed `Credential=` value.
fn parse_credential(value: &str) -> Result<Credential<'_>, AuthError> {
    Credential::parse(value).ok_or_else(|| {
        malformed(
            "the Credential is mal-formed; expecting \
             \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )
    })
}

/// `;`-separated header names: lowercased form must be a token; returned sorted and unique
/// (the order the canonical request lists them in).
fn parse_signed_headers(value: &str) -> Result<Vec<String>, AuthError> {
    let mut names = Vec::new();
    for name in value.split(';') {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !ok {
            return Err(malformed(
                "SignedHeaders must be a ';'-separated list of header names.",
            ));
        }
        names.push(name.to_ascii_lowercase());
    }
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The request time and its `yyyymmddThhmmssZ` text: `x-amz-date` (ISO 8601 basic) if present,
/// else `Date` (an HTTP date).
fn request_time(headers: &[(String, String)]) -> Result<(OffsetDateTime, String), AuthError> {
    let denied = || {
        AuthError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header".into(),
        )
    };
    if let Some(v) = single_header(headers, "x-amz-date").map_err(|()| denied())? {
        let v = v.trim();
        let t = parse_amz_date(v).ok_or_else(denied)?;
        return Ok((t, v.to_owned()));
    }
    let v = single_header(headers, "date")
        .map_err(|()| denied())?
        .ok_or_else(denied)?;
    let t = parse_http_date(v).ok_or_else(denied)?;
    Ok((t, format_amz_date(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COMPONENTS: [&str; 3] = ["Credential", "SignedHeaders", "Signature"];

    /// Separators between components: commas and/or spaces and tabs.
    fn separator() -> impl Strategy<Value = String> {
        "[, \t]{0,3}[ ,\t]"
    }

    proptest! {
        #![proptest_config(crate::testing::config(10000))]

        /// Garbage after the algorithm is an error or a parse, never a panic;
        /// a parse's values are separator-free pieces of the input.
        #[test]
        fn prop_authorization_garbage(rest in any::<String>(), raw in any::<String>()) {
            for value in [format!("{ALGORITHM} {rest}"), raw] {
                match parse_authorization(&value) {
                    Ok(a) => {
                        for v in [a.credential, a.signed_headers, a.signature] {
                            prop_assert!(!v.contains([',', ' ', '\t']));
                            prop_assert!(value.contains(v));
                        }
                    }
                    Err(e) => prop_assert!(matches!(e, AuthError::AuthorizationHeaderMalformed(_))),
                }
            }
        }

        /// render → parse gives back the three values, whatever their order,
        /// the separators and surrounding whitespace.
        #[test]
        fn prop_authorization_render_parse(
            values in proptest::array::uniform3("[^,\\s]{0,40}"),
            order in Just([0usize, 1, 2]).prop_shuffle(),
            seps in proptest::array::uniform3(separator()),
            pad in "[ \t]{0,2}",
        ) {
            let mut text = format!("{pad}{ALGORITHM}");
            for (n, (i, sep)) in order.iter().zip(&seps).enumerate() {
                // The algorithm is followed by whitespace; then any mix.
                if n == 0 {
                    text.push(' ');
                }
                text.push_str(sep);
                text.push_str(COMPONENTS[*i]);
                text.push('=');
                text.push_str(&values[*i]);
            }
            text.push_str(&pad);
            let a = parse_authorization(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(
                [a.credential, a.signed_headers, a.signature],
                [values[0].as_str(), values[1].as_str(), values[2].as_str()]
            );
            // A component given twice is refused, not silently replaced.
            let twice = format!("{text}, {}=x", COMPONENTS[order[0]]);
            prop_assert!(parse_authorization(&twice).is_err());
        }

        /// SignedHeaders: what is accepted comes back lowercase, sorted and
        /// unique, holding exactly the names given.
        #[test]
        fn prop_signed_headers(value in prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9!#$%&'*+.^_`|~-]{0,8}(;[a-zA-Z0-9!#$%&'*+.^_`|~-]{0,8}){0,6}",
        ]) {
            if let Ok(names) = parse_signed_headers(&value) {
                prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
                let mut given: Vec<String> =
                    value.split(';').map(str::to_ascii_lowercase).collect();
                given.sort();
                given.dedup();
                prop_assert_eq!(&names, &given);
                prop_assert!(names.iter().all(|n| !n.is_empty() && n.is_ascii()
                    && !n.bytes().any(|b| b.is_ascii_uppercase())));
            }
        }

        /// x-amz-content-sha256: keywords and 64 hex digits only.
        #[test]
        fn prop_payload_mode(value in prop_oneof![any::<String>(), "[0-9a-fA-F]{63,65}"]) {
            match PayloadMode::parse(&value) {
                Some(PayloadMode::Sha256(digest)) => {
                    prop_assert_eq!(hex::encode(digest), value.to_ascii_lowercase());
                }
                Some(_) => prop_assert!(value.starts_with("STREAMING-") || value == UNSIGNED_PAYLOAD),
                None => {}
            }
        }
    }
}
