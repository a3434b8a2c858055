//! Bucket lifecycle on the S3 surface: Put/Get/DeleteBucketLifecycle-
//! Configuration with AWS's validation and codes, and the
//! `x-amz-expiration` header of reads and writes.
//!
//! Must never apply a rule (the storage service's lifecycle worker does).

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::bucket;
use super::xml::{self, timestamp, Xml, XmlEvent};
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::storage::lifecycle::{
    Expiry, Filter, LifecycleConfig, Rule, SetLifecycleOutcome, DAY_SECS,
};

/// Largest configuration read (1000 rules of a few hundred bytes).
const MAX_LIFECYCLE_BODY: usize = 1 << 20;
/// S3's most rules per bucket.
const MAX_RULES: usize = 1000;

/// One rule as its elements arrive.
#[derive(Default)]
struct Draft {
    id: Option<String>,
    status: Option<String>,
    prefix: Option<String>,
    tags: Vec<(String, String)>,
    tag: (Option<String>, Option<String>),
    greater: Option<String>,
    less: Option<String>,
    days: Option<String>,
    date: Option<String>,
    expired_marker: Option<String>,
    expiration: bool,
    noncurrent_days: Option<String>,
    newer_noncurrent: Option<String>,
    abort_days: Option<String>,
    transition: bool,
}

fn positive(v: &str, what: &str) -> Result<u32, ApiError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::InvalidArgument(format!("'{what}' must be a positive integer")))
}

fn size(v: &str, what: &str) -> Result<u64, ApiError> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| ApiError::InvalidArgument(format!("'{what}' must be a non-negative integer")))
}

