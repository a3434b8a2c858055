//! Parsed policies kept between requests: authorization reads a bucket's
//! policy text from the index on every request (so a change holds at once
//! on every gateway) and parses it only when the text differs from the one
//! parsed last for that bucket.
//!
//! Must never answer with a policy for other text than the one asked with:
//! the text is the key's whole truth, compared byte for byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Policy, PolicyError};

/// Buckets whose parsed policy is kept; past this the cache starts over.
const MAX_BUCKETS: usize = 4096;

#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

impl PolicyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The policy `text` of `bucket`, parsed (now or for an earlier
    /// request with the same text).
    pub fn get(&self, bucket: &str, text: &str) -> Result<Arc<Policy>, PolicyError> {
        if let Ok(map) = self.parsed.lock() {
            if let Some((t, p)) = map.get(bucket) {
                if t == text {
                    return Ok(p.clone());
                }
            }
        }
        let policy = Arc::new(Policy::parse(text, bucket)?);
        if let Ok(mut map) = self.parsed.lock() {
            if map.len() >= MAX_BUCKETS && !map.contains_key(bucket) {
                map.clear();
            }
            map.insert(bucket.to_string(), (text.to_string(), policy.clone()));
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#;
    const TWO: &str = r#"{"Statement": {"Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#;

    #[test]
    fn a_changed_text_is_parsed_again_and_the_same_one_is_not() {
        let c = PolicyCache::new();
        let a = c.get("b", ONE).unwrap();
        assert!(Arc::ptr_eq(&a, &c.get("b", ONE).unwrap()));
        let b = c.get("b", TWO).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(!b.is_public());
        assert!(c.get("b", "not json").is_err());
        // The bad text replaced nothing.
        assert!(Arc::ptr_eq(&b, &c.get("b", TWO).unwrap()));
    }
}
