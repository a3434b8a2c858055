//! Canned ACLs deciding anonymous and cross-key access, over real HTTP:
//! `x-amz-acl` on objects and buckets, Put/GetBucketAcl and
//! Put/GetObjectAcl as AWS renders them; an object's ACL opens it alone, a
//! bucket's opens its listing (and, `public-read-write`, writes into it);
//! `authenticated-read` opens to every key of the gateway and never to an
//! anonymous client; what an ACL does not grant stays refused.

use stowage::sigv4::Credentials;

use crate::harness::*;
use crate::keys::new_key;
use crate::s3::{call, put_obj, put_req, signed};

fn anonymous(s: &TestServer, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    let req = ureq::request(method, &s.url(path));
    Resp::from(match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    })
}

fn as_key(s: &TestServer, c: &Credentials, method: &str, path: &str, q: &[(&str, &str)]) -> Resp {
    Resp::from(ureq::request(method, &presigned_url(s, c, method, path, q, &[])).call())
}

fn set_acl(s: &TestServer, path: &str, acl: &str) -> Resp {
    Resp::from(put_req(s, path, &[("acl", "")], &[("x-amz-acl", acl)]).call())
}

#[test]
fn an_objects_acl_opens_it_alone_and_a_buckets_its_listing() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/gallery", &[]).status, 200);
    let r = put_obj(
        &s,
        "/gallery/public.jpg",
        b"for all",
        &[("x-amz-acl", "public-read")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    put_obj(&s, "/gallery/private.jpg", b"mine", &[]);

    assert_eq!(
        anonymous(&s, "GET", "/gallery/public.jpg", None).body,
        "for all"
    );
    anonymous(&s, "GET", "/gallery/private.jpg", None).assert_s3_error(403, "AccessDenied");
    anonymous(&s, "GET", "/gallery?list-type=2", None).assert_s3_error(403, "AccessDenied");
    let r = call(&s, "GET", "/gallery/public.jpg", &[("acl", "")]);
    assert!(r.body.contains("global/AllUsers</URI>"), "{}", r.body);
    assert!(
        r.body.contains("<Permission>READ</Permission>"),
        "{}",
        r.body
    );

    // The bucket public-read: its listing opens, its private objects stay.
    assert_eq!(set_acl(&s, "/gallery", "public-read").status, 200);
    let r = anonymous(&s, "GET", "/gallery?list-type=2", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Key>private.jpg</Key>"), "{}", r.body);
    // READ on a bucket covers its versions and uploads in progress too.
    for listing in ["/gallery?versions", "/gallery?uploads"] {
        assert_eq!(anonymous(&s, "GET", listing, None).status, 200, "{listing}");
    }
    anonymous(&s, "GET", "/gallery/private.jpg", None).assert_s3_error(403, "AccessDenied");
    anonymous(&s, "PUT", "/gallery/new.jpg", Some(b"x")).assert_s3_error(403, "AccessDenied");
    // A bad or granting x-amz-acl from someone who may not write learns
    // nothing of how it would be read: refused as the write it is.
    for (name, value) in [("x-amz-acl", "everyone"), ("x-amz-grant-read", "id=x")] {
        let r = ureq::put(&s.url("/gallery/new.jpg"))
            .set(name, value)
            .send_bytes(b"x");
        Resp::from(r).assert_s3_error(403, "AccessDenied");
    }
    call(&s, "GET", "/gallery/new.jpg", &[]).assert_s3_error(404, "NoSuchKey");
    let r = call(&s, "GET", "/gallery", &[("acl", "")]);
    assert!(r.body.contains("global/AllUsers</URI>"), "{}", r.body);

    // Back to private: closed again.
    assert_eq!(set_acl(&s, "/gallery/public.jpg", "private").status, 200);
    anonymous(&s, "GET", "/gallery/public.jpg", None).assert_s3_error(403, "AccessDenied");
    let r = call(&s, "GET", "/gallery/public.jpg", &[("acl", "")]);
    assert!(!r.body.contains("AllUsers"), "{}", r.body);

    // public-read-write: an anonymous client may write and delete there.
    assert_eq!(set_acl(&s, "/gallery", "public-read-write").status, 200);
    assert_eq!(
        anonymous(&s, "PUT", "/gallery/drop.txt", Some(b"dropped")).status,
        200
    );
    assert_eq!(call(&s, "GET", "/gallery/drop.txt", &[]).body, "dropped");
    assert_eq!(
        anonymous(&s, "DELETE", "/gallery/drop.txt", None).status,
        204
    );
    // Settings stay the owner's.
    anonymous(&s, "PUT", "/gallery?acl", None).assert_s3_error(403, "AccessDenied");
}

#[test]
fn authenticated_read_opens_to_every_key_and_no_anonymous_client() {
    let s = TestServer::start();
    let other = new_key(&s, "other");
    assert_eq!(call(&s, "PUT", "/team", &[]).status, 200);
    put_obj(
        &s,
        "/team/shared.pdf",
        b"shared",
        &[("x-amz-acl", "authenticated-read")],
    );
    put_obj(&s, "/team/secret.pdf", b"secret", &[]);
    assert_eq!(
        as_key(&s, &other, "GET", "/team/shared.pdf", &[]).body,
        "shared"
    );
    as_key(&s, &other, "GET", "/team/secret.pdf", &[]).assert_s3_error(403, "AccessDenied");
    anonymous(&s, "GET", "/team/shared.pdf", None).assert_s3_error(403, "AccessDenied");
    as_key(&s, &other, "GET", "/team", &[("list-type", "2")]).assert_s3_error(403, "AccessDenied");
    assert_eq!(set_acl(&s, "/team", "authenticated-read").status, 200);
    assert_eq!(
        as_key(&s, &other, "GET", "/team", &[("list-type", "2")]).status,
        200
    );
    anonymous(&s, "GET", "/team?list-type=2", None).assert_s3_error(403, "AccessDenied");
    // Reading is all it grants: no writes, no settings.
    let url = presigned_url(&s, &other, "PUT", "/team/mine.txt", &[], &[]);
    Resp::from(ureq::put(&url).send_bytes(b"x")).assert_s3_error(403, "AccessDenied");
    as_key(&s, &other, "GET", "/team", &[("acl", "")]).assert_s3_error(403, "AccessDenied");
}

#[test]
fn acls_this_gateway_does_not_keep_are_refused_and_change_nothing() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/strict", &[]).status, 200);
    put_obj(
        &s,
        "/strict/k",
        b"x",
        &[(
            "x-amz-grant-read",
            "uri=http://acs.amazonaws.com/groups/global/AllUsers",
        )],
    )
    .assert_s3_error(501, "NotImplemented");
    call(&s, "GET", "/strict/k", &[]).assert_s3_error(404, "NoSuchKey");
    put_obj(&s, "/strict/k", b"x", &[("x-amz-acl", "everyone")])
        .assert_s3_error(400, "InvalidArgument");
    call(&s, "GET", "/strict/k", &[]).assert_s3_error(404, "NoSuchKey");
    let url = signed(&s, "PUT", "/strict", &[("acl", "")]);
    Resp::from(ureq::put(&url).send_string("<AccessControlPolicy/>"))
        .assert_s3_error(501, "NotImplemented");
    let r = call(&s, "GET", "/strict", &[("acl", "")]);
    assert_eq!(r.body.matches("<Grant>").count(), 1, "{}", r.body);
    // A bucket created with an ACL has it from the start.
    let r = Resp::from(put_req(&s, "/opened", &[], &[("x-amz-acl", "public-read")]).call());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        anonymous(&s, "GET", "/opened?list-type=2", None).status,
        200
    );
}
