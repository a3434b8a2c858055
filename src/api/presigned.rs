//! The URLs the upload API issues, and the PUT they authorise.
//!
//! A PUT is checked in this order, and nothing is stored unless every check
//! passes: signature and expiry (`sigv4::verify_presigned`, run by the S3
//! router for every request), the id and the declaration bound into the URL,
//! Content-Length against the declared size (before any byte is read), the
//! pending row and its key (before the body, for bodies above
//! `INLINE_BLOB_MAX`; small ones are checked in the transaction that
//! records them), then the body is streamed to a staged blob (or gathered
//! in memory, if small) while hashed (`s3/ingest.rs`), and its SHA-256
//! compared with the declared one *before* the storage service commits it
//! (`Storage::put_file`: published, and the row marked uploaded, under the
//! commit protocol). Downloads are plain S3 GetObject: an uploaded file is
//! the object `{bucket}/{id}`.
//!
//! A URL never replaces an object an S3 client wrote under its key (409,
//! decided in the transaction that would record the file), and answers
//! "already stored" without the body only while the stored bytes are
//! intact: a PUT for a damaged or missing blob is read, verified and heals
//! it.

use base64::Engine;
use http::request::Parts;
use http::{header, HeaderValue, Response};
use hyper::body::Incoming;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::body::{full, Body};
use crate::api::error::ApiError;
use crate::api::ingest::{content_length, receive, BodySpec};
use crate::api::sigauth::Authenticated;
use crate::app::{App, INLINE_BLOB_MAX};
use crate::index::Declared;
use crate::sigv4::{self, PresignParams};
use crate::storage::files::{PutCheck, PutFileOutcome};
use crate::store::Digest;

/// Query parameter binding the declared SHA-256 (hex) into a PUT URL.
pub const SHA256_PARAM: &str = "X-Stowage-Sha256";
/// Query parameter binding the declared size into a PUT URL.
pub const SIZE_PARAM: &str = "X-Stowage-Size";
/// Query parameter binding the declared file name into a PUT URL. With it
/// (and the signed Content-Type, size and hash) the URL carries the whole
/// declaration, so a PUT can be accepted even if the pending row of its
/// presign was lost: presign answers once its row is committed, without
/// waiting for the group sync.
pub const NAME_PARAM: &str = "X-Stowage-Name";

/// The presigned PUT URL for a declared file: good for exactly its content
/// type, size and hash, until the configured expiry.
pub fn presign_put_url(app: &App, d: &Declared, now: OffsetDateTime) -> String {
    let sha = d.sha256.hex();
    let size = d.size.to_string();
    sign_url(
        app,
        "PUT",
        &d.id,
        &[
            (SHA256_PARAM, &sha),
            (SIZE_PARAM, &size),
            (NAME_PARAM, &d.file_name),
        ],
        &[("content-type", &d.content_type)],
        now,
    )
}

/// The presigned URL for part `number` of the part-wise upload `upload_id`
/// of file `id`, good for exactly `size` bytes (an S3 UploadPart; the
/// part's bytes are checked when the parts are put together, against the
/// file's declared hash). The size is signed into the URL
/// ([`SIZE_PARAM`]) and enforced before the body is read
/// ([`check_part_length`]): without it, a URL for a part of one byte would
/// take S3's 5 GiB.
pub fn presign_part_url(
    app: &App,
    id: &Uuid,
    upload_id: &str,
    number: u32,
    size: u64,
    now: OffsetDateTime,
) -> String {
    let number = number.to_string();
    let size = size.to_string();
    sign_url(
        app,
        "PUT",
        id,
        &[
            ("partNumber", &number),
            ("uploadId", upload_id),
            (SIZE_PARAM, &size),
        ],
        &[],
        now,
    )
}

/// The UploadPart of a part URL: refuses a Content-Length other than the
/// size signed into the URL, before any byte of the body is read. A part
/// request that carries no signed size (an S3 client's own UploadPart,
/// signed by its key) is left to S3's limits. `auth.presigned` is the
/// verified query: the size is never read from the raw one.
pub fn check_part_length(auth: &Authenticated, length: u64) -> Result<(), ApiError> {
    let Some(signed) = auth.presigned.as_ref().and_then(|p| p.param(SIZE_PARAM)) else {
        return Ok(());
    };
    let declared: u64 = signed.parse().map_err(|_| {
        ApiError::InvalidRequest(format!(
            "this URL carries no valid {SIZE_PARAM}; ask POST \
             /api/inspect/v1/file/upload/parts for the part URLs again"
        ))
    })?;
    check_length(length, declared, "part")
}

