//! ListObjectsV2 and ListObjects (v1): prefix, delimiter with CommonPrefixes, max-keys, continuation-token / start-after / marker,
//! encoding-type=url.
//!
//! Keys come back in S3's order (UTF-8 bytes). Common prefixes are folded
//! here, over pages read from the index, so a "directory" with many keys
//! counts once toward max-keys.

use http::{Response, StatusCode};

use super::bucket;
use super::token::{decode_token, encode_token};
use super::xml::{timestamp, Xml};
use crate::api::body::xml_response;
use crate::api::body::Body;
use crate::api::error::ApiError;
use crate::api::query::Query;
use crate::app::App;
use crate::index::ObjectRecord;
use crate::sigv4::encode::uri_encode;

/// S3's ceiling and default for max-keys.
const MAX_KEYS: usize = 1000;
/// Rows read from the index per page while folding.
const PAGE: usize = 1000;

enum Entry {
    Object(Box<ObjectRecord>),
    Prefix(String),
}

impl Entry {
    fn key(&self) -> &str {
        match self {
            Entry::Object(o) => &o.key,
            Entry::Prefix(p) => p,
        }
    }
}

/// The common prefix `key` rolls up into under `prefix` and `delimiter`.
pub(super) fn common_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d)
        .map(|i| key[..prefix.len() + i + d.len()].to_string())
}

/// Collects up to `max` entries after `after`; returns them and whether
/// more exist.
async fn collect(
    app: &App,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: &str,
    max: usize,
) -> Result<(Vec<Entry>, bool), ApiError> {
    let mut out: Vec<Entry> = Vec::new();
    // A marker that is itself a common prefix (a page ended on one) resumes
    // after everything under it; a marker that is a key resumes after it.
    let mut cursor = match common_prefix(after, prefix, delimiter) {
        Some(cp) if cp == after => skip_past(&cp),
        _ => after.to_string(),
    };
    loop {
        let page = app
            .storage
            .list_objects(bucket, prefix, &cursor, PAGE)
            .await?;
        let exhausted = page.len() < PAGE;
        let mut jumped = false;
        for obj in page {
            cursor = obj.key.clone();
            if let Some(Entry::Prefix(last)) = out.last() {
                if obj.key.starts_with(last.as_str()) {
                    continue;
                }
            }
            if out.len() == max {
                return Ok((out, true));
            }
            match common_prefix(&obj.key, prefix, delimiter) {
                Some(cp) => {
                    // Every other key under this prefix folds into it: move
                    // the cursor past them all instead of reading them.
                    cursor = skip_past(&cp);
                    out.push(Entry::Prefix(cp));
                    jumped = true;
                    break;
                }
                None => out.push(Entry::Object(Box::new(obj))),
            }
        }
        if exhausted && !jumped {
            return Ok((out, false));
        }
    }
}

/// A cursor sorting after every key that starts with `cp` (in UTF-8 byte
/// order no character sorts after U+10FFFF).
pub(super) fn skip_past(cp: &str) -> String {
    format!("{cp}\u{10FFFF}")
}

pub(super) fn max_keys(q: &Query) -> Result<usize, ApiError> {
    match q.get("max-keys") {
        None => Ok(MAX_KEYS),
        Some(v) => v.parse::<usize>().map(|n| n.min(MAX_KEYS)).map_err(|_| {
            ApiError::InvalidArgument("max-keys must be a non-negative integer".into())
        }),
    }
}

/// The elements V1 and V2 listings share after their markers: Delimiter,
/// EncodingType, IsTruncated.
pub(super) fn delimiter_encoding_truncated(
    x: &mut Xml,
    delimiter: Option<&str>,
    q: &Query,
    truncated: bool,
    enc: &impl Fn(&str) -> String,
) {
    if let Some(d) = delimiter {
        x.elem("Delimiter", &enc(d));
    }
    if q.get("encoding-type").is_some() {
        x.elem("EncodingType", "url");
    }
    x.elem("IsTruncated", if truncated { "true" } else { "false" });
}

