//! Step 4d: signing an outgoing request with an `Authorization` header, the way an S3 client
//! does (what `src/upstream/` sends to the S3 store that holds the bytes).
//!
//! Owns: choosing the signed-header list (the caller's headers plus `x-amz-date` and, for S3,
//! `x-amz-content-sha256`), the canonical request of a request we build ourselves, and the
//! `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value.
//! Must never: read the clock (the caller passes `now`), do I/O, encode the path (the caller
//! gives it already encoded, exactly as it goes on the wire), or show the signature in `Debug`.

use std::fmt;

use time::OffsetDateTime;

use super::canonical::{canonical_headers, canonical_query, canonical_request};
use super::header::CONTENT_SHA256_HEADER;
use super::key::{Credentials, SigningKey};
use super::string_to_sign::{
    credential_scope, format_amz_date, format_date_stamp, string_to_sign, ALGORITHM,
};

/// Header carrying the request time.
pub const AMZ_DATE_HEADER: &str = "x-amz-date";

/// An outgoing request, as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// HTTP method, e.g. `"PUT"`.
    pub method: &'a str,
    /// The path exactly as it goes on the wire, already encoded once (S3: `/bucket/key` with
    /// every key byte outside `A-Za-z0-9-._~/` as `%XX`); it is signed as given.
    pub canonical_path: &'a str,
    /// Query parameters, decoded; the caller sends them as [`canonical_query`] renders them.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers to sign, `host` among them, as (name, value); names in any case, a name may
    /// repeat. Must not hold `authorization`, `x-amz-date` or `x-amz-content-sha256`: those
    /// come out of [`sign_request`].
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope: `"s3"`.
    pub service: &'a str,
    /// Whether to send and sign `x-amz-content-sha256` with [`SignRequest::payload_hash`]: S3
    /// requires it on every header-signed request; other AWS services (and so AWS's generic
    /// SigV4 test suite) sign the payload hash without sending it.
    pub content_sha256_header: bool,
}

/// The headers [`sign_request`] adds to the request. `Debug` hides the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    pub authorization: String,
    /// `x-amz-date: yyyymmddThhmmssZ`.
    pub amz_date: String,
    /// `x-amz-content-sha256`, when [`SignRequest::content_sha256_header`] asked for it.
    pub content_sha256: Option<String>,
}

impl AuthHeaders {
    /// The headers as (lowercase name, value), to add to the request.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            Some(("authorization", self.authorization.as_str())),
            Some((AMZ_DATE_HEADER, self.amz_date.as_str())),
            self.content_sha256
                .as_deref()
                .map(|v| (CONTENT_SHA256_HEADER, v)),
        ]
        .into_iter()
        .flatten()
    }
}

impl fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Everything before the signature is public (the key id, the scope, the header list).
        let shown = match self.authorization.rsplit_once("Signature=") {
            Some((head, _)) => format!("{head}Signature=***"),
            None => "***".to_owned(),
        };
        f.debug_struct("AuthHeaders")
            .field("authorization", &shown)
            .field("amz_date", &self.amz_date)
            .field("content_sha256", &self.content_sha256)
            .finish()
    }
}

/// Signs `r` at time `now` with `creds`: the `Authorization`, `x-amz-date` and (for S3)
/// `x-amz-content-sha256` headers to add. The signed headers are `r.headers` plus those two
/// dates and hashes, lowercased and sorted, as [`verify_header_auth`] rebuilds them.
///
/// [`verify_header_auth`]: super::verify_header_auth
pub fn sign_request(creds: &Credentials, r: &SignRequest<'_>, now: OffsetDateTime) -> AuthHeaders {
    debug_assert!(
        r.headers.iter().all(|(n, _)| {
            !n.eq_ignore_ascii_case("authorization")
                && !n.eq_ignore_ascii_case(AMZ_DATE_HEADER)
                && !n.eq_ignore_ascii_case(CONTENT_SHA256_HEADER)
        }),
        "the caller's headers must not hold the ones signing adds"
    );
    let amz_date = format_amz_date(now);
    let day = format_date_stamp(now);

    let mut headers: Vec<(String, &str)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), *v))
        .collect();
    headers.push((AMZ_DATE_HEADER.to_owned(), &amz_date));
    if r.content_sha256_header {
        headers.push((CONTENT_SHA256_HEADER.to_owned(), r.payload_hash));
    }
    let mut signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    signed.sort_unstable();
    signed.dedup();
    let signed_line = signed.join(";");

    let creq = canonical_request(
        r.method,
        r.canonical_path,
        &canonical_query(r.query),
        &canonical_headers(&signed, &headers),
        &signed_line,
        r.payload_hash,
    );
    let scope = credential_scope(&day, r.region, r.service);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let signature =
        SigningKey::derive(&creds.secret_access_key, &day, r.region, r.service).sign(&sts);

    AuthHeaders {
        authorization: format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_line}, Signature={signature}",
            creds.access_key_id
        ),
        amz_date,
        content_sha256: r.content_sha256_header.then(|| r.payload_hash.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_signature_but_not_the_scope() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
        };
        let h = sign_request(
            &creds,
            &SignRequest {
                method: "GET",
                canonical_path: "/b/k",
                query: &[],
                headers: &[("host", "h")],
                payload_hash: "UNSIGNED-PAYLOAD",
                region: "us-east-1",
                service: "s3",
                content_sha256_header: true,
            },
            time::macros::datetime!(2024-01-02 03:04:05 UTC),
        );
        let sig = h.authorization.rsplit_once("Signature=").unwrap().1;
        assert_eq!(sig.len(), 64);
        let shown = format!("{h:?}");
        assert!(!shown.contains(sig), "{shown}");
        assert!(
            shown.contains("AKID/20240102/us-east-1/s3/aws4_request"),
            "{shown}"
        );
        assert_eq!(h.amz_date, "20240102T030405Z");
        let names: Vec<&str> = h.pairs().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["authorization", "x-amz-date", "x-amz-content-sha256"]
        );
    }
}
