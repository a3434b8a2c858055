//! DeleteBucket: only its owner (or the configured key) may; a bucket with
//! objects is refused and loses nothing; a bucket holding only unfinished
//! multipart uploads is deleted and the uploads aborted with it, as S3
//! does (`aws s3 rb --force`, rclone and test suites' cleanup rely on it),
//! their parts' blobs gone from the index and the disk unless something
//! else still refers to them; and nothing granted on a deleted bucket
//! passes to the next key that creates the name.

use stowage::sigv4::Credentials;

use super::*;
use crate::harness::TestFile;

/// `n` printable bytes (a response body is read as text) that differ with
/// `seed`. Above 64 KiB a blob is a file of its own under `data/blobs/`; up
/// to that, it lives in the index.
fn bytes(seed: usize, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b'!' + ((i * seed + seed) % 89) as u8)
        .collect()
}

/// CreateMultipartUpload of `bucket/key`; the upload id.
fn start_upload(g: &Gateway, who: &Credentials, bucket: &str, key: &str) -> String {
    let r = g.v4(
        who,
        "POST",
        &format!("/{bucket}/{key}"),
        "uploads",
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    xml_value(&r.body, "UploadId")
}

fn upload_part(
    g: &Gateway,
    who: &Credentials,
    bucket: &str,
    key: &str,
    upload: &str,
    n: u32,
    body: &[u8],
) -> Resp {
    let q = format!("partNumber={n}&uploadId={upload}");
    g.v4(who, "PUT", &format!("/{bucket}/{key}"), &q, &[], body)
}

/// What a refused or partial delete must leave exactly as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    buckets: Vec<String>,
    objects: Vec<String>,
    uploads: Vec<String>,
    parts: Vec<String>,
    blobs: Vec<String>,
    grants: Vec<String>,
    files_on_disk: Vec<String>,
}

fn snapshot(g: &Gateway) -> Snapshot {
    let files_on_disk = g.stored_blobs();
    Snapshot {
        buckets: g.index_rows("SELECT name || ' ' || coalesce(owner, '-') FROM buckets"),
        objects: g.index_rows("SELECT bucket || '/' || key || ' ' || sha256 FROM objects"),
        uploads: g
            .index_rows("SELECT bucket || '/' || key || ' ' || upload_id FROM multipart_uploads"),
        parts: g.index_rows(
            "SELECT upload_id || ' ' || part_number || ' ' || sha256 FROM multipart_parts",
        ),
        blobs: g.index_rows("SELECT sha256 FROM blobs"),
        grants: g.index_rows("SELECT access_key_id || ' ' || bucket FROM bucket_grants"),
        files_on_disk,
    }
}

