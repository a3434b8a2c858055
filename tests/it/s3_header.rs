//! Header-signed (SigV4 `Authorization`) requests built here from the
//! signing steps, for the refusals an SDK never produces on purpose: a body
//! that does not match its signed hash, a missing content-hash header, a
//! skewed clock, a wrong secret, an aws-chunked body with a bad chunk
//! signature. Each asserts the S3 code and that nothing was stored.

use sha2::{Digest as _, Sha256};
use stowage::sigv4::canonical::{canonical_headers, canonical_request, canonical_uri};
use stowage::sigv4::string_to_sign::{
    chunk_string_to_sign, credential_scope, format_amz_date, format_date_stamp, string_to_sign,
};
use stowage::sigv4::{signing_key, Credentials};
use time::OffsetDateTime;

use crate::harness::*;

/// Headers for `method path` signed with `creds` at `at`, with the given
/// `x-amz-content-sha256` value (None: header left out, signature over
/// UNSIGNED-PAYLOAD).
fn sign(
    s: &TestServer,
    creds: &Credentials,
    method: &str,
    path: &str,
    content_sha: Option<&str>,
    at: OffsetDateTime,
) -> (Vec<(String, String)>, String) {
    sign_with(s, creds, method, path, content_sha, at, &[])
}

/// `sign` for the PUT of the one-byte body `x` to `/uploads/k`.
fn sign_put_x(
    s: &TestServer,
    creds: &Credentials,
    at: OffsetDateTime,
) -> (Vec<(String, String)>, String) {
    sign(s, creds, "PUT", "/uploads/k", Some(&hex_sha(b"x")), at)
}

/// Like `sign`, with `extra` headers (lowercase names) sent and signed.
/// `path` is the decoded path (the key as the server decodes it from the
/// wire); hostile.rs sends the wire form of it over a raw socket.
pub(crate) fn sign_with(
    s: &TestServer,
    creds: &Credentials,
    method: &str,
    path: &str,
    content_sha: Option<&str>,
    at: OffsetDateTime,
    extra: &[(&str, &str)],
) -> (Vec<(String, String)>, String) {
    let amz_date = format_amz_date(at);
    let day = format_date_stamp(at);
    let mut headers = vec![
        ("host".to_string(), s.addr.to_string()),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    if let Some(h) = content_sha {
        headers.push(("x-amz-content-sha256".to_string(), h.to_string()));
    }
    let names: Vec<String> = {
        let mut n: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        n.sort();
        n
    };
    let creq = canonical_request(
        method,
        &canonical_uri(path),
        "",
        &canonical_headers(&names, &headers),
        &names.join(";"),
        content_sha.unwrap_or("UNSIGNED-PAYLOAD"),
    );
    let scope = credential_scope(&day, "us-east-1", "s3");
    let key = signing_key(&creds.secret_access_key, &day, "us-east-1", "s3");
    let sig = stowage::sigv4::key::signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    headers.push((
        "authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            creds.access_key_id,
            names.join(";")
        ),
    ));
    (headers, sig)
}

fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let mut req = ureq::request(method, &s.url(path));
    for (k, v) in headers {
        if k != "host" {
            req = req.set(k, v);
        }
    }
    Resp::from(req.send_bytes(body))
}

pub(crate) fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn nothing_at(s: &TestServer, key: &str) {
    let (h, _) = sign(
        s,
        &s.app.credentials,
        "GET",
        &format!("/uploads/{key}"),
        Some(&hex_sha(b"")),
        s.clock_now(),
    );
    send(s, "GET", &format!("/uploads/{key}"), &h, b"").assert_s3_error(404, "NoSuchKey");
    assert!(s.blobs().is_empty(), "blobs: {:?}", s.blobs());
    assert!(s.temps().is_empty());
}

#[test]
fn a_header_signed_put_and_get_work() {
    let s = TestServer::start();
    let body = b"header signed";
    let (h, _) = sign(
        &s,
        &s.app.credentials,
        "PUT",
        "/uploads/k",
        Some(&hex_sha(body)),
        s.clock_now(),
    );
    assert_eq!(send(&s, "PUT", "/uploads/k", &h, body).status, 200);
    let (h, _) = sign(
        &s,
        &s.app.credentials,
        "GET",
        "/uploads/k",
        Some(&hex_sha(b"")),
        s.clock_now(),
    );
    let r = send(&s, "GET", "/uploads/k", &h, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_bytes(), body);
}

