//! Parses an S3 request **once** into an [`S3Request`]: the bucket and the
//! key (each percent-decoded once), the query (decoded once, a repeated
//! parameter refused), how the request presents credentials, and the
//! operation ([`Endpoint`]) with its typed parameters — the upload id, the
//! part number, the copy source with its version.
//!
//! Authentication (`auth.rs`) picks the scheme from this value,
//! authorization reads only it (which bucket, which access, which copy
//! source), and every handler is given the same value: no later step reads
//! the raw path, the raw query or `x-amz-copy-source` again, so no two steps
//! can decode the same text differently. (Signature verification alone reads
//! the raw text, because the signature is over the bytes as sent.)
//!
//! Must never: look at the index, decide who may do what, or accept a
//! malformed escape leniently (a second reading would then differ).

use http::request::Parts;
use http::{header, HeaderMap, Method};

use super::conditions::Conditions;
use crate::api::error::ApiError;
use crate::api::query::{shorten, Query};
use crate::index::CannedAcl;
use crate::sigv4::encode::percent_decode;
use crate::storage::versions::is_version_id;

/// S3's longest key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 1024;

/// How a request presents its credentials, read from the parsed query and
/// the `Authorization` header (which wins when both are present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// Nothing: an anonymous request.
    Nothing,
    /// SigV4 in the query (`X-Amz-*`; a URL of the upload API carries
    /// `X-Stowage-*` too).
    V4Query,
    /// SigV2 in the query (`AWSAccessKeyId`, `Signature`).
    V2Query,
    /// `Authorization: AWS4-HMAC-SHA256 …`.
    V4Header,
    /// `Authorization: AWS …`.
    V2Header,
    /// An `Authorization` header of another scheme.
    Unsupported,
}

impl Presented {
    /// Whether the request presents S3 credentials of a scheme we check
    /// (a bearer token is the JSON API's and `/metrics`', not S3's).
    pub fn is_s3(self) -> bool {
        !matches!(self, Presented::Nothing | Presented::Unsupported)
    }

    fn read(headers: &HeaderMap, query: &Query) -> Self {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let v = v.as_bytes();
            return if v.starts_with(b"AWS4-HMAC-SHA256") {
                Presented::V4Header
            } else if v.starts_with(b"AWS ") {
                Presented::V2Header
            } else {
                Presented::Unsupported
            };
        }
        if query
            .names()
            .any(|n| n.starts_with("X-Amz-") || n.starts_with("X-Stowage-"))
        {
            Presented::V4Query
        } else if query
            .names()
            .any(|n| n == "AWSAccessKeyId" || n == "Signature")
        {
            Presented::V2Query
        } else {
            Presented::Nothing
        }
    }
}

/// The object `x-amz-copy-source` names, decoded once, and the
/// `x-amz-copy-source-if-*` conditions put on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    /// `?versionId=` of the source: that version, not the current object.
    pub version_id: Option<String>,
    pub conditions: Conditions,
}

/// Every S3 operation this gateway serves, with what it needs beyond the
/// bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    PutBucketVersioning,
    GetBucketVersioning,
    PutObjectLockConfiguration,
    GetObjectLockConfiguration,
    PutBucketLifecycleConfiguration,
    GetBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    PutBucketAcl,
    GetBucketAcl,
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    PutPublicAccessBlock,
    GetPublicAccessBlock,
    DeletePublicAccessBlock,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    ListObjectsV1,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    /// A browser form upload; its credentials are in the form.
    PostObject,
    /// A CORS preflight, answered before authentication.
    Preflight,
    /// GET; `overrides` when `response-*` parameters ask for other
    /// response headers. `version`, here and below: the `versionId` named
    /// (checked to be one this gateway gives out), else the current
    /// object.
    GetObject {
        overrides: bool,
        version: Option<String>,
    },
    HeadObject {
        version: Option<String>,
    },
    GetObjectAttributes {
        version: Option<String>,
    },
    PutObjectTagging {
        version: Option<String>,
    },
    GetObjectTagging {
        version: Option<String>,
    },
    DeleteObjectTagging {
        version: Option<String>,
    },
    PutObjectRetention {
        version: Option<String>,
    },
    GetObjectRetention {
        version: Option<String>,
    },
    PutObjectLegalHold {
        version: Option<String>,
    },
    GetObjectLegalHold {
        version: Option<String>,
    },
    PutObjectAcl {
        version: Option<String>,
    },
    GetObjectAcl {
        version: Option<String>,
    },
    /// PUT of a body (the upload API's presigned PUT among them).
    PutObject,
    CopyObject {
        source: CopySource,
    },
    DeleteObject {
        version: Option<String>,
    },
    CreateMultipartUpload,
    UploadPart {
        upload_id: String,
        part_number: u32,
    },
    UploadPartCopy {
        upload_id: String,
        part_number: u32,
        source: CopySource,
    },
    CompleteMultipartUpload {
        upload_id: String,
    },
    AbortMultipartUpload {
        upload_id: String,
    },
    ListParts {
        upload_id: String,
    },
}

