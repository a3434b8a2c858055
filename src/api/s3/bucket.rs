//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation.

use http::{Response, StatusCode};

use super::token::{decode_token, encode_token};
use super::xml::{timestamp, Xml};
use crate::api::body::Body;
use crate::api::body::{empty, xml_response};
use crate::api::error::ApiError;
use crate::api::query::Query;
use crate::app::App;
use crate::config::validate_bucket;
use crate::storage::buckets::{CreateBucketOutcome, DeleteBucketOutcome};

/// The owner every bucket reports: one gateway, one owner (for now).
pub const OWNER_ID: &str = "stowage";
/// The region where re-creating a bucket you own is 200, not
/// BucketAlreadyOwnedByYou (AWS's North Virginia).
const LEGACY_REGION: &str = "us-east-1";
/// The most buckets one ListBuckets page holds (`max-buckets`), as AWS.
const MAX_BUCKETS_PER_PAGE: usize = 10_000;

/// ListBuckets: every bucket for the configured key; for another key, the
/// buckets it owns or was granted — by name, paged as AWS pages them:
/// `max-buckets` (1 to 10,000; without it, all), `continuation-token` (a
/// page's `ContinuationToken`), `prefix`, and `bucket-region` (this
/// gateway's region, or no bucket).
pub async fn list_buckets(app: &App, who: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let max = match q.get("max-buckets") {
        None => None,
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_BUCKETS_PER_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::InvalidArgument(format!(
                        "max-buckets must be an integer between 1 and {MAX_BUCKETS_PER_PAGE}"
                    ))
                })?,
        ),
    };
    let after = q.get("continuation-token").map(decode_token).transpose()?;
    let prefix = q.get("prefix").unwrap_or("");
    let region = &app.config.s3.region;
    let buckets = if app.is_main_key(who) {
        app.storage.list_buckets().await?
    } else {
        app.storage.buckets_of(who).await?
    };
    let mut page: Vec<_> = buckets
        .into_iter()
        .filter(|b| b.name.starts_with(prefix))
        .filter(|b| after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str()))
        .filter(|_| q.get("bucket-region").is_none_or(|r| r == region))
        .collect();
    let truncated = max.is_some_and(|m| page.len() > m);
    if let Some(m) = max {
        page.truncate(m);
    }
    let mut x = Xml::new("ListAllMyBucketsResult");
    x.open("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", OWNER_ID)
        .close("Owner");
    x.open("Buckets");
    for b in &page {
        x.open("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", &timestamp(b.created_at))
            .elem("BucketRegion", region)
            .close("Bucket");
    }
    x.close("Buckets");
    if truncated {
        if let Some(last) = page.last() {
            x.elem("ContinuationToken", &encode_token(&last.name));
        }
    }
    if q.get("prefix").is_some() {
        x.elem("Prefix", prefix);
    }
    Ok(xml_response(
        StatusCode::OK,
        x.finish("ListAllMyBucketsResult"),
    ))
}

/// CreateBucket: the bucket belongs to the key that made it. The upload
/// bucket is the gateway's (the configured key's) even while it does not
/// exist (deleted while empty): a key that made it again would own every
/// file the JSON API then stores.
pub async fn create_bucket(
    app: &App,
    parts: &http::request::Parts,
    bucket: &str,
    who: &str,
    acl: Option<crate::index::CannedAcl>,
) -> Result<Response<Body>, ApiError> {
    validate_bucket(bucket).map_err(ApiError::InvalidBucketName)?;
    if bucket == app.config.s3.bucket && !app.is_main_key(who) {
        return Err(ApiError::BucketAlreadyExists);
    }
    let owner = (!app.is_main_key(who)).then_some(who);

    let object_lock = match parts
        .headers
        .get("x-amz-bucket-object-lock-enabled")
        .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::InvalidArgument(
                "x-amz-bucket-object-lock-enabled is true or false".into(),
            ))
        }
    };
    match app
        .storage
        .create_bucket_for(bucket, owner, object_lock)
        .await?
    {
        CreateBucketOutcome::Created => {}
        // AWS: 409 in every region but North Virginia, which for legacy
        // compatibility answers 200 (and would reset the bucket's ACLs;
        // this gateway keeps none yet).
        CreateBucketOutcome::OwnedByYou if app.config.s3.region == LEGACY_REGION => {}
        CreateBucketOutcome::OwnedByYou => return Err(ApiError::BucketAlreadyOwnedByYou),
        CreateBucketOutcome::Taken => return Err(ApiError::BucketAlreadyExists),
    }
    if let Some(acl) = acl {
        // Right after its creation, in a transaction of its own: until
        // then the bucket is private, the safe side.
        app.storage.set_bucket_acl(bucket, acl).await?;
    }
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(&format!("/{bucket}")) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

/// The XML body of a request on `bucket` (a setting, a delete list; at
/// most `limit` bytes, checked against its digests), read once the bucket
/// is known to exist: nothing is read for a bucket that is not there.
pub async fn read_xml_for(
    app: &App,
    parts: &http::request::Parts,
    body: hyper::body::Incoming,
    bucket: &str,
    limit: usize,
    what: &str,
) -> Result<bytes::Bytes, ApiError> {
    require(app, bucket).await?;
    crate::api::ingest::read_xml_body(parts, body, limit, what).await
}

/// Errors unless the bucket exists.
pub async fn require(app: &App, bucket: &str) -> Result<(), ApiError> {
    if app.storage.bucket_exists(bucket).await? {
        Ok(())
    } else {
        Err(no_such_bucket(bucket))
    }
}

pub fn no_such_bucket(bucket: &str) -> ApiError {
    ApiError::NoSuchBucket(format!(
        "The specified bucket does not exist: '{bucket}'. Create it first (CreateBucket)."
    ))
}

pub async fn head_bucket(app: &App, bucket: &str) -> Result<Response<Body>, ApiError> {
    require(app, bucket).await?;
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(&app.config.s3.region) {
        r.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(r)
}

/// DeleteBucket: refused while it holds objects; its unfinished multipart
/// uploads are aborted with it, as S3 does (`aws s3 rb --force`, rclone and
/// test suites' cleanup rely on that). Who may: see `auth::authorize` (the
/// owner, or the configured key).
pub async fn delete_bucket(app: &App, bucket: &str) -> Result<Response<Body>, ApiError> {
    match app.storage.delete_bucket(bucket).await? {
        DeleteBucketOutcome::Deleted => {}
        DeleteBucketOutcome::DeletedWithUploads { uploads, .. } => {
            tracing::info!(
                bucket,
                uploads,
                "DeleteBucket aborted unfinished multipart uploads"
            );
        }
        DeleteBucketOutcome::NotFound => return Err(no_such_bucket(bucket)),
        DeleteBucketOutcome::NotEmpty => return Err(ApiError::BucketNotEmpty),
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_location(app: &App, bucket: &str) -> Result<Response<Body>, ApiError> {
    require(app, bucket).await?;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let region = &app.config.s3.region;
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</LocationConstraint>",
        if region == "us-east-1" { "" } else { region }
    );
    Ok(xml_response(StatusCode::OK, body))
}
