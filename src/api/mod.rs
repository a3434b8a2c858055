//! The HTTP surfaces: the JSON upload API under `/api/` (`inspect/`), the
//! S3 API with the object paths `/{bucket}/{key}` presigned URLs point at
//! (`s3/`), `/healthz`, `/metrics`, and the built-in upload page at `/`
//! (for unsigned requests).
//!
//! This module picks the surface and owns what every answer shares: the
//! one rendering of a refusal (JSON for the API, S3 XML elsewhere), CORS,
//! the per-client limit on failed authentications and the count of
//! refusals. Each surface parses its request once into a typed value, and
//! handlers are given that value. Signatures are verified by `sigv4`
//! (through `sigauth.rs`) and tokens by `auth.rs`, never in a handler.

mod auth;
pub mod body;
mod cors;
pub(crate) mod error;
mod health;
pub mod ingest;
mod inspect;
mod metrics;
pub mod peer;
pub mod presigned;
mod query;
pub mod s3;
mod sigauth;
mod web;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

pub use body::{full, json, Body};
pub use error::{ApiError, Internal};
pub use peer::{Peer, Secure};

use crate::app::App;

/// The S3 code of the refusal a response carries: counted once, when the
/// request's answer is final (a refusal may be replaced by another, e.g.
/// by the failed-authentication limit).
#[derive(Clone, Copy)]
struct Rejected(&'static str);

/// Marks a response that refuses a request for failed authentication (one
/// the per-client limit of failures counts).
#[derive(Clone, Copy, Debug)]
struct AuthenticationFailed;

/// Most bytes of a request line and header section served.
pub const MAX_HEADER_SECTION: usize = 64 * 1024;

/// The bytes of a request's line and headers, as sent (near enough: the
/// method, target, and each field with its separators).
fn header_section_len<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + 11;
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

/// Routes one request. Never fails: errors become responses here.
pub async fn handle(app: &App, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    let resp = answer(app, req, request_id).await;
    if let Some(Rejected(code)) = resp.extensions().get::<Rejected>() {
        app.metrics.rejected(code);
    }
    resp
}

async fn answer(app: &App, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let client = req.extensions().get::<Peer>().map(Peer::limit_key);
    let is_api = path.starts_with("/api/");
    // Every refusal is rendered for its surface and marked with its code
    // (counted by `handle`); a failed authentication is marked for the
    // limit below.
    let render = |e: ApiError| {
        let code = e.meta().s3_code;
        let failed = e.is_authentication_failure();
        let mut r = if is_api {
            e.into_json(request_id)
        } else {
            e.into_xml(request_id, &path)
        };
        r.extensions_mut().insert(Rejected(code));
        if failed {
            r.extensions_mut().insert(AuthenticationFailed);
        }
        r
    };
    // A method nobody serves is refused before anything reads the request.
    if crate::metrics::method_label(method.as_str()) == "other" {
        return render(ApiError::NotImplemented(format!(
            "the method {} is not one this gateway serves (GET, HEAD, PUT, POST, DELETE, \
             OPTIONS)",
            method.as_str().chars().take(16).collect::<String>()
        )));
    }
    // Hyper bounds what it buffers of a header section (`max_buf_size`),
    // but where that bound falls depends on how the bytes arrived; this
    // limit does not.
    let head = header_section_len(&req);
    if head > MAX_HEADER_SECTION {
        let mut r = render(ApiError::HeaderSectionTooLarge(format!(
            "the request line and headers are {head} bytes; this gateway reads at most \
             {MAX_HEADER_SECTION}: send fewer or shorter headers"
        )));
        r.headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        return r;
    }
    let (parts, body) = req.into_parts();
    // Every path outside the JSON API is parsed once, as S3 would: its
    // bucket, key, query and credentials decide everything below.
    let s3 = if is_api {
        None
    } else {
        match s3::S3Request::parse(&parts) {
            Ok(r) => Some(r),
            Err(e) => return render(e),
        }
    };
    let cors_bucket = s3
        .as_ref()
        .map(|r| r.bucket.clone())
        .filter(|b| !b.is_empty());
    if method == Method::OPTIONS {
        // A browser's preflight: answered from CORS rules, before (and
        // without) authentication, as S3 does.
        let answer = match cors::rules(app, is_api, cors_bucket.as_deref()).await {
            Ok(rules) => cors::preflight(&rules, &parts.headers),
            Err(e) => Err(e),
        };
        return answer.unwrap_or_else(render);
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Which CORS rules decorate the answer: the API's, or those of the
    // bucket an S3 operation was routed to — never a bucket's rules on the
    // page, `/healthz` or `/metrics` (a bucket may be named "metrics").
    let mut decorate_with = is_api.then_some(None);
    let mut resp = match s3 {
        None => match inspect::Endpoint::parse(&method, &path) {
            Ok(endpoint) => inspect::route(app, endpoint, Request::from_parts(parts, body))
                .await
                .unwrap_or_else(render),
            Err(e) => render(e),
        },
        // `/metrics` is also the path of a bucket named "metrics": a
        // request presenting S3 credentials goes to the bucket, anything
        // else to the metrics. So with `/`: signed, it is S3's
        // ListBuckets; unsigned, the upload page.
        Some(req) => {
            let unsigned = !req.presented.is_s3();
            let page = if unsigned {
                web::serve(app, &method, &path)
            } else {
                None
            };
            if let Some(page) = page {
                page
            } else if path == "/healthz" {
                health::healthz(app).await
            } else if path == "/metrics" && unsigned {
                metrics::serve(app, Request::from_parts(parts, body))
                    .await
                    .unwrap_or_else(|e| {
                        let code = e.meta().s3_code;
                        let mut r = e.into_json(request_id);
                        r.extensions_mut().insert(Rejected(code));
                        r
                    })
            } else {
                decorate_with = Some(cors_bucket);
                s3::route(app, req, parts, body)
                    .await
                    .unwrap_or_else(render)
            }
        }
    };
    // Failed authentications are counted per client; one that fails too
    // often has its failing requests answered 429 with Retry-After. Only
    // its failing ones: a request whose token or signature verifies was
    // served above, whoever else shares its address (a proxy, a NAT) and
    // however often they failed.
    let failed_auth = resp.status() == StatusCode::UNAUTHORIZED
        || resp.extensions().get::<AuthenticationFailed>().is_some();
    if let (true, Some(client)) = (failed_auth, &client) {
        if let Err(retry_after) = app.auth_failures.take(client, std::time::Instant::now()) {
            resp = render(ApiError::TooManyRequests {
                message: format!(
                    "this request failed authentication, as have too many others from this \
                     client address recently: check the token, or the access key and \
                     signature, and retry after {retry_after} s (requests with valid \
                     credentials are served meanwhile)"
                ),
                retry_after,
            });
        }
    }
    // A browser's actual request: the matching rule's headers let the page
    // read the answer (errors included).
    if let (Some(origin), Some(bucket)) = (origin, decorate_with) {
        if let Ok(rules) = cors::rules(app, is_api, bucket.as_deref()).await {
            cors::decorate(&rules, &origin, method.as_str(), &mut resp);
        }
    }
    resp
}
