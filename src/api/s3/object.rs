//! Writing objects: PutObject and DeleteObject, and what every write of
//! an object shares (user metadata, `If-Match`/`If-None-Match`, declared
//! digests, the refusals of a file's key) with CopyObject, multipart
//! completion and POST forms. Reading is `read.rs`.

use base64::Engine;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::versioning;
use crate::api::body::empty;
use crate::api::body::Body;
use crate::api::error::ApiError;
use crate::api::ingest::{receive, BodySpec};
use crate::api::sigauth::Authenticated;
use crate::app::App;
use crate::index::{BlobInfo, CannedAcl, ObjectMeta, ObjectRecord};
use crate::sigv4::PayloadMode;
use crate::storage::objects::{
    ConditionFailure, DeleteObjectOutcome, PutObjectOutcome, WriteCondition,
};

/// S3's largest single PUT.
const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// S3's limit on user metadata: key and value bytes of every
/// `x-amz-meta-*` header together.
pub const MAX_USER_METADATA: usize = 2048;

/// The metadata S3 keeps from a write's headers; refuses user metadata over
/// [`MAX_USER_METADATA`] bytes, as S3 does.
pub(super) fn meta_from(
    h: &HeaderMap,
    now: i64,
    acl: Option<CannedAcl>,
) -> Result<ObjectMeta, ApiError> {
    let (retention, legal_hold) = super::object_lock::from_headers(h, now)?;
    let mut user: Vec<(String, String)> = h
        .iter()
        .filter_map(|(n, v)| {
            let name = n.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                name.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ))
        })
        .collect();
    user.sort();
    let total: usize = user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_USER_METADATA {
        return Err(ApiError::MetadataTooLarge(format!(
            "Your metadata headers exceed the maximum allowed metadata size: the x-amz-meta-* \
             names and values total {total} bytes, at most {MAX_USER_METADATA} are allowed; \
             nothing was stored."
        )));
    }
    let get = |n: header::HeaderName| header_str(h, n.as_str()).map(str::to_string);
    Ok(ObjectMeta {
        user,
        tags: super::tagging::from_header(h)?.unwrap_or_default(),
        content_disposition: get(header::CONTENT_DISPOSITION),
        cache_control: get(header::CACHE_CONTROL),
        // `aws-chunked` describes this request's framing, not the object.
        content_encoding: get(header::CONTENT_ENCODING)
            .map(|e| {
                e.split(',')
                    .map(str::trim)
                    .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|e| !e.is_empty()),
        content_language: get(header::CONTENT_LANGUAGE),
        expires: get(header::EXPIRES),
        retention,
        legal_hold,
        acl: acl.filter(|a| *a != CannedAcl::Private),
        ..ObjectMeta::default()
    })
}

/// The condition a write's headers put on it: `If-None-Match: *` (only if
/// the key is free) or `If-Match: "<etag>"` (only if the key holds that
/// object), as S3 supports on PutObject and CompleteMultipartUpload.
pub(super) fn write_condition(h: &HeaderMap) -> Result<WriteCondition, ApiError> {
    match (header_str(h, "if-none-match"), header_str(h, "if-match")) {
        (None, None) => Ok(WriteCondition::Always),
        // AWS answers both at once as unimplemented, whatever their values
        // (observed; its documentation is silent).
        (Some(_), Some(_)) => Err(ApiError::NotImplemented(
            "A header you provided implies functionality that is not implemented: send \
             If-None-Match or If-Match on a write, not both."
                .into(),
        )),
        (Some(v), None) if v.trim() == "*" => Ok(WriteCondition::IfAbsent),
        (Some(_), None) => Err(ApiError::NotImplemented(
            "A header you provided implies functionality that is not implemented: on a write, \
             If-None-Match supports only '*' (write only if the key does not exist)."
                .into(),
        )),
        (None, Some(v)) => Ok(WriteCondition::IfEtag(
            v.trim().trim_matches('"').to_ascii_lowercase(),
        )),
    }
}

