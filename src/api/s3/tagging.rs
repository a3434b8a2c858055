//! Object tags: PutObjectTagging, GetObjectTagging, DeleteObjectTagging,
//! the `x-amz-tagging` header of PutObject, CopyObject (with
//! `x-amz-tagging-directive`) and CreateMultipartUpload, and a POST form's
//! `tagging` field — with AWS's
//! limits and codes: at most 10 tags (400 `BadRequest`), keys of 1 to 128
//! characters not starting with `aws:`, values of at most 256, letters,
//! digits, spaces and `+ - = . _ : / @` (400 `InvalidTag`), no key twice.
//!
//! Owns reading and checking a tag set and writing it as XML. Must never:
//! store a tag set it has not checked, or change an object's bytes, ETag or
//! Last-Modified (a tag change is the object's metadata alone).

use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use super::versioning;
use super::xml::{self, Xml, XmlEvent};
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;

/// The most tags an object carries.
pub const MAX_OBJECT_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;
/// Largest PutObjectTagging body read (10 tags of the longest keys and
/// values, escaped, fit many times over).
const MAX_TAGGING_BODY: usize = 64 * 1024;

/// A checked tag set, in the order given.
pub type Tags = Vec<(String, String)>;

/// S3's most tags on a bucket.
const MAX_BUCKET_TAGS: usize = 50;

/// Checks an object's tag set against S3's rules (see the module docs).
pub fn check(tags: &Tags) -> Result<(), ApiError> {
    if tags.len() > MAX_OBJECT_TAGS {
        return Err(ApiError::TooManyTags(format!(
            "Object tags cannot be greater than {MAX_OBJECT_TAGS}"
        )));
    }
    check_each(tags)
}

