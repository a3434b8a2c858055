//! Object Lock (WORM), decided inside index transactions at the injected
//! clock: a bucket's configuration (enabled, with or without a default
//! retention), what retention a new version gets, whether a version may be
//! removed, and whether its retention may change.
//!
//! A version is protected while it has a legal hold, or a retention whose
//! date is still ahead: COMPLIANCE against everyone, GOVERNANCE against
//! everyone who does not both ask to bypass it and may. Every path that
//! removes a version for good asks [`removal_refused`] in the transaction
//! that removes it. Must never: let a version go, or its retention shrink,
//! without that answer; read a clock of its own (it is given `now`).

use serde::{Deserialize, Serialize};

use super::{Storage, StorageError};
use crate::index::{
    BucketRow, IndexError, ObjectMeta, ObjectRecord, Retention, RetentionMode, TxResult, Versioning,
};

/// A day, in seconds; S3's years are 365 of them.
const DAY_SECS: i64 = 86_400;

/// How long a default retention lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Days(u32),
    Years(u32),
}

impl Period {
    fn secs(self) -> i64 {
        match self {
            Period::Days(d) => i64::from(d) * DAY_SECS,
            Period::Years(y) => i64::from(y) * 365 * DAY_SECS,
        }
    }
}

/// The retention every new version of a bucket gets unless it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: Period,
}

/// A bucket's Object Lock configuration (its existence: Object Lock is
/// enabled, for good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultRetention>,
}

impl LockConfig {
    /// A bucket's configuration; `None` when Object Lock is not enabled.
    pub fn of(bucket: &BucketRow) -> TxResult<Option<LockConfig>> {
        bucket
            .object_lock
            .as_deref()
            .map(|t| {
                serde_json::from_str(t).map_err(|_| IndexError::Corrupt("buckets.object_lock"))
            })
            .transpose()
    }

    pub(crate) fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// What keeps a version from being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    LegalHold,
    Retained(Retention),
}

/// Whether the version with `meta` may not be removed at `now`; `bypass`:
/// the request asked to bypass governance retention and may.
pub fn removal_refused(meta: &ObjectMeta, now: i64, bypass: bool) -> Option<Hold> {
    if meta.legal_hold {
        return Some(Hold::LegalHold);
    }
    let r = meta.retention.filter(|r| r.until > now)?;
    match r.mode {
        RetentionMode::Governance if bypass => None,
        _ => Some(Hold::Retained(r)),
    }
}

/// Whether retention `old` may not become `new` at `now`: a retention in
/// force may be extended (same mode, a date no earlier) by anyone; any
/// other change — shortened, removed, another mode — only of GOVERNANCE,
/// with `bypass`. One that has run out may become anything.
pub fn change_refused(
    old: Option<Retention>,
    new: Option<Retention>,
    now: i64,
    bypass: bool,
) -> Option<Retention> {
    let old = old.filter(|o| o.until > now)?;
    let extends = new.is_some_and(|n| n.mode == old.mode && n.until >= old.until);
    match old.mode {
        _ if extends => None,
        RetentionMode::Governance if bypass => None,
        _ => Some(old),
    }
}

/// Gives a new version of `bucket` its Object Lock settings: the
/// bucket's default retention (from the version's creation) unless it
/// names one. False if it asks for retention or a legal hold in a bucket
/// without Object Lock: nothing may be recorded.
pub(crate) fn settle_new_version(bucket: &BucketRow, obj: &mut ObjectRecord) -> TxResult<bool> {
    let Some(config) = LockConfig::of(bucket)? else {
        return Ok(obj.meta.retention.is_none() && !obj.meta.legal_hold);
    };
    if obj.meta.retention.is_none() {
        obj.meta.retention = config.default.map(|d| Retention {
            mode: d.mode,
            until: obj.last_modified.saturating_add(d.period.secs()),
        });
    }
    Ok(true)
}

/// The answer to setting a bucket's Object Lock configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetLockOutcome {
    Set,
    NoSuchBucket,
    /// Object Lock needs versioning enabled (S3's 409 InvalidBucketState).
    VersioningNotEnabled,
}

