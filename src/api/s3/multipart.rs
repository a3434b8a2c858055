//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts,
//! ListMultipartUploads.
//!
//! Each part is received like any PUT (streamed, hashed, verified), then
//! committed by the storage service as a blob of its own. Completion hands
//! the client's part list to the storage service, which checks it against
//! what is stored, streams the parts in order into one new blob — never
//! holding the object in memory — and records the object and forgets the
//! parts in one transaction, so the object appears whole or not at all
//! (`crate::storage::multipart`).
//!
//! These handlers parse and render: they never touch a lock, the index or
//! the blob store.

use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::object::{echo_checksums, meta_from, verify_digests};
use super::part_checksums;
use super::router::CopySource;
use super::xml::{self, timestamp, Xml, XmlEvent};
use crate::api::body::Body;
use crate::api::body::{empty, xml_response};
use crate::api::error::ApiError;
use crate::api::ingest;
use crate::api::query::Query;
use crate::api::sigauth::Authenticated;
use crate::app::App;
use crate::index::{MultipartUpload, ObjectMeta};
use crate::sigv4::ChecksumAlgorithm;
use crate::storage::multipart::{
    CompleteMultipartOutcome, CopyPartOutcome, CreateMultipartOutcome, PutPartOutcome,
};
use crate::storage::multipart_checksum::CompletionChecksums;

use crate::storage::multipart::{MAX_PART, MIN_PART};

/// Largest CompleteMultipartUpload body accepted (10,000 parts fit easily).
const MAX_COMPLETE_BODY: usize = 2 * 1024 * 1024;

/// The upload `upload_id`, which must belong to `bucket/key`.
async fn find_upload(
    app: &App,
    upload_id: &str,
    bucket: &str,
    key: &str,
) -> Result<MultipartUpload, ApiError> {
    app.storage
        .find_upload(upload_id, bucket, key)
        .await?
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

    /// The upload, unless it does not exist for this bucket and key.
    async fn check(&self, app: &App) -> Result<MultipartUpload, ApiError> {
        find_upload(app, self.upload_id, self.bucket, self.key).await
    }
}

pub async fn create(
    app: &App,
    parts: &Parts,
    bucket_name: &str,
    key: &str,
    acl: Option<crate::index::CannedAcl>,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    if app.storage.is_file_key(bucket_name, key).await? {
        return Err(super::object::written_once(bucket_name, key));
    }
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
        meta: ObjectMeta {
            multipart_checksum: part_checksums::from_create(&parts.headers)?,
            ..meta_from(&parts.headers, app.now_unix(), acl)?
        },
        created_at: app.now_unix(),
    };
    let meta = upload.meta.clone();
    super::object_lock::precheck(app, bucket_name, &upload.meta).await?;
    let id = upload.upload_id.clone();
    match app.storage.create_multipart(upload).await? {
        CreateMultipartOutcome::Created => {}
        CreateMultipartOutcome::NoSuchBucket => return Err(bucket::no_such_bucket(bucket_name)),
    }
    let mut x = Xml::new("InitiateMultipartUploadResult");
    x.elem("Bucket", bucket_name)
        .elem("Key", key)
        .elem("UploadId", &id);
    let mut r = xml_response(StatusCode::OK, x.finish("InitiateMultipartUploadResult"));
    part_checksums::set_headers(r.headers_mut(), &meta);
    Ok(r)
}

pub async fn upload_part(
    app: &App,
    auth: &Authenticated,
    parts: Parts,
    body: Incoming,
    target: PartTarget<'_>,
) -> Result<Response<Body>, ApiError> {
    let upload = target.check(app).await?;
    let alg = part_checksums::algorithm(&upload.meta);
    part_checksums::check_part(&parts.headers, alg)?;
    let spec = ingest::BodySpec::from_request(auth, &parts)?.computing(alg);
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
    let mut checksums = received.checksums;
    if let (Some(a), Some(v)) = (alg, &received.computed) {
        checksums.retain(|(n, _)| n != a.name());
        checksums.push((a.name().to_string(), v.clone()));
    }
    let blob = received.blob;
    let md5 = blob.md5.unwrap_or_default();
    match app
        .storage
        .put_part(
            target.upload_id,
            target.number,
            received.payload,
            blob,
            received.computed,
        )
        .await?
    {
        PutPartOutcome::Stored => {}
        // Completed or aborted while the part arrived.
        PutPartOutcome::NoSuchUpload => return Err(ApiError::NoSuchUpload),
    }
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
    let upload = target.check(app).await?;
    let alg = part_checksums::algorithm(&upload.meta);
    let src = super::copy::source_object(app, source).await?;
    super::conditions::check_copy_source(&source.conditions, &src, app.now_unix())?;
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
    let part = match app
        .storage
        .copy_part(target.upload_id, target.number, &src, start, len, alg)
        .await?
    {
        CopyPartOutcome::Copied(part) => part,
        CopyPartOutcome::NoSuchUpload => return Err(ApiError::NoSuchUpload),
        CopyPartOutcome::SourceChanged => {
            return Err(ApiError::Conflict(
                "the copy source changed while it was being copied; retry".into(),
            ))
        }
    };
    let mut x = Xml::new("CopyPartResult");
    x.elem("LastModified", &timestamp(part.last_modified))
        .elem("ETag", &format!("\"{}\"", hex::encode(part.md5)));
    if let (Some(a), Some(v)) = (alg, &part.checksum) {
        x.elem(&part_checksums::element(a.name()), v);
    }
    let mut r = xml_response(StatusCode::OK, x.finish("CopyPartResult"));
    super::copy::copy_source_version(app, r.headers_mut(), source, &src).await?;
    Ok(r)
}

