//! The IAM action each S3 operation is, as bucket policies name it
//! (`s3:GetObject`, `s3:ListBucket`…): AWS's table of operations to
//! actions, for the operations this gateway serves.

use crate::api::s3::router::Endpoint;

/// The action `endpoint` is; `None` for what no bucket policy governs
/// (the service's own operations and the CORS preflight).
pub fn action(endpoint: &Endpoint) -> Option<&'static str> {
    use Endpoint::*;
    // The version-named forms are actions of their own in IAM.
    let v = |version: &Option<String>, plain: &'static str, versioned: &'static str| {
        Some(if version.is_some() { versioned } else { plain })
    };
    match endpoint {
        ListBuckets | CreateBucket | Preflight => None,
        HeadBucket | ListObjectsV1 | ListObjectsV2 => Some("s3:ListBucket"),
        DeleteBucket => Some("s3:DeleteBucket"),
        GetBucketLocation => Some("s3:GetBucketLocation"),
        PutBucketVersioning => Some("s3:PutBucketVersioning"),
        GetBucketVersioning => Some("s3:GetBucketVersioning"),
        PutObjectLockConfiguration => Some("s3:PutBucketObjectLockConfiguration"),
        GetObjectLockConfiguration => Some("s3:GetBucketObjectLockConfiguration"),
        PutBucketLifecycleConfiguration | DeleteBucketLifecycle => {
            Some("s3:PutLifecycleConfiguration")
        }
        GetBucketLifecycleConfiguration => Some("s3:GetLifecycleConfiguration"),
        PutBucketTagging | DeleteBucketTagging => Some("s3:PutBucketTagging"),
        GetBucketTagging => Some("s3:GetBucketTagging"),
        PutBucketAcl => Some("s3:PutBucketAcl"),
        GetBucketAcl => Some("s3:GetBucketAcl"),
        PutBucketPolicy => Some("s3:PutBucketPolicy"),
        GetBucketPolicy => Some("s3:GetBucketPolicy"),
        DeleteBucketPolicy => Some("s3:DeleteBucketPolicy"),
        GetBucketPolicyStatus => Some("s3:GetBucketPolicyStatus"),
        PutPublicAccessBlock | DeletePublicAccessBlock => Some("s3:PutBucketPublicAccessBlock"),
        GetPublicAccessBlock => Some("s3:GetBucketPublicAccessBlock"),
        PutBucketCors | DeleteBucketCors => Some("s3:PutBucketCORS"),
        GetBucketCors => Some("s3:GetBucketCORS"),
        ListObjectVersions => Some("s3:ListBucketVersions"),
        ListMultipartUploads => Some("s3:ListBucketMultipartUploads"),
        // Asked of each object in the list (`authz::Gate::may_delete`).
        DeleteObjects => Some("s3:DeleteObject"),
        GetObject { version, .. } | HeadObject { version } => {
            v(version, "s3:GetObject", "s3:GetObjectVersion")
        }
        GetObjectAttributes { version } => v(
            version,
            "s3:GetObjectAttributes",
            "s3:GetObjectVersionAttributes",
        ),
        PutObjectTagging { version } => {
            v(version, "s3:PutObjectTagging", "s3:PutObjectVersionTagging")
        }
        GetObjectTagging { version } => {
            v(version, "s3:GetObjectTagging", "s3:GetObjectVersionTagging")
        }
        DeleteObjectTagging { version } => v(
            version,
            "s3:DeleteObjectTagging",
            "s3:DeleteObjectVersionTagging",
        ),
        PutObjectRetention { .. } => Some("s3:PutObjectRetention"),
        GetObjectRetention { .. } => Some("s3:GetObjectRetention"),
        PutObjectLegalHold { .. } => Some("s3:PutObjectLegalHold"),
        GetObjectLegalHold { .. } => Some("s3:GetObjectLegalHold"),
        PutObjectAcl { version } => v(version, "s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        GetObjectAcl { version } => v(version, "s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        PostObject
        | PutObject
        | CopyObject { .. }
        | CreateMultipartUpload
        | UploadPart { .. }
        | UploadPartCopy { .. }
        | CompleteMultipartUpload { .. } => Some("s3:PutObject"),
        DeleteObject { version } => v(version, "s3:DeleteObject", "s3:DeleteObjectVersion"),
        AbortMultipartUpload { .. } => Some("s3:AbortMultipartUpload"),
        ListParts { .. } => Some("s3:ListMultipartUploadParts"),
    }
}
