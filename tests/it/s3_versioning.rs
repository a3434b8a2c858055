//! Versioning as AWS answers it, over real HTTP: PutBucketVersioning and
//! GetBucketVersioning; version ids on PUT, copy, multipart and DELETE;
//! reads by `versionId`; delete markers (404 with `x-amz-delete-marker`,
//! 405 when named, removed by deleting their version); the `null` version
//! of a suspended bucket; ListObjectVersions paged by key and version
//! markers; DeleteObjects with version ids; a bucket keeps its versions
//! against DeleteBucket. Every refusal changes nothing.

use crate::harness::*;
use crate::s3::{
    between, call, complete_xml, create_upload, post, put_obj, signed, signed_with, upload_part,
};

/// A valid version id no version has.
const ABSENT: &str = "0123456789abcdef0123456789abcdef";

fn set_versioning(s: &TestServer, bucket: &str, status: &str) -> Resp {
    let xml = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Status>{status}</Status></VersioningConfiguration>"
    );
    Resp::from(ureq::put(&signed(s, "PUT", bucket, &[("versioning", "")])).send_string(&xml))
}

fn versioned_bucket(s: &TestServer, bucket: &str) {
    assert_eq!(call(s, "PUT", bucket, &[]).status, 200);
    let r = set_versioning(s, bucket, "Enabled");
    assert_eq!(r.status, 200, "{}", r.body);
}

/// PUT of `body` at `path`; its version id.
fn put_version(s: &TestServer, path: &str, body: &[u8]) -> String {
    let r = put_obj(s, path, body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("x-amz-version-id")
        .expect("a version id")
        .to_string()
}

fn get_version(s: &TestServer, path: &str, id: &str) -> Resp {
    call(s, "GET", path, &[("versionId", id)])
}

/// (element, key, version id, latest) of a ListObjectVersions page, in
/// the order given.
fn listed(body: &str) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest
        .find("<Version>")
        .into_iter()
        .chain(rest.find("<DeleteMarker>"))
        .min()
    {
        let element = if rest[i..].starts_with("<Version>") {
            "Version"
        } else {
            "DeleteMarker"
        };
        let end = rest[i..].find(&format!("</{element}>")).unwrap() + i;
        let e = &rest[i..end];
        out.push((
            element.to_string(),
            between(e, "<Key>", "</Key>").to_string(),
            between(e, "<VersionId>", "</VersionId>").to_string(),
            between(e, "<IsLatest>", "</IsLatest>") == "true",
        ));
        rest = &rest[end..];
    }
    out
}

fn row(element: &str, key: &str, id: &str, latest: bool) -> (String, String, String, bool) {
    (element.into(), key.into(), id.into(), latest)
}

