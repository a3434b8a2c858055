//! Reading objects: GetObject and HeadObject (Range, conditional headers,
//! `response-*` overrides, inert content types for browsers) and
//! GetObjectAttributes.
//!
//! Must never: change a row (reads only), or serve bytes whose blob is not
//! the one the object names.

use futures_util::TryStreamExt;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::conditions::{Conditions, Verdict};
use super::object::{echo_checksums, header_str};
use super::versioning;
use crate::api::body::{empty, full, Body};
use crate::api::error::ApiError;
use crate::api::query::Query;
use crate::app::App;
use crate::index::ObjectRecord;
use crate::storage::PartPlace;

/// The byte range a `Range` header selects: `(start, len)`, `None` for the
/// whole object.
///
/// As RFC 9110 §14.1.2 and S3: a spec that is not `bytes=first-last`,
/// `bytes=first-` or `bytes=-suffix` in plain decimal digits (a sign, a
/// letter, `last < first`, several ranges) is ignored; a position too
/// large for a u64 is just past the end (so `last` and `suffix` clamp to
/// the object, and such a `first` is unsatisfiable: 416 `InvalidRange`).
fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = || {
        ApiError::InvalidRange(format!(
            "The requested range is not satisfiable: '{v}' for an object of {size} bytes; \
             ask for a range that starts before byte {size}"
        ))
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None); // other units are ignored, as in S3
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: S3 answers with the whole object
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Empty, or a position; `Err` for anything but digits.
    let position = |s: &str| -> Result<Option<u64>, ()> {
        if s.is_empty() {
            Ok(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) {
            // Only overflow can fail here.
            Ok(Some(s.parse().unwrap_or(u64::MAX)))
        } else {
            Err(())
        }
    };
    let (Ok(first), Ok(last)) = (position(a), position(b)) else {
        return Ok(None); // not a byte range: ignored, as in S3
    };
    let range = match (first, last) {
        (None, Some(n)) => {
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            let n = n.min(size);
            (size - n, n)
        }
        (Some(start), last) => {
            if start >= size {
                return Err(unsatisfiable());
            }
            let end = last.map_or(size - 1, |l| l.min(size - 1));
            if last.is_some_and(|l| l < start) {
                return Ok(None); // syntactically invalid: ignored
            }
            (start, end - start + 1)
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(range))
}

pub use crate::headers::http_date;

fn set(h: &mut HeaderMap, name: &'static str, v: Option<&str>) {
    if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(name, v);
    }
}

