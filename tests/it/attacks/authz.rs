//! Authorization reads what the handler executes (findings 1–4 of the
//! review, and what our own review found around them): copy sources and
//! form buckets behind encodings, subresources an anonymous reader must not
//! reach, objects answering as pages of the gateway's origin, operations we
//! do not implement falling through to overwrites, invented methods, and a
//! copy racing a bucket's creation.

use super::*;

/// Two keys: `a` owns bucket `private-a` holding `secret.txt`; `b` owns
/// bucket `mine`.
struct TwoKeys {
    g: Gateway,
    a: Credentials,
    b: Credentials,
}

const SECRET: &[u8] = b"the first key's private bytes";

fn two_keys() -> TwoKeys {
    let g = Gateway::start("", "");
    let (a, b) = (g.new_key("a"), g.new_key("b"));
    assert_eq!(g.v4(&a, "PUT", "/private-a", "", &[], b"").status, 200);
    let r = g.v4(&a, "PUT", "/private-a/secret.txt", "", &[], SECRET);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(g.v4(&b, "PUT", "/mine", "", &[], b"").status, 200);
    TwoKeys { g, a, b }
}

/// The keys of every object in `bucket`, from the index itself.
fn objects_in(g: &Gateway, bucket: &str) -> Vec<String> {
    g.index_rows(&format!(
        "SELECT key FROM objects WHERE bucket = '{bucket}'"
    ))
}

/// The ways a client may name `private-a/secret.txt` in
/// `x-amz-copy-source`: encoded slash, leading slash or not, escaped
/// letters in either case, a version.
const SOURCE_SPELLINGS: [&str; 8] = [
    "private-a%2Fsecret.txt",
    "private-a%2fsecret.txt",
    "/private-a/secret.txt",
    "private-a/secret.txt",
    "%2Fprivate-a%2Fsecret.txt",
    "private%2da/secret.txt",
    "%70rivate-%61%2Fsecret%2Etxt",
    "private-a/secret.txt?versionId=null",
];

/// Finding 1: CopyObject and UploadPartCopy from a bucket the key may not
/// read, whatever the spelling of the source, SigV4 and SigV2: 403, and
/// nothing lands in the key's own bucket.
#[test]
fn a_copy_never_reads_another_keys_private_bucket() {
    let TwoKeys { g, a, b } = two_keys();
    for source in SOURCE_SPELLINGS {
        let extra = [("x-amz-copy-source", source)];
        g.v4(&b, "PUT", "/mine/stolen", "", &extra, b"")
            .assert_s3_error(403, "AccessDenied");
        g.v2(&b, "PUT", "/mine/stolen", "", &extra, b"")
            .assert_s3_error(403, "AccessDenied");
    }
    // The same through UploadPartCopy, into an upload of the key's own.
    let r = g.v4(&b, "POST", "/mine/part-target", "uploads", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let upload_id = xml_value(&r.body, "UploadId");
    let query = format!("partNumber=1&uploadId={upload_id}");
    for source in SOURCE_SPELLINGS {
        let extra = [("x-amz-copy-source", source)];
        g.v4(&b, "PUT", "/mine/part-target", &query, &extra, b"")
            .assert_s3_error(403, "AccessDenied");
        g.v2(&b, "PUT", "/mine/part-target", &query, &extra, b"")
            .assert_s3_error(403, "AccessDenied");
    }
    assert!(objects_in(&g, "mine").is_empty());
    assert!(g
        .index_rows("SELECT CAST(part_number AS TEXT) FROM multipart_parts")
        .is_empty());
    // The owner still copies its own object (the refusals were the
    // attack's, not a broken copy).
    let extra = [("x-amz-copy-source", "private-a%2Fsecret.txt")];
    assert_eq!(
        g.v4(&a, "PUT", "/private-a/copy.txt", "", &extra, b"")
            .status,
        200
    );
    let r = g.v4(&a, "GET", "/private-a/copy.txt", "", &[], b"");
    assert_eq!(r.body.as_bytes(), SECRET);
}

/// Found in our own review: authorization used to let a request through
/// when its bucket did not exist (for the handler to answer NoSuchBucket),
/// before checking the copy source. A key that created the bucket in
/// between copied any object. Now a missing bucket is refused at once and
/// the source is always checked; the race is run for real.
#[test]
fn a_copy_racing_its_buckets_creation_reads_nothing() {
    let TwoKeys { g, a: _, b } = two_keys();
    // Deterministically: into a bucket that does not exist, NoSuchBucket.
    g.v4(
        &b,
        "PUT",
        "/not-yet/stolen",
        "",
        &[("x-amz-copy-source", "private-a/secret.txt")],
        b"",
    )
    .assert_s3_error(404, "NoSuchBucket");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..150 {
                g.v4(&b, "PUT", "/racing", "", &[], b"");
                g.v4(&b, "DELETE", "/racing", "", &[], b"");
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let r = g.v4(
                        &b,
                        "PUT",
                        "/racing/stolen",
                        "",
                        &[("x-amz-copy-source", "private-a/secret.txt")],
                        b"",
                    );
                    assert_ne!(r.status, 200, "a racing copy went through: {}", r.body);
                }
            });
        }
    });
    assert!(objects_in(&g, "racing").is_empty());
}