/// Refuses a Content-Length other than the `declared` size of what the URL
/// was issued for (`what`: "file" or "part").
fn check_length(length: u64, declared: u64, what: &str) -> Result<(), ApiError> {
    if length > declared {
        return Err(ApiError::EntityTooLarge(format!(
            "Content-Length is {length} bytes but this URL was issued for a {what} of \
             {declared} bytes; nothing was stored. Send exactly the {what} you declared"
        )));
    }
    if length < declared {
        return Err(ApiError::IncompleteBody(format!(
            "Content-Length is {length} bytes but this URL was issued for a {what} of \
             {declared} bytes; nothing was stored. Send the whole {what}"
        )));
    }
    Ok(())
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

/// The upload API's PUT: a presigned URL carrying `X-Stowage-Sha256` and
/// `X-Stowage-Size`, already authenticated by the S3 router.
pub async fn put(
    app: &App,
    auth: &Authenticated,
    parts: Parts,
    body: Incoming,
    bucket: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let Some(signed) = auth.presigned.as_ref() else {
        return Err(ApiError::InvalidRequest(
            "upload URLs are query-signed; request one from the presign API".into(),
        ));
    };
    if bucket != app.config.s3.bucket {
        return Err(ApiError::NoSuchBucket(format!(
            "upload URLs point into bucket '{}'",
            app.config.s3.bucket
        )));
    }
    let id = Uuid::try_parse(key)
        .ok()
        .filter(|_| key.len() == 36)
        .ok_or_else(|| {
            ApiError::NoSuchKey(
                "The specified key does not exist; keys are the UUIDs issued by the presign API"
                    .into(),
            )
        })?;

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

    check_length(content_length(&parts)?, declared_size, "file")?;

    // The whole declaration, when the URL carries it (the Content-Type is
    // signed, so the request's is the declared one).
    let declared = signed.param(NAME_PARAM).map(|name| Declared {
        id,
        file_name: name.to_string(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_string(),
        size: declared_size,
        sha256: declared_sha,
    });

    // Registered before the row is read, so the sweep cannot withdraw it
    // while the bytes arrive.
    let _in_flight = app.storage.begin_upload(id).await?;
    // A small body is read whole before anything is looked up: the one
    // index transaction that records it also finds out whether the id is
    // pending or already stored (saving a lookup per upload on the path
    // that carries most of them). A larger one is checked first, so that
    // bytes nobody will keep are not streamed to disk.
    if declared_size > INLINE_BLOB_MAX {
        let self_contained = declared.is_some();
        if let Some(mut answer) =
            precheck(app, id, declared_sha, declared_size, self_contained).await?
        {
            // Already stored. A small enough body is read and dropped
            // first: many clients read no answer until they have sent
            // everything, and would see a reset instead of this 200.
            if declared_size <= DRAIN_MAX && drain(body).await {
                answer.headers_mut().remove(header::CONNECTION);
            }
            return Ok(answer);
        }
    }

    let received = receive(app, body, BodySpec::plain(declared_size)).await?;
    let got = received.sha256();
    if got != declared_sha {
        let b64 = |d: &Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
        return Err(ApiError::BadDigest(format!(
            "The SHA-256 of the bytes received ({}) does not match the hash declared for this \
             upload ({}); nothing was stored. Check that the right file was sent, unmodified.",
            b64(&got),
            b64(&declared_sha)
        )));
    }

    let etag = received.blob.md5.map(hex::encode).unwrap_or_default();
    match app
        .storage
        .put_file(id, received.payload, received.blob, declared)
        .await?
    {
        PutFileOutcome::Marked | PutFileOutcome::AlreadyStored => Ok(stored_response(&etag, &got)),
        PutFileOutcome::NotFound => Err(ApiError::NoSuchKey(format!(
            "no upload of this file is pending under id {id} (never requested, or \
             withdrawn after its URL expired); request a new presigned URL"
        ))),
        PutFileOutcome::Occupied => Err(occupied(app, &id)),
    }
}

/// The row check of a larger upload, before its body is read: refuses an
/// id that is not pending with this declaration (unless the URL carries
/// the whole declaration: `self_contained`) or whose key holds an S3
/// client's object, and gives the answer at once for one whose bytes are
/// already stored and intact (`Some`).
async fn precheck(
    app: &App,
    id: Uuid,
    declared_sha: Digest,
    declared_size: u64,
    self_contained: bool,
) -> Result<Option<Response<Body>>, ApiError> {
    let checked = app
        .storage
        .check_file_put(id, declared_sha, declared_size, self_contained)
        .await?;
    match checked {
        PutCheck::Proceed => Ok(None),
        PutCheck::NotPending => Err(ApiError::NoSuchKey(format!(
            "no upload of this file is pending under id {id}; request a new presigned URL"
        ))),
        PutCheck::Occupied => Err(occupied(app, &id)),
        PutCheck::Stored { etag } => {
            // Already verified and stored: answer as S3 would, write
            // nothing. The body is not read (or only drained by the
            // caller): close the connection after answering unless the
            // caller read it to its end, so unread bytes are never taken
            // for a next request.
            let mut r = stored_response(&etag, &declared_sha);
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(Some(r))
        }
    }
}

/// The refusal of an upload (whole or in parts) whose key holds an object
/// an S3 client wrote.
pub fn occupied(app: &App, id: &Uuid) -> ApiError {
    ApiError::Conflict(format!(
        "id {id} is already used by an object written through the S3 API (bucket '{}', key \
         '{id}'), which the upload API never replaces; nothing was stored. Upload the file \
         under a new id",
        app.config.s3.bucket
    ))
}

/// Largest body read only to be dropped, before an early answer.
const DRAIN_MAX: u64 = 1 << 20;

/// Reads a body to its end and drops it; `false` if it broke off (or
/// stalled past the connection's idle timeout), in which case the
/// connection must close after the answer.
async fn drain(mut body: Incoming) -> bool {
    use http_body_util::BodyExt;
    loop {
        match body.frame().await {
            None => return true,
            Some(Ok(_)) => continue,
            Some(Err(_)) => return false,
        }
    }
}

fn stored_response(etag: &str, sha256: &Digest) -> Response<Body> {
    let mut r = Response::new(full(""));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Ok(v) =
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(sha256.0))
    {
        r.headers_mut().insert("x-amz-checksum-sha256", v);
    }
    r
}
