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
use super::versioning;
use super::xml::{self, timestamp, Xml, XmlEvent};
use crate::api::body::xml_response;
use crate::api::body::Body;
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::{ObjectRecord, Version, Versioning};
use crate::storage::objects::{CopyOutcome, DeleteObjectOutcome, PutObjectOutcome};
use crate::storage::versions::is_version_id;

/// S3's limit on keys in one DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;
/// Largest DeleteObjects body read (1000 keys of 1024 bytes fit).
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

/// The object `x-amz-copy-source` names (the version named, or the
/// current object), or S3's answer for why there is none.
pub async fn source_object(app: &App, source: &CopySource) -> Result<ObjectRecord, ApiError> {
    let named = source.version_id.as_deref();
    match app.storage.find(&source.bucket, &source.key, named).await? {
        Some(Version::Object(o)) => Ok(*o),
        Some(Version::Marker(_)) if named.is_some() => Err(ApiError::InvalidRequest(
            "The source of a copy request may not specifically refer to a delete marker by \
             version id."
                .into(),
        )),
        _ if named.is_some() => Err(ApiError::NoSuchVersion),
        _ => Err(ApiError::NoSuchKey(
            "The specified copy source key does not exist.".into(),
        )),
    }
}

pub async fn copy_object(
    app: &App,
    parts: &Parts,
    source: &CopySource,
    bucket_name: &str,
    key: &str,
    acl: Option<crate::index::CannedAcl>,
) -> Result<Response<Body>, ApiError> {
    let (src_bucket, src_key) = (source.bucket.clone(), source.key.clone());
    bucket::require(app, &src_bucket).await?;
    bucket::require(app, bucket_name).await?;
    let src = source_object(app, source).await?;
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
                // The bytes' checksums stay theirs.
                checksums: src.meta.checksums.clone(),
                parts: src.meta.parts,
                multipart_checksum: src.meta.multipart_checksum.clone(),
                part_checksums: src.meta.part_checksums.clone(),
                ..meta_from(&parts.headers, app.now_unix(), acl)?
            },
        )
    } else {
        (src.content_type.clone(), src.meta.clone())
    };
    let mut meta = meta;
    meta.tags = super::tagging::for_copy(&parts.headers, &src.meta.tags)?;
    // A copy is a new version: its lock is what this request (or the
    // destination's default) gives it, never the source's.
    (meta.retention, meta.legal_hold) =
        super::object_lock::from_headers(&parts.headers, app.now_unix())?;
    // Nor its ACL: the request's, or private.
    meta.acl = acl.filter(|a| *a != crate::index::CannedAcl::Private);
    super::object_lock::precheck(app, bucket_name, &meta).await?;
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
    let version_id = match app.storage.copy_object(&src, record).await? {
        CopyOutcome::Put(PutObjectOutcome::Stored { version_id, .. }) => version_id,
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
        CopyOutcome::Put(PutObjectOutcome::NoObjectLock) => {
            return Err(super::object_lock::not_enabled())
        }
        CopyOutcome::Put(PutObjectOutcome::WrittenOnce) => {
            return Err(super::object::written_once(bucket_name, key))
        }
    };
    let mut x = Xml::new("CopyObjectResult");
    x.elem("LastModified", &timestamp(lm))
        .elem("ETag", &format!("\"{etag}\""));
    let mut r = xml_response(StatusCode::OK, x.finish("CopyObjectResult"));
    copy_source_version(app, r.headers_mut(), source, &src).await?;
    if let Some(v) = version_id {
        versioning::set_version_id(r.headers_mut(), &v);
    }
    Ok(r)
}

/// `x-amz-copy-source-version-id`: the version copied, where S3 names one
/// (a version named, or a source bucket whose versioning was ever set).
pub async fn copy_source_version(
    app: &App,
    h: &mut http::HeaderMap,
    source: &CopySource,
    src: &ObjectRecord,
) -> Result<(), ApiError> {
    let shown = source.version_id.is_some()
        || src.version_id != crate::index::NULL_VERSION
        || app
            .storage
            .versioning(&source.bucket)
            .await?
            .is_some_and(|v| v != Versioning::Unversioned);
    if shown {
        if let Ok(v) = http::HeaderValue::from_str(&src.version_id) {
            h.insert("x-amz-copy-source-version-id", v);
        }
    }
    Ok(())
}

