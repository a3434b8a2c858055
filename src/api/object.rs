//! The S3-style object paths `/{bucket}/{id}` that presigned URLs point at:
//! making those URLs, and serving the PUT and GET/HEAD they authorise.
//!
//! A PUT is checked in this order, and nothing is stored unless every check
//! passes: signature and expiry (`sigv4::verify_presigned`), the id and the
//! declaration bound into the URL, Content-Length against the declared size
//! (before any byte is read), then the body is streamed to a staged blob
//! while hashed, and its SHA-256 compared with the declared one *before* the
//! blob is committed and the index row marked uploaded.

use std::time::Duration;

use base64::Engine;
use futures_util::TryStreamExt;
use http::request::Parts;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use super::{full, ApiError, Body};
use crate::app::App;
use crate::db::{BlobInfo, Declared, FileRecord, MarkOutcome};
use crate::sigv4::{self, AuthError, PresignParams, Presigned, RequestParts, VerifyParams};
use crate::store::Digest;

/// Query parameter binding the declared SHA-256 (hex) into a PUT URL.
pub const SHA256_PARAM: &str = "X-Stowage-Sha256";
/// Query parameter binding the declared size into a PUT URL.
pub const SIZE_PARAM: &str = "X-Stowage-Size";
/// Bytes read from a blob per response chunk.
const READ_CHUNK: usize = 256 * 1024;
/// How long a PUT may wait for the next piece of body before it is
/// abandoned (and its staged bytes removed): a stalled field link must not
/// hold a temp file forever.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The presigned PUT URL for a declared file: good for exactly its content
/// type, size and hash, until the configured expiry.
pub fn presign_put_url(app: &App, d: &Declared, now: OffsetDateTime) -> String {
    let sha = d.sha256.hex();
    let size = d.size.to_string();
    sign_url(
        app,
        "PUT",
        &d.id,
        &[(SHA256_PARAM, &sha), (SIZE_PARAM, &size)],
        &[("content-type", &d.content_type)],
        now,
    )
}

/// The presigned GET URL of a stored file.
pub fn presign_get_url(app: &App, id: &Uuid, now: OffsetDateTime) -> String {
    sign_url(app, "GET", id, &[], &[], now)
}

fn sign_url(
    app: &App,
    method: &str,
    id: &Uuid,
    extra_query: &[(&str, &str)],
    extra_signed_headers: &[(&str, &str)],
    now: OffsetDateTime,
) -> String {
    let path = format!("/{}/{}", app.config.s3.bucket, id);
    let query = sigv4::presign(
        &app.credentials,
        &PresignParams {
            method,
            host: &app.public_url.host,
            path: &path,
            region: &app.config.s3.region,
            service: "s3",
            expires_secs: app.config.upload.presign_expiry_secs,
            extra_query,
            extra_signed_headers,
        },
        now,
    );
    format!("{}{}?{}", app.public_url.base, path, query)
}

pub async fn route(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path();
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ApiError::NotFound(
            "nothing here: objects live at /{bucket}/{id} (use the URLs the API returns), \
             the JSON API under /api/inspect/v1/"
                .into(),
        ));
    }
    if bucket != app.config.s3.bucket {
        return Err(ApiError::NoSuchBucket(format!(
            "The specified bucket does not exist; this gateway serves bucket '{}'",
            app.config.s3.bucket
        )));
    }
    if key.is_empty() {
        return Err(ApiError::MethodNotAllowed(
            "bucket-level operations are not supported; use /{bucket}/{id}".into(),
        ));
    }
    match *req.method() {
        Method::PUT => put(app, req).await,
        Method::GET => get(app, req, false).await,
        Method::HEAD => get(app, req, true).await,
        _ => Err(ApiError::MethodNotAllowed(format!(
            "{} is not supported on objects; use PUT, GET or HEAD",
            req.method()
        ))),
    }
}

/// Verifies the query signature of an object request.
fn authenticate(app: &App, parts: &Parts) -> Result<Presigned, ApiError> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let req = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
    };
    let creds = &app.credentials;
    let secret_for =
        |key: &str| (key == creds.access_key_id).then(|| creds.secret_access_key.clone());
    let params = VerifyParams {
        region: &app.config.s3.region,
        service: "s3",
    };
    Ok(sigv4::verify_presigned(
        &req,
        secret_for,
        &params,
        app.clock.now(),
    )?)
}

