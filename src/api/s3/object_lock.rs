//! Object Lock on the S3 surface: Put/GetObjectLockConfiguration,
//! Put/GetObjectRetention, Put/GetObjectLegalHold, the
//! `x-amz-object-lock-*` headers of writes and reads, who may bypass
//! governance retention, and AWS's answers for each refusal.
//!
//! Must never decide whether a version may go or its retention change (the
//! storage service's `object_lock` rules do, in the transaction that
//! changes it); it parses what a request asks and renders the answer.

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::bucket;
use super::versioning;
use super::xml::{self, timestamp, Xml, XmlEvent};
use crate::api::body::{empty, xml_response, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::index::{ObjectMeta, Retention, RetentionMode};
use crate::storage::holds::SetHoldOutcome;
use crate::storage::object_lock::{DefaultRetention, Hold, LockConfig, Period, SetLockOutcome};

/// Largest Object Lock document read (configuration, retention, hold).
const MAX_LOCK_BODY: usize = 4096;

/// S3's answer to a removal or change Object Lock refuses.
pub fn locked(hold: Hold) -> ApiError {
    let why = match hold {
        Hold::LegalHold => "it has a legal hold; remove the hold first".to_string(),
        Hold::Retained(r) => format!(
            "its {} retention runs until {}{}",
            r.mode.as_str(),
            timestamp(r.until),
            match r.mode {
                RetentionMode::Governance => {
                    "; a key allowed to bypass it may send x-amz-bypass-governance-retention: true"
                }
                RetentionMode::Compliance => "; nobody can remove it before then",
            }
        ),
    };
    ApiError::AccessDenied(format!(
        "Access Denied because object protected by object lock: {why}. Nothing was removed."
    ))
}

/// S3's answer to a lock setting in a bucket without Object Lock.
pub fn not_enabled() -> ApiError {
    ApiError::InvalidRequest(
        "Bucket is missing Object Lock Configuration: create the bucket with \
         x-amz-bucket-object-lock-enabled: true (or PutObjectLockConfiguration on a bucket with \
         versioning enabled). Nothing was stored."
            .into(),
    )
}

/// An ISO 8601 date-time as S3 takes them (`2030-01-01T00:00:00Z`, with or
/// without fractions), in unix seconds.
fn parse_date(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// A retention from its mode and date as a request gives them; the date
/// must be ahead of `now`.
fn retention(mode: &str, date: &str, now: i64) -> Result<Retention, ApiError> {
    let mode = RetentionMode::parse(mode)
        .ok_or_else(|| ApiError::InvalidArgument("Unknown wormMode directive.".into()))?;
    let until = parse_date(date).ok_or_else(|| {
        ApiError::InvalidArgument(
            "The retain until date must be an ISO 8601 date-time, e.g. 2030-01-01T00:00:00Z".into(),
        )
    })?;
    if until <= now {
        return Err(ApiError::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(Retention { mode, until })
}

/// The retention and legal hold a write's `x-amz-object-lock-*` headers
/// ask for (PutObject, CopyObject, CreateMultipartUpload, a form).
pub fn from_headers(h: &HeaderMap, now: i64) -> Result<(Option<Retention>, bool), ApiError> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let r = match (
        get("x-amz-object-lock-mode"),
        get("x-amz-object-lock-retain-until-date"),
    ) {
        (None, None) => None,
        (Some(mode), Some(date)) => Some(retention(mode, date, now)?),
        _ => {
            return Err(ApiError::InvalidArgument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be \
                 supplied"
                    .into(),
            ))
        }
    };
    let hold = match get("x-amz-object-lock-legal-hold") {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => {
            return Err(ApiError::InvalidArgument(
                "x-amz-object-lock-legal-hold is ON or OFF".into(),
            ))
        }
    };
    Ok((r, hold))
}

/// Refuses, before a body is read, a write asking for lock settings in a
/// bucket without Object Lock (its commit asks again).
pub async fn precheck(app: &App, bucket_name: &str, meta: &ObjectMeta) -> Result<(), ApiError> {
    if meta.retention.is_none() && !meta.legal_hold {
        return Ok(());
    }
    match app.storage.object_lock(bucket_name).await? {
        Some(Some(_)) => Ok(()),
        Some(None) => Err(not_enabled()),
        None => Err(bucket::no_such_bucket(bucket_name)),
    }
}

/// The `x-amz-object-lock-*` headers of a read.
pub fn write_headers(h: &mut HeaderMap, meta: &ObjectMeta) {
    if let Some(r) = meta.retention {
        h.insert(
            "x-amz-object-lock-mode",
            HeaderValue::from_static(r.mode.as_str()),
        );
        if let Ok(v) = HeaderValue::from_str(&timestamp(r.until)) {
            h.insert("x-amz-object-lock-retain-until-date", v);
        }
    }
    if meta.legal_hold {
        h.insert(
            "x-amz-object-lock-legal-hold",
            HeaderValue::from_static("ON"),
        );
    }
}

/// Whether a request may bypass governance retention of `key`: it asks to
/// (`x-amz-bypass-governance-retention: true`), and may — the configured
/// key, the bucket's owner, or a key a bucket policy allows
/// `s3:BypassGovernanceRetention` (and none denies it). A key with a write
/// grant alone may not.
pub fn bypass(gate: &super::authz::Gate, h: &HeaderMap, key: &str) -> bool {
    let asked = h
        .get("x-amz-bypass-governance-retention")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    asked && gate.may_bypass_governance(key)
}

/// Reads an Object Lock document's texts (element, text) and whether its
/// root was `root`.
fn read_doc(body: &[u8], root: &str) -> Result<Vec<(String, String)>, ApiError> {
    let (mut texts, mut seen) = (Vec::new(), false);
    xml::read(body, |event| {
        match event {
            XmlEvent::Text { element, text } => texts.push((element.to_string(), text.to_string())),
            XmlEvent::End { element } if element == root => seen = true,
            _ => {}
        }
        Ok(())
    })?;
    if !seen {
        return Err(xml::malformed(&format!(
            "the body is not an {root} document"
        )));
    }
    Ok(texts)
}

fn text<'a>(texts: &'a [(String, String)], element: &str) -> Option<&'a str> {
    texts
        .iter()
        .find(|(e, _)| e == element)
        .map(|(_, t)| t.as_str())
}

