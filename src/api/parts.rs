//! Part-wise uploads through the JSON API, for large files over links that
//! break: `POST /api/inspect/v1/file/upload/parts` and the part-wise branch
//! of `…/upload/complete`.
//!
//! A client declares the file as for presign, plus a `partSize`, and gets
//! one presigned S3 UploadPart URL per part, good for exactly that part's
//! size (signed into the URL, so a part URL never takes more bytes than the
//! part it was issued for), each with the SHA-256 of the part the server
//! already holds under that number (or null). Asking again
//! — after a dropped link, a restart of the client, or expired URLs —
//! returns the same upload with fresh URLs, so the client sends only the
//! parts the server does not have. Each part is checked on arrival like any
//! S3 part (its `x-amz-checksum-sha256`, if sent). Completing puts the parts
//! together in order into one staged blob and compares its SHA-256 with the
//! declared one *before* the blob is published; the row, the object and the
//! end of the upload are one transaction.
//!
//! This module never trusts the part list a client might send: it reads the
//! parts from the index and requires them to cover the declared size. It
//! only ever uses uploads it made itself (their ids start with
//! [`FILE_UPLOAD_PREFIX`]): a multipart upload an S3 client opened on the
//! same key is not this file's, and neither its parts' hashes nor its
//! bytes are offered to the file's declarer.

use base64::Engine;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::presigned::{self, intact};
use super::s3::multipart::{MAX_PART, MIN_PART};
use super::upload::{already_stored, declare, Declaration};
use super::{json, ApiError, Body, Internal};
use crate::app::App;
use crate::index::{
    Declared, FilePartsOutcome, FileRecord, MultipartUpload, ObjectMeta, PartRecord, Status,
};
use crate::storage::Assembled;
use crate::store::Digest;

/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// How the ids of this module's uploads begin. S3's CreateMultipartUpload
/// makes bare hex ids and no client chooses one, so an upload with this
/// prefix was made here, for the file of its key.
pub const FILE_UPLOAD_PREFIX: &str = "file-";

/// `POST /api/inspect/v1/file/upload/parts`: 201 with the upload's parts
/// (URL, size, and the hash of what the server holds), 200 if these bytes
/// are already stored, 409 if the id was used for another file.
pub async fn begin(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (d, part_size, outcome) = declare(app, req, |obj, d| parse_part_size(obj, d.size)).await?;
    if let Declaration::AlreadyStored = outcome {
        return Ok(already_stored(&d));
    }
    let upload_id = match open_upload(app, &d.id).await? {
        Some(u) => {
            // Asked again: still in use, whatever its age. (The sweep of
            // abandoned uploads goes by this time; a client resuming over
            // days keeps its parts as long as it keeps asking.)
            let (id, now) = (u.upload_id.clone(), app.now_unix());
            app.db(move |db| db.touch_multipart(&id, now)).await?;
            u.upload_id
        }
        None => create_upload(app, &d).await?,
    };
    let id = upload_id.clone();
    let stored = app.db(move |db| db.list_parts(&id, 0, 10_000)).await?;
    let now = app.clock.now();
    let count = d.size.div_ceil(part_size).max(1);
    let b64 = |d: &Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
    let parts: Vec<Value> = (1..=count)
        .map(|n| {
            let offset = (n - 1) * part_size;
            let size = part_size.min(d.size - offset);
            let number = n as u32;
            let held = stored
                .iter()
                .find(|p| p.part_number == number && p.size == size)
                .map(|p| b64(&p.sha256));
            serde_json::json!({
                "partNumber": number,
                "offset": offset,
                "size": size,
                "url": presigned::presign_part_url(app, &d.id, &upload_id, number, size, now),
                "hash": held,
            })
        })
        .collect();
    Ok(json(
        StatusCode::CREATED,
        serde_json::json!({"data": {
            "id": d.id.to_string(),
            "uploadId": upload_id,
            "partSize": part_size,
            "parts": parts,
        }}),
    ))
}

/// `partSize`: every part but the last is this long; S3's limits apply.
fn parse_part_size(obj: &Map<String, Value>, size: u64) -> Result<u64, ApiError> {
    let part_size = obj
        .get("partSize")
        .ok_or_else(|| ApiError::BadRequest("field `partSize` is missing".into()))?
        .as_u64()
        .filter(|n| (MIN_PART..=MAX_PART).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "field `partSize` must be a whole number of bytes from {MIN_PART} to {MAX_PART}"
            ))
        })?;
    if size.div_ceil(part_size) > MAX_PARTS {
        return Err(ApiError::BadRequest(format!(
            "a file of {size} bytes in parts of {part_size} bytes needs more than {MAX_PARTS} \
             parts; choose a `partSize` of at least {}",
            size.div_ceil(MAX_PARTS)
        )));
    }
    Ok(part_size)
}

