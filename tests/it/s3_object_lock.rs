//! Object Lock (WORM) as AWS answers it, over real HTTP, on the gateway's
//! injected clock: a locked version survives every path that could remove
//! it — DELETE with and without a version, an overwrite, a copy over it,
//! DeleteObjects, a shorter or removed retention, the configured (admin)
//! key, with and without `x-amz-bypass-governance-retention` — until its
//! date passes or its legal hold is lifted; each refusal leaves its bytes
//! readable by its version id.

use stowage::sigv4::Credentials;

use crate::harness::*;
use crate::keys::{key_cli, new_key};
use crate::s3::{call, post, put_obj, put_req, signed};

const DAY: i64 = 86_400;

/// The server's clock `secs` from now, as S3 writes dates.
fn date_in(s: &TestServer, secs: i64) -> String {
    let t = s.clock_now() + time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A bucket created with `x-amz-bucket-object-lock-enabled: true`.
fn locked_bucket(s: &TestServer, bucket: &str) {
    let r = Resp::from(
        put_req(
            s,
            bucket,
            &[],
            &[("x-amz-bucket-object-lock-enabled", "true")],
        )
        .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A request as `creds` carrying `headers` (its `x-amz-*` ones signed).
fn request(
    s: &TestServer,
    creds: &Credentials,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> ureq::Request {
    let url = presigned_url(s, creds, method, path, query, headers);
    headers
        .iter()
        .fold(ureq::request(method, &url), |r, (n, v)| r.set(n, v))
}

fn delete_version(s: &TestServer, creds: &Credentials, path: &str, id: &str, bypass: bool) -> Resp {
    let headers: &[(&str, &str)] = if bypass {
        &[("x-amz-bypass-governance-retention", "true")]
    } else {
        &[]
    };
    Resp::from(request(s, creds, "DELETE", path, &[("versionId", id)], headers).call())
}

fn read_version(s: &TestServer, path: &str, id: &str) -> Resp {
    call(s, "GET", path, &[("versionId", id)])
}

fn put_retention(
    s: &TestServer,
    path: &str,
    id: &str,
    mode: &str,
    until: &str,
    bypass: bool,
) -> Resp {
    let body = format!(
        "<Retention><Mode>{mode}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>"
    );
    let headers: &[(&str, &str)] = if bypass {
        &[("x-amz-bypass-governance-retention", "true")]
    } else {
        &[]
    };
    let main = &s.app.credentials;
    Resp::from(
        request(
            s,
            main,
            "PUT",
            path,
            &[("retention", ""), ("versionId", id)],
            headers,
        )
        .send_string(&body),
    )
}

#[test]
fn a_compliance_locked_version_survives_every_path_until_its_date() {
    let s = TestServer::start();
    let main = s.app.credentials.clone();
    locked_bucket(&s, "/vault");
    let until = date_in(&s, DAY);
    let r = put_obj(
        &s,
        "/vault/ledger.db",
        b"the only copy",
        &[
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            ("x-amz-object-lock-retain-until-date", &until),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.header("x-amz-version-id").unwrap().to_string();
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", "/vault/ledger.db", &[])).call());
    assert_eq!(head.header("x-amz-object-lock-mode"), Some("COMPLIANCE"));
    assert!(head.header("x-amz-object-lock-retain-until-date").is_some());
    let still_there = |s: &TestServer| {
        assert_eq!(
            read_version(s, "/vault/ledger.db", &v).body,
            "the only copy"
        );
    };

    // DELETE of the version, by the configured key, bypass or not.
    for bypass in [false, true] {
        delete_version(&s, &main, "/vault/ledger.db", &v, bypass)
            .assert_s3_error(403, "AccessDenied");
        still_there(&s);
    }
    // DeleteObjects naming it: an error for that object, nothing removed.
    let body =
        format!("<Delete><Object><Key>ledger.db</Key><VersionId>{v}</VersionId></Object></Delete>");
    let r = post(&s, "/vault", &[("delete", "")], &body);
    assert!(r.body.contains("<Code>AccessDenied</Code>"), "{}", r.body);
    still_there(&s);
    // Shortened, moved to GOVERNANCE or removed: refused, even bypassing.
    for (mode, date) in [
        ("COMPLIANCE", date_in(&s, 60)),
        ("GOVERNANCE", date_in(&s, 2 * DAY)),
    ] {
        put_retention(&s, "/vault/ledger.db", &v, mode, &date, true)
            .assert_s3_error(403, "AccessDenied");
    }
    // An overwrite, a copy over it and a plain DELETE add versions on top.
    put_obj(&s, "/vault/ledger.db", b"overwritten", &[]);
    let source = "/vault/ledger.db";
    let url = crate::s3::signed_with(
        &s,
        "PUT",
        "/vault/ledger.db",
        &[],
        &[
            ("x-amz-copy-source", source),
            ("x-amz-metadata-directive", "REPLACE"),
        ],
    );
    let r = Resp::from(
        ureq::put(&url)
            .set("x-amz-copy-source", source)
            .set("x-amz-metadata-directive", "REPLACE")
            .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(call(&s, "DELETE", "/vault/ledger.db", &[]).status, 204);
    still_there(&s);
    // Extending is always allowed.
    let later = date_in(&s, 2 * DAY);
    let r = put_retention(&s, "/vault/ledger.db", &v, "COMPLIANCE", &later, false);
    assert_eq!(r.status, 200, "{}", r.body);

    // Its date passed (the gateway's clock), it goes like any version.
    s.clock.advance(2 * DAY + 1);
    let r = delete_version(&s, &main, "/vault/ledger.db", &v, false);
    assert_eq!(r.status, 204, "{}", r.body);
    read_version(&s, "/vault/ledger.db", &v).assert_s3_error(404, "NoSuchVersion");
}

#[test]
fn governance_yields_only_to_a_bypass_by_a_key_allowed_to() {
    let s = TestServer::start();
    let main = s.app.credentials.clone();
    assert_eq!(call(&s, "PUT", "/gov", &[]).status, 200);
    let on = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r =
        Resp::from(ureq::put(&signed(&s, "PUT", "/gov", &[("versioning", "")])).send_string(on));
    assert_eq!(r.status, 200);
    // A default retention for every new version.
    let config = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
                  <DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention>\
                  </Rule></ObjectLockConfiguration>";
    let r = Resp::from(
        ureq::put(&signed(&s, "PUT", "/gov", &[("object-lock", "")])).send_string(config),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&s, "GET", "/gov", &[("object-lock", "")]);
    assert!(
        r.body.contains("<Mode>GOVERNANCE</Mode><Days>1</Days>"),
        "{}",
        r.body
    );

    let r = put_obj(&s, "/gov/report.pdf", b"governed", &[]);
    let v = r.header("x-amz-version-id").unwrap().to_string();
    let r = call(&s, "GET", "/gov/report.pdf", &[("retention", "")]);
    assert!(r.body.contains("<Mode>GOVERNANCE</Mode>"), "{}", r.body);

    // A key with a write grant: refused even when it asks to bypass.
    let writer = new_key(&s, "writer");
    key_cli(&s, &["allow", "writer", "gov", "--write"]);
    delete_version(&s, &writer, "/gov/report.pdf", &v, true).assert_s3_error(403, "AccessDenied");
    // The configured key, not asking: refused; asking: removed.
    delete_version(&s, &main, "/gov/report.pdf", &v, false).assert_s3_error(403, "AccessDenied");
    assert_eq!(read_version(&s, "/gov/report.pdf", &v).body, "governed");
    let r = delete_version(&s, &main, "/gov/report.pdf", &v, true);
    assert_eq!(r.status, 204, "{}", r.body);

    // A bucket policy's Allow of s3:BypassGovernanceRetention lets the
    // writer bypass too, where no Deny says otherwise.
    let policy = format!(
        r#"{{"Statement": [
          {{"Effect": "Allow", "Principal": {{"AWS": "{id}"}},
           "Action": "s3:BypassGovernanceRetention", "Resource": "arn:aws:s3:::gov/*"}},
          {{"Effect": "Deny", "Principal": {{"AWS": "{id}"}},
           "Action": "s3:BypassGovernanceRetention", "Resource": "arn:aws:s3:::gov/keep/*"}}]}}"#,
        id = writer.access_key_id
    );
    let r =
        Resp::from(ureq::put(&signed(&s, "PUT", "/gov", &[("policy", "")])).send_string(&policy));
    assert_eq!(r.status, 204, "{}", r.body);
    let kept = put_obj(&s, "/gov/keep/a.pdf", b"kept", &[]);
    let kept = kept.header("x-amz-version-id").unwrap().to_string();
    delete_version(&s, &writer, "/gov/keep/a.pdf", &kept, true)
        .assert_s3_error(403, "AccessDenied");
    assert_eq!(read_version(&s, "/gov/keep/a.pdf", &kept).body, "kept");
    let r = put_obj(&s, "/gov/third.pdf", b"third", &[]);
    let v3 = r.header("x-amz-version-id").unwrap().to_string();
    delete_version(&s, &writer, "/gov/third.pdf", &v3, false).assert_s3_error(403, "AccessDenied");
    let r = delete_version(&s, &writer, "/gov/third.pdf", &v3, true);
    assert_eq!(r.status, 204, "{}", r.body);
    read_version(&s, "/gov/third.pdf", &v3).assert_s3_error(404, "NoSuchVersion");

    // Governance retention removed by a bypass, then the version goes.
    let r = put_obj(&s, "/gov/second.pdf", b"second", &[]);
    let v2 = r.header("x-amz-version-id").unwrap().to_string();
    let empty = "<Retention></Retention>";
    let r = Resp::from(
        request(
            &s,
            &main,
            "PUT",
            "/gov/second.pdf",
            &[("retention", ""), ("versionId", &v2)],
            &[],
        )
        .send_string(empty),
    );
    r.assert_s3_error(403, "AccessDenied");
    let r = Resp::from(
        request(
            &s,
            &main,
            "PUT",
            "/gov/second.pdf",
            &[("retention", ""), ("versionId", &v2)],
            &[("x-amz-bypass-governance-retention", "true")],
        )
        .send_string(empty),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        delete_version(&s, &main, "/gov/second.pdf", &v2, false).status,
        204
    );
    // Versioning stays on under Object Lock.
    let off = "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
    Resp::from(ureq::put(&signed(&s, "PUT", "/gov", &[("versioning", "")])).send_string(off))
        .assert_s3_error(409, "InvalidBucketState");
}

#[test]
fn a_legal_hold_keeps_a_version_until_it_is_lifted() {
    let s = TestServer::start();
    let main = s.app.credentials.clone();
    locked_bucket(&s, "/hold");
    let r = put_obj(
        &s,
        "/hold/evidence.jpg",
        b"evidence",
        &[("x-amz-object-lock-legal-hold", "ON")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.header("x-amz-version-id").unwrap().to_string();
    let r = call(&s, "GET", "/hold/evidence.jpg", &[("legal-hold", "")]);
    assert!(r.body.contains("<Status>ON</Status>"), "{}", r.body);
    for bypass in [false, true] {
        delete_version(&s, &main, "/hold/evidence.jpg", &v, bypass)
            .assert_s3_error(403, "AccessDenied");
    }
    assert_eq!(read_version(&s, "/hold/evidence.jpg", &v).body, "evidence");
    let off = "<LegalHold><Status>OFF</Status></LegalHold>";
    let url = signed(
        &s,
        "PUT",
        "/hold/evidence.jpg",
        &[("legal-hold", ""), ("versionId", &v)],
    );
    assert_eq!(Resp::from(ureq::put(&url).send_string(off)).status, 200);
    assert_eq!(
        delete_version(&s, &main, "/hold/evidence.jpg", &v, false).status,
        204
    );
}

#[test]
fn lock_settings_need_a_bucket_with_object_lock_and_store_nothing_otherwise() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/plain", &[]).status, 200);
    call(&s, "GET", "/plain", &[("object-lock", "")])
        .assert_s3_error(404, "ObjectLockConfigurationNotFoundError");
    let config = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
                  </ObjectLockConfiguration>";
    Resp::from(ureq::put(&signed(&s, "PUT", "/plain", &[("object-lock", "")])).send_string(config))
        .assert_s3_error(409, "InvalidBucketState");
    call(&s, "GET", "/plain", &[("object-lock", "")])
        .assert_s3_error(404, "ObjectLockConfigurationNotFoundError");
    let until = date_in(&s, DAY);
    put_obj(
        &s,
        "/plain/k",
        b"not stored",
        &[
            ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-object-lock-retain-until-date", &until),
        ],
    )
    .assert_s3_error(400, "InvalidRequest");
    call(&s, "GET", "/plain/k", &[]).assert_s3_error(404, "NoSuchKey");
    // In a locked bucket: a date not ahead, or a mode alone, is refused.
    locked_bucket(&s, "/locked");
    let past = date_in(&s, -60);
    for headers in [
        vec![
            ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-object-lock-retain-until-date", past.as_str()),
        ],
        vec![("x-amz-object-lock-mode", "GOVERNANCE")],
    ] {
        put_obj(&s, "/locked/k", b"not stored", &headers).assert_s3_error(400, "InvalidArgument");
    }
    call(&s, "GET", "/locked/k", &[]).assert_s3_error(404, "NoSuchKey");
    let r = call(&s, "GET", "/locked", &[("object-lock", "")]);
    assert!(
        r.body
            .contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>"),
        "{}",
        r.body
    );
    let r = call(&s, "GET", "/locked", &[("versioning", "")]);
    assert!(r.body.contains("<Status>Enabled</Status>"), "{}", r.body);
}
