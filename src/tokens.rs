//! API bearer tokens: minting, hashing and scopes.
//!
//! A token is shown once, when it is created, and stored only as its
//! SHA-256. This module must never log a token or write one anywhere but
//! the caller's stdout.

use base64::Engine;
use sha2::{Digest as _, Sha256};

use crate::storage::{Storage, StorageError};
use crate::store::Digest;

/// Every scope a token can carry.
pub const SCOPES: &[&str] = &["upload", "read", "admin"];

/// Prefix that makes a Stowage token recognisable (e.g. by secret scanners).
const PREFIX: &str = "stw_";

/// A fresh token: the prefix and 32 random bytes, base64url.
pub fn mint() -> String {
    let mut bytes = [0u8; 32];
    crate::random::fill(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the index stores and looks up.
pub fn hash(token: &str) -> Digest {
    Digest(Sha256::digest(token.as_bytes()).into())
}

/// Parses `upload,read` into a checked, de-duplicated list.
pub fn parse_scopes(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !SCOPES.contains(&part) {
            return Err(format!(
                "unknown scope '{part}'; scopes are {}",
                SCOPES.join(", ")
            ));
        }
        if !out.iter().any(|s| s == part) {
            out.push(part.to_string());
        }
    }
    if out.is_empty() {
        return Err(format!("give at least one scope of {}", SCOPES.join(", ")));
    }
    Ok(out)
}

/// Whether a token with `scopes` may act with `needed`. `admin` implies all.
pub fn allows(scopes: &[String], needed: &str) -> bool {
    scopes.iter().any(|s| s == needed || s == "admin")
}

/// Why a token was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A token (live or revoked) has the name: the caller's to change.
    #[error("a token named '{0}' already exists")]
    NameTaken(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates and stores a token; returns it in clear, the only time it exists.
pub async fn create(
    storage: &Storage,
    name: &str,
    scopes: &[String],
    now: i64,
) -> Result<String, CreateError> {
    let token = mint();
    if !storage
        .create_token(name, &hash(&token), scopes, now)
        .await?
    {
        return Err(CreateError::NameTaken(name.to_string()));
    }
    Ok(token)
}

/// On a data dir that has never had a token, creates `initial` with every
/// scope so the first run is usable without another step. Gateways started
/// together on one new index race for it: one makes it (and prints it),
/// the others find the name taken and make none.
pub async fn ensure_initial(storage: &Storage, now: i64) -> Result<Option<String>, CreateError> {
    if storage.token_count().await? > 0 {
        return Ok(None);
    }
    let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    match create(storage, "initial", &scopes, now).await {
        Ok(token) => Ok(Some(token)),
        Err(CreateError::NameTaken(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gateways started together on one new index: however their checks
    /// and creates interleave, one initial token is made and said, the
    /// others make none and start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gateways_starting_together_make_one_initial_token() {
        let (_dir, s, _clock) = crate::storage::tests::on_sqlite();
        let s = std::sync::Arc::new(s);
        let starts = (0..4).map(|_| {
            let s = s.clone();
            tokio::spawn(async move { ensure_initial(&s, 0).await })
        });
        let made: Vec<Option<String>> = futures_util::future::join_all(starts)
            .await
            .into_iter()
            .map(|r| r.expect("a start").expect("no start fails"))
            .collect();
        assert_eq!(made.iter().flatten().count(), 1, "{made:?}");
        assert_eq!(s.token_count().await.unwrap(), 1);
    }

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let (a, b) = (mint(), mint());
        assert_ne!(a, b);
        assert!(a.starts_with("stw_") && a.len() == 47, "{a}");
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn scopes_are_checked() {
        assert_eq!(
            parse_scopes("upload, read,upload").unwrap(),
            vec!["upload", "read"]
        );
        assert!(parse_scopes("write").unwrap_err().contains("write"));
        assert!(parse_scopes("").is_err());
        assert!(allows(&["admin".into()], "upload"));
        assert!(!allows(&["read".into()], "upload"));
    }
}
