//! Who sent an S3 request, and how its body is protected.
//!
//! Owns checking the signature of the scheme the parsed request presents
//! (SigV4 query, SigV4 header, SigV2 query or header; `sigv4` does the
//! checking) and deciding, from the parsed request alone, whether its
//! principal may perform it ([`authorize`]). Every S3 request passes through
//! both before any handler runs. Must never read the raw path, query or
//! copy-source text to decide anything: that is `router.rs`'s one parse.

use http::header;
use http::request::Parts;

use super::router::{Access, Endpoint, Presented, S3Request};
use crate::api::ApiError;
use crate::app::App;
use crate::sigv4::{
    self, AuthError, PayloadMode, Presigned, RequestParts, StreamingMode, VerifyParams,
};

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials at all.
    Anonymous,
    /// The access key whose signature checked out.
    Key(String),
}

/// A request whose signature checked out (or that presented none).
pub struct Authenticated {
    pub principal: Principal,
    /// How the body is protected (`x-amz-content-sha256`); query and SigV2
    /// requests are `Unsigned`.
    pub payload: PayloadMode,
    /// For `aws-chunked` bodies: the decoder mode and whether a trailer
    /// follows.
    pub streaming: Option<(StreamingMode, bool)>,
    /// The verified query, for SigV4 query-authenticated requests.
    pub presigned: Option<Presigned>,
}

impl Authenticated {
    fn unsigned(principal: Principal, presigned: Option<Presigned>) -> Self {
        Authenticated {
            principal,
            payload: PayloadMode::Unsigned,
            streaming: None,
            presigned,
        }
    }
}

/// Headers as `sigv4` wants them: lowercase names, values as received.
pub fn header_list(parts: &Parts) -> Vec<(String, String)> {
    parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Whether `who` may perform `req`, read from the parsed request alone:
/// which bucket, which access the operation needs there, and the bucket a
/// copy reads from. The configured key may do everything; another key what
/// its buckets and grants allow; an anonymous client only reads of a
/// bucket in `[s3] public_read`, as S3 allows under a public-read ACL.
pub async fn authorize(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    upload_api_only(app, who, req, endpoint)?;
    let key_id = match who {
        Principal::Anonymous => return authorize_anonymous(app, req, endpoint),
        Principal::Key(id) if app.is_main_key(id) => return Ok(()),
        Principal::Key(id) => id.as_str(),
    };
    if let Some(need) = endpoint.access() {
        check(app, key_id, &req.bucket, need).await?;
    }
    if let Some(source) = endpoint.copy_source() {
        check(app, key_id, &source.bucket, Access::Read).await?;
    }
    Ok(())
}

/// What belongs to the upload API stays its own: its parameters
/// (`X-Stowage-*`, which declare a file) are honoured only in a URL this
/// gateway signed, and its part-wise uploads (`file-…`) take only the parts
/// its part URLs carry — no key, the configured one included, declares a
/// file or touches those uploads through S3 by other means.
fn upload_api_only(
    app: &App,
    who: &Principal,
    req: &S3Request,
    endpoint: &Endpoint,
) -> Result<(), ApiError> {
    let gateways = matches!(who, Principal::Key(k) if app.is_main_key(k))
        && req.presented == Presented::V4Query;
    let declares = req.query.names().any(|n| n.starts_with("X-Stowage-"));
    if declares && !gateways {
        return Err(ApiError::AccessDenied(
            "X-Stowage-* parameters belong to the upload API's own URLs, signed by this \
             gateway; ask POST /api/inspect/v1/file/upload/presigned for one. Nothing was \
             stored."
                .into(),
        ));
    }
    let api_upload = endpoint
        .upload_id()
        .is_some_and(|id| id.starts_with(crate::api::FILE_UPLOAD_PREFIX));
    let part_url = gateways
        && matches!(endpoint, Endpoint::UploadPart { .. })
        && req.query.has(crate::api::presigned::SIZE_PARAM);
    if api_upload && !part_url {
        return Err(ApiError::NoSuchUpload);
    }
    Ok(())
}

/// Refuses unless key `who` has `need` on `bucket`. A bucket that does not
/// exist is S3's NoSuchBucket here, not later: the handler must never act
/// on a bucket created after this check by someone else.
async fn check(app: &App, who: &str, bucket: &str, need: Access) -> Result<(), ApiError> {
    let a = app.storage.bucket_access(who, bucket).await?;
    if !a.exists {
        return Err(super::bucket::no_such_bucket(bucket));
    }
    let (what, ok) = match need {
        Access::Owner => ("owner", a.owner),
        Access::Read => ("read", a.read),
        Access::Write => ("write", a.write),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::AccessDenied(format!(
            "Access Denied: key {who} has no {what} permission on bucket {bucket}; the \
             operator grants it with `stowage key allow`"
        )))
    }
}

fn authorize_anonymous(app: &App, req: &S3Request, endpoint: &Endpoint) -> Result<(), ApiError> {
    let public = app.config.s3.public_read.contains(&req.bucket);
    if !public || !endpoint.open_to_anonymous_readers() {
        return Err(anonymous_refused());
    }
    if let Endpoint::GetObject { overrides: true } = endpoint {
        // S3's answer: an anonymous reader cannot make an object answer
        // with another type or disposition (e.g. as an HTML page of this
        // origin).
        return Err(ApiError::InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests.".into(),
        ));
    }
    Ok(())
}

