//! Several S3 access keys: made with `stowage key create` (the real CLI,
//! against a running gateway's data dir), each owning the buckets it
//! creates, seeing only those and the ones it was allowed, refused
//! everything else with S3's codes.

use std::process::Command;

use stowage::sigv4::Credentials;

use crate::harness::*;

/// Runs `stowage key ARGS…` against the data dir of `s`; returns stdout.
pub(crate) fn key_cli(s: &TestServer, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    // The gateway's index too (a PostgreSQL database under
    // STOWAGE_TEST_INDEX=postgres).
    let index = s.index().toml();
    std::fs::write(
        &cfg,
        format!("data_dir = \"{}\"\n{index}", s.data_dir.display()),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("key")
        .args(args)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "key {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A key made with the CLI.
pub(crate) fn new_key(s: &TestServer, name: &str) -> Credentials {
    created_key(&key_cli(s, &["create", "--name", name]))
}

/// A request signed (query auth) with `creds`.
fn as_key(
    s: &TestServer,
    creds: &Credentials,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
) -> ureq::Request {
    ureq::request(method, &presigned_url(s, creds, method, path, query, &[]))
}

fn call(s: &TestServer, c: &Credentials, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    let req = as_key(s, c, method, path, &[]);
    Resp::from(match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    })
}

#[test]
fn two_apps_with_their_own_keys_see_only_what_they_may() {
    let s = TestServer::start();
    let main = s.app.credentials.clone();
    let field_app = new_key(&s, "field-app");
    let lab = new_key(&s, "lab");
    assert_ne!(field_app.access_key_id, lab.access_key_id);

    // Each creates a bucket of its own and writes into it.
    assert_eq!(call(&s, &field_app, "PUT", "/field", None).status, 200);
    assert_eq!(call(&s, &lab, "PUT", "/lab", None).status, 200);
    assert_eq!(
        call(&s, &field_app, "PUT", "/field/a.txt", Some(b"field data")).status,
        200
    );
    assert_eq!(
        call(&s, &lab, "PUT", "/lab/b.txt", Some(b"lab data")).status,
        200
    );

    // Listing shows each key only its own buckets; the configured key all.
    let list = |c: &Credentials| call(&s, c, "GET", "/", None).body;
    let (f, l, m) = (list(&field_app), list(&lab), list(&main));
    assert!(
        f.contains("<Name>field</Name>") && !f.contains("<Name>lab</Name>"),
        "{f}"
    );
    assert!(!f.contains("<Name>uploads</Name>"), "{f}");
    assert!(
        l.contains("<Name>lab</Name>") && !l.contains("<Name>field</Name>"),
        "{l}"
    );
    for b in ["field", "lab", "uploads"] {
        assert!(m.contains(&format!("<Name>{b}</Name>")), "{m}");
    }

    // Another key's bucket: refused, for reads, writes, copies and settings.
    call(&s, &lab, "GET", "/field/a.txt", None).assert_s3_error(403, "AccessDenied");
    call(&s, &lab, "PUT", "/field/evil.txt", Some(b"x")).assert_s3_error(403, "AccessDenied");
    call(&s, &main, "GET", "/field/evil.txt", None).assert_s3_error(404, "NoSuchKey");
    call(&s, &lab, "DELETE", "/field/a.txt", None).assert_s3_error(403, "AccessDenied");
    call(&s, &lab, "DELETE", "/field", None).assert_s3_error(403, "AccessDenied");
    let copy = Resp::from(
        as_key(&s, &lab, "PUT", "/lab/stolen.txt", &[])
            .set("x-amz-copy-source", "/field/a.txt")
            .call(),
    );
    copy.assert_s3_error(403, "AccessDenied");
    call(&s, &lab, "GET", "/lab/stolen.txt", None).assert_s3_error(404, "NoSuchKey");
    // The upload API's bucket belongs to the configured key.
    Resp::from(as_key(&s, &lab, "GET", "/uploads", &[("list-type", "2")]).call())
        .assert_s3_error(403, "AccessDenied");

    // Bucket names are shared: taken by another key, or already yours.
    call(&s, &lab, "PUT", "/field", None).assert_s3_error(409, "BucketAlreadyExists");
    // (Yours: 200 in us-east-1, as AWS answers there.)
    assert_eq!(call(&s, &field_app, "PUT", "/field", None).status, 200);

    // Allowed to read: reads work, writes still do not.
    let out = key_cli(&s, &["allow", "lab", "field"]);
    assert!(out.contains("may now read"), "{out}");
    let r = call(&s, &lab, "GET", "/field/a.txt", None);
    assert_eq!((r.status, r.body.as_str()), (200, "field data"));
    assert!(list(&lab).contains("<Name>field</Name>"));
    call(&s, &lab, "PUT", "/field/b.txt", Some(b"x")).assert_s3_error(403, "AccessDenied");
    call(&s, &main, "GET", "/field/b.txt", None).assert_s3_error(404, "NoSuchKey");
    key_cli(&s, &["allow", "lab", "field", "--write"]);
    assert_eq!(
        call(&s, &lab, "PUT", "/field/b.txt", Some(b"x")).status,
        200
    );
    // Settings stay the owner's.
    call(&s, &lab, "DELETE", "/field", None).assert_s3_error(403, "AccessDenied");

    // The configured key may do anything.
    let r = call(&s, &main, "GET", "/lab/b.txt", None);
    assert_eq!((r.status, r.body.as_str()), (200, "lab data"));

    // A revoked key stops working at once.
    let listing = key_cli(&s, &["list"]);
    assert!(
        listing.contains("field-app") && listing.contains(&lab.access_key_id),
        "{listing}"
    );
    assert!(
        !listing.contains(&lab.secret_access_key),
        "a secret in the list: {listing}"
    );
    key_cli(&s, &["revoke", "lab"]);
    call(&s, &lab, "GET", "/lab/b.txt", None).assert_s3_error(403, "InvalidAccessKeyId");
}
