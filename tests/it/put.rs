//! The presigned PUT `/{bucket}/{id}`: every rejection of issue 2, API item 3
//! (status, S3 error code, a message that says what to fix, and nothing
//! committed), and the accepted uploads, including a real `curl` exactly as
//! the published API documents it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use stowage::clock::Clock;
use stowage::sigv4::{presign, Credentials, PresignParams};
use time::OffsetDateTime;

use crate::harness::*;
use crate::topology;

/// Size of the files the rejection tests send: small enough to sit in the
/// socket buffers when the server answers before reading the body.
const LEN: usize = 1024;
/// A size above `app::INLINE_BLOB_MAX`: stored as a blob file.
const FILE_LEN: usize = stowage::app::INLINE_BLOB_MAX as usize + 1;

/// A fresh server, a declared (pending) file and its presigned PUT URL.
fn pending(len: usize) -> (TestServer, TestFile, String) {
    let server = TestServer::start();
    let file = TestFile::new(len);
    let url = server.presign_url(&file);
    (server, file, url)
}

/// Asserts an S3 XML rejection whose message mentions `hint`, and that the
/// request committed nothing (row pending, no blob at all, no temp file).
fn assert_rejected(
    server: &TestServer,
    file: &TestFile,
    r: &Resp,
    status: u16,
    code: &str,
    hint: &str,
) -> String {
    let msg = r.assert_s3_error(status, code);
    assert!(
        msg.contains(hint),
        "the {code} message should mention {hint:?}: {msg:?}"
    );
    server.assert_nothing_stored(file);
    assert!(server.blobs().is_empty(), "blobs: {:?}", server.blobs());
    msg
}

/// Presigns a file, changes one query parameter of its URL, PUTs the file
/// and asserts the rejection (and that nothing was stored).
fn rejected_with_param(name: &str, value: &str, status: u16, code: &str, hint: &str) -> String {
    let (s, f, url) = pending(LEN);
    let r = put(&with_param(&url, name, value), "image/png", &f.bytes);
    assert_rejected(&s, &f, &r, status, code, hint)
}

/// Signs a PUT URL for `file` ourselves, the way the gateway does, but with
/// the credentials, scope, time and expiry given.
fn sign_put(
    server: &TestServer,
    file: &TestFile,
    creds: &Credentials,
    region: &str,
    service: &str,
    at: OffsetDateTime,
) -> String {
    let host = server.addr.to_string();
    let path = format!("/uploads/{}", file.id);
    let sha = hex::encode(file.sha256());
    let size = file.bytes.len().to_string();
    let query = presign(
        creds,
        &PresignParams {
            method: "PUT",
            host: &host,
            path: &path,
            region,
            service,
            expires_secs: server.app.config.upload.presign_expiry_secs,
            extra_query: &[("X-Stowage-Sha256", &sha), ("X-Stowage-Size", &size)],
            extra_signed_headers: &[("content-type", &file.content_type)],
        },
        at,
    );
    format!("http://{host}{path}?{query}")
}

/// The value of one query parameter, as it appears in the URL.
fn param(url: &str, name: &str) -> String {
    let (_, query) = url.split_once('?').unwrap();
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not in {url}"))
        .to_string()
}

/// The path a blob with this content must have.
fn blob_path(server: &TestServer, file: &TestFile) -> PathBuf {
    let hex = hex::encode(file.sha256());
    server
        .data_dir
        .join("blobs")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(&hex)
}

/// Asserts the file is stored exactly once, with its bytes, and marked
/// uploaded, with no temp file left.
fn assert_stored(server: &TestServer, file: &TestFile) {
    assert_eq!(server.status_of(&file.id), "uploaded");
    let hex = hex::encode(file.sha256());
    assert_eq!(server.blobs(), vec![hex.clone()]);
    assert_eq!(server.blob_bytes(&hex).unwrap(), file.bytes);
    assert!(server.temps().is_empty(), "temps: {:?}", server.temps());
}

fn other_bytes(file: &TestFile) -> Vec<u8> {
    let mut b = file.bytes.clone();
    b[0] ^= 0xff;
    b
}

// ---- 1. malformed or missing auth parameters: 400 ----

#[test]
fn put_without_signature_is_400_authorization_query_parameters_error() {
    let (s, f, url) = pending(LEN);
    let r = put(
        &without_param(&url, "X-Amz-Signature"),
        "image/png",
        &f.bytes,
    );
    assert_rejected(
        &s,
        &f,
        &r,
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Signature",
    );
}

