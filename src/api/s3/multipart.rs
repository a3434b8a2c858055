//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts,
//! ListMultipartUploads.
//!
//! Each part is received like any PUT (streamed, hashed, verified, then
//! committed as a blob of its own). Completion checks the client's part
//! list against what is stored, then streams the parts in order into one
//! new staged blob — never holding the object in memory — and records the
//! object and forgets the parts in one transaction, so the object appears
//! whole or not at all.

use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::auth::Authenticated;
use super::object::{echo_checksums, meta_from, verify_digests};
use super::router::CopySource;
use super::xml::{self, timestamp, Xml, XmlEvent};
use super::{bucket, empty, ingest, xml_response, Query};
use crate::api::{ApiError, Body, Internal};
use crate::app::App;
use crate::index::{
    BlobInfo, CompleteMultipartOutcome, MultipartUpload, ObjectMeta, ObjectRecord, PartRecord,
    PutPartOutcome,
};
use crate::store::{self, Digest};

/// S3's smallest part, except the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Largest CompleteMultipartUpload body accepted (10,000 parts fit easily).
const MAX_COMPLETE_BODY: usize = 2 * 1024 * 1024;

/// The upload `upload_id`, which must belong to `bucket/key`.
async fn find_upload(
    app: &App,
    upload_id: &str,
    bucket: &str,
    key: &str,
) -> Result<MultipartUpload, ApiError> {
    let id = upload_id.to_string();
    app.db(move |db| db.get_multipart(&id))
        .await?
        .filter(|u| u.bucket == bucket && u.key == key)
        .ok_or(ApiError::NoSuchUpload)
}

/// Where a part goes: part `number` (1..=10000, checked by the router) of
/// upload `upload_id` of `bucket/key`.
pub struct PartTarget<'a> {
    pub upload_id: &'a str,
    pub number: u32,
    pub bucket: &'a str,
    pub key: &'a str,
}

impl<'a> PartTarget<'a> {
    pub fn new(upload_id: &'a str, number: u32, bucket: &'a str, key: &'a str) -> Self {
        PartTarget {
            upload_id,
            number,
            bucket,
            key,
        }
    }

    /// Errors unless the upload exists for this bucket and key.
    async fn check(&self, app: &App) -> Result<(u32, String), ApiError> {
        find_upload(app, self.upload_id, self.bucket, self.key).await?;
        Ok((self.number, self.upload_id.to_string()))
    }
}

/// Records a committed part whose blob lock `lock` the caller holds, then
/// (lock dropped: blob locks are not re-entrant) frees what it replaced, or
/// the part itself if the upload was completed or aborted meanwhile.
async fn record_part<G>(
    app: &App,
    lock: G,
    upload_id: String,
    part: PartRecord,
    blob: BlobInfo,
    inline: Option<bytes::Bytes>,
) -> Result<(), ApiError> {
    let digest = blob.sha256;
    let outcome = app
        .db(move |db| db.put_part(&upload_id, &part, &blob, inline.as_deref()))
        .await;
    drop(lock);
    match outcome {
        Ok(PutPartOutcome::Stored { replaced }) => {
            if let Some(old) = replaced {
                app.release_after_failure(old).await;
            }
            Ok(())
        }
        Ok(PutPartOutcome::NoSuchUpload) => {
            app.release_after_failure(digest).await;
            Err(ApiError::NoSuchUpload)
        }
        Err(e) => {
            app.release_after_failure(digest).await;
            Err(e)
        }
    }
}