impl Draft {
    fn rule(self) -> Result<Rule, ApiError> {
        if self.transition {
            return Err(ApiError::NotImplemented(
                "Transition actions are not implemented: this gateway keeps every object in one \
                 storage class (STANDARD). Nothing was changed."
                    .into(),
            ));
        }
        let id = match self.id {
            Some(id) if id.len() > 255 => {
                return Err(ApiError::InvalidArgument(
                    "ID length should not exceed allowed limit of 255".into(),
                ))
            }
            Some(id) => id,
            // S3 names a rule given no ID.
            None => crate::random::hex(16),
        };
        let enabled = match self.status.as_deref() {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(xml::malformed("a Rule's Status is Enabled or Disabled")),
        };
        let filter = Filter {
            prefix: self.prefix.unwrap_or_default(),
            tags: self.tags,
            size_greater_than: self
                .greater
                .as_deref()
                .map(|v| size(v, "ObjectSizeGreaterThan"))
                .transpose()?,
            size_less_than: self
                .less
                .as_deref()
                .map(|v| size(v, "ObjectSizeLessThan"))
                .transpose()?,
        };
        if let (Some(g), Some(l)) = (filter.size_greater_than, filter.size_less_than) {
            if g >= l {
                return Err(ApiError::InvalidArgument(
                    "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
                ));
            }
        }
        let (expiration, expired_object_delete_marker) =
            match (self.days, self.date, self.expired_marker) {
                (None, None, None) if self.expiration => {
                    return Err(xml::malformed(
                        "an Expiration needs one of Days, Date or ExpiredObjectDeleteMarker",
                    ))
                }
                (None, None, None) => (None, false),
                (Some(d), None, None) => (Some(Expiry::Days(positive(&d, "Days")?)), false),
                (None, Some(d), None) => (Some(Expiry::Date(midnight(&d)?)), false),
                (None, None, Some(m)) => (None, m.trim() == "true"),
                _ => {
                    return Err(xml::malformed(
                        "an Expiration has exactly one of Days, Date or ExpiredObjectDeleteMarker",
                    ))
                }
            };
        let noncurrent_days = self
            .noncurrent_days
            .as_deref()
            .map(|d| positive(d, "NoncurrentDays"))
            .transpose()?;
        let newer_noncurrent_versions = self
            .newer_noncurrent
            .as_deref()
            .map(|n| match positive(n, "NewerNoncurrentVersions")? {
                n @ 1..=100 => Ok(n),
                _ => Err(ApiError::InvalidArgument(
                    "NewerNoncurrentVersions must be between 1 and 100".into(),
                )),
            })
            .transpose()?;
        if newer_noncurrent_versions.is_some() && noncurrent_days.is_none() {
            return Err(xml::malformed(
                "NewerNoncurrentVersions needs NoncurrentDays",
            ));
        }
        let abort_incomplete_days = self
            .abort_days
            .as_deref()
            .map(|d| positive(d, "DaysAfterInitiation"))
            .transpose()?;
        if !filter.tags.is_empty() && expired_object_delete_marker {
            return Err(ApiError::InvalidRequest(
                "ExpiredObjectDeleteMarker cannot be specified with tags.".into(),
            ));
        }
        if !filter.tags.is_empty() && abort_incomplete_days.is_some() {
            return Err(ApiError::InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into(),
            ));
        }
        if expiration.is_none()
            && !expired_object_delete_marker
            && noncurrent_days.is_none()
            && abort_incomplete_days.is_none()
        {
            return Err(ApiError::InvalidRequest(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        Ok(Rule {
            id,
            enabled,
            filter,
            expiration,
            expired_object_delete_marker,
            noncurrent_days,
            newer_noncurrent_versions,
            abort_incomplete_days,
        })
    }
}

/// An expiration `Date`: ISO 8601, at midnight UTC.
fn midnight(v: &str) -> Result<i64, ApiError> {
    let t = OffsetDateTime::parse(v.trim(), &Rfc3339)
        .map_err(|_| ApiError::InvalidArgument("'Date' must be an ISO 8601 date".into()))?
        .unix_timestamp();
    if t.rem_euclid(DAY_SECS) != 0 {
        return Err(ApiError::InvalidArgument(
            "'Date' must be at midnight GMT".into(),
        ));
    }
    Ok(t)
}

/// A `LifecycleConfiguration` document, checked as AWS checks it.
fn parse_config(body: &[u8]) -> Result<LifecycleConfig, ApiError> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut draft = Draft::default();
    let mut root = false;
    xml::read(body, |event| {
        let d = &mut draft;
        match event {
            XmlEvent::Text { element, text } => {
                let t = Some(text.to_string());
                match element {
                    "ID" => d.id = t,
                    "Status" => d.status = t,
                    "Prefix" => d.prefix = t,
                    "Key" => d.tag.0 = t,
                    "Value" => d.tag.1 = t,
                    "ObjectSizeGreaterThan" => d.greater = t,
                    "ObjectSizeLessThan" => d.less = t,
                    "Days" => d.days = t,
                    "Date" => d.date = t,
                    "ExpiredObjectDeleteMarker" => d.expired_marker = t,
                    "NoncurrentDays" => d.noncurrent_days = t,
                    "NewerNoncurrentVersions" => d.newer_noncurrent = t,
                    "DaysAfterInitiation" => d.abort_days = t,
                    _ => {}
                }
            }
            XmlEvent::End { element: "Tag" } => {
                let key = d
                    .tag
                    .0
                    .take()
                    .ok_or_else(|| xml::malformed("a Tag without a Key"))?;
                d.tags.push((key, d.tag.1.take().unwrap_or_default()));
            }
            XmlEvent::End {
                element: "Expiration",
            } => d.expiration = true,
            XmlEvent::End {
                element: "Transition" | "NoncurrentVersionTransition",
            } => d.transition = true,
            XmlEvent::End { element: "Rule" } => {
                if rules.len() == MAX_RULES {
                    return Err(xml::malformed("at most 1000 rules"));
                }
                rules.push(std::mem::take(d).rule()?);
            }
            XmlEvent::End {
                element: "LifecycleConfiguration",
            } => root = true,
            _ => {}
        }
        Ok(())
    })?;
    if !root {
        return Err(xml::malformed(
            "the body is not a LifecycleConfiguration document",
        ));
    }
    if rules.is_empty() {
        return Err(xml::malformed("a LifecycleConfiguration needs a Rule"));
    }
    for (i, r) in rules.iter().enumerate() {
        if rules[..i].iter().any(|o| o.id == r.id) {
            return Err(ApiError::InvalidArgument(
                "Rule ID must be unique. Found same ID for more than one rule".into(),
            ));
        }
    }
    Ok(LifecycleConfig { rules })
}

/// PutBucketLifecycleConfiguration: the bucket's rules, replaced whole.
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
        MAX_LIFECYCLE_BODY,
        "lifecycle configuration",
    )
    .await?;
    let config = parse_config(&xml)?;
    match app.storage.set_lifecycle(bucket_name, Some(config)).await? {
        SetLifecycleOutcome::Set => Ok(empty(StatusCode::OK)),
        SetLifecycleOutcome::NoSuchBucket => Err(bucket::no_such_bucket(bucket_name)),
    }
}

/// DeleteBucketLifecycle.
pub async fn delete(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    match app.storage.set_lifecycle(bucket_name, None).await? {
        SetLifecycleOutcome::Set => Ok(empty(StatusCode::NO_CONTENT)),
        SetLifecycleOutcome::NoSuchBucket => Err(bucket::no_such_bucket(bucket_name)),
    }
}

