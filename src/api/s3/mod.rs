//! The S3 surface: every request that is not the JSON API or `/healthz`.
//!
//! Owns dispatch. The request arrives parsed once (`router.rs`: bucket,
//! key, query and the operation, an [`router::Endpoint`]); it is
//! authenticated and authorized on that value (`auth.rs`), and the same
//! value goes to the file for its family: `bucket.rs`, `list.rs`,
//! `object.rs`, `copy.rs`, `multipart.rs`, `cors.rs`, `post_object.rs`,
//! `versioning.rs`, `list_versions.rs`, `tagging.rs`, `object_lock.rs`,
//! `lifecycle.rs`, `acl.rs`, `policy.rs`, `public_access.rs`. A
//! PUT whose signed URL carries the upload API's declaration
//! (`X-Stowage-Sha256`) goes to `api/presigned.rs`, which checks it against
//! that declaration.

mod acl;
mod authz;
mod bucket;
pub mod conditions;
pub(crate) mod copy;
pub mod cors;
mod form_deadline;
mod lifecycle;
mod list;
mod list_versions;
pub(crate) mod multipart;
mod object;
mod object_lock;
mod part_checksums;
mod policy;
mod post_object;
mod public_access;
mod read;
pub mod router;
mod tagging;
mod token;
mod versioning;
mod xml;

use http::request::Parts;
use http::Response;
use hyper::body::Incoming;

use crate::api::body::Body;
use crate::api::error::ApiError;
use crate::api::sigauth::{self, Principal};
use crate::app::App;
use router::Endpoint;

pub use read::http_date;
pub use router::S3Request;