/// What a key needs on a bucket to perform an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// The bucket's settings and its deletion.
    Owner,
}

impl Endpoint {
    /// The access the operation needs on the request's bucket; `None` for
    /// the operations open to every key (ListBuckets shows a key only its
    /// own; CreateBucket makes the bucket the key's) and the preflight.
    pub fn access(&self) -> Option<Access> {
        use Endpoint::*;
        match self {
            ListBuckets | CreateBucket | Preflight => None,
            DeleteBucket
            | PutBucketCors
            | GetBucketCors
            | DeleteBucketCors
            | PutBucketVersioning
            | GetBucketVersioning
            | PutObjectLockConfiguration
            | GetObjectLockConfiguration
            | PutBucketLifecycleConfiguration
            | GetBucketLifecycleConfiguration
            | DeleteBucketLifecycle
            | PutBucketTagging
            | GetBucketTagging
            | DeleteBucketTagging
            | PutBucketAcl
            | GetBucketAcl
            | PutBucketPolicy
            | GetBucketPolicy
            | DeleteBucketPolicy
            | GetBucketPolicyStatus
            | PutPublicAccessBlock
            | GetPublicAccessBlock
            | DeletePublicAccessBlock => Some(Access::Owner),
            HeadBucket
            | GetBucketLocation
            | ListObjectsV1
            | ListObjectsV2
            | ListObjectVersions
            | ListMultipartUploads
            | GetObject { .. }
            | HeadObject { .. }
            | GetObjectAttributes { .. }
            | GetObjectTagging { .. }
            | GetObjectRetention { .. }
            | GetObjectLegalHold { .. }
            | GetObjectAcl { .. }
            | ListParts { .. } => Some(Access::Read),
            DeleteObjects
            | PostObject
            | PutObject
            | CopyObject { .. }
            | DeleteObject { .. }
            | PutObjectTagging { .. }
            | DeleteObjectTagging { .. }
            | PutObjectRetention { .. }
            | PutObjectLegalHold { .. }
            | PutObjectAcl { .. }
            | CreateMultipartUpload
            | UploadPart { .. }
            | UploadPartCopy { .. }
            | CompleteMultipartUpload { .. }
            | AbortMultipartUpload { .. } => Some(Access::Write),
        }
    }

    /// The multipart upload the operation names, if any.
    pub fn upload_id(&self) -> Option<&str> {
        match self {
            Endpoint::UploadPart { upload_id, .. }
            | Endpoint::UploadPartCopy { upload_id, .. }
            | Endpoint::CompleteMultipartUpload { upload_id }
            | Endpoint::AbortMultipartUpload { upload_id }
            | Endpoint::ListParts { upload_id } => Some(upload_id),
            _ => None,
        }
    }

