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
//! compared with the declared one *before* the blob is committed and the
//! index row marked uploaded. Downloads are plain S3 GetObject: an uploaded
//! file is the object `{bucket}/{id}`.
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

use super::s3::auth::Authenticated;
use super::s3::ingest::{content_length, receive, BodySpec};
use super::{full, ApiError, Body};
use crate::app::{App, INLINE_BLOB_MAX};
use crate::index::{Declared, FileRecord, MarkOutcome};
use crate::sigv4::{self, PresignParams};
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
    let _in_flight = app.begin_upload(id).await;
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

    let blob = received.blob;
    let etag = blob.md5.map(hex::encode).unwrap_or_default();
    let bucket = app.config.s3.bucket.clone();
    let now = app.now_unix();
    // Publish and record under the blob's lock, so a concurrent delete of
    // the same content cannot remove the file between the two.
    let lock = app.blob_lock(&got).await;
    let inline = received.payload.publish(&got).await?;
    let marked = app
        .db_write(move |db| {
            db.mark_uploaded(
                &id,
                &blob,
                inline.as_deref(),
                declared.as_ref(),
                &bucket,
                now,
            )
        })
        .await;
    drop(lock);
    match marked {
        Ok((MarkOutcome::Marked | MarkOutcome::AlreadyStored, replaced)) => {
            if let Some(old) = replaced {
                app.release_after_failure(old).await;
            }
            Ok(stored_response(&etag, &got))
        }
        Ok((MarkOutcome::NotFound, _)) => {
            app.release_after_failure(got).await;
            Err(ApiError::NoSuchKey(format!(
                "no upload of this file is pending under id {id} (never requested, or \
                 withdrawn after its URL expired); request a new presigned URL"
            )))
        }
        Ok((MarkOutcome::Occupied, _)) => {
            app.release_after_failure(got).await;
            Err(occupied(app, &id))
        }
        Err(e) => {
            app.release_after_failure(got).await;
            Err(e)
        }
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
    // Nothing is stored for the id yet, so any object under its key is an
    // S3 client's, and the upload would be refused at commit: say so
    // before the client sends it all.
    let refuse_if_occupied = || async {
        let (b, k) = (app.config.s3.bucket.clone(), id.to_string());
        match app.db(move |db| db.get_object(&b, &k)).await? {
            Some(_) => Err(occupied(app, &id)),
            None => Ok(None),
        }
    };
    let rec = app.db(move |db| db.get(&id)).await?;
    if rec.is_none() && self_contained {
        return refuse_if_occupied().await;
    }
    let rec: FileRecord = rec
        .filter(|r| r.sha256 == declared_sha && r.size == declared_size)
        .ok_or_else(|| {
            ApiError::NoSuchKey(format!(
                "no upload of this file is pending under id {id}; request a new presigned URL"
            ))
        })?;
    if !rec.status.has_bytes() {
        return refuse_if_occupied().await;
    }
    // Stored once: answered from the row only while those bytes are
    // intact. A damaged or missing blob is healed by reading this body.
    if !intact(app, declared_sha, declared_size).await? {
        return Ok(None);
    }
    // Already verified and stored: answer as S3 would, write nothing.
    let b = app.config.s3.bucket.clone();
    let k = id.to_string();
    let etag = app
        .db(move |db| db.get_object(&b, &k))
        .await?
        .map(|o| o.etag)
        .unwrap_or_default();
    // The body is not read (or only drained by the caller): close the
    // connection after answering unless the caller read it to its end, so
    // unread bytes are never taken for a next request.
    let mut r = stored_response(&etag, &rec.sha256);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(Some(r))
}

/// Whether the stored blob `sha256` of `size` bytes is intact, as far as
/// the index and a look at the store's file can tell (`Index::blob_intact`):
/// only then may a file's bytes be taken as stored.
pub async fn intact(app: &App, sha256: Digest, size: u64) -> Result<bool, ApiError> {
    let store_len = app.store.stored_len(&sha256).await?;
    app.db(move |db| db.blob_intact(&sha256, size, store_len))
        .await
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