/// Headers describing a stored object, shared by GET, HEAD and 304.
fn object_headers(h: &mut HeaderMap, obj: &ObjectRecord, checksum_mode: bool) {
    set(h, "etag", Some(&format!("\"{}\"", obj.etag)));
    if let Some(v) = http_date(obj.last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    set(h, "cache-control", obj.meta.cache_control.as_deref());
    set(h, "expires", obj.meta.expires.as_deref());
    for (name, value) in &obj.meta.user {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if checksum_mode && !obj.meta.checksums.is_empty() {
        echo_checksums(h, &obj.meta.checksums);
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(super::part_checksums::object_type(&obj.meta)),
        );
    }
    if !obj.meta.tags.is_empty() {
        set(
            h,
            "x-amz-tagging-count",
            Some(&obj.meta.tags.len().to_string()),
        );
    }
    super::object_lock::write_headers(h, &obj.meta);
    // No x-amz-mp-parts-count here: AWS sends it only to a read of one part
    // (`partNumber`), not with the whole object.
}

pub async fn get_object(
    app: &App,
    parts: &Parts,
    q: &Query,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (obj, inline, show_version, expiry) =
        versioning::read_current(app, bucket_name, key, version).await?;
    let head = parts.method == Method::HEAD;
    let checksum_mode = header_str(&parts.headers, "x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"));

    match Conditions::of_read(&parts.headers).judge(&obj.etag, obj.last_modified, None) {
        Verdict::Proceed => {}
        Verdict::Failed => return Err(ApiError::PreconditionFailed),
        Verdict::NotModified => {
            let mut r = empty(StatusCode::NOT_MODIFIED);
            object_headers(r.headers_mut(), &obj, false);
            if show_version {
                versioning::set_version_id(r.headers_mut(), &obj.version_id);
            }
            return Ok(r);
        }
    }
    // `partNumber`: a ranged read of one part (206, its parts counted);
    // else `Range`.
    let (range, parts_count, part_number) =
        match q.get("partNumber") {
            Some(v) => {
                let n = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::InvalidArgument(
                            "Part number must be an integer between 1 and 10000, inclusive".into(),
                        )
                    })?;
                if header_str(&parts.headers, "range").is_some() {
                    return Err(ApiError::InvalidRequest(
                        "Cannot specify both Range header and partNumber query parameter".into(),
                    ));
                }
                match app.storage.part_of(&obj, n).await? {
                    PartPlace::At { start, len, count } => (Some((start, len)), count, Some(n)),
                    PartPlace::NoSuchPart => {
                        return Err(ApiError::InvalidPartNumber(format!(
                        "The requested partnumber is not satisfiable: the object has {} part(s)",
                        obj.meta.parts.unwrap_or(1)
                    )))
                    }
                    PartPlace::Unknown => return Err(ApiError::NotImplemented(
                        "this multipart object was stored whole, and where its parts begin was \
                         not kept; read it with a Range instead of partNumber"
                            .into(),
                    )),
                }
            }
            None => match header_str(&parts.headers, "range") {
                Some(v) => (parse_range(v, obj.size)?, None, None),
                None => (None, None, None),
            },
        };
    let (start, len) = range.unwrap_or((0, obj.size));
    let blob = if head {
        None
    } else {
        Some(app.storage.open_object(&obj, inline, start, len).await?)
    };
    let body: Body = match blob {
        None => full(""),
        Some(b) => BodyExt::boxed(StreamBody::new(b.chunks.map_ok(Frame::data))),
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    // A checksum describes the whole object, so a range of it gets none (as
    // S3 does; SDKs would otherwise check the range against it and fail);
    // a part read by `partNumber` gets that part's, where it was kept.
    object_headers(h, &obj, checksum_mode && range.is_none());
    if let (true, Some(n), Some(c)) = (
        checksum_mode,
        part_number,
        obj.meta.multipart_checksum.as_ref(),
    ) {
        if let Some(v) = obj.meta.part_checksums.get(n as usize - 1) {
            echo_checksums(h, &[(c.algorithm.clone(), v.clone())]);
            h.insert("x-amz-checksum-type", HeaderValue::from_static("COMPOSITE"));
        }
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if show_version {
        versioning::set_version_id(h, &obj.version_id);
    }
    super::lifecycle::expiration_header(h, expiry);
    if let Some(n) = parts_count {
        set(
            r.headers_mut(),
            "x-amz-mp-parts-count",
            Some(&n.to_string()),
        );
    }
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            r.headers_mut(),
            "content-range",
            Some(&format!("bytes {start}-{}/{}", start + len - 1, obj.size)),
        );
    }
    // Presigned GETs may override response headers, as in S3.
    let h = r.headers_mut();
    let pick = |param: &str, stored: Option<&str>| -> Option<String> {
        q.get(param)
            .map(str::to_string)
            .or(stored.map(str::to_string))
    };
    set(
        h,
        "content-type",
        pick("response-content-type", Some(&obj.content_type)).as_deref(),
    );
    set(
        h,
        "content-disposition",
        pick(
            "response-content-disposition",
            obj.meta.content_disposition.as_deref(),
        )
        .as_deref(),
    );
    set(
        h,
        "content-encoding",
        pick(
            "response-content-encoding",
            obj.meta.content_encoding.as_deref(),
        )
        .as_deref(),
    );
    set(
        h,
        "content-language",
        pick(
            "response-content-language",
            obj.meta.content_language.as_deref(),
        )
        .as_deref(),
    );
    if let Some(v) = q.get("response-cache-control") {
        set(h, "cache-control", Some(v));
    }
    if let Some(v) = q.get("response-expires") {
        set(h, "expires", Some(v));
    }
    confine(r.headers_mut());
    Ok(r)
}

/// Types a browser shows as inert content: an object of any other type
/// (HTML, SVG, XML, script, or a type nobody declared) could run script as
/// a page of this gateway's origin — the origin of the upload page and its
/// token — so it is served in a sandbox of its own.
const INERT_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/pdf",
    "application/json",
    "application/zip",
    "binary/octet-stream",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "image/tiff",
    "text/plain",
    "text/csv",
];

/// Headers that keep an object body from acting as a page of this origin:
/// `nosniff` on every body (the browser keeps to the type we send), and a
/// sandboxing Content-Security-Policy (an opaque origin: no access to the
/// upload page's storage, no script) unless the type is inert. Audio and
/// video play as they are.
fn confine(h: &mut HeaderMap) {
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let essence = header_str(h, "content-type")
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let inert = INERT_TYPES.contains(&essence.as_str())
        || essence.starts_with("audio/")
        || essence.starts_with("video/");
    if !inert {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
    }
}

