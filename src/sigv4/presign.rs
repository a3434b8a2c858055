//! Step 4a: building a presigned (query-authenticated) URL for a request the gateway allows.
//!
//! Owns: choosing the `X-Amz-*` parameters, signing them together with the caller's extra
//! query parameters and headers, and emitting the final encoded query string.
//! Must never: read the clock (the caller passes `now`), do I/O, or emit a URL that
//! [`verify_presigned`](super::verify_presigned) would reject for a reason other than expiry.

use time::OffsetDateTime;

use super::canonical::{canonical_headers, canonical_query, canonical_request, canonical_uri};
use super::key::{signature, signing_key, Credentials};
use super::string_to_sign::{
    credential_scope, format_amz_date, format_date_stamp, string_to_sign, ALGORITHM,
    UNSIGNED_PAYLOAD,
};
use super::verify::{AUTH_PARAMS, CONTENT_SHA256_PARAM};
use super::MAX_EXPIRES_SECS;

/// What to presign.
#[derive(Debug, Clone, Copy)]
pub struct PresignParams<'a> {
    /// HTTP method the client will use, e.g. `"PUT"` or `"GET"`.
    pub method: &'a str,
    /// Authority exactly as the client will send it in `Host`, e.g. `"127.0.0.1:8080"`.
    pub host: &'a str,
    /// Request path, *not* encoded (e.g. `"/uploads/5f0c…"`); encoded once with `/` kept.
    pub path: &'a str,
    /// Region of the credential scope.
    pub region: &'a str,
    /// Service of the credential scope, `"s3"`.
    pub service: &'a str,
    /// Validity in seconds; clamped to `1..=MAX_EXPIRES_SECS` so the URL stays verifiable.
    pub expires_secs: u64,
    /// Extra signed query parameters (decoded), e.g. `("X-Stowage-Sha256", hex)`. Must not
    /// repeat the `X-Amz-*` authentication parameters. An `X-Amz-Content-Sha256` entry becomes
    /// the signed payload hash, as the verifier expects.
    pub extra_query: &'a [(&'a str, &'a str)],
    /// Extra signed headers as (lowercase name, value), e.g. `("content-type", "image/png")`.
    /// `host` is always signed from [`PresignParams::host`]; a `host` entry here is ignored.
    pub extra_signed_headers: &'a [(&'a str, &'a str)],
}

/// Presigns a request and returns the full encoded query string (no leading `?`): all
/// `X-Amz-*` parameters plus `extra_query`, in canonical (sorted, encoded) order, with
/// `X-Amz-Signature=<hex>` appended last.
///
/// `X-Amz-SignedHeaders` is the sorted `;`-joined list of `host` and the extra headers. The
/// payload hash is `UNSIGNED-PAYLOAD` unless `extra_query` carries `X-Amz-Content-Sha256`.
pub fn presign(creds: &Credentials, p: &PresignParams<'_>, now: OffsetDateTime) -> String {
    debug_assert!(
        p.extra_query.iter().all(|(k, _)| !AUTH_PARAMS.contains(k)),
        "extra_query must not contain X-Amz-* authentication parameters"
    );

    let amz_date = format_amz_date(now);
    let scope = credential_scope(&format_date_stamp(now), p.region, p.service);
    let credential = format!("{}/{}", creds.access_key_id, scope);
    let expires = p.expires_secs.clamp(1, MAX_EXPIRES_SECS).to_string();

    // Headers: host first, then the extras with lowercase names; the signed list is sorted
    // and de-duplicated, exactly as the verifier requires it.
    let mut headers: Vec<(String, &str)> = Vec::with_capacity(1 + p.extra_signed_headers.len());
    headers.push(("host".to_owned(), p.host));
    for (name, value) in p.extra_signed_headers {
        let name = name.to_ascii_lowercase();
        if name != "host" {
            headers.push((name, value));
        }
    }
    let mut signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    signed.sort_unstable();
    signed.dedup();
    let signed_line = signed.join(";");

    let mut params: Vec<(&str, &str)> = Vec::with_capacity(5 + p.extra_query.len());
    params.extend([
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", signed_line.as_str()),
    ]);
    params.extend_from_slice(p.extra_query);
    let query = canonical_query(&params);

    let payload_hash = p
        .extra_query
        .iter()
        .find(|(k, _)| *k == CONTENT_SHA256_PARAM)
        .map_or(UNSIGNED_PAYLOAD, |(_, v)| v);

    let creq = canonical_request(
        p.method,
        &canonical_uri(p.path),
        &query,
        &canonical_headers(&signed, &headers),
        &signed_line,
        payload_hash,
    );
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(
        &creds.secret_access_key,
        &format_date_stamp(now),
        p.region,
        p.service,
    );
    let sig = signature(&key, &sts);

    format!("{query}&X-Amz-Signature={sig}")
}
