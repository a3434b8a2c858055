//! CORS over real HTTP: preflights answered from the bucket's rules or the
//! `[cors]` default, refused when no rule matches, and the matching rule's
//! headers on actual requests; a browser's view of it is in the interop
//! tests.

use crate::harness::*;

/// An OPTIONS preflight: (status, response).
fn preflight(url: &str, origin: Option<&str>, method: &str, headers: Option<&str>) -> Resp {
    let mut req = ureq::request("OPTIONS", url).set("Access-Control-Request-Method", method);
    if let Some(o) = origin {
        req = req.set("Origin", o);
    }
    if let Some(h) = headers {
        req = req.set("Access-Control-Request-Headers", h);
    }
    Resp::from(req.call())
}

#[test]
fn the_config_default_rule_serves_the_api_and_the_built_in_bucket() {
    let s = TestServer::start_with(
        "[cors]\nallowed_origins = [\"https://*.field.app\"]\nmax_age_secs = 600\n",
    );
    let api = s.url("/api/inspect/v1/file/upload/presigned");
    let r = preflight(
        &api,
        Some("https://tablet.field.app"),
        "POST",
        Some("authorization, content-type"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://tablet.field.app")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));

    // Another origin is refused, in the surface's own error format.
    let r = preflight(&api, Some("https://evil.test"), "POST", None);
    r.assert_json_error(403, "Forbidden");
    assert!(r.header("access-control-allow-origin").is_none());
    // No Origin at all: 400.
    preflight(&api, None, "POST", None).assert_json_error(400, "BadRequest");

    // The presigned PUT a page then makes: preflight, then the PUT itself
    // carries the headers the page needs to read the answer.
    let f = TestFile::new(5000);
    let url = s.presign_url(&f);
    let r = preflight(
        &url,
        Some("https://tablet.field.app"),
        "PUT",
        Some("content-type"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = Resp::from(
        ureq::put(&url)
            .set("Content-Type", "image/png")
            .set("Origin", "https://tablet.field.app")
            .send_bytes(&f.bytes),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://tablet.field.app")
    );
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("ETag"));
    // A preflight is not an authentication failure: many do not throttle.
    for _ in 0..120 {
        let r = preflight(&api, Some("https://evil.test"), "POST", None);
        assert_eq!(r.status, 403);
    }
    assert_eq!(s.presign(&TestFile::new(10)).status, 201);
}

#[test]
fn without_a_rule_no_origin_is_allowed() {
    let s = TestServer::start();
    let r = preflight(
        &s.url("/uploads/anything"),
        Some("https://tablet.field.app"),
        "GET",
        None,
    );
    r.assert_s3_error(403, "AccessForbidden");
    // An actual request from a page gets its answer, without CORS headers.
    let r = Resp::from(
        ureq::get(&s.url("/healthz"))
            .set("Origin", "https://tablet.field.app")
            .call(),
    );
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
}
