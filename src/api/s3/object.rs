//! Object operations: PutObject, GetObject (Range, conditional headers,
//! `response-*` overrides), HeadObject, DeleteObject.

use base64::Engine;
use futures_util::TryStreamExt;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use time::OffsetDateTime;

use super::auth::Authenticated;
use super::ingest::{receive, BodySpec};
use super::{bucket, empty, Query};
use crate::api::{full, ApiError, Body};
use crate::app::App;
use crate::index::{BlobInfo, ObjectMeta, ObjectRecord};
use crate::sigv4::PayloadMode;
use crate::storage::objects::{
    ConditionFailure, DeleteObjectOutcome, PutObjectOutcome, WriteCondition,
};

/// S3's largest single PUT.
const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// S3's limit on user metadata: key and value bytes of every
/// `x-amz-meta-*` header together.
pub const MAX_USER_METADATA: usize = 2048;

/// The metadata S3 keeps from a write's headers; refuses user metadata over
/// [`MAX_USER_METADATA`] bytes, as S3 does.
pub(super) fn meta_from(h: &HeaderMap) -> Result<ObjectMeta, ApiError> {
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
        ..ObjectMeta::default()
    })
}

/// The condition a write's headers put on it: `If-None-Match: *` (only if
/// the key is free) or `If-Match: "<etag>"` (only if the key holds that
/// object), as S3 supports on PutObject and CompleteMultipartUpload.
pub(super) fn write_condition(h: &HeaderMap) -> Result<WriteCondition, ApiError> {
    match (header_str(h, "if-none-match"), header_str(h, "if-match")) {
        (None, None) => Ok(WriteCondition::Always),
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "send If-None-Match or If-Match on a write, not both".into(),
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
    let meta = meta_from(&parts.headers)?;
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
    store_object(app, received.payload, record, blob, cond).await?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    echo_checksums(r.headers_mut(), &checksums_out);
    Ok(r)
}

/// Stores a received body as `record`, if `cond` holds at commit (the
/// storage service publishes it, records it, and releases what is no
/// longer referred to). The one commit of a whole object, for PutObject
/// and form uploads.
pub(super) async fn store_object(
    app: &App,
    payload: super::ingest::Payload,
    record: ObjectRecord,
    blob: BlobInfo,
    cond: WriteCondition,
) -> Result<(), ApiError> {
    let bucket_name = record.bucket.clone();
    let key = record.key.clone();
    match app.storage.put_object(payload, record, blob, cond).await? {
        PutObjectOutcome::Stored { .. } => Ok(()),
        // Another writer (or a delete) got there first.
        PutObjectOutcome::ConditionFailed(f) => Err(condition_failed_at_commit(f)),
        // Deleted while the body arrived.
        PutObjectOutcome::NoSuchBucket => Err(bucket::no_such_bucket(&bucket_name)),
        PutObjectOutcome::WrittenOnce => Err(written_once(&bucket_name, &key)),
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

pub async fn delete_object(
    app: &App,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    match app.storage.delete_object(bucket_name, key).await? {
        // Deleting a missing key succeeds, as in S3; a missing bucket does not.
        DeleteObjectOutcome::Deleted(_) | DeleteObjectOutcome::Absent => {
            Ok(empty(StatusCode::NO_CONTENT))
        }
        DeleteObjectOutcome::NoSuchBucket => Err(bucket::no_such_bucket(bucket_name)),
    }
}

/// The byte range a `Range` header selects: `(start, len)`, `None` for the
/// whole object.
///
/// As RFC 9110 §14.1.2 and S3: a spec that is not `bytes=first-last`,
/// `bytes=first-` or `bytes=-suffix` in plain decimal digits (a sign, a
/// letter, `last < first`, several ranges) is ignored; a position too
/// large for a u64 is just past the end (so `last` and `suffix` clamp to
/// the object, and such a `first` is unsatisfiable: 416 `InvalidRange`).
fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = || {
        ApiError::InvalidRange(format!(
            "The requested range is not satisfiable: '{v}' for an object of {size} bytes; \
             ask for a range that starts before byte {size}"
        ))
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None); // other units are ignored, as in S3
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: S3 answers with the whole object
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Empty, or a position; `Err` for anything but digits.
    let position = |s: &str| -> Result<Option<u64>, ()> {
        if s.is_empty() {
            Ok(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            // Only overflow can fail here.
            Ok(Some(s.parse().unwrap_or(u64::MAX)))
        } else {
            Err(())
        }
    };
    let (Ok(first), Ok(last)) = (position(a), position(b)) else {
        return Ok(None); // not a byte range: ignored, as in S3
    };
    let range = match (first, last) {
        (None, Some(n)) => {
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            let n = n.min(size);
            (size - n, n)
        }
        (Some(start), last) => {
            if start >= size {
                return Err(unsatisfiable());
            }
            let end = last.map_or(size - 1, |l| l.min(size - 1));
            if last.is_some_and(|l| l < start) {
                return Ok(None); // syntactically invalid: ignored
            }
            (start, end - start + 1)
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(range))
}

fn parse_http_date(v: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(v.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

pub fn http_date(unix: i64) -> Option<HeaderValue> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let s = OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&fmt)
        .ok()?;
    HeaderValue::from_str(&s).ok()
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// RFC 7232 evaluation in S3's order; `Some(status)` stops the request.
fn preconditions(h: &HeaderMap, obj: &ObjectRecord) -> Result<Option<StatusCode>, ApiError> {
    let if_match = header_str(h, "if-match");
    if let Some(m) = if_match {
        if !etag_matches(m, &obj.etag) {
            return Err(ApiError::PreconditionFailed);
        }
    } else if let Some(t) = header_str(h, "if-unmodified-since").and_then(parse_http_date) {
        if obj.last_modified > t {
            return Err(ApiError::PreconditionFailed);
        }
    }
    if let Some(m) = header_str(h, "if-none-match") {
        if etag_matches(m, &obj.etag) {
            return Ok(Some(StatusCode::NOT_MODIFIED));
        }
    } else if let Some(t) = header_str(h, "if-modified-since").and_then(parse_http_date) {
        if obj.last_modified <= t {
            return Ok(Some(StatusCode::NOT_MODIFIED));
        }
    }
    Ok(None)
}

fn set(h: &mut HeaderMap, name: &'static str, v: Option<&str>) {
    if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(name, v);
    }
}

/// Headers describing a stored object, shared by GET, HEAD and 304.
fn object_headers(h: &mut HeaderMap, obj: &ObjectRecord, checksum_mode: bool) {
    set(h, "etag", Some(&format!("\"{}\"", obj.etag)));
    if let Some(v) = http_date(obj.last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    set(h, "cache-control", obj.meta.cache_control.as_deref());
    set(h, "expires", obj.meta.expires.as_deref());
    for (name, value) in &obj.meta.user {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if checksum_mode {
        echo_checksums(h, &obj.meta.checksums);
    }
    if let Some(n) = obj.meta.parts {
        set(h, "x-amz-mp-parts-count", Some(&n.to_string()));
    }
}

pub async fn get_object(
    app: &App,
    parts: &Parts,
    q: &Query,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let Some((obj, inline)) = app.storage.get_object_inline(bucket_name, key).await? else {
        // Only a miss needs the second look, to name the right error.
        bucket::require(app, bucket_name).await?;
        return Err(ApiError::NoSuchKey(
            "The specified key does not exist.".into(),
        ));
    };
    let head = parts.method == Method::HEAD;
    let checksum_mode = header_str(&parts.headers, "x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"));

    if let Some(status) = preconditions(&parts.headers, &obj)? {
        let mut r = empty(status);
        object_headers(r.headers_mut(), &obj, false);
        return Ok(r);
    }
    let range = match header_str(&parts.headers, "range") {
        Some(v) => parse_range(v, obj.size)?,
        None => None,
    };
    let (start, len) = range.unwrap_or((0, obj.size));
    let blob = if head {
        None
    } else {
        Some(app.storage.open_object(&obj, inline, start, len).await?)
    };
    let body: Body = match blob {
        None => full(""),
        Some(b) => BodyExt::boxed(StreamBody::new(b.chunks.map_ok(Frame::data))),
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    // A checksum describes the whole object, so a part of it gets none (as
    // S3 does; SDKs would otherwise check the range against it and fail).
    object_headers(h, &obj, checksum_mode && range.is_none());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            r.headers_mut(),
            "content-range",
            Some(&format!("bytes {start}-{}/{}", start + len - 1, obj.size)),
        );
    }
    // Presigned GETs may override response headers, as in S3.
    let h = r.headers_mut();
    let pick = |param: &str, stored: Option<&str>| -> Option<String> {
        q.get(param)
            .map(str::to_string)
            .or(stored.map(str::to_string))
    };
    set(
        h,
        "content-type",
        pick("response-content-type", Some(&obj.content_type)).as_deref(),
    );
    set(
        h,
        "content-disposition",
        pick(
            "response-content-disposition",
            obj.meta.content_disposition.as_deref(),
        )
        .as_deref(),
    );
    set(
        h,
        "content-encoding",
        pick(
            "response-content-encoding",
            obj.meta.content_encoding.as_deref(),
        )
        .as_deref(),
    );
    set(
        h,
        "content-language",
        pick(
            "response-content-language",
            obj.meta.content_language.as_deref(),
        )
        .as_deref(),
    );
    if let Some(v) = q.get("response-cache-control") {
        set(h, "cache-control", Some(v));
    }
    if let Some(v) = q.get("response-expires") {
        set(h, "expires", Some(v));
    }
    confine(r.headers_mut());
    Ok(r)
}

/// Types a browser shows as inert content: an object of any other type
/// (HTML, SVG, XML, script, or a type nobody declared) could run script as
/// a page of this gateway's origin — the origin of the upload page and its
/// token — so it is served in a sandbox of its own.
const INERT_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/pdf",
    "application/json",
    "application/zip",
    "binary/octet-stream",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "image/tiff",
    "text/plain",
    "text/csv",
];

/// Headers that keep an object body from acting as a page of this origin:
/// `nosniff` on every body (the browser keeps to the type we send), and a
/// sandboxing Content-Security-Policy (an opaque origin: no access to the
/// upload page's storage, no script) unless the type is inert. Audio and
/// video play as they are.
fn confine(h: &mut HeaderMap) {
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let essence = header_str(h, "content-type")
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let inert = INERT_TYPES.contains(&essence.as_str())
        || essence.starts_with("audio/")
        || essence.starts_with("video/");
    if !inert {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
    }
}

/// The attributes GetObjectAttributes can return.
const ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];

/// GetObjectAttributes (`GET /bucket/key?attributes`): the attributes named
/// in `x-amz-object-attributes`, from the index alone (no blob is read).
pub async fn get_attributes(
    app: &App,
    parts: &Parts,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let wanted: Vec<&str> = parts
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(ApiError::InvalidArgument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is \
             either missing or empty; name some of ETag, Checksum, ObjectParts, StorageClass, \
             ObjectSize"
                .into(),
        ));
    }
    if let Some(bad) = wanted.iter().find(|a| !ATTRIBUTES.contains(a)) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid attribute name specified: '{bad}'; use ETag, Checksum, ObjectParts, \
             StorageClass or ObjectSize"
        )));
    }
    bucket::require(app, bucket_name).await?;
    let obj = app
        .storage
        .get_object(bucket_name, key)
        .await?
        .ok_or_else(|| ApiError::NoSuchKey("The specified key does not exist.".into()))?;
    let want = |a: &str| wanted.contains(&a);
    let mut x = super::xml::Xml::new("GetObjectAttributesResponse");
    if want("ETag") {
        // Unquoted here, unlike every other ETag S3 returns.
        x.elem("ETag", &obj.etag);
    }
    if want("Checksum") && !obj.meta.checksums.is_empty() {
        x.open("Checksum");
        for (alg, value) in &obj.meta.checksums {
            x.elem(&format!("Checksum{alg}"), value);
        }
        x.close("Checksum");
    }
    if want("ObjectParts") {
        if let Some(n) = obj.meta.parts {
            x.open("ObjectParts")
                // botocore reads TotalPartsCount from this element name.
                .elem("PartsCount", &n.to_string())
                .close("ObjectParts");
        }
    }
    if want("StorageClass") {
        x.elem("StorageClass", "STANDARD");
    }
    if want("ObjectSize") {
        x.elem("ObjectSize", &obj.size.to_string());
    }
    let mut r = super::xml_response(StatusCode::OK, x.finish("GetObjectAttributesResponse"));
    if let Some(v) = http_date(obj.last_modified) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_s3_reads_them() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 10)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 10)));
        assert_eq!(parse_range("bytes=-500", 100).unwrap(), Some((0, 100)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 50)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=-0", 100).is_err());
        assert_eq!(parse_range("bytes=9-2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
    }

    /// Found by `prop_range_*`: a sign was read as part of a number, and a
    /// position past u64 made a satisfiable range a 416.
    #[test]
    fn ranges_are_plain_digits_and_clamp_past_u64() {
        assert_eq!(parse_range("bytes=+0-", 1).unwrap(), None);
        assert_eq!(parse_range("bytes=+1-2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=1-+2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=-+2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=1-x", 100).unwrap(), None);
        assert_eq!(
            parse_range("bytes=-20000000000000000000", 1).unwrap(),
            Some((0, 1))
        );
        assert_eq!(
            parse_range("bytes=5-99999999999999999999999", 100).unwrap(),
            Some((5, 95))
        );
        assert!(parse_range("bytes=99999999999999999999999-", u64::MAX).is_err());
        assert_eq!(
            parse_range("bytes=0-", u64::MAX).unwrap(),
            Some((0, u64::MAX))
        );
    }

    use proptest::prelude::*;

    /// Object sizes, the edges included.
    fn size() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u64::MAX),
            0..1000u64,
            u64::MAX - 1000..=u64::MAX,
            any::<u64>(),
        ]
    }

    /// A byte position as a client may write it: digits, sometimes more
    /// than fit in a u64, with leading zeros.
    fn digits() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (0..1000u64).prop_map(|n| n.to_string()),
            "0{0,3}[0-9]{1,25}",
        ]
    }

    /// The range a `bytes=` spec of digit strings asks for, computed in
    /// u128 (RFC 9110 §14.1.2): `Ok(None)` to ignore it, `Err(())` for 416.
    fn model(a: Option<&str>, b: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let n = |s: &str| s.parse::<u128>().unwrap_or(u128::MAX);
        let size = u128::from(size);
        let r = match (a.map(n), b.map(n)) {
            (None, None) => return Ok(None),
            (None, Some(suffix)) => {
                if suffix == 0 || size == 0 {
                    return Err(());
                }
                let len = suffix.min(size);
                (size - len, len)
            }
            (Some(start), _) if start >= size => return Err(()),
            (Some(start), None) => (start, size - start),
            (Some(start), Some(end)) if end < start => return Ok(None),
            (Some(start), Some(end)) => (start, end.min(size - 1) - start + 1),
        };
        let u = |v: u128| u64::try_from(v).map_err(|_| ());
        Ok(Some((u(r.0)?, u(r.1)?)))
    }

    proptest! {
        #![proptest_config(crate::testing::config(10000))]

        /// Any header, any size: no panic; a range returned lies inside the
        /// object and came from a header of the strict `bytes=first-last`
        /// syntax (digits only: no sign, no other characters).
        #[test]
        fn prop_range_lies_inside_the_object(
            v in prop_oneof![
                any::<String>(),
                "[ ]?bytes=[ ]?[-+0-9a-f ,]{0,12}-?[-+0-9 ,]{0,24}",
            ],
            size in size(),
        ) {
            match parse_range(&v, size) {
                Ok(Some((start, len))) => {
                    prop_assert!(len >= 1 && start < size);
                    prop_assert!(start.checked_add(len).is_some_and(|end| end <= size));
                    let spec = v.trim().strip_prefix("bytes=").unwrap_or("");
                    let (a, b) = spec.split_once('-').unwrap_or(("x", "x"));
                    for part in [a.trim(), b.trim()] {
                        prop_assert!(part.bytes().all(|c| c.is_ascii_digit()), "{:?} accepted", v);
                    }
                }
                Ok(None) => {}
                Err(e) => prop_assert!(matches!(e, ApiError::InvalidRange(_)), "{:?}", e),
            }
        }

        /// `bytes=first-last`, `bytes=first-` and `bytes=-suffix` with any
        /// digits: exactly the range RFC 9110 defines, clamped to the
        /// object, or 416 when nothing of it is in the object.
        #[test]
        fn prop_range_matches_the_rfc(
            a in proptest::option::of(digits()),
            b in proptest::option::of(digits()),
            size in size(),
        ) {
            let header = format!("bytes={}-{}", a.as_deref().unwrap_or(""), b.as_deref().unwrap_or(""));
            let got = parse_range(&header, size).map_err(|_| ());
            prop_assert_eq!(got, model(a.as_deref(), b.as_deref(), size), "{}", header);
        }
    }

    #[test]
    fn etag_lists_match_quoted_weak_and_star() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", W/\"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