#[test]
fn put_without_any_query_is_403_anonymous_access_denied() {
    // No signature of any kind is an anonymous request, which S3 refuses
    // with AccessDenied (a partial X-Amz-* set is a 400, tested above).
    let (s, f, url) = pending(LEN);
    let bare = url.split_once('?').unwrap().0;
    let r = put(bare, "image/png", &f.bytes);
    assert_rejected(&s, &f, &r, 403, "AccessDenied", "sign the request");
}

#[test]
fn put_without_the_algorithm_parameter_is_400() {
    let (s, f, url) = pending(LEN);
    let r = put(
        &without_param(&url, "X-Amz-Algorithm"),
        "image/png",
        &f.bytes,
    );
    assert_rejected(
        &s,
        &f,
        &r,
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Algorithm",
    );
}

#[test]
fn put_with_malformed_date_is_400_authorization_query_parameters_error() {
    rejected_with_param(
        "X-Amz-Date",
        "2024-01-01T00%3A00%3A00Z",
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Date",
    );
}

#[test]
fn put_with_zero_expires_is_400_authorization_query_parameters_error() {
    let msg = rejected_with_param(
        "X-Amz-Expires",
        "0",
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Expires",
    );
    assert!(msg.contains("604800"), "{msg}");
}

#[test]
fn put_with_expires_over_seven_days_is_400_authorization_query_parameters_error() {
    let msg = rejected_with_param(
        "X-Amz-Expires",
        "604801",
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Expires",
    );
    assert!(msg.contains("604800"), "{msg}");
}

#[test]
fn put_with_wrong_algorithm_is_400_authorization_query_parameters_error() {
    let msg = rejected_with_param(
        "X-Amz-Algorithm",
        "AWS4-HMAC-SHA1",
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Algorithm",
    );
    assert!(msg.contains("AWS4-HMAC-SHA256"), "{msg}");
}

#[test]
fn put_with_malformed_credential_is_400_authorization_query_parameters_error() {
    rejected_with_param(
        "X-Amz-Credential",
        "AKID%2Fus-east-1%2Fs3",
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Credential",
    );
}

#[test]
fn put_with_repeated_signature_is_400_authorization_query_parameters_error() {
    let (s, f, url) = pending(LEN);
    let twice = format!("{url}&X-Amz-Signature={}", param(&url, "X-Amz-Signature"));
    let r = put(&twice, "image/png", &f.bytes);
    let msg = assert_rejected(
        &s,
        &f,
        &r,
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Signature",
    );
    assert!(msg.contains("once"), "{msg}");
}

// ---- 2. wrong key, region or service: 403 ----

/// Control for the hand-signed URLs below: signed with the gateway's own
/// key, scope and time, such a URL is accepted, so each rejection below is
/// caused by the one thing it changes.
#[test]
fn put_with_a_url_signed_like_the_gateway_is_accepted() {
    let (s, f, _) = pending(LEN);
    let url = sign_put(&s, &f, &s.app.credentials, "us-east-1", "s3", s.clock.now());
    let r = put(&url, "image/png", &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_stored(&s, &f);
}

#[test]
fn put_with_unknown_access_key_is_403_invalid_access_key_id() {
    let (s, f, _) = pending(LEN);
    let creds = Credentials {
        access_key_id: "AKIDNOTKNOWNHERE0000".into(),
        secret_access_key: s.app.credentials.secret_access_key.clone(),
    };
    let url = sign_put(&s, &f, &creds, "us-east-1", "s3", s.clock.now());
    let r = put(&url, "image/png", &f.bytes);
    let msg = assert_rejected(&s, &f, &r, 403, "InvalidAccessKeyId", "access key");
    assert!(!msg.contains(&s.app.credentials.secret_access_key));
}

#[test]
fn put_with_swapped_access_key_in_credential_is_403_invalid_access_key_id() {
    let (s, f, url) = pending(LEN);
    let cred = param(&url, "X-Amz-Credential");
    let key = &s.app.credentials.access_key_id;
    assert!(cred.starts_with(key.as_str()), "{cred}");
    let swapped = cred.replacen(key.as_str(), "AKIDSWAPPED000000000", 1);
    let r = put(
        &with_param(&url, "X-Amz-Credential", &swapped),
        "image/png",
        &f.bytes,
    );
    assert_rejected(&s, &f, &r, 403, "InvalidAccessKeyId", "access key");
}

#[test]
fn put_signed_for_another_region_is_403_signature_does_not_match() {
    let (s, f, _) = pending(LEN);
    let url = sign_put(&s, &f, &s.app.credentials, "eu-west-1", "s3", s.clock.now());
    let r = put(&url, "image/png", &f.bytes);
    let msg = assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "region");
    assert!(
        msg.contains("eu-west-1") && msg.contains("us-east-1"),
        "{msg}"
    );
}

