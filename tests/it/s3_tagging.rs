//! Object tags as AWS keeps them: PutObjectTagging / GetObjectTagging /
//! DeleteObjectTagging, `x-amz-tagging` on PutObject, CopyObject's
//! `x-amz-tagging-directive` and CreateMultipartUpload, the
//! `x-amz-tagging-count` of GET and HEAD; AWS's limits and codes, and a
//! refused tag set changes nothing.

use crate::harness::*;
use crate::s3::{between, call, complete_xml, post, put_obj, put_req, signed, upload_part};

fn put_tags(s: &TestServer, path: &str, xml: &str) -> Resp {
    Resp::from(ureq::put(&signed(s, "PUT", path, &[("tagging", "")])).send_string(xml))
}

fn tag_set(tags: &[(&str, &str)]) -> String {
    let mut x = String::from("<Tagging><TagSet>");
    for (k, v) in tags {
        x.push_str(&format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"));
    }
    x + "</TagSet></Tagging>"
}

/// (key, value) pairs of a GetObjectTagging answer, in order.
fn tags_of(s: &TestServer, path: &str) -> Vec<(String, String)> {
    let r = call(s, "GET", path, &[("tagging", "")]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .split("<Tag>")
        .skip(1)
        .map(|t| {
            (
                between(t, "<Key>", "</Key>").to_string(),
                between(t, "<Value>", "</Value>").to_string(),
            )
        })
        .collect()
}

fn pairs(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn tags_are_put_read_counted_and_deleted_without_touching_the_object() {
    let s = TestServer::start();
    let path = "/uploads/tagged.txt";
    let r = put_obj(
        &s,
        path,
        b"tagged bytes",
        &[("x-amz-tagging", "project=survey%207&site=north")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(
        tags_of(&s, path),
        pairs(&[("project", "survey 7"), ("site", "north")])
    );
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", path, &[])).call());
    assert_eq!(head.header("x-amz-tagging-count"), Some("2"));
    let last_modified = head.header("last-modified").unwrap().to_string();

    // Replaced whole; the object's bytes, ETag and Last-Modified stay.
    s.clock.advance(5);
    let r = put_tags(&s, path, &tag_set(&[("stage", "raw")]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tags_of(&s, path), pairs(&[("stage", "raw")]));
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", path, &[])).call());
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(head.header("last-modified"), Some(last_modified.as_str()));
    assert_eq!(head.header("x-amz-tagging-count"), Some("1"));
    assert_eq!(call(&s, "GET", path, &[]).body, "tagged bytes");

    // Refused, with AWS's codes; the tags stay as they were.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let eleven: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    put_tags(&s, path, &tag_set(&eleven)).assert_s3_error(400, "BadRequest");
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for bad in [
        tag_set(&[(&long_key, "v")]),
        tag_set(&[("k", &long_value)]),
        tag_set(&[("aws:reserved", "v")]),
        tag_set(&[("same", "1"), ("same", "2")]),
        tag_set(&[("semi;colon", "v")]),
    ] {
        put_tags(&s, path, &bad).assert_s3_error(400, "InvalidTag");
    }
    put_tags(&s, path, "<Tagging><TagSet><Tag>").assert_s3_error(400, "MalformedXML");
    put_tags(&s, path, "<LegalHold><Status>ON</Status></LegalHold>")
        .assert_s3_error(400, "MalformedXML");
    assert_eq!(tags_of(&s, path), pairs(&[("stage", "raw")]));
    // A PUT whose x-amz-tagging is refused stores nothing.
    put_obj(
        &s,
        "/uploads/never.txt",
        b"x",
        &[("x-amz-tagging", "a=1&a=2")],
    )
    .assert_s3_error(400, "InvalidArgument");
    call(&s, "GET", "/uploads/never.txt", &[]).assert_s3_error(404, "NoSuchKey");

    // Deleted: no tags, no count.
    assert_eq!(call(&s, "DELETE", path, &[("tagging", "")]).status, 204);
    assert_eq!(tags_of(&s, path), Vec::<(String, String)>::new());
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", path, &[])).call());
    assert_eq!(head.header("x-amz-tagging-count"), None);
    // Of an object that does not exist.
    call(&s, "GET", "/uploads/nothing", &[("tagging", "")]).assert_s3_error(404, "NoSuchKey");
    put_tags(&s, "/uploads/nothing", &tag_set(&[("a", "b")])).assert_s3_error(404, "NoSuchKey");
}

#[test]
fn copies_keep_or_replace_tags_and_multipart_objects_take_theirs() {
    let s = TestServer::start();
    put_obj(
        &s,
        "/uploads/src",
        b"source",
        &[("x-amz-tagging", "keep=me")],
    );
    // COPY (the default): the source's tags, even with metadata replaced.
    let r = Resp::from(
        put_req(
            &s,
            "/uploads/copy-a",
            &[],
            &[
                ("x-amz-copy-source", "/uploads/src"),
                ("x-amz-metadata-directive", "REPLACE"),
            ],
        )
        .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tags_of(&s, "/uploads/copy-a"), pairs(&[("keep", "me")]));
    // REPLACE: the request's.
    let r = Resp::from(
        put_req(
            &s,
            "/uploads/copy-b",
            &[],
            &[
                ("x-amz-copy-source", "/uploads/src"),
                ("x-amz-tagging-directive", "REPLACE"),
                ("x-amz-tagging", "new=tag"),
            ],
        )
        .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tags_of(&s, "/uploads/copy-b"), pairs(&[("new", "tag")]));

    // Multipart: the tags given at CreateMultipartUpload.
    let path = "/uploads/mp.bin";
    let url = crate::harness::presigned_url(
        &s,
        &s.app.credentials,
        "POST",
        path,
        &[("uploads", "")],
        &[("x-amz-tagging", "from=create")],
    );
    let r = Resp::from(ureq::post(&url).set("x-amz-tagging", "from=create").call());
    assert_eq!(r.status, 200, "{}", r.body);
    let id = between(&r.body, "<UploadId>", "</UploadId>").to_string();
    let e1 = upload_part(&s, path, &id, 1, b"one part");
    let r = post(&s, path, &[("uploadId", &id)], &complete_xml(&[(1, &e1)]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tags_of(&s, path), pairs(&[("from", "create")]));
}

#[test]
fn a_bucket_keeps_a_tag_set_of_its_own() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/tagged-bucket", &[]).status, 200);
    call(&s, "GET", "/tagged-bucket", &[("tagging", "")]).assert_s3_error(404, "NoSuchTagSet");
    let r = put_tags(
        &s,
        "/tagged-bucket",
        &tag_set(&[("team", "survey"), ("site", "north")]),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        tags_of(&s, "/tagged-bucket"),
        pairs(&[("team", "survey"), ("site", "north")])
    );
    // Up to 50, each as an object's tag; a refused set changes nothing.
    let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    put_tags(&s, "/tagged-bucket", &tag_set(&many)).assert_s3_error(400, "InvalidTag");
    put_tags(&s, "/tagged-bucket", &tag_set(&[("aws:x", "y")])).assert_s3_error(400, "InvalidTag");
    assert_eq!(
        tags_of(&s, "/tagged-bucket"),
        pairs(&[("team", "survey"), ("site", "north")]),
        "a refused tag set changed nothing"
    );
    assert_eq!(
        put_tags(&s, "/tagged-bucket", &tag_set(&many[..50])).status,
        204
    );
    assert_eq!(tags_of(&s, "/tagged-bucket").len(), 50);
    assert_eq!(
        call(&s, "DELETE", "/tagged-bucket", &[("tagging", "")]).status,
        204
    );
    call(&s, "GET", "/tagged-bucket", &[("tagging", "")]).assert_s3_error(404, "NoSuchTagSet");
    assert_eq!(call(&s, "HEAD", "/tagged-bucket", &[]).status, 200);
}
