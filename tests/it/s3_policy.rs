//! Bucket policies and PublicAccessBlock deciding anonymous and cross-key
//! access, over real HTTP: a policy's Allow opens what grants do not, its
//! explicit Deny wins over grants and ACLs (DeleteObjects asked object by
//! object), conditions see the client's address, transport and prefix;
//! refused policies and refused public ACLs change nothing.

use stowage::sigv4::Credentials;

use crate::harness::*;
use crate::keys::{key_cli, new_key};
use crate::s3::{call, put_obj, put_req};

fn anonymous(s: &TestServer, method: &str, path: &str) -> Resp {
    Resp::from(ureq::request(method, &s.url(path)).call())
}

fn as_key(s: &TestServer, c: &Credentials, method: &str, path: &str, q: &[(&str, &str)]) -> Resp {
    Resp::from(ureq::request(method, &presigned_url(s, c, method, path, q, &[])).call())
}

fn key_post(s: &TestServer, c: &Credentials, path: &str, q: &[(&str, &str)], body: &str) -> Resp {
    Resp::from(ureq::post(&presigned_url(s, c, "POST", path, q, &[])).send_string(body))
}

fn put_policy(s: &TestServer, bucket: &str, policy: &str) -> Resp {
    Resp::from(put_req(s, &format!("/{bucket}"), &[("policy", "")], &[]).send_string(policy))
}

fn put_pab(s: &TestServer, bucket: &str, settings: &[&str]) -> Resp {
    let inner: String = settings
        .iter()
        .map(|n| format!("<{n}>true</{n}>"))
        .collect();
    let doc = format!("<PublicAccessBlockConfiguration>{inner}</PublicAccessBlockConfiguration>");
    Resp::from(
        put_req(s, &format!("/{bucket}"), &[("publicAccessBlock", "")], &[]).send_string(&doc),
    )
}