#[test]
fn put_signed_for_another_service_is_403_signature_does_not_match() {
    let (s, f, _) = pending(LEN);
    let url = sign_put(
        &s,
        &f,
        &s.app.credentials,
        "us-east-1",
        "execute-api",
        s.clock.now(),
    );
    let r = put(&url, "image/png", &f.bytes);
    let msg = assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "service");
    assert!(msg.contains("execute-api"), "{msg}");
}

// ---- 3. expired, or dated in the future ----

#[test]
fn put_after_expiry_is_403_access_denied_request_has_expired() {
    let (s, f, url) = pending(LEN);
    s.clock.advance(901);
    let r = put(&url, "image/png", &f.bytes);
    let msg = assert_rejected(&s, &f, &r, 403, "AccessDenied", "expired");
    assert_eq!(msg, "Request has expired");
}

#[test]
fn put_dated_twenty_minutes_ahead_is_403_request_time_too_skewed() {
    let (s, f, _) = pending(LEN);
    let ahead = s.clock.now() + time::Duration::minutes(20);
    let url = sign_put(&s, &f, &s.app.credentials, "us-east-1", "s3", ahead);
    let r = put(&url, "image/png", &f.bytes);
    assert_rejected(&s, &f, &r, 403, "RequestTimeTooSkewed", "time");
}

/// The other side of the skew limit: 14 minutes ahead is within it.
#[test]
fn put_dated_fourteen_minutes_ahead_is_accepted() {
    let (s, f, _) = pending(LEN);
    let ahead = s.clock.now() + time::Duration::minutes(14);
    let url = sign_put(&s, &f, &s.app.credentials, "us-east-1", "s3", ahead);
    let r = put(&url, "image/png", &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_stored(&s, &f);
}

// ---- 4. tampering: 403 SignatureDoesNotMatch ----

#[test]
fn put_with_changed_signature_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let sig = param(&url, "X-Amz-Signature");
    let mut chars: Vec<char> = sig.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    let changed: String = chars.into_iter().collect();
    let r = put(
        &with_param(&url, "X-Amz-Signature", &changed),
        "image/png",
        &f.bytes,
    );
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
}

#[test]
fn put_with_changed_size_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let mut longer = f.bytes.clone();
    longer.push(0);
    let r = put(
        &with_param(&url, "X-Stowage-Size", &(LEN + 1).to_string()),
        "image/png",
        &longer,
    );
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
}

#[test]
fn put_with_changed_sha256_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let other = other_bytes(&f);
    let other_hex = hex::encode(Sha256::digest(&other));
    let r = put(
        &with_param(&url, "X-Stowage-Sha256", &other_hex),
        "image/png",
        &other,
    );
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
}

#[test]
fn put_with_changed_expires_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    assert_eq!(param(&url, "X-Amz-Expires"), "900");
    let r = put(
        &with_param(&url, "X-Amz-Expires", "604800"),
        "image/png",
        &f.bytes,
    );
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
}

#[test]
fn put_with_other_content_type_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let r = put(&url, "image/jpeg", &f.bytes);
    let msg = assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
    assert!(
        msg.contains("Content-Type") && msg.contains("sent image/jpeg"),
        "{msg}"
    );
}

/// `curl --upload-file` without `-H "Content-Type: …"` sends no type; the
/// message says so.
#[test]
fn put_without_content_type_is_403_and_says_why() {
    let (s, f, url) = pending(LEN);
    let r = Resp::from(ureq::put(&url).send_bytes(&f.bytes));
    let msg = assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "Content-Type");
    assert!(msg.contains("sent none"), "{msg}");
}

