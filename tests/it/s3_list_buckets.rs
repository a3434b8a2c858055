//! ListBuckets paged as AWS pages it: `max-buckets`, `continuation-token`,
//! `prefix`, `bucket-region`; a wrong `max-buckets` or a token the gateway
//! did not make is 400 `InvalidArgument`.

use crate::harness::*;
use crate::s3::{between, call};

/// The bucket names of a ListBuckets answer, in order.
fn names(body: &str) -> Vec<String> {
    body.split("<Name>")
        .skip(1)
        .map(|s| s[..s.find("</Name>").unwrap()].to_string())
        .collect()
}

#[test]
fn list_buckets_pages_by_max_buckets_and_filters_by_prefix_and_region() {
    let s = TestServer::start();
    for b in ["alpha-1", "alpha-2", "alpha-3", "beta-1"] {
        assert_eq!(call(&s, "PUT", &format!("/{b}"), &[]).status, 200);
    }
    let all = ["alpha-1", "alpha-2", "alpha-3", "beta-1", "uploads"];

    // Without max-buckets: all of them, and no token.
    let r = call(&s, "GET", "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r.body), all);
    assert!(!r.body.contains("<ContinuationToken>"), "{}", r.body);
    assert!(
        r.body.contains("<BucketRegion>us-east-1</BucketRegion>"),
        "{}",
        r.body
    );

    // Two at a time: three pages, each token leading to the next.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..3 {
        let mut q = vec![("max-buckets", "2")];
        if let Some(t) = &token {
            q.push(("continuation-token", t.as_str()));
        }
        let r = call(&s, "GET", "/", &q);
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(names(&r.body));
        token = r
            .body
            .contains("<ContinuationToken>")
            .then(|| between(&r.body, "<ContinuationToken>", "</ContinuationToken>").to_string());
    }
    assert_eq!(seen, all);
    assert_eq!(token, None, "the last page has no token");

    // A prefix, echoed; with paging.
    let r = call(
        &s,
        "GET",
        "/",
        &[("prefix", "alpha-"), ("max-buckets", "2")],
    );
    assert_eq!(names(&r.body), ["alpha-1", "alpha-2"]);
    assert!(r.body.contains("<Prefix>alpha-</Prefix>"), "{}", r.body);
    let t = between(&r.body, "<ContinuationToken>", "</ContinuationToken>").to_string();
    let r = call(
        &s,
        "GET",
        "/",
        &[("prefix", "alpha-"), ("continuation-token", &t)],
    );
    assert_eq!(names(&r.body), ["alpha-3"]);

    // The gateway's region lists them; another region has none.
    let r = call(&s, "GET", "/", &[("bucket-region", "us-east-1")]);
    assert_eq!(names(&r.body), all);
    let r = call(&s, "GET", "/", &[("bucket-region", "eu-west-3")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(names(&r.body).is_empty(), "{}", r.body);

    // Refused: max-buckets outside 1..=10000 or not a number, a token it
    // did not make.
    for bad in ["0", "10001", "-1", "two"] {
        call(&s, "GET", "/", &[("max-buckets", bad)]).assert_s3_error(400, "InvalidArgument");
    }
    call(&s, "GET", "/", &[("continuation-token", "%%%not-base64")])
        .assert_s3_error(400, "InvalidArgument");
}
