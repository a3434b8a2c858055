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
use crate::sigv4::{self, AuthError, Presigned, RequestParts, VerifyParams};

/// How the request body is protected, as the signature declared it.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Not covered by the signature (presigned URLs, `UNSIGNED-PAYLOAD`).
    Unsigned,
    /// The hex SHA-256 the client signed; the body must hash to it.
    Sha256([u8; 32]),
}

/// A request whose signature checked out.
pub struct Authenticated {
    pub access_key_id: String,
    pub payload: Payload,
    /// The verified query, for query-authenticated requests.
    pub presigned: Option<Presigned>,
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
pub fn authenticate(app: &App, parts: &Parts) -> Result<Authenticated, ApiError> {
    let query = parts.uri.query().unwrap_or("");
    let headers = header_list(parts);
    let req = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: query,
        headers: &headers,
    };
    let creds = &app.credentials;
    let secret_for =
        |key: &str| (key == creds.access_key_id).then(|| creds.secret_access_key.clone());
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
    let query_auth = query.split('&').any(|kv| {
        let k = kv.split('=').next().unwrap_or("");
        k.starts_with("X-Amz-") || k.starts_with("X-Stowage-")
    });
    if query_auth && authorization.is_none() {
        let p = sigv4::verify_presigned(&req, secret_for, &params, app.clock.now())
            .map_err(|e| explain_mismatch(e.into(), parts))?;
        return Ok(Authenticated {
            access_key_id: p.access_key_id.clone(),
            payload: Payload::Unsigned,
            presigned: Some(p),
        });
    }
    match authorization {
        Some(a) if a.starts_with("AWS4-HMAC-SHA256") => Err(ApiError::NotImplemented(
            "SigV4 header authentication is not supported yet; use presigned URLs".into(),
        )),
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

/// Adds the likely cause to a signature mismatch on a URL that signs the
/// Content-Type: a client sending another type (or none, as `curl
/// --upload-file` does without `-H`) is by far the most common one.
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
            ApiError::SignatureDoesNotMatch(format!(
                "{} This URL is signed for one Content-Type: send the header exactly as the \
                 contentType declared when the URL was requested (this request sent {sent}).",
                AuthError::SignatureDoesNotMatch
            ))
        }
        e => e,
    }
}