/// One object of a DeleteObjects body: its key and the version named.
struct ToDelete {
    key: String,
    version_id: Option<String>,
}

/// The objects and the Quiet flag of a DeleteObjects body.
fn parse_delete(body: &[u8]) -> Result<(Vec<ToDelete>, bool), ApiError> {
    let (mut objects, mut quiet) = (Vec::new(), false);
    let (mut key, mut version_id): (Option<String>, Option<String>) = (None, None);
    xml::read(body, |event| {
        match event {
            XmlEvent::Text {
                element: "Key",
                text,
            } => key = Some(text.to_string()),
            XmlEvent::Text {
                element: "VersionId",
                text,
            } => version_id = Some(text.to_string()),
            XmlEvent::End { element: "Object" } => {
                let key = key
                    .take()
                    .ok_or_else(|| xml::malformed("an Object without a Key"))?;
                objects.push(ToDelete {
                    key,
                    version_id: version_id.take(),
                });
            }
            XmlEvent::Text {
                element: "Quiet",
                text,
            } => quiet = text.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
        Ok(())
    })?;
    if objects.is_empty() {
        return Err(xml::malformed("no Object elements"));
    }
    if objects.len() > MAX_DELETE_KEYS {
        return Err(xml::malformed(
            "at most 1000 keys may be deleted in one request",
        ));
    }
    Ok((objects, quiet))
}

/// DeleteObjects: each object as DeleteObject would delete it, answered
/// one by one (`Deleted`, or `Error` for a version id that names none).
pub async fn delete_objects(
    app: &App,
    gate: &super::authz::Gate,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let xml = bucket::read_xml_for(
        app,
        parts,
        body,
        bucket_name,
        MAX_DELETE_BODY,
        "delete list",
    )
    .await?;
    let (objects, quiet) = parse_delete(&xml)?;

    let mut x = Xml::new("DeleteResult");
    for o in objects {
        if let Some(v) = o.version_id.as_deref().filter(|v| !is_version_id(v)) {
            x.open("Error")
                .elem("Key", &o.key)
                .elem("VersionId", v)
                .elem("Code", "InvalidArgument")
                .elem("Message", "Invalid version id specified")
                .close("Error");
            continue;
        }
        if !gate.may_delete(&o.key, o.version_id.as_deref()) {
            x.open("Error").elem("Key", &o.key);
            if let Some(v) = &o.version_id {
                x.elem("VersionId", v);
            }
            x.elem("Code", "AccessDenied")
                .elem("Message", "Access Denied")
                .close("Error");
            continue;
        }
        // A key that is not there is deleted all the same, as in S3 (and
        // so is every key of a bucket deleted meanwhile).
        let out = app
            .storage
            .delete_object_bypassing(
                bucket_name,
                &o.key,
                o.version_id.as_deref(),
                super::object_lock::bypass(gate, &parts.headers, &o.key),
            )
            .await?;
        if let DeleteObjectOutcome::Locked(_) = out {
            // Reported even when quiet: Quiet leaves out only successes.
            x.open("Error").elem("Key", &o.key);
            if let Some(v) = &o.version_id {
                x.elem("VersionId", v);
            }
            x.elem("Code", "AccessDenied")
                .elem(
                    "Message",
                    "Access Denied because object protected by object lock.",
                )
                .close("Error");
            continue;
        }
        if quiet {
            continue;
        }
        x.open("Deleted").elem("Key", &o.key);
        if let Some(v) = &o.version_id {
            x.elem("VersionId", v);
        }
        match out {
            DeleteObjectOutcome::Marked(id) => {
                x.elem("DeleteMarker", "true")
                    .elem("DeleteMarkerVersionId", &id);
            }
            DeleteObjectOutcome::RemovedVersion(v) if v.is_marker() => {
                x.elem("DeleteMarker", "true")
                    .elem("DeleteMarkerVersionId", v.version_id());
            }
            _ => {}
        }
        x.close("Deleted");
    }
    Ok(xml_response(StatusCode::OK, x.finish("DeleteResult")))
}
