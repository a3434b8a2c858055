//! The one error type of the HTTP layer, rendered two ways: as the JSON API
//! error `{"error", "errorDescription"}` and as S3's XML `<Error>`.
//!
//! Every variant knows its HTTP status and its code on each surface, in one
//! table ([`ApiError::meta`]). The description is written for the client:
//! what was wrong and how to fix it. It must never carry a secret, a token,
//! a signature, a filesystem path or SQL; internal failures render as a
//! generic message with the request id, and their detail goes only to the
//! server log.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::api::body::{full, Body};
use crate::index::IndexError;
use crate::sigv4::{AuthError, ChunkError};
use crate::storage::StorageError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // ---- shared by both surfaces ----
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request's header section is larger than the gateway reads.
    #[error("{0}")]
    HeaderSectionTooLarge(String),

    // ---- S3 surface (presigned PUT/GET) ----
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("You must provide the Content-Length HTTP header; send the file with a known length (curl --upload-file does).")]
    MissingContentLength,
    #[error("{0}")]
    EntityTooLarge(String),
    #[error("{0}")]
    IncompleteBody(String),
    /// A body whose unauthenticated part arrived too slowly.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    BadDigest(String),
    /// A signature mismatch with a hint at its likely cause.
    #[error("{0}")]
    SignatureDoesNotMatch(String),
    #[error("{0}")]
    NoSuchBucket(String),
    #[error("{0}")]
    NoSuchKey(String),
    /// A read of a key whose current version is a delete marker: S3's
    /// 404 NoSuchKey, carrying the marker's version id.
    #[error("The specified key does not exist: its current version is a delete marker. Read an earlier version by its versionId (ListObjectVersions lists them), or delete the marker to restore the one below it.")]
    KeyIsDeleteMarker { version_id: String },
    /// A GET or HEAD naming a delete marker's version: S3's 405.
    #[error("The specified method is not allowed against this resource: the version named is a delete marker, which has no content. Name another version, or DELETE this one to remove the marker.")]
    VersionIsDeleteMarker {
        version_id: String,
        last_modified: i64,
    },
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    #[error("{0}")]
    IllegalVersioningConfiguration(String),
    /// The request does not fit the bucket's state (S3's 409).
    #[error("{0}")]
    InvalidBucketState(String),
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound,
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    #[error("The TagSet does not exist")]
    NoSuchTagSet,
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy,
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration,
    /// A policy document AWS would refuse, with its message.
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    NoSuchObjectLockConfiguration(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The requested bucket name is not available. The bucket namespace is shared by all users of this gateway; select a different name and try again.")]
    BucketAlreadyExists,
    #[error("The bucket you tried to delete is not empty; delete its objects first (its unfinished multipart uploads are aborted with it, except a file the JSON API is still receiving in parts).")]
    BucketNotEmpty,
    #[error("{0}")]
    InvalidRange(String),
    /// GetObject or HeadObject of a part the object does not have.
    #[error("{0}")]
    InvalidPartNumber(String),
    /// A tag key or value S3 does not take.
    #[error("{0}")]
    InvalidTag(String),
    /// More tags than an object may carry (S3's code is `BadRequest`).
    #[error("{0}")]
    TooManyTags(String),
    #[error("At least one of the preconditions you specified did not hold.")]
    PreconditionFailed,
    #[error("A conflicting operation occurred: the object this conditional write was to replace was deleted while it was being uploaded. Retry the request (for multipart uploads, start a new upload).")]
    ConditionalRequestConflict,
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed; nothing was stored.")]
    XAmzContentSha256Mismatch,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidDigest(String),
    #[error("Your key is too long: at most 1024 bytes of UTF-8.")]
    KeyTooLong,
    #[error("The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload,
    #[error("{0}")]
    InvalidPart(String),
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("{0}")]
    EntityTooSmall(String),
    #[error("{0}")]
    MalformedXml(String),
    #[error("{0}")]
    MetadataTooLarge(String),
    #[error("{0}")]
    MalformedPost(String),
    #[error("{0}")]
    InvalidPolicyDocument(String),
    /// A CORS preflight no rule allows.
    #[error("{0}")]
    CorsForbidden(String),
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration,
    /// A client asked more often than its limit allows; it may try again
    /// after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// Storing this would leave less free space than the operator's
    /// reserve, or the disk filled while it was written.
    #[error("{0}")]
    InsufficientStorage(String),
    /// The index is unreachable for now (its server is down): nothing was
    /// changed; the client retries later.
    #[error("{0}")]
    ServiceUnavailable(String),

    // ---- the server's fault ----
    #[error("internal error")]
    Internal(#[source] Internal),
}