impl Storage {
    /// Enables Object Lock on a bucket (for good) with `config`'s default
    /// retention, or changes that default; versioning must be enabled.
    pub async fn set_object_lock(
        &self,
        bucket: &str,
        config: LockConfig,
    ) -> Result<SetLockOutcome, StorageError> {
        let b = bucket.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let b = b.clone();
                Box::pin(async move {
                    let Some(row) = tx.get_bucket(&b).await? else {
                        return Ok(SetLockOutcome::NoSuchBucket);
                    };
                    if row.versioning != Versioning::Enabled {
                        return Ok(SetLockOutcome::VersioningNotEnabled);
                    }
                    tx.set_bucket_object_lock(&b, &config.text()).await?;
                    Ok(SetLockOutcome::Set)
                })
            })
            .await?)
    }

    /// A bucket's Object Lock configuration: `None` if there is no such
    /// bucket, `Some(None)` if Object Lock is not enabled on it.
    pub async fn object_lock(
        &self,
        bucket: &str,
    ) -> Result<Option<Option<LockConfig>>, StorageError> {
        self.bucket_setting(bucket, LockConfig::of).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(mode: RetentionMode, until: i64) -> Option<Retention> {
        Some(Retention { mode, until })
    }

    #[test]
    fn a_version_goes_only_when_nothing_holds_it() {
        use RetentionMode::*;
        let meta = |retention, legal_hold| ObjectMeta {
            retention,
            legal_hold,
            ..ObjectMeta::default()
        };
        assert_eq!(removal_refused(&meta(None, false), 10, false), None);
        assert_eq!(
            removal_refused(&meta(None, true), 10, true),
            Some(Hold::LegalHold)
        );
        for bypass in [false, true] {
            assert!(removal_refused(&meta(r(Compliance, 11), false), 10, bypass).is_some());
        }
        assert!(removal_refused(&meta(r(Governance, 11), false), 10, false).is_some());
        assert_eq!(
            removal_refused(&meta(r(Governance, 11), false), 10, true),
            None
        );
        // Its date reached, nothing holds it.
        assert_eq!(
            removal_refused(&meta(r(Compliance, 10), false), 10, false),
            None
        );
    }

    #[test]
    fn retention_in_force_only_grows_unless_governance_is_bypassed() {
        use RetentionMode::*;
        let old = r(Compliance, 100);
        assert_eq!(change_refused(old, r(Compliance, 200), 50, false), None);
        assert_eq!(change_refused(old, r(Compliance, 100), 50, false), None);
        for bypass in [false, true] {
            assert!(change_refused(old, r(Compliance, 99), 50, bypass).is_some());
            assert!(change_refused(old, None, 50, bypass).is_some());
            assert!(change_refused(old, r(Governance, 200), 50, bypass).is_some());
        }
        let gov = r(Governance, 100);
        assert!(change_refused(gov, r(Governance, 99), 50, false).is_some());
        assert!(change_refused(gov, None, 50, false).is_some());
        assert_eq!(change_refused(gov, None, 50, true), None);
        assert_eq!(change_refused(gov, r(Governance, 150), 50, false), None);
        // Run out: anything.
        assert_eq!(change_refused(old, None, 100, false), None);
    }

    #[test]
    fn a_new_version_gets_the_default_from_its_creation() {
        let mut bucket = BucketRow {
            name: "b".into(),
            created_at: 0,
            owner: None,
            cors: None,
            versioning: Versioning::Enabled,
            object_lock: None,
            lifecycle: None,
            tags: None,
            acl: None,
            policy: None,
            public_access_block: None,
        };
        let mut obj = ObjectRecord {
            bucket: "b".into(),
            key: "k".into(),
            sha256: crate::store::Digest([0; 32]),
            size: 0,
            etag: String::new(),
            content_type: String::new(),
            meta: ObjectMeta::default(),
            last_modified: 1_000,
            version_id: "null".into(),
        };
        assert!(settle_new_version(&bucket, &mut obj).unwrap());
        obj.meta.legal_hold = true;
        assert!(!settle_new_version(&bucket, &mut obj).unwrap());
        obj.meta.legal_hold = false;
        let config = LockConfig {
            default: Some(DefaultRetention {
                mode: RetentionMode::Governance,
                period: Period::Days(2),
            }),
        };
        bucket.object_lock = Some(config.text());
        assert!(settle_new_version(&bucket, &mut obj).unwrap());
        assert_eq!(
            obj.meta.retention,
            r(RetentionMode::Governance, 1_000 + 2 * DAY_SECS)
        );
        // One it names is kept.
        obj.meta.retention = r(RetentionMode::Compliance, 5);
        assert!(settle_new_version(&bucket, &mut obj).unwrap());
        assert_eq!(obj.meta.retention, r(RetentionMode::Compliance, 5));
    }
}