    /// The object a copy reads, which the key must be able to read too.
    pub fn copy_source(&self) -> Option<&CopySource> {
        match self {
            Endpoint::CopyObject { source } | Endpoint::UploadPartCopy { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }

    /// What an anonymous reader of a public-read bucket may do: read its
    /// objects and list them, as S3 allows under a public-read ACL — never
    /// uploads in progress, settings, or attributes.
    pub fn open_to_anonymous_readers(&self) -> bool {
        matches!(
            self,
            Endpoint::GetObject { version: None, .. }
                | Endpoint::HeadObject { version: None }
                | Endpoint::HeadBucket
                | Endpoint::ListObjectsV1
                | Endpoint::ListObjectsV2
        )
    }
}

/// What a request's `x-amz-acl` and `x-amz-grant-*` headers say, read
/// once: authorization (Block Public Access, a policy's `s3:x-amz-acl`)
/// and the handler that stores the ACL read this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclHeader {
    None,
    Canned(CannedAcl),
    /// A grant to accounts (this header), which is not kept here.
    Grants(String),
    /// `x-amz-acl` names no canned ACL.
    Invalid,
}

impl AclHeader {
    /// Reads the headers (a form's fields, as headers, too).
    pub fn read(h: &HeaderMap) -> Self {
        if let Some(name) = h.keys().find(|n| n.as_str().starts_with("x-amz-grant-")) {
            return AclHeader::Grants(name.as_str().to_string());
        }
        match h.get("x-amz-acl") {
            None => AclHeader::None,
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| CannedAcl::parse(v.trim()))
                .map_or(AclHeader::Invalid, AclHeader::Canned),
        }
    }

    /// The canned ACL asked for, if any, or the refusal of a request that
    /// asks for something else.
    pub fn canned(&self) -> Result<Option<CannedAcl>, ApiError> {
        match self {
            AclHeader::None => Ok(None),
            AclHeader::Canned(a) => Ok(Some(*a)),
            AclHeader::Grants(name) => Err(ApiError::NotImplemented(format!(
                "{name}: grants to accounts are not implemented by this gateway; use a canned \
                 ACL (x-amz-acl) or a key's grants (stowage key allow). Nothing was changed."
            ))),
            AclHeader::Invalid => Err(ApiError::InvalidArgument(
                "x-amz-acl is one of private, public-read, public-read-write, \
                 authenticated-read, aws-exec-read, bucket-owner-read, \
                 bucket-owner-full-control"
                    .into(),
            )),
        }
    }
}

/// One S3 request, parsed.
#[derive(Debug)]
pub struct S3Request {
    /// The first path segment, decoded; empty for the service (`/`).
    pub bucket: String,
    /// The rest of the path, decoded; empty for a bucket request.
    pub key: String,
    pub query: Query,
    pub presented: Presented,
    /// `x-amz-acl` / `x-amz-grant-*`.
    pub acl: AclHeader,
}