/// The object key as a file id. Only ids the API issued exist.
fn object_id(parts: &Parts) -> Result<Uuid, ApiError> {
    let raw = parts
        .uri
        .path()
        .rsplit_once('/')
        .map(|(_, k)| k)
        .unwrap_or("");
    // Decoded as the signature check decoded it, so `%37…` names the same
    // key as `7…`.
    let key = sigv4::encode::percent_decode(raw).unwrap_or_default();
    Uuid::try_parse(&key)
        .ok()
        .filter(|_| key.len() == 36)
        .ok_or_else(|| {
            ApiError::NoSuchKey(
                "The specified key does not exist; keys are the UUIDs issued by the presign API"
                    .into(),
            )
        })
}

/// Adds the likely cause to a signature mismatch on a URL that signs the
/// Content-Type: a client sending another type (or none, as `curl
/// --upload-file` does without `-H`) is by far the most common one.
fn explain_mismatch(e: ApiError, parts: &Parts) -> ApiError {
    let signs_type = parts.uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.starts_with("X-Amz-SignedHeaders=") && kv.contains("content-type"))
    });
    match e {
        ApiError::Auth(AuthError::SignatureDoesNotMatch) if signs_type => {
            let sent = parts
                .headers
                .get(header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "none".into());
            ApiError::SignatureDoesNotMatch(format!(
                "{} This URL is signed for one Content-Type: send the header exactly as the \
                 contentType declared when the URL was requested (this request sent {sent}).",
                AuthError::SignatureDoesNotMatch
            ))
        }
        e => e,
    }
}

fn etag(sha256: &Digest) -> HeaderValue {
    // Quoted hex SHA-256: a strong validator that changes iff the bytes do.
    HeaderValue::from_str(&format!("\"{}\"", sha256.hex()))
        .unwrap_or(HeaderValue::from_static("\"\""))
}

fn checksum_header(sha256: &Digest) -> HeaderValue {
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(sha256.0))
        .unwrap_or(HeaderValue::from_static(""))
}

fn stored_response(sha256: &Digest) -> Response<Body> {
    let mut r = Response::new(full(""));
    r.headers_mut().insert(header::ETAG, etag(sha256));
    r.headers_mut()
        .insert("x-amz-checksum-sha256", checksum_header(sha256));
    r
}