/// An `ObjectLockConfiguration` document: enabled, with or without a
/// default retention (a mode and a positive number of Days or Years).
fn parse_config(body: &[u8]) -> Result<LockConfig, ApiError> {
    let texts = read_doc(body, "ObjectLockConfiguration")?;
    if text(&texts, "ObjectLockEnabled") != Some("Enabled") {
        return Err(xml::malformed("ObjectLockEnabled must be Enabled"));
    }
    let mode = text(&texts, "Mode");
    let count = |e: &str| -> Result<Option<u32>, ApiError> {
        text(&texts, e)
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ApiError::InvalidArgument(format!(
                            "Default retention period must be a positive integer value: {e}"
                        ))
                    })
            })
            .transpose()
    };
    let (days, years) = (count("Days")?, count("Years")?);
    let default = match (mode, days, years) {
        (None, None, None) => None,
        (Some(m), Some(d), None) | (Some(m), None, Some(d)) => {
            let mode = RetentionMode::parse(m)
                .ok_or_else(|| xml::malformed("Mode is GOVERNANCE or COMPLIANCE"))?;
            let period = if days.is_some() {
                Period::Days(d)
            } else {
                Period::Years(d)
            };
            Some(DefaultRetention { mode, period })
        }
        _ => {
            return Err(xml::malformed(
                "a DefaultRetention needs a Mode and one of Days or Years",
            ))
        }
    };
    Ok(LockConfig { default })
}

/// PutObjectLockConfiguration.
pub async fn put_config(
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
        MAX_LOCK_BODY,
        "lock configuration",
    )
    .await?;
    let config = parse_config(&xml)?;
    match app.storage.set_object_lock(bucket_name, config).await? {
        SetLockOutcome::Set => Ok(empty(StatusCode::OK)),
        SetLockOutcome::NoSuchBucket => Err(bucket::no_such_bucket(bucket_name)),
        SetLockOutcome::VersioningNotEnabled => Err(ApiError::InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration; \
             nothing was changed."
                .into(),
        )),
    }
}

/// GetObjectLockConfiguration.
pub async fn get_config(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let config = match app.storage.object_lock(bucket_name).await? {
        None => return Err(bucket::no_such_bucket(bucket_name)),
        Some(None) => return Err(ApiError::ObjectLockConfigurationNotFound),
        Some(Some(c)) => c,
    };
    let mut x = Xml::new("ObjectLockConfiguration");
    x.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = config.default {
        x.open("Rule").open("DefaultRetention");
        x.elem("Mode", d.mode.as_str());
        match d.period {
            Period::Days(n) => x.elem("Days", &n.to_string()),
            Period::Years(n) => x.elem("Years", &n.to_string()),
        };
        x.close("DefaultRetention").close("Rule");
    }
    Ok(xml_response(
        StatusCode::OK,
        x.finish("ObjectLockConfiguration"),
    ))
}

/// The answer to a retention or legal-hold change.
fn answered(out: SetHoldOutcome, version: Option<&str>) -> Result<Response<Body>, ApiError> {
    match out {
        SetHoldOutcome::Set { version_id } => {
            let mut r = empty(StatusCode::OK);
            if version.is_some() || version_id != crate::index::NULL_VERSION {
                versioning::set_version_id(r.headers_mut(), &version_id);
            }
            Ok(r)
        }
        SetHoldOutcome::Absent => Err(match version {
            Some(_) => ApiError::NoSuchVersion,
            None => ApiError::NoSuchKey("The specified key does not exist.".into()),
        }),
        SetHoldOutcome::Marker => Err(ApiError::MethodNotAllowed(
            "The specified method is not allowed against this resource: the version is a delete \
             marker, which holds no data."
                .into(),
        )),
        SetHoldOutcome::NotEnabled => Err(not_enabled()),
        SetHoldOutcome::Refused(r) => Err(locked(Hold::Retained(r))),
    }
}