#[test]
fn delete_bucket_aborts_its_unfinished_uploads_and_frees_their_parts() {
    let g = Gateway::start("", "");
    let m = &g.main;
    let own = bytes(3, 200 * 1024); // a file of its own, only in a part
    let shared = bytes(5, 100 * 1024); // also an object elsewhere
    let small = bytes(7, 1000); // inline in the index
    let (own_hex, shared_hex, small_hex) =
        (sha256_hex(&own), sha256_hex(&shared), sha256_hex(&small));

    assert_eq!(g.v4(m, "PUT", "/keep", "", &[], b"").status, 200);
    assert_eq!(g.v4(m, "PUT", "/keep/same", "", &[], &shared).status, 200);
    assert_eq!(g.v4(m, "PUT", "/scratch", "", &[], b"").status, 200);
    let one = start_upload(&g, m, "scratch", "big.bin");
    let two = start_upload(&g, m, "scratch", "dir/other.bin");
    let three = start_upload(&g, m, "scratch", "big.bin");
    let _empty = start_upload(&g, m, "scratch", "never-sent");
    assert_eq!(
        upload_part(&g, m, "scratch", "big.bin", &one, 1, &own).status,
        200
    );
    assert_eq!(
        upload_part(&g, m, "scratch", "big.bin", &one, 2, &shared).status,
        200
    );
    assert_eq!(
        upload_part(&g, m, "scratch", "dir/other.bin", &two, 1, &small).status,
        200
    );
    // The same bytes in two uploads: one blob, released once.
    assert_eq!(
        upload_part(&g, m, "scratch", "big.bin", &three, 7, &own).status,
        200
    );
    let before = snapshot(&g);
    assert_eq!(before.uploads.len(), 4, "{before:?}");
    assert_eq!(before.parts.len(), 4, "{before:?}");
    assert!(g.has_blob_bytes(&own_hex));
    assert!(before.blobs.contains(&small_hex));

    let r = g.v4(m, "DELETE", "/scratch", "", &[], b"");
    assert_eq!(r.status, 204, "{}", r.body);

    let after = snapshot(&g);
    assert_eq!(after.uploads, Vec::<String>::new());
    assert_eq!(after.parts, Vec::<String>::new());
    assert!(
        !after.buckets.iter().any(|b| b.starts_with("scratch ")),
        "{after:?}"
    );
    // The parts' own blobs are gone from the index and the disk ...
    assert!(!after.blobs.contains(&own_hex), "{after:?}");
    assert!(!after.blobs.contains(&small_hex), "{after:?}");
    assert!(!g.has_blob_bytes(&own_hex));
    // ... the one an object still refers to is not, and still reads.
    assert_eq!(after.blobs, vec![shared_hex.clone()]);
    assert_eq!(after.files_on_disk.len(), 1, "{after:?}");
    assert!(g.has_blob_bytes(&shared_hex));
    let r = g.v4(m, "GET", "/keep/same", "", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(sha256_hex(r.body.as_bytes()), shared_hex);
    assert_eq!(before.objects, after.objects);
    assert!(g.temps().is_empty(), "{:?}", g.temps());

    // The name is free; a new bucket of that name has no uploads, and the
    // old upload ids are dead.
    assert_eq!(g.v4(m, "HEAD", "/scratch", "", &[], b"").status, 404);
    assert_eq!(g.v4(m, "PUT", "/scratch", "", &[], b"").status, 200);
    let list = g.v4(m, "GET", "/scratch", "uploads", &[], b"");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("ListMultipartUploadsResult"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("<Upload>"), "{}", list.body);
    upload_part(&g, m, "scratch", "big.bin", &one, 3, b"late").assert_s3_error(404, "NoSuchUpload");
    let late = g.v4(
        m,
        "POST",
        "/scratch/big.bin",
        &format!("uploadId={one}"),
        &[],
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
    );
    late.assert_s3_error(404, "NoSuchUpload");
    assert_eq!(snapshot(&g).objects, after.objects);
    // And a bucket with nothing in it at all is deleted as before.
    assert_eq!(g.v4(m, "DELETE", "/scratch", "", &[], b"").status, 204);
    g.v4(m, "DELETE", "/scratch", "", &[], b"")
        .assert_s3_error(404, "NoSuchBucket");
}

#[test]
fn a_bucket_with_an_object_is_refused_and_loses_nothing() {
    let g = Gateway::start("", "");
    let m = &g.main;
    let object = bytes(11, 150 * 1024);
    let part = bytes(13, 120 * 1024);
    assert_eq!(g.v4(m, "PUT", "/full", "", &[], b"").status, 200);
    assert_eq!(
        g.v4(m, "PUT", "/full/kept.bin", "", &[], &object).status,
        200
    );
    let upload = start_upload(&g, m, "full", "half.bin");
    assert_eq!(
        upload_part(&g, m, "full", "half.bin", &upload, 1, &part).status,
        200
    );
    let before = snapshot(&g);

    g.v4(m, "DELETE", "/full", "", &[], b"")
        .assert_s3_error(409, "BucketNotEmpty");
    g.v2(m, "DELETE", "/full", "", &[], b"")
        .assert_s3_error(409, "BucketNotEmpty");
    assert_eq!(snapshot(&g), before);
    let r = g.v4(m, "GET", "/full/kept.bin", "", &[], b"");
    assert_eq!(
        (r.status, sha256_hex(r.body.as_bytes())),
        (200, sha256_hex(&object))
    );
    let list = g.v4(m, "GET", "/full", "uploads", &[], b"");
    assert!(
        list.body
            .contains(&format!("<UploadId>{upload}</UploadId>")),
        "{}",
        list.body
    );
    // The upload can still be finished: the refusal aborted nothing.
    let done = g.v4(
        m,
        "POST",
        "/full/half.bin",
        &format!("uploadId={upload}"),
        &[],
        format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
            xml_etag(&part)
        )
        .as_bytes(),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let r = g.v4(m, "GET", "/full/half.bin", "", &[], b"");
    assert_eq!(
        (r.status, sha256_hex(r.body.as_bytes())),
        (200, sha256_hex(&part))
    );
}

/// A part's ETag as CompleteMultipartUpload names it: its quoted MD5.
fn xml_etag(body: &[u8]) -> String {
    use md5::Digest as _;
    format!("\"{}\"", hex::encode(md5::Md5::digest(body)))
}

#[test]
fn only_the_owner_or_the_configured_key_deletes_a_bucket() {
    let g = Gateway::start("", "");
    let alice = g.new_key("alice");
    let mallory = g.new_key("mallory");
    let part = bytes(17, 90 * 1024);
    assert_eq!(g.v4(&alice, "PUT", "/alices", "", &[], b"").status, 200);
    assert_eq!(
        g.v4(&alice, "PUT", "/alices-empty", "", &[], b"").status,
        200
    );
    let upload = start_upload(&g, &alice, "alices", "work.bin");
    assert_eq!(
        upload_part(&g, &alice, "alices", "work.bin", &upload, 1, &part).status,
        200
    );
    // Even write access granted on it is not ownership.
    g.cli(&["key", "allow", "mallory", "alices", "--write"]);
    g.cli(&["key", "allow", "mallory", "alices-empty", "--write"]);
    let before = snapshot(&g);

    for bucket in ["/alices", "/alices-empty"] {
        let msg = g
            .v4(&mallory, "DELETE", bucket, "", &[], b"")
            .assert_s3_error(403, "AccessDenied");
        assert!(msg.contains("owner"), "{msg}");
        g.v2(&mallory, "DELETE", bucket, "", &[], b"")
            .assert_s3_error(403, "AccessDenied");
        // Nor through a presigned URL, nor unsigned.
        let url = g.v4_presigned(&mallory, "DELETE", bucket, &[], 60);
        g.send("DELETE", &url, &[], b"")
            .assert_s3_error(403, "AccessDenied");
        g.anonymous("DELETE", bucket)
            .assert_s3_error(403, "AccessDenied");
    }
    assert_eq!(snapshot(&g), before);
    assert!(g.has_blob_bytes(&sha256_hex(&part)));
    // What the grant allows still works: the refusal was of the delete.
    assert_eq!(
        g.v4(&mallory, "GET", "/alices", "uploads", &[], b"").status,
        200
    );

    // The owner may, and the upload goes with it.
    assert_eq!(g.v4(&alice, "DELETE", "/alices", "", &[], b"").status, 204);
    assert!(!g.has_blob_bytes(&sha256_hex(&part)));
    assert_eq!(
        g.index_rows("SELECT upload_id FROM multipart_uploads"),
        Vec::<String>::new()
    );
    // The configured key may delete any key's bucket.
    assert_eq!(
        g.v2(&g.main, "DELETE", "/alices-empty", "", &[], b"")
            .status,
        204
    );
    assert_eq!(
        g.index_rows("SELECT name FROM buckets WHERE name LIKE 'alices%'"),
        Vec::<String>::new()
    );
}

#[test]
fn grants_on_a_deleted_bucket_do_not_pass_to_the_next_owner_of_its_name() {
    let g = Gateway::start("", "");
    let alice = g.new_key("alice");
    let bob = g.new_key("bob");
    let carol = g.new_key("carol");
    assert_eq!(g.v4(&alice, "PUT", "/field", "", &[], b"").status, 200);
    g.cli(&["key", "allow", "bob", "field", "--write"]);
    assert_eq!(g.v4(&bob, "PUT", "/field/note", "", &[], b"hi").status, 200);
    assert_eq!(
        g.v4(&bob, "DELETE", "/field/note", "", &[], b"").status,
        204
    );
    assert_eq!(g.v4(&alice, "DELETE", "/field", "", &[], b"").status, 204);
    assert_eq!(
        g.index_rows("SELECT bucket FROM bucket_grants"),
        Vec::<String>::new()
    );

    // Carol takes the free name; bob's grant was on alice's bucket.
    assert_eq!(g.v4(&carol, "PUT", "/field", "", &[], b"").status, 200);
    assert_eq!(
        g.v4(&carol, "PUT", "/field/secret", "", &[], b"carol's")
            .status,
        200
    );
    g.v4(&bob, "GET", "/field/secret", "", &[], b"")
        .assert_s3_error(403, "AccessDenied");
    g.v4(&bob, "PUT", "/field/secret", "", &[], b"bob's")
        .assert_s3_error(403, "AccessDenied");
    g.v4(&bob, "GET", "/field", "list-type=2", &[], b"")
        .assert_s3_error(403, "AccessDenied");
    let mine = g.v4(&bob, "GET", "/", "", &[], b"");
    assert_eq!(mine.status, 200);
    assert!(!mine.body.contains("<Name>field</Name>"), "{}", mine.body);
    let r = g.v4(&carol, "GET", "/field/secret", "", &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "carol's"));
}

