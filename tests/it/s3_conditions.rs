//! Conditional copies: CopyObject's and UploadPartCopy's
//! `x-amz-copy-source-if-match`, `-if-none-match`, `-if-modified-since`
//! and `-if-unmodified-since`, as AWS answers them. A condition that fails
//! is 412 `PreconditionFailed` and copies nothing; one that holds copies
//! (AWS's documented pairs included); a date in the future is no condition.

use time::OffsetDateTime;

use crate::harness::*;
use crate::s3::{between, call, create_upload, put_obj, put_req, signed};

fn http_date(unix: i64) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&fmt)
        .unwrap()
}

#[test]
fn copy_source_conditions_decide_and_a_refused_copy_writes_nothing() {
    let s = TestServer::start();
    let r = put_obj(&s, "/uploads/src", b"the source bytes", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").unwrap().to_string();
    let modified = s.clock_now().unix_timestamp();
    // Later, so that a date between is in the past.
    s.clock.advance(60);
    let (before, after) = (http_date(modified - 3600), http_date(modified + 30));
    let future = http_date(modified + 86_400 * 365);
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("x-amz-copy-source-if-match", &etag)], 200),
        (vec![("x-amz-copy-source-if-match", "\"0123\"")], 412),
        (vec![("x-amz-copy-source-if-none-match", &etag)], 412),
        (vec![("x-amz-copy-source-if-none-match", "\"0123\"")], 200),
        (vec![("x-amz-copy-source-if-modified-since", &before)], 200),
        (vec![("x-amz-copy-source-if-modified-since", &after)], 412),
        (vec![("x-amz-copy-source-if-modified-since", &future)], 200),
        (vec![("x-amz-copy-source-if-unmodified-since", &after)], 200),
        (
            vec![("x-amz-copy-source-if-unmodified-since", &before)],
            412,
        ),
        // AWS's pairs: If-Match holding wins over If-Unmodified-Since
        // failing; If-None-Match failing wins over If-Modified-Since
        // holding.
        (
            vec![
                ("x-amz-copy-source-if-match", &etag),
                ("x-amz-copy-source-if-unmodified-since", &before),
            ],
            200,
        ),
        (
            vec![
                ("x-amz-copy-source-if-none-match", &etag),
                ("x-amz-copy-source-if-modified-since", &before),
            ],
            412,
        ),
    ];
    for (i, (conditions, want)) in cases.iter().enumerate() {
        let dst = format!("/uploads/dst-{i}");
        let mut headers = vec![("x-amz-copy-source", "/uploads/src")];
        headers.extend(conditions.iter().copied());
        let r = Resp::from(put_req(&s, &dst, &[], &headers).call());
        let got = call(&s, "GET", &dst, &[]);
        if *want == 200 {
            assert_eq!(r.status, 200, "{conditions:?}: {}", r.body);
            assert_eq!(got.body, "the source bytes", "{conditions:?}");
        } else {
            let why = r.assert_s3_error(412, "PreconditionFailed");
            assert!(!why.is_empty(), "{conditions:?}");
            got.assert_s3_error(404, "NoSuchKey");
        }
    }

    // UploadPartCopy: the same conditions; a refused part is no part.
    let id = create_upload(&s, "/uploads/joined");
    let part = |conditions: &[(&str, &str)]| {
        let mut headers = vec![("x-amz-copy-source", "/uploads/src")];
        headers.extend(conditions.iter().copied());
        let q = [("partNumber", "1"), ("uploadId", id.as_str())];
        Resp::from(put_req(&s, "/uploads/joined", &q, &headers).call())
    };
    part(&[("x-amz-copy-source-if-match", "\"0123\"")]).assert_s3_error(412, "PreconditionFailed");
    part(&[("x-amz-copy-source-if-unmodified-since", &before)])
        .assert_s3_error(412, "PreconditionFailed");
    let listed =
        Resp::from(ureq::get(&signed(&s, "GET", "/uploads/joined", &[("uploadId", &id)])).call());
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(!listed.body.contains("<Part>"), "{}", listed.body);
    let r = part(&[("x-amz-copy-source-if-match", &etag)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!between(&r.body, "<ETag>", "</ETag>").is_empty());
}
