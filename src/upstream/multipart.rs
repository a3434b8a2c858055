//! Multipart-upload calls: create, upload a part, complete, abort, and
//! the listing of uploads in progress (what a crashed gateway leaves, for
//! the cleaner to abort).
//!
//! An upload created here declares CRC32C (`x-amz-checksum-algorithm`):
//! AWS S3 refuses a part's checksum that its upload did not declare, and
//! then wants each part's checksum again in the completion, which Garage
//! checks against what it recorded for the part.
//!
//! Must never: let a completion that failed inside a 200 pass as done.

use futures_util::stream::BoxStream;
use http::{header, Method};

use super::body::Body;
use super::client::{Call, Client};
use super::error::UpstreamError;
use super::model::{Integrity, Part, PendingUpload};
use super::xml;

/// S3's part numbers: 1 to 10,000.
pub const MAX_PARTS: u32 = 10_000;

impl Client {
    /// Begins a multipart upload of `key`; its upload id. Nothing is
    /// visible under `key` until [`Client::complete_multipart`].
    pub async fn create_multipart(&self, key: &str) -> Result<String, UpstreamError> {
        let call = Call::bare(Method::POST, Some(key))
            .query("uploads", "")
            .header("x-amz-checksum-algorithm", "CRC32C");
        let (_, doc) = self.call_ok(call).await?;
        xml::upload_id(&doc).map_err(UpstreamError::Protocol)
    }

    /// Sends part `part_number` (1..=10000) of upload `upload_id`:
    /// exactly `content_length` bytes, checked by the store against
    /// `integrity` (give [`Integrity::Crc32c`]: the upload declared it).
    /// The receipt to complete the upload with.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Body,
        content_length: u64,
        integrity: Integrity,
    ) -> Result<Part, UpstreamError> {
        if !(1..=MAX_PARTS).contains(&part_number) {
            return Err(UpstreamError::Body(format!(
                "part number {part_number} is outside 1..={MAX_PARTS}"
            )));
        }
        let mut call = Call::bare(Method::PUT, Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id);
        call.body = body;
        call.length = content_length;
        call.payload_hash = integrity.payload_hash();
        if let Some((name, value)) = integrity.header() {
            call = call.header(name, value);
        }
        let (head, _) = self.call_ok(call).await?;
        let etag = head
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| UpstreamError::Protocol("an uploaded part without an ETag".into()))?;
        Ok(Part {
            number: part_number,
            etag: etag.trim().to_owned(),
            crc32c: match integrity {
                Integrity::Crc32c(c) => Some(c),
                _ => None,
            },
        })
    }

    /// Completes upload `upload_id` from `parts` (in ascending part
    /// order): the object appears under `key`, whole.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
    ) -> Result<(), UpstreamError> {
        let call = Call::bare(Method::POST, Some(key))
            .query("uploadId", upload_id)
            .small_body(xml::completion_body(parts));
        let (_, doc) = self.call_ok(call).await?;
        match xml::completion(&doc).map_err(UpstreamError::Protocol)? {
            xml::Completion::Done => Ok(()),
            // An error after the 200 was sent: S3's own advice is to treat
            // it by its code, as if it had been the status.
            xml::Completion::Failed(code) => Err(UpstreamError::from_refusal(500, &code)),
        }
    }

    /// Abandons upload `upload_id`, with every part sent for it.
    /// `NotFound` when there is no such upload (completed, aborted).
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), UpstreamError> {
        let call = Call::bare(Method::DELETE, Some(key)).query("uploadId", upload_id);
        self.call_ok(call).await?;
        Ok(())
    }

    /// The multipart uploads in progress under `prefix`, a page at a time
    /// (each page one request, made when the stream is polled).
    pub fn list_multipart_uploads(
        &self,
        prefix: &str,
    ) -> BoxStream<'static, Result<Vec<PendingUpload>, UpstreamError>> {
        let client = self.clone();
        let prefix = prefix.to_owned();
        super::list::pages(move |marker: Option<(String, String)>| {
            let (client, prefix) = (client.clone(), prefix.clone());
            async move {
                let mut call = Call::bare(Method::GET, None)
                    .query("uploads", "")
                    .query("prefix", prefix)
                    .query("max-uploads", client.list_page_size().to_string());
                if let Some((key, id)) = marker {
                    call = call.query("key-marker", key);
                    if !id.is_empty() {
                        call = call.query("upload-id-marker", id);
                    }
                }
                let (_, doc) = client.call_ok(call).await?;
                xml::upload_page(&doc).map_err(UpstreamError::Protocol)
            }
        })
    }
}
