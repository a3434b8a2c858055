//! What a request carries for a bucket policy's conditions
//! ([`crate::policy::Context`]): where it came from, over what, when, who
//! asks and how they signed, and the parameters S3 defines keys for
//! (`s3:prefix`, `s3:VersionId`, `s3:x-amz-acl`…).
//!
//! Must never read the path or query text: values come from the parsed
//! request, the endpoint, and the facts the server put in the request's
//! extensions ([`Peer`], [`Secure`]).

use http::request::Parts;

use crate::api::peer::{Peer, Secure};
use crate::api::s3::router::{AclHeader, Endpoint, Presented, S3Request};
use crate::api::sigauth::Principal;
use crate::app::App;
use crate::policy::Context;

/// The condition context of a parsed request.
pub fn of(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
    parts: &Parts,
) -> Context {
    let mut c = Context::new();
    if let Some(Peer(ip)) = parts.extensions.get::<Peer>() {
        c.set("aws:SourceIp", ip.to_canonical().to_string());
    }
    let secure = parts.extensions.get::<Secure>().is_some_and(|s| s.0);
    c.set("aws:SecureTransport", secure.to_string());
    let now = app.now_unix();
    c.set("aws:EpochTime", now.to_string());
    if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now) {
        if let Ok(s) = t.format(&time::format_description::well_known::Rfc3339) {
            c.set("aws:CurrentTime", s);
        }
    }
    for (header, key) in [("user-agent", "aws:UserAgent"), ("referer", "aws:Referer")] {
        if let Some(v) = parts.headers.get(header).and_then(|v| v.to_str().ok()) {
            c.set(key, v);
        }
    }
    match who {
        Principal::Anonymous => {
            c.set("aws:PrincipalType", "Anonymous");
        }
        Principal::Key(k) => {
            c.set("aws:PrincipalType", "User")
                .set("aws:userid", k.as_str())
                .set("aws:username", k.as_str());
        }
    }
    let (auth_type, signature) = match (endpoint, req.presented) {
        (Endpoint::PostObject, _) => (Some("POST"), None),
        (_, Presented::V4Header) => (Some("REST-HEADER"), Some("AWS4-HMAC-SHA256")),
        (_, Presented::V2Header) => (Some("REST-HEADER"), Some("AWS")),
        (_, Presented::V4Query) => (Some("REST-QUERY-STRING"), Some("AWS4-HMAC-SHA256")),
        (_, Presented::V2Query) => (Some("REST-QUERY-STRING"), Some("AWS")),
        _ => (None, None),
    };
    if let Some(t) = auth_type {
        c.set("s3:authType", t);
    }
    if let Some(s) = signature {
        c.set("s3:signatureversion", s);
    }
    if matches!(
        endpoint,
        Endpoint::ListObjectsV1 | Endpoint::ListObjectsV2 | Endpoint::ListObjectVersions
    ) {
        // A listing without a prefix lists from "" (as AWS evaluates it).
        c.set("s3:prefix", req.query.get("prefix").unwrap_or(""));
        if let Some(d) = req.query.get("delimiter") {
            c.set("s3:delimiter", d);
        }
        if let Some(m) = req.query.get("max-keys") {
            c.set("s3:max-keys", m);
        }
    }
    if let Some(v) = endpoint_version(endpoint) {
        c.set("s3:VersionId", v);
    }
    if let AclHeader::Canned(acl) = req.acl {
        c.set("s3:x-amz-acl", acl.as_str());
    }
    c
}

/// The version an endpoint names, if any.
fn endpoint_version(endpoint: &Endpoint) -> Option<&str> {
    use Endpoint::*;
    match endpoint {
        GetObject { version, .. }
        | HeadObject { version }
        | GetObjectAttributes { version }
        | PutObjectTagging { version }
        | GetObjectTagging { version }
        | DeleteObjectTagging { version }
        | PutObjectRetention { version }
        | GetObjectRetention { version }
        | PutObjectLegalHold { version }
        | GetObjectLegalHold { version }
        | PutObjectAcl { version }
        | GetObjectAcl { version }
        | DeleteObject { version } => version.as_deref(),
        _ => None,
    }
}
