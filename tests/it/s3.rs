//! The S3 surface with query-signed (presigned) requests, as an SDK's
//! `generate_presigned_url` would make them: buckets, objects with
//! arbitrary keys, listing, ranges, conditionals, deletes and digests.

use md5::{Digest as _, Md5};
use stowage::sigv4::encode::uri_encode;

use crate::harness::*;

/// A URL for `method path?query` signed with the gateway's key.
pub(crate) fn signed(s: &TestServer, method: &str, path: &str, query: &[(&str, &str)]) -> String {
    signed_with(s, method, path, query, &[])
}

/// Like `signed`, also signing `headers` (lowercase names) the request will
/// carry: S3 refuses unsigned `x-amz-*` headers.
pub(crate) fn signed_with(
    s: &TestServer,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> String {
    presigned_url(s, &s.app.credentials, method, path, query, headers)
}

pub(crate) fn call(s: &TestServer, method: &str, path: &str, query: &[(&str, &str)]) -> Resp {
    Resp::from(ureq::request(method, &signed(s, method, path, query)).call())
}

pub(crate) fn put_obj(s: &TestServer, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    Resp::from(put_req(s, path, &[], headers).send_bytes(body))
}

/// A presigned PUT request carrying `headers`, its `x-amz-*` ones signed.
pub(crate) fn put_req(
    s: &TestServer,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> ureq::Request {
    let lower: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .filter(|(n, _)| n.starts_with("x-amz-"))
        .collect();
    let amz: Vec<(&str, &str)> = lower
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut req = ureq::put(&signed_with(s, "PUT", path, query, &amz));
    for (n, v) in headers {
        req = req.set(n, v);
    }
    req
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

#[test]
fn bucket_lifecycle() {
    let s = TestServer::start();
    let list = call(&s, "GET", "/", &[]);
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("<Name>uploads</Name>"), "{}", list.body);

    assert_eq!(call(&s, "PUT", "/photos", &[]).status, 200);
    // Again, by its owner: 200 in us-east-1 (AWS's legacy answer there),
    // 409 BucketAlreadyOwnedByYou in any other region.
    assert_eq!(call(&s, "PUT", "/photos", &[]).status, 200);
    let eu = TestServer::start_with("[s3]\nregion = \"eu-west-1\"\n");
    assert_eq!(call(&eu, "PUT", "/photos", &[]).status, 200);
    call(&eu, "PUT", "/photos", &[]).assert_s3_error(409, "BucketAlreadyOwnedByYou");
    call(&s, "PUT", "/Bad_Name", &[]).assert_s3_error(400, "InvalidBucketName");
    assert!(
        !call(&s, "GET", "/", &[]).body.contains("Bad_Name"),
        "bucket created anyway"
    );
    assert_eq!(call(&s, "HEAD", "/photos", &[]).status, 200);
    assert_eq!(call(&s, "HEAD", "/nothing-here", &[]).status, 404);
    let loc = call(&s, "GET", "/photos", &[("location", "")]);
    assert!(loc.body.contains("<LocationConstraint"), "{}", loc.body);

    assert_eq!(put_obj(&s, "/photos/a.txt", b"hi", &[]).status, 200);
    call(&s, "DELETE", "/photos", &[]).assert_s3_error(409, "BucketNotEmpty");
    assert_eq!(call(&s, "DELETE", "/photos/a.txt", &[]).status, 204);
    assert_eq!(call(&s, "DELETE", "/photos", &[]).status, 204);
    call(&s, "DELETE", "/photos", &[]).assert_s3_error(404, "NoSuchBucket");
    put_obj(&s, "/photos/a.txt", b"hi", &[]).assert_s3_error(404, "NoSuchBucket");
}

#[test]
fn arbitrary_keys_round_trip_with_metadata() {
    let s = TestServer::start();
    let keys = [
        "plain.txt",
        "with space+plus%percent=eq&amp",
        "dir/sub/ü-ñ-日本.bin",
        "/leading-slash",
        "trailing/",
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = format!("body {i} of {key}").into_bytes();
        let path = format!("/uploads/{key}");
        let r = put_obj(
            &s,
            &path,
            &body,
            &[
                ("Content-Type", "text/x-test"),
                ("Cache-Control", "max-age=60"),
                ("x-amz-meta-site", "Nordhafen 3"),
            ],
        );
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        let etag = format!("\"{}\"", md5_hex(&body));
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{key}");
        let (status, headers, got) = get(&signed(&s, "GET", &path, &[]));
        assert_eq!(status, 200, "{key}");
        assert_eq!(got, body, "{key}");
        let h = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("content-type").as_deref(), Some("text/x-test"));
        assert_eq!(h("cache-control").as_deref(), Some("max-age=60"));
        assert_eq!(h("x-amz-meta-site").as_deref(), Some("Nordhafen 3"));
        assert_eq!(h("etag"), Some(etag));
    }
    // Nothing a key says became a path: blobs are only content-addressed.
    for p in s.blob_files() {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 64, "{p:?}");
    }
    // Dot segments are key bytes, never path navigation (curl --path-as-is
    // sends them untouched, as SDKs do).
    let dots = "/uploads/../dot/./../dots";
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--path-as-is",
            "-X",
            "PUT",
            "--data-binary",
            "dots",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
        ])
        .arg(signed(&s, "PUT", dots, &[]))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let list = call(
        &s,
        "GET",
        "/uploads",
        &[("list-type", "2"), ("prefix", "../")],
    );
    assert!(
        list.body.contains("<Key>../dot/./../dots</Key>"),
        "{}",
        list.body
    );
    let long = format!("/uploads/{}", "k".repeat(1025));
    let before = s.blobs().len();
    put_obj(&s, &long, b"x", &[]).assert_s3_error(400, "KeyTooLongError");
    assert_eq!(s.blobs().len(), before, "a blob was stored");
    assert!(s.temps().is_empty());
}