/// Causes of a 500, kept for the log only.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// `x-amz-delete-marker: true` and the marker's `x-amz-version-id`, as S3
/// sends them with an answer about a delete marker.
fn marker_headers(resp: &mut Response<Body>, version_id: &str) {
    let h = resp.headers_mut();
    h.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(version_id) {
        h.insert("x-amz-version-id", v);
    }
}

/// What a client is told when the server's disk filled under its request.
const DISK_FULL: &str = "The gateway's disk is full; nothing of this request was stored. \
     Retry later, once the operator has freed space.";

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::DiskFull => {
                tracing::warn!("index write refused: disk full");
                ApiError::InsufficientStorage(DISK_FULL.into())
            }
            IndexError::Unavailable(why) => {
                tracing::warn!(error = %why, "the index is unavailable");
                ApiError::ServiceUnavailable(
                    "The gateway cannot reach its index right now; nothing of this request was \
                     stored or changed. Retry in a moment."
                        .into(),
                )
            }
            IndexError::NotStorable(what) => ApiError::InvalidArgument(format!(
                "The {what} contains the NUL character (U+0000), which this gateway's index \
                 (PostgreSQL) cannot store; nothing was stored or changed. Use a value without it."
            )),
            e => ApiError::Internal(e.into()),
        }
    }
}

impl From<crate::md5_lane::LaneStopped> for ApiError {
    fn from(e: crate::md5_lane::LaneStopped) -> Self {
        ApiError::Internal(Internal::Other(e.to_string()))
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Index(e) => e.into(),
            StorageError::Store(e) => e.into(),
            StorageError::NoSpace { bytes } => ApiError::InsufficientStorage(if bytes > 0 {
                format!(
                    "the gateway is short of disk space and cannot take {bytes} more bytes now; \
                     nothing was stored. Retry later, or send a smaller file."
                )
            } else {
                "the gateway's disk filled up while this body arrived; nothing was stored. \
                 Retry later."
                    .into()
            }),
            StorageError::Damaged(why) => ApiError::Internal(Internal::Other(why)),
            StorageError::Hashing(e) => e.into(),
            StorageError::LocalStoreShared => {
                ApiError::Internal(Internal::Other(StorageError::LocalStoreShared.to_string()))
            }
            StorageError::PartGone(n) => ApiError::InvalidPart(format!(
                "part {n} changed while the upload was being completed; list the parts and retry"
            )),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let upstream = matches!(e, StoreError::Upstream { .. });
        if e.is_disk_full() {
            tracing::warn!(error = %e, "blob write refused: disk full");
            return ApiError::InsufficientStorage(if upstream {
                "The storage cluster behind this gateway is full; nothing of this request was \
                 stored. Retry later, once the operator has added space."
                    .into()
            } else {
                DISK_FULL.into()
            });
        }
        if e.is_unreachable() {
            tracing::warn!(error = %e, "the storage cluster is unreachable");
            return ApiError::ServiceUnavailable(
                "The gateway cannot reach its storage cluster right now; nothing of this \
                 request was stored or changed. Retry in a moment."
                    .into(),
            );
        }
        ApiError::Internal(e.into())
    }
}

/// Status, S3 code and JSON code of one error: the table both renderings
/// read from.
pub struct Meta {
    pub status: StatusCode,
    pub s3_code: &'static str,
    pub json_code: &'static str,
}

const fn meta(status: StatusCode, s3_code: &'static str, json_code: &'static str) -> Meta {
    Meta {
        status,
        s3_code,
        json_code,
    }
}