impl S3Request {
    /// Parses method, path, query and the headers that choose the
    /// operation. Fails only on a path or query that cannot be decoded.
    pub fn parse(parts: &Parts) -> Result<Self, ApiError> {
        let path = parts.uri.path();
        let rest = path.strip_prefix('/').unwrap_or(path);
        // Split on the first raw `/`: an escaped `%2F` belongs to the name
        // it is in (a bucket name cannot hold one; a key can).
        let (raw_bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
        let not_utf8 = |what: &str| {
            ApiError::InvalidArgument(format!(
                "the {what} in the path is not valid percent-encoded UTF-8"
            ))
        };
        let bucket = percent_decode(raw_bucket).map_err(|_| not_utf8("bucket name"))?;
        let key = percent_decode(raw_key).map_err(|_| not_utf8("object key"))?;
        let query = Query::parse(parts.uri.query().unwrap_or(""))?;
        let presented = Presented::read(&parts.headers, &query);
        Ok(S3Request {
            bucket,
            key,
            query,
            presented,
            acl: AclHeader::read(&parts.headers),
        })
    }

    /// The operation: from the method, the parsed path and query, and the
    /// headers that choose one (`x-amz-copy-source`, a form's
    /// Content-Type). An error says why the request names none this
    /// gateway serves.
    pub fn endpoint(&self, parts: &Parts) -> Result<Endpoint, ApiError> {
        resolve(
            &parts.method,
            &parts.headers,
            &self.bucket,
            &self.key,
            &self.query,
        )
    }
}

/// Subresources this gateway implements.
const IMPLEMENTED_SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "tagging",
    "cors",
    "delete",
    "legal-hold",
    "lifecycle",
    "location",
    "object-lock",
    "partNumber",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "retention",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

/// Every subresource of S3's API reference (SigV2's signed list among
/// them, a test checks). One this
/// gateway does not implement is refused before any handler runs: routed
/// as a plain object or bucket request, `PUT ?legal-hold` would overwrite
/// the object with the XML body, `DELETE ?encryption` delete the bucket.
const S3_SUBRESOURCES: &[&str] = &[
    "abac",
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "defaultObjectAcl",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metadataConfiguration",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "partNumber",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "select-type",
    "session",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Whether a query parameter may accompany a write (PUT, POST, DELETE):
/// authentication (SigV4 and the upload API's `X-Stowage-*`, SigV2 and the
/// headers SigV2 presigning moves into the query), the implemented
/// subresources, and `x-id`, which AWS SDKs add to name the operation.
/// Any other name on a write is refused: a future or unknown subresource
/// must never fall through to an overwrite or a delete.
fn known_on_writes(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with("X-Amz-")
        || name.starts_with("X-Stowage-")
        || lower.starts_with("x-amz-")
        || matches!(
            name,
            "AWSAccessKeyId"
                | "Signature"
                | "Expires"
                | "x-id"
                | "uploadId"
                | "partNumber"
                | "versionId"
        )
        || matches!(
            name,
            "uploads"
                | "delete"
                | "cors"
                | "tagging"
                | "versioning"
                | "object-lock"
                | "retention"
                | "legal-hold"
                | "lifecycle"
                | "acl"
                | "policy"
                | "publicAccessBlock"
        )
        || matches!(lower.as_str(), "content-type" | "content-md5")
}

fn resolve(
    method: &Method,
    headers: &HeaderMap,
    bucket: &str,
    key: &str,
    q: &Query,
) -> Result<Endpoint, ApiError> {
    use Endpoint::*;
    if *method == Method::OPTIONS {
        return Ok(Preflight);
    }
    if let Some(sub) = q
        .names()
        .find(|k| S3_SUBRESOURCES.contains(k) && !IMPLEMENTED_SUBRESOURCES.contains(k))
    {
        return Err(ApiError::NotImplemented(format!(
            "the ?{sub} subresource is not implemented by this gateway; nothing was changed"
        )));
    }
    let write = matches!(*method, Method::PUT | Method::POST | Method::DELETE);
    if let Some(name) = q.names().find(|n| write && !known_on_writes(n)) {
        return Err(ApiError::NotImplemented(format!(
            "the query parameter '{}' is not one this gateway understands on a {method}; \
             nothing was changed",
            shorten(name)
        )));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::KeyTooLong);
    }
    if bucket.is_empty() {
        return match *method {
            Method::GET => Ok(ListBuckets),
            _ => Err(not_supported(method, "the service")),
        };
    }
    let version = version_id(q)?;
    if key.is_empty() {
        if version.is_some() {
            return Err(no_version_here("a bucket request"));
        }
        // A bucket's `tagging` must never fall through to CreateBucket or
        // DeleteBucket.
        if q.has("tagging") {
            return match *method {
                Method::PUT => Ok(PutBucketTagging),
                Method::GET => Ok(GetBucketTagging),
                Method::DELETE => Ok(DeleteBucketTagging),
                _ => Err(not_supported(method, "a bucket's tags")),
            };
        }
        return Ok(match *method {
            // A browser's form upload carries its authentication in the form.
            Method::POST if is_form(headers) => PostObject,
            Method::PUT if q.has("cors") => PutBucketCors,
            Method::GET if q.has("cors") => GetBucketCors,
            Method::DELETE if q.has("cors") => DeleteBucketCors,
            Method::PUT if q.has("versioning") => PutBucketVersioning,
            Method::GET if q.has("versioning") => GetBucketVersioning,
            Method::PUT if q.has("object-lock") => PutObjectLockConfiguration,
            Method::GET if q.has("object-lock") => GetObjectLockConfiguration,
            Method::PUT if q.has("acl") => PutBucketAcl,
            Method::GET if q.has("acl") => GetBucketAcl,
            Method::DELETE if q.has("acl") => return Err(not_supported(method, "a bucket's ACL")),
            Method::PUT if q.has("policy") => PutBucketPolicy,
            Method::GET if q.has("policy") => GetBucketPolicy,
            Method::DELETE if q.has("policy") => DeleteBucketPolicy,
            Method::GET if q.has("policyStatus") => GetBucketPolicyStatus,
            Method::PUT if q.has("publicAccessBlock") => PutPublicAccessBlock,
            Method::GET if q.has("publicAccessBlock") => GetPublicAccessBlock,
            Method::DELETE if q.has("publicAccessBlock") => DeletePublicAccessBlock,
            _ if q.has("policy") || q.has("policyStatus") || q.has("publicAccessBlock") => {
                return Err(not_supported(
                    method,
                    "a bucket's policy or PublicAccessBlock",
                ))
            }
            Method::PUT if q.has("lifecycle") => PutBucketLifecycleConfiguration,
            Method::GET if q.has("lifecycle") => GetBucketLifecycleConfiguration,
            Method::DELETE if q.has("lifecycle") => DeleteBucketLifecycle,
            Method::PUT => CreateBucket,
            Method::HEAD => HeadBucket,
            Method::DELETE if q.has("versioning") || q.has("object-lock") => {
                return Err(not_supported(
                    method,
                    "a bucket's versioning or Object Lock",
                ))
            }
            Method::DELETE => DeleteBucket,
            Method::GET if q.has("location") => GetBucketLocation,
            Method::GET if q.has("uploads") => ListMultipartUploads,
            Method::GET if q.get("list-type") == Some("2") => ListObjectsV2,
            Method::GET if q.has("versions") => ListObjectVersions,
            Method::GET => ListObjectsV1,
            Method::POST if q.has("delete") => DeleteObjects,
            _ => return Err(not_supported(method, "a bucket")),
        });
    }
    if [
        "versioning",
        "object-lock",
        "lifecycle",
        "policy",
        "policyStatus",
        "publicAccessBlock",
    ]
    .iter()
    .any(|s| q.has(s))
    {
        return Err(not_supported(
            method,
            "an object's versioning, Object Lock, lifecycle, policy or PublicAccessBlock",
        ));
    }
    let source = copy_source(headers)?;
    // Only reads, deletes and tags name a version; a write makes one.
    let names_version = matches!(*method, Method::GET | Method::HEAD | Method::DELETE)
        && !q.has("uploadId")
        && !q.has("uploads")
        || q.has("tagging")
        || q.has("retention")
        || q.has("legal-hold")
        || q.has("acl");
    if version.is_some() && !names_version {
        return Err(no_version_here("this request"));
    }
    if let Some(upload_id) = q.get("uploadId") {
        let upload_id = upload_id.to_string();
        return Ok(match (method.clone(), source) {
            (Method::PUT, Some(source)) => UploadPartCopy {
                part_number: part_number(q)?,
                upload_id,
                source,
            },
            (Method::PUT, None) => UploadPart {
                part_number: part_number(q)?,
                upload_id,
            },
            (Method::POST, _) => CompleteMultipartUpload { upload_id },
            (Method::DELETE, _) => AbortMultipartUpload { upload_id },
            (Method::GET, _) => ListParts { upload_id },
            _ => return Err(not_supported(method, "a multipart upload")),
        });
    }
    if q.has("acl") {
        return match *method {
            Method::PUT => Ok(PutObjectAcl { version }),
            Method::GET => Ok(GetObjectAcl { version }),
            _ => Err(not_supported(method, "an object's ACL")),
        };
    }
    if q.has("retention") {
        return match *method {
            Method::PUT => Ok(PutObjectRetention { version }),
            Method::GET => Ok(GetObjectRetention { version }),
            _ => Err(not_supported(method, "an object's retention")),
        };
    }
    if q.has("legal-hold") {
        return match *method {
            Method::PUT => Ok(PutObjectLegalHold { version }),
            Method::GET => Ok(GetObjectLegalHold { version }),
            _ => Err(not_supported(method, "an object's legal hold")),
        };
    }
    if q.has("tagging") {
        return match *method {
            Method::PUT => Ok(PutObjectTagging { version }),
            Method::GET => Ok(GetObjectTagging { version }),
            Method::DELETE => Ok(DeleteObjectTagging { version }),
            _ => Err(not_supported(method, "an object's tags")),
        };
    }
    Ok(match (method.clone(), source) {
        (Method::POST, _) if q.has("uploads") => CreateMultipartUpload,
        (Method::PUT, Some(source)) => CopyObject { source },
        (Method::PUT, None) => PutObject,
        (Method::GET, _) if q.has("attributes") => GetObjectAttributes { version },
        (Method::GET, _) => GetObject {
            overrides: q.names().any(|n| n.starts_with("response-")),
            version,
        },
        (Method::HEAD, _) => HeadObject { version },
        (Method::DELETE, _) => DeleteObject { version },
        _ => return Err(not_supported(method, "an object")),
    })
}

/// `?versionId=`: a version id this gateway could have given out (see
/// [`is_version_id`]), or none. Any other text names no version: S3
/// answers 400 for it, where a well-formed id with no version is 404.
fn version_id(q: &Query) -> Result<Option<String>, ApiError> {
    match q.get("versionId") {
        None => Ok(None),
        Some("") => Err(ApiError::InvalidArgument(
            "Version id cannot be the empty string".into(),
        )),
        Some(v) if is_version_id(v) => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::InvalidArgument(
            "Invalid version id specified".into(),
        )),
    }
}