#[test]
fn put_to_another_id_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let other = TestFile::new(LEN);
    s.presign_url(&other);
    let moved = url.replacen(&f.id, &other.id, 1);
    assert_ne!(moved, url);
    let r = put(&moved, "image/png", &f.bytes);
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
    s.assert_nothing_stored(&other);
}

/// Dropping `content-type` from the signed headers (to send any type) is
/// itself a change to the signed request.
#[test]
fn put_with_content_type_unsigned_is_403_signature_does_not_match() {
    let (s, f, url) = pending(LEN);
    let r = put(
        &with_param(&url, "X-Amz-SignedHeaders", "host"),
        "image/jpeg",
        &f.bytes,
    );
    assert_rejected(&s, &f, &r, 403, "SignatureDoesNotMatch", "signature");
}

// ---- 5./6./7. Content-Length and body length ----

#[test]
fn put_without_content_length_is_411_missing_content_length() {
    let (s, f, url) = pending(LEN);
    let (path, host) = split_url(&url);
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        f.bytes.len()
    )
    .into_bytes();
    req.extend_from_slice(&f.bytes);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let raw = raw_request(s.addr, &req, false);
    assert!(raw.starts_with("HTTP/1.1 411 "), "{raw}");
    let r = Resp::from_raw(&raw);
    assert_rejected(&s, &f, &r, 411, "MissingContentLength", "Content-Length");
}

#[test]
fn put_with_content_length_over_declared_is_400_entity_too_large() {
    let (s, f, url) = pending(LEN);
    let mut longer = f.bytes.clone();
    longer.push(0);
    let r = put(&url, "image/png", &longer);
    let msg = assert_rejected(&s, &f, &r, 400, "EntityTooLarge", "Content-Length");
    assert!(msg.contains(&LEN.to_string()), "{msg}");
}

/// The length is checked before any byte is read: the answer comes while
/// the client has sent only the head (a 10 GB body never has to travel).
#[test]
fn put_with_content_length_over_declared_is_refused_before_the_body() {
    let (s, f, url) = pending(LEN);
    let (path, host) = split_url(&url);
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n\
         Content-Length: 10000000000\r\nConnection: close\r\n\r\n"
    );
    let started = std::time::Instant::now();
    let raw = raw_request(s.addr, req.as_bytes(), false);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the server waited for the body"
    );
    assert!(raw.starts_with("HTTP/1.1 400 "), "{raw}");
    let r = Resp::from_raw(&raw);
    assert_rejected(&s, &f, &r, 400, "EntityTooLarge", "Content-Length");
}

#[test]
fn put_with_content_length_under_declared_is_400_incomplete_body() {
    let (s, f, url) = pending(LEN);
    let r = put(&url, "image/png", &f.bytes[..LEN - 1]);
    let msg = assert_rejected(&s, &f, &r, 400, "IncompleteBody", "Content-Length");
    assert!(msg.contains(&LEN.to_string()), "{msg}");
}

#[test]
fn put_with_body_cut_short_is_400_incomplete_body() {
    let (s, f, url) = pending(64 * 1024);
    let (path, host) = split_url(&url);
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\n\r\n",
        f.bytes.len()
    )
    .into_bytes();
    req.extend_from_slice(&f.bytes[..f.bytes.len() / 2]);
    let raw = raw_request(s.addr, &req, true);
    assert!(raw.starts_with("HTTP/1.1 400 "), "{raw}");
    assert!(raw.contains("<Code>IncompleteBody</Code>"), "{raw}");
    let r = Resp::from_raw(&raw);
    let msg = assert_rejected(&s, &f, &r, 400, "IncompleteBody", "retry");
    assert!(msg.contains(&(32 * 1024).to_string()), "{msg}");
}

// ---- 8. content ----

#[test]
fn put_with_other_bytes_of_declared_size_is_400_bad_digest() {
    let (s, f, url) = pending(LEN);
    let other = other_bytes(&f);
    let r = put(&url, "image/png", &other);
    let msg = assert_rejected(&s, &f, &r, 400, "BadDigest", "does not match");
    assert!(msg.contains(&f.hash_b64()), "{msg}");
    let other_hex = hex::encode(Sha256::digest(&other));
    assert!(!s.blobs().iter().any(|p| p.ends_with(&other_hex)));
}

// ---- 9. bucket ----

