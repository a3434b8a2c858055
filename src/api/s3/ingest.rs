//! Receiving an object body: stream it into a staged blob while computing
//! every digest the request must be checked against, never holding it in
//! memory.
//!
//! Owns the body loop shared by every write (the upload API's PUT, S3
//! PutObject, and later UploadPart). It must never commit: the caller
//! compares the digests with what the client declared first, and only then
//! calls `StagedBlob::commit`.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::api::ApiError;
use crate::app::App;
use crate::db::BlobInfo;
use crate::store::{Digest, StagedBlob};

/// How long a body may stall before the upload is abandoned (and its
/// staged bytes removed): a stalled field link must not hold a temp file
/// forever.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A fully received body, staged but not yet committed.
pub struct Received {
    pub staged: Box<dyn StagedBlob>,
    pub blob: BlobInfo,
}

impl Received {
    pub fn sha256(&self) -> Digest {
        self.blob.sha256
    }
}

/// Streams exactly `length` bytes of `body` into a new staged blob,
/// computing SHA-256 and MD5 on the way.
pub async fn receive(app: &App, mut body: Incoming, length: u64) -> Result<Received, ApiError> {
    let mut staged = app.store.stage().await?;
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut received: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
            Err(_) => {
                return Err(ApiError::IncompleteBody(format!(
                    "no data arrived for {} s after {received} of {length} bytes; nothing was \
                     stored, retry the upload",
                    BODY_IDLE_TIMEOUT.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(_))) => {
                return Err(ApiError::IncompleteBody(format!(
                    "the body ended after {received} of {length} bytes; nothing was stored, \
                     retry the upload"
                )))
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers: none are expected on a plain body
        };
        received += data.len() as u64;
        if received > length {
            return Err(ApiError::EntityTooLarge(format!(
                "the body is longer than the {length} bytes declared; nothing was stored"
            )));
        }
        sha.update(&data);
        md5.update(&data);
        staged.write(&data).await?;
    }
    if received != length {
        return Err(ApiError::IncompleteBody(format!(
            "the body ended after {received} of {length} bytes; nothing was stored, retry the \
             upload"
        )));
    }
    Ok(Received {
        staged,
        blob: BlobInfo {
            sha256: Digest(sha.finalize().into()),
            size: length,
            md5: Some(md5.finalize().into()),
        },
    })
}

/// The request's Content-Length; S3 requires one on every write.
pub fn content_length(parts: &http::request::Parts) -> Result<u64, ApiError> {
    let Some(v) = parts.headers.get(http::header::CONTENT_LENGTH) else {
        return Err(ApiError::MissingContentLength);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into()))
}