/// Finding 2: a form signed for bucket `inbox` (by a key that may write
/// both) posted to `/private-a` with a field `bucket=inbox`: refused, the
/// object in `private-a` unchanged. Without the field the policy's bucket
/// condition fails. SigV4 and SigV2 policies.
#[test]
fn a_form_cannot_name_another_bucket_than_its_path() {
    let g = Gateway::start("", "");
    let m = g.main.clone();
    for bucket in ["/private-a", "/inbox"] {
        assert_eq!(g.v4(&m, "PUT", bucket, "", &[], b"").status, 200);
    }
    let r = g.v4(&m, "PUT", "/private-a/victim.txt", "", &[], b"original");
    assert_eq!(r.status, 200);
    let conditions = [
        serde_json::json!({"bucket": "inbox"}),
        serde_json::json!(["starts-with", "$key", ""]),
    ];
    for v4 in [true, false] {
        let with_bucket = g.form(
            &m,
            v4,
            &conditions,
            &[("key", "victim.txt"), ("bucket", "inbox")],
        );
        let m1 = g
            .post_form("/private-a", &with_bucket, b"overwritten")
            .assert_s3_error(400, "InvalidArgument");
        assert!(m1.contains("bucket of its URL"), "{m1}");
        // Field names are matched without regard to case.
        let upper: Vec<(String, String)> = with_bucket
            .iter()
            .map(|(n, v)| {
                let n = if n == "bucket" {
                    "Bucket".into()
                } else {
                    n.clone()
                };
                (n, v.clone())
            })
            .collect();
        g.post_form("/private-a", &upper, b"overwritten")
            .assert_s3_error(400, "InvalidArgument");
        let without = g.form(&m, v4, &conditions, &[("key", "victim.txt")]);
        g.post_form("/private-a", &without, b"overwritten")
            .assert_s3_error(403, "AccessDenied");
        let r = g.v4(&m, "GET", "/private-a/victim.txt", "", &[], b"");
        assert_eq!(r.body, "original");
        assert_eq!(objects_in(&g, "private-a"), ["victim.txt"]);
        assert!(objects_in(&g, "inbox").is_empty());
    }
    // The same form, posted where it was meant to go, works.
    let fields = g.form(
        &m,
        true,
        &conditions,
        &[("key", "note.txt"), ("bucket", "inbox")],
    );
    assert_eq!(g.post_form("/inbox", &fields, b"hello").status, 204);
    assert_eq!(objects_in(&g, "inbox"), ["note.txt"]);
}

/// A public-read bucket with an object, an upload in progress and a CORS
/// configuration; returns the gateway and the upload's id.
fn public_bucket() -> (Gateway, String) {
    let g = Gateway::start("public_read = [\"pub\"]", "");
    let m = g.main.clone();
    assert_eq!(g.v4(&m, "PUT", "/pub", "", &[], b"").status, 200);
    let r = g.v4(
        &m,
        "PUT",
        "/pub/photo.jpg",
        "",
        &[("content-type", "image/jpeg")],
        b"jpeg bytes",
    );
    assert_eq!(r.status, 200);
    let r = g.v4(&m, "POST", "/pub/big.bin", "uploads", &[], b"");
    let upload_id = xml_value(&r.body, "UploadId");
    let cors = b"<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>\
<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    assert_eq!(g.v4(&m, "PUT", "/pub", "cors", &[], cors).status, 200);
    (g, upload_id)
}

