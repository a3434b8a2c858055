//! Presigned GET/HEAD of stored files: headers, bytes, and refusals.

use crate::harness::*;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A URL for `path` signed with the gateway's own key, as it would sign it.
fn signed_url(s: &TestServer, method: &str, path: &str) -> String {
    let q = stowage::sigv4::presign(
        &s.app.credentials,
        &stowage::sigv4::PresignParams {
            method,
            host: &s.addr.to_string(),
            path,
            region: "us-east-1",
            service: "s3",
            expires_secs: 60,
            extra_query: &[],
            extra_signed_headers: &[],
        },
        s.clock_now(),
    );
    format!("{}{path}?{q}", s.base)
}

#[test]
fn download_streams_the_bytes_with_stored_headers() {
    let s = TestServer::start();
    let mut f = TestFile::new(300_000);
    f.content_type = "application/pdf".into();
    f.name = "Prüfbericht \"final\".pdf".into();
    let url = s.store_completed(&f);
    let (status, headers, body) = get(&url);
    assert_eq!(status, 200);
    assert_eq!(body, f.bytes);
    assert_eq!(header(&headers, "content-type"), Some("application/pdf"));
    assert_eq!(header(&headers, "content-length"), Some("300000"));
    // S3's ETag of a single PUT: the MD5 of the bytes.
    let md5 = <md5::Md5 as md5::Digest>::digest(&f.bytes);
    assert_eq!(
        header(&headers, "etag"),
        Some(format!("\"{}\"", hex::encode(md5)).as_str())
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("attachment; filename=\"Pr_fbericht _final_.pdf\"; filename*=UTF-8''Pr%C3%BCfbericht%20%22final%22.pdf")
    );
    assert!(header(&headers, "last-modified").unwrap().ends_with("GMT"));
}

#[test]
fn download_with_real_curl_matches() {
    let s = TestServer::start();
    let f = TestFile::new(70_000);
    let url = s.store_completed(&f);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.png");
    let st = std::process::Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&out)
        .arg(&url)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read(&out).unwrap(), f.bytes);
}

#[test]
fn download_url_expires() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    let url = s.store_completed(&f);
    s.clock.advance(901);
    let r = Resp::from(ureq::get(&url).call());
    let m = r.assert_s3_error(403, "AccessDenied");
    assert_eq!(m, "Request has expired");
}

#[test]
fn a_get_url_cannot_be_used_to_put_and_tampering_fails() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    let url = s.store_completed(&f);
    put(&url, "image/png", b"overwrite!").assert_s3_error(403, "SignatureDoesNotMatch");
    let other = url.replace(&f.id, &uuid::Uuid::new_v4().to_string());
    Resp::from(ureq::get(&other).call()).assert_s3_error(403, "SignatureDoesNotMatch");
    // The stored bytes are untouched.
    assert_eq!(get(&url).2, f.bytes);
}

#[test]
fn pending_files_cannot_be_downloaded() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    s.presign_url(&f);
    // A validly signed GET for an id without bytes.
    let path = format!("/uploads/{}", f.id);
    let r = Resp::from(ureq::get(&signed_url(&s, "GET", &path)).call());
    r.assert_s3_error(404, "NoSuchKey");
}

#[test]
fn head_answers_headers_without_body() {
    let s = TestServer::start();
    let f = TestFile::new(1234);
    s.store_completed(&f);
    let path = format!("/uploads/{}", f.id);
    let r = Resp::from(ureq::head(&signed_url(&s, "HEAD", &path)).call());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1234"));
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.body.is_empty());
}

#[test]
fn anonymous_requests_and_unknown_buckets_are_refused() {
    let s = TestServer::start();
    let id = uuid::Uuid::new_v4();
    Resp::from(ureq::get(&s.url(&format!("/uploads/{id}"))).call())
        .assert_s3_error(403, "AccessDenied");
    Resp::from(ureq::get(&signed_url(&s, "GET", &format!("/other/{id}"))).call())
        .assert_s3_error(404, "NoSuchBucket");
    Resp::from(ureq::get(&signed_url(&s, "GET", &format!("/uploads/{id}"))).call())
        .assert_s3_error(404, "NoSuchKey");
}

#[test]
fn small_files_live_in_the_index_larger_ones_as_blob_files_and_both_read_back() {
    let max = stowage::app::INLINE_BLOB_MAX as usize;
    let s = TestServer::start();
    let small = TestFile::new(max);
    let large = TestFile::new(max + 1);
    s.store_completed(&small);
    s.store_completed(&large);
    let (small_hex, large_hex) = (hex::encode(small.sha256()), hex::encode(large.sha256()));

    // Where the bytes are: the small file's only in the index (no file, no
    // fsync of its own), the large file's only as a blob file.
    let inline: Vec<String> = s.inline_blobs().into_iter().map(|(h, _)| h).collect();
    assert_eq!(inline, vec![small_hex.clone()]);
    // (`blobs` lists both; in a cluster run, objects in the bucket instead
    // of files.)
    let outside: Vec<String> = s
        .blobs()
        .into_iter()
        .filter(|h| !inline.contains(h))
        .collect();
    assert_eq!(outside, vec![large_hex.clone()]);
    assert_eq!(s.blob_bytes(&large_hex).unwrap(), large.bytes);
    assert_eq!(s.blob_bytes(&small_hex).unwrap(), small.bytes);

    // Both read back whole and by range after a restart.
    let s = s.restart();
    for f in [&small, &large] {
        let c = s.complete(&f.id);
        let url = c.json()["data"]["downloadURL"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _, body) = get(&url);
        assert_eq!(status, 200);
        assert_eq!(body, f.bytes);
        let r = ureq::get(&url)
            .set("Range", "bytes=100-199")
            .call()
            .unwrap();
        assert_eq!(r.status(), 206);
        let mut part = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut part).unwrap();
        assert_eq!(part, f.bytes[100..200]);
    }
    assert_eq!(s.blobs(), {
        let mut v = vec![small_hex, large_hex];
        v.sort();
        v
    });
}