#[test]
fn put_to_another_bucket_is_404_no_such_bucket() {
    let (s, f, _) = pending(LEN);
    // Validly signed, but for a bucket upload URLs never point into.
    let host = s.addr.to_string();
    let path = format!("/photos/{}", f.id);
    let sha = hex::encode(f.sha256());
    let size = f.bytes.len().to_string();
    let query = presign(
        &s.app.credentials,
        &PresignParams {
            method: "PUT",
            host: &host,
            path: &path,
            region: "us-east-1",
            service: "s3",
            expires_secs: 60,
            extra_query: &[("X-Stowage-Sha256", &sha), ("X-Stowage-Size", &size)],
            extra_signed_headers: &[("content-type", "image/png")],
        },
        s.clock.now(),
    );
    let r = put(
        &format!("http://{host}{path}?{query}"),
        "image/png",
        &f.bytes,
    );
    assert_rejected(&s, &f, &r, 404, "NoSuchBucket", "uploads");
}

// ---- accepted uploads ----

#[test]
fn curl_upload_exactly_as_published_is_stored_once() {
    let (s, f, url) = pending(1536 * 1024); // over 1 MiB: curl sends Expect: 100-continue
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    std::fs::write(&path, &f.bytes).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: image/png",
            "--upload-file",
        ])
        .arg(&path)
        .arg(&url)
        .args(["-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("200"), "{stdout}");
    let etag = stdout
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("etag").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no ETag: {stdout}"));
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    assert_stored(&s, &f);
}

#[test]
fn second_put_of_an_uploaded_id_is_200_without_rewriting() {
    // Big enough to be a blob file (small ones are inline in the index),
    // which a second PUT must leave alone: it is answered from the row
    // (its body read only to be dropped).
    let (s, f, url) = pending(FILE_LEN);
    let first = put(&url, "image/png", &f.bytes);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_stored(&s, &f);
    // The blob as stored: its file's inode and mtime, or in a cluster run
    // the objects in the bucket (a rewrite would be a new one: names are
    // never reused).
    let stamp = || match topology::cluster() {
        false => {
            let m = std::fs::metadata(blob_path(&s, &f)).unwrap();
            format!("{} {} {}", m.ino(), m.mtime(), m.mtime_nsec())
        }
        true => format!("{:?}", s.objects()),
    };
    let before = stamp();
    std::thread::sleep(Duration::from_millis(20));

    let second = put(&url, "image/png", &f.bytes);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(stamp(), before, "blob rewritten");
    assert_stored(&s, &f);
}

#[test]
fn concurrent_puts_of_one_id_store_one_whole_blob() {
    let (s, f, url) = pending(512 * 1024);
    let gate = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (gate, url, bytes) = (gate.clone(), url.clone(), f.bytes.clone());
            std::thread::spawn(move || {
                gate.wait();
                put(&url, "image/png", &bytes)
            })
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.header("etag").is_some());
    }
    // Losers' staged copies are removed as their requests end.
    for _ in 0..50 {
        if s.temps().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_stored(&s, &f);
}

