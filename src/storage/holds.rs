//! Changing what holds a version: PutObjectRetention and
//! PutObjectLegalHold, on the version a request names (found as
//! `versions` finds one), allowed or refused by Object Lock's rules
//! (`object_lock`) in the transaction that changes it.
//!
//! Must never: change a retention [`change_refused`] refuses, or touch
//! anything of a version but its retention and legal hold.

use super::object_lock::{change_refused, LockConfig};
use super::{Storage, StorageError};
use crate::index::{ObjectMeta, Retention, Tx, TxResult, Version};

/// The answer to changing a version's retention or legal hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetHoldOutcome {
    /// Done, on this version.
    Set { version_id: String },
    /// No such key, or no such version.
    Absent,
    /// The version is a delete marker, which holds nothing.
    Marker,
    /// The bucket has no Object Lock configuration.
    NotEnabled,
    /// The retention in force may not become what was asked.
    Refused(Retention),
}

/// Applies `change` to the metadata of the version a request names, if
/// the bucket has Object Lock and the change is allowed (`check`).
async fn change_hold(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    change: &(dyn Fn(&mut ObjectMeta) -> Option<Retention> + Sync),
) -> TxResult<SetHoldOutcome> {
    let Some(row) = tx.get_bucket(bucket).await? else {
        return Ok(SetHoldOutcome::Absent);
    };
    if LockConfig::of(&row)?.is_none() {
        return Ok(SetHoldOutcome::NotEnabled);
    }
    let mut obj = match super::versions::named(tx, bucket, key, version_id).await? {
        None => return Ok(SetHoldOutcome::Absent),
        Some(Version::Marker(_)) => return Ok(SetHoldOutcome::Marker),
        Some(Version::Object(o)) => *o,
    };
    if let Some(refused) = change(&mut obj.meta) {
        return Ok(SetHoldOutcome::Refused(refused));
    }
    super::versions::rewrite(tx, &obj).await?;
    Ok(SetHoldOutcome::Set {
        version_id: obj.version_id,
    })
}

impl Storage {
    /// PutObjectRetention: the retention of the version named becomes
    /// `retention` (`None`: removed), if [`change_refused`] allows it at
    /// the injected clock.
    pub async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        retention: Option<Retention>,
        bypass: bool,
    ) -> Result<SetHoldOutcome, StorageError> {
        let (b, k, v) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        let now = self.now();
        Ok(self
            .index
            .write(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(async move {
                    let change = move |meta: &mut ObjectMeta| {
                        let refused = change_refused(meta.retention, retention, now, bypass);
                        if refused.is_none() {
                            meta.retention = retention;
                        }
                        refused
                    };
                    change_hold(tx, &b, &k, v.as_deref(), &change).await
                })
            })
            .await?)
    }

    /// PutObjectLegalHold: the version named is held (`on`) or not.
    pub async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        on: bool,
    ) -> Result<SetHoldOutcome, StorageError> {
        let (b, k, v) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        Ok(self
            .index
            .write(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(async move {
                    let change = move |meta: &mut ObjectMeta| {
                        meta.legal_hold = on;
                        None
                    };
                    change_hold(tx, &b, &k, v.as_deref(), &change).await
                })
            })
            .await?)
    }
}