/// `POST …/file/upload/parts` for `f` in 5 MiB parts, with the token.
fn ask_parts(g: &Gateway, f: &TestFile) -> Resp {
    let mut d = f.declaration();
    d["partSize"] = (5 * 1024 * 1024).into();
    let headers = [
        ("authorization".to_string(), format!("Bearer {}", g.token)),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    g.send(
        "POST",
        "/api/inspect/v1/file/upload/parts",
        &headers,
        d.to_string().as_bytes(),
    )
}

#[test]
fn a_pending_files_parts_keep_the_upload_bucket() {
    // The JSON API's part-wise uploads live in the upload bucket: a field
    // client's progress is no leftover for DeleteBucket to sweep away.
    let g = Gateway::start("", "");
    let m = &g.main;
    // An S3 client's leftover there is, as anywhere.
    let leftover = start_upload(&g, m, "uploads", "left/over");
    assert_eq!(
        upload_part(&g, m, "uploads", "left/over", &leftover, 1, b"x").status,
        200
    );
    assert_eq!(g.v4(m, "DELETE", "/uploads", "", &[], b"").status, 204);
    assert_eq!(snapshot(&g).uploads, Vec::<String>::new());

    // The JSON API makes the bucket again for a part-wise upload.
    let f = TestFile::new(5 * 1024 * 1024 + 100);
    let r = ask_parts(&g, &f);
    assert_eq!(r.status, 201, "{}", r.body);
    let parts = r.json()["data"]["parts"].as_array().unwrap().clone();
    let tail = &f.bytes[5 * 1024 * 1024..];
    let put: Resp = ureq::put(parts[1]["url"].as_str().unwrap())
        .send_bytes(tail)
        .into();
    assert_eq!(put.status, 200, "{}", put.body);
    let before = snapshot(&g);
    assert_eq!(before.uploads.len(), 1, "{before:?}");
    assert_eq!(before.parts.len(), 1, "{before:?}");

    g.v4(m, "DELETE", "/uploads", "", &[], b"")
        .assert_s3_error(409, "BucketNotEmpty");
    assert_eq!(snapshot(&g), before);
    // Asked again, the server still holds the part that was sent.
    let again = ask_parts(&g, &f);
    assert!(
        !again.json()["data"]["parts"][1]["hash"].is_null(),
        "{}",
        again.body
    );
}

#[test]
fn no_other_key_takes_the_upload_bucket_after_it_was_deleted() {
    // The upload bucket may be deleted while empty (the JSON API makes it
    // again); another key that made it in between would own, and read,
    // every file uploaded after.
    let g = Gateway::start("", "");
    let eve = g.new_key("eve");
    assert_eq!(
        g.v4(&g.main, "DELETE", "/uploads", "", &[], b"").status,
        204
    );
    g.v4(&eve, "PUT", "/uploads", "", &[], b"")
        .assert_s3_error(409, "BucketAlreadyExists");
    g.v2(&eve, "PUT", "/uploads", "", &[], b"")
        .assert_s3_error(409, "BucketAlreadyExists");
    assert_eq!(
        g.index_rows("SELECT name FROM buckets WHERE name = 'uploads'"),
        Vec::<String>::new()
    );

    // A file through the JSON API makes it again, the gateway's.
    let f = TestFile::new(1000);
    let headers = [
        ("authorization".to_string(), format!("Bearer {}", g.token)),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let r = g.send(
        "POST",
        "/api/inspect/v1/file/upload/presigned",
        &headers,
        f.declaration().to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    let put: Resp = ureq::put(&url)
        .set("Content-Type", &f.content_type)
        .send_bytes(&f.bytes)
        .into();
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        g.index_rows("SELECT coalesce(owner, '-') FROM buckets WHERE name = 'uploads'"),
        ["-"]
    );
    g.v4(&eve, "GET", &format!("/uploads/{}", f.id), "", &[], b"")
        .assert_s3_error(403, "AccessDenied");
    g.v4(&eve, "PUT", "/uploads", "", &[], b"")
        .assert_s3_error(409, "BucketAlreadyExists");
    // The configured key may still make it (it owns it already: 200 in
    // us-east-1, as AWS answers there).
    assert_eq!(g.v4(&g.main, "PUT", "/uploads", "", &[], b"").status, 200);
}
