//! Versioning on the S3 surface: PutBucketVersioning and
//! GetBucketVersioning, finding the version a read names (or the key's
//! current one, or the delete marker hiding it) with S3's answers for
//! each, and the `x-amz-version-id` header.
//!
//! Must never decide what a write or delete does to a key's versions (the
//! storage service's `versions` rules do), nor read `versionId` from the
//! query (the router parsed it into the endpoint).

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::xml::{self, Xml, XmlEvent};
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::{ObjectRecord, Version, Versioning};
use crate::storage::lifecycle::LifecycleConfig;
use crate::storage::versions::{Latest, SetVersioningOutcome};

/// Largest PutBucketVersioning body read.
const MAX_VERSIONING_BODY: usize = 4096;

/// The state a `VersioningConfiguration` document asks for; `None` when it
/// names no `Status` (S3 leaves the bucket as it is).
fn parse_config(body: &[u8]) -> Result<Option<Versioning>, ApiError> {
    let (mut status, mut mfa, mut root) = (None, None, false);
    xml::read(body, |event| {
        match event {
            XmlEvent::Text {
                element: "Status",
                text,
            } => status = Some(text.to_string()),
            XmlEvent::Text {
                element: "MfaDelete",
                text,
            } => mfa = Some(text.to_string()),
            XmlEvent::End {
                element: "VersioningConfiguration",
            } => root = true,
            _ => {}
        }
        Ok(())
    })?;
    if !root {
        return Err(xml::malformed(
            "the body is not a VersioningConfiguration document",
        ));
    }
    match mfa.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(ApiError::NotImplemented(
                "MFA delete is not implemented by this gateway; send MfaDelete Disabled or leave \
                 it out. Nothing was changed."
                    .into(),
            ))
        }
        Some(_) => return Err(xml::malformed("MfaDelete is Enabled or Disabled")),
    }
    match status.as_deref() {
        None => Ok(None),
        Some("Enabled") => Ok(Some(Versioning::Enabled)),
        Some("Suspended") => Ok(Some(Versioning::Suspended)),
        Some(_) => Err(xml::malformed("Status is Enabled or Suspended")),
    }
}

/// PutBucketVersioning: `Enabled` or `Suspended`.
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let xml = bucket::read_xml_for(
        app,
        parts,
        body,
        bucket_name,
        MAX_VERSIONING_BODY,
        "versioning configuration",
    )
    .await?;
    let Some(state) = parse_config(&xml)? else {
        return Ok(empty(StatusCode::OK));
    };
    match app.storage.set_versioning(bucket_name, state).await? {
        SetVersioningOutcome::Set => Ok(empty(StatusCode::OK)),
        SetVersioningOutcome::NoSuchBucket => Err(bucket::no_such_bucket(bucket_name)),
        SetVersioningOutcome::LockEnabled => Err(ApiError::InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning state \
             cannot be changed: it stays Enabled. Nothing was changed."
                .into(),
        )),
        SetVersioningOutcome::UploadBucket => Err(ApiError::InvalidBucketState(
            "This is the upload API's bucket: each of its files is written once and is its only \
             version, so versioning cannot be enabled on it. Use another bucket for versioned \
             objects; nothing was changed."
                .into(),
        )),
    }
}

/// GetBucketVersioning: the state, or an empty configuration for a bucket
/// whose versioning was never set (as S3 answers).
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let Some(state) = app.storage.versioning(bucket_name).await? else {
        return Err(bucket::no_such_bucket(bucket_name));
    };
    let mut x = Xml::new("VersioningConfiguration");
    match state {
        Versioning::Unversioned => {}
        Versioning::Enabled => {
            x.elem("Status", "Enabled");
        }
        Versioning::Suspended => {
            x.elem("Status", "Suspended");
        }
    }
    Ok(xml_response(
        StatusCode::OK,
        x.finish("VersioningConfiguration"),
    ))
}

/// [`read_current`] without the expiry.
pub async fn read_target(
    app: &App,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(ObjectRecord, Option<Vec<u8>>, bool), ApiError> {
    let (obj, data, shown, _) = read_current(app, bucket_name, key, version).await?;
    Ok((obj, data, shown))
}

/// The object a read names: the version `version` of `bucket/key`, or its
/// current object; with its inline bytes if it has them, and whether its
/// version id is shown (`x-amz-version-id`: always for a version named,
/// never in a bucket whose versioning was never set). A delete marker
/// answers as S3 does: 404 NoSuchKey when it is the key's current version,
/// 405 when named. A current object comes with when (and by which rule)
/// its bucket's lifecycle expires it.
#[allow(clippy::type_complexity)]
pub async fn read_current(
    app: &App,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(ObjectRecord, Option<Vec<u8>>, bool, Option<(i64, String)>), ApiError> {
    let found = match version {
        Some(v) => app
            .storage
            .get_version_inline(bucket_name, key, v)
            .await?
            .map(|(found, data)| match found {
                Version::Object(o) => Ok((*o, data, true, None)),
                Version::Marker(m) => Err(ApiError::VersionIsDeleteMarker {
                    version_id: m.version_id,
                    last_modified: m.last_modified,
                }),
            })
            .transpose()?,
        None => {
            let read = app.storage.get_latest_inline(bucket_name, key).await?;
            match read.latest {
                Latest::Object(o) => {
                    let expiry = match &read.lifecycle {
                        Some(text) => LifecycleConfig::from_text(text)
                            .map_err(crate::storage::StorageError::from)?
                            .expiry_of(&o.key, &o.meta, o.size, o.last_modified)
                            .map(|(at, id)| (at, id.to_string())),
                        None => None,
                    };
                    Some((*o, read.data, read.versioned, expiry))
                }
                Latest::Marker(m) => {
                    return Err(ApiError::KeyIsDeleteMarker {
                        version_id: m.version_id,
                    })
                }
                Latest::Absent => None,
            }
        }
    };
    match found {
        Some(f) => Ok(f),
        None => {
            // Only a miss needs the second look, to name the right error.
            bucket::require(app, bucket_name).await?;
            Err(match version {
                Some(_) => ApiError::NoSuchVersion,
                None => ApiError::NoSuchKey("The specified key does not exist.".into()),
            })
        }
    }
}

/// Sets `x-amz-version-id`.
pub fn set_version_id(h: &mut HeaderMap, version_id: &str) {
    if let Ok(v) = HeaderValue::from_str(version_id) {
        h.insert("x-amz-version-id", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_names_a_state_or_none() {
        let doc = |inner: &str| {
            format!(
                "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 {inner}</VersioningConfiguration>"
            )
        };
        let parse = |inner: &str| parse_config(doc(inner).as_bytes());
        assert_eq!(
            parse("<Status>Enabled</Status>").unwrap(),
            Some(Versioning::Enabled)
        );
        assert_eq!(
            parse("<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>").unwrap(),
            Some(Versioning::Suspended)
        );
        assert_eq!(parse("").unwrap(), None);
        assert!(matches!(
            parse("<Status>enabled</Status>"),
            Err(ApiError::MalformedXml(_))
        ));
        assert!(matches!(
            parse("<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>"),
            Err(ApiError::NotImplemented(_))
        ));
        assert!(matches!(
            parse_config(b"<Tagging><Status>Enabled</Status></Tagging>"),
            Err(ApiError::MalformedXml(_))
        ));
    }
}
