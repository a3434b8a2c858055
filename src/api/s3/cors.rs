//! CORS, as S3 does it: a bucket's `CORSConfiguration` (PutBucketCors,
//! GetBucketCors, DeleteBucketCors), preflight `OPTIONS` answered from the
//! first rule that matches origin, method and requested headers, and the
//! matching rule's headers added to actual requests from a browser.
//!
//! A bucket without a configuration of its own falls back to the default
//! rule of `[cors]` in config.toml, if set, for the built-in bucket; the
//! JSON API uses that default rule too. This module decides headers only:
//! CORS never grants access — a request still needs its signature or token.

use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::bucket;
use super::xml::{self, Xml, XmlEvent};
use crate::api::{full, ApiError, Body};
use crate::app::App;

/// S3's limit on rules in one configuration.
const MAX_RULES: usize = 100;
/// Methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

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

/// Parses and checks a PutBucketCors body.
pub fn parse_config(body: &[u8]) -> Result<Vec<CorsRule>, ApiError> {
    let mut rules = Vec::new();
    let mut rule = CorsRule::default();
    let mut bad_age = None;
    xml::read(body, |event| {
        match event {
            XmlEvent::Text { element, text } => {
                let text = text.trim().to_string();
                match element {
                    "ID" => rule.id = Some(text),
                    "AllowedOrigin" => rule.allowed_origins.push(text),
                    "AllowedMethod" => rule.allowed_methods.push(text),
                    "AllowedHeader" => rule.allowed_headers.push(text),
                    "ExposeHeader" => rule.expose_headers.push(text),
                    "MaxAgeSeconds" => match text.parse() {
                        Ok(n) => rule.max_age_seconds = Some(n),
                        Err(_) => bad_age = Some(text),
                    },
                    _ => {}
                }
            }
            XmlEvent::End {
                element: "CORSRule",
            } => rules.push(std::mem::take(&mut rule)),
            XmlEvent::End { .. } => {}
        }
        Ok(())
    })?;
    if let Some(age) = bad_age {
        return Err(xml::malformed(&format!(
            "MaxAgeSeconds '{age}' is not a whole number of seconds"
        )));
    }
    if rules.is_empty() {
        return Err(xml::malformed(
            "a CORSConfiguration needs at least one CORSRule",
        ));
    }
    if rules.len() > MAX_RULES {
        return Err(ApiError::InvalidRequest(format!(
            "a CORS configuration may hold at most {MAX_RULES} rules, this one has {}",
            rules.len()
        )));
    }
    for r in &rules {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(xml::malformed(
                "every CORSRule needs at least one AllowedOrigin and one AllowedMethod",
            ));
        }
        if let Some(m) = r
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(ApiError::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(ApiError::InvalidRequest(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
        }
        for h in &r.allowed_headers {
            if h.matches('*').count() > 1 {
                return Err(ApiError::InvalidRequest(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
        }
    }
    Ok(rules)
}

/// GetBucketCors's body.
pub fn render(rules: &[CorsRule]) -> String {
    let mut x = Xml::new("CORSConfiguration");
    for r in rules {
        x.open("CORSRule");
        if let Some(id) = &r.id {
            x.elem("ID", id);
        }
        for (name, values) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in values {
                x.elem(name, v);
            }
        }
        if let Some(age) = r.max_age_seconds {
            x.elem("MaxAgeSeconds", &age.to_string());
        }
        x.close("CORSRule");
    }
    x.finish("CORSConfiguration")
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
pub async fn rules_for(app: &App, bucket: &str) -> Result<Vec<CorsRule>, ApiError> {
    let own = app.storage.bucket_cors(bucket).await?;
    if let Some(Some(json)) = own {
        return serde_json::from_str(&json).map_err(|e| {
            ApiError::Internal(crate::api::Internal::Other(format!(
                "the stored CORS configuration of bucket {bucket} is unreadable: {e}"
            )))
        });
    }
    if bucket == app.config.s3.bucket {
        return Ok(app.default_cors.clone());
    }
    Ok(Vec::new())
}

/// Largest PutBucketCors body.
const MAX_CORS_BODY: usize = 64 * 1024;

/// PutBucketCors.
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let xml =
        super::ingest::read_xml_body(parts, body, MAX_CORS_BODY, "CORS configuration").await?;
    let rules = parse_config(&xml)?;
    let json = serde_json::to_string(&rules)
        .map_err(|e| ApiError::Internal(crate::api::Internal::Other(e.to_string())))?;
    if !app
        .storage
        .set_bucket_cors(bucket_name, Some(&json))
        .await?
    {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(super::empty(StatusCode::OK))
}

/// GetBucketCors: the bucket's own configuration (the config file's default
/// rule is not a bucket configuration, as S3 has none).
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let Some(Some(json)) = app.storage.bucket_cors(bucket_name).await? else {
        return Err(ApiError::NoSuchCorsConfiguration);
    };
    let rules: Vec<CorsRule> = serde_json::from_str(&json)
        .map_err(|e| ApiError::Internal(crate::api::Internal::Other(e.to_string())))?;
    Ok(super::xml_response(StatusCode::OK, render(&rules)))
}

/// DeleteBucketCors.
pub async fn delete(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    app.storage.set_bucket_cors(bucket_name, None).await?;
    Ok(super::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <CORSRule><ID>web</ID>
        <AllowedOrigin>https://*.example.org</AllowedOrigin>
        <AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>
        <AllowedHeader>content-*</AllowedHeader><AllowedHeader>x-amz-date</AllowedHeader>
        <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds>
      </CORSRule>
      <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
    </CORSConfiguration>"#;

    #[test]
    fn a_configuration_parses_renders_and_parses_back() {
        let rules = parse_config(CONFIG.as_bytes()).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].id.as_deref(), Some("web"));
        assert_eq!(rules[0].max_age_seconds, Some(600));
        assert_eq!(parse_config(render(&rules).as_bytes()).unwrap(), rules);
    }

    #[test]
    fn rules_match_origin_method_and_headers() {
        let rules = parse_config(CONFIG.as_bytes()).unwrap();
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let web = find(
            &rules,
            "https://app.example.org",
            "PUT",
            &h(&["content-type"]),
        );
        assert_eq!(web.and_then(|r| r.id.as_deref()), Some("web"));
        // A header the rule does not allow, another origin, another method.
        assert!(find(&rules, "https://app.example.org", "PUT", &h(&["x-secret"])).is_none());
        assert!(find(&rules, "https://evil.test", "PUT", &[]).is_none());
        assert!(find(&rules, "https://app.example.org", "DELETE", &[]).is_none());
        // Any origin may GET, by the second rule.
        let any = find(&rules, "https://evil.test", "GET", &[]).unwrap();
        assert_eq!(any.allowed_origins, vec!["*"]);
    }

    #[test]
    fn bad_configurations_are_refused_with_s3s_messages() {
        let one = |rule: &str| {
            format!("<CORSConfiguration><CORSRule>{rule}</CORSRule></CORSConfiguration>")
        };
        for (body, needle) in [
            ("<CORSConfiguration/>".to_string(), "at least one CORSRule"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"), "Unsupported method is PATCH"),
            (one("<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), "more than one wildcard"),
            (one("<AllowedMethod>GET</AllowedMethod>"), "at least one AllowedOrigin"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds>"), "MaxAgeSeconds"),
        ] {
            let e = parse_config(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }
}