/// Finding 3: an anonymous reader of a public-read bucket reaches its
/// objects and listings, and none of its uploads in progress, CORS rules,
/// versions, location or attributes, however the name is escaped.
#[test]
fn anonymous_readers_reach_no_subresource_behind_an_escape() {
    let (g, upload_id) = public_bucket();
    let targets = [
        "/pub?uploads".to_string(),
        "/pub?%75ploads".into(),
        "/pub?%75%70%6C%6F%61%64%73=".into(),
        format!("/pub/big.bin?uploadId={upload_id}"),
        format!("/pub/big.bin?%75ploadId={upload_id}"),
        format!("/pub/big.bin?%75%70loadId={upload_id}"),
        "/pub?cors".into(),
        "/pub?%63ors".into(),
        "/pub?%63%6frs".into(),
        "/pub?%76ersions".into(),
        "/pub?%6cocation".into(),
        "/pub/photo.jpg?%61ttributes".into(),
        "/pub?acl".into(),
        "/pub/photo.jpg?%61cl".into(),
    ];
    for t in &targets {
        let r = g.anonymous("GET", t);
        assert!(
            matches!(r.status, 403 | 400),
            "{t}: {} {}",
            r.status,
            r.body
        );
        assert!(
            !r.body.contains(&upload_id),
            "{t} revealed the upload: {}",
            r.body
        );
        assert!(
            !r.body.contains("app.example"),
            "{t} revealed CORS: {}",
            r.body
        );
    }
    // What a public-read bucket is for still works.
    let r = g.anonymous("GET", "/pub/photo.jpg");
    assert_eq!((r.status, r.body.as_str()), (200, "jpeg bytes"));
    let r = g.anonymous("GET", "/pub?list-type=2");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<Key>photo.jpg</Key>"), "{}", r.body);
    assert!(!r.body.contains("big.bin"), "{}", r.body);
}

/// Finding 4: an anonymous `response-*` override is refused as S3 refuses
/// it; every object body carries `nosniff`, and one whose type could run
/// script (HTML here, stored by a writer) is sandboxed out of the page's
/// origin — for signed reads too.
#[test]
fn public_objects_are_never_pages_of_the_gateways_origin() {
    let (g, _) = public_bucket();
    for t in [
        "/pub/photo.jpg?response-content-type=text/html&response-content-disposition=inline",
        "/pub/photo.jpg?response-%63ontent-type=text%2Fhtml",
        "/pub/photo.jpg?response-content-disposition=inline",
    ] {
        let m = g.anonymous("GET", t).assert_s3_error(400, "InvalidRequest");
        assert!(m.contains("anonymous"), "{m}");
    }
    let r = g.anonymous("GET", "/pub/photo.jpg");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-security-policy"),
        None,
        "an image stays viewable"
    );
    let m = g.main.clone();
    let page = b"<script>alert(sessionStorage.getItem('stowage.token'))</script>";
    let r = g.v4(
        &m,
        "PUT",
        "/pub/page.html",
        "",
        &[("content-type", "text/html")],
        page,
    );
    assert_eq!(r.status, 200);
    let r = g.anonymous("GET", "/pub/page.html");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("sandbox"), "{csp:?}");
    // A signed override may still ask for HTML, and gets the sandbox.
    let url = g.v4_presigned(
        &m,
        "GET",
        "/pub/photo.jpg",
        &[("response-content-type", "text/html")],
        60,
    );
    let r = g.send("GET", &url, &[], b"");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("sandbox")));
}

/// Found in our own review: operations S3 has and we do not implement fell
/// through to plain object and bucket requests — `PUT ?legal-hold`
/// replaced the object with its XML, `DELETE ?encryption` deleted the
/// bucket. Now 501 and nothing changed, SigV4 and SigV2.
#[test]
fn unimplemented_operations_change_nothing() {
    let g = Gateway::start("", "");
    let m = g.main.clone();
    assert_eq!(g.v4(&m, "PUT", "/vault", "", &[], b"").status, 200);
    assert_eq!(g.v4(&m, "PUT", "/empty", "", &[], b"").status, 200);
    let r = g.v4(&m, "PUT", "/vault/contract.pdf", "", &[], b"original");
    assert_eq!(r.status, 200);
    let hold = b"<LegalHold><Status>ON</Status></LegalHold>";
    for (method, path, query) in [
        ("POST", "/vault/contract.pdf", "restore"),
        ("PUT", "/vault/contract.pdf", "acl"),
        ("PUT", "/empty", "website"),
        ("PUT", "/vault/contract.pdf", "a-future-subresource"),
        ("DELETE", "/empty", "encryption"),
        ("DELETE", "/empty", "replication"),
        ("DELETE", "/empty", "ownershipControls"),
    ] {
        g.v4(&m, method, path, query, &[], hold)
            .assert_s3_error(501, "NotImplemented");
        g.v2(&m, method, path, query, &[], hold)
            .assert_s3_error(501, "NotImplemented");
    }
    // Policies are implemented: an XML body is no policy, and the bucket
    // keeps none; deleting its PublicAccessBlock deletes no bucket.
    g.v4(&m, "PUT", "/empty", "policy", &[], hold)
        .assert_s3_error(400, "MalformedPolicy");
    g.v4(&m, "GET", "/empty", "policy", &[], b"")
        .assert_s3_error(404, "NoSuchBucketPolicy");
    assert_eq!(
        g.v2(&m, "DELETE", "/empty", "publicAccessBlock", &[], b"")
            .status,
        204
    );
    // A version id this gateway never gave out names no version: 400, and
    // the DELETE deletes nothing (checked below).
    let forged = "versionId=3HL4kqtJlcpXroDTDmJ";
    g.v4(&m, "DELETE", "/vault/contract.pdf", forged, &[], b"")
        .assert_s3_error(400, "InvalidArgument");
    g.v2(&m, "DELETE", "/vault/contract.pdf", forged, &[], b"")
        .assert_s3_error(400, "InvalidArgument");
    // Object tags are implemented: another document than a tag set is
    // refused, and the object keeps no tags.
    g.v4(&m, "PUT", "/vault/contract.pdf", "tagging", &[], hold)
        .assert_s3_error(400, "MalformedXML");
    let r = g.v4(&m, "GET", "/vault/contract.pdf", "", &[], b"");
    assert_eq!(r.body, "original");
    assert_eq!(r.header("x-amz-tagging-count"), None);
    assert_eq!(g.v4(&m, "HEAD", "/empty", "", &[], b"").status, 200);
}