#[test]
fn list_v2_folds_prefixes_and_pages() {
    let s = TestServer::start();
    for k in ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"] {
        assert_eq!(
            put_obj(&s, &format!("/uploads/{k}"), k.as_bytes(), &[]).status,
            200
        );
    }
    let r = call(
        &s,
        "GET",
        "/uploads",
        &[("list-type", "2"), ("delimiter", "/")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<KeyCount>4</KeyCount>"), "{}", r.body);
    for p in ["a/", "c/"] {
        assert!(r.body.contains(&format!(
            "<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>"
        )));
    }
    assert!(r.body.contains("<Key>b</Key>") && r.body.contains("<Key>d</Key>"));
    assert!(!r.body.contains("<Key>a/1</Key>"));

    let r = call(
        &s,
        "GET",
        "/uploads",
        &[("list-type", "2"), ("prefix", "a/"), ("delimiter", "/")],
    );
    assert!(r.body.contains("<Key>a/1</Key>") && r.body.contains("<Key>a/2</Key>"));
    assert!(r.body.contains("<Prefix>a/b/</Prefix>"), "{}", r.body);

    // Pages of two, following continuation tokens, visit every key once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = vec![("list-type", "2"), ("max-keys", "2")];
        if let Some(t) = &token {
            q.push(("continuation-token", t.as_str()));
        }
        let r = call(&s, "GET", "/uploads", &q);
        assert_eq!(r.status, 200, "{}", r.body);
        for part in r.body.split("<Key>").skip(1) {
            seen.push(part.split("</Key>").next().unwrap().to_string());
        }
        if !r.body.contains("<IsTruncated>true</IsTruncated>") {
            break;
        }
        let t = r.body.split("<NextContinuationToken>").nth(1).unwrap();
        token = Some(
            t.split("</NextContinuationToken>")
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen, ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"]);

    let r = call(
        &s,
        "GET",
        "/uploads",
        &[("list-type", "2"), ("start-after", "c/1")],
    );
    assert!(!r.body.contains("<Key>c/1</Key>") && r.body.contains("<Key>c/2</Key>"));
    // v1 with marker.
    let r = call(&s, "GET", "/uploads", &[("marker", "b")]);
    assert!(r.body.contains("<Key>c/1</Key>") && !r.body.contains("<Key>b</Key>"));
}

#[test]
fn list_url_encoding_escapes_keys() {
    let s = TestServer::start();
    put_obj(&s, "/uploads/a b&c", b"x", &[]);
    let r = call(
        &s,
        "GET",
        "/uploads",
        &[("list-type", "2"), ("encoding-type", "url")],
    );
    assert!(r.body.contains("<Key>a%20b%26c</Key>"), "{}", r.body);
    let r = call(&s, "GET", "/uploads", &[("list-type", "2")]);
    assert!(r.body.contains("<Key>a b&amp;c</Key>"), "{}", r.body);
}

#[test]
fn ranges_and_conditionals() {
    let s = TestServer::start();
    let body: Vec<u8> = (0..100u8).collect();
    put_obj(&s, "/uploads/r.bin", &body, &[]);
    let url = signed(&s, "GET", "/uploads/r.bin", &[]);
    let r = ureq::get(&url).set("Range", "bytes=10-19").call().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100"));
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut got).unwrap();
    assert_eq!(got, &body[10..20]);
    let r = ureq::get(&url).set("Range", "bytes=-5").call().unwrap();
    assert_eq!(r.header("content-length"), Some("5"));
    Resp::from(ureq::get(&url).set("Range", "bytes=100-").call())
        .assert_s3_error(416, "InvalidRange");

    let etag = format!("\"{}\"", md5_hex(&body));
    let r = Resp::from(ureq::get(&url).set("If-None-Match", &etag).call());
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    Resp::from(ureq::get(&url).set("If-Match", "\"nope\"").call())
        .assert_s3_error(412, "PreconditionFailed");
    assert_eq!(
        Resp::from(ureq::get(&url).set("If-Match", &etag).call()).status,
        200
    );
    let r = Resp::from(
        ureq::get(&url)
            .set("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
            .call(),
    );
    assert_eq!(r.status, 304);
    Resp::from(
        ureq::get(&url)
            .set("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
            .call(),
    )
    .assert_s3_error(412, "PreconditionFailed");
    // Presigned response overrides.
    let over = signed(
        &s,
        "GET",
        "/uploads/r.bin",
        &[
            ("response-content-type", "application/x-custom"),
            ("response-content-disposition", "inline"),
        ],
    );
    let r = ureq::get(&over).call().unwrap();
    assert_eq!(r.header("content-type"), Some("application/x-custom"));
    assert_eq!(r.header("content-disposition"), Some("inline"));
}

#[test]
fn deletes_free_blobs_only_when_unreferenced() {
    let s = TestServer::start();
    put_obj(&s, "/uploads/one", b"shared bytes", &[]);
    put_obj(&s, "/uploads/two", b"shared bytes", &[]);
    put_obj(&s, "/uploads/three", b"other bytes", &[]);
    assert_eq!(s.blobs().len(), 2);
    assert_eq!(call(&s, "DELETE", "/uploads/one", &[]).status, 204);
    assert_eq!(s.blobs().len(), 2, "shared blob deleted while referenced");
    call(&s, "GET", "/uploads/one", &[]).assert_s3_error(404, "NoSuchKey");
    assert_eq!(
        get(&signed(&s, "GET", "/uploads/two", &[])).2,
        b"shared bytes"
    );
    assert_eq!(call(&s, "DELETE", "/uploads/two", &[]).status, 204);
    assert_eq!(s.blobs().len(), 1);
    // Overwriting frees the old bytes too.
    put_obj(&s, "/uploads/three", b"new bytes", &[]);
    assert_eq!(s.blobs().len(), 1);
    assert_eq!(
        get(&signed(&s, "GET", "/uploads/three", &[])).2,
        b"new bytes"
    );
    // Deleting a missing key succeeds, as in S3.
    assert_eq!(call(&s, "DELETE", "/uploads/never", &[]).status, 204);
}

#[test]
fn content_md5_is_verified_before_anything_is_stored() {
    let s = TestServer::start();
    use base64::Engine;
    let good = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"payload"));
    let wrong = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"other"));
    put_obj(&s, "/uploads/m", b"payload", &[("Content-MD5", &wrong)])
        .assert_s3_error(400, "BadDigest");
    put_obj(&s, "/uploads/m", b"payload", &[("Content-MD5", "zz")])
        .assert_s3_error(400, "InvalidDigest");
    call(&s, "GET", "/uploads/m", &[]).assert_s3_error(404, "NoSuchKey");
    assert!(s.blobs().is_empty());
    assert!(s.temps().is_empty());
    assert_eq!(
        put_obj(&s, "/uploads/m", b"payload", &[("Content-MD5", &good)]).status,
        200
    );
}