/// The rules every tag of a set keeps, on an object or a bucket.
fn check_each(tags: &Tags) -> Result<(), ApiError> {
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c))
    };
    for (i, (k, v)) in tags.iter().enumerate() {
        let chars = k.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS || !allowed(k) {
            return Err(ApiError::InvalidTag(
                "The TagKey you have provided is invalid".into(),
            ));
        }
        if k.starts_with("aws:") {
            return Err(ApiError::InvalidTag(
                "Your TagKey cannot be prefixed with aws:".into(),
            ));
        }
        if v.chars().count() > MAX_VALUE_CHARS || !allowed(v) {
            return Err(ApiError::InvalidTag(
                "The TagValue you have provided is invalid".into(),
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(ApiError::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}

/// The tag set of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded),
/// checked; `None` without the header.
pub fn from_header(h: &HeaderMap) -> Result<Option<Tags>, ApiError> {
    let Some(v) = h.get("x-amz-tagging").map(|v| v.to_str()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query \
             parameters without tag name duplicates."
                .into(),
        )
    };
    let v = v.map_err(|_| bad())?;
    let mut tags = Tags::new();
    for pair in v.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode =
            |s: &str| crate::sigv4::encode::percent_decode(&s.replace('+', " ")).map_err(|_| bad());
        let (k, v) = (decode(k)?, decode(v)?);
        if tags.iter().any(|(other, _)| *other == k) {
            return Err(bad());
        }
        tags.push((k, v));
    }
    check(&tags)?;
    Ok(Some(tags))
}

/// The tag set of a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…`
/// document (a PutObjectTagging body, a POST form's `tagging` field),
/// checked.
pub fn from_xml(body: &[u8]) -> Result<Tags, ApiError> {
    let tags = parse_xml(body)?;
    check(&tags)?;
    Ok(tags)
}

/// The tags of a Tagging document, unchecked.
fn parse_xml(body: &[u8]) -> Result<Tags, ApiError> {
    let mut tags = Tags::new();
    let (mut key, mut value): (Option<String>, Option<String>) = (None, None);
    let mut tagging = false;
    xml::read(body, |event| {
        match event {
            XmlEvent::End { element: "Tagging" } => tagging = true,
            XmlEvent::Text {
                element: "Key",
                text,
            } => key = Some(text.to_string()),
            XmlEvent::Text {
                element: "Value",
                text,
            } => value = Some(text.to_string()),
            XmlEvent::End { element: "Tag" } => {
                let k = key
                    .take()
                    .ok_or_else(|| xml::malformed("a Tag without a Key"))?;
                tags.push((k, value.take().unwrap_or_default()));
            }
            _ => {}
        }
        Ok(())
    })?;
    if !tagging {
        return Err(xml::malformed("the body is not a Tagging document"));
    }
    Ok(tags)
}

/// PutObjectTagging: replaces the tag set of the object (or of the
/// version named).
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let xml = crate::api::ingest::read_xml_body(parts, body, MAX_TAGGING_BODY, "tag set").await?;
    let tags = from_xml(&xml)?;
    set(app, bucket, key, version, tags).await
}

/// DeleteObjectTagging: the object (or the version named) keeps no tags.
pub async fn delete(
    app: &App,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let mut r = set(app, bucket, key, version, Tags::new()).await?;
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// Sets the tags of the object a tagging request names (found as a read
/// finds it: a delete marker is refused as S3 refuses it), answering with
/// its version id where S3 shows one.
async fn set(
    app: &App,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    tags: Tags,
) -> Result<Response<Body>, ApiError> {
    let (obj, _, shown) = versioning::read_target(app, bucket, key, version).await?;
    // The version found, by its id: a write racing this one cannot move
    // the tags onto another version.
    let named = Some(obj.version_id.as_str());
    if !app
        .storage
        .set_object_tags(bucket, key, named, tags)
        .await?
    {
        return Err(match version {
            Some(_) => ApiError::NoSuchVersion,
            None => no_such_key(),
        });
    }
    let mut r = empty(StatusCode::OK);
    if shown {
        versioning::set_version_id(r.headers_mut(), &obj.version_id);
    }
    Ok(r)
}

/// GetObjectTagging: the tag set, in the order it was given.
pub async fn get(
    app: &App,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (obj, _, shown) = versioning::read_target(app, bucket, key, version).await?;
    let mut x = Xml::new("Tagging");
    x.open("TagSet");
    for (k, v) in &obj.meta.tags {
        x.open("Tag").elem("Key", k).elem("Value", v).close("Tag");
    }
    x.close("TagSet");
    let mut r = xml_response(StatusCode::OK, x.finish("Tagging"));
    if shown {
        versioning::set_version_id(r.headers_mut(), &obj.version_id);
    }
    Ok(r)
}

/// PutBucketTagging: the bucket's tag set, replaced whole (at most 50,
/// each as an object's tag).
pub async fn put_bucket(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let xml = crate::api::ingest::read_xml_body(parts, body, MAX_TAGGING_BODY, "tag set").await?;
    let tags = parse_xml(&xml)?;
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(ApiError::InvalidTag(format!(
            "Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}"
        )));
    }
    check_each(&tags)?;
    if !app.storage.set_bucket_tags(bucket_name, Some(tags)).await? {
        return Err(super::bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// DeleteBucketTagging.
pub async fn delete_bucket(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    if !app.storage.set_bucket_tags(bucket_name, None).await? {
        return Err(super::bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// GetBucketTagging: `404 NoSuchTagSet` for a bucket with none.
pub async fn get_bucket(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let tags = match app.storage.bucket_tags(bucket_name).await? {
        None => return Err(super::bucket::no_such_bucket(bucket_name)),
        Some(None) => return Err(ApiError::NoSuchTagSet),
        Some(Some(t)) => t,
    };
    let mut x = Xml::new("Tagging");
    x.open("TagSet");
    for (k, v) in &tags {
        x.open("Tag").elem("Key", k).elem("Value", v).close("Tag");
    }
    x.close("TagSet");
    Ok(xml_response(StatusCode::OK, x.finish("Tagging")))
}

fn no_such_key() -> ApiError {
    ApiError::NoSuchKey("The specified key does not exist.".into())
}

/// The tags a copy gives its object: the source's (`x-amz-tagging-directive:
/// COPY`, the default), or the request's `x-amz-tagging` (`REPLACE`).
pub fn for_copy(h: &HeaderMap, source: &Tags) -> Result<Tags, ApiError> {
    match h
        .get("x-amz-tagging-directive")
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(source.clone()),
        Some(d) if d.eq_ignore_ascii_case("COPY") => Ok(source.clone()),
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => Ok(from_header(h)?.unwrap_or_default()),
        Some(_) => Err(ApiError::InvalidArgument(
            "Unknown tagging directive: x-amz-tagging-directive is COPY or REPLACE".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> Result<Option<Tags>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert("x-amz-tagging", v.parse().unwrap());
        from_header(&h)
    }

    #[test]
    fn a_header_is_url_encoded_pairs() {
        let tags = header("project=survey%207&site=north+field&empty=")
            .unwrap()
            .unwrap();
        assert_eq!(
            tags,
            [
                ("project".to_string(), "survey 7".to_string()),
                ("site".to_string(), "north field".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert!(matches!(
            header("a=1&a=2"),
            Err(ApiError::InvalidArgument(_))
        ));
        assert_eq!(from_header(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn limits_and_codes_are_awss() {
        let many: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(matches!(check(&many), Err(ApiError::TooManyTags(_))));
        for bad in [
            vec![(String::new(), "v".to_string())],
            vec![("k".repeat(129), "v".to_string())],
            vec![("k".to_string(), "v".repeat(257))],
            vec![("aws:thing".to_string(), "v".to_string())],
            vec![("semi;colon".to_string(), "v".to_string())],
            vec![
                ("k".to_string(), "a".to_string()),
                ("k".to_string(), "b".to_string()),
            ],
        ] {
            assert!(
                matches!(check(&bad), Err(ApiError::InvalidTag(_))),
                "{bad:?}"
            );
        }
        let fine: Tags = vec![
            ("k".repeat(128), "v".repeat(256)),
            ("ünïcødé +-=._:/@".into(), "日本語 ok".into()),
        ];
        check(&fine).unwrap();
    }

    #[test]
    fn a_body_is_a_tag_set() {
        let xml = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>\
                    <Tag><Key>b</Key><Value></Value></Tag></TagSet></Tagging>";
        assert_eq!(
            from_xml(xml).unwrap(),
            [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), String::new())
            ]
        );
        assert!(
            from_xml(b"<Tagging><TagSet><Tag><Value>1</Value></Tag></TagSet></Tagging>").is_err()
        );
    }
}