pub(super) fn encoder(q: &Query) -> Result<impl Fn(&str) -> String, ApiError> {
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(ApiError::InvalidArgument(
                "Invalid Encoding Method specified in Request; only 'url' is supported".into(),
            ))
        }
    };
    Ok(move |s: &str| {
        if url {
            uri_encode(s, false)
        } else {
            s.to_string()
        }
    })
}

fn write_entries(x: &mut Xml, entries: &[Entry], enc: &impl Fn(&str) -> String, owner: bool) {
    for e in entries {
        if let Entry::Object(o) = e {
            x.open("Contents").elem("Key", &enc(&o.key));
            x.elem("LastModified", &timestamp(o.last_modified))
                .elem("ETag", &format!("\"{}\"", o.etag))
                .elem("Size", &o.size.to_string())
                .elem("StorageClass", "STANDARD");
            if owner {
                write_owner(x);
            }
            x.close("Contents");
        }
    }
    for e in entries {
        if let Entry::Prefix(p) = e {
            write_prefix(x, p, enc);
        }
    }
}

/// The `Owner` of a listed object: the gateway's one owner.
pub(super) fn write_owner(x: &mut Xml) {
    x.open("Owner")
        .elem("ID", bucket::OWNER_ID)
        .elem("DisplayName", bucket::OWNER_ID)
        .close("Owner");
}

/// One `CommonPrefixes` element.
pub(super) fn write_prefix(x: &mut Xml, prefix: &str, enc: &impl Fn(&str) -> String) {
    x.open("CommonPrefixes")
        .elem("Prefix", &enc(prefix))
        .close("CommonPrefixes");
}

pub async fn list_v2(app: &App, bucket_name: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max = max_keys(q)?;
    let enc = encoder(q)?;
    let start_after = q.get("start-after").unwrap_or("");
    let token = q.get("continuation-token");
    let after = match token {
        Some(t) => decode_token(t)?,
        None => start_after.to_string(),
    };
    let (entries, truncated) = collect(app, bucket_name, prefix, delimiter, &after, max).await?;

    let mut x = Xml::new("ListBucketResult");
    x.elem("Name", bucket_name)
        .elem("Prefix", &enc(prefix))
        .elem("KeyCount", &entries.len().to_string())
        .elem("MaxKeys", &max.to_string());
    delimiter_encoding_truncated(&mut x, delimiter, q, truncated, &enc);
    if let Some(t) = token {
        x.elem("ContinuationToken", t);
    }
    if !start_after.is_empty() {
        x.elem("StartAfter", &enc(start_after));
    }
    if truncated {
        if let Some(last) = entries.last() {
            x.elem("NextContinuationToken", &encode_token(last.key()));
        }
    }
    write_entries(&mut x, &entries, &enc, q.get("fetch-owner") == Some("true"));
    Ok(xml_response(StatusCode::OK, x.finish("ListBucketResult")))
}

pub async fn list_v1(app: &App, bucket_name: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max = max_keys(q)?;
    let enc = encoder(q)?;
    let marker = q.get("marker").unwrap_or("");
    let (entries, truncated) = collect(app, bucket_name, prefix, delimiter, marker, max).await?;

    let mut x = Xml::new("ListBucketResult");
    x.elem("Name", bucket_name)
        .elem("Prefix", &enc(prefix))
        .elem("Marker", &enc(marker))
        .elem("MaxKeys", &max.to_string());
    delimiter_encoding_truncated(&mut x, delimiter, q, truncated, &enc);
    if truncated && delimiter.is_some() {
        if let Some(last) = entries.last() {
            x.elem("NextMarker", &enc(last.key()));
        }
    }
    write_entries(&mut x, &entries, &enc, true);
    Ok(xml_response(StatusCode::OK, x.finish("ListBucketResult")))
}
