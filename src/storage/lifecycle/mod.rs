//! Lifecycle rules: a bucket's configuration (its rules, kept as opaque
//! text in the index), which versions a rule's filter matches, and when an
//! action falls due, at S3's granularity (a number of days from a moment,
//! rounded up to the next midnight UTC).
//!
//! The worker that applies them is `worker.rs`. Must never: decide whether
//! a version may go (Object Lock's rules do, in the removing transaction),
//! or read a clock of its own.

mod worker;

use serde::{Deserialize, Serialize};

use super::{Storage, StorageError};
use crate::index::{BucketText, IndexError, ObjectMeta, TxResult};

pub use worker::LifecycleReport;

/// A day, in seconds.
pub const DAY_SECS: i64 = 86_400;

/// Which versions a rule applies to: keys under a prefix, with all these
/// tags, of a size strictly between the bounds given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

impl Filter {
    /// Whether an object version (its key, its metadata and size)
    /// matches.
    pub fn matches_object(&self, key: &str, meta: &ObjectMeta, size: u64) -> bool {
        self.matches_key(key)
            && self.tags.iter().all(|t| meta.tags.contains(t))
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
    }

    /// Whether a delete marker of `key` matches: markers have no tags or
    /// size, so a filter on either matches none.
    pub fn matches_marker(&self, key: &str) -> bool {
        self.matches_key(key)
            && self.tags.is_empty()
            && self.size_greater_than.is_none()
            && self.size_less_than.is_none()
    }

    fn matches_key(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }
}

/// When a rule expires current objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// This many days after the object's creation.
    Days(u32),
    /// At this moment (unix seconds; a midnight UTC).
    Date(i64),
}

/// One lifecycle rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    /// Current objects expire (removed in an unversioned bucket, hidden
    /// behind a delete marker in a versioned one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiry>,
    /// A delete marker that is all its key has left is removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions are removed this many days after they became
    /// noncurrent...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<u32>,
    /// ...except the newest this many of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
    /// Multipart uploads are aborted this many days after they began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_days: Option<u32>,
}

/// A bucket's lifecycle configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

impl LifecycleConfig {
    /// From a bucket's `lifecycle` text.
    pub fn from_text(text: &str) -> TxResult<Self> {
        serde_json::from_str(text).map_err(|_| IndexError::Corrupt("buckets.lifecycle"))
    }

    pub(crate) fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"rules\":[]}".into())
    }

    /// When the current object `key` (created at `created`) expires under
    /// the enabled rules matching it, and by which rule: the earliest.
    pub fn expiry_of(
        &self,
        key: &str,
        meta: &ObjectMeta,
        size: u64,
        created: i64,
    ) -> Option<(i64, &str)> {
        self.rules
            .iter()
            .filter(|r| r.enabled && r.filter.matches_object(key, meta, size))
            .filter_map(|r| {
                let at = match r.expiration? {
                    Expiry::Days(d) => after_days(created, d),
                    Expiry::Date(t) => t,
                };
                Some((at, r.id.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }
}

/// `days` days after `from`, rounded up to the next midnight UTC — how S3
/// dates a lifecycle action (an object of 10:30 on the 15th with 3 days
/// expires at 00:00 on the 19th).
pub fn after_days(from: i64, days: u32) -> i64 {
    let t = from.saturating_add(i64::from(days) * DAY_SECS);
    t.div_euclid(DAY_SECS) * DAY_SECS
        + if t.rem_euclid(DAY_SECS) == 0 {
            0
        } else {
            DAY_SECS
        }
}

/// The answer to setting a bucket's lifecycle configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetLifecycleOutcome {
    Set,
    NoSuchBucket,
}

impl Storage {
    /// Sets (`Some`) or deletes (`None`) a bucket's lifecycle
    /// configuration.
    pub async fn set_lifecycle(
        &self,
        bucket: &str,
        config: Option<LifecycleConfig>,
    ) -> Result<SetLifecycleOutcome, StorageError> {
        let b = bucket.to_string();
        let text = config.map(|c| c.text());
        Ok(self
            .index
            .write(move |tx| {
                let (b, text) = (b.clone(), text.clone());
                Box::pin(async move {
                    Ok(
                        if tx
                            .set_bucket_text(&b, BucketText::Lifecycle, text.as_deref())
                            .await?
                        {
                            SetLifecycleOutcome::Set
                        } else {
                            SetLifecycleOutcome::NoSuchBucket
                        },
                    )
                })
            })
            .await?)
    }

    /// A bucket's lifecycle configuration: `None` if there is no such
    /// bucket, `Some(None)` if it has none.
    pub async fn lifecycle(
        &self,
        bucket: &str,
    ) -> Result<Option<Option<LifecycleConfig>>, StorageError> {
        self.bucket_setting(bucket, |row| {
            row.lifecycle
                .as_deref()
                .map(LifecycleConfig::from_text)
                .transpose()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_to_the_next_midnight_utc() {
        // 2014-01-15T10:30:00Z + 3 days -> 2014-01-19T00:00:00Z.
        assert_eq!(after_days(1_389_781_800, 3), 1_390_089_600);
        // From a midnight, exactly the days.
        assert_eq!(after_days(1_389_744_000, 1), 1_389_744_000 + DAY_SECS);
    }

    #[test]
    fn filters_match_prefix_tags_and_size() {
        let f = Filter {
            prefix: "logs/".into(),
            tags: vec![("tier".into(), "cold".into())],
            size_greater_than: Some(10),
            size_less_than: Some(100),
        };
        let tagged = ObjectMeta {
            tags: vec![("a".into(), "b".into()), ("tier".into(), "cold".into())],
            ..ObjectMeta::default()
        };
        assert!(f.matches_object("logs/1", &tagged, 50));
        assert!(!f.matches_object("data/1", &tagged, 50));
        assert!(!f.matches_object("logs/1", &ObjectMeta::default(), 50));
        assert!(!f.matches_object("logs/1", &tagged, 10));
        assert!(!f.matches_object("logs/1", &tagged, 100));
        assert!(!f.matches_marker("logs/1"));
        assert!(Filter::default().matches_marker("anything"));
    }

    #[test]
    fn the_earliest_enabled_expiration_wins() {
        let rule = |id: &str, enabled, expiration| Rule {
            id: id.into(),
            enabled,
            filter: Filter::default(),
            expiration: Some(expiration),
            expired_object_delete_marker: false,
            noncurrent_days: None,
            newer_noncurrent_versions: None,
            abort_incomplete_days: None,
        };
        let c = LifecycleConfig {
            rules: vec![
                rule("late", true, Expiry::Days(30)),
                rule("off", false, Expiry::Days(1)),
                rule("soon", true, Expiry::Days(7)),
            ],
        };
        let meta = ObjectMeta::default();
        assert_eq!(c.expiry_of("k", &meta, 1, 0), Some((7 * DAY_SECS, "soon")));
        assert_eq!(
            LifecycleConfig::from_text(&c.text()).unwrap(),
            c,
            "round trip"
        );
    }
}