impl ApiError {
    /// Whether this refusal is a failed authentication — a missing,
    /// malformed or unknown token, an unknown access key, a signature that
    /// does not match — the refusals that guessing credentials produces. A
    /// request that proved its credentials and was refused for something
    /// else (no permission, an expired URL, a skewed clock, a bad body) is
    /// not one.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized(_)
                | ApiError::SignatureDoesNotMatch(_)
                | ApiError::Auth(
                    AuthError::InvalidAccessKeyId
                        | AuthError::SignatureDoesNotMatch
                        | AuthError::RegionMismatch { .. }
                        | AuthError::ServiceMismatch { .. }
                )
        )
    }

    pub fn meta(&self) -> Meta {
        use StatusCode as S;
        match self {
            ApiError::BadRequest(_) => meta(S::BAD_REQUEST, "InvalidArgument", "BadRequest"),
            ApiError::Unauthorized(_) => meta(S::UNAUTHORIZED, "AccessDenied", "Unauthorized"),
            ApiError::Forbidden(_) => meta(S::FORBIDDEN, "AccessDenied", "Forbidden"),
            ApiError::NotFound(_) => meta(S::NOT_FOUND, "NoSuchKey", "NotFound"),
            ApiError::MethodNotAllowed(_) => meta(
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "MethodNotAllowed",
            ),
            ApiError::Conflict(_) => meta(S::CONFLICT, "OperationAborted", "Conflict"),
            ApiError::PayloadTooLarge(_) => {
                meta(S::PAYLOAD_TOO_LARGE, "EntityTooLarge", "PayloadTooLarge")
            }
            ApiError::HeaderSectionTooLarge(_) => meta(
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "RequestHeaderSectionTooLarge",
                "HeaderSectionTooLarge",
            ),
            ApiError::Auth(e) => Meta {
                status: StatusCode::from_u16(e.http_status()).unwrap_or(S::FORBIDDEN),
                s3_code: e.s3_code(),
                json_code: if e.http_status() == 400 {
                    "BadRequest"
                } else {
                    "Forbidden"
                },
            },
            ApiError::Chunk(e) => Meta {
                status: StatusCode::from_u16(e.http_status()).unwrap_or(S::BAD_REQUEST),
                s3_code: e.s3_code(),
                json_code: "BadRequest",
            },
            ApiError::MissingContentLength => {
                meta(S::LENGTH_REQUIRED, "MissingContentLength", "BadRequest")
            }
            ApiError::EntityTooLarge(_) => meta(S::BAD_REQUEST, "EntityTooLarge", "BadRequest"),
            ApiError::IncompleteBody(_) => meta(S::BAD_REQUEST, "IncompleteBody", "BadRequest"),
            ApiError::RequestTimeout(_) => meta(S::BAD_REQUEST, "RequestTimeout", "BadRequest"),
            ApiError::BadDigest(_) => meta(S::BAD_REQUEST, "BadDigest", "BadRequest"),
            ApiError::SignatureDoesNotMatch(_) => {
                meta(S::FORBIDDEN, "SignatureDoesNotMatch", "Forbidden")
            }
            ApiError::NoSuchBucket(_) => meta(S::NOT_FOUND, "NoSuchBucket", "NotFound"),
            ApiError::NoSuchKey(_) => meta(S::NOT_FOUND, "NoSuchKey", "NotFound"),
            ApiError::KeyIsDeleteMarker { .. } => meta(S::NOT_FOUND, "NoSuchKey", "NotFound"),
            ApiError::VersionIsDeleteMarker { .. } => meta(
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "MethodNotAllowed",
            ),
            ApiError::NoSuchVersion => meta(S::NOT_FOUND, "NoSuchVersion", "NotFound"),
            ApiError::InvalidBucketState(_) => meta(S::CONFLICT, "InvalidBucketState", "Conflict"),
            ApiError::ObjectLockConfigurationNotFound => meta(
                S::NOT_FOUND,
                "ObjectLockConfigurationNotFoundError",
                "NotFound",
            ),
            ApiError::NoSuchTagSet => meta(S::NOT_FOUND, "NoSuchTagSet", "NotFound"),
            ApiError::NoSuchBucketPolicy => meta(S::NOT_FOUND, "NoSuchBucketPolicy", "NotFound"),
            ApiError::NoSuchPublicAccessBlockConfiguration => meta(
                S::NOT_FOUND,
                "NoSuchPublicAccessBlockConfiguration",
                "NotFound",
            ),
            ApiError::MalformedPolicy(_) => meta(S::BAD_REQUEST, "MalformedPolicy", "BadRequest"),
            ApiError::NoSuchLifecycleConfiguration => {
                meta(S::NOT_FOUND, "NoSuchLifecycleConfiguration", "NotFound")
            }
            ApiError::NoSuchObjectLockConfiguration(_) => {
                meta(S::NOT_FOUND, "NoSuchObjectLockConfiguration", "NotFound")
            }
            ApiError::IllegalVersioningConfiguration(_) => meta(
                S::BAD_REQUEST,
                "IllegalVersioningConfigurationException",
                "BadRequest",
            ),
            ApiError::InvalidRequest(_) => meta(S::BAD_REQUEST, "InvalidRequest", "BadRequest"),
            ApiError::AccessDenied(_) => meta(S::FORBIDDEN, "AccessDenied", "Forbidden"),
            ApiError::NotImplemented(_) => {
                meta(S::NOT_IMPLEMENTED, "NotImplemented", "NotImplemented")
            }
            ApiError::InvalidBucketName(_) => {
                meta(S::BAD_REQUEST, "InvalidBucketName", "BadRequest")
            }
            ApiError::BucketAlreadyOwnedByYou => {
                meta(S::CONFLICT, "BucketAlreadyOwnedByYou", "Conflict")
            }
            ApiError::BucketAlreadyExists => meta(S::CONFLICT, "BucketAlreadyExists", "Conflict"),
            ApiError::BucketNotEmpty => meta(S::CONFLICT, "BucketNotEmpty", "Conflict"),
            ApiError::InvalidRange(_) => {
                meta(S::RANGE_NOT_SATISFIABLE, "InvalidRange", "BadRequest")
            }
            ApiError::InvalidPartNumber(_) => {
                meta(S::RANGE_NOT_SATISFIABLE, "InvalidPartNumber", "BadRequest")
            }
            ApiError::InvalidTag(_) => meta(S::BAD_REQUEST, "InvalidTag", "BadRequest"),
            ApiError::TooManyTags(_) => meta(S::BAD_REQUEST, "BadRequest", "BadRequest"),
            ApiError::PreconditionFailed => {
                meta(S::PRECONDITION_FAILED, "PreconditionFailed", "Conflict")
            }
            ApiError::ConditionalRequestConflict => {
                meta(S::CONFLICT, "ConditionalRequestConflict", "Conflict")
            }
            ApiError::XAmzContentSha256Mismatch => {
                meta(S::BAD_REQUEST, "XAmzContentSHA256Mismatch", "BadRequest")
            }
            ApiError::InvalidArgument(_) => meta(S::BAD_REQUEST, "InvalidArgument", "BadRequest"),
            ApiError::InvalidDigest(_) => meta(S::BAD_REQUEST, "InvalidDigest", "BadRequest"),
            ApiError::KeyTooLong => meta(S::BAD_REQUEST, "KeyTooLongError", "BadRequest"),
            ApiError::NoSuchUpload => meta(S::NOT_FOUND, "NoSuchUpload", "NotFound"),
            ApiError::InvalidPart(_) => meta(S::BAD_REQUEST, "InvalidPart", "BadRequest"),
            ApiError::InvalidPartOrder => meta(S::BAD_REQUEST, "InvalidPartOrder", "BadRequest"),
            ApiError::EntityTooSmall(_) => meta(S::BAD_REQUEST, "EntityTooSmall", "BadRequest"),
            ApiError::MalformedXml(_) => meta(S::BAD_REQUEST, "MalformedXML", "BadRequest"),
            ApiError::MetadataTooLarge(_) => meta(S::BAD_REQUEST, "MetadataTooLarge", "BadRequest"),
            ApiError::MalformedPost(_) => {
                meta(S::BAD_REQUEST, "MalformedPOSTRequest", "BadRequest")
            }
            ApiError::InvalidPolicyDocument(_) => {
                meta(S::BAD_REQUEST, "InvalidPolicyDocument", "BadRequest")
            }
            ApiError::CorsForbidden(_) => meta(S::FORBIDDEN, "AccessForbidden", "Forbidden"),
            ApiError::NoSuchCorsConfiguration => {
                meta(S::NOT_FOUND, "NoSuchCORSConfiguration", "NotFound")
            }
            ApiError::TooManyRequests { .. } => {
                meta(S::TOO_MANY_REQUESTS, "SlowDown", "TooManyRequests")
            }
            ApiError::InsufficientStorage(_) => meta(
                S::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                "InsufficientStorage",
            ),
            ApiError::ServiceUnavailable(_) => meta(
                S::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "ServiceUnavailable",
            ),
            ApiError::Internal(_) => {
                meta(S::INTERNAL_SERVER_ERROR, "InternalError", "InternalError")
            }
        }
    }

    /// The client-facing description; internal detail is replaced.
    fn description(&self, request_id: &str) -> String {
        match self {
            ApiError::Internal(_) => format!(
                "The server failed while handling this request; nothing was stored by it. \
                 Retry later; if it persists, give the operator request id {request_id}."
            ),
            other => other.to_string(),
        }
    }

    /// Headers every rendering carries (Retry-After of a throttled request).
    fn add_headers(&self, resp: &mut Response<Body>) {
        match self {
            ApiError::TooManyRequests { retry_after, .. } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::ServiceUnavailable(_) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::KeyIsDeleteMarker { version_id } => {
                marker_headers(resp, version_id);
            }
            ApiError::VersionIsDeleteMarker {
                version_id,
                last_modified,
            } => {
                marker_headers(resp, version_id);
                if let Some(v) = crate::headers::http_date(*last_modified) {
                    resp.headers_mut().insert(header::LAST_MODIFIED, v);
                }
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
            }
            _ => {}
        }
    }

    fn log(&self, request_id: &str) {
        if let ApiError::Internal(cause) = self {
            tracing::error!(request_id, error = %cause, "internal error");
        }
    }

    /// `{"error": code, "errorDescription": text}` for the JSON API.
    pub fn into_json(self, request_id: &str) -> Response<Body> {
        self.log(request_id);
        let m = self.meta();
        let body = serde_json::json!({
            "error": m.json_code,
            "errorDescription": self.description(request_id),
        });
        let mut resp = Response::new(full(body.to_string()));
        *resp.status_mut() = m.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if m.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        self.add_headers(&mut resp);
        resp
    }

    /// `<Error><Code/><Message/><Resource/><RequestId/></Error>` for the S3
    /// surface. `resource` is the request path (never the query string,
    /// which holds the signature).
    pub fn into_xml(self, request_id: &str, resource: &str) -> Response<Body> {
        self.log(request_id);
        let m = self.meta();
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            m.s3_code,
            xml_escape(&self.description(request_id)),
            xml_escape(resource),
            xml_escape(request_id),
        );
        let mut resp = Response::new(full(Bytes::from(xml)));
        *resp.status_mut() = m.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        self.add_headers(&mut resp);
        resp
    }
}

