//! The S3 XML the client reads and writes: error codes, the upload id of
//! a new multipart upload, listing pages (ListObjectsV2,
//! ListMultipartUploads), the completion's answer, and the completion's
//! request body.
//!
//! Must never: panic on what a store sends, return an error's body text
//! (only its `<Code>`), or resolve anything but XML's predefined entities.
//! Namespaces are ignored (S3's answers use a default one).

use quick_xml::events::Event;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::model::{ObjectEntry, Part, PendingUpload};

/// Walks `doc`, calling `f` with the path of open elements (outermost
/// first) and the unescaped text directly inside the innermost one, and
/// with `None` text when an element closes.
fn walk(doc: &[u8], mut f: impl FnMut(&[String], Option<&str>)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("XML: {e}")),
            Ok(Event::Eof) if path.is_empty() => return Ok(()),
            Ok(Event::Eof) => return Err(format!("XML: <{}> is never closed", path.join("/"))),
            Ok(Event::Start(e)) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::Empty(e)) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                f(&path, Some(""));
                f(&path, None);
                path.pop();
            }
            Ok(Event::End(_)) => {
                f(&path, None);
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t.unescape().map_err(|e| format!("XML: {e}"))?;
                f(&path, Some(&text));
            }
            Ok(Event::CData(t)) => f(&path, Some(&String::from_utf8_lossy(&t))),
            Ok(_) => {}
        }
        buf.clear();
    }
}

fn is(path: &[String], want: &[&str]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a == b)
}

/// The `<Code>` of an S3 `<Error>` document, if it is one.
pub fn error_code(doc: &[u8]) -> Option<String> {
    let mut code = None;
    walk(doc, |path, text| {
        if let Some(t) = text {
            if is(path, &["Error", "Code"]) {
                code.get_or_insert_with(String::new).push_str(t);
            }
        }
    })
    .ok()?;
    code.map(|c| c.trim().to_owned())
}

/// The `UploadId` of an `InitiateMultipartUploadResult`.
pub fn upload_id(doc: &[u8]) -> Result<String, String> {
    let mut id = String::new();
    walk(doc, |path, text| {
        if let Some(t) = text {
            if is(path, &["InitiateMultipartUploadResult", "UploadId"]) {
                id.push_str(t);
            }
        }
    })?;
    let id = id.trim();
    if id.is_empty() {
        return Err("no UploadId in the InitiateMultipartUploadResult".into());
    }
    Ok(id.to_owned())
}

/// What a completion answered: 200 is not enough, S3 may send an
/// `<Error>` in a 200 when it fails after the answer started.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    Failed(String),
}

/// Reads the answer to CompleteMultipartUpload.
pub fn completion(doc: &[u8]) -> Result<Completion, String> {
    let mut root = None;
    walk(doc, |path, _| {
        if root.is_none() {
            root = path.first().cloned();
        }
    })?;
    match root.as_deref() {
        Some("CompleteMultipartUploadResult") => Ok(Completion::Done),
        Some("Error") => Ok(Completion::Failed(error_code(doc).unwrap_or_default())),
        Some(other) => Err(format!("a completion answered with <{other}>")),
        None => Err("an empty answer to a completion".into()),
    }
}

/// One page of a listing and where the next one starts (`None`: the
/// last page).
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T, N> {
    pub items: Vec<T>,
    pub next: Option<N>,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| format!("a bad time {s:?}"))
}

fn truth(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("IsTruncated {other:?}")),
    }
}