/// GetBucketLifecycleConfiguration.
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let config = match app.storage.lifecycle(bucket_name).await? {
        None => return Err(bucket::no_such_bucket(bucket_name)),
        Some(None) => return Err(ApiError::NoSuchLifecycleConfiguration),
        Some(Some(c)) => c,
    };
    let mut x = Xml::new("LifecycleConfiguration");
    for r in &config.rules {
        x.open("Rule").elem("ID", &r.id);
        write_filter(&mut x, &r.filter);
        x.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        match (r.expiration, r.expired_object_delete_marker) {
            (Some(Expiry::Days(d)), _) => {
                x.open("Expiration")
                    .elem("Days", &d.to_string())
                    .close("Expiration");
            }
            (Some(Expiry::Date(t)), _) => {
                x.open("Expiration")
                    .elem("Date", &timestamp(t))
                    .close("Expiration");
            }
            (None, true) => {
                x.open("Expiration")
                    .elem("ExpiredObjectDeleteMarker", "true")
                    .close("Expiration");
            }
            (None, false) => {}
        }
        if let Some(d) = r.noncurrent_days {
            x.open("NoncurrentVersionExpiration")
                .elem("NoncurrentDays", &d.to_string());
            if let Some(n) = r.newer_noncurrent_versions {
                x.elem("NewerNoncurrentVersions", &n.to_string());
            }
            x.close("NoncurrentVersionExpiration");
        }
        if let Some(d) = r.abort_incomplete_days {
            x.open("AbortIncompleteMultipartUpload")
                .elem("DaysAfterInitiation", &d.to_string())
                .close("AbortIncompleteMultipartUpload");
        }
        x.close("Rule");
    }
    Ok(xml_response(
        StatusCode::OK,
        x.finish("LifecycleConfiguration"),
    ))
}

fn write_filter(x: &mut Xml, f: &Filter) {
    let conditions = usize::from(!f.prefix.is_empty())
        + f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    x.open("Filter");
    let and = conditions > 1;
    if and {
        x.open("And");
    }
    if !f.prefix.is_empty() || conditions == 0 {
        x.elem("Prefix", &f.prefix);
    }
    for (k, v) in &f.tags {
        x.open("Tag").elem("Key", k).elem("Value", v).close("Tag");
    }
    if let Some(n) = f.size_greater_than {
        x.elem("ObjectSizeGreaterThan", &n.to_string());
    }
    if let Some(n) = f.size_less_than {
        x.elem("ObjectSizeLessThan", &n.to_string());
    }
    if and {
        x.close("And");
    }
    x.close("Filter");
}

/// `x-amz-expiration` of a current object, where a rule expires it:
/// `expiry-date="<HTTP date>", rule-id="<id>"`, as S3 sends it.
pub fn expiration_header(h: &mut HeaderMap, expiry: Option<(i64, String)>) {
    let Some((at, id)) = expiry else {
        return;
    };
    let Some(date) = crate::headers::http_date(at) else {
        return;
    };
    let value = format!(
        "expiry-date=\"{}\", rule-id=\"{}\"",
        date.to_str().unwrap_or_default(),
        id.replace(['"', '\\'], "")
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert("x-amz-expiration", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rules: &str) -> String {
        format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>")
    }

    #[test]
    fn a_configuration_reads_every_action_and_filter_form() {
        let c = parse_config(
            doc(
                "<Rule><ID>logs</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>t</Key>\
                 <Value>v</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And>\
                 </Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration>\
                 <NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays>\
                 <NewerNoncurrentVersions>2</NewerNoncurrentVersions>\
                 </NoncurrentVersionExpiration></Rule>\
                 <Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Disabled</Status>\
                 <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>\
                 </Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1\
                 </DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
            )
            .as_bytes(),
        )
        .unwrap();
        let (a, b) = (&c.rules[0], &c.rules[1]);
        assert_eq!(a.filter.prefix, "logs/");
        assert_eq!(a.filter.tags, vec![("t".to_string(), "v".to_string())]);
        assert_eq!(a.filter.size_greater_than, Some(10));
        assert_eq!(a.expiration, Some(Expiry::Days(30)));
        assert_eq!(
            (a.noncurrent_days, a.newer_noncurrent_versions),
            (Some(7), Some(2))
        );
        assert!(!b.enabled && b.expired_object_delete_marker);
        assert_eq!(
            (b.filter.prefix.as_str(), b.abort_incomplete_days),
            ("tmp/", Some(1))
        );
    }

    #[test]
    fn aws_refusals() {
        let rule = |body: &str| {
            doc(&format!(
                "<Rule><ID>r</ID><Status>Enabled</Status>{body}</Rule>"
            ))
        };
        let cases: [(&str, &str); 7] = [
            ("", "InvalidRequest"),
            ("<Expiration><Days>0</Days></Expiration>", "InvalidArgument"),
            (
                "<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>",
                "InvalidArgument",
            ),
            (
                "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>",
                "MalformedXML",
            ),
            (
                "<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Expiration>\
                 <ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
                "InvalidRequest",
            ),
            (
                "<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>",
                "NotImplemented",
            ),
            (
                "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
                 <NewerNoncurrentVersions>101</NewerNoncurrentVersions>\
                 </NoncurrentVersionExpiration>",
                "InvalidArgument",
            ),
        ];
        for (body, code) in cases {
            let e = parse_config(rule(body).as_bytes()).unwrap_err();
            assert_eq!(e.meta().s3_code, code, "{body}: {e:?}");
        }
        let twice = doc(
            "<Rule><ID>a</ID><Status>Enabled</Status><Expiration><Days>1</Days>\
                         </Expiration></Rule><Rule><ID>a</ID><Status>Enabled</Status>\
                         <Expiration><Days>2</Days></Expiration></Rule>",
        );
        assert!(parse_config(twice.as_bytes()).is_err());
        assert!(parse_config(b"<LifecycleConfiguration/>").is_err());
    }
}
