//! The lifecycle worker: one round applies every bucket's rules at the
//! injected clock — current objects expired, noncurrent versions removed
//! (the newest N kept), lone delete markers removed, old multipart uploads
//! aborted.
//!
//! A round runs on one gateway at a time (the index's housekeeping lock),
//! walks each bucket's versions in pages and yields between them; every
//! change is a transaction of its own that checks the key is still as the
//! walk saw it, so a write racing the worker is never undone, and a
//! gateway killed mid-round leaves the rest to the next. A version Object
//! Lock holds is kept (and counted), never removed.

use super::{after_days, LifecycleConfig, Rule};
use crate::index::{ListedVersion, Tx, TxResult, Version, VersionPlace};
use crate::storage::objects::DeleteObjectOutcome;
use crate::storage::versions::{self, KeyDeleted, Removal};
use crate::storage::{Storage, StorageError};

/// Versions read per page of a bucket's walk.
const PAGE: usize = 500;

/// What a round did (added to `/metrics` by the caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// This gateway held the lock and ran the round.
    pub ran: bool,
    pub versions_scanned: u64,
    /// Current objects expired: removed, or hidden behind a delete marker.
    pub expired: u64,
    /// Noncurrent versions (and noncurrent markers) removed.
    pub noncurrent_removed: u64,
    /// Delete markers left alone on their key, removed.
    pub markers_removed: u64,
    pub uploads_aborted: u64,
    /// Versions due for removal that Object Lock holds: kept.
    pub locked_kept: u64,
}

/// Expires the current object of `bucket/key` if it is still the version
/// `version_id`: removed in an unversioned bucket, behind a marker in a
/// versioned one.
async fn expire_current(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: &str,
    now: i64,
) -> TxResult<Option<KeyDeleted>> {
    let current = tx.get_object(bucket, key).await?;
    if current.is_none_or(|c| c.version_id != version_id) {
        return Ok(None);
    }
    let Some(row) = tx.get_bucket(bucket).await? else {
        return Ok(None);
    };
    versions::delete_key(tx, bucket, key, row.versioning, now)
        .await
        .map(Some)
}

/// Removes the delete marker `version_id` of `bucket/key` if it is all the
/// key has left.
async fn remove_lone_marker(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: &str,
    now: i64,
) -> TxResult<bool> {
    let first = tx
        .list_versions(bucket, key, &VersionPlace::after_key(""), 2)
        .await?;
    let mine: Vec<&ListedVersion> = first.iter().filter(|l| l.version.key() == key).collect();
    let lone = matches!(mine.as_slice(), [only] if only.version.is_marker()
        && only.version.version_id() == version_id);
    if !lone {
        return Ok(false);
    }
    Ok(matches!(
        versions::remove_version(tx, bucket, key, version_id, now, false).await?,
        Removal::Removed(_)
    ))
}

/// Which noncurrent versions of one key (newest first, `group[0]` the
/// newest of all) the rules make due at `now`: their indices in `group`.
fn noncurrent_due(rules: &[&Rule], group: &[ListedVersion], now: i64) -> Vec<usize> {
    let mut due = Vec::new();
    for rule in rules {
        let Some(days) = rule.noncurrent_days else {
            continue;
        };
        let mut seen = 0u32;
        for i in 1..group.len() {
            let v = &group[i].version;
            let matches = match v {
                Version::Object(o) => rule.filter.matches_object(&o.key, &o.meta, o.size),
                Version::Marker(m) => rule.filter.matches_marker(&m.key),
            };
            if !matches {
                continue;
            }
            seen += 1;
            if rule.newer_noncurrent_versions.is_some_and(|n| seen <= n) {
                continue;
            }
            // Noncurrent since the version above it was written.
            let since = group[i - 1].version.last_modified();
            if now >= after_days(since, days) && !due.contains(&i) {
                due.push(i);
            }
        }
    }
    due
}

impl Storage {
    /// One lifecycle round (see the module docs), waiting for the lock if
    /// another gateway holds it: what tests and `stowage` call.
    pub async fn run_lifecycle(&self) -> Result<LifecycleReport, StorageError> {
        self.lifecycle_when(true).await
    }

    /// [`Self::run_lifecycle`] as the housekeeping timer runs it: only if
    /// no other gateway is running one now.
    pub async fn lifecycle_round(&self) -> Result<LifecycleReport, StorageError> {
        self.lifecycle_when(false).await
    }

    async fn lifecycle_when(&self, wait: bool) -> Result<LifecycleReport, StorageError> {
        let mut report = LifecycleReport::default();
        let Some(_lock) = self.housekeeping_lock(b"lifecycle", wait).await? else {
            return Ok(report);
        };
        report.ran = true;
        let now = self.now();
        let buckets = self
            .index
            .read(|tx| Box::pin(async move { tx.lifecycle_buckets().await }))
            .await?;
        for (bucket, text) in buckets {
            let config = LifecycleConfig::from_text(&text)?;
            if config.rules.iter().any(|r| r.enabled) {
                self.apply_to_bucket(&bucket, &config, now, &mut report)
                    .await?;
            }
        }
        if report
            != (LifecycleReport {
                ran: true,
                ..LifecycleReport::default()
            })
        {
            tracing::info!(?report, "lifecycle round");
        }
        Ok(report)
    }