/// A listing page under `<root>`: each `<item>` made by `entry` from the
/// texts of its child elements `fields` (in that order; the first bad
/// entry fails the page), and, when `<IsTruncated>` is true, where the
/// next page starts, made by `next` from the texts of `root`'s child
/// elements `markers`.
fn page<T, N, const F: usize, const M: usize>(
    doc: &[u8],
    (root, item): (&str, &str),
    fields: [&str; F],
    entry: impl Fn([String; F]) -> Result<T, String>,
    markers: [&str; M],
    next: impl FnOnce([String; M]) -> Result<N, String>,
) -> Result<Page<T, N>, String> {
    let mut items = Vec::new();
    let mut values: [String; F] = std::array::from_fn(|_| String::new());
    let mut marks: [String; M] = std::array::from_fn(|_| String::new());
    let mut truncated = String::new();
    let mut bad: Option<String> = None;
    walk(doc, |path, text| match (path, text) {
        ([r, i, field], Some(t)) if r == root && i == item => {
            if let Some(k) = fields.iter().position(|f| f == field) {
                values[k].push_str(t);
            }
        }
        ([r, child], Some(t)) if r == root => {
            if child == "IsTruncated" {
                truncated.push_str(t);
            } else if let Some(k) = markers.iter().position(|m| m == child) {
                marks[k].push_str(t);
            }
        }
        ([r, i], None) if r == root && i == item => {
            let taken = std::mem::replace(&mut values, std::array::from_fn(|_| String::new()));
            match entry(taken) {
                Ok(e) => items.push(e),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        }
        _ => {}
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    if truncated.is_empty() {
        return Err(format!("no {root}/IsTruncated"));
    }
    let next = if truth(&truncated)? {
        Some(next(marks)?)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// A `ListBucketResult` of ListObjectsV2; the next page's continuation
/// token when truncated.
pub fn object_page(doc: &[u8]) -> Result<Page<ObjectEntry, String>, String> {
    page(
        doc,
        ("ListBucketResult", "Contents"),
        ["Key", "Size", "LastModified"],
        |[key, size, modified]| {
            if key.is_empty() {
                return Err("a Contents without a Key".to_owned());
            }
            Ok(ObjectEntry {
                size: size
                    .trim()
                    .parse()
                    .map_err(|_| format!("a bad Size {size:?}"))?,
                last_modified: parse_time(&modified)?,
                key,
            })
        },
        ["NextContinuationToken"],
        |[token]| {
            let token = token.trim();
            if token.is_empty() {
                return Err("a truncated listing without a NextContinuationToken".into());
            }
            Ok(token.to_owned())
        },
    )
}

/// A `ListMultipartUploadsResult`; the next page's (key marker, upload id
/// marker) when truncated.
pub fn upload_page(doc: &[u8]) -> Result<Page<PendingUpload, (String, String)>, String> {
    page(
        doc,
        ("ListMultipartUploadsResult", "Upload"),
        ["Key", "UploadId", "Initiated"],
        |[key, id, initiated]| {
            let initiated = parse_time(&initiated)?;
            let upload_id = id.trim().to_owned();
            if upload_id.is_empty() {
                return Err("an Upload without an UploadId".to_owned());
            }
            Ok(PendingUpload {
                key,
                upload_id,
                initiated,
            })
        },
        ["NextKeyMarker", "NextUploadIdMarker"],
        |[next_key, next_id]| {
            if next_key.is_empty() {
                return Err("a truncated upload listing without a NextKeyMarker".into());
            }
            Ok((next_key, next_id.trim().to_owned()))
        },
    )
}

/// The body of CompleteMultipartUpload: every part's number and ETag, and
/// its CRC32C when it was sent with one.
pub fn completion_body(parts: &[Part]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    for p in parts {
        x.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            p.number,
            quick_xml::escape::escape(p.etag.as_str())
        ));
        if let Some(c) = p.crc32c_b64() {
            x.push_str(&format!("<ChecksumCRC32C>{c}</ChecksumCRC32C>"));
        }
        x.push_str("</Part>");
    }
    x.push_str("</CompleteMultipartUpload>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn error_codes_and_nothing_else() {
        let doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
            <Message>The request signature we calculated does not match</Message>\
            <StringToSign>AWS4-HMAC-SHA256\n20250101T000000Z</StringToSign></Error>";
        assert_eq!(error_code(doc).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(error_code(b"<Other><Code>X</Code></Other>"), None);
        assert_eq!(error_code(b"not xml <<<"), None);
        assert_eq!(error_code(b""), None);
    }

    #[test]
    fn upload_ids_are_read_and_required() {
        let doc =
            b"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Bucket>b</Bucket><Key>k</Key><UploadId>0f3a&amp;b</UploadId>\
            </InitiateMultipartUploadResult>";
        assert_eq!(upload_id(doc).as_deref(), Ok("0f3a&b"));
        assert!(upload_id(b"<InitiateMultipartUploadResult/>").is_err());
    }

    #[test]
    fn a_completion_may_fail_inside_a_200() {
        let ok =
            b"<CompleteMultipartUploadResult><ETag>\"a-2\"</ETag></CompleteMultipartUploadResult>";
        assert_eq!(completion(ok), Ok(Completion::Done));
        let failed = b"<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code></Error>";
        assert_eq!(
            completion(failed),
            Ok(Completion::Failed("InternalError".into()))
        );
        assert!(completion(b"").is_err());
        assert!(completion(b"<Surprise/>").is_err());
    }

    #[test]
    fn object_pages_with_their_continuation() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>blobs</Name><Prefix>b/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>b/1 &amp; 2</Key><LastModified>2025-01-02T03:04:05.000Z</LastModified>
    <ETag>"e"</ETag><Size>10485760</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>b/3</Key><LastModified>2025-01-02T03:04:06Z</LastModified><Size>0</Size></Contents>
  <NextContinuationToken>tok/+=</NextContinuationToken>
</ListBucketResult>"#;
        let page = object_page(doc).unwrap();
        assert_eq!(
            page.items,
            vec![
                ObjectEntry {
                    key: "b/1 & 2".into(),
                    size: 10 << 20,
                    last_modified: datetime!(2025-01-02 03:04:05 UTC),
                },
                ObjectEntry {
                    key: "b/3".into(),
                    size: 0,
                    last_modified: datetime!(2025-01-02 03:04:06 UTC),
                },
            ]
        );
        assert_eq!(page.next.as_deref(), Some("tok/+="));
        let last = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(
            object_page(last),
            Ok(Page {
                items: vec![],
                next: None
            })
        );
    }

    #[test]
    fn bad_object_pages_are_errors_not_guesses() {
        for doc in [
            &b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"[..],
            b"<ListBucketResult></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>\
              <Size>-1</Size><LastModified>2025-01-02T03:04:05Z</LastModified></Contents>\
              </ListBucketResult>",
            b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>\
              <Size>1</Size><LastModified>yesterday</LastModified></Contents></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents>",
        ] {
            assert!(
                object_page(doc).is_err(),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn upload_pages_with_their_markers() {
        let doc = br#"<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>blobs</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>b/2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
  <MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>b/1</Key><UploadId>u1</UploadId><Initiated>2025-01-02T03:04:05.000Z</Initiated></Upload>
  <Upload><Key>b/2</Key><UploadId>u2</UploadId><Initiated>2025-01-02T03:04:06.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page = upload_page(doc).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(
            page.items[1],
            PendingUpload {
                key: "b/2".into(),
                upload_id: "u2".into(),
                initiated: datetime!(2025-01-02 03:04:06 UTC),
            }
        );
        assert_eq!(page.next, Some(("b/2".into(), "u2".into())));
        let none = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>\
            </ListMultipartUploadsResult>";
        assert_eq!(upload_page(none).unwrap().items, vec![]);
        let no_marker = b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>\
            </ListMultipartUploadsResult>";
        assert!(upload_page(no_marker).is_err());
    }

    #[test]
    fn the_completion_body_lists_parts_with_their_checksums() {
        let body = completion_body(&[
            Part {
                number: 1,
                etag: "\"a<b\"".into(),
                crc32c: Some(0xE306_9283),
            },
            Part {
                number: 2,
                etag: "\"c\"".into(),
                crc32c: None,
            },
        ]);
        assert!(body.contains(
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a&lt;b&quot;</ETag>\
             <ChecksumCRC32C>4waSgw==</ChecksumCRC32C></Part>"
        ));
        assert!(body.contains("<Part><PartNumber>2</PartNumber><ETag>&quot;c&quot;</ETag></Part>"));
        // What we write, a store reads back: the same numbers and ETags.
        let mut seen = Vec::new();
        let (mut n, mut e) = (String::new(), String::new());
        walk(body.as_bytes(), |path, text| match text {
            Some(t) if path.last().is_some_and(|l| l == "PartNumber") => n.push_str(t),
            Some(t) if path.last().is_some_and(|l| l == "ETag") => e.push_str(t),
            None if path.last().is_some_and(|l| l == "Part") => {
                seen.push((std::mem::take(&mut n), std::mem::take(&mut e)))
            }
            _ => {}
        })
        .unwrap();
        assert_eq!(
            seen,
            [("1".into(), "\"a<b\"".into()), ("2".into(), "\"c\"".into())]
        );
    }
}
