//! The S3 surface: every request that is not the JSON API or `/healthz`.
//!
//! Owns dispatch: authenticate first (`auth.rs`, for every request), then
//! pick the operation from method, path (`/bucket/key`, path-style) and
//! query subresources, and hand it to the file for its family: `bucket.rs`,
//! `list.rs`, `object.rs`. A PUT whose signed URL carries the upload API's
//! declaration (`X-Stowage-Sha256`) goes to `api/presigned.rs`, which checks
//! it against that declaration.

pub mod auth;
mod bucket;
pub(crate) mod copy;
pub mod cors;
pub mod ingest;
mod list;
pub(crate) mod multipart;
mod object;
mod post_object;
mod xml;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{full, ApiError, Body};
use crate::app::App;
use crate::sigv4::encode::percent_decode;

pub use object::http_date;

/// Decoded query parameters, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        Query(
            raw.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (
                        percent_decode(k).unwrap_or_else(|_| k.to_string()),
                        percent_decode(v).unwrap_or_else(|_| v.to_string()),
                    )
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// An empty response with `status`.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = status;
    r
}

/// An XML document response.
pub fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    let mut r = Response::new(full(xml));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// Subresources this gateway implements. A request naming any other S3
/// subresource (`?tagging`, `?acl`, `?cors`, …) is refused before any
/// handler runs: routed as a plain object or bucket request it would
/// overwrite or delete data.
const IMPLEMENTED_SUBRESOURCES: &[&str] = &[
    "attributes",
    "cors",
    "delete",
    "location",
    "partNumber",
    "uploadId",
    "uploads",
    "versions",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

pub async fn route(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    // A browser's form upload carries its authentication in the form.
    {
        let path = parts.uri.path().trim_start_matches('/');
        let (b, k) = path.split_once('/').unwrap_or((path, ""));
        if post_object::is_form_upload(&parts, k) && !b.is_empty() {
            let bucket = b.to_string();
            return post_object::post_object(app, &parts, body, &bucket).await;
        }
    }
    let auth = auth::authenticate(app, &parts)?;
    let q = Query::parse(parts.uri.query().unwrap_or(""));
    // `versionId=null` names the only version an unversioned object has.
    if let Some((sub, _)) = q.0.iter().find(|(k, v)| {
        crate::sigv4::v2::SUBRESOURCES.contains(&k.as_str())
            && !IMPLEMENTED_SUBRESOURCES.contains(&k.as_str())
            && !(k == "versionId" && v == "null")
    }) {
        return Err(ApiError::NotImplemented(format!(
            "the ?{sub} subresource is not implemented by this gateway; nothing was changed"
        )));
    }

    let path = parts.uri.path();
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (raw_bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket = raw_bucket.to_string();
    let key = percent_decode(raw_key)
        .map_err(|_| ApiError::InvalidArgument("the object key is not valid UTF-8".into()))?;
    if key.len() > object::MAX_KEY_LEN {
        return Err(ApiError::KeyTooLong);
    }
    let method = parts.method.clone();
    auth::authorize(app, &auth, &parts, &bucket, &key, &q).await?;

    if bucket.is_empty() {
        return match method {
            Method::GET => bucket::list_buckets(app, &auth.access_key_id).await,
            _ => Err(not_supported(&method, "the service")),
        };
    }
    if key.is_empty() {
        return match method {
            Method::PUT if q.has("cors") => cors::put(app, &parts, body, &bucket).await,
            Method::GET if q.has("cors") => cors::get(app, &bucket).await,
            Method::DELETE if q.has("cors") => cors::delete(app, &bucket).await,
            Method::PUT => bucket::create_bucket(app, &bucket, &auth.access_key_id).await,
            Method::HEAD => bucket::head_bucket(app, &bucket).await,
            Method::DELETE => bucket::delete_bucket(app, &bucket).await,
            Method::GET if q.has("location") => bucket::get_location(app, &bucket).await,
            Method::GET if q.has("uploads") => multipart::list_uploads(app, &q, &bucket).await,
            Method::GET if q.get("list-type") == Some("2") => list::list_v2(app, &bucket, &q).await,
            Method::GET if q.has("versions") => list::list_versions(app, &bucket, &q).await,
            Method::GET => list::list_v1(app, &bucket, &q).await,
            Method::POST if q.has("delete") => {
                copy::delete_objects(app, &parts, body, &bucket).await
            }
            _ => Err(not_supported(&method, "a bucket")),
        };
    }
    if q.has("uploadId") {
        return match method {
            Method::PUT => match copy::copy_source(&parts.headers) {
                Some(source) => {
                    multipart::upload_part_copy(app, &parts, source?, &q, &bucket, &key).await
                }
                None => multipart::upload_part(app, &auth, parts, body, &q, &bucket, &key).await,
            },
            Method::POST => multipart::complete(app, &parts, body, &q, &bucket, &key).await,
            Method::DELETE => multipart::abort(app, &q, &bucket, &key).await,
            Method::GET => multipart::list_parts(app, &q, &bucket, &key).await,
            _ => Err(not_supported(&method, "a multipart upload")),
        };
    }
    match method {
        Method::POST if q.has("uploads") => multipart::create(app, &parts, &bucket, &key).await,
        Method::PUT => {
            let api_upload = auth
                .presigned
                .as_ref()
                .is_some_and(|p| p.param(super::presigned::SHA256_PARAM).is_some());
            if api_upload {
                super::presigned::put(app, &auth, parts, body, &bucket, &key).await
            } else if let Some(source) = copy::copy_source(&parts.headers) {
                copy::copy_object(app, &parts, source?, &bucket, &key).await
            } else {
                object::put_object(app, &auth, parts, body, &bucket, &key).await
            }
        }
        Method::GET if q.has("attributes") => {
            object::get_attributes(app, &parts, &bucket, &key).await
        }
        Method::GET | Method::HEAD => object::get_object(app, &parts, &q, &bucket, &key).await,
        Method::DELETE => object::delete_object(app, &bucket, &key).await,
        _ => Err(not_supported(&method, "an object")),
    }
}

fn not_supported(method: &Method, what: &str) -> ApiError {
    ApiError::NotImplemented(format!(
        "{method} on {what} is not an operation this gateway implements"
    ))
}