/// PutObjectRetention: `Retention` with a Mode and a RetainUntilDate, or
/// an empty one to remove it (governance only, bypassing).
#[allow(clippy::too_many_arguments)]
pub async fn put_retention(
    app: &App,
    gate: &super::authz::Gate,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let xml = crate::api::ingest::read_xml_body(parts, body, MAX_LOCK_BODY, "retention").await?;
    let texts = read_doc(&xml, "Retention")?;
    let wanted = match (text(&texts, "Mode"), text(&texts, "RetainUntilDate")) {
        (None, None) => None,
        (Some(m), Some(d)) => Some(retention(m, d, app.storage.now())?),
        _ => {
            return Err(xml::malformed(
                "a Retention needs both Mode and RetainUntilDate",
            ))
        }
    };
    let bypass = bypass(gate, &parts.headers, key);
    let out = app
        .storage
        .set_retention(bucket_name, key, version, wanted, bypass)
        .await?;
    answered(out, version)
}

/// PutObjectLegalHold: `LegalHold` with Status ON or OFF.
pub async fn put_legal_hold(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let xml = crate::api::ingest::read_xml_body(parts, body, MAX_LOCK_BODY, "legal hold").await?;
    let texts = read_doc(&xml, "LegalHold")?;
    let on = match text(&texts, "Status") {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(xml::malformed("a LegalHold's Status is ON or OFF")),
    };
    let out = app
        .storage
        .set_legal_hold(bucket_name, key, version, on)
        .await?;
    answered(out, version)
}

/// GetObjectRetention.
pub async fn get_retention(
    app: &App,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (obj, _, _) = versioning::read_target(app, bucket_name, key, version).await?;
    let Some(r) = obj.meta.retention else {
        return Err(ApiError::NoSuchObjectLockConfiguration(
            "The specified object does not have a ObjectLock configuration".into(),
        ));
    };
    let mut x = Xml::new("Retention");
    x.elem("Mode", r.mode.as_str())
        .elem("RetainUntilDate", &timestamp(r.until));
    Ok(xml_response(StatusCode::OK, x.finish("Retention")))
}

/// GetObjectLegalHold.
pub async fn get_legal_hold(
    app: &App,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    if let Some(None) = app.storage.object_lock(bucket_name).await? {
        return Err(not_enabled());
    }
    let (obj, _, _) = versioning::read_target(app, bucket_name, key, version).await?;
    let mut x = Xml::new("LegalHold");
    x.elem("Status", if obj.meta.legal_hold { "ON" } else { "OFF" });
    Ok(xml_response(StatusCode::OK, x.finish("LegalHold")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_headers_come_in_pairs_with_a_future_date() {
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h, 0).unwrap(), (None, false));
        h.insert(
            "x-amz-object-lock-mode",
            HeaderValue::from_static("GOVERNANCE"),
        );
        assert!(from_headers(&h, 0).is_err());
        h.insert(
            "x-amz-object-lock-retain-until-date",
            HeaderValue::from_static("2030-01-01T00:00:00.000Z"),
        );
        let (r, hold) = from_headers(&h, 0).unwrap();
        assert_eq!(
            r,
            Some(Retention {
                mode: RetentionMode::Governance,
                until: 1_893_456_000
            })
        );
        assert!(!hold);
        assert!(from_headers(&h, 1_893_456_000).is_err(), "a date not ahead");
        h.insert(
            "x-amz-object-lock-mode",
            HeaderValue::from_static("governance"),
        );
        assert!(from_headers(&h, 0).is_err());
        h.insert(
            "x-amz-object-lock-legal-hold",
            HeaderValue::from_static("ON"),
        );
        h.remove("x-amz-object-lock-mode");
        h.remove("x-amz-object-lock-retain-until-date");
        assert_eq!(from_headers(&h, 0).unwrap(), (None, true));
    }

    #[test]
    fn a_configuration_has_a_mode_and_one_period_or_neither() {
        let doc = |rule: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}\
                 </ObjectLockConfiguration>"
            )
        };
        assert_eq!(
            parse_config(doc("").as_bytes()).unwrap(),
            LockConfig::default()
        );
        let c = parse_config(
            doc(
                "<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>7</Years>\
                 </DefaultRetention></Rule>",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            c.default,
            Some(DefaultRetention {
                mode: RetentionMode::Compliance,
                period: Period::Years(7)
            })
        );
        for bad in [
            "<Rule><DefaultRetention><Mode>COMPLIANCE</Mode></DefaultRetention></Rule>",
            "<Rule><DefaultRetention><Mode>X</Mode><Days>1</Days></DefaultRetention></Rule>",
            "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>\
             </DefaultRetention></Rule>",
            "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>0</Days></DefaultRetention>\
             </Rule>",
        ] {
            assert!(parse_config(doc(bad).as_bytes()).is_err(), "{bad}");
        }
        assert!(parse_config(b"<ObjectLockConfiguration/>").is_err());
    }
}
