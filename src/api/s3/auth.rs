//! Who sent an S3 request, and how its body is protected.
//!
//! Owns choosing the authentication scheme from the request (SigV4 query,
//! SigV4 header, SigV2 query or header) and handing it to `sigv4`, which
//! does the checking. Every S3 request passes through [`authenticate`]
//! before any handler runs; anonymous requests are refused.

use http::header;
use http::request::Parts;

use crate::api::ApiError;
use crate::app::App;
use crate::sigv4::{
    self, AuthError, PayloadMode, Presigned, RequestParts, StreamingMode, VerifyParams,
};

/// A request whose signature checked out.
pub struct Authenticated {
    pub access_key_id: String,
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
    fn unsigned(access_key_id: String, presigned: Option<Presigned>) -> Self {
        Authenticated {
            access_key_id,
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

/// Checks the request's signature, whichever scheme it uses.
/// Subresources an anonymous reader of a public-read bucket may not use:
/// they read or change the bucket's configuration or uploads in progress.
const NOT_FOR_ANONYMOUS: [&str; 9] = [
    "acl",
    "attributes",
    "cors",
    "location",
    "policy",
    "uploadId",
    "uploads",
    "versions",
    "delete",
];

/// Whether a request carries no credentials at all (no Authorization
/// header, no signature in the query).
fn is_anonymous(parts: &Parts) -> bool {
    let query = parts.uri.query().unwrap_or("");
    let names = || {
        query
            .split('&')
            .map(|kv| kv.split('=').next().unwrap_or(""))
    };
    parts.headers.get(header::AUTHORIZATION).is_none()
        && !names().any(|n| {
            n.starts_with("X-Amz-")
                || n.starts_with("X-Stowage-")
                || n == "AWSAccessKeyId"
                || n == "Signature"
        })
}

/// An unsigned read of a bucket in `[s3] public_read`, as S3 allows on a
/// bucket with a public-read ACL: GET or HEAD of its objects and listings.
fn public_read(app: &App, parts: &Parts) -> bool {
    if !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
        return false;
    }
    let bucket = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let query = parts.uri.query().unwrap_or("");
    app.config.s3.public_read.iter().any(|b| b == bucket)
        && !query
            .split('&')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .any(|n| NOT_FOR_ANONYMOUS.contains(&n))
}

/// Whether the key that signed a request may do it: the configured key may
/// do everything; another key only what its buckets and grants allow.
/// Creating a bucket and listing buckets are open to every key (the list
/// shows only its own); a bucket's settings and deletion are its owner's.
pub async fn authorize(
    app: &App,
    auth: &Authenticated,
    parts: &Parts,
    bucket: &str,
    key: &str,
    q: &super::Query,
) -> Result<(), ApiError> {
    let who = auth.access_key_id.as_str();
    if app.is_main_key(who) || who == ANONYMOUS || bucket.is_empty() {
        return Ok(());
    }
    let method = &parts.method;
    let settings = q.has("cors") || q.has("acl") || q.has("policy");
    if key.is_empty() && *method == http::Method::PUT && !settings {
        return Ok(()); // CreateBucket: the bucket becomes this key's.
    }
    let access = |b: String| {
        let w = who.to_string();
        async move { app.db(move |db| db.bucket_access(&w, &b)).await }
    };
    let a = access(bucket.to_string()).await?;
    if !a.exists {
        return Ok(()); // the handler answers NoSuchBucket
    }
    let (need, ok) = if key.is_empty() && (settings || *method == http::Method::DELETE) {
        ("owner", a.owner)
    } else if matches!(*method, http::Method::GET | http::Method::HEAD) {
        ("read", a.read)
    } else {
        ("write", a.write)
    };
    if !ok {
        return Err(ApiError::AccessDenied(format!(
            "Access Denied: key {who} has no {need} permission on bucket {bucket}; the \
             operator grants it with `stowage key allow`"
        )));
    }
    // A copy reads its source: that bucket must be readable too.
    if let Some(src) = parts
        .headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
    {
        let src_bucket = src.trim_start_matches('/').split('/').next().unwrap_or("");
        let s = access(src_bucket.to_string()).await?;
        if s.exists && !s.read {
            return Err(ApiError::AccessDenied(format!(
                "Access Denied: key {who} has no read permission on the copy source's bucket \
                 {src_bucket}"
            )));
        }
    }
    Ok(())
}

/// The access key id of an unsigned read of a public-read bucket.
pub const ANONYMOUS: &str = "anonymous";

pub fn authenticate(app: &App, parts: &Parts) -> Result<Authenticated, ApiError> {
    if is_anonymous(parts) && public_read(app, parts) {
        return Ok(Authenticated::unsigned(ANONYMOUS.into(), None));
    }
    let query = parts.uri.query().unwrap_or("");
    let headers = header_list(parts);
    let req = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: query,
        headers: &headers,
    };
    let secret_for = |key: &str| app.secret_for(key);
    let params = VerifyParams {
        region: &app.config.s3.region,
        service: "s3",
    };
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

    // Any X-Amz-* (or upload API) parameter is an attempt at query
    // authentication, checked as such so a missing piece is named.
    let has_param = |prefix: &str| {
        query
            .split('&')
            .any(|kv| kv.split('=').next().unwrap_or("").starts_with(prefix))
    };
    let now = app.clock.now();
    match authorization.as_deref() {
        None if has_param("X-Amz-") || has_param("X-Stowage-") => {
            let p = sigv4::verify_presigned(&req, secret_for, &params, now)
                .map_err(|e| explain_mismatch(e.into(), parts))?;
            refuse_unsigned_amz_headers(parts, &p.signed_headers, true)?;
            // A signed hex payload hash binds the body, as with header auth.
            let payload = match PayloadMode::parse(&p.payload_hash) {
                Some(m @ PayloadMode::Sha256(_)) => m,
                _ => PayloadMode::Unsigned,
            };
            Ok(Authenticated {
                access_key_id: p.access_key_id.clone(),
                payload,
                streaming: None,
                presigned: Some(p),
            })
        }
        None if has_param("AWSAccessKeyId") || has_param("Signature") => {
            let v2 = sigv4::verify_v2_query(&req, secret_for, now)?;
            Ok(Authenticated::unsigned(v2.access_key_id, None))
        }
        Some(a) if a.starts_with("AWS4-HMAC-SHA256") => {
            let h = sigv4::verify_header_auth(&req, secret_for, &params, now)?;
            refuse_unsigned_amz_headers(parts, &h.signed_headers, false)?;
            Ok(Authenticated {
                access_key_id: h.access_key_id.clone(),
                payload: h.payload,
                streaming: h.streaming_mode(),
                presigned: None,
            })
        }
        Some(a) if a.starts_with("AWS ") => {
            let v2 = sigv4::verify_v2_header(&req, secret_for, now)?;
            Ok(Authenticated::unsigned(v2.access_key_id, None))
        }
        Some(_) => Err(ApiError::InvalidArgument(
            "Unsupported Authorization header; sign with AWS Signature Version 4".into(),
        )),
        None => Err(ApiError::AccessDenied(
            "Anonymous access is not allowed: sign the request (AWS SigV4) with this \
             gateway's access key, or use a presigned URL"
                .into(),
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
pub fn explain_mismatch(e: ApiError, parts: &Parts) -> ApiError {
    let signs_type = parts.uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.starts_with("X-Amz-SignedHeaders=") && kv.contains("content-type"))
    });
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
