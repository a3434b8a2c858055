//! `POST /api/inspect/v1/file/upload/presigned` and `…/upload/complete`.
//!
//! Owns the answers 201 / 200 / 409 (the declaration itself is checked and
//! recorded by `declare.rs`). It never stores bytes: those arrive through
//! the presigned URL (`api/presigned.rs`). 200
//! ("already stored") is said only of intact bytes the upload API itself
//! holds as a file; whether that is so is the storage service's decision
//! (`Storage::presign`), in the transaction that records the declaration.
//!
//! The scope `upload` lets a client send files, not read them: its answers
//! never carry what only `read` shows (another declaration's size or type,
//! a stored file's name, hash or download URL). Ids are not secrets (the
//! client derives them from a file's hash, size and name), so an upload
//! token may well hold the id of a file it never sent.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::declare::{already_stored, declare, Declaration};
use super::request::{parse_id, read_json_object};
use super::{files, parts};
use crate::api::body::{json, Body};
use crate::api::error::ApiError;
use crate::api::{auth, presigned};
use crate::app::App;
use crate::index::FileRecord;
use crate::storage::files::CompleteOutcome;
use crate::tokens;

pub async fn presign(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (d, (), outcome) = declare(app, req, |_, _| Ok(())).await?;
    match outcome {
        Declaration::NeedsUpload => {
            let url = presigned::presign_put_url(app, &d, app.clock.now());
            Ok(json(
                StatusCode::CREATED,
                serde_json::json!({"data": {"presignedURL": url, "id": d.id.to_string()}}),
            ))
        }
        Declaration::AlreadyStored => Ok(already_stored(&d)),
    }
}

/// `POST …/upload/complete`: 200 once the file is stored and completed.
/// The answer is the file's record (with its download URL) for a token
/// that may read files; for an upload-only token, only the id and status:
/// completing an id must not become a way to read the file behind it.
pub async fn complete(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let token = auth::require_token(app, &parts, "upload").await?;
    let may_read = tokens::allows(&token.scopes, "read");
    let answer = |rec: &FileRecord| {
        let data = if may_read {
            files::record_json(app, rec)
        } else {
            files::receipt_json(rec)
        };
        json(StatusCode::OK, serde_json::json!({ "data": data }))
    };
    let obj = read_json_object(body).await?;
    let id = parse_id(&obj)?;
    match app.storage.complete_file(id).await? {
        CompleteOutcome::Completed(rec) => Ok(answer(&rec)),
        CompleteOutcome::NotFound => Err(ApiError::NotFound(format!(
            "no file with id {id}; request a presigned URL for it first"
        ))),
        CompleteOutcome::NotUploaded => Err(ApiError::Conflict(format!(
            "no verified bytes have arrived for id {id} yet; PUT the file to its presigned URL \
             (ask for a new one if it expired), then call complete again"
        ))),
        CompleteOutcome::Parts(why) => Err(parts::refusal(app, &id, why)),
    }
}
