//! `[cors]`: the default CORS rule, for the JSON API and the built-in
//! bucket while it has no configuration of its own.
//!
//! Owns the rule's defaults and refusing origins and methods the matcher
//! cannot honour. Must never match a request: `api/cors.rs` does.

use super::error::{invalid, ConfigError};
use super::file::FileCors;

/// `[cors]`: which web origins may call the gateway from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsDefault {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u32,
}

/// The rule, or `None` when no origin is allowed.
pub(super) fn resolve_cors(file: FileCors) -> Result<Option<CorsDefault>, ConfigError> {
    let origins = file.allowed_origins.unwrap_or_default();
    if origins.is_empty() {
        return Ok(None);
    }
    if let Some(o) = origins.iter().find(|o| o.matches('*').count() > 1) {
        return Err(invalid(
            "cors.allowed_origins",
            format!("'{o}' has more than one '*' wildcard"),
        ));
    }
    let methods = file
        .allowed_methods
        .unwrap_or_else(|| ["GET", "PUT", "POST", "HEAD"].map(String::from).to_vec());
    if let Some(m) = methods
        .iter()
        .find(|m| !["GET", "PUT", "POST", "HEAD", "DELETE"].contains(&m.as_str()))
    {
        return Err(invalid(
            "cors.allowed_methods",
            format!("'{m}' is not one of GET, PUT, POST, HEAD, DELETE"),
        ));
    }
    Ok(Some(CorsDefault {
        allowed_origins: origins,
        allowed_methods: methods,
        allowed_headers: file.allowed_headers.unwrap_or_else(|| vec!["*".into()]),
        expose_headers: file
            .expose_headers
            .unwrap_or_else(|| vec!["ETag".into(), "x-amz-request-id".into()]),
        max_age_secs: file.max_age_secs.unwrap_or(3600),
    }))
}