#[test]
fn an_api_upload_is_an_s3_object() {
    let s = TestServer::start();
    let f = TestFile::new(1000);
    assert_eq!(put(&s.presign_url(&f), "image/png", &f.bytes).status, 200);
    let path = format!("/uploads/{}", f.id);
    let (status, headers, body) = get(&signed(&s, "GET", &path, &[]));
    assert_eq!(status, 200);
    assert_eq!(body, f.bytes);
    let etag = headers.iter().find(|(k, _)| k == "etag").unwrap();
    assert_eq!(etag.1, format!("\"{}\"", md5_hex(&f.bytes)));
    let list = call(&s, "GET", "/uploads", &[("list-type", "2")]);
    assert!(
        list.body.contains(&format!("<Key>{}</Key>", f.id)),
        "{}",
        list.body
    );
}

pub(crate) fn post(s: &TestServer, path: &str, query: &[(&str, &str)], body: &str) -> Resp {
    Resp::from(ureq::post(&signed(s, "POST", path, query)).send_string(body))
}

pub(crate) fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    s.split(a).nth(1).unwrap().split(b).next().unwrap()
}

pub(crate) fn create_upload(s: &TestServer, path: &str) -> String {
    let r = post(s, path, &[("uploads", "")], "");
    assert_eq!(r.status, 200, "{}", r.body);
    between(&r.body, "<UploadId>", "</UploadId>").to_string()
}