/// The answer to a write whose condition did not hold.
pub(super) fn condition_failed(f: ConditionFailure) -> ApiError {
    match f {
        ConditionFailure::Precondition => ApiError::PreconditionFailed,
        ConditionFailure::NoObject => ApiError::NoSuchKey(
            "The specified key does not exist (If-Match needs an object).".into(),
        ),
    }
}

/// The answer to a write whose condition held before its body was read
/// but not when it came to commit: another writer finished first (412), or
/// the object it was to replace was deleted meanwhile — S3's 409
/// ConditionalRequestConflict, after which the client retries.
pub(super) fn condition_failed_at_commit(f: ConditionFailure) -> ApiError {
    match f {
        ConditionFailure::Precondition => ApiError::PreconditionFailed,
        ConditionFailure::NoObject => ApiError::ConditionalRequestConflict,
    }
}

/// Checks a write's condition before its body is read, so a refused write
/// costs the client no upload; the write checks it again when it commits,
/// where racing writers are decided.
pub(super) async fn precheck_condition(
    app: &App,
    cond: &WriteCondition,
    bucket_name: &str,
    key: &str,
) -> Result<(), ApiError> {
    app.storage
        .precheck_condition(bucket_name, key, cond)
        .await?
        .map_err(condition_failed)
}

pub async fn put_object(
    app: &App,
    auth: &Authenticated,
    parts: Parts,
    body: Incoming,
    bucket_name: &str,
    key: &str,
    acl: Option<CannedAcl>,
) -> Result<Response<Body>, ApiError> {
    let spec = BodySpec::from_request(auth, &parts)?;
    let length = spec.length;
    if length > MAX_PUT {
        return Err(ApiError::EntityTooLarge(format!(
            "Your proposed upload of {length} bytes exceeds the maximum allowed object size \
             of {MAX_PUT} bytes for a single PUT; use multipart upload"
        )));
    }
    bucket::require(app, bucket_name).await?;
    declared_md5(&parts.headers)?;
    // Checked before the body is read: a refusal costs the client no upload.
    let meta = meta_from(&parts.headers, app.now_unix(), acl)?;
    super::object_lock::precheck(app, bucket_name, &meta).await?;
    let cond = write_condition(&parts.headers)?;
    precheck_condition(app, &cond, bucket_name, key).await?;
    precheck_written_once(app, bucket_name, key).await?;
    let received = receive(app, body, spec).await?;
    verify_digests(auth, &parts, &received.blob)?;
    let checksums = received.checksums.clone();
    let checksums_out = checksums.clone();

    let digest = received.sha256();
    let blob = received.blob;
    let record = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket_name.to_string(),
        key: key.to_string(),
        sha256: digest,
        size: length,
        etag: blob.md5.map(hex::encode).unwrap_or_default(),
        content_type: header_str(&parts.headers, "content-type")
            .unwrap_or("binary/octet-stream")
            .to_string(),
        meta: ObjectMeta { checksums, ..meta },
        last_modified: app.now_unix(),
    };
    let etag = record.etag.clone();
    let (version_id, expiry) = store_object(app, received.payload, record, blob, cond).await?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Some(v) = version_id {
        versioning::set_version_id(r.headers_mut(), &v);
    }
    super::lifecycle::expiration_header(r.headers_mut(), expiry);
    echo_checksums(r.headers_mut(), &checksums_out);
    Ok(r)
}

/// Stores a received body as `record`, if `cond` holds at commit (the
/// storage service publishes it, records it, and releases what is no
/// longer referred to). The one commit of a whole object, for PutObject
/// and form uploads. The version id it was stored as, where S3 names one,
/// and when its bucket's lifecycle expires it.
pub(super) async fn store_object(
    app: &App,
    payload: crate::api::ingest::Payload,
    record: ObjectRecord,
    blob: BlobInfo,
    cond: WriteCondition,
) -> Result<(Option<String>, Option<(i64, String)>), ApiError> {
    let bucket_name = record.bucket.clone();
    let key = record.key.clone();
    match app.storage.put_object(payload, record, blob, cond).await? {
        PutObjectOutcome::Stored {
            version_id, expiry, ..
        } => Ok((version_id, expiry)),
        // Another writer (or a delete) got there first.
        PutObjectOutcome::ConditionFailed(f) => Err(condition_failed_at_commit(f)),
        // Deleted while the body arrived.
        PutObjectOutcome::NoSuchBucket => Err(bucket::no_such_bucket(&bucket_name)),
        PutObjectOutcome::WrittenOnce => Err(written_once(&bucket_name, &key)),
        PutObjectOutcome::NoObjectLock => Err(super::object_lock::not_enabled()),
    }
}