#[test]
fn a_body_not_matching_its_signed_hash_is_refused() {
    let s = TestServer::start();
    let (h, _) = sign(
        &s,
        &s.app.credentials,
        "PUT",
        "/uploads/k",
        Some(&hex_sha(b"declared")),
        s.clock_now(),
    );
    send(&s, "PUT", "/uploads/k", &h, b"different")
        .assert_s3_error(400, "XAmzContentSHA256Mismatch");
    nothing_at(&s, "k");
}

#[test]
fn a_missing_content_hash_header_is_refused() {
    let s = TestServer::start();
    let (h, _) = sign(
        &s,
        &s.app.credentials,
        "PUT",
        "/uploads/k",
        None,
        s.clock_now(),
    );
    send(&s, "PUT", "/uploads/k", &h, b"x").assert_s3_error(400, "MissingSecurityHeader");
    nothing_at(&s, "k");
}

#[test]
fn a_wrong_secret_or_key_is_refused() {
    let s = TestServer::start();
    let wrong = Credentials {
        access_key_id: s.app.credentials.access_key_id.clone(),
        secret_access_key: "not-the-secret-at-all-0000".into(),
    };
    let (h, sig) = sign_put_x(&s, &wrong, s.clock_now());
    let r = send(&s, "PUT", "/uploads/k", &h, b"x");
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    assert!(!r.body.contains(&sig), "the error echoes the signature");
    let unknown = Credentials {
        access_key_id: "AKIDUNKNOWN".into(),
        secret_access_key: "whatever-secret-value".into(),
    };
    let (h, _) = sign_put_x(&s, &unknown, s.clock_now());
    send(&s, "PUT", "/uploads/k", &h, b"x").assert_s3_error(403, "InvalidAccessKeyId");
    nothing_at(&s, "k");
}

#[test]
fn a_skewed_clock_is_refused_both_ways() {
    let s = TestServer::start();
    for shift in [-16 * 60, 16 * 60] {
        let at = s.clock_now() + time::Duration::seconds(shift);
        let (h, _) = sign_put_x(&s, &s.app.credentials, at);
        send(&s, "PUT", "/uploads/k", &h, b"x").assert_s3_error(403, "RequestTimeTooSkewed");
    }
    nothing_at(&s, "k");
}

/// An aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) of `chunks`,
/// with correct chained chunk signatures.
fn chunked_body(s: &TestServer, seed: &str, at: OffsetDateTime, chunks: &[&[u8]]) -> Vec<u8> {
    let day = format_date_stamp(at);
    let scope = credential_scope(&day, "us-east-1", "s3");
    let key = signing_key(
        &s.app.credentials.secret_access_key,
        &day,
        "us-east-1",
        "s3",
    );
    let mut prev = seed.to_string();
    let mut out = Vec::new();
    let mut all: Vec<&[u8]> = chunks.to_vec();
    all.push(b"");
    for c in all {
        let sts = chunk_string_to_sign(&format_amz_date(at), &scope, &prev, &hex_sha(c));
        let sig = stowage::sigv4::key::signature(&key, &sts);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
        prev = sig;
    }
    out
}

#[test]
fn chunk_signatures_are_verified() {
    let s = TestServer::start();
    let at = s.clock_now();
    let a = vec![b'a'; 8192];
    let b = vec![b'b'; 100];
    let mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let decoded = (a.len() + b.len()).to_string();
    let send_chunked = |body: &[u8]| {
        let (mut h, seed) = sign_with(
            &s,
            &s.app.credentials,
            "PUT",
            "/uploads/c",
            Some(mode),
            at,
            &[("x-amz-decoded-content-length", &decoded)],
        );
        h.push(("content-encoding".into(), "aws-chunked".into()));
        (send(&s, "PUT", "/uploads/c", &h, body), seed)
    };
    // Correct body first (signatures depend on the seed, so sign, then send).
    let (_, seed) = send_chunked(b"");
    let good = chunked_body(&s, &seed, at, &[&a, &b]);
    let (r, _) = send_chunked(&good);
    assert_eq!(r.status, 200, "{}", r.body);
    // Same body with one hex digit of the second chunk's signature changed.
    call_delete(&s, "c");
    let mut bad = good.clone();
    let second = good
        .windows(16)
        .enumerate()
        .filter(|(_, w)| w == b"chunk-signature=")
        .nth(1)
        .unwrap()
        .0
        + 16;
    bad[second] = if bad[second] == b'0' { b'1' } else { b'0' };
    let (r, _) = send_chunked(&bad);
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    nothing_at(&s, "c");
}