pub async fn create(
    app: &App,
    parts: &Parts,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    super::object::precheck_written_once(app, bucket_name, key).await?;
    let upload = MultipartUpload {
        upload_id: crate::random::hex(16),
        bucket: bucket_name.to_string(),
        key: key.to_string(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("binary/octet-stream")
            .to_string(),
        meta: meta_from(&parts.headers)?,
        created_at: app.now_unix(),
    };
    let id = upload.upload_id.clone();
    let u = upload.clone();
    if !app.db(move |db| db.create_multipart(&u)).await? {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    let mut x = Xml::new("InitiateMultipartUploadResult");
    x.elem("Bucket", bucket_name)
        .elem("Key", key)
        .elem("UploadId", &id);
    Ok(xml_response(
        StatusCode::OK,
        x.finish("InitiateMultipartUploadResult"),
    ))
}

pub async fn upload_part(
    app: &App,
    auth: &Authenticated,
    parts: Parts,
    body: Incoming,
    target: PartTarget<'_>,
) -> Result<Response<Body>, ApiError> {
    let (number, upload_id) = target.check(app).await?;
    let spec = ingest::BodySpec::from_request(auth, &parts)?;
    let length = spec.length;
    // A part URL of the upload API is good for exactly its part's size.
    crate::api::presigned::check_part_length(auth, length)?;
    if length > MAX_PART {
        return Err(ApiError::EntityTooLarge(format!(
            "a part may be at most {MAX_PART} bytes; this one is {length}"
        )));
    }
    let received = ingest::receive(app, body, spec).await?;
    verify_digests(auth, &parts, &received.blob)?;
    let checksums = received.checksums.clone();
    let blob = received.blob;
    let md5 = blob.md5.unwrap_or_default();
    let part = PartRecord {
        part_number: number,
        sha256: blob.sha256,
        size: length,
        md5,
        last_modified: app.now_unix(),
    };
    let lock = app.blob_lock(&blob.sha256).await;
    let inline = received.payload.publish(&blob.sha256).await?;
    record_part(app, lock, upload_id, part, blob, inline).await?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", hex::encode(md5))) {
        r.headers_mut().insert(header::ETAG, v);
    }
    echo_checksums(r.headers_mut(), &checksums);
    Ok(r)
}

/// UploadPartCopy: a part taken from an existing object, whole (sharing its
/// blob, no bytes copied) or a byte range of it (`x-amz-copy-source-range`,
/// streamed into a new blob).
pub async fn upload_part_copy(
    app: &App,
    parts: &Parts,
    source: &CopySource,
    target: PartTarget<'_>,
) -> Result<Response<Body>, ApiError> {
    let (number, upload_id) = target.check(app).await?;
    let (sb, sk) = (source.bucket.clone(), source.key.clone());
    let src = super::copy::source_object(app, &sb, &sk).await?;
    let (start, len) = match parts
        .headers
        .get("x-amz-copy-source-range")
        .and_then(|v| v.to_str().ok())
    {
        None => (0, src.size),
        Some(v) => {
            let bad = || {
                ApiError::InvalidArgument(format!(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last \
                     where first and last are within the object's {} bytes",
                    src.size
                ))
            };
            let (a, b) = v
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .ok_or_else(bad)?;
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b || b >= src.size {
                return Err(bad());
            }
            (a, b - a + 1)
        }
    };
    // The source's own lock, then a re-read: a concurrent delete of the
    // source cannot free its bytes while we take or open them.
    let src_lock = app.blob_lock(&src.sha256).await;
    let (b, k) = (sb, sk);
    let still = app.db(move |db| db.get_object(&b, &k)).await?;
    if still.map(|o| o.sha256) != Some(src.sha256) {
        return Err(ApiError::Conflict(
            "the copy source changed while it was being copied; retry".into(),
        ));
    }
    let plain_md5 = (!src.etag.contains('-'))
        .then(|| {
            let mut m = [0u8; 16];
            hex::decode_to_slice(&src.etag, &mut m).ok().map(|_| m)
        })
        .flatten();
    let (blob, lock) = match plain_md5 {
        // The whole of a single-part object: the part is its blob itself.
        Some(md5) if start == 0 && len == src.size => (
            BlobInfo {
                sha256: src.sha256,
                size: src.size,
                md5: Some(md5),
            },
            src_lock,
        ),
        // Otherwise stream the range into a blob of its own.
        _ => {
            let mut reader = app
                .open_blob(&src.sha256, src.size, start, len)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(Internal::Other("copy source blob missing".into()))
                })?;
            drop(src_lock); // an open file (or inline bytes read) stays readable
            let mut staged = app.store.stage().await?;
            let (mut sha, mut md5) = (Sha256::new(), Md5::new());
            store::pump(&mut reader, Some(&mut staged), |b| {
                sha.update(b);
                md5.update(b);
            })
            .await?;
            let blob = BlobInfo {
                sha256: Digest(sha.finalize().into()),
                size: len,
                md5: Some(md5.finalize().into()),
            };
            let lock = app.blob_lock(&blob.sha256).await;
            staged.commit(&blob.sha256).await?;
            (blob, lock)
        }
    };
    let md5 = blob.md5.unwrap_or_default();
    let now = app.now_unix();
    let part = PartRecord {
        part_number: number,
        sha256: blob.sha256,
        size: blob.size,
        md5,
        last_modified: now,
    };
    record_part(app, lock, upload_id, part, blob, None).await?;
    let mut x = Xml::new("CopyPartResult");
    x.elem("LastModified", &timestamp(now))
        .elem("ETag", &format!("\"{}\"", hex::encode(md5)));
    Ok(xml_response(StatusCode::OK, x.finish("CopyPartResult")))
}