    async fn apply_to_bucket(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        now: i64,
        report: &mut LifecycleReport,
    ) -> Result<(), StorageError> {
        let rules: Vec<&Rule> = config.rules.iter().filter(|r| r.enabled).collect();
        let mut place = VersionPlace::after_key("");
        let mut group: Vec<ListedVersion> = Vec::new();
        loop {
            let page = self.list_versions(bucket, "", place.clone(), PAGE).await?;
            let last_page = page.len() < PAGE;
            for listed in page {
                place = listed.place.clone();
                report.versions_scanned += 1;
                // A key's versions are all seen once the next key shows.
                if group
                    .first()
                    .is_some_and(|g| g.version.key() != listed.version.key())
                {
                    let done = std::mem::take(&mut group);
                    self.apply_to_key(bucket, config, &rules, &done, now, report)
                        .await?;
                }
                group.push(listed);
            }
            if last_page {
                break;
            }
            tokio::task::yield_now().await;
        }
        if !group.is_empty() {
            self.apply_to_key(bucket, config, &rules, &group, now, report)
                .await?;
        }
        self.abort_old_uploads(bucket, &rules, now, report).await
    }

    /// The rules on one key's versions (newest first).
    async fn apply_to_key(
        &self,
        bucket: &str,
        config: &LifecycleConfig,
        rules: &[&Rule],
        group: &[ListedVersion],
        now: i64,
        report: &mut LifecycleReport,
    ) -> Result<(), StorageError> {
        let Some(top) = group.first() else {
            return Ok(());
        };
        let key = top.version.key().to_string();
        if let (true, Version::Object(o)) = (top.is_latest, &top.version) {
            let due = config.expiry_of(&key, &o.meta, o.size, o.last_modified);
            if due.is_some_and(|(at, _)| now >= at) {
                let (b, k, v) = (bucket.to_string(), key.clone(), o.version_id.clone());
                let out = self
                    .index
                    .write(move |tx| {
                        let (b, k, v) = (b.clone(), k.clone(), v.clone());
                        Box::pin(async move { expire_current(tx, &b, &k, &v, now).await })
                    })
                    .await?;
                match out {
                    Some(KeyDeleted::Removed(old)) => {
                        report.expired += 1;
                        self.release(old.sha256).await?;
                    }
                    Some(KeyDeleted::Marked { released, .. }) => {
                        report.expired += 1;
                        for d in released {
                            self.release(d).await?;
                        }
                    }
                    Some(KeyDeleted::Absent) | None => {}
                }
            }
        }
        let due = noncurrent_due(rules, group, now);
        for i in &due {
            let v = &group[*i].version;
            match self
                .delete_object(bucket, &key, Some(v.version_id()))
                .await?
            {
                DeleteObjectOutcome::RemovedVersion(_) => report.noncurrent_removed += 1,
                DeleteObjectOutcome::Locked(_) => report.locked_kept += 1,
                _ => {}
            }
        }
        // A marker left alone on its key (the walk saw it so, or the
        // removals above made it so): checked again where it is removed.
        let left: Vec<&ListedVersion> = group
            .iter()
            .enumerate()
            .filter(|(i, _)| !due.contains(i))
            .map(|(_, l)| l)
            .collect();
        let lone_rule = rules
            .iter()
            .any(|r| r.expired_object_delete_marker && r.filter.matches_marker(&key));
        if let ([only], true) = (left.as_slice(), lone_rule) {
            if only.version.is_marker() && only.is_latest {
                let (b, k, v) = (
                    bucket.to_string(),
                    key.clone(),
                    only.version.version_id().to_string(),
                );
                let removed = self
                    .index
                    .write(move |tx| {
                        let (b, k, v) = (b.clone(), k.clone(), v.clone());
                        Box::pin(async move { remove_lone_marker(tx, &b, &k, &v, now).await })
                    })
                    .await?;
                report.markers_removed += u64::from(removed);
            }
        }
        Ok(())
    }

    /// Aborts the bucket's multipart uploads older than a rule allows.
    async fn abort_old_uploads(
        &self,
        bucket: &str,
        rules: &[&Rule],
        now: i64,
        report: &mut LifecycleReport,
    ) -> Result<(), StorageError> {
        if rules.iter().all(|r| r.abort_incomplete_days.is_none()) {
            return Ok(());
        }
        let b = bucket.to_string();
        let uploads = self
            .index
            .read(move |tx| {
                let b = b.clone();
                Box::pin(async move { tx.uploads_in(&b).await })
            })
            .await?;
        for u in uploads {
            let due = rules.iter().any(|r| {
                r.abort_incomplete_days
                    .is_some_and(|d| now >= after_days(u.created_at, d))
                    && u.key.starts_with(&r.filter.prefix)
            });
            // A file of the upload API in progress is a field client's,
            // never an abandoned S3 upload.
            let api = u
                .upload_id
                .starts_with(crate::storage::file_parts::FILE_UPLOAD_PREFIX);
            if due && !api && self.abort_multipart(&u.upload_id, bucket, &u.key).await? {
                report.uploads_aborted += 1;
            }
        }
        Ok(())
    }
}
