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
//! end of the upload are one transaction. All of that is the storage
//! service's (`storage/file_parts.rs`); this module parses and answers.
//!
//! The part list a client might send is never trusted: the parts are read
//! from the index and must cover the declared size. Only uploads the
//! storage service opened for files are used (their ids start with
//! [`FILE_UPLOAD_PREFIX`]): a multipart upload an S3 client opened on the
//! same key is not this file's, and neither its parts' hashes nor its
//! bytes are offered to the file's declarer.

use base64::Engine;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::presigned;
use super::s3::multipart::{MAX_PART, MIN_PART};
use super::upload::{already_stored, declare, Declaration};
use super::{json, ApiError, Body};
use crate::app::App;
use crate::storage::file_parts::{FilePartsUpload, PartsChange, PartsRefusal};
use crate::store::Digest;

pub use crate::storage::file_parts::FILE_UPLOAD_PREFIX;

/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// `POST /api/inspect/v1/file/upload/parts`: 201 with the upload's parts
/// (URL, size, and the hash of what the server holds), 200 if these bytes
/// are already stored, 409 if the id was used for another file.
pub async fn begin(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (d, part_size, outcome) = declare(app, req, |obj, d| parse_part_size(obj, d.size)).await?;
    if let Declaration::AlreadyStored = outcome {
        return Ok(already_stored(&d));
    }
    // Asked again: the same upload, still in use whatever its age.
    let FilePartsUpload {
        upload_id,
        parts: stored,
    } = app.storage.begin_file_parts(&d).await?;
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

/// The answer to a part-wise completion of file `id` that its parts could
/// not make.
pub fn refusal(app: &App, id: &Uuid, why: PartsRefusal) -> ApiError {
    let missing = |what: String| {
        ApiError::Conflict(format!(
            "not every part of id {id} has arrived: {what}; ask POST \
             /api/inspect/v1/file/upload/parts for the list, send the missing parts, then \
             complete again"
        ))
    };
    let b64 = |d: &Digest| base64::engine::general_purpose::STANDARD.encode(d.0);
    match why {
        PartsRefusal::Withdrawn => ApiError::Conflict(format!(
            "the upload of id {id} was withdrawn; ask POST \
             /api/inspect/v1/file/upload/parts again, then complete"
        )),
        PartsRefusal::Ended => ApiError::Conflict(format!(
            "the part-wise upload of id {id} ended meanwhile; ask POST \
             /api/inspect/v1/file/upload/parts again, then complete"
        )),
        PartsRefusal::Occupied => presigned::occupied(app, id),
        PartsRefusal::MissingPart(n) => missing(format!("part {n} is missing")),
        PartsRefusal::Short { parts, total, size } => {
            missing(format!("{parts} parts hold {total} of its {size} bytes"))
        }
        PartsRefusal::TooSmall { part, size } => ApiError::EntityTooSmall(format!(
            "part {part} is {size} bytes; every part but the last must be at least {MIN_PART}"
        )),
        PartsRefusal::Mismatch { got, declared } => ApiError::BadDigest(format!(
            "the parts uploaded for id {id} put together have SHA-256 {}, not the declared {}; \
             nothing was stored and the parts were discarded. Check that the file did not \
             change during the upload, then upload it again.",
            b64(&got),
            b64(&declared)
        )),
        PartsRefusal::Changed(what) => ApiError::Conflict(format!(
            "the parts of id {id} changed while they were put together ({}); ask \
             POST /api/inspect/v1/file/upload/parts again, send what it lists as \
             missing, then complete",
            match what {
                PartsChange::PartSentAgain => "a part was sent again",
                PartsChange::UploadEnded => "the upload ended",
                PartsChange::NotPending => "the file is no longer pending",
            }
        )),
    }
}
