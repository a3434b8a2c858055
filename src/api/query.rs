//! A query string decoded **once**: each name and value percent-decoded,
//! wire order kept, a name given twice refused (which of the two would
//! authorization see, which the handler?). Both surfaces read their query
//! parameters only through this value.

use std::collections::HashSet;

use crate::api::error::ApiError;
use crate::sigv4::encode::percent_decode;

/// Decoded query parameters, in wire order, each name at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes a raw query string (no leading `?`). A malformed escape,
    /// bytes that are not UTF-8, or a name given twice (`?uploadId=a&
    /// uploadId=b`: which one would authorization see, which the handler?)
    /// are refused.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        let mut seen = HashSet::new();
        for seg in raw.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            let (name, value) = match (percent_decode(k), percent_decode(v)) {
                (Ok(n), Ok(v)) => (n, v),
                _ => {
                    return Err(ApiError::InvalidArgument(format!(
                        "the query parameter '{}' is not valid percent-encoded UTF-8; encode \
                         every reserved byte as %XX",
                        shorten(k)
                    )))
                }
            };
            if !seen.insert(name.clone()) {
                if name.starts_with("X-Amz-") {
                    // An authentication parameter: S3's code for it.
                    return Err(crate::sigv4::AuthError::QueryParameters(format!(
                        "The {} parameter must be given only once",
                        shorten(&name)
                    ))
                    .into());
                }
                return Err(ApiError::InvalidArgument(format!(
                    "the query parameter '{}' is given more than once; send it once",
                    shorten(&name)
                )));
            }
            pairs.push((name, value));
        }
        Ok(Query(pairs))
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

    /// The names and values, in wire order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The names, in wire order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// A client-supplied name cut for an error message.
pub(crate) fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}