async fn put(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, mut body) = req.into_parts();
    let signed = authenticate(app, &parts).map_err(|e| explain_mismatch(e, &parts))?;
    let id = object_id(&parts)?;

    // What this URL was issued for. A URL without them was not made by the
    // presign API (or was altered, which the signature already excludes).
    let declared_sha = signed
        .param(SHA256_PARAM)
        .and_then(Digest::from_hex)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "this URL carries no valid {SHA256_PARAM}; request an upload URL from \
                 POST /api/inspect/v1/file/upload/presigned"
            ))
        })?;
    let declared_size: u64 = signed
        .param(SIZE_PARAM)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "this URL carries no valid {SIZE_PARAM}; request an upload URL from \
                 POST /api/inspect/v1/file/upload/presigned"
            ))
        })?;

    let length = content_length(&parts)?;
    if length > declared_size {
        return Err(ApiError::EntityTooLarge(format!(
            "Content-Length is {length} bytes but this URL was issued for a file of \
             {declared_size} bytes; send the file you declared"
        )));
    }
    if length < declared_size {
        return Err(ApiError::IncompleteBody(format!(
            "Content-Length is {length} bytes but this URL was issued for a file of \
             {declared_size} bytes; send the whole file"
        )));
    }

    // Registered before the row is read, so the sweep cannot withdraw it
    // while the bytes arrive.
    let _in_flight = app.begin_upload(id);
    let rec: FileRecord = app
        .db(move |db| db.get(&id))
        .await?
        .filter(|r| r.sha256 == declared_sha && r.size == declared_size)
        .ok_or_else(|| {
            ApiError::NoSuchKey(format!(
                "no upload of this file is pending under id {id}; request a new presigned URL"
            ))
        })?;
    if rec.status.has_bytes() {
        // Already verified and stored: answer as S3 would, write nothing.
        return Ok(stored_response(&rec.sha256));
    }

    // Stream: hash and stage each chunk; the staged blob deletes itself if
    // we return early for any reason.
    let mut staged = app.store.stage().await?;
    let mut hasher = Sha256::new();
    let mut md5 = Md5::new();
    let mut received: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
            Err(_) => {
                return Err(ApiError::IncompleteBody(format!(
                    "no data arrived for {} s after {received} of {declared_size} bytes; \
                     nothing was stored, retry the upload",
                    BODY_IDLE_TIMEOUT.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(_))) => {
                return Err(ApiError::IncompleteBody(format!(
                    "the body ended after {received} of {declared_size} bytes; nothing was \
                     stored, retry the upload"
                )))
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we use here
        };
        received += data.len() as u64;
        if received > declared_size {
            return Err(ApiError::EntityTooLarge(format!(
                "the body is longer than the {declared_size} bytes declared; nothing was stored"
            )));
        }
        hasher.update(&data);
        md5.update(&data);
        staged.write(&data).await?;
    }
    if received != declared_size {
        return Err(ApiError::IncompleteBody(format!(
            "the body ended after {received} of {declared_size} bytes; nothing was stored, \
             retry the upload"
        )));
    }
    let got = Digest(hasher.finalize().into());
    if got != declared_sha {
        let b64 = |d: &Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
        return Err(ApiError::BadDigest(format!(
            "The SHA-256 of the bytes received ({}) does not match the hash declared for this \
             upload ({}); nothing was stored. Check that the right file was sent, unmodified.",
            b64(&got),
            b64(&declared_sha)
        )));
    }

    let blob = BlobInfo {
        sha256: got,
        size: declared_size,
        md5: Some(md5.finalize().into()),
    };
    let bucket = app.config.s3.bucket.clone();
    let now = app.now_unix();
    // Publish and record under the blob's lock, so a concurrent delete of
    // the same content cannot remove the file between the two.
    let lock = app.blob_lock(&got).await;
    staged.commit(&got).await?;
    let (outcome, replaced) = app
        .db(move |db| db.mark_uploaded(&id, &blob, &bucket, now))
        .await?;
    drop(lock);
    if let Some(old) = replaced {
        app.release_blob(old).await?;
    }
    match outcome {
        MarkOutcome::Marked | MarkOutcome::AlreadyStored => Ok(stored_response(&got)),
        MarkOutcome::NotFound => Err(ApiError::NoSuchKey(format!(
            "the upload under id {id} was withdrawn while the bytes arrived; request a new \
             presigned URL"
        ))),
    }
}

fn content_length(parts: &Parts) -> Result<u64, ApiError> {
    let Some(v) = parts.headers.get(header::CONTENT_LENGTH) else {
        return Err(ApiError::MissingContentLength);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into()))
}

async fn get(app: &App, req: Request<Incoming>, head: bool) -> Result<Response<Body>, ApiError> {
    let (parts, _) = req.into_parts();
    authenticate(app, &parts)?;
    let id = object_id(&parts)?;
    let rec = app
        .db(move |db| db.get(&id))
        .await?
        .filter(|r| r.status.has_bytes())
        .ok_or_else(|| ApiError::NoSuchKey(format!("no stored file with id {id}")))?;
    let blob = app.store.open(&rec.sha256).await?.ok_or_else(|| {
        ApiError::Internal(super::Internal::Other(format!(
            "blob {} of file {id} is missing",
            rec.sha256.hex()
        )))
    })?;
    if blob.len != rec.size {
        return Err(ApiError::Internal(super::Internal::Other(format!(
            "blob {} of file {id} has {} bytes, index says {}",
            rec.sha256.hex(),
            blob.len,
            rec.size
        ))));
    }

    let body: Body = if head {
        full("")
    } else {
        let stream = ReaderStream::with_capacity(blob.reader, READ_CHUNK).map_ok(Frame::data);
        BodyExt::boxed(StreamBody::new(stream))
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&rec.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(rec.size));
    h.insert(header::ETAG, etag(&rec.sha256));
    h.insert("x-amz-checksum-sha256", checksum_header(&rec.sha256));
    if let Some(v) = rec.uploaded_at.and_then(http_date) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&crate::headers::content_disposition(&rec.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn http_date(unix: i64) -> Option<HeaderValue> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let s = OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&fmt)
        .ok()?;
    HeaderValue::from_str(&s).ok()
}
