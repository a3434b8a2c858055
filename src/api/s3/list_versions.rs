//! ListObjectVersions: every version and delete marker of a bucket's keys,
//! keys in S3's order and each key's versions newest first, with prefix,
//! delimiter (CommonPrefixes), max-keys, key-marker and
//! version-id-marker, encoding-type=url.
//!
//! Common prefixes are folded here over pages the index gives, as the
//! object listings fold theirs (`list.rs`), so a "directory" counts once
//! toward max-keys whatever its versions.

use http::{Response, StatusCode};

use super::bucket;
use super::list::{
    common_prefix, delimiter_encoding_truncated, encoder, max_keys, skip_past, write_owner,
    write_prefix,
};
use super::xml::{timestamp, Xml};
use crate::api::body::{xml_response, Body};
use crate::api::error::ApiError;
use crate::api::query::Query;
use crate::app::App;
use crate::index::{ListedVersion, Version, VersionPlace};
use crate::storage::versions::is_version_id;

/// Versions read from the index per page while folding.
const PAGE: usize = 1000;

enum Entry {
    Version(Box<ListedVersion>),
    Prefix(String),
}

/// Where a listing starts: after `key-marker`'s version `version-id-marker`,
/// or after every version of `key-marker` (and of everything under it, if
/// it is a common prefix a page ended on).
async fn start(
    app: &App,
    bucket_name: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: &str,
    version_marker: &str,
) -> Result<VersionPlace, ApiError> {
    if version_marker.is_empty() {
        return Ok(match common_prefix(key_marker, prefix, delimiter) {
            Some(cp) if cp == key_marker => VersionPlace::after_key(&skip_past(&cp)),
            _ => VersionPlace::after_key(key_marker),
        });
    }
    if key_marker.is_empty() {
        return Err(ApiError::InvalidArgument(
            "A version-id marker cannot be specified without a key marker.".into(),
        ));
    }
    let invalid = || ApiError::InvalidArgument("Invalid version id specified".into());
    if !is_version_id(version_marker) {
        return Err(invalid());
    }
    app.storage
        .version_place(bucket_name, key_marker, version_marker)
        .await?
        .ok_or_else(invalid)
}

/// Up to `max` entries from `place` on; whether more exist.
async fn collect(
    app: &App,
    bucket_name: &str,
    prefix: &str,
    delimiter: Option<&str>,
    mut place: VersionPlace,
    max: usize,
) -> Result<(Vec<Entry>, bool), ApiError> {
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let page = app
            .storage
            .list_versions(bucket_name, prefix, place.clone(), PAGE)
            .await?;
        let exhausted = page.len() < PAGE;
        let mut jumped = false;
        for listed in page {
            place = listed.place.clone();
            if let Some(Entry::Prefix(last)) = out.last() {
                if listed.version.key().starts_with(last.as_str()) {
                    continue;
                }
            }
            if out.len() == max {
                return Ok((out, true));
            }
            match common_prefix(listed.version.key(), prefix, delimiter) {
                Some(cp) => {
                    // Every other version under this prefix folds into it:
                    // move past them all instead of reading them.
                    place = VersionPlace::after_key(&skip_past(&cp));
                    out.push(Entry::Prefix(cp));
                    jumped = true;
                    break;
                }
                None => out.push(Entry::Version(Box::new(listed))),
            }
        }
        if exhausted && !jumped {
            return Ok((out, false));
        }
    }
}

fn write_version(x: &mut Xml, listed: &ListedVersion, enc: &impl Fn(&str) -> String) {
    let v = &listed.version;
    let element = if v.is_marker() {
        "DeleteMarker"
    } else {
        "Version"
    };
    x.open(element)
        .elem("Key", &enc(v.key()))
        .elem("VersionId", v.version_id())
        .elem("IsLatest", if listed.is_latest { "true" } else { "false" })
        .elem("LastModified", &timestamp(v.last_modified()));
    if let Version::Object(o) = v {
        x.elem("ETag", &format!("\"{}\"", o.etag))
            .elem("Size", &o.size.to_string())
            .elem("StorageClass", "STANDARD");
    }
    write_owner(x);
    x.close(element);
}

pub async fn list_versions(
    app: &App,
    bucket_name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max = max_keys(q)?;
    let enc = encoder(q)?;
    let key_marker = q.get("key-marker").unwrap_or("");
    let version_marker = q.get("version-id-marker").unwrap_or("");
    let place = start(
        app,
        bucket_name,
        prefix,
        delimiter,
        key_marker,
        version_marker,
    )
    .await?;
    let (entries, truncated) = collect(app, bucket_name, prefix, delimiter, place, max).await?;

    let mut x = Xml::new("ListVersionsResult");
    x.elem("Name", bucket_name)
        .elem("Prefix", &enc(prefix))
        .elem("KeyMarker", &enc(key_marker))
        .elem("VersionIdMarker", version_marker)
        .elem("MaxKeys", &max.to_string());
    delimiter_encoding_truncated(&mut x, delimiter, q, truncated, &enc);
    if truncated {
        match entries.last() {
            Some(Entry::Version(l)) => {
                x.elem("NextKeyMarker", &enc(l.version.key()))
                    .elem("NextVersionIdMarker", l.version.version_id());
            }
            Some(Entry::Prefix(p)) => {
                x.elem("NextKeyMarker", &enc(p));
            }
            None => {}
        }
    }
    for e in &entries {
        if let Entry::Version(l) = e {
            write_version(&mut x, l, &enc);
        }
    }
    for e in &entries {
        if let Entry::Prefix(p) = e {
            write_prefix(&mut x, p, &enc);
        }
    }
    Ok(xml_response(StatusCode::OK, x.finish("ListVersionsResult")))
}
