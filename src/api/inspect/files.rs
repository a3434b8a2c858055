//! `GET /api/inspect/v1/file/{id}` and `GET …/files`: what the index knows
//! of files, and for completed ones a presigned download URL — to tokens
//! with the `read` scope. Also the JSON forms of a file that other answers
//! share: the whole record (for readers) and the receipt an upload-only
//! client gets.

use base64::Engine;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::body::{json, Body};
use crate::api::error::ApiError;
use crate::api::{auth, presigned};
use crate::app::App;
use crate::index::{Cursor, FileRecord, ObjectRecord, Status};
use crate::storage::files::FileView;

pub async fn get(
    app: &App,
    req: Request<Incoming>,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let (parts, _) = req.into_parts();
    auth::require(app, &parts, "read").await?;
    let id = Uuid::try_parse(raw_id)
        .ok()
        .filter(|_| raw_id.len() == 36)
        .ok_or_else(|| ApiError::BadRequest("the file id in the path must be a UUID".into()))?;
    // An object an S3 client stored under this id in the upload bucket is
    // the same kind of thing: one namespace, seen through either surface.
    match app.storage.file_view(id).await? {
        Some(FileView::File(rec)) => Ok(json(
            StatusCode::OK,
            serde_json::json!({"data": record_json(app, &rec)}),
        )),
        Some(FileView::Object(obj)) => Ok(json(
            StatusCode::OK,
            serde_json::json!({"data": object_json(app, &id, &obj)}),
        )),
        None => Err(ApiError::NotFound(format!("no file with id {id}"))),
    }
}

/// The API's view of an object written through S3 under a UUID key: it is
/// stored and verified, so `completed`.
fn object_json(app: &App, id: &Uuid, obj: &ObjectRecord) -> Value {
    let when = rfc3339(Some(obj.last_modified));
    serde_json::json!({
        "id": id.to_string(),
        "fileName": obj.key,
        "contentType": obj.content_type,
        "size": obj.size,
        "hash": base64::engine::general_purpose::STANDARD.encode(obj.sha256.0),
        "status": Status::Completed.as_str(),
        "createdAt": when,
        "uploadedAt": when,
        "completedAt": when,
        "downloadURL": presigned::presign_get_url(app, id, app.clock.now()),
    })
}

fn rfc3339(unix: Option<i64>) -> Value {
    unix.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// The JSON form of a record, shared by complete and get.
pub fn record_json(app: &App, rec: &FileRecord) -> Value {
    let mut v = serde_json::json!({
        "id": rec.id.to_string(),
        "fileName": rec.file_name,
        "contentType": rec.content_type,
        "size": rec.size,
        "hash": base64::engine::general_purpose::STANDARD.encode(rec.sha256.0),
        "status": rec.status.as_str(),
        "createdAt": rfc3339(Some(rec.created_at)),
        "uploadedAt": rfc3339(rec.uploaded_at),
        "completedAt": rfc3339(rec.completed_at),
    });
    if rec.status == Status::Completed {
        v["downloadURL"] = Value::String(presigned::presign_get_url(app, &rec.id, app.clock.now()));
    }
    v
}

/// What an upload-only client is told of a file it completed: that it is
/// stored, and nothing a reader would see (see `upload::complete`).
pub fn receipt_json(rec: &FileRecord) -> Value {
    serde_json::json!({
        "id": rec.id.to_string(),
        "status": rec.status.as_str(),
    })
}

/// Files in a page of the listing, unless the client asks for fewer.
const PAGE_DEFAULT: usize = 50;
/// The most one page may hold.
const PAGE_MAX: usize = 1000;

/// `GET /api/inspect/v1/files?limit=N&cursor=C`: files newest first, with
/// download links for the completed ones; `nextCursor` fetches the next
/// page (null on the last).
pub async fn list(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, _) = req.into_parts();
    auth::require(app, &parts, "read").await?;
    let q = crate::api::query::Query::parse(parts.uri.query().unwrap_or(""))?;
    let limit = match q.get("limit") {
        None => PAGE_DEFAULT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be a whole number from 1 to {PAGE_MAX}"))
            })?,
    };
    let cursor = q
        .get("cursor")
        .map(|v| {
            Cursor::from_token(v).ok_or_else(|| {
                ApiError::BadRequest(
                    "cursor is not one this API gave; use nextCursor from the previous page".into(),
                )
            })
        })
        .transpose()?;
    let (files, next) = app.storage.list_files(cursor, limit).await?;
    let data: Vec<Value> = files.iter().map(|f| record_json(app, f)).collect();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({"data": data, "nextCursor": next.map(|n| n.token())}),
    ))
}
