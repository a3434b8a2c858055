//! The HTTP surfaces: the JSON upload API under `/api/inspect/v1/`, the
//! S3-style object paths `/{bucket}/{id}` that presigned URLs point at, and
//! `/healthz`.
//!
//! This module owns routing and the shape of every response. Each operation
//! family lives in its own file; signature checking lives in `sigv4`, never
//! in a handler. Handlers return `Result<Response, ApiError>` and the router
//! renders errors once, as JSON or S3 XML depending on the surface.

mod auth;
pub(crate) mod error;
mod files;
mod health;
pub mod presigned;
pub mod s3;
mod upload;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;

pub use error::{ApiError, Internal};

use crate::app::App;

/// Every response body: a buffer or a stream of file bytes.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A complete in-memory body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// Largest JSON request body accepted by the API.
pub const MAX_JSON_BODY: usize = 64 * 1024;

const API_PREFIX: &str = "/api/inspect/v1/";

/// Routes one request. Never fails: errors become responses here.
pub async fn handle(app: &App, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path.starts_with("/api/") {
        return match api_route(app, req, &method, &path).await {
            Ok(r) => r,
            Err(e) => e.into_json(request_id),
        };
    }
    if path == "/healthz" {
        return health::healthz(app).await;
    }
    match s3::route(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_xml(request_id, &path),
    }
}

async fn api_route(
    app: &App,
    req: Request<Incoming>,
    method: &Method,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let rest = path.strip_prefix(API_PREFIX).unwrap_or("");
    match (method, rest) {
        (&Method::POST, "file/upload/presigned") => upload::presign(app, req).await,
        (&Method::POST, "file/upload/complete") => upload::complete(app, req).await,
        (&Method::GET, r) if r.starts_with("file/") && !r[5..].contains('/') => {
            files::get(app, req, &r[5..]).await
        }
        (_, "file/upload/presigned" | "file/upload/complete") => Err(ApiError::MethodNotAllowed(
            format!("{path} accepts only POST"),
        )),
        _ => Err(ApiError::NotFound(format!(
            "no API endpoint {method} {path}; see the README for the endpoints"
        ))),
    }
}

/// A JSON response with `status`.
pub fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