/// The newest open part-wise upload of file `id`, if any (only one this
/// module made: see [`FILE_UPLOAD_PREFIX`]).
async fn open_upload(app: &App, id: &Uuid) -> Result<Option<MultipartUpload>, ApiError> {
    let (bucket, key) = (app.config.s3.bucket.clone(), id.to_string());
    let uploads = app
        .db(move |db| db.list_multipart(&bucket, &key, "", "", 1000))
        .await?;
    let key = id.to_string();
    Ok(uploads
        .into_iter()
        .filter(|u| u.key == key && u.upload_id.starts_with(FILE_UPLOAD_PREFIX))
        .max_by_key(|u| u.created_at))
}

async fn create_upload(app: &App, d: &Declared) -> Result<String, ApiError> {
    let bucket = app.config.s3.bucket.clone();
    let upload = MultipartUpload {
        upload_id: format!("{FILE_UPLOAD_PREFIX}{}", crate::random::hex(16)),
        bucket: bucket.clone(),
        key: d.id.to_string(),
        content_type: d.content_type.clone(),
        meta: ObjectMeta::default(),
        created_at: app.now_unix(),
    };
    let upload_id = upload.upload_id.clone();
    let now = app.now_unix();
    // The upload bucket is made at start-up, but an S3 client may have
    // deleted it while empty.
    let created = app
        .db(move |db| {
            db.create_bucket(&bucket, now)?;
            db.create_multipart(&upload)
        })
        .await?;
    if !created {
        return Err(ApiError::Internal(Internal::Other(
            "the upload bucket vanished while a part-wise upload was created".into(),
        )));
    }
    Ok(upload_id)
}

