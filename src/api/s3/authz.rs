//! Whether a principal may perform a parsed S3 request, decided from that
//! parsed value alone ([`authorize`]): which bucket, which access the
//! operation needs there, the bucket a copy reads, what an anonymous reader
//! of a public bucket may do, and what stays the upload API's own.
//!
//! Must never read the raw path, query or copy-source text to decide
//! anything: that is `router.rs`'s one parse.

use super::router::{Access, Endpoint, Presented, S3Request};
use crate::api::error::ApiError;
use crate::api::sigauth::Principal;
use crate::app::App;
use crate::index::Version;
use crate::storage::acl::{self, Outsider};

/// Whether `who` may perform `req`, read from the parsed request alone:
/// which bucket, which access the operation needs there, and the bucket a
/// copy reads from. The configured key may do everything; another key what
/// its buckets and grants allow; an anonymous client only reads of a
/// bucket in `[s3] public_read`, as S3 allows under a public-read ACL.
pub async fn authorize(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    upload_api_only(app, who, req, endpoint)?;
    let key_id = match who {
        Principal::Anonymous => return authorize_anonymous(app, req, endpoint).await,
        Principal::Key(id) if app.is_main_key(id) => return Ok(()),
        Principal::Key(id) => id.as_str(),
    };
    if let Some(need) = endpoint.access() {
        if let Err(refused) = check(app, key_id, &req.bucket, need).await {
            // Its keys and grants gave it nothing: a canned ACL may still.
            if !by_acl(app, Outsider::OtherKey, req, endpoint).await? {
                return Err(refused);
            }
        }
    }
    if let Some(source) = endpoint.copy_source() {
        check(app, key_id, &source.bucket, Access::Read).await?;
    }
    Ok(())
}

/// What belongs to the upload API stays its own: its parameters
/// (`X-Stowage-*`, which declare a file) are honoured only in a URL this
/// gateway signed, and its part-wise uploads (`file-…`) take only the parts
/// its part URLs carry — no key, the configured one included, declares a
/// file or touches those uploads through S3 by other means.
fn upload_api_only(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    let gateways = matches!(who, Principal::Key(k) if app.is_main_key(k))
        && req.presented == Presented::V4Query;
    let declares = req.query.names().any(|n| n.starts_with("X-Stowage-"));
    if declares && !gateways {
        return Err(ApiError::AccessDenied(
            "X-Stowage-* parameters belong to the upload API's own URLs, signed by this \
             gateway; ask POST /api/inspect/v1/file/upload/presigned for one. Nothing was \
             stored."
                .into(),
        ));
    }
    let api_upload = endpoint
        .upload_id()
        .is_some_and(|id| id.starts_with(crate::storage::file_parts::FILE_UPLOAD_PREFIX));
    let part_url = gateways
        && matches!(endpoint, Endpoint::UploadPart { .. })
        && req.query.has(crate::api::presigned::SIZE_PARAM);
    if api_upload && !part_url {
        return Err(ApiError::NoSuchUpload);
    }
    Ok(())
}

/// Refuses unless key `who` has `need` on `bucket`. A bucket that does not
/// exist is S3's NoSuchBucket here, not later: the handler must never act
/// on a bucket created after this check by someone else.
async fn check(app: &App, who: &str, bucket: &str, need: Access) -> Result<(), ApiError> {
    let a = app.storage.bucket_access(who, bucket).await?;
    if !a.exists {
        return Err(super::bucket::no_such_bucket(bucket));
    }
    let (what, ok) = match need {
        Access::Owner => ("owner", a.owner),
        Access::Read => ("read", a.read),
        Access::Write => ("write", a.write),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::AccessDenied(format!(
            "Access Denied: key {who} has no {what} permission on bucket {bucket}; the \
             operator grants it with `stowage key allow`"
        )))
    }
}

/// Whether a canned ACL lets `who` (no key, or a key with no grant on the
/// bucket) do what `endpoint` does: list a bucket (its ACL grants read),
/// read an object or version (its own ACL grants read), or write objects
/// into a bucket (`public-read-write`).
async fn by_acl(
    app: &App,
    who: Outsider,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<bool, ApiError> {
    use Endpoint::*;
    let bucket_acl =
        || async { Ok::<_, ApiError>(app.storage.bucket_acl(&req.bucket).await?.flatten()) };
    Ok(match endpoint {
        // READ on a bucket: its listings, as S3's ACLs grant them.
        ListObjectsV1 | ListObjectsV2 | ListObjectVersions | ListMultipartUploads | HeadBucket => {
            acl::lets_read(bucket_acl().await?, who)
        }
        GetObject { version, .. } | HeadObject { version } => {
            match app
                .storage
                .find(&req.bucket, &req.key, version.as_deref())
                .await?
            {
                Some(Version::Object(o)) => acl::lets_read(o.meta.acl, who),
                _ => false,
            }
        }
        PutObject
        | DeleteObject { version: None }
        | CreateMultipartUpload
        | UploadPart { .. }
        | CompleteMultipartUpload { .. }
        | AbortMultipartUpload { .. } => acl::lets_write(bucket_acl().await?),
        _ => false,
    })
}

async fn authorize_anonymous(
    app: &App,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    // `[s3] public_read`: a public-read bucket whose objects all read as
    // public-read too, set in the configuration.
    let public =
        app.config.s3.public_read.contains(&req.bucket) && endpoint.open_to_anonymous_readers();
    if !public && !by_acl(app, Outsider::Anonymous, req, endpoint).await? {
        return Err(anonymous_refused());
    }
    if let Endpoint::GetObject {
        overrides: true, ..
    } = endpoint
    {
        // S3's answer: an anonymous reader cannot make an object answer
        // with another type or disposition (e.g. as an HTML page of this
        // origin).
        return Err(ApiError::InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests.".into(),
        ));
    }
    Ok(())
}

pub(super) fn anonymous_refused() -> ApiError {
    ApiError::AccessDenied(
        "Anonymous access is not allowed: sign the request (AWS SigV4) with this gateway's \
         access key, or use a presigned URL"
            .into(),
    )
}