pub(crate) fn upload_part(s: &TestServer, path: &str, id: &str, n: u32, body: &[u8]) -> String {
    let n = n.to_string();
    let r = Resp::from(
        ureq::put(&signed(
            s,
            "PUT",
            path,
            &[("partNumber", &n), ("uploadId", id)],
        ))
        .send_bytes(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("etag").unwrap().to_string()
}

pub(crate) fn complete_xml(parts: &[(u32, &str)]) -> String {
    let mut x = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        x.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    x + "</CompleteMultipartUpload>"
}

#[test]
fn multipart_upload_assembles_the_object_whole() {
    let s = TestServer::start();
    let path = "/uploads/big/object.bin";
    let mib5 = 5 * 1024 * 1024;
    let p1: Vec<u8> = (0..mib5).map(|i| (i % 251) as u8).collect();
    let p2: Vec<u8> = (0..mib5).map(|i| (i % 241) as u8).collect();
    let p3 = b"the tail".to_vec();
    let id = create_upload(&s, path);
    let e1 = upload_part(&s, path, &id, 1, &p1);
    let e3 = upload_part(&s, path, &id, 3, &p3);
    let e2 = upload_part(&s, path, &id, 2, &p2);
    assert_eq!(e1, format!("\"{}\"", md5_hex(&p1)));

    let listed = call(&s, "GET", path, &[("uploadId", &id)]);
    assert_eq!(listed.body.matches("<Part>").count(), 3, "{}", listed.body);
    let uploads = call(&s, "GET", "/uploads", &[("uploads", "")]);
    assert!(uploads.body.contains(&id), "{}", uploads.body);

    // Wrong order, unknown ETag, a small middle part: refused, nothing made.
    post(
        &s,
        path,
        &[("uploadId", &id)],
        &complete_xml(&[(2, &e2), (1, &e1)]),
    )
    .assert_s3_error(400, "InvalidPartOrder");
    post(
        &s,
        path,
        &[("uploadId", &id)],
        &complete_xml(&[(1, "\"00\"")]),
    )
    .assert_s3_error(400, "InvalidPart");
    post(
        &s,
        path,
        &[("uploadId", &id)],
        &complete_xml(&[(1, &e1), (3, &e3), (4, &e3)]),
    )
    .assert_s3_error(400, "InvalidPart");
    post(&s, path, &[("uploadId", &id)], "<nope").assert_s3_error(400, "MalformedXML");
    call(&s, "GET", path, &[]).assert_s3_error(404, "NoSuchKey");

    let r = post(
        &s,
        path,
        &[("uploadId", &id)],
        &complete_xml(&[(1, &e1), (2, &e2), (3, &e3)]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut etag_src = Vec::new();
    for p in [&p1, &p2, &p3] {
        etag_src.extend_from_slice(&Md5::digest(p));
    }
    let want = format!("\"{}-3\"", md5_hex(&etag_src));
    assert!(r.body.contains(&want.replace('"', "&quot;")), "{}", r.body);
    let (status, headers, body) = get(&signed(&s, "GET", path, &[]));
    assert_eq!(status, 200);
    assert_eq!(body.len(), p1.len() + p2.len() + p3.len());
    assert!(body[..mib5] == p1[..] && body[mib5..2 * mib5] == p2[..] && body[2 * mib5..] == p3[..]);
    assert!(headers.iter().any(|(k, v)| k == "etag" && *v == want));
    // The object is its three parts' blobs, nothing copied.
    assert_eq!(s.blobs().len(), 3, "{:?}", s.blobs());
    assert_eq!(s.stored_bytes(), body.len() as u64);
    // A retried completion (its answer lost to a timeout) gets the same
    // answer; once the object changed, the upload is just gone.
    let again = post(&s, path, &[("uploadId", &id)], &complete_xml(&[(1, &e1)]));
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains(&want.replace('"', "&quot;")));
    put_obj(&s, path, b"replaced", &[]);
    post(&s, path, &[("uploadId", &id)], &complete_xml(&[(1, &e1)]))
        .assert_s3_error(404, "NoSuchUpload");
}

#[test]
fn small_parts_are_refused_except_the_last() {
    let s = TestServer::start();
    let path = "/uploads/small";
    let id = create_upload(&s, path);
    let e1 = upload_part(&s, path, &id, 1, b"tiny");
    let e2 = upload_part(&s, path, &id, 2, b"tail");
    post(
        &s,
        path,
        &[("uploadId", &id)],
        &complete_xml(&[(1, &e1), (2, &e2)]),
    )
    .assert_s3_error(400, "EntityTooSmall");
    // A single small part is fine: it is the last.
    let r = post(&s, path, &[("uploadId", &id)], &complete_xml(&[(1, &e1)]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(&signed(&s, "GET", path, &[])).2, b"tiny");
}

#[test]
fn abort_and_sweep_free_the_parts() {
    let s = TestServer::start();
    let id = create_upload(&s, "/uploads/a");
    upload_part(&s, "/uploads/a", &id, 1, b"part one");
    assert_eq!(s.blobs().len(), 1);
    assert_eq!(
        call(&s, "DELETE", "/uploads/a", &[("uploadId", &id)]).status,
        204
    );
    assert!(s.blobs().is_empty());
    call(&s, "DELETE", "/uploads/a", &[("uploadId", &id)]).assert_s3_error(404, "NoSuchUpload");
    let n = "1".to_string();
    Resp::from(
        ureq::put(&signed(
            &s,
            "PUT",
            "/uploads/a",
            &[("partNumber", &n), ("uploadId", &id)],
        ))
        .send_bytes(b"late"),
    )
    .assert_s3_error(404, "NoSuchUpload");

    let stale = create_upload(&s, "/uploads/b");
    upload_part(&s, "/uploads/b", &stale, 1, b"forgotten");
    s.clock.advance(86_400 + 1);
    s.sweep();
    assert!(s.blobs().is_empty());
    call(&s, "GET", "/uploads/b", &[("uploadId", &stale)]).assert_s3_error(404, "NoSuchUpload");
}

#[test]
fn copy_object_shares_bytes_and_can_replace_metadata() {
    let s = TestServer::start();
    put_obj(
        &s,
        "/uploads/src",
        b"copy me",
        &[("Content-Type", "text/plain"), ("x-amz-meta-a", "1")],
    );
    assert_eq!(call(&s, "PUT", "/photos", &[]).status, 200);
    let r = Resp::from(
        put_req(
            &s,
            "/photos/dst copy",
            &[],
            &[("x-amz-copy-source", "/uploads/src")],
        )
        .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<CopyObjectResult"), "{}", r.body);
    let (_, headers, body) = get(&signed(&s, "GET", "/photos/dst copy", &[]));
    assert_eq!(body, b"copy me");
    assert!(headers.iter().any(|(k, v)| k == "x-amz-meta-a" && v == "1"));
    assert_eq!(s.blobs().len(), 1, "a copy must not duplicate bytes");
    // Onto itself without REPLACE: refused; with REPLACE: new metadata.
    Resp::from(
        put_req(
            &s,
            "/uploads/src",
            &[],
            &[("x-amz-copy-source", "uploads/src")],
        )
        .call(),
    )
    .assert_s3_error(400, "InvalidRequest");
    let r = Resp::from(
        put_req(
            &s,
            "/uploads/src",
            &[],
            &[
                ("x-amz-copy-source", "uploads/src"),
                ("x-amz-metadata-directive", "REPLACE"),
                ("Content-Type", "text/markdown"),
                ("x-amz-meta-b", "2"),
            ],
        )
        .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, headers, _) = get(&signed(&s, "GET", "/uploads/src", &[]));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "text/markdown"));
    assert!(headers.iter().any(|(k, v)| k == "x-amz-meta-b" && v == "2"));
    assert!(!headers.iter().any(|(k, _)| k == "x-amz-meta-a"));
    Resp::from(
        put_req(
            &s,
            "/photos/x",
            &[],
            &[("x-amz-copy-source", "/uploads/missing")],
        )
        .call(),
    )
    .assert_s3_error(404, "NoSuchKey");
    // Deleting the source keeps the copy's bytes.
    call(&s, "DELETE", "/uploads/src", &[]);
    assert_eq!(
        get(&signed(&s, "GET", "/photos/dst copy", &[])).2,
        b"copy me"
    );
}

#[test]
fn delete_objects_removes_many_and_refuses_too_many() {
    let s = TestServer::start();
    for k in ["a", "b", "c"] {
        put_obj(&s, &format!("/uploads/{k}"), k.as_bytes(), &[]);
    }
    let body = "<Delete><Object><Key>a</Key></Object><Object><Key>c</Key></Object><Object><Key>zz</Key></Object></Delete>";
    let r = post(&s, "/uploads", &[("delete", "")], body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.matches("<Deleted>").count(), 3, "{}", r.body);
    let list = call(&s, "GET", "/uploads", &[("list-type", "2")]);
    assert!(list.body.contains("<Key>b</Key>") && !list.body.contains("<Key>a</Key>"));
    assert_eq!(s.blobs().len(), 1);
    let many: String = (0..1001)
        .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
        .collect();
    post(
        &s,
        "/uploads",
        &[("delete", "")],
        &format!("<Delete>{many}</Delete>"),
    )
    .assert_s3_error(400, "MalformedXML");
    assert_eq!(
        get(&signed(&s, "GET", "/uploads/b", &[])).0,
        200,
        "deleted anyway"
    );
    let q = post(
        &s,
        "/uploads",
        &[("delete", "")],
        "<Delete><Quiet>true</Quiet><Object><Key>b</Key></Object></Delete>",
    );
    assert!(!q.body.contains("<Deleted>"), "{}", q.body);
    assert!(s.blobs().is_empty());
}

#[test]
fn an_s3_object_under_a_uuid_key_is_visible_to_the_api() {
    let s = TestServer::start();
    let id = uuid::Uuid::new_v4().to_string();
    let body = b"written by an SDK".to_vec();
    let path = format!("/uploads/{id}");
    assert_eq!(
        put_obj(&s, &path, &body, &[("Content-Type", "text/plain")]).status,
        200
    );
    let r = s.file(&id);
    assert_eq!(r.status, 200, "{}", r.body);
    let data = &r.json()["data"];
    assert_eq!(data["status"], "completed");
    assert_eq!(data["size"], body.len());
    assert_eq!(data["contentType"], "text/plain");
    use base64::Engine;
    use sha2::Digest as _;
    assert_eq!(
        data["hash"],
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body))
    );
    let url = data["downloadURL"].as_str().unwrap();
    assert_eq!(get(url).2, body);
}

#[test]
fn upload_part_copy_whole_and_ranged() {
    let s = TestServer::start();
    let src: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    put_obj(&s, "/uploads/source", &src, &[]);
    let id = create_upload(&s, "/uploads/joined");
    let copy_part = |n: &str, range: Option<&str>| {
        let mut headers = vec![("x-amz-copy-source", "/uploads/source")];
        if let Some(r) = range {
            headers.push(("x-amz-copy-source-range", r));
        }
        let q = [("partNumber", n), ("uploadId", id.as_str())];
        let r = Resp::from(put_req(&s, "/uploads/joined", &q, &headers).call());
        assert_eq!(r.status, 200, "{}", r.body);
        between(&r.body, "<ETag>", "</ETag>").replace("&quot;", "\"")
    };
    let e1 = copy_part("1", None);
    let e2 = copy_part("2", Some("bytes=0-99"));
    let r = post(
        &s,
        "/uploads/joined",
        &[("uploadId", &id)],
        &complete_xml(&[(1, &e1), (2, &e2)]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = get(&signed(&s, "GET", "/uploads/joined", &[])).2;
    assert_eq!(got.len(), src.len() + 100);
    assert!(got[..src.len()] == src[..] && got[src.len()..] == src[..100]);
    let id2 = create_upload(&s, "/uploads/x");
    let r = Resp::from(
        put_req(
            &s,
            "/uploads/x",
            &[("partNumber", "1"), ("uploadId", &id2)],
            &[
                ("x-amz-copy-source", "/uploads/source"),
                ("x-amz-copy-source-range", "bytes=5-1"),
            ],
        )
        .call(),
    );
    r.assert_s3_error(400, "InvalidArgument");
}

/// A SigV2 presigned URL, as boto3's default `generate_presigned_url` makes.
fn signed_v2(s: &TestServer, method: &str, path: &str, expires_in: i64) -> String {
    let raw = uri_encode(path, false);
    let q = stowage::sigv4::presign_v2(
        &s.app.credentials,
        &stowage::sigv4::PresignV2Params {
            method,
            raw_path: &raw,
            query: &[],
            content_type: None,
            amz_headers: &[],
            expires_unix: s.clock_now().unix_timestamp() + expires_in,
        },
    );
    format!("{}{raw}?{q}", s.base)
}

#[test]
fn sigv2_presigned_urls_work_and_expire() {
    let s = TestServer::start();
    let r =
        Resp::from(ureq::put(&signed_v2(&s, "PUT", "/uploads/v2 key", 60)).send_bytes(b"v2 body"));
    assert_eq!(r.status, 200, "{}", r.body);
    let url = signed_v2(&s, "GET", "/uploads/v2 key", 60);
    assert_eq!(get(&url).2, b"v2 body");
    // Tampered signature, then expiry.
    let bad = url.replace("Signature=", "Signature=A");
    Resp::from(ureq::get(&bad).call()).assert_s3_error(403, "SignatureDoesNotMatch");
    s.clock.advance(61);
    let m = Resp::from(ureq::get(&url).call()).assert_s3_error(403, "AccessDenied");
    assert!(m.contains("expired"), "{m}");
    // A v2 PUT with the wrong key stores nothing.
    let put_url =
        signed_v2(&s, "PUT", "/uploads/other", 60).replace("AWSAccessKeyId=", "AWSAccessKeyId=X");
    Resp::from(ureq::put(&put_url).send_bytes(b"x")).assert_s3_error(403, "InvalidAccessKeyId");
    call(&s, "GET", "/uploads/other", &[]).assert_s3_error(404, "NoSuchKey");
}

#[test]
fn unsigned_amz_headers_and_unknown_subresources_change_nothing() {
    let s = TestServer::start();
    put_obj(&s, "/uploads/secret", b"TOP SECRET", &[]);
    put_obj(&s, "/uploads/mine", b"my bytes", &[]);
    // An x-amz-copy-source added to a presigned PUT would turn it into a
    // copy of any object; unsigned, it is refused.
    let r = Resp::from(
        ureq::put(&signed(&s, "PUT", "/uploads/dropbox", &[]))
            .set("x-amz-copy-source", "/uploads/secret")
            .call(),
    );
    let m = r.assert_s3_error(403, "AccessDenied");
    assert!(m.contains("x-amz-copy-source"), "{m}");
    call(&s, "GET", "/uploads/dropbox", &[]).assert_s3_error(404, "NoSuchKey");
    // ACLs, policies…: not implemented, and never mistaken
    // for a plain PUT/DELETE of the object or bucket; object tags are
    // implemented, and change only the tags.
    let r = Resp::from(
        ureq::put(&signed(&s, "PUT", "/uploads/mine", &[("acl", "")]))
            .send_bytes(b"<AccessControlPolicy/>"),
    );
    r.assert_s3_error(501, "NotImplemented");
    let r = Resp::from(
        ureq::put(&signed(&s, "PUT", "/uploads/mine", &[("tagging", "")]))
            .send_bytes(b"<Tagging><TagSet/></Tagging>"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        call(&s, "DELETE", "/uploads/mine", &[("tagging", "")]).status,
        204
    );
    // A bucket's tags and lifecycle are its own subresources: deleting
    // them deletes no bucket, an empty PUT creates none.
    assert_eq!(
        call(&s, "DELETE", "/uploads", &[("tagging", "")]).status,
        204
    );
    call(&s, "PUT", "/uploads", &[("tagging", "")]).assert_s3_error(400, "MalformedXML");
    assert_eq!(
        call(&s, "DELETE", "/uploads", &[("lifecycle", "")]).status,
        204
    );
    assert_eq!(
        call(&s, "DELETE", "/uploads", &[("policy", "")]).status,
        204
    );
    call(&s, "DELETE", "/uploads", &[("website", "")]).assert_s3_error(501, "NotImplemented");
    assert_eq!(call(&s, "HEAD", "/uploads", &[]).status, 200);
    // DeleteBucketCors deletes the CORS configuration, not the bucket.
    assert_eq!(call(&s, "DELETE", "/uploads", &[("cors", "")]).status, 204);
    assert_eq!(get(&signed(&s, "GET", "/uploads/mine", &[])).2, b"my bytes");
    // versionId=null names the one version of an unversioned object.
    assert_eq!(
        call(&s, "GET", "/uploads/mine", &[("versionId", "null")]).status,
        200
    );
}

#[test]
fn pagination_never_loses_keys_after_a_folder_marker() {
    let s = TestServer::start();
    for k in ["p/", "p/q/1", "p/r/2", "p/z"] {
        put_obj(&s, &format!("/uploads/{k}"), b"x", &[]);
    }
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = vec![
            ("list-type", "2"),
            ("prefix", "p/"),
            ("delimiter", "/"),
            ("max-keys", "1"),
        ];
        if let Some(t) = &token {
            q.push(("continuation-token", t.as_str()));
        }
        let r = call(&s, "GET", "/uploads", &q);
        for part in r.body.split("<Key>").skip(1) {
            keys.push(part.split("</Key>").next().unwrap().to_string());
        }
        for part in r.body.split("<CommonPrefixes><Prefix>").skip(1) {
            prefixes.push(part.split("</Prefix>").next().unwrap().to_string());
        }
        if !r.body.contains("<IsTruncated>true</IsTruncated>") {
            break;
        }
        let t = between(
            &r.body,
            "<NextContinuationToken>",
            "</NextContinuationToken>",
        );
        token = Some(t.to_string());
    }
    assert_eq!(keys, ["p/", "p/z"]);
    assert_eq!(prefixes, ["p/q/", "p/r/"]);
}

#[test]
fn multipart_listing_pages_through_every_upload() {
    let s = TestServer::start();
    let mut ids: Vec<String> = (0..5).map(|_| create_upload(&s, "/uploads/same")).collect();
    ids.sort();
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let r = call(
            &s,
            "GET",
            "/uploads",
            &[
                ("uploads", ""),
                ("max-uploads", "2"),
                ("key-marker", &key_marker),
                ("upload-id-marker", &id_marker),
            ],
        );
        for part in r.body.split("<UploadId>").skip(1) {
            seen.push(part.split("</UploadId>").next().unwrap().to_string());
        }
        if !r.body.contains("<IsTruncated>true</IsTruncated>") {
            break;
        }
        key_marker = between(&r.body, "<NextKeyMarker>", "</NextKeyMarker>").to_string();
        id_marker = between(&r.body, "<NextUploadIdMarker>", "</NextUploadIdMarker>").to_string();
    }
    assert_eq!(seen, ids);
    // A bucket with only uploads in progress is deleted with them, as in
    // S3 (tests/it/attacks/buckets.rs has the rest).
    call(&s, "PUT", "/other", &[]);
    let other = create_upload(&s, "/other/k");
    assert_eq!(call(&s, "DELETE", "/other", &[]).status, 204);
    call(&s, "PUT", "/other", &[]);
    let left = call(&s, "GET", "/other", &[("uploads", "")]);
    assert!(!left.body.contains(&other), "{}", left.body);
}

#[test]
fn a_presigned_request_that_signs_a_body_hash_is_held_to_it() {
    let s = TestServer::start();
    use sha2::Digest as _;
    let declared = hex::encode(sha2::Sha256::digest(b"declared body"));
    let url = signed(
        &s,
        "PUT",
        "/uploads/bound",
        &[("X-Amz-Content-Sha256", &declared)],
    );
    let r = Resp::from(ureq::put(&url).send_bytes(b"another body"));
    r.assert_s3_error(400, "XAmzContentSHA256Mismatch");
    call(&s, "GET", "/uploads/bound", &[]).assert_s3_error(404, "NoSuchKey");
    assert!(s.blobs().is_empty());
    let r = Resp::from(ureq::put(&url).send_bytes(b"declared body"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn delete_objects_checks_its_body_checksum() {
    let s = TestServer::start();
    put_obj(&s, "/uploads/keep", b"x", &[]);
    let body = "<Delete><Object><Key>keep</Key></Object></Delete>";
    use base64::Engine;
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(b"other").to_be_bytes());
    let url = signed_with(
        &s,
        "POST",
        "/uploads",
        &[("delete", "")],
        &[("x-amz-checksum-crc32", &wrong)],
    );
    Resp::from(
        ureq::post(&url)
            .set("x-amz-checksum-crc32", &wrong)
            .send_string(body),
    )
    .assert_s3_error(400, "BadDigest");
    assert_eq!(get(&signed(&s, "GET", "/uploads/keep", &[])).2, b"x");
}

#[test]
fn a_multipart_object_can_be_copied_as_a_part() {
    let s = TestServer::start();
    let path = "/uploads/mp-src";
    let id = create_upload(&s, path);
    let e1 = upload_part(&s, path, &id, 1, b"only part");
    assert_eq!(
        post(&s, path, &[("uploadId", &id)], &complete_xml(&[(1, &e1)])).status,
        200
    );
    let dst = create_upload(&s, "/uploads/mp-dst");
    let q = [("partNumber", "1"), ("uploadId", dst.as_str())];
    for range in [None, Some("bytes=0-8")] {
        let mut headers = vec![("x-amz-copy-source", "/uploads/mp-src")];
        headers.extend(range.map(|r| ("x-amz-copy-source-range", r)));
        let r = Resp::from(put_req(&s, "/uploads/mp-dst", &q, &headers).call());
        assert_eq!(r.status, 200, "{range:?}: {}", r.body);
    }
}

#[test]
fn a_put_over_five_gib_is_refused_before_its_body() {
    let s = TestServer::start();
    let url = signed(&s, "PUT", "/uploads/huge", &[]);
    let (path, host) = split_url(&url);
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 6000000000\r\n\r\n");
    let raw = raw_request(s.addr, head.as_bytes(), true);
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("<Code>EntityTooLarge</Code>"), "{raw}");
    call(&s, "GET", "/uploads/huge", &[]).assert_s3_error(404, "NoSuchKey");
    assert!(s.blobs().is_empty() && s.temps().is_empty());
}

#[test]
fn user_metadata_over_two_kilobytes_is_refused_before_the_body() {
    let s = TestServer::start();
    let before = s.blobs().len();
    // 2048 bytes of names and values together is S3's limit: allowed…
    let v = "v".repeat(2048 - "a".len());
    let r = put_obj(&s, "/uploads/meta-ok", b"body", &[("x-amz-meta-a", &v)]);
    assert_eq!(r.status, 200, "{}", r.body);
    // …one byte more is not, for PUT and multipart alike.
    let v = "v".repeat(2048);
    let msg = put_obj(&s, "/uploads/meta-big", b"body", &[("x-amz-meta-a", &v)])
        .assert_s3_error(400, "MetadataTooLarge");
    assert!(msg.contains("2049 bytes"), "{msg}");
    let url = signed_with(
        &s,
        "POST",
        "/uploads/meta-big",
        &[("uploads", "")],
        &[("x-amz-meta-a", &v)],
    );
    Resp::from(ureq::post(&url).set("x-amz-meta-a", &v).send_string(""))
        .assert_s3_error(400, "MetadataTooLarge");
    assert_eq!(s.blobs().len(), before + 1, "a refused object was stored");
    assert_eq!(
        call(&s, "HEAD", "/uploads/meta-big", &[]).status,
        404,
        "the refused key exists"
    );
}

#[test]
fn conditional_writes_protect_a_key() {
    let s = TestServer::start();
    let path = "/uploads/guarded.txt";
    let first = b"first version".to_vec();
    let r = put_obj(&s, path, &first, &[("If-None-Match", "*")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").unwrap().to_string();
    let blobs = s.blobs().len();

    // If-None-Match: * on an existing key: 412, nothing stored, object kept.
    put_obj(&s, path, b"clobber", &[("If-None-Match", "*")])
        .assert_s3_error(412, "PreconditionFailed");
    assert_eq!(get(&signed(&s, "GET", path, &[])).2, first);
    assert_eq!(s.blobs().len(), blobs, "a refused write left a blob");

    // If-Match: only the current ETag may replace it.
    put_obj(
        &s,
        path,
        b"v2",
        &[("If-Match", "\"0123456789abcdef0123456789abcdef\"")],
    )
    .assert_s3_error(412, "PreconditionFailed");
    let r = put_obj(&s, path, b"second version", &[("If-Match", &etag)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(&signed(&s, "GET", path, &[])).2, b"second version");
    // The old ETag no longer matches.
    put_obj(&s, path, b"v3", &[("If-Match", &etag)]).assert_s3_error(412, "PreconditionFailed");
    // If-Match on a key with no object: 404, as S3.
    put_obj(&s, "/uploads/nothing-here", b"x", &[("If-Match", &etag)])
        .assert_s3_error(404, "NoSuchKey");
    // If-None-Match with an ETag is not a write condition S3 supports, nor
    // both conditions at once: 501, as AWS answers; nothing stored.
    put_obj(&s, "/uploads/other", b"x", &[("If-None-Match", &etag)])
        .assert_s3_error(501, "NotImplemented");
    put_obj(
        &s,
        "/uploads/other",
        b"x",
        &[("If-None-Match", "*"), ("If-Match", &etag)],
    )
    .assert_s3_error(501, "NotImplemented");
    call(&s, "GET", "/uploads/other", &[]).assert_s3_error(404, "NoSuchKey");
}

#[test]
fn racing_conditional_writers_one_wins_the_other_gets_412() {
    let s = std::sync::Arc::new(TestServer::start());
    for round in 0..4 {
        let path = format!("/uploads/race-{round}");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2u8)
            .map(|w| {
                let (s, path, barrier) = (s.clone(), path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let body = vec![w; 2 << 20];
                    let req = put_req(&s, &path, &[], &[("If-None-Match", "*")]);
                    barrier.wait();
                    (w, Resp::from(req.send_bytes(&body)))
                })
            })
            .collect();
        let results: Vec<(u8, Resp)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u8> = results
            .iter()
            .filter(|(_, r)| r.status == 200)
            .map(|(w, _)| *w)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {:?}", results);
        for (_, r) in results.iter().filter(|(_, r)| r.status != 200) {
            r.assert_s3_error(412, "PreconditionFailed");
        }
        // The object is the winner's, whole.
        let got = get(&signed(&s, "GET", &path, &[])).2;
        assert!(
            got == vec![winners[0]; 2 << 20],
            "round {round}: mixed object"
        );
    }
}

#[test]
fn complete_multipart_honours_if_none_match() {
    let s = TestServer::start();
    let path = "/uploads/mp-guarded.bin";
    assert_eq!(put_obj(&s, path, b"already here", &[]).status, 200);
    let id = create_upload(&s, path);
    let etag = upload_part(&s, path, &id, 1, b"part one");
    let xml = complete_xml(&[(1, &etag)]);
    let url = signed(&s, "POST", path, &[("uploadId", &id)]);
    Resp::from(ureq::post(&url).set("If-None-Match", "*").send_string(&xml))
        .assert_s3_error(412, "PreconditionFailed");
    // The upload is still open, and completes unconditionally.
    let r = post(&s, path, &[("uploadId", &id)], &xml);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(&signed(&s, "GET", path, &[])).2, b"part one");
}

#[test]
fn a_public_read_bucket_serves_anonymous_reads_only() {
    let s = TestServer::start_with("[s3]\npublic_read = [\"uploads\"]\n");
    assert_eq!(
        put_obj(&s, "/uploads/site/map.png", b"public bytes", &[]).status,
        200
    );
    assert_eq!(call(&s, "PUT", "/private", &[]).status, 200);
    assert_eq!(put_obj(&s, "/private/note", b"mine", &[]).status, 200);
    let anon = |method: &str, path: &str| Resp::from(ureq::request(method, &s.url(path)).call());

    // Reads of the public bucket need no signature: objects, HEAD, lists.
    let r = anon("GET", "/uploads/site/map.png");
    assert_eq!((r.status, r.body.as_str()), (200, "public bytes"));
    assert_eq!(anon("HEAD", "/uploads/site/map.png").status, 200);
    let list = anon("GET", "/uploads?list-type=2&prefix=site/");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("<Key>site/map.png</Key>"),
        "{}",
        list.body
    );
    anon("GET", "/uploads/site/nothing").assert_s3_error(404, "NoSuchKey");

    // Writes, configuration and uploads in progress still need one.
    let r = Resp::from(ureq::put(&s.url("/uploads/site/evil")).send_bytes(b"x"));
    r.assert_s3_error(403, "AccessDenied");
    call(&s, "GET", "/uploads/site/evil", &[]).assert_s3_error(404, "NoSuchKey");
    anon("DELETE", "/uploads/site/map.png").assert_s3_error(403, "AccessDenied");
    anon("GET", "/uploads?uploads").assert_s3_error(403, "AccessDenied");
    anon("GET", "/uploads?cors").assert_s3_error(403, "AccessDenied");
    // Other buckets stay private.
    anon("GET", "/private/note").assert_s3_error(403, "AccessDenied");
    anon("GET", "/private?list-type=2").assert_s3_error(403, "AccessDenied");
    assert_eq!(
        get(&signed(&s, "GET", "/uploads/site/map.png", &[])).2,
        b"public bytes"
    );
}

#[test]
fn a_form_upload_with_a_huge_field_is_refused_without_buffering_it() {
    let s = TestServer::start();
    let boundary = "XyZ";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n")
        .into_bytes();
    body.extend(std::iter::repeat_n(b'k', 1 << 20));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let r = Resp::from(
        ureq::post(&s.url("/uploads"))
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_bytes(&body),
    );
    let msg = r.assert_s3_error(400, "MalformedPOSTRequest");
    assert!(!msg.is_empty());
    // And a form without a file, or unsigned, stores nothing.
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{boundary}--\r\n"
    );
    Resp::from(
        ureq::post(&s.url("/uploads"))
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_string(&body),
    )
    .assert_s3_error(400, "InvalidArgument");
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nbytes\r\n--{boundary}--\r\n"
    );
    Resp::from(
        ureq::post(&s.url("/uploads"))
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_string(&body),
    )
    .assert_s3_error(403, "AccessDenied");
    call(&s, "GET", "/uploads/k", &[]).assert_s3_error(404, "NoSuchKey");
}