#[test]
fn put_with_content_type_parameters_is_accepted() {
    let s = TestServer::start();
    let mut f = TestFile::new(LEN);
    f.content_type = "text/plain; charset=utf-8".into();
    let url = s.presign_url(&f);
    let r = put(&url, "text/plain; charset=utf-8", &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_stored(&s, &f);
}

#[test]
fn put_of_an_empty_file_is_accepted() {
    let (s, f, url) = pending(0);
    assert_eq!(
        hex::encode(f.sha256()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let r = put(&url, "image/png", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_stored(&s, &f);
}

#[test]
fn same_bytes_under_two_ids_without_dedupe_are_one_blob() {
    let s = TestServer::start_with("[upload]\ndedupe = false");
    let a = TestFile::new(LEN);
    let mut b = a.clone();
    b.id = uuid::Uuid::new_v4().to_string();
    let (url_a, url_b) = (s.presign_url(&a), s.presign_url(&b));
    for url in [&url_a, &url_b] {
        let r = put(url, "image/png", &a.bytes);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_stored(&s, &a);
    assert_stored(&s, &b);
}

#[test]
fn a_slow_upload_outlives_the_sweep_of_its_expired_row() {
    use std::io::{Read as _, Write as _};
    let server = TestServer::start();
    let file = TestFile::new(200_000);
    let url = server.presign_url(&file);
    let (path, host) = split_url(&url);
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        file.bytes.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&file.bytes[..100_000]).unwrap();
    server.await_receiving(1);

    // Two hours later the URL is long expired, but the bytes are arriving.
    server.clock.advance(7200);
    let (rows, temps) = server.sweep();
    assert_eq!((rows, temps), (0, 0), "sweep withdrew a live upload");

    conn.write_all(&file.bytes[100_000..]).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = conn.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(server.status_of(&file.id), "uploaded");
    // Once no bytes are arriving, an expired pending row does go.
    let idle = TestFile::new(10);
    server.presign_url(&idle);
    server.clock.advance(7200);
    assert_eq!(server.sweep().0, 1);
}

#[test]
fn second_put_with_the_wrong_size_is_refused_even_when_stored() {
    let (s, f, url) = pending(LEN);
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    put(&url, "image/png", &f.bytes[..LEN - 1]).assert_s3_error(400, "IncompleteBody");
    let mut longer = f.bytes.clone();
    longer.push(0);
    put(&url, "image/png", &longer).assert_s3_error(400, "EntityTooLarge");
    assert_stored(&s, &f);
}

#[test]
fn a_percent_encoded_id_names_the_same_object() {
    let (s, f, url) = pending(LEN);
    let first = f.id.chars().next().unwrap();
    let encoded = url.replacen(
        &format!("/uploads/{first}"),
        &format!("/uploads/%{:02X}", first as u32),
        1,
    );
    assert_ne!(encoded, url);
    let r = put(&encoded, "image/png", &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.status_of(&f.id), "uploaded");
}

/// Deletes the row of `id` behind the server's back, as a crash would lose
/// a presign that was answered before its commit was durable.
fn lose_row(s: &TestServer, id: &str) {
    assert_eq!(
        s.index().execute("DELETE FROM files WHERE id = ?1", &[id]),
        1
    );
}

#[test]
fn a_url_whose_pending_row_was_lost_still_stores_the_file() {
    // The URL carries the whole declaration (X-Stowage-Name beside the
    // signed type, size and hash), so presign need not wait for its row to
    // be durable: a PUT whose row is gone recreates it. Small bodies and
    // large ones take different paths.
    let s = TestServer::start();
    for len in [LEN, FILE_LEN] {
        let mut f = TestFile::new(len);
        f.name = "Prüfbericht 7 (final).png".into();
        let url = s.presign_url(&f);
        assert!(url.contains("X-Stowage-Name="), "{url}");
        lose_row(&s, &f.id);
        let (status, body) = curl_put(&url, &f.content_type, &f.bytes);
        assert_eq!(status, 200, "{len} bytes: {body}");
        assert_eq!(s.status_of(&f.id), "uploaded");
        assert_eq!(s.blob_bytes(&hex::encode(f.sha256())).unwrap(), f.bytes);
        let c = s.complete(&f.id);
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.json()["data"]["fileName"], f.name.as_str(), "{}", c.body);
    }
}

#[test]
fn a_url_without_the_declaration_and_without_a_row_is_404_and_stores_nothing() {
    // A URL signed with the gateway's key but without X-Stowage-Name (as
    // issued before URLs were self-contained) needs its pending row.
    let s = TestServer::start();
    for len in [LEN, FILE_LEN] {
        let f = TestFile::new(len);
        let sha = hex::encode(f.sha256());
        let size = len.to_string();
        let path = format!("/uploads/{}", f.id);
        let q = stowage::sigv4::presign(
            &s.app.credentials,
            &stowage::sigv4::PresignParams {
                method: "PUT",
                host: &s.addr.to_string(),
                path: &path,
                region: "us-east-1",
                service: "s3",
                expires_secs: 900,
                extra_query: &[("X-Stowage-Sha256", &sha), ("X-Stowage-Size", &size)],
                extra_signed_headers: &[("content-type", &f.content_type)],
            },
            s.clock_now(),
        );
        let url = format!("{}{path}?{q}", s.base);
        let (status, body) = curl_put(&url, &f.content_type, &f.bytes);
        assert_eq!(status, 404, "{len} bytes: {body}");
        assert!(body.contains("<Code>NoSuchKey</Code>"), "{body}");
        assert!(body.contains("request a new presigned URL"), "{body}");
        assert!(s.blobs().is_empty(), "{len} bytes: blobs {:?}", s.blobs());
        assert_eq!(s.file(&f.id).status, 404);
    }
    assert!(s.temps().is_empty(), "temps: {:?}", s.temps());
}