/// Escapes the five XML special characters, and writes every C0 control
/// character (U+0000 to U+001F: tab, LF and CR included) as a character
/// reference, as S3 does.
///
/// A raw CR would reach the client as LF (XML end-of-line handling), so a
/// key holding one would be listed as a key that does not exist; TAB, LF
/// and CR written as references read back exactly. The others are not XML
/// 1.0 characters at all: a strict parser refuses the reference as it would
/// the raw byte, and such keys need `encoding-type=url`, as with S3.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c < ' ' => out.push_str(&format!("&#x{:X};", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: Response<Body>) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn internal_detail_never_reaches_the_client() {
        let e = ApiError::Internal(Internal::Other(
            "open /srv/data/blobs/ab: SELECT secret".into(),
        ));
        let body = text(e.into_json("REQ1")).await;
        assert!(body.contains("\"error\":\"InternalError\""), "{body}");
        assert!(body.contains("REQ1"));
        assert!(!body.contains("/srv") && !body.contains("SELECT"), "{body}");
    }

    #[tokio::test]
    async fn xml_errors_are_escaped_and_carry_the_code() {
        let e = ApiError::BadDigest("a <b> & c".into());
        let r = e.into_xml("R2", "/uploads/x");
        assert_eq!(r.status(), 400);
        let body = text(r).await;
        assert!(body.contains("<Code>BadDigest</Code>"), "{body}");
        assert!(body.contains("a &lt;b&gt; &amp; c"), "{body}");
        assert!(body.contains("<RequestId>R2</RequestId>"));
    }

    /// Found by tests/it/hostile.rs: a key with CR was listed raw, and an
    /// XML parser reads it back as LF (another key).
    #[test]
    fn control_characters_are_character_references() {
        assert_eq!(xml_escape("a\rb\nc\td"), "a&#xD;b&#xA;c&#x9;d");
        assert_eq!(
            xml_escape("\0\u{1b}\u{1f} \u{7f}"),
            "&#x0;&#x1B;&#x1F; \u{7f}"
        );
    }
}