fn no_version_here(what: &str) -> ApiError {
    ApiError::InvalidArgument(format!(
        "versionId is not a parameter of {what}: only reads, deletes and tag operations on an \
         object name a version; nothing was changed"
    ))
}

/// Whether a POST body is a form (multipart/form-data).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// `?partNumber=`, 1 to 10,000.
fn part_number(q: &Query) -> Result<u32, ApiError> {
    q.get("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            ApiError::InvalidArgument("Part number must be an integer between 1 and 10000".into())
        })
}

/// The object `x-amz-copy-source` names: `bucket/key` or `/bucket/key`,
/// URL-encoded, optionally `?versionId=`. Split at the first `?` as sent
/// (an encoded `%3F` is part of the key), then decoded once, then split at
/// the first `/` (so `a%2Fb` names key `b` in bucket `a`, as in S3).
fn copy_source(h: &HeaderMap) -> Result<Option<CopySource>, ApiError> {
    let mut values = h.get_all("x-amz-copy-source").iter();
    let Some(raw) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidArgument(
            "x-amz-copy-source is given more than once; name one source".into(),
        ));
    }
    let invalid =
        || ApiError::InvalidArgument("x-amz-copy-source is not valid URL-encoded UTF-8".into());
    let raw = raw.to_str().map_err(|_| invalid())?;
    let (path, version) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    let version_id = match version {
        Some(q) => {
            let q = Query::parse(q)?;
            if let Some(other) = q.names().find(|n| *n != "versionId") {
                return Err(ApiError::InvalidArgument(format!(
                    "x-amz-copy-source may name a versionId and nothing else, not '{}'",
                    shorten(other)
                )));
            }
            version_id(&q)?
        }
        None => None,
    };
    let decoded = percent_decode(path).map_err(|_| invalid())?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    match trimmed.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => {
            if k.len() > MAX_KEY_LEN {
                return Err(ApiError::KeyTooLong);
            }
            Ok(Some(CopySource {
                bucket: b.to_string(),
                key: k.to_string(),
                version_id,
                conditions: Conditions::of_copy_source(h),
            }))
        }
        _ => Err(ApiError::InvalidArgument(
            "x-amz-copy-source must be /bucket/key (URL-encoded)".into(),
        )),
    }
}

fn not_supported(method: &Method, what: &str) -> ApiError {
    ApiError::NotImplemented(format!(
        "{method} on {what} is not an operation this gateway implements"
    ))
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