/// GetObjectAttributes' part paging: `x-amz-max-parts` (1,000 at most, the
/// default) and `x-amz-part-number-marker` (parts after it; 0 by default).
fn part_paging(h: &HeaderMap) -> Result<(usize, usize), ApiError> {
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        match header_str(h, name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<usize>().map_err(|_| {
                ApiError::InvalidArgument(format!("{name} must be a non-negative integer"))
            }),
        }
    };
    Ok((
        number("x-amz-max-parts", 1000)?.min(1000),
        number("x-amz-part-number-marker", 0)?,
    ))
}

/// The attributes GetObjectAttributes can return.
const ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];

/// GetObjectAttributes (`GET /bucket/key?attributes`): the attributes named
/// in `x-amz-object-attributes`, from the index alone (no blob is read).
pub async fn get_attributes(
    app: &App,
    parts: &Parts,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let wanted: Vec<&str> = parts
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(ApiError::InvalidArgument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is \
             either missing or empty; name some of ETag, Checksum, ObjectParts, StorageClass, \
             ObjectSize"
                .into(),
        ));
    }
    if let Some(bad) = wanted.iter().find(|a| !ATTRIBUTES.contains(a)) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid attribute name specified: '{bad}'; use ETag, Checksum, ObjectParts, \
             StorageClass or ObjectSize"
        )));
    }
    let (obj, _, show_version) = versioning::read_target(app, bucket_name, key, version).await?;
    let want = |a: &str| wanted.contains(&a);
    let mut x = super::xml::Xml::new("GetObjectAttributesResponse");
    if want("ETag") {
        // Unquoted here, unlike every other ETag S3 returns.
        x.elem("ETag", &obj.etag);
    }
    if want("Checksum") && !obj.meta.checksums.is_empty() {
        x.open("Checksum");
        for (alg, value) in &obj.meta.checksums {
            x.elem(&format!("Checksum{alg}"), value);
        }
        x.elem(
            "ChecksumType",
            super::part_checksums::object_type(&obj.meta),
        );
        x.close("Checksum");
    }
    if want("ObjectParts") {
        if let Some(n) = obj.meta.parts {
            x.open("ObjectParts");
            // Each part's number and size, a page at a time
            // (`x-amz-max-parts`, `x-amz-part-number-marker`), where the
            // object kept its parts' boundaries.
            if let Some(sizes) = app.storage.part_sizes(&obj).await? {
                let (max, marker) = part_paging(&parts.headers)?;
                let page: Vec<(usize, u64)> = sizes
                    .iter()
                    .copied()
                    .enumerate()
                    .map(|(i, s)| (i + 1, s))
                    .filter(|(num, _)| *num > marker)
                    .take(max)
                    .collect();
                let last = page.last().map_or(marker, |(num, _)| *num);
                let truncated = last < sizes.len();
                x.elem("PartNumberMarker", &marker.to_string())
                    .elem("NextPartNumberMarker", &last.to_string())
                    .elem("MaxParts", &max.to_string())
                    .elem("IsTruncated", if truncated { "true" } else { "false" });
                let algorithm = obj.meta.multipart_checksum.as_ref().map(|c| &c.algorithm);
                for (num, size) in page {
                    x.open("Part")
                        .elem("PartNumber", &num.to_string())
                        .elem("Size", &size.to_string());
                    if let (Some(a), Some(v)) = (algorithm, obj.meta.part_checksums.get(num - 1)) {
                        x.elem(&format!("Checksum{a}"), v);
                    }
                    x.close("Part");
                }
            }
            // botocore reads TotalPartsCount from this element name.
            x.elem("PartsCount", &n.to_string()).close("ObjectParts");
        }
    }
    if want("StorageClass") {
        x.elem("StorageClass", "STANDARD");
    }
    if want("ObjectSize") {
        x.elem("ObjectSize", &obj.size.to_string());
    }
    let mut r =
        crate::api::body::xml_response(StatusCode::OK, x.finish("GetObjectAttributesResponse"));
    if let Some(v) = http_date(obj.last_modified) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    if show_version {
        versioning::set_version_id(r.headers_mut(), &obj.version_id);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_s3_reads_them() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 10)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 10)));
        assert_eq!(parse_range("bytes=-500", 100).unwrap(), Some((0, 100)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 50)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=-0", 100).is_err());
        assert_eq!(parse_range("bytes=9-2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
    }

    /// Found by `prop_range_*`: a sign was read as part of a number, and a
    /// position past u64 made a satisfiable range a 416.
    #[test]
    fn ranges_are_plain_digits_and_clamp_past_u64() {
        assert_eq!(parse_range("bytes=+0-", 1).unwrap(), None);
        assert_eq!(parse_range("bytes=+1-2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=1-+2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=-+2", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=1-x", 100).unwrap(), None);
        assert_eq!(
            parse_range("bytes=-20000000000000000000", 1).unwrap(),
            Some((0, 1))
        );
        assert_eq!(
            parse_range("bytes=5-99999999999999999999999", 100).unwrap(),
            Some((5, 95))
        );
        assert!(parse_range("bytes=99999999999999999999999-", u64::MAX).is_err());
        assert_eq!(
            parse_range("bytes=0-", u64::MAX).unwrap(),
            Some((0, u64::MAX))
        );
    }

    use proptest::prelude::*;

    /// Object sizes, the edges included.
    fn size() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u64::MAX),
            0..1000u64,
            u64::MAX - 1000..=u64::MAX,
            any::<u64>(),
        ]
    }

    /// A byte position as a client may write it: digits, sometimes more
    /// than fit in a u64, with leading zeros.
    fn digits() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (0..1000u64).prop_map(|n| n.to_string()),
            "0{0,3}[0-9]{1,25}",
        ]
    }

    /// The range a `bytes=` spec of digit strings asks for, computed in
    /// u128 (RFC 9110 §14.1.2): `Ok(None)` to ignore it, `Err(())` for 416.
    fn model(a: Option<&str>, b: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let n = |s: &str| s.parse::<u128>().unwrap_or(u128::MAX);
        let size = u128::from(size);
        let r = match (a.map(n), b.map(n)) {
            (None, None) => return Ok(None),
            (None, Some(suffix)) => {
                if suffix == 0 || size == 0 {
                    return Err(());
                }
                let len = suffix.min(size);
                (size - len, len)
            }
            (Some(start), _) if start >= size => return Err(()),
            (Some(start), None) => (start, size - start),
            (Some(start), Some(end)) if end < start => return Ok(None),
            (Some(start), Some(end)) => (start, end.min(size - 1) - start + 1),
        };
        let u = |v: u128| u64::try_from(v).map_err(|_| ());
        Ok(Some((u(r.0)?, u(r.1)?)))
    }

    proptest! {
        #![proptest_config(crate::testing::config(10000))]

        /// Any header, any size: no panic; a range returned lies inside the
        /// object and came from a header of the strict `bytes=first-last`
        /// syntax (digits only: no sign, no other characters).
        #[test]
        fn prop_range_lies_inside_the_object(
            v in prop_oneof![
                any::<String>(),
                "[ ]?bytes=[ ]?[-+0-9a-f ,]{0,12}-?[-+0-9 ,]{0,24}",
            ],
            size in size(),
        ) {
            match parse_range(&v, size) {
                Ok(Some((start, len))) => {
                    prop_assert!(len >= 1 && start < size);
                    prop_assert!(start.checked_add(len).is_some_and(|end| end <= size));
                    let spec = v.trim().strip_prefix("bytes=").unwrap_or("");
                    let (a, b) = spec.split_once('-').unwrap_or(("x", "x"));
                    for part in [a.trim(), b.trim()] {
                        prop_assert!(part.bytes().all(|c| c.is_ascii_digit()), "{:?} accepted", v);
                    }
                }
                Ok(None) => {}
                Err(e) => prop_assert!(matches!(e, ApiError::InvalidRange(_)), "{:?}", e),
            }
        }

        /// `bytes=first-last`, `bytes=first-` and `bytes=-suffix` with any
        /// digits: exactly the range RFC 9110 defines, clamped to the
        /// object, or 416 when nothing of it is in the object.
        #[test]
        fn prop_range_matches_the_rfc(
            a in proptest::option::of(digits()),
            b in proptest::option::of(digits()),
            size in size(),
        ) {
            let header = format!("bytes={}-{}", a.as_deref().unwrap_or(""), b.as_deref().unwrap_or(""));
            let got = parse_range(&header, size).map_err(|_| ());
            prop_assert_eq!(got, model(a.as_deref(), b.as_deref(), size), "{}", header);
        }
    }
}