/// The (part number, ETag) list of a CompleteMultipartUpload body, and
/// the (part number, checksum) each part lists, of `alg`.
#[allow(clippy::type_complexity)]
fn parse_complete(
    body: &[u8],
    alg: Option<ChecksumAlgorithm>,
) -> Result<(Vec<(u32, String)>, Vec<(u32, String)>), ApiError> {
    let mut out = Vec::new();
    let mut sums = Vec::new();
    let (mut number, mut etag): (Option<u32>, Option<String>) = (None, None);
    let mut sum: Option<String> = None;
    let wanted = alg.map(|a| part_checksums::element(a.name()));
    xml::read(body, |event| {
        match event {
            XmlEvent::Text { element, text } if Some(element) == wanted.as_deref() => {
                sum = Some(text.trim().to_string())
            }
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
                (Some(n), Some(t)) => {
                    out.push((n, t));
                    if let Some(s) = sum.take() {
                        sums.push((n, s));
                    }
                }
                _ => return Err(xml::malformed("each Part needs a PartNumber and an ETag")),
            },
            _ => {}
        }
        Ok(())
    })?;
    if out.is_empty() {
        return Err(xml::malformed("no Part elements"));
    }
    Ok((out, sums))
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
    let xml = crate::api::ingest::read_part_list(parts, body, MAX_COMPLETE_BODY).await?;
    let cond = super::object::write_condition(&parts.headers)?;
    app.storage
        .precheck_condition(bucket_name, key, &cond)
        .await?
        .map_err(super::object::condition_failed)?;
    let alg = part_checksums::algorithm(&upload.meta);
    let (wanted, listed) = parse_complete(&xml, alg)?;
    if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ApiError::InvalidPartOrder);
    }
    let sent = CompletionChecksums {
        parts: listed,
        object: part_checksums::whole_object(&parts.headers),
    };
    let full_object = upload
        .meta
        .multipart_checksum
        .as_ref()
        .is_some_and(|c| c.full_object);
    let (etag, version_id, checksum) = match app
        .storage
        .complete_multipart(upload, &wanted, &sent, cond)
        .await?
    {
        CompleteMultipartOutcome::Completed {
            etag,
            version_id,
            checksum,
        } => (etag, version_id, checksum),
        CompleteMultipartOutcome::Checksum(refused) => {
            return Err(part_checksums::refusal(refused))
        }
        CompleteMultipartOutcome::NoSuchUpload => return Err(ApiError::NoSuchUpload),
        CompleteMultipartOutcome::InvalidPart { number, etag } => {
            return Err(ApiError::InvalidPart(format!(
                "One or more of the specified parts could not be found: part {number} with ETag \
                 \"{etag}\" was not uploaded, or its ETag differs"
            )))
        }
        CompleteMultipartOutcome::TooSmall { number, size } => {
            return Err(ApiError::EntityTooSmall(format!(
                "Your proposed upload is smaller than the minimum allowed size: part {number} is \
                 {size} bytes; every part but the last must be at least {MIN_PART}"
            )))
        }
        // Another writer got there first; the upload stays open.
        CompleteMultipartOutcome::NoObjectLock => return Err(super::object_lock::not_enabled()),
        CompleteMultipartOutcome::ConditionFailed(f) => {
            return Err(super::object::condition_failed_at_commit(f))
        }
        // The upload stays open, as for a failed condition: the client
        // aborts it to free its parts.
        CompleteMultipartOutcome::WrittenOnce => {
            return Err(super::object::written_once(bucket_name, key))
        }
        CompleteMultipartOutcome::PartsChanged => {
            return Err(ApiError::InvalidPart(
                "a part was uploaded again while the upload was being completed; list the \
                 parts and retry"
                    .into(),
            ))
        }
    };
    let checksum = checksum.map(|(alg, value)| (alg, value, full_object));
    let mut r = completion_result(app, bucket_name, key, &etag, checksum);
    if let Some(v) = version_id {
        super::versioning::set_version_id(r.headers_mut(), &v);
    }
    Ok(r)
}

