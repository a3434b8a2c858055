//! Bucket policies on the S3 surface: Put/Get/DeleteBucketPolicy and
//! GetBucketPolicyStatus. A policy is checked here (`crate::policy`, with
//! AWS's `MalformedPolicy` answers; every key it names must exist; a public
//! one is refused under `BlockPublicPolicy`) and stored as the text given.
//!
//! Must never evaluate a policy for a request (`authz/` does), nor store one
//! it has not parsed.

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::xml::Xml;
use crate::api::body::{empty, full, xml_response, Body};
use crate::api::error::{ApiError, Internal};
use crate::app::App;
use crate::policy::{Policy, MAX_POLICY_BYTES};

/// PutBucketPolicy.
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let Some(block) = app.storage.public_access_block(bucket_name).await? else {
        return Err(bucket::no_such_bucket(bucket_name));
    };
    let text = crate::api::ingest::read_xml_body(parts, body, MAX_POLICY_BYTES, "policy")
        .await
        .map_err(|e| match e {
            ApiError::MalformedXml(_) => ApiError::MalformedPolicy(format!(
                "Policies must be at most {MAX_POLICY_BYTES} bytes and arrive whole; nothing \
                 was changed."
            )),
            other => other,
        })?;
    let text = std::str::from_utf8(&text)
        .map_err(|_| ApiError::MalformedPolicy("Policies must be valid UTF-8 JSON".into()))?;
    let policy =
        Policy::parse(text, bucket_name).map_err(|e| ApiError::MalformedPolicy(e.to_string()))?;
    for key in policy.named_keys() {
        if !app.is_main_key(key) && !app.storage.access_key_exists(key).await? {
            return Err(ApiError::MalformedPolicy(
                "Invalid principal in policy: it names an access key this gateway does not \
                 have (see `stowage key list`); nothing was changed."
                    .into(),
            ));
        }
    }
    if block.is_some_and(|b| b.block_public_policy) && policy.is_public() {
        return Err(ApiError::AccessDenied(
            "Access Denied: this bucket's PublicAccessBlock has BlockPublicPolicy on, and the \
             policy grants access to everyone (Principal \"*\" with no condition that pins who \
             may use it); nothing was changed."
                .into(),
        ));
    }
    if !app
        .storage
        .set_bucket_policy(bucket_name, Some(text.to_string()))
        .await?
    {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The bucket's policy, parsed, or S3's 404s.
async fn stored(app: &App, bucket_name: &str) -> Result<(String, Policy), ApiError> {
    match app.storage.bucket_policy(bucket_name).await? {
        None => Err(bucket::no_such_bucket(bucket_name)),
        Some(None) => Err(ApiError::NoSuchBucketPolicy),
        Some(Some(text)) => {
            let policy = Policy::parse(&text, bucket_name).map_err(|e| {
                ApiError::Internal(Internal::Other(format!("a stored bucket policy: {e}")))
            })?;
            Ok((text, policy))
        }
    }
}

/// GetBucketPolicy: the document as it was put.
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let (text, _) = stored(app, bucket_name).await?;
    let mut r = Response::new(full(text));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// DeleteBucketPolicy: 204 whether or not there was one.
pub async fn delete(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    if !app.storage.set_bucket_policy(bucket_name, None).await? {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// GetBucketPolicyStatus: whether the policy makes the bucket public (404
/// without a policy, as S3 answers).
pub async fn status(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    let (_, policy) = stored(app, bucket_name).await?;
    let mut x = Xml::new("PolicyStatus");
    x.elem(
        "IsPublic",
        if policy.is_public() { "true" } else { "false" },
    );
    Ok(xml_response(StatusCode::OK, x.finish("PolicyStatus")))
}