#[test]
fn a_public_policy_opens_what_it_names_and_nothing_else() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/site", &[]).status, 200);
    put_obj(&s, "/site/public/index.html", b"<h1>hi</h1>", &[]);
    put_obj(&s, "/site/private/notes.txt", b"secret", &[]);
    anonymous(&s, "GET", "/site/public/index.html").assert_s3_error(403, "AccessDenied");
    call(&s, "GET", "/site", &[("policy", "")]).assert_s3_error(404, "NoSuchBucketPolicy");
    call(&s, "GET", "/site", &[("policyStatus", "")]).assert_s3_error(404, "NoSuchBucketPolicy");

    let policy = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Web", "Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/public/*"}]}"#;
    assert_eq!(put_policy(&s, "site", policy).status, 204);
    assert_eq!(call(&s, "GET", "/site", &[("policy", "")]).body, policy);
    let status = call(&s, "GET", "/site", &[("policyStatus", "")]);
    assert!(
        status.body.contains("<IsPublic>true</IsPublic>"),
        "{}",
        status.body
    );

    assert_eq!(
        anonymous(&s, "GET", "/site/public/index.html").body,
        "<h1>hi</h1>"
    );
    anonymous(&s, "GET", "/site/private/notes.txt").assert_s3_error(403, "AccessDenied");
    anonymous(&s, "GET", "/site?list-type=2").assert_s3_error(403, "AccessDenied");
    let r = Resp::from(ureq::put(&s.url("/site/public/new.html")).send_bytes(b"x"));
    r.assert_s3_error(403, "AccessDenied");
    anonymous(&s, "DELETE", "/site/public/index.html").assert_s3_error(403, "AccessDenied");
    // Another key is "everyone" too, for what the policy names only.
    let other = new_key(&s, "other");
    assert_eq!(
        as_key(&s, &other, "GET", "/site/public/index.html", &[]).status,
        200
    );
    as_key(&s, &other, "GET", "/site/private/notes.txt", &[]).assert_s3_error(403, "AccessDenied");
    // Settings stay the owner's.
    as_key(&s, &other, "GET", "/site", &[("policy", "")]).assert_s3_error(403, "AccessDenied");
    anonymous(&s, "DELETE", "/site?policy").assert_s3_error(403, "AccessDenied");

    assert_eq!(call(&s, "DELETE", "/site", &[("policy", "")]).status, 204);
    anonymous(&s, "GET", "/site/public/index.html").assert_s3_error(403, "AccessDenied");
    assert_eq!(call(&s, "DELETE", "/site", &[("policy", "")]).status, 204);
}

#[test]
fn an_explicit_deny_wins_over_grants_and_acls() {
    let s = TestServer::start();
    let lab = new_key(&s, "lab");
    assert_eq!(call(&s, "PUT", "/backups", &[]).status, 200);
    key_cli(&s, &["allow", "lab", "backups", "--write"]);
    for k in ["keep/a", "keep/b", "tmp/c"] {
        put_obj(&s, &format!("/backups/{k}"), k.as_bytes(), &[]);
    }
    put_obj(
        &s,
        "/backups/keep/public",
        b"open",
        &[("x-amz-acl", "public-read")],
    );
    assert_eq!(anonymous(&s, "GET", "/backups/keep/public").status, 200);
    let policy = format!(
        r#"{{"Statement": [{{"Effect": "Deny", "Principal": {{"AWS": ["{}"]}},
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject"],
            "Resource": "arn:aws:s3:::backups/keep/*"}},
           {{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::backups/keep/public"}}]}}"#,
        lab.access_key_id
    );
    let r = put_policy(&s, "backups", &policy);
    assert_eq!(r.status, 204, "{}", r.body);
    let status = call(&s, "GET", "/backups", &[("policyStatus", "")]);
    assert!(
        status.body.contains("<IsPublic>false</IsPublic>"),
        "{}",
        status.body
    );

    // The grant still opens what the Deny does not name.
    assert_eq!(
        as_key(&s, &lab, "GET", "/backups/keep/a", &[]).body,
        "keep/a"
    );
    assert_eq!(
        as_key(&s, &lab, "DELETE", "/backups/tmp/c", &[]).status,
        204
    );
    let r = as_key(&s, &lab, "DELETE", "/backups/keep/a", &[]);
    r.assert_s3_error(403, "AccessDenied");
    assert!(
        r.body.contains("explicitly denies s3:DeleteObject"),
        "{}",
        r.body
    );
    let url = presigned_url(&s, &lab, "PUT", "/backups/keep/a", &[], &[]);
    Resp::from(ureq::put(&url).send_bytes(b"overwritten")).assert_s3_error(403, "AccessDenied");
    // DeleteObjects asks each object: refused ones are errors, the rest go.
    put_obj(&s, "/backups/tmp/d", b"d", &[]);
    let body =
        "<Delete><Object><Key>keep/b</Key></Object><Object><Key>tmp/d</Key></Object></Delete>";
    let r = key_post(&s, &lab, "/backups", &[("delete", "")], body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("<Error><Key>keep/b</Key><Code>AccessDenied</Code>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<Deleted><Key>tmp/d</Key>"), "{}", r.body);
    // The ACL's public read loses to the Deny.
    anonymous(&s, "GET", "/backups/keep/public").assert_s3_error(403, "AccessDenied");
    // Nothing the Deny covered changed.
    for k in ["keep/a", "keep/b"] {
        assert_eq!(call(&s, "GET", &format!("/backups/{k}"), &[]).body, k);
    }
    call(&s, "GET", "/backups/tmp/d", &[]).assert_s3_error(404, "NoSuchKey");
    // The configured key is the administrator: no policy applies to it.
    assert_eq!(call(&s, "GET", "/backups/keep/public", &[]).body, "open");
}

#[test]
fn an_allow_for_a_key_with_conditions_opens_a_prefix_listing() {
    let s = TestServer::start();
    let alice = new_key(&s, "alice");
    assert_eq!(call(&s, "PUT", "/home", &[]).status, 200);
    put_obj(&s, "/home/alice/cv.pdf", b"cv", &[]);
    put_obj(&s, "/home/bob/taxes.pdf", b"taxes", &[]);
    let policy = format!(
        r#"{{"Statement": [
          {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::000000000000:user/{id}"}},
           "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
           "Condition": {{"StringLike": {{"s3:prefix": ["alice/*"]}},
                          "IpAddress": {{"aws:SourceIp": "127.0.0.0/8"}}}}}},
          {{"Effect": "Allow", "Principal": {{"AWS": "{id}"}},
           "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::home/alice/*"}}]}}"#,
        id = alice.access_key_id
    );
    let r = put_policy(&s, "home", &policy);
    assert_eq!(r.status, 204, "{}", r.body);
    let r = as_key(
        &s,
        &alice,
        "GET",
        "/home",
        &[("list-type", "2"), ("prefix", "alice/")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("alice/cv.pdf") && !r.body.contains("bob/"),
        "{}",
        r.body
    );
    as_key(&s, &alice, "GET", "/home", &[("list-type", "2")]).assert_s3_error(403, "AccessDenied");
    as_key(
        &s,
        &alice,
        "GET",
        "/home",
        &[("list-type", "2"), ("prefix", "bob/")],
    )
    .assert_s3_error(403, "AccessDenied");
    assert_eq!(
        as_key(&s, &alice, "GET", "/home/alice/cv.pdf", &[]).body,
        "cv"
    );
    as_key(&s, &alice, "GET", "/home/bob/taxes.pdf", &[]).assert_s3_error(403, "AccessDenied");
    let url = presigned_url(&s, &alice, "PUT", "/home/alice/new.txt", &[], &[]);
    assert_eq!(Resp::from(ureq::put(&url).send_bytes(b"new")).status, 200);
    assert_eq!(call(&s, "GET", "/home/alice/new.txt", &[]).body, "new");
    // A key no policy names gets nothing.
    let bob = new_key(&s, "bob");
    as_key(&s, &bob, "GET", "/home/alice/cv.pdf", &[]).assert_s3_error(403, "AccessDenied");
}

#[test]
fn conditions_on_address_and_transport_decide() {
    let s = TestServer::start();
    let lab = new_key(&s, "lab");
    assert_eq!(call(&s, "PUT", "/field", &[]).status, 200);
    key_cli(&s, &["allow", "lab", "field"]);
    put_obj(&s, "/field/a.txt", b"a", &[]);
    let deny_if = |condition: &str| {
        format!(
            r#"{{"Statement": {{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::field", "arn:aws:s3:::field/*"],
                "Condition": {condition}}}}}"#
        )
    };
    // Only from outside the site's network: this client is inside.
    let outside = deny_if(r#"{"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}"#);
    assert_eq!(put_policy(&s, "field", &outside).status, 204);
    assert_eq!(as_key(&s, &lab, "GET", "/field/a.txt", &[]).body, "a");
    let here = deny_if(r#"{"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}"#);
    assert_eq!(put_policy(&s, "field", &here).status, 204);
    as_key(&s, &lab, "GET", "/field/a.txt", &[]).assert_s3_error(403, "AccessDenied");
    // Plain HTTP: refused where a policy asks for TLS.
    let plain = deny_if(r#"{"Bool": {"aws:SecureTransport": "false"}}"#);
    assert_eq!(put_policy(&s, "field", &plain).status, 204);
    as_key(&s, &lab, "GET", "/field/a.txt", &[]).assert_s3_error(403, "AccessDenied");
    assert_eq!(
        call(&s, "GET", "/field/a.txt", &[]).body,
        "a",
        "the administrator"
    );
    // The lab's own grant opens it again once the Deny is gone.
    assert_eq!(call(&s, "DELETE", "/field", &[("policy", "")]).status, 204);
    assert_eq!(as_key(&s, &lab, "GET", "/field/a.txt", &[]).body, "a");
}

#[test]
fn refused_policies_say_why_and_store_nothing() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/docs", &[]).status, 200);
    let stmt = |principal: &str, action: &str, resource: &str| {
        format!(
            r#"{{"Statement": {{"Effect": "Allow", "Principal": {principal},
                "Action": "{action}", "Resource": "{resource}"}}}}"#
        )
    };
    for (policy, message) in [
        ("not json".to_string(), "valid JSON"),
        (
            stmt("\"*\"", "s3:GetObject", "arn:aws:s3:::other/*"),
            "Policy has invalid resource",
        ),
        (
            stmt("\"*\"", "s3:GetObjekt", "arn:aws:s3:::docs/*"),
            "Policy has invalid action",
        ),
        (
            stmt("\"*\"", "s3:PutObject", "arn:aws:s3:::docs"),
            "Action does not apply",
        ),
        (
            stmt(
                r#"{"AWS": "AKNOSUCHKEY0000000000"}"#,
                "s3:GetObject",
                "arn:aws:s3:::docs/*",
            ),
            "Invalid principal in policy",
        ),
        ("x".repeat(21 * 1024), "at most 20480 bytes"),
    ] {
        let r = put_policy(&s, "docs", &policy);
        r.assert_s3_error(400, "MalformedPolicy");
        assert!(r.body.contains(message), "{message}: {}", r.body);
        call(&s, "GET", "/docs", &[("policy", "")]).assert_s3_error(404, "NoSuchBucketPolicy");
    }
    let ok = stmt("\"*\"", "s3:GetObject", "arn:aws:s3:::docs/*");
    put_policy(&s, "nobucket", &ok).assert_s3_error(404, "NoSuchBucket");
}

#[test]
fn public_access_block_blocks_public_acls_and_policies() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/vault", &[]).status, 200);
    call(&s, "GET", "/vault", &[("publicAccessBlock", "")])
        .assert_s3_error(404, "NoSuchPublicAccessBlockConfiguration");
    put_obj(
        &s,
        "/vault/old-public",
        b"old",
        &[("x-amz-acl", "public-read")],
    );
    assert_eq!(anonymous(&s, "GET", "/vault/old-public").status, 200);

    assert_eq!(put_pab(&s, "vault", &["BlockPublicAcls"]).status, 200);
    let r = call(&s, "GET", "/vault", &[("publicAccessBlock", "")]);
    assert!(
        r.body.contains("<BlockPublicAcls>true</BlockPublicAcls>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<IgnorePublicAcls>false</IgnorePublicAcls>"),
        "{}",
        r.body
    );
    // Setting a public ACL is refused, and nothing is stored.
    put_obj(&s, "/vault/new", b"new", &[("x-amz-acl", "public-read")])
        .assert_s3_error(403, "AccessDenied");
    call(&s, "GET", "/vault/new", &[]).assert_s3_error(404, "NoSuchKey");
    Resp::from(
        put_req(
            &s,
            "/vault",
            &[("acl", "")],
            &[("x-amz-acl", "public-read")],
        )
        .call(),
    )
    .assert_s3_error(403, "AccessDenied");
    assert!(!call(&s, "GET", "/vault", &[("acl", "")])
        .body
        .contains("AllUsers"));
    // A private ACL is still fine, and the old public object still reads.
    assert_eq!(
        put_obj(&s, "/vault/new", b"new", &[("x-amz-acl", "private")]).status,
        200
    );
    assert_eq!(anonymous(&s, "GET", "/vault/old-public").status, 200);

    // IgnorePublicAcls: the old public ACL opens nothing any more.
    assert_eq!(put_pab(&s, "vault", &["IgnorePublicAcls"]).status, 200);
    anonymous(&s, "GET", "/vault/old-public").assert_s3_error(403, "AccessDenied");

    // BlockPublicPolicy: a public policy is refused, a pinned one is not.
    assert_eq!(put_pab(&s, "vault", &["BlockPublicPolicy"]).status, 200);
    let public = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*"}}"#;
    put_policy(&s, "vault", public).assert_s3_error(403, "AccessDenied");
    call(&s, "GET", "/vault", &[("policy", "")]).assert_s3_error(404, "NoSuchBucketPolicy");
    let pinned = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}}"#;
    assert_eq!(put_policy(&s, "vault", pinned).status, 204);

    // RestrictPublicBuckets: a public policy's Allow reaches no outsider.
    assert_eq!(
        call(&s, "DELETE", "/vault", &[("publicAccessBlock", "")]).status,
        204
    );
    assert_eq!(put_policy(&s, "vault", public).status, 204);
    assert_eq!(anonymous(&s, "GET", "/vault/new").body, "new");
    assert_eq!(put_pab(&s, "vault", &["RestrictPublicBuckets"]).status, 200);
    anonymous(&s, "GET", "/vault/new").assert_s3_error(403, "AccessDenied");
    assert_eq!(
        call(&s, "DELETE", "/vault", &[("publicAccessBlock", "")]).status,
        204
    );
    assert_eq!(anonymous(&s, "GET", "/vault/new").body, "new");
}

#[test]
fn a_copy_reads_its_source_through_acls_and_policies() {
    let s = TestServer::start();
    let lab = new_key(&s, "lab");
    assert_eq!(call(&s, "PUT", "/library", &[]).status, 200);
    put_obj(
        &s,
        "/library/open.pdf",
        b"open",
        &[("x-amz-acl", "public-read")],
    );
    put_obj(&s, "/library/closed.pdf", b"closed", &[]);
    put_obj(&s, "/library/lent.pdf", b"lent", &[]);
    let url = presigned_url(&s, &lab, "PUT", "/mine", &[], &[]);
    assert_eq!(Resp::from(ureq::put(&url).call()).status, 200);
    let copy = |src: &str, dst: &str| {
        let h = [("x-amz-copy-source", src)];
        let url = presigned_url(&s, &lab, "PUT", dst, &[], &h);
        Resp::from(ureq::put(&url).set(h[0].0, h[0].1).call())
    };
    assert_eq!(copy("/library/open.pdf", "/mine/open.pdf").status, 200);
    copy("/library/closed.pdf", "/mine/closed.pdf").assert_s3_error(403, "AccessDenied");
    as_key(&s, &lab, "GET", "/mine/closed.pdf", &[]).assert_s3_error(404, "NoSuchKey");
    let policy = format!(
        r#"{{"Statement": {{"Effect": "Allow", "Principal": {{"AWS": "{}"}},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::library/lent.pdf"}}}}"#,
        lab.access_key_id
    );
    assert_eq!(put_policy(&s, "library", &policy).status, 204);
    assert_eq!(copy("/library/lent.pdf", "/mine/lent.pdf").status, 200);
    assert_eq!(as_key(&s, &lab, "GET", "/mine/lent.pdf", &[]).body, "lent");
}
