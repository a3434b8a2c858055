//! Canned ACLs on the S3 surface: `x-amz-acl` on CreateBucket and on
//! object writes, Put/GetBucketAcl and Put/GetObjectAcl, rendered as
//! AWS's AccessControlPolicy (the owner's FULL_CONTROL and the groups a
//! canned ACL grants to).
//!
//! Must never decide who may do what (authorization reads the ACLs, with
//! the storage service's `acl` rules); ACLs given as grants to accounts or
//! as an XML document are refused, never half-applied.

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::router::AclHeader;
use super::versioning;
use super::xml::Xml;
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::CannedAcl;
use crate::storage::acl::SetAclOutcome;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The canned ACL of a PutBucketAcl or PutObjectAcl: its `x-amz-acl`. An
/// AccessControlPolicy document instead is refused (501), whatever it says.
async fn requested(
    parts: &Parts,
    body: Incoming,
    header: &AclHeader,
) -> Result<CannedAcl, ApiError> {
    let doc =
        crate::api::ingest::read_xml_body(parts, body, 64 * 1024, "access control policy").await?;
    match header.canned()? {
        Some(acl) if doc.iter().all(u8::is_ascii_whitespace) => Ok(acl),
        _ => Err(ApiError::NotImplemented(
            "ACLs given as an AccessControlPolicy document are not implemented by this gateway; \
             send a canned ACL in x-amz-acl (private, public-read, …). Nothing was changed."
                .into(),
        )),
    }
}

/// AWS's AccessControlPolicy for `acl`: the owner's FULL_CONTROL, and the
/// groups the canned ACL grants to.
fn policy(acl: Option<CannedAcl>) -> String {
    let mut x = Xml::new("AccessControlPolicy");
    x.open("Owner")
        .elem("ID", bucket::OWNER_ID)
        .elem("DisplayName", bucket::OWNER_ID)
        .close("Owner");
    x.open("AccessControlList");
    let xsi = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
    x.open("Grant")
        .open(&format!("Grantee {xsi} xsi:type=\"CanonicalUser\""))
        .elem("ID", bucket::OWNER_ID)
        .elem("DisplayName", bucket::OWNER_ID)
        .close("Grantee")
        .elem("Permission", "FULL_CONTROL")
        .close("Grant");
    let groups: &[(&str, &str)] = match acl {
        Some(CannedAcl::PublicRead) => &[(ALL_USERS, "READ")],
        Some(CannedAcl::PublicReadWrite) => &[(ALL_USERS, "READ"), (ALL_USERS, "WRITE")],
        Some(CannedAcl::AuthenticatedRead) => &[(AUTHENTICATED_USERS, "READ")],
        _ => &[],
    };
    for (uri, permission) in groups {
        x.open("Grant")
            .open(&format!("Grantee {xsi} xsi:type=\"Group\""))
            .elem("URI", uri)
            .close("Grantee")
            .elem("Permission", permission)
            .close("Grant");
    }
    x.close("AccessControlList");
    x.finish("AccessControlPolicy")
}

/// PutBucketAcl.
pub async fn put_bucket(
    app: &App,
    parts: &Parts,
    body: Incoming,
    header: &AclHeader,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let acl = requested(parts, body, header).await?;
    if !app.storage.set_bucket_acl(bucket_name, acl).await? {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::OK))
}

/// GetBucketAcl.
pub async fn get_bucket(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let Some(acl) = app.storage.bucket_acl(bucket_name).await? else {
        return Err(bucket::no_such_bucket(bucket_name));
    };
    Ok(xml_response(StatusCode::OK, policy(acl)))
}

/// PutObjectAcl, of the version named or the current object.
pub async fn put_object(
    app: &App,
    parts: &Parts,
    body: Incoming,
    header: &AclHeader,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let acl = requested(parts, body, header).await?;
    match app
        .storage
        .set_object_acl(bucket_name, key, version, acl)
        .await?
    {
        SetAclOutcome::Set { version_id } => {
            let mut r = empty(StatusCode::OK);
            if version.is_some() || version_id != crate::index::NULL_VERSION {
                versioning::set_version_id(r.headers_mut(), &version_id);
            }
            Ok(r)
        }
        SetAclOutcome::Absent => {
            bucket::require(app, bucket_name).await?;
            Err(match version {
                Some(_) => ApiError::NoSuchVersion,
                None => ApiError::NoSuchKey("The specified key does not exist.".into()),
            })
        }
        SetAclOutcome::Marker => Err(ApiError::MethodNotAllowed(
            "The specified method is not allowed against this resource: the version is a delete \
             marker."
                .into(),
        )),
    }
}

/// GetObjectAcl, of the version named or the current object.
pub async fn get_object(
    app: &App,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (obj, _, shown) = versioning::read_target(app, bucket_name, key, version).await?;
    let mut r = xml_response(StatusCode::OK, policy(obj.meta.acl));
    if shown {
        versioning::set_version_id(r.headers_mut(), &obj.version_id);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn a_canned_acl_is_read_and_grants_are_refused() {
        let read = |h: &HeaderMap| AclHeader::read(h).canned();
        let mut h = HeaderMap::new();
        assert_eq!(read(&h).unwrap(), None);
        h.insert("x-amz-acl", HeaderValue::from_static("public-read"));
        assert_eq!(read(&h).unwrap(), Some(CannedAcl::PublicRead));
        h.insert("x-amz-acl", HeaderValue::from_static("public"));
        assert!(matches!(read(&h), Err(ApiError::InvalidArgument(_))));
        h.remove("x-amz-acl");
        h.insert("x-amz-grant-read", HeaderValue::from_static("id=x"));
        assert!(matches!(read(&h), Err(ApiError::NotImplemented(_))));
    }

    #[test]
    fn a_policy_names_the_groups_granted() {
        let p = policy(Some(CannedAcl::PublicReadWrite));
        assert_eq!(p.matches("<Permission>").count(), 3);
        assert!(p.contains(ALL_USERS) && p.contains("<Permission>WRITE</Permission>"));
        let p = policy(None);
        assert_eq!(p.matches("<Grant>").count(), 1);
        assert!(p.contains("xsi:type=\"CanonicalUser\""));
    }
}