#[test]
fn an_if_match_write_whose_object_is_deleted_meanwhile_gets_409() {
    use std::io::{Read as _, Write as _};
    let s = TestServer::start();
    let path = "/uploads/contested";
    let r = put_obj(&s, path, b"v1", &[]);
    let etag = r.header("etag").unwrap().to_string();
    let body = vec![7u8; 2 << 20];
    let url = signed(&s, "PUT", path, &[]);
    let (p, host) = split_url(&url);
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        conn,
        "PUT {p} HTTP/1.1\r\nHost: {host}\r\nIf-Match: {etag}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..1 << 20]).unwrap();
    // The condition held when the body began; the object goes meanwhile.
    s.await_receiving(1);
    assert_eq!(call(&s, "DELETE", path, &[]).status, 204);
    conn.write_all(&body[1 << 20..]).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert!(
        answer.contains("<Code>ConditionalRequestConflict</Code>"),
        "{answer}"
    );
    call(&s, "GET", path, &[]).assert_s3_error(404, "NoSuchKey");
}

#[test]
fn unicode_user_metadata_is_kept() {
    let s = TestServer::start();
    // Raw UTF-8 (curl sends it as is; many clients refuse to), and RFC 2047
    // (what SDKs send for non-ASCII values): both come back as sent.
    let raw = "Straße 7 — Ålesund ✓";
    let encoded = "=?UTF-8?B?U3RyYcOfZQ==?=";
    let url = signed_with(
        &s,
        "PUT",
        "/uploads/unicode-meta",
        &[],
        &[("x-amz-meta-site", raw), ("x-amz-meta-street", encoded)],
    );
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PUT",
            "--data-binary",
            "x",
            "-w",
            "%{http_code}",
        ])
        .arg("-H")
        .arg(format!("x-amz-meta-site: {raw}"))
        .arg("-H")
        .arg(format!("x-amz-meta-street: {encoded}"))
        .arg(&url)
        .output()
        .unwrap();
    let put = String::from_utf8_lossy(&out.stdout);
    assert!(put.ends_with("200"), "{put}");
    let out = std::process::Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null"])
        .arg(signed(&s, "GET", "/uploads/unicode-meta", &[]))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.contains(&format!("x-amz-meta-site: {raw}")), "{head}");
    assert!(
        head.contains(&format!("x-amz-meta-street: {encoded}")),
        "{head}"
    );
}