fn call_delete(s: &TestServer, key: &str) {
    let (h, _) = sign(
        s,
        &s.app.credentials,
        "DELETE",
        &format!("/uploads/{key}"),
        Some(&hex_sha(b"")),
        s.clock_now(),
    );
    assert_eq!(
        send(s, "DELETE", &format!("/uploads/{key}"), &h, b"").status,
        204
    );
}

/// An unsigned aws-chunked body with a trailing checksum header, as
/// botocore sends over HTTPS by default.
fn trailer_body(data: &[u8], trailer: &str) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(format!("\r\n0\r\n{trailer}\r\n\r\n").as_bytes());
    out
}

fn crc32_b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

#[test]
fn trailer_checksums_are_verified_before_commit() {
    let s = TestServer::start();
    let data = b"trailing checksum body".to_vec();
    let decoded = data.len().to_string();
    let put_with = |trailer: &str| {
        let (mut h, _) = sign_with(
            &s,
            &s.app.credentials,
            "PUT",
            "/uploads/t",
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            s.clock_now(),
            &[
                ("x-amz-decoded-content-length", &decoded),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
            ],
        );
        h.push(("content-encoding".into(), "aws-chunked".into()));
        send(&s, "PUT", "/uploads/t", &h, &trailer_body(&data, trailer))
    };
    let m = put_with("x-amz-checksum-crc32:AAAAAA==").assert_s3_error(400, "BadDigest");
    assert!(m.contains("CRC32"), "{m}");
    nothing_at(&s, "t");
    let good = format!("x-amz-checksum-crc32:{}", crc32_b64(&data));
    let r = put_with(&good);
    assert_eq!(r.status, 200, "{}", r.body);
    // Stored and returned with checksum mode.
    let (h, _) = sign_with(
        &s,
        &s.app.credentials,
        "GET",
        "/uploads/t",
        Some(&hex_sha(b"")),
        s.clock_now(),
        &[("x-amz-checksum-mode", "ENABLED")],
    );
    let r = send(&s, "GET", "/uploads/t", &h, b"");
    assert_eq!(
        r.header("x-amz-checksum-crc32"),
        Some(crc32_b64(&data).as_str())
    );
    assert_eq!(r.body.as_bytes(), data);
}

#[test]
fn header_checksums_are_verified_before_commit() {
    let s = TestServer::start();
    let body = b"checksummed".to_vec();
    let put_with = |crc: &str| {
        let (h, _) = sign_with(
            &s,
            &s.app.credentials,
            "PUT",
            "/uploads/h",
            Some(&hex_sha(&body)),
            s.clock_now(),
            &[("x-amz-checksum-crc32", crc)],
        );
        send(&s, "PUT", "/uploads/h", &h, &body)
    };
    put_with(&crc32_b64(b"something else")).assert_s3_error(400, "BadDigest");
    nothing_at(&s, "h");
    put_with("not base64!").assert_s3_error(400, "InvalidRequest");
    nothing_at(&s, "h");
    // Unsigned, even a correct checksum header is refused, as in S3.
    let (mut h, _) = sign(
        &s,
        &s.app.credentials,
        "PUT",
        "/uploads/h",
        Some(&hex_sha(&body)),
        s.clock_now(),
    );
    h.push(("x-amz-checksum-crc32".into(), crc32_b64(&body)));
    send(&s, "PUT", "/uploads/h", &h, &body).assert_s3_error(403, "AccessDenied");
    nothing_at(&s, "h");
}