#[test]
fn a_versioned_key_keeps_every_version_behind_its_delete_marker() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/ver", &[]).status, 200);
    // Never set: an empty configuration, as AWS answers.
    let r = call(&s, "GET", "/ver", &[("versioning", "")]);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<Status>"), "{}", r.body);
    // Written before versioning: no version id shown.
    let r = put_obj(&s, "/ver/k", b"zero", &[]);
    assert_eq!(r.header("x-amz-version-id"), None);
    assert_eq!(set_versioning(&s, "/ver", "Enabled").status, 200);
    let r = call(&s, "GET", "/ver", &[("versioning", "")]);
    assert!(r.body.contains("<Status>Enabled</Status>"), "{}", r.body);

    let v1 = put_version(&s, "/ver/k", b"one");
    let v2 = put_version(&s, "/ver/k", b"two");
    assert_ne!(v1, v2);
    let r = call(&s, "GET", "/ver/k", &[]);
    assert_eq!(
        (r.body.as_str(), r.header("x-amz-version-id")),
        ("two", Some(v2.as_str()))
    );
    assert_eq!(get_version(&s, "/ver/k", &v1).body, "one");
    // The object from before versioning is the null version.
    let r = get_version(&s, "/ver/k", "null");
    assert_eq!(
        (r.body.as_str(), r.header("x-amz-version-id")),
        ("zero", Some("null"))
    );
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", "/ver/k", &[("versionId", &v1)])).call());
    assert_eq!(head.header("content-length"), Some("3"));

    // DELETE writes a marker: the key reads as missing, saying so.
    let r = call(&s, "DELETE", "/ver/k", &[]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    let marker = r.header("x-amz-version-id").unwrap().to_string();
    let r = call(&s, "GET", "/ver/k", &[]);
    r.assert_s3_error(404, "NoSuchKey");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    let r = get_version(&s, "/ver/k", &marker);
    r.assert_s3_error(405, "MethodNotAllowed");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    get_version(&s, "/ver/k", ABSENT).assert_s3_error(404, "NoSuchVersion");
    get_version(&s, "/ver/k", "not-an-id").assert_s3_error(400, "InvalidArgument");
    // Hidden from the object listing, not from the version listing.
    let r = call(&s, "GET", "/ver", &[("list-type", "2")]);
    assert!(!r.body.contains("<Key>"), "{}", r.body);
    let r = call(&s, "GET", "/ver", &[("versions", "")]);
    assert_eq!(
        listed(&r.body),
        vec![
            row("DeleteMarker", "k", &marker, true),
            row("Version", "k", &v2, false),
            row("Version", "k", &v1, false),
            row("Version", "k", "null", false),
        ]
    );
    // A bucket with versions is not empty.
    call(&s, "DELETE", "/ver", &[]).assert_s3_error(409, "BucketNotEmpty");

    // Deleting the marker's version brings the key back.
    let r = call(&s, "DELETE", "/ver/k", &[("versionId", &marker)]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    assert_eq!(call(&s, "GET", "/ver/k", &[]).body, "two");
    // Deleting the current version for good brings back the one below.
    let r = call(&s, "DELETE", "/ver/k", &[("versionId", &v2)]);
    assert_eq!((r.status, r.header("x-amz-delete-marker")), (204, None));
    assert_eq!(call(&s, "GET", "/ver/k", &[]).body, "one");
    get_version(&s, "/ver/k", &v2).assert_s3_error(404, "NoSuchVersion");
    for id in [v1.as_str(), "null"] {
        assert_eq!(
            call(&s, "DELETE", "/ver/k", &[("versionId", id)]).status,
            204
        );
    }
    assert!(listed(&call(&s, "GET", "/ver", &[("versions", "")]).body).is_empty());
    assert_eq!(call(&s, "DELETE", "/ver", &[]).status, 204);
    // Every version gone, every blob with it.
    assert!(s.index().rows("SELECT sha256 FROM blobs").is_empty());
}

#[test]
fn a_suspended_bucket_writes_the_null_version_and_keeps_the_others() {
    let s = TestServer::start();
    versioned_bucket(&s, "/sus");
    let kept = put_version(&s, "/sus/k", b"kept");
    assert_eq!(set_versioning(&s, "/sus", "Suspended").status, 200);
    let r = call(&s, "GET", "/sus", &[("versioning", "")]);
    assert!(r.body.contains("<Status>Suspended</Status>"), "{}", r.body);
    assert_eq!(put_version(&s, "/sus/k", b"first null"), "null");
    assert_eq!(put_version(&s, "/sus/k", b"second null"), "null");
    let r = call(&s, "GET", "/sus", &[("versions", "")]);
    assert_eq!(
        listed(&r.body),
        vec![
            row("Version", "k", "null", true),
            row("Version", "k", &kept, false)
        ]
    );
    assert_eq!(get_version(&s, "/sus/k", "null").body, "second null");
    // A delete replaces the null version with a null marker.
    let r = call(&s, "DELETE", "/sus/k", &[]);
    assert_eq!(r.header("x-amz-version-id"), Some("null"));
    let r = call(&s, "GET", "/sus", &[("versions", "")]);
    assert_eq!(
        listed(&r.body),
        vec![
            row("DeleteMarker", "k", "null", true),
            row("Version", "k", &kept, false)
        ]
    );
    assert_eq!(get_version(&s, "/sus/k", &kept).body, "kept");
    // Neither state, nor a document of another kind: refused, unchanged.
    set_versioning(&s, "/sus", "Off").assert_s3_error(400, "MalformedXML");
    let r = call(&s, "GET", "/sus", &[("versioning", "")]);
    assert!(r.body.contains("<Status>Suspended</Status>"), "{}", r.body);
}

#[test]
fn copies_multipart_uploads_and_tags_name_versions() {
    let s = TestServer::start();
    versioned_bucket(&s, "/copyver");
    let v1 = put_version(&s, "/copyver/src", b"version one");
    let v2 = put_version(&s, "/copyver/src", b"version two");
    // A copy of an older version.
    let source = format!("/copyver/src?versionId={v1}");
    let url = signed_with(
        &s,
        "PUT",
        "/copyver/dst",
        &[],
        &[("x-amz-copy-source", &source)],
    );
    let r = Resp::from(ureq::put(&url).set("x-amz-copy-source", &source).call());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-amz-copy-source-version-id"), Some(v1.as_str()));
    let dst = r
        .header("x-amz-version-id")
        .expect("the copy's version")
        .to_string();
    assert_eq!(get_version(&s, "/copyver/dst", &dst).body, "version one");
    // A copy naming a delete marker is refused; nothing is written.
    let marker = call(&s, "DELETE", "/copyver/src", &[])
        .header("x-amz-version-id")
        .unwrap()
        .to_string();
    let source = format!("/copyver/src?versionId={marker}");
    let url = signed_with(
        &s,
        "PUT",
        "/copyver/none",
        &[],
        &[("x-amz-copy-source", &source)],
    );
    Resp::from(ureq::put(&url).set("x-amz-copy-source", &source).call())
        .assert_s3_error(400, "InvalidRequest");
    call(&s, "GET", "/copyver/none", &[]).assert_s3_error(404, "NoSuchKey");
    assert_eq!(get_version(&s, "/copyver/src", &v2).body, "version two");

    // A completed multipart upload is a new version.
    let before = put_version(&s, "/copyver/big", b"small");
    let id = create_upload(&s, "/copyver/big");
    let part = vec![b'p'; 5 << 20];
    let etag = upload_part(&s, "/copyver/big", &id, 1, &part);
    let r = post(
        &s,
        "/copyver/big",
        &[("uploadId", &id)],
        &complete_xml(&[(1, &etag)]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.header("x-amz-version-id").expect("a version").to_string();
    assert_ne!(before, after);
    assert_eq!(get_version(&s, "/copyver/big", &before).body, "small");

    // Tags of an older version, apart from the current one's.
    let tags = "<Tagging><TagSet><Tag><Key>v</Key><Value>1</Value></Tag></TagSet></Tagging>";
    let url = signed(
        &s,
        "PUT",
        "/copyver/big",
        &[("tagging", ""), ("versionId", &before)],
    );
    let r = Resp::from(ureq::put(&url).send_string(tags));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-amz-version-id"), Some(before.as_str()));
    let r = call(
        &s,
        "GET",
        "/copyver/big",
        &[("tagging", ""), ("versionId", &before)],
    );
    assert!(r.body.contains("<Key>v</Key>"), "{}", r.body);
    let r = call(&s, "GET", "/copyver/big", &[("tagging", "")]);
    assert!(!r.body.contains("<Key>"), "{}", r.body);
}

#[test]
fn delete_objects_takes_version_ids_and_a_listing_pages_through_versions() {
    let s = TestServer::start();
    versioned_bucket(&s, "/delver");
    let a1 = put_version(&s, "/delver/a", b"a1");
    let a2 = put_version(&s, "/delver/a", b"a2");
    let b1 = put_version(&s, "/delver/b", b"b1");
    put_version(&s, "/delver/dir/c", b"c1");
    put_version(&s, "/delver/dir/d", b"d1");

    // Pages of one: every version once, in order, then the end.
    let mut seen = Vec::new();
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    loop {
        let mut q = vec![("versions", ""), ("max-keys", "1")];
        if !key_marker.is_empty() {
            q.push(("key-marker", &key_marker));
        }
        if !version_marker.is_empty() {
            q.push(("version-id-marker", &version_marker));
        }
        let r = call(&s, "GET", "/delver", &q);
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(listed(&r.body));
        if !r.body.contains("<IsTruncated>true</IsTruncated>") {
            break;
        }
        key_marker = between(&r.body, "<NextKeyMarker>", "</NextKeyMarker>").to_string();
        version_marker = if r.body.contains("<NextVersionIdMarker>") {
            between(&r.body, "<NextVersionIdMarker>", "</NextVersionIdMarker>").to_string()
        } else {
            String::new()
        };
    }
    let keys: Vec<(&str, &str)> = seen.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
    assert_eq!(keys.len(), 5, "{seen:?}");
    assert_eq!(
        &keys[..3],
        &[("a", a2.as_str()), ("a", a1.as_str()), ("b", b1.as_str())]
    );
    // With a delimiter, the "directory" is one prefix.
    let r = call(
        &s,
        "GET",
        "/delver",
        &[("versions", ""), ("delimiter", "/")],
    );
    assert!(r.body.contains("<Prefix>dir/</Prefix>"), "{}", r.body);
    assert_eq!(listed(&r.body).len(), 3);
    // A version-id marker that names no version is refused.
    let r = call(
        &s,
        "GET",
        "/delver",
        &[
            ("versions", ""),
            ("key-marker", "a"),
            ("version-id-marker", ABSENT),
        ],
    );
    r.assert_s3_error(400, "InvalidArgument");

    // One version for good, a key behind a marker, a bad id refused alone.
    let body = format!(
        "<Delete><Object><Key>a</Key><VersionId>{a1}</VersionId></Object>\
         <Object><Key>b</Key></Object>\
         <Object><Key>a</Key><VersionId>bogus</VersionId></Object></Delete>"
    );
    let r = post(&s, "/delver", &[("delete", "")], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let deleted: Vec<&str> = r.body.split("<Deleted>").skip(1).collect();
    assert_eq!(deleted.len(), 2, "{}", r.body);
    assert!(deleted[0].contains(&format!("<VersionId>{a1}</VersionId>")));
    assert!(
        deleted[1].contains("<DeleteMarker>true</DeleteMarker>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<Code>InvalidArgument</Code>"),
        "{}",
        r.body
    );
    get_version(&s, "/delver/a", &a1).assert_s3_error(404, "NoSuchVersion");
    assert_eq!(call(&s, "GET", "/delver/a", &[]).body, "a2");
    call(&s, "GET", "/delver/b", &[]).assert_s3_error(404, "NoSuchKey");
    assert_eq!(get_version(&s, "/delver/b", &b1).body, "b1");
}

#[test]
fn the_upload_apis_bucket_is_never_versioned() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/uploads", &[]).status, 200);
    set_versioning(&s, "/uploads", "Enabled").assert_s3_error(409, "InvalidBucketState");
    let r = call(&s, "GET", "/uploads", &[("versioning", "")]);
    assert!(!r.body.contains("<Status>"), "{}", r.body);
    // A write there names no version.
    let r = put_obj(&s, "/uploads/plain.txt", b"plain", &[]);
    assert_eq!(r.header("x-amz-version-id"), None);
    // Nor does a write anywhere take a versionId.
    let url = signed(&s, "PUT", "/uploads/plain.txt", &[("versionId", "null")]);
    Resp::from(ureq::put(&url).send_bytes(b"other")).assert_s3_error(400, "InvalidArgument");
    assert_eq!(call(&s, "GET", "/uploads/plain.txt", &[]).body, "plain");
}