/// A retried CompleteMultipartUpload of an upload that already completed
/// gets the same answer while the object still has that ETag.
async fn repeat_completion(
    app: &App,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let etag = app
        .storage
        .completed_upload(upload_id, bucket_name, key)
        .await?
        .ok_or(ApiError::NoSuchUpload)?;
    Ok(completion_result(app, bucket_name, key, &etag, None))
}

/// The answer to a completion; `checksum`: the object's (algorithm,
/// value, whether full-object).
fn completion_result(
    app: &App,
    bucket_name: &str,
    key: &str,
    etag: &str,
    checksum: Option<(String, String, bool)>,
) -> Response<Body> {
    let mut x = Xml::new("CompleteMultipartUploadResult");
    x.elem(
        "Location",
        &format!("{}/{bucket_name}/{key}", app.public_url.base),
    )
    .elem("Bucket", bucket_name)
    .elem("Key", key)
    .elem("ETag", &format!("\"{etag}\""));
    if let Some((alg, value, full_object)) = checksum {
        x.elem(&part_checksums::element(&alg), &value)
            .elem("ChecksumType", part_checksums::type_name(full_object));
    }
    xml_response(StatusCode::OK, x.finish("CompleteMultipartUploadResult"))
}

pub async fn abort(
    app: &App,
    upload_id: &str,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    if !app
        .storage
        .abort_multipart(upload_id, bucket_name, key)
        .await?
    {
        return Err(ApiError::NoSuchUpload);
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
    let upload = find_upload(app, upload_id, bucket_name, key).await?;
    let marker: u32 = q
        .get("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = q
        .get("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let mut parts = app.storage.list_parts(upload_id, marker, max + 1).await?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    let mut x = Xml::new("ListPartsResult");
    x.elem("Bucket", bucket_name)
        .elem("Key", key)
        .elem("UploadId", upload_id)
        .elem("PartNumberMarker", &marker.to_string())
        .elem("MaxParts", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" })
        .elem("StorageClass", "STANDARD");
    if let Some(c) = &upload.meta.multipart_checksum {
        x.elem("ChecksumAlgorithm", &c.algorithm)
            .elem("ChecksumType", part_checksums::type_name(c.full_object));
    }
    if let Some(last) = parts.last() {
        x.elem("NextPartNumberMarker", &last.part_number.to_string());
    }
    for p in &parts {
        x.open("Part")
            .elem("PartNumber", &p.part_number.to_string())
            .elem("LastModified", &timestamp(p.last_modified))
            .elem("ETag", &format!("\"{}\"", hex::encode(p.md5)))
            .elem("Size", &p.size.to_string());
        if let (Some(c), Some(v)) = (&upload.meta.multipart_checksum, &p.checksum) {
            x.elem(&part_checksums::element(&c.algorithm), v);
        }
        x.close("Part");
    }
    Ok(xml_response(StatusCode::OK, x.finish("ListPartsResult")))
}

pub async fn list_uploads(
    app: &App,
    q: &Query,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let key_marker = q.get("key-marker").unwrap_or("").to_string();
    let id_marker = q.get("upload-id-marker").unwrap_or("").to_string();
    let max: usize = q
        .get("max-uploads")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let mut uploads = app
        .storage
        .list_multipart(bucket_name, &prefix, &key_marker, &id_marker, max + 1)
        .await?
        .ok_or_else(|| bucket::no_such_bucket(bucket_name))?;
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
            parse_complete(xml, None).unwrap(),
            (vec![(1, "aa".to_string()), (2, "bb".to_string())], vec![])
        );
        assert!(matches!(
            parse_complete(b"<CompleteMultipartUpload/>", None),
            Err(ApiError::MalformedXml(_))
        ));
        assert!(matches!(
            parse_complete(b"<Part><PartNumber>x</PartNumber>", None),
            Err(ApiError::MalformedXml(_))
        ));
    }

    #[test]
    fn the_part_list_carries_each_parts_checksum_of_the_uploads_algorithm() {
        let xml = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>aa</ETag>\
                    <ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumSHA1>x</ChecksumSHA1></Part>\
                    <Part><PartNumber>2</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>";
        let (parts, sums) = parse_complete(xml, Some(ChecksumAlgorithm::Crc32)).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(sums, vec![(1, "AAAAAA==".to_string())]);
        let (_, none) = parse_complete(xml, None).unwrap();
        assert!(none.is_empty());
    }
}
