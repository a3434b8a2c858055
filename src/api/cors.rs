//! CORS, as S3 does it: preflight `OPTIONS` answered from the first rule
//! that matches origin, method and requested headers, and the matching
//! rule's headers added to a browser's actual requests.
//!
//! The rules of a bucket are its own `CORSConfiguration` (`api/s3/cors.rs`
//! stores it), else, for the built-in bucket, the default rule of `[cors]`
//! in config.toml; the JSON API uses that default rule. This module decides
//! headers only: CORS never grants access — a request still needs its
//! signature or token.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::api::body::{full, Body};
use crate::api::error::ApiError;
use crate::app::App;

/// One CORSRule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    /// Origins, each with at most one `*` wildcard.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (`*` wildcards, any case).
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page.
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// Whether `value` matches `pattern`, which may hold one `*`.
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => {
            v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail)
        }
    }
}

/// The first rule allowing `origin` to use `method` with the request
/// headers `asked` (lowercase names).
pub fn find<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    asked: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && asked
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h, true)))
    })
}

/// The headers a matching rule adds to a response for `origin`.
fn allow(h: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let set = |h: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    if any {
        set(h, "access-control-allow-origin", "*");
    } else {
        set(h, "access-control-allow-origin", origin);
        set(h, "access-control-allow-credentials", "true");
    }
    set(
        h,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            h,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(h, "access-control-max-age", &age.to_string());
    }
    h.append(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
}

/// Answers a preflight `OPTIONS` against `rules`.
pub fn preflight(rules: &[CorsRule], h: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let origin = h
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::BadRequest("Insufficient information. Origin request header needed.".into())
        })?;
    let method = h
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Invalid Access-Control-Request-Method header: it is missing".into(),
            )
        })?;
    let asked: Vec<String> = h
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let rule = find(rules, origin, method, &asked).ok_or_else(|| {
        ApiError::CorsForbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the \
             evalution of Origin, request method / Access-Control-Request-Method or \
             Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
                .into(),
        )
    })?;
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::OK;
    allow(r.headers_mut(), rule, origin);
    if !asked.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&asked.join(", ")) {
            r.headers_mut().insert("access-control-allow-headers", v);
        }
    }
    Ok(r)
}

/// Adds the CORS headers of the first rule matching a browser's actual
/// request from `origin` to its response.
pub fn decorate(rules: &[CorsRule], origin: &str, method: &str, resp: &mut Response<Body>) {
    if let Some(rule) = find(rules, origin, method, &[]) {
        allow(resp.headers_mut(), rule, origin);
    }
}

/// The rules that apply to `bucket`: its own configuration, else the
/// default rule for the built-in bucket.
async fn rules_for(app: &App, bucket: &str) -> Result<Vec<CorsRule>, ApiError> {
    let own = app.storage.bucket_cors(bucket).await?;
    if let Some(Some(json)) = own {
        return serde_json::from_str(&json).map_err(|e| {
            ApiError::Internal(crate::api::error::Internal::Other(format!(
                "the stored CORS configuration of bucket {bucket} is unreadable: {e}"
            )))
        });
    }
    if bucket == app.config.s3.bucket {
        return Ok(default_rules(app));
    }
    Ok(Vec::new())
}

/// The `[cors]` default rule of config.toml (none when unset).
fn default_rules(app: &App) -> Vec<CorsRule> {
    app.config
        .cors
        .iter()
        .map(|c| CorsRule {
            id: Some("config.toml [cors]".into()),
            allowed_origins: c.allowed_origins.clone(),
            allowed_methods: c.allowed_methods.clone(),
            allowed_headers: c.allowed_headers.clone(),
            expose_headers: c.expose_headers.clone(),
            max_age_seconds: Some(c.max_age_secs),
        })
        .collect()
}

/// The CORS rules for a request: the `[cors]` default for the JSON API,
/// the bucket's own (or default) rules for an S3 path naming a bucket.
pub async fn rules(
    app: &App,
    is_api: bool,
    bucket: Option<&str>,
) -> Result<Vec<CorsRule>, ApiError> {
    if is_api {
        return Ok(default_rules(app));
    }
    match bucket {
        Some(bucket) => rules_for(app, bucket).await,
        None => Ok(Vec::new()),
    }
}