/// The refusal of an S3 write onto the key of a file of the upload API,
/// which is written once (`storage::objects::file_key`): S3's 409 for a
/// write that conflicts with the key's state.
pub(super) fn written_once(bucket_name: &str, key: &str) -> ApiError {
    ApiError::Conflict(format!(
        "'{key}' in bucket '{bucket_name}' is a file of the upload API, which is written \
         once and never replaced through S3; nothing was stored. Write these bytes under \
         another key"
    ))
}

/// Refuses a write onto the key of a file of the upload API before its
/// body is read (the transaction that would commit it decides again, for a
/// file completed meanwhile).
pub(super) async fn precheck_written_once(
    app: &App,
    bucket_name: &str,
    key: &str,
) -> Result<(), ApiError> {
    if app.storage.is_file_key(bucket_name, key).await? {
        return Err(written_once(bucket_name, key));
    }
    Ok(())
}

/// Returns the checksums a write declared and the bytes matched, as S3
/// does in the response to PutObject and UploadPart.
pub(super) fn echo_checksums(h: &mut HeaderMap, checksums: &[(String, String)]) {
    for (alg, value) in checksums {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(
                format!("x-amz-checksum-{}", alg.to_ascii_lowercase()).as_bytes(),
            ),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
}

/// The Content-MD5 a write declared, if any.
fn declared_md5(h: &HeaderMap) -> Result<Option<[u8; 16]>, ApiError> {
    let Some(v) = header_str(h, "content-md5") else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::InvalidDigest(
                "The Content-MD5 you specified was invalid: it must be the base64 of 16 bytes"
                    .into(),
            )
        })
}

/// Compares every digest the request declared with what was received;
/// called before anything is committed.
pub(super) fn verify_digests(
    auth: &Authenticated,
    parts: &Parts,
    blob: &BlobInfo,
) -> Result<(), ApiError> {
    if let PayloadMode::Sha256(declared) = auth.payload {
        if declared != blob.sha256.0 {
            return Err(ApiError::XAmzContentSha256Mismatch);
        }
    }
    if let Some(declared) = declared_md5(&parts.headers)? {
        if Some(declared) != blob.md5 {
            return Err(ApiError::BadDigest(
                "The Content-MD5 you specified did not match what we received; nothing was \
                 stored"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// DeleteObject: the key (a delete marker in a versioned bucket), or the
/// version named, for good.
pub async fn delete_object(
    app: &App,
    gate: &super::authz::Gate,
    parts: &Parts,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let bypass = super::object_lock::bypass(gate, &parts.headers, key);
    let mut r = empty(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    let marker = |h: &mut HeaderMap| {
        h.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    };
    match app
        .storage
        .delete_object_bypassing(bucket_name, key, version, bypass)
        .await?
    {
        // Deleting a missing key succeeds, as in S3; a missing bucket does not.
        DeleteObjectOutcome::Deleted(_) | DeleteObjectOutcome::Absent => {}
        DeleteObjectOutcome::Marked(id) => {
            marker(h);
            versioning::set_version_id(h, &id);
        }
        DeleteObjectOutcome::RemovedVersion(v) => {
            if v.is_marker() {
                marker(h);
            }
            versioning::set_version_id(h, v.version_id());
        }
        DeleteObjectOutcome::NoSuchBucket => return Err(bucket::no_such_bucket(bucket_name)),
        DeleteObjectOutcome::Locked(hold) => return Err(super::object_lock::locked(hold)),
    }
    Ok(r)
}
