//! The JSON upload API under `/api/inspect/v1/`, and its OpenAPI
//! description at `/api/openapi.json`.
//!
//! A request's method and path are parsed **once** into an [`Endpoint`];
//! the handler of that endpoint is the only one to read its body. Each
//! endpoint family has its own file: presign and complete (`upload.rs`),
//! part-wise uploads (`parts.rs`), reading files (`files.rs`); what presign
//! and parts share is the declaration (`declare.rs`) and the request's
//! fields (`request.rs`). Tokens are checked by `api/auth.rs`, never here.
//!
//! Must never: store bytes (they arrive through presigned URLs, at
//! `api/presigned.rs`), or answer with anything but JSON.

mod declare;
mod files;
mod parts;
mod request;
mod upload;

use http::{header, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use crate::api::body::{full, Body};
use crate::api::error::ApiError;
use crate::app::App;

/// Where the endpoints of the API live.
const API_PREFIX: &str = "/api/inspect/v1/";

/// Where the API's OpenAPI description is served (no token needed).
const OPENAPI_PATH: &str = "/api/openapi.json";

/// One operation of the JSON API, read from the method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /api/openapi.json`
    OpenApi,
    /// `POST …/file/upload/presigned`
    Presign,
    /// `POST …/file/upload/complete`
    Complete,
    /// `POST …/file/upload/parts`
    BeginParts,
    /// `GET …/files`
    ListFiles,
    /// `GET …/file/{id}`, with the id as sent (checked by the handler,
    /// after the token: an unauthenticated client learns nothing of ids).
    GetFile(String),
}

impl Endpoint {
    /// The endpoint a request under `/api/` names, or the refusal: a path
    /// the API has not (404), or a method its path does not take (405).
    pub fn parse(method: &Method, path: &str) -> Result<Self, ApiError> {
        if path == OPENAPI_PATH && method == Method::GET {
            return Ok(Endpoint::OpenApi);
        }
        let rest = path.strip_prefix(API_PREFIX).unwrap_or("");
        let post_only = [
            "file/upload/presigned",
            "file/upload/complete",
            "file/upload/parts",
        ];
        match (method, rest) {
            (&Method::POST, "file/upload/presigned") => Ok(Endpoint::Presign),
            (&Method::POST, "file/upload/complete") => Ok(Endpoint::Complete),
            (&Method::POST, "file/upload/parts") => Ok(Endpoint::BeginParts),
            (&Method::GET, "files") => Ok(Endpoint::ListFiles),
            (&Method::GET, r) if r.strip_prefix("file/").is_some_and(|id| !id.contains('/')) => {
                Ok(Endpoint::GetFile(r["file/".len()..].to_string()))
            }
            (_, r) if post_only.contains(&r) => Err(ApiError::MethodNotAllowed(format!(
                "{path} accepts only POST"
            ))),
            _ => Err(not_found(method, path)),
        }
    }
}

fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no API endpoint {method} {path}; see the README for the endpoints"
    ))
}

/// Serves one request of the JSON API.
pub async fn route(
    app: &App,
    endpoint: Endpoint,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    match endpoint {
        Endpoint::OpenApi => Ok(openapi()),
        Endpoint::Presign => upload::presign(app, req).await,
        Endpoint::Complete => upload::complete(app, req).await,
        Endpoint::BeginParts => parts::begin(app, req).await,
        Endpoint::ListFiles => files::list(app, req).await,
        Endpoint::GetFile(id) => files::get(app, req, &id).await,
    }
}

/// The OpenAPI 3.1 description of the JSON API, embedded at build time
/// (`src/api/inspect/openapi.json`; a test checks real answers against it).
fn openapi() -> Response<Body> {
    let mut r = Response::new(full(include_str!("openapi.json")));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_one_endpoint_or_a_refusal() {
        let p = |m: Method, path: &str| Endpoint::parse(&m, path);
        assert_eq!(
            p(Method::GET, "/api/openapi.json").unwrap(),
            Endpoint::OpenApi
        );
        assert_eq!(
            p(Method::POST, "/api/inspect/v1/file/upload/presigned").unwrap(),
            Endpoint::Presign
        );
        assert_eq!(
            p(Method::GET, "/api/inspect/v1/file/abc").unwrap(),
            Endpoint::GetFile("abc".into())
        );
        assert!(matches!(
            p(Method::GET, "/api/inspect/v1/file/upload/presigned"),
            Err(ApiError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            p(Method::GET, "/api/inspect/v1/file/a/b"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            p(Method::PUT, "/api/inspect/v1/file/upload/complete"),
            Err(ApiError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            p(Method::POST, "/api/inspect/v1/files"),
            Err(ApiError::NotFound(_))
        ));
        assert!(matches!(
            p(Method::POST, "/api/openapi.json"),
            Err(ApiError::NotFound(_))
        ));
    }
}
