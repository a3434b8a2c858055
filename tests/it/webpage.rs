//! The built-in upload page at `/`: its files are served to an unsigned
//! GET or HEAD with their types and a strict Content-Security-Policy, while
//! an S3-signed `GET /` is still ListBuckets; and a real browser (headless
//! Debian Chromium driven by Playwright, `tests/interop/webpage.py`) uploads
//! through the page to the real binary, after which the API returns the
//! same bytes. `.ci/run` installs `chromium`; Playwright comes from PyPI
//! into the interop venv and drives that Chromium (it downloads no browser).

use stowage::sigv4::Credentials;

use crate::harness::*;
use crate::interop::{path_str, target_dir, Interop};
use crate::s3_header::{hex_sha, sign_with};

/// The page's files and the types they must be served with.
const ASSETS: [(&str, &str); 4] = [
    ("/", "text/html; charset=utf-8"),
    ("/ui/app.js", "text/javascript; charset=utf-8"),
    ("/ui/style.css", "text/css; charset=utf-8"),
    ("/ui/icon.svg", "image/svg+xml"),
];

#[test]
fn the_page_and_its_assets_are_served_with_types_and_a_strict_policy() {
    let s = TestServer::start();
    for (path, content_type) in ASSETS {
        let r = s.get_api(path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: no {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert!(!r.body.is_empty(), "{path}");

        // HEAD: the same headers, no body.
        let head = Resp::from(ureq::head(&s.url(path)).call());
        assert_eq!(head.status, 200, "HEAD {path}");
        assert_eq!(head.header("content-type"), Some(content_type));
        assert_eq!(
            head.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "HEAD {path}"
        );
        assert!(head.body.is_empty(), "HEAD {path} has a body");
    }
    let html = s.get_api("/", None).body;
    assert!(html.contains("<script src=\"/ui/app.js\" defer></script>"));
    assert!(html.contains("<label for=\"token\">"));

    // Anything else is not the page: S3 answers it, as before.
    s.get_api("/ui/nothing.js", None)
        .assert_s3_error(403, "AccessDenied");
    let post = Resp::from(ureq::post(&s.url("/")).send_string("x"));
    assert_ne!(post.status, 200, "{}", post.body);
    assert_eq!(post.header("content-type"), Some("application/xml"));
}

#[test]
fn a_signed_get_of_the_root_is_still_list_buckets() {
    let s = TestServer::start();
    // Header-signed (SigV4 Authorization), as an SDK sends ListBuckets.
    let (headers, _) = sign_with(
        &s,
        &s.app.credentials,
        "GET",
        "/",
        Some(&hex_sha(b"")),
        s.clock_now(),
        &[],
    );
    let listed = signed_get(&s, &headers);
    // Query-signed (a presigned ListBuckets URL).
    let presigned =
        Resp::from(ureq::get(&presigned_url(&s, &s.app.credentials, "GET", "/", &[], &[])).call());
    for r in [listed, presigned] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/xml"));
        assert!(r.body.contains("<ListAllMyBucketsResult"), "{}", r.body);
        assert!(r.body.contains("<Name>uploads</Name>"), "{}", r.body);
        assert!(r.header("content-security-policy").is_none());
    }
    // A wrong secret is refused as S3 refuses it, not answered with the
    // page.
    let wrong = Credentials {
        access_key_id: s.app.credentials.access_key_id.clone(),
        secret_access_key: "not-the-secret".into(),
    };
    let (headers, _) = sign_with(
        &s,
        &wrong,
        "GET",
        "/",
        Some(&hex_sha(b"")),
        s.clock_now(),
        &[],
    );
    signed_get(&s, &headers).assert_s3_error(403, "SignatureDoesNotMatch");
}

/// `GET /` with header-signed `headers` (from [`sign_with`]).
fn signed_get(s: &TestServer, headers: &[(String, String)]) -> Resp {
    let mut req = ureq::get(&s.url("/"));
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        req = req.set(k, v);
    }
    Resp::from(req.call())
}

/// Headless Chromium, driven by Playwright, uploads through the page: a
/// wrong token shows the server's message; two files (one of 8 MiB, over a
/// throttled uplink) go hashing → presigned → uploading → completed with a
/// moving progress bar; the recent list shows them (and pages with
/// "More"); the same bytes again are "already stored" with no PUT; a
/// dropped file is uploaded too; the token survives a reload in the tab
/// only; under a non-loopback plain-http name the page says it cannot
/// hash. Each file's bytes come back through the API as sent. The page's
/// screenshot is saved to `target/test-artifacts/webpage.png`.
#[test]
fn a_browser_uploads_through_the_page_and_the_api_returns_the_bytes() {
    let t = Interop::start();
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("webpage.png");
    let _ = std::fs::remove_file(&shot);
    t.python_with(
        "webpage.py",
        &[],
        &[("STOWAGE_SCREENSHOT", path_str(&shot))],
    );
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0),
        "no screenshot at {}",
        shot.display()
    );
    println!("screenshot of the page: {}", shot.display());
}
