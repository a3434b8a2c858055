//! CopyObject and DeleteObjects.
//!
//! A copy is a new index row naming the same content-addressed blob: no
//! byte is read or written, whatever the object's size.

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::object::meta_from;
use super::router::CopySource;
use super::xml::{self, timestamp, Xml, XmlEvent};
use crate::api::body::xml_response;
use crate::api::body::Body;
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::ObjectRecord;
use crate::storage::objects::{CopyOutcome, PutObjectOutcome};

/// S3's limit on keys in one DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;
/// Largest DeleteObjects body read (1000 keys of 1024 bytes fit).
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

/// The object named by `x-amz-copy-source`, or S3's NoSuchKey for it.
pub async fn source_object(app: &App, bucket: &str, key: &str) -> Result<ObjectRecord, ApiError> {
    app.storage
        .get_object(bucket, key)
        .await?
        .ok_or_else(|| ApiError::NoSuchKey("The specified copy source key does not exist.".into()))
}

pub async fn copy_object(
    app: &App,
    parts: &Parts,
    source: &CopySource,
    bucket_name: &str,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let (src_bucket, src_key) = (source.bucket.clone(), source.key.clone());
    bucket::require(app, &src_bucket).await?;
    bucket::require(app, bucket_name).await?;
    let src = source_object(app, &src_bucket, &src_key).await?;
    super::conditions::check_copy_source(&source.conditions, &src, app.now_unix())?;
    let replace = parts
        .headers
        .get("x-amz-metadata-directive")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("REPLACE"));
    if src_bucket == bucket_name && src_key == key && !replace {
        return Err(ApiError::InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes."
                .into(),
        ));
    }
    let (content_type, meta) = if replace {
        (
            parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("binary/octet-stream")
                .to_string(),
            crate::index::ObjectMeta {
                checksums: src.meta.checksums.clone(),
                parts: src.meta.parts,
                ..meta_from(&parts.headers)?
            },
        )
    } else {
        (src.content_type.clone(), src.meta.clone())
    };
    let mut meta = meta;
    meta.tags = super::tagging::for_copy(&parts.headers, &src.meta.tags)?;
    let record = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket_name.to_string(),
        key: key.to_string(),
        sha256: src.sha256,
        size: src.size,
        etag: src.etag.clone(),
        content_type,
        meta,
        last_modified: app.now_unix(),
    };
    let lm = record.last_modified;
    let etag = record.etag.clone();
    match app
        .storage
        .copy_object((&src_bucket, &src_key), record)
        .await?
    {
        CopyOutcome::Put(PutObjectOutcome::Stored { .. }) => {}
        CopyOutcome::SourceChanged => {
            return Err(ApiError::Conflict(
                "the copy source changed while it was being copied; retry the copy".into(),
            ))
        }
        CopyOutcome::Put(PutObjectOutcome::NoSuchBucket) => {
            return Err(bucket::no_such_bucket(bucket_name))
        }
        CopyOutcome::Put(PutObjectOutcome::ConditionFailed(f)) => {
            return Err(super::object::condition_failed(f))
        }
        CopyOutcome::Put(PutObjectOutcome::WrittenOnce) => {
            return Err(super::object::written_once(bucket_name, key))
        }
    }
    let mut x = Xml::new("CopyObjectResult");
    x.elem("LastModified", &timestamp(lm))
        .elem("ETag", &format!("\"{etag}\""));
    Ok(xml_response(StatusCode::OK, x.finish("CopyObjectResult")))
}

/// Keys and the Quiet flag of a DeleteObjects body.
fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), ApiError> {
    let (mut keys, mut quiet) = (Vec::new(), false);
    xml::read(body, |event| {
        match event {
            XmlEvent::Text {
                element: "Key",
                text,
            } => keys.push(text.to_string()),
            XmlEvent::Text {
                element: "Quiet",
                text,
            } => quiet = text.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
        Ok(())
    })?;
    if keys.is_empty() {
        return Err(xml::malformed("no Object elements"));
    }
    if keys.len() > MAX_DELETE_KEYS {
        return Err(xml::malformed(
            "at most 1000 keys may be deleted in one request",
        ));
    }
    Ok((keys, quiet))
}

pub async fn delete_objects(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let xml =
        crate::api::ingest::read_xml_body(parts, body, MAX_DELETE_BODY, "delete list").await?;
    let (keys, quiet) = parse_delete(&xml)?;
    let mut x = Xml::new("DeleteResult");
    for key in keys {
        // A key that is not there is deleted all the same, as in S3 (and
        // so is every key of a bucket deleted meanwhile).
        app.storage.delete_object(bucket_name, &key).await?;
        if !quiet {
            x.open("Deleted").elem("Key", &key).close("Deleted");
        }
    }
    Ok(xml_response(StatusCode::OK, x.finish("DeleteResult")))
}