/// Found in our own review: every invented method became a metrics series
/// of its own (and a log line of any length) without authentication. Now
/// refused, and counted as `other`.
#[test]
fn invented_methods_are_refused_and_counted_as_one() {
    let g = Gateway::start("", "");
    for i in 0..20 {
        let r = g.send(&format!("BREW{i}"), "/healthz", &[], b"");
        r.assert_s3_error(501, "NotImplemented");
    }
    let bearer = [("authorization".to_string(), format!("Bearer {}", g.token))];
    let r = g.send("GET", "/metrics", &bearer, b"");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("BREW"), "{}", r.body);
    assert!(r.body.contains("method=\"other\""), "{}", r.body);
}

/// Found in our own review: a key that made a bucket named `metrics` put
/// its CORS rules on the gateway's own `/metrics` answer. Now a bucket's
/// rules decorate only S3 answers from that bucket.
#[test]
fn a_buckets_cors_rules_never_decorate_the_gateways_own_paths() {
    let g = Gateway::start("", "");
    let alice = g.new_key("alice");
    assert_eq!(g.v4(&alice, "PUT", "/metrics", "", &[], b"").status, 200);
    let cors = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
<AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>\
</CORSConfiguration>";
    assert_eq!(
        g.v4(&alice, "PUT", "/metrics", "cors", &[], cors).status,
        200
    );
    let headers = [
        ("authorization".to_string(), format!("Bearer {}", g.token)),
        ("origin".to_string(), "https://evil.example".to_string()),
    ];
    let r = g.send("GET", "/metrics", &headers, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // The bucket's own S3 answers keep its rules.
    let url = g.v4_presigned(&alice, "GET", "/metrics", &[("list-type", "2")], 60);
    let origin = [("origin".to_string(), "https://evil.example".to_string())];
    let r = g.send("GET", &url, &origin, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

/// Found in our own review: the index (which holds every access key's
/// secret) was created world-readable under the usual umask. A new data dir
/// is its owner's only, and so is the index.
#[test]
fn the_data_dir_and_the_index_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let g = Gateway::start("", "");
    g.new_key("someone");
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(g.data_dir()), 0o700);
    // On PostgreSQL the index is no file of the data dir.
    if !crate::index_db::on_postgres() {
        assert_eq!(mode(g.data_dir().join("stowage.db")), 0o600);
    }
}

/// The fixture itself: every signing scheme it offers is accepted for a
/// plain request, so a refusal in the tests above is the attack's.
#[test]
fn the_fixture_signs_every_way() {
    let g = Gateway::start("", "");
    let m = &g.main;
    assert_eq!(g.v4(m, "PUT", "/fixture", "", &[], b"").status, 200);
    assert_eq!(g.v4(m, "PUT", "/fixture/a", "", &[], b"v4").status, 200);
    assert_eq!(g.v2(m, "PUT", "/fixture/b", "", &[], b"v2").status, 200);
    let url = g.v4_presigned(m, "GET", "/fixture/a", &[], 60);
    let r = g.send("GET", &url, &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "v4"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = g.v2_presigned(m, "GET", "/fixture/b", &[], now + 60);
    let r = g.send("GET", &url, &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "v2"));
    let other = g.new_key("other");
    g.v4(&other, "GET", "/fixture/a", "", &[], b"")
        .assert_s3_error(403, "AccessDenied");
}
