//! What presign and the part-wise upload share: a declaration checked and
//! recorded. The `upload` scope, the per-token rate, every declared field
//! (`request.rs`), room on disk and the record itself (the storage
//! service's, in one transaction), and the refusals of an id already used
//! — worded so an upload-only token learns nothing of a file it may never
//! have seen.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::request::{parse_declared, read_json_object};
use crate::api::auth;
use crate::api::body::{json, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::{Declared, FileRecord};
use crate::storage::files::PresignOutcome;
use crate::tokens;

/// What a recorded declaration asks of the client.
pub enum Declaration {
    /// Send the bytes.
    NeedsUpload,
    /// Intact bytes are stored for this id: send nothing.
    AlreadyStored,
}

/// The 200 that tells a client these bytes are stored: send nothing.
pub fn already_stored(d: &Declared) -> Response<Body> {
    json(
        StatusCode::OK,
        serde_json::json!({"data": {"id": d.id.to_string()}}),
    )
}

/// What presign and the part-wise upload share: the `upload` scope, the
/// per-token rate, every declared field checked, room on disk (the storage
/// service's check), and the declaration recorded (or found already
/// stored; a conflict is the 409).
/// `extra` reads the caller's own fields, before anything is recorded.
pub async fn declare<T>(
    app: &App,
    req: Request<Incoming>,
    extra: impl FnOnce(&Map<String, Value>, &Declared) -> Result<T, ApiError>,
) -> Result<(Declared, T, Declaration), ApiError> {
    let (parts, body) = req.into_parts();
    let record = auth::require_token(app, &parts, "upload").await?;
    let may_read = tokens::allows(&record.scopes, "read");
    let token = record.name;
    if let Err(retry_after) = app.presign_throttle.take(&token, std::time::Instant::now()) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "token '{token}' asked for more than {} upload URLs per second; \
                 retry after {retry_after} s",
                app.config.limits.presign_per_token_per_sec
            ),
            retry_after,
        });
    }
    let obj = read_json_object(body).await?;
    let d = parse_declared(&obj, app.config.upload.max_size)?;
    let own = extra(&obj, &d)?;

    let now = app.clock.now();
    let url_expires_at = now.unix_timestamp() + app.config.upload.presign_expiry_secs as i64;
    let outcome = match app
        .storage
        .presign(&d, url_expires_at, app.config.upload.dedupe)
        .await?
    {
        PresignOutcome::NeedsUpload => Declaration::NeedsUpload,
        PresignOutcome::AlreadyStored => Declaration::AlreadyStored,
        PresignOutcome::Occupied => return Err(ApiError::Conflict(occupied(app, &d.id))),
        PresignOutcome::Redeclared(existing) => {
            return Err(ApiError::Conflict(redeclared(&existing, &d, may_read)))
        }
    };
    Ok((d, own, outcome))
}

/// The refusal of a declaration under an id whose key holds an object the
/// upload API did not write.
fn occupied(app: &App, id: &Uuid) -> String {
    format!(
        "id {id} is already used by an object written through the S3 API (bucket '{}', \
         key '{id}'), which the upload API never replaces; nothing was changed. Upload the \
         file under a new id",
        app.config.s3.bucket
    )
}

/// The refusal of a declaration under an id already declared for another
/// file. Only a client that may read files (and could look this one up)
/// is told how the stored declaration differs; to an upload-only client
/// the answer says nothing of a file it may never have seen.
fn redeclared(existing: &FileRecord, d: &Declared, may_read: bool) -> String {
    let id = d.id;
    if !may_read {
        return format!(
            "id {id} is already declared for another file (a different hash, size or \
             contentType); nothing was changed. Use a new id for a different file"
        );
    }
    let mut diffs = Vec::new();
    if existing.sha256 != d.sha256 {
        diffs.push("hash".to_string());
    }
    if existing.size != d.size {
        diffs.push(format!("size (stored {})", existing.size));
    }
    if existing.content_type != d.content_type {
        diffs.push(format!("contentType (stored '{}')", existing.content_type));
    }
    format!(
        "id {id} is already used for a file with a different {}; nothing was changed. Use \
         a new id for a different file",
        diffs.join(", ")
    )
}
