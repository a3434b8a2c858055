//! A bucket's `CORSConfiguration`: PutBucketCors (parsed and checked as S3
//! does), GetBucketCors and DeleteBucketCors. Which rule answers a browser
//! is `api/cors.rs`'s to decide.

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

use super::bucket;
use super::xml::{self, Xml, XmlEvent};
use crate::api::body::Body;
use crate::api::cors::CorsRule;
use crate::api::error::ApiError;
use crate::app::App;

/// S3's limit on rules in one configuration.
const MAX_RULES: usize = 100;
/// Methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

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

/// Largest PutBucketCors body.
const MAX_CORS_BODY: usize = 64 * 1024;

/// PutBucketCors.
pub async fn put(
    app: &App,
    parts: &Parts,
    body: Incoming,
    bucket_name: &str,
) -> Result<Response<Body>, ApiError> {
    let xml = bucket::read_xml_for(
        app,
        parts,
        body,
        bucket_name,
        MAX_CORS_BODY,
        "CORS configuration",
    )
    .await?;
    let rules = parse_config(&xml)?;
    let json = serde_json::to_string(&rules)
        .map_err(|e| ApiError::Internal(crate::api::error::Internal::Other(e.to_string())))?;
    if !app
        .storage
        .set_bucket_cors(bucket_name, Some(&json))
        .await?
    {
        return Err(bucket::no_such_bucket(bucket_name));
    }
    Ok(crate::api::body::empty(StatusCode::OK))
}

/// GetBucketCors: the bucket's own configuration (the config file's default
/// rule is not a bucket configuration, as S3 has none).
pub async fn get(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    let Some(Some(json)) = app.storage.bucket_cors(bucket_name).await? else {
        return Err(ApiError::NoSuchCorsConfiguration);
    };
    let rules: Vec<CorsRule> = serde_json::from_str(&json)
        .map_err(|e| ApiError::Internal(crate::api::error::Internal::Other(e.to_string())))?;
    Ok(crate::api::body::xml_response(
        StatusCode::OK,
        render(&rules),
    ))
}

/// DeleteBucketCors.
pub async fn delete(app: &App, bucket_name: &str) -> Result<Response<Body>, ApiError> {
    bucket::require(app, bucket_name).await?;
    app.storage.set_bucket_cors(bucket_name, None).await?;
    Ok(crate::api::body::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cors::find;

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