/// Serves a parsed S3 request: authenticates it, authorizes what it
/// parsed to, and hands that same value to the handler.
pub async fn route(
    app: &App,
    req: S3Request,
    parts: Parts,
    body: Incoming,
) -> Result<Response<Body>, ApiError> {
    let endpoint = req.endpoint(&parts);
    if let Ok(Endpoint::PostObject) = endpoint {
        // Authenticated (and authorized) by the form it carries.
        return post_object::post_object(app, &req, &parts, body).await;
    }
    let auth = sigauth::authenticate(app, &parts, &req).await?;
    let endpoint = match (endpoint, &auth.principal) {
        (Ok(e), _) => e,
        // An anonymous client learns nothing from how its request parsed.
        (Err(_), Principal::Anonymous) => return Err(authz::anonymous_refused()),
        (Err(e), _) => return Err(e),
    };
    let gate = authz::authorize(app, &auth.principal, &req, &endpoint, &parts).await?;
    let (bucket, key, q) = (req.bucket.as_str(), req.key.as_str(), &req.query);
    let who = match &auth.principal {
        Principal::Key(k) => k.as_str(),
        Principal::Anonymous => "",
    };
    use Endpoint::*;
    match endpoint {
        ListBuckets => bucket::list_buckets(app, who, q).await,
        CreateBucket => {
            let acl = req.acl.canned()?;
            bucket::create_bucket(app, &parts, bucket, who, acl).await
        }
        HeadBucket => bucket::head_bucket(app, bucket).await,
        DeleteBucket => bucket::delete_bucket(app, bucket).await,
        GetBucketLocation => bucket::get_location(app, bucket).await,
        PutBucketVersioning => versioning::put(app, &parts, body, bucket).await,
        GetBucketVersioning => versioning::get(app, bucket).await,
        PutObjectLockConfiguration => object_lock::put_config(app, &parts, body, bucket).await,
        GetObjectLockConfiguration => object_lock::get_config(app, bucket).await,
        PutBucketLifecycleConfiguration => lifecycle::put(app, &parts, body, bucket).await,
        GetBucketLifecycleConfiguration => lifecycle::get(app, bucket).await,
        DeleteBucketLifecycle => lifecycle::delete(app, bucket).await,
        PutBucketAcl => acl::put_bucket(app, &parts, body, &req.acl, bucket).await,
        GetBucketAcl => acl::get_bucket(app, bucket).await,
        PutObjectAcl { version } => {
            acl::put_object(app, &parts, body, &req.acl, bucket, key, version.as_deref()).await
        }
        GetObjectAcl { version } => acl::get_object(app, bucket, key, version.as_deref()).await,
        PutBucketPolicy => policy::put(app, &parts, body, bucket).await,
        GetBucketPolicy => policy::get(app, bucket).await,
        DeleteBucketPolicy => policy::delete(app, bucket).await,
        GetBucketPolicyStatus => policy::status(app, bucket).await,
        PutPublicAccessBlock => public_access::put(app, &parts, body, bucket).await,
        GetPublicAccessBlock => public_access::get(app, bucket).await,
        DeletePublicAccessBlock => public_access::delete(app, bucket).await,
        PutBucketTagging => tagging::put_bucket(app, &parts, body, bucket).await,
        GetBucketTagging => tagging::get_bucket(app, bucket).await,
        DeleteBucketTagging => tagging::delete_bucket(app, bucket).await,
        PutObjectRetention { version } => {
            let v = version.as_deref();
            object_lock::put_retention(app, &gate, &parts, body, bucket, key, v).await
        }
        GetObjectRetention { version } => {
            object_lock::get_retention(app, bucket, key, version.as_deref()).await
        }
        PutObjectLegalHold { version } => {
            let v = version.as_deref();
            object_lock::put_legal_hold(app, &parts, body, bucket, key, v).await
        }
        GetObjectLegalHold { version } => {
            object_lock::get_legal_hold(app, bucket, key, version.as_deref()).await
        }
        PutBucketCors => cors::put(app, &parts, body, bucket).await,
        GetBucketCors => cors::get(app, bucket).await,
        DeleteBucketCors => cors::delete(app, bucket).await,
        ListObjectsV1 => list::list_v1(app, bucket, q).await,
        ListObjectsV2 => list::list_v2(app, bucket, q).await,
        ListObjectVersions => list_versions::list_versions(app, bucket, q).await,
        ListMultipartUploads => multipart::list_uploads(app, q, bucket).await,
        DeleteObjects => copy::delete_objects(app, &gate, &parts, body, bucket).await,
        GetObject { version, .. } | HeadObject { version } => {
            read::get_object(app, &parts, q, bucket, key, version.as_deref()).await
        }
        GetObjectAttributes { version } => {
            read::get_attributes(app, &parts, bucket, key, version.as_deref()).await
        }
        PutObjectTagging { version } => {
            tagging::put(app, &parts, body, bucket, key, version.as_deref()).await
        }
        GetObjectTagging { version } => tagging::get(app, bucket, key, version.as_deref()).await,
        DeleteObjectTagging { version } => {
            tagging::delete(app, bucket, key, version.as_deref()).await
        }
        PutObject if is_upload_api_put(&auth) => {
            super::presigned::put(app, &auth, parts, body, bucket, key).await
        }
        PutObject => {
            let acl = req.acl.canned()?;
            object::put_object(app, &auth, parts, body, bucket, key, acl).await
        }
        CopyObject { source } => {
            let acl = req.acl.canned()?;
            copy::copy_object(app, &parts, &source, bucket, key, acl).await
        }
        DeleteObject { version } => {
            object::delete_object(app, &gate, &parts, bucket, key, version.as_deref()).await
        }
        CreateMultipartUpload => {
            let acl = req.acl.canned()?;
            multipart::create(app, &parts, bucket, key, acl).await
        }
        UploadPart {
            upload_id,
            part_number,
        } => {
            let target = multipart::PartTarget::new(&upload_id, part_number, bucket, key);
            multipart::upload_part(app, &auth, parts, body, target).await
        }
        UploadPartCopy {
            upload_id,
            part_number,
            source,
        } => {
            let target = multipart::PartTarget::new(&upload_id, part_number, bucket, key);
            multipart::upload_part_copy(app, &parts, &source, target).await
        }
        CompleteMultipartUpload { upload_id } => {
            multipart::complete(app, &parts, body, &upload_id, bucket, key).await
        }
        AbortMultipartUpload { upload_id } => multipart::abort(app, &upload_id, bucket, key).await,
        ListParts { upload_id } => multipart::list_parts(app, q, &upload_id, bucket, key).await,
        // Answered by the caller before authentication.
        PostObject | Preflight => Err(ApiError::NotImplemented(
            "this request is not an S3 operation this gateway implements".into(),
        )),
    }
}

/// Whether a PUT is the upload API's: a presigned URL carrying the
/// declaration the presign API signed into it.
/// (Authorization let such a URL through only when this gateway signed it.)
fn is_upload_api_put(auth: &sigauth::Authenticated) -> bool {
    auth.presigned
        .as_ref()
        .is_some_and(|p| p.param(super::presigned::SHA256_PARAM).is_some())
}
