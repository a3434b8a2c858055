//! Bearer-token authentication of the JSON API.
//!
//! The token is hashed and looked up by hash; it is never logged or echoed.

use http::request::Parts;

use super::ApiError;
use crate::app::App;
use crate::tokens;

/// Checks `Authorization: Bearer <token>` and that the token holds `scope`;
/// returns the token's name (what per-token limits are keyed by).
pub async fn require(app: &App, parts: &Parts, scope: &'static str) -> Result<String, ApiError> {
    require_token(app, parts, scope).await.map(|t| t.name)
}

/// [`require`], returning the token's record: for an answer that depends
/// on what else the token may do (e.g. only a token that may `read` files
/// is shown one in the answer to an upload operation).
pub async fn require_token(
    app: &App,
    parts: &Parts,
    scope: &'static str,
) -> Result<crate::index::TokenRecord, ApiError> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing Authorization header; send `Authorization: Bearer <token>` \
                 (create a token with `stowage token create`)"
                    .into(),
            )
        })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "malformed Authorization header; expected `Authorization: Bearer <token>`".into(),
            )
        })?;
    // A settings read: SQLite answers it on this thread when a reader is
    // idle (a small, cached table), and takes the blocking pool only when
    // every reader is busy.
    let record = app
        .storage
        .find_token(&tokens::hash(token))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the token is unknown or has been revoked".into()))?;
    if !tokens::allows(&record.scopes, scope) {
        return Err(ApiError::Forbidden(format!(
            "token '{}' lacks the '{scope}' scope; create one with `stowage token create --scopes {scope}`",
            record.name
        )));
    }
    Ok(record)
}