pub(super) fn anonymous_refused() -> ApiError {
    ApiError::AccessDenied(
        "Anonymous access is not allowed: sign the request (AWS SigV4) with this gateway's \
         access key, or use a presigned URL"
            .into(),
    )
}

/// Checks the request's signature, whichever scheme it presents; a request
/// presenting none is [`Principal::Anonymous`] (authorization decides what,
/// if anything, it may do).
pub async fn authenticate(
    app: &App,
    parts: &Parts,
    req: &S3Request,
) -> Result<Authenticated, ApiError> {
    let headers = header_list(parts);
    // The signature is over the request as sent: the raw path and query.
    let raw = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
    };
    // The key's secret is looked up first (the check itself does no I/O);
    // the check then judges the request, the claim included, in S3's order.
    let claimed = match req.presented {
        Presented::V4Query => sigv4::presigned_key_id(&raw),
        Presented::V4Header => sigv4::header_key_id(&raw).map(str::to_owned),
        Presented::V2Query => sigv4::v2_query_key_id(&raw),
        Presented::V2Header => sigv4::v2_header_key_id(&raw).map(str::to_owned),
        Presented::Nothing | Presented::Unsupported => None,
    };
    let secret = app.secret_for(claimed.as_deref()).await;
    let secret_for = |key: &str| secret.secret_for(key);
    let params = VerifyParams {
        region: &app.config.s3.region,
        service: "s3",
    };
    let now = app.clock.now();
    match req.presented {
        Presented::Nothing => Ok(Authenticated::unsigned(Principal::Anonymous, None)),
        Presented::V4Query => {
            let p = sigv4::verify_presigned(&raw, secret_for, &params, now)
                .map_err(|e| explain_mismatch(e.into(), parts, req))?;
            refuse_unsigned_amz_headers(parts, &p.signed_headers, true)?;
            // A signed hex payload hash binds the body, as with header auth.
            let payload = match PayloadMode::parse(&p.payload_hash) {
                Some(m @ PayloadMode::Sha256(_)) => m,
                _ => PayloadMode::Unsigned,
            };
            Ok(Authenticated {
                principal: Principal::Key(p.access_key_id.clone()),
                payload,
                streaming: None,
                presigned: Some(p),
            })
        }
        Presented::V2Query => {
            let v2 = sigv4::verify_v2_query(&raw, secret_for, now)?;
            Ok(Authenticated::unsigned(
                Principal::Key(v2.access_key_id),
                None,
            ))
        }
        Presented::V4Header => {
            let h = sigv4::verify_header_auth(&raw, secret_for, &params, now)?;
            refuse_unsigned_amz_headers(parts, &h.signed_headers, false)?;
            Ok(Authenticated {
                principal: Principal::Key(h.access_key_id.clone()),
                payload: h.payload,
                streaming: h.streaming_mode(),
                presigned: None,
            })
        }
        Presented::V2Header => {
            let v2 = sigv4::verify_v2_header(&raw, secret_for, now)?;
            Ok(Authenticated::unsigned(
                Principal::Key(v2.access_key_id),
                None,
            ))
        }
        Presented::Unsupported => Err(ApiError::InvalidArgument(
            "Unsupported Authorization header; sign with AWS Signature Version 4".into(),
        )),
    }
}

/// S3 refuses a SigV4 request carrying `x-amz-*` headers its signature does
/// not cover: unsigned, they could change what the request does (an
/// `x-amz-copy-source` added to a presigned PUT would turn it into a copy
/// of any object). `x-amz-content-sha256` is exempt for query auth, where
/// the payload hash is not a signed header.
fn refuse_unsigned_amz_headers(
    parts: &Parts,
    signed: &[String],
    query_auth: bool,
) -> Result<(), ApiError> {
    let unsigned: Vec<&str> = parts
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-") && !signed.iter().any(|s| s == n))
        .filter(|n| !(query_auth && *n == "x-amz-content-sha256"))
        .collect();
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(ApiError::AccessDenied(format!(
            "There were headers present in the request which were not signed: {}",
            unsigned.join(", ")
        )))
    }
}

/// Adds the likely causes to a signature mismatch on a URL that signs the
/// Content-Type: a client sending another type (or none, as `curl
/// --upload-file` does without `-H`) is by far the most common one; a
/// proxy that rewrites Host (drops the port) the next.
pub fn explain_mismatch(e: ApiError, parts: &Parts, req: &S3Request) -> ApiError {
    let signs_type = req
        .query
        .get("X-Amz-SignedHeaders")
        .is_some_and(|h| h.split(';').any(|n| n == "content-type"));
    match e {
        ApiError::Auth(AuthError::SignatureDoesNotMatch) if signs_type => {
            let sent = parts
                .headers
                .get(header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "none".into());
            let host = parts
                .headers
                .get(header::HOST)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "none".into());
            ApiError::SignatureDoesNotMatch(format!(
                "{} This URL is signed for one Content-Type: send the header exactly as the \
                 contentType declared when the URL was requested (this request sent {sent}). \
                 If that is right, the Host header may have changed on the way (it arrived as \
                 {host}): a proxy must pass it through unchanged, port included.",
                AuthError::SignatureDoesNotMatch
            ))
        }
        e => e,
    }
}