/// Completes file `rec` from its part-wise upload, if it has one (`None`:
/// it has none, the caller answers as for a missing PUT, or as stored).
/// A pending file gets its bytes; a stored one whose blob is damaged or
/// missing (presign asked for the bytes again) gets its blob healed. The
/// parts of a stored file whose blob is intact are not needed: they go.
pub async fn finish(app: &App, rec: FileRecord) -> Result<Option<FileRecord>, ApiError> {
    let Some(upload) = open_upload(app, &rec.id).await? else {
        return Ok(None);
    };
    // One completion of this file at a time (a retried complete, or two
    // clients of the same folder, would each copy the whole file; the
    // loser would then find its parts gone). The next one finds it done.
    let _completing = app.completion_lock(&rec.id).await;
    // Registered, so the sweep of expired pending rows leaves this one be
    // while its parts are put together.
    let _in_flight = app.begin_upload(rec.id).await;
    let id = rec.id;
    let healing = rec.status.has_bytes();
    match app.db(move |db| db.get(&id)).await? {
        Some(r) if healing && r.status.has_bytes() && r.sha256 == rec.sha256 => {
            if intact(app, r.sha256, r.size).await? {
                discard(app, &upload.upload_id).await;
                return Ok(None);
            }
        }
        Some(r) if !healing && r.status == Status::Completed && r.sha256 == rec.sha256 => {
            return Ok(Some(r))
        }
        Some(r) if !healing && r.status == Status::Pending => {}
        _ => {
            return Err(ApiError::Conflict(format!(
                "the upload of id {id} was withdrawn; ask POST \
                 /api/inspect/v1/file/upload/parts again, then complete"
            )))
        }
    }
    let Some(upload) = open_upload(app, &rec.id)
        .await?
        .filter(|u| u.upload_id == upload.upload_id)
    else {
        return Err(ApiError::Conflict(format!(
            "the part-wise upload of id {id} ended meanwhile; ask POST \
             /api/inspect/v1/file/upload/parts again, then complete"
        )));
    };
    // An S3 client's object under a pending file's key refuses the file
    // at commit; say so before the whole file is copied together. (The
    // commit decides.)
    let (b, k) = (app.config.s3.bucket.clone(), id.to_string());
    if !healing && app.db(move |db| db.get_object(&b, &k)).await?.is_some() {
        return Err(presigned::occupied(app, &id));
    }
    let upload_id = upload.upload_id;
    let uid = upload_id.clone();
    let stored = app.db(move |db| db.list_parts(&uid, 0, 10_000)).await?;
    let stored = covering(&rec, &stored)?;

    let Assembled { staged, blob, .. } = app.storage.assemble(stored).await?;
    let digest = blob.sha256;
    if digest != rec.sha256 {
        // Every part matched what its sender declared, yet together they
        // are not the declared file: the client is confused (or the file
        // changed). Keeping the parts would only make it skip them again.
        drop(staged);
        discard(app, &upload_id).await;
        let b64 = |d: &Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
        return Err(ApiError::BadDigest(format!(
            "the parts uploaded for id {} put together have SHA-256 {}, not the declared {}; \
             nothing was stored and the parts were discarded. Check that the file did not \
             change during the upload, then upload it again.",
            rec.id,
            b64(&digest),
            b64(&rec.sha256)
        )));
    }
    let assembled: Vec<(u32, Digest)> = stored.iter().map(|p| (p.part_number, p.sha256)).collect();
    let (bucket, now) = (app.config.s3.bucket.clone(), app.now_unix());
    let lock = app.blob_lock(&digest).await;
    staged.commit(&digest).await?;
    crate::failpoint::after_publish().await;
    let outcome = app
        .db(move |db| db.complete_file_parts(&upload_id, &assembled, &id, &blob, &bucket, now))
        .await;
    drop(lock);
    match outcome {
        Ok(FilePartsOutcome::Completed { record, released }) => {
            for d in released {
                app.release_after_failure(d).await;
            }
            Ok(Some(record))
        }
        Ok(FilePartsOutcome::Occupied) => {
            // The parts stay: should the operator remove that object, a
            // complete of this id goes through.
            app.release_after_failure(digest).await;
            Err(presigned::occupied(app, &id))
        }
        Ok(lost) => {
            app.release_after_failure(digest).await;
            // A concurrent complete may have won: then its answer is ours.
            let row = app.db(move |db| db.get(&id)).await?;
            match row {
                Some(r) if r.status == Status::Completed && r.sha256 == rec.sha256 => Ok(Some(r)),
                _ => Err(ApiError::Conflict(format!(
                    "the parts of id {id} changed while they were put together ({}); ask \
                     POST /api/inspect/v1/file/upload/parts again, send what it lists as \
                     missing, then complete",
                    match lost {
                        FilePartsOutcome::PartsChanged => "a part was sent again",
                        FilePartsOutcome::NoSuchUpload => "the upload ended",
                        _ => "the file is no longer pending",
                    }
                ))),
            }
        }
        Err(e) => {
            app.release_after_failure(digest).await;
            Err(e)
        }
    }
}

/// The parts that make the file: 1, 2, … with no gap, every one but the
/// last at least S3's minimum, together exactly the declared size. Parts
/// numbered beyond that are left out (a client that asked again with
/// another `partSize` has fewer, larger parts; the old tail is dropped
/// with the upload).
fn covering<'a>(rec: &FileRecord, stored: &'a [PartRecord]) -> Result<&'a [PartRecord], ApiError> {
    let missing = |what: String| {
        ApiError::Conflict(format!(
            "not every part of id {} has arrived: {what}; ask POST \
             /api/inspect/v1/file/upload/parts for the list, send the missing parts, then \
             complete again",
            rec.id
        ))
    };
    let mut total = 0u64;
    let mut count = 0;
    for (i, p) in stored.iter().enumerate() {
        if total == rec.size && i > 0 {
            break;
        }
        if p.part_number as usize != i + 1 {
            return Err(missing(format!("part {} is missing", i + 1)));
        }
        total += p.size;
        count = i + 1;
        if total > rec.size {
            break;
        }
    }
    if total != rec.size {
        return Err(missing(format!(
            "{count} parts hold {total} of its {} bytes",
            rec.size
        )));
    }
    let parts = &stored[..count];
    if let Some(small) = parts
        .iter()
        .take(count.saturating_sub(1))
        .find(|p| p.size < MIN_PART)
    {
        return Err(ApiError::EntityTooSmall(format!(
            "part {} is {} bytes; every part but the last must be at least {MIN_PART}",
            small.part_number, small.size
        )));
    }
    Ok(parts)
}

/// Ends an upload whose parts cannot make the file, freeing their blobs.
async fn discard(app: &App, upload_id: &str) {
    let id = upload_id.to_string();
    if let Ok(Some(blobs)) = app.db(move |db| db.abort_multipart(&id)).await {
        for d in blobs {
            app.release_after_failure(d).await;
        }
    }
}