/// The (part number, ETag) list of a CompleteMultipartUpload body.
fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, ApiError> {
    let mut out = Vec::new();
    let (mut number, mut etag): (Option<u32>, Option<String>) = (None, None);
    xml::read(body, |event| {
        match event {
            XmlEvent::Text {
                element: "PartNumber",
                text,
            } => {
                number = Some(
                    text.trim()
                        .parse()
                        .map_err(|_| xml::malformed("bad PartNumber"))?,
                )
            }
            XmlEvent::Text {
                element: "ETag",
                text,
            } => etag = Some(text.trim().trim_matches('"').to_string()),
            XmlEvent::End { element: "Part" } => match (number.take(), etag.take()) {
                (Some(n), Some(t)) => out.push((n, t)),
                _ => return Err(xml::malformed("each Part needs a PartNumber and an ETag")),
            },
            _ => {}
        }
        Ok(())
    })?;
    if out.is_empty() {
        return Err(xml::malformed("no Part elements"));
    }
    Ok(out)
}

pub async fn complete(
    app: &App,
    parts: &Parts,
    body: Incoming,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let upload = match find_upload(app, upload_id, bucket_name, key).await {
        Ok(found) => found,
        Err(ApiError::NoSuchUpload) => {
            return repeat_completion(app, upload_id, bucket_name, key).await
        }
        Err(e) => return Err(e),
    };
    let upload_id = upload_id.to_string();
    let xml = super::ingest::read_xml_body(parts, body, MAX_COMPLETE_BODY, "part list").await?;
    let cond = super::object::write_condition(&parts.headers)?;
    super::object::precheck_condition(app, &cond, bucket_name, key).await?;
    let wanted = parse_complete(&xml)?;
    if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ApiError::InvalidPartOrder);
    }
    let id = upload_id.clone();
    let stored = app.db(move |db| db.list_parts(&id, 0, 10_000)).await?;
    // Every listed part must exist with its ETag before sizes are judged.
    // `stored` is in part-number order: a search per listed part, so a
    // list of 10,000 costs no more than reading it.
    let mut chosen: Vec<PartRecord> = Vec::with_capacity(wanted.len());
    for (n, etag) in &wanted {
        let part = stored
            .binary_search_by_key(n, |p| p.part_number)
            .ok()
            .map(|i| &stored[i])
            .filter(|p| hex::encode(p.md5) == *etag)
            .ok_or_else(|| {
                ApiError::InvalidPart(format!(
                    "One or more of the specified parts could not be found: part {n} with ETag \
                     \"{etag}\" was not uploaded, or its ETag differs"
                ))
            })?;
        chosen.push(part.clone());
    }
    if let Some(small) = chosen[..chosen.len() - 1]
        .iter()
        .find(|p| p.size < MIN_PART)
    {
        return Err(ApiError::EntityTooSmall(format!(
            "Your proposed upload is smaller than the minimum allowed size: part {} is {} \
             bytes; every part but the last must be at least {MIN_PART}",
            small.part_number, small.size
        )));
    }

    let crate::storage::Assembled { staged, blob, etag } = app.storage.assemble(&chosen).await?;
    let digest = blob.sha256;
    let size = blob.size;
    let record = ObjectRecord {
        bucket: bucket_name.to_string(),
        key: key.to_string(),
        sha256: digest,
        size,
        etag: etag.clone(),
        content_type: upload.content_type,
        meta: ObjectMeta {
            parts: Some(chosen.len() as u32),
            ..upload.meta
        },
        last_modified: app.now_unix(),
    };
    let assembled: Vec<(u32, Digest)> = chosen.iter().map(|p| (p.part_number, p.sha256)).collect();
    let lock = app.blob_lock(&digest).await;
    staged.commit(&digest).await?;
    crate::failpoint::after_publish().await;
    let files_bucket = app.config.s3.bucket.clone();
    let outcome = app
        .db(move |db| {
            db.complete_multipart(&upload_id, &assembled, &record, &blob, &cond, &files_bucket)
        })
        .await;
    drop(lock);
    match outcome {
        Ok(CompleteMultipartOutcome::Completed { released }) => {
            for d in released {
                app.release_after_failure(d).await;
            }
        }
        Ok(CompleteMultipartOutcome::NoSuchUpload) => {
            app.release_after_failure(digest).await;
            return Err(ApiError::NoSuchUpload);
        }
        Ok(CompleteMultipartOutcome::ConditionFailed(f)) => {
            // Another writer got there first; the upload stays open.
            app.release_after_failure(digest).await;
            return Err(super::object::condition_failed_at_commit(f));
        }
        Ok(CompleteMultipartOutcome::WrittenOnce) => {
            // The upload stays open, as for a failed condition: the client
            // aborts it to free its parts.
            app.release_after_failure(digest).await;
            return Err(super::object::written_once(bucket_name, key));
        }
        Ok(CompleteMultipartOutcome::PartsChanged) => {
            app.release_after_failure(digest).await;
            return Err(ApiError::InvalidPart(
                "a part was uploaded again while the upload was being completed; list the \
                 parts and retry"
                    .into(),
            ));
        }
        Err(e) => {
            app.release_after_failure(digest).await;
            return Err(e);
        }
    }
    Ok(completion_result(app, bucket_name, key, &etag))
}

/// A retried CompleteMultipartUpload of an upload that already completed
/// gets the same answer while the object still has that ETag.
async fn repeat_completion(
    app: &App,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let id = upload_id.to_string();
    let Some((b, k, etag)) = app.db(move |db| db.completed_upload(&id)).await? else {
        return Err(ApiError::NoSuchUpload);
    };
    if b != bucket_name || k != key {
        return Err(ApiError::NoSuchUpload);
    }
    let current = app
        .db(move |db| db.get_object(&b, &k))
        .await?
        .map(|o| o.etag);
    if current.as_deref() != Some(etag.as_str()) {
        return Err(ApiError::NoSuchUpload);
    }
    Ok(completion_result(app, bucket_name, key, &etag))
}

fn completion_result(app: &App, bucket_name: &str, key: &str, etag: &str) -> Response<Body> {
    let mut x = Xml::new("CompleteMultipartUploadResult");
    x.elem(
        "Location",
        &format!("{}/{bucket_name}/{key}", app.public_url.base),
    )
    .elem("Bucket", bucket_name)
    .elem("Key", key)
    .elem("ETag", &format!("\"{etag}\""));
    xml_response(StatusCode::OK, x.finish("CompleteMultipartUploadResult"))
}

pub async fn abort(
    app: &App,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    find_upload(app, upload_id, bucket_name, key).await?;
    let upload_id = upload_id.to_string();
    let blobs = app
        .db(move |db| db.abort_multipart(&upload_id))
        .await?
        .ok_or(ApiError::NoSuchUpload)?;
    for d in blobs {
        app.release_blob(d).await?;
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn list_parts(
    app: &App,
    q: &Query,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    find_upload(app, upload_id, bucket_name, key).await?;
    let upload_id = upload_id.to_string();
    let marker: u32 = q
        .get("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = q
        .get("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let id = upload_id.clone();
    let mut parts = app
        .db(move |db| db.list_parts(&id, marker, max + 1))
        .await?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    let mut x = Xml::new("ListPartsResult");
    x.elem("Bucket", bucket_name)
        .elem("Key", key)
        .elem("UploadId", &upload_id)
        .elem("PartNumberMarker", &marker.to_string())
        .elem("MaxParts", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" })
        .elem("StorageClass", "STANDARD");
    if let Some(last) = parts.last() {
        x.elem("NextPartNumberMarker", &last.part_number.to_string());
    }
    for p in &parts {
        x.open("Part")
            .elem("PartNumber", &p.part_number.to_string())
            .elem("LastModified", &timestamp(p.last_modified))
            .elem("ETag", &format!("\"{}\"", hex::encode(p.md5)))
            .elem("Size", &p.size.to_string())
            .close("Part");
    }
    Ok(xml_response(StatusCode::OK, x.finish("ListPartsResult")))
}

pub async fn list_uploads(
    app: &App,
    q: &Query,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let key_marker = q.get("key-marker").unwrap_or("").to_string();
    let id_marker = q.get("upload-id-marker").unwrap_or("").to_string();
    let max: usize = q
        .get("max-uploads")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let (b, p, k, i) = (
        bucket_name.to_string(),
        prefix.clone(),
        key_marker.clone(),
        id_marker.clone(),
    );
    let mut uploads = app
        .db(move |db| db.list_multipart(&b, &p, &k, &i, max + 1))
        .await?;
    let truncated = uploads.len() > max;
    uploads.truncate(max);
    let mut x = Xml::new("ListMultipartUploadsResult");
    x.elem("Bucket", bucket_name)
        .elem("KeyMarker", &key_marker)
        .elem("UploadIdMarker", &id_marker)
        .elem("Prefix", &prefix)
        .elem("MaxUploads", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" });
    if let Some(last) = uploads.last() {
        x.elem("NextKeyMarker", &last.key)
            .elem("NextUploadIdMarker", &last.upload_id);
    }
    for u in &uploads {
        x.open("Upload")
            .elem("Key", &u.key)
            .elem("UploadId", &u.upload_id)
            .elem("Initiated", &timestamp(u.created_at))
            .elem("StorageClass", "STANDARD")
            .close("Upload");
    }
    Ok(xml_response(
        StatusCode::OK,
        x.finish("ListMultipartUploadsResult"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_list_is_read_with_or_without_namespace_and_quotes() {
        let xml = br#"<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;bb&quot;</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(xml).unwrap(),
            vec![(1, "aa".to_string()), (2, "bb".to_string())]
        );
        assert!(matches!(
            parse_complete(b"<CompleteMultipartUpload/>"),
            Err(ApiError::MalformedXml(_))
        ));
        assert!(matches!(
            parse_complete(b"<Part><PartNumber>x</PartNumber>"),
            Err(ApiError::MalformedXml(_))
        ));
    }
}
