//! The rules of versioning, decided inside index transactions: what a
//! write makes of the object it replaces, what a delete leaves (the
//! object gone, a delete marker, or one version removed), which version
//! becomes current when the current one is removed, and a bucket's
//! versioning state.
//!
//! A key's current object is its `objects` row; the rest of its versions
//! are its history (see `crate::index::versions`). By the bucket's state:
//!
//! - unversioned: a write replaces the object, a delete removes it;
//! - enabled: a write gets a fresh version id and the object it replaces
//!   goes to the history; a delete writes a delete marker on top;
//! - suspended: a write or delete takes the version id `null`, replacing
//!   the key's `null` version wherever it is; others go to the history.
//!
//! Must never: keep a blob no version names (every version taken out is
//! returned for release), or let a key have two current states (an
//! object row and a newer marker).

use super::{Storage, StorageError};
use crate::index::{
    DeleteMarker, ListedVersion, ObjectMeta, ObjectRecord, Tx, TxResult, Version, VersionPlace,
    Versioning, NULL_VERSION,
};
use crate::random;
use crate::store::Digest;

/// A new version id: 32 lowercase hex digits, never `null`.
pub fn new_version_id() -> String {
    random::hex(16)
}

/// Whether `s` is a version id this gateway gives out: `null`, or 32
/// lowercase hex digits. Anything else names no version (S3 answers 400
/// InvalidArgument for it, not 404).
pub fn is_version_id(s: &str) -> bool {
    s == NULL_VERSION
        || (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// What a write did to its key's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The new object's version id, where the bucket's versioning was ever
    /// configured (`None`: an unversioned bucket, which names none).
    pub version_id: Option<String>,
    /// Blobs no version of the key names any more.
    pub released: Vec<Digest>,
}

/// Makes `obj` the current object of its key as its bucket's versioning
/// says, setting its version id; says what became of the object it
/// replaced. The caller has checked the bucket and the write's condition.
pub(crate) async fn make_current(
    tx: &mut dyn Tx,
    obj: &mut ObjectRecord,
    versioning: Versioning,
) -> TxResult<Placed> {
    let mut released = Vec::new();
    match versioning {
        Versioning::Unversioned => {
            obj.version_id = NULL_VERSION.into();
            released.extend(tx.put_object(obj).await?);
            return Ok(Placed {
                version_id: None,
                released,
            });
        }
        Versioning::Enabled => {
            obj.version_id = new_version_id();
            if let Some(current) = tx.get_object(&obj.bucket, &obj.key).await? {
                tx.push_past(&Version::Object(Box::new(current))).await?;
            }
        }
        Versioning::Suspended => {
            obj.version_id = NULL_VERSION.into();
            released.extend(retire_current(tx, &obj.bucket, &obj.key).await?);
            released.extend(remove_null_past(tx, &obj.bucket, &obj.key).await?);
        }
    }
    tx.put_object(obj).await?;
    Ok(Placed {
        version_id: Some(obj.version_id.clone()),
        released,
    })
}

/// Takes the current object of `bucket/key` (if any) out of `objects`:
/// into the history, unless it is the `null` version, which a suspended
/// bucket's write or delete replaces (its blob is returned, let go).
async fn retire_current(tx: &mut dyn Tx, bucket: &str, key: &str) -> TxResult<Option<Digest>> {
    let Some(current) = tx.delete_object(bucket, key).await? else {
        return Ok(None);
    };
    if current.version_id == NULL_VERSION {
        return Ok(Some(current.sha256));
    }
    tx.push_past(&Version::Object(Box::new(current))).await?;
    Ok(None)
}

/// Removes the `null` version from the history of `bucket/key`; the blob
/// it named, if it was an object.
async fn remove_null_past(tx: &mut dyn Tx, bucket: &str, key: &str) -> TxResult<Option<Digest>> {
    Ok(tx
        .remove_past(bucket, key, NULL_VERSION)
        .await?
        .and_then(|p| p.version.blob()))
}

/// The answer to deleting a key (no version named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDeleted {
    /// An unversioned bucket's object, removed for good.
    Removed(Box<ObjectRecord>),
    /// The key had no object in an unversioned bucket.
    Absent,
    /// A delete marker with this version id is now the key's current
    /// state; `released`: blobs of a `null` version it replaced.
    Marked {
        version_id: String,
        released: Vec<Digest>,
    },
}

/// Deletes `bucket/key` as its bucket's versioning says, at `now`.
pub(crate) async fn delete_key(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    versioning: Versioning,
    now: i64,
) -> TxResult<KeyDeleted> {
    let version_id = match versioning {
        Versioning::Unversioned => {
            return Ok(match tx.delete_object(bucket, key).await? {
                Some(old) => KeyDeleted::Removed(Box::new(old)),
                None => KeyDeleted::Absent,
            })
        }
        Versioning::Enabled => new_version_id(),
        Versioning::Suspended => NULL_VERSION.to_string(),
    };
    let mut released = Vec::new();
    released.extend(retire_current(tx, bucket, key).await?);
    if versioning == Versioning::Suspended {
        released.extend(remove_null_past(tx, bucket, key).await?);
    }
    // S3 writes a marker whether or not the key had an object: a delete
    // of a missing key in a versioned bucket still leaves one.
    tx.push_past(&Version::Marker(DeleteMarker {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version_id.clone(),
        last_modified: now,
    }))
    .await?;
    Ok(KeyDeleted::Marked {
        version_id,
        released,
    })
}

/// What removing one version came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed(Version),
    /// Object Lock holds it: nothing was removed.
    Held(super::object_lock::Hold),
    Absent,
}

/// Removes the version `version_id` of `bucket/key` for good, wherever it
/// is — unless Object Lock holds it at `now` (`bypass`: governance
/// retention may be bypassed). If the key is left with no current object
/// and the newest of its history is an object, that object becomes current
/// (as in S3, deleting the current version or the marker over it brings
/// the one below back).
pub(crate) async fn remove_version(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: &str,
    now: i64,
    bypass: bool,
) -> TxResult<Removal> {
    let Some(found) = find_version(tx, bucket, key, version_id).await? else {
        return Ok(Removal::Absent);
    };
    if let Version::Object(o) = &found {
        if let Some(hold) = super::object_lock::removal_refused(&o.meta, now, bypass) {
            return Ok(Removal::Held(hold));
        }
    }
    let current = tx.get_object(bucket, key).await?;
    if current.is_some_and(|c| c.version_id == version_id) {
        tx.delete_object(bucket, key).await?;
    } else {
        tx.remove_past(bucket, key, version_id).await?;
    }
    settle(tx, bucket, key).await?;
    Ok(Removal::Removed(found))
}

/// A key with no current object whose newest version is an object gets it
/// back as its current object.
async fn settle(tx: &mut dyn Tx, bucket: &str, key: &str) -> TxResult<()> {
    if tx.get_object(bucket, key).await?.is_some() {
        return Ok(());
    }
    let Some(newest) = tx.newest_past(bucket, key).await? else {
        return Ok(());
    };
    if let Version::Object(obj) = newest.version {
        tx.remove_past(bucket, key, &obj.version_id).await?;
        tx.put_object(&obj).await?;
    }
    Ok(())
}

/// The version `version_id` of `bucket/key`: its current object or one of
/// its history.
pub(crate) async fn find_version(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> TxResult<Option<Version>> {
    if let Some(current) = tx.get_object(bucket, key).await? {
        if current.version_id == version_id {
            return Ok(Some(Version::Object(Box::new(current))));
        }
    }
    Ok(tx
        .past_version(bucket, key, version_id)
        .await?
        .map(|p| p.version))
}

/// Whether the version `obj` names (bucket, key, version id) is still
/// there with `obj`'s blob: a copy's check that its source did not change
/// or go between being read and being referred to.
pub(crate) async fn still_names(tx: &mut dyn Tx, obj: &ObjectRecord) -> TxResult<bool> {
    Ok(find_version(tx, &obj.bucket, &obj.key, &obj.version_id)
        .await?
        .and_then(|v| v.blob())
        == Some(obj.sha256))
}

/// The version a request names: `version_id`, or what the key is now (its
/// current object, or the delete marker hiding it).
pub(crate) async fn named(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> TxResult<Option<Version>> {
    match version_id {
        Some(v) => find_version(tx, bucket, key, v).await,
        None => Ok(match tx.get_object(bucket, key).await? {
            Some(o) => Some(Version::Object(Box::new(o))),
            None => tx
                .newest_past(bucket, key)
                .await?
                .map(|p| p.version)
                .filter(Version::is_marker),
        }),
    }
}

/// Rewrites the metadata of `obj`, a version of its key, where it is.
pub(crate) async fn rewrite(tx: &mut dyn Tx, obj: &ObjectRecord) -> TxResult<()> {
    let current = tx.get_object(&obj.bucket, &obj.key).await?;
    if current.is_some_and(|c| c.version_id == obj.version_id) {
        tx.put_object(obj).await?;
    } else {
        tx.update_past(obj).await?;
    }
    Ok(())
}

/// What rewriting the metadata of a named version found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// Done, on the object version with this id.
    Done(String),
    /// The version named (or the key's current state) is a delete marker.
    Marker,
    /// No such key, or no such version.
    Absent,
}

/// What a key is now, for a read that names no version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    Object(Box<ObjectRecord>),
    /// A delete marker hides the key (S3's 404 carries its version id).
    Marker(DeleteMarker),
    Absent,
}

/// What a read naming no version finds (see
/// [`Storage::get_latest_inline`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRead {
    pub latest: Latest,
    /// The object's bytes, if they are kept inline.
    pub data: Option<Vec<u8>>,
    /// Its bucket's versioning was ever set.
    pub versioned: bool,
    /// Its bucket's lifecycle configuration text, if any.
    pub lifecycle: Option<String>,
}

/// The answer to setting a bucket's versioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetVersioningOutcome {
    Set,
    NoSuchBucket,
    /// The upload API's bucket keeps one object per file (see
    /// [`Storage::set_versioning`]).
    UploadBucket,
    /// Object Lock is enabled: versioning stays enabled (S3's 409).
    LockEnabled,
}

impl Storage {
    /// Sets a bucket's versioning to `Enabled` or `Suspended`. Never back
    /// to unversioned: S3 has no way to, and objects with version ids
    /// would lose them. The upload API's bucket is refused: its files are
    /// written once and their objects made again from their blobs, a
    /// model with no room for versions.
    pub async fn set_versioning(
        &self,
        bucket: &str,
        state: Versioning,
    ) -> Result<SetVersioningOutcome, StorageError> {
        if bucket == self.settings.upload_bucket {
            return Ok(SetVersioningOutcome::UploadBucket);
        }
        let b = bucket.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let b = b.clone();
                Box::pin(async move {
                    let Some(row) = tx.get_bucket(&b).await? else {
                        return Ok(SetVersioningOutcome::NoSuchBucket);
                    };
                    if row.object_lock.is_some() && state != Versioning::Enabled {
                        return Ok(SetVersioningOutcome::LockEnabled);
                    }
                    tx.set_bucket_versioning(&b, state).await?;
                    Ok(SetVersioningOutcome::Set)
                })
            })
            .await?)
    }

    /// A bucket's versioning state; `None` if there is no such bucket.
    pub async fn versioning(&self, bucket: &str) -> Result<Option<Versioning>, StorageError> {
        self.bucket_setting(bucket, |row| Ok(row.versioning)).await
    }

    /// The version `version_id` of `bucket/key` and, if it is an object
    /// whose blob is kept inline, its bytes (the GET path's one read).
    pub async fn get_version_inline(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(Version, Option<Vec<u8>>)>, StorageError> {
        let (b, k, v) = (bucket.to_string(), key.to_string(), version_id.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(async move {
                    let Some(found) = find_version(tx, &b, &k, &v).await? else {
                        return Ok(None);
                    };
                    let data = match found.blob() {
                        Some(d) => tx.blob_data(&d).await?,
                        None => None,
                    };
                    Ok(Some((found, data)))
                })
            })
            .await?)
    }

    /// What `bucket/key` is now: its object (with inline bytes, as
    /// [`Self::get_object_inline`]), the delete marker hiding it, or
    /// nothing; whether its bucket's versioning was ever set (S3 then
    /// names even the `null` version); and the bucket's lifecycle text (a
    /// read answers with the object's expiry) — read in one transaction.
    pub async fn get_latest_inline(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<LatestRead, StorageError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k) = (b.clone(), k.clone());
                Box::pin(async move {
                    let Some(obj) = tx.get_object(&b, &k).await? else {
                        let latest = match tx.newest_past(&b, &k).await?.map(|p| p.version) {
                            Some(Version::Marker(m)) => Latest::Marker(m),
                            // Never left so (see `settle`); read as absent.
                            Some(Version::Object(_)) | None => Latest::Absent,
                        };
                        return Ok(LatestRead {
                            latest,
                            data: None,
                            versioned: true,
                            lifecycle: None,
                        });
                    };
                    let data = tx.blob_data(&obj.sha256).await?;
                    let row = tx.get_bucket(&b).await?;
                    let versioned = obj.version_id != NULL_VERSION
                        || row
                            .as_ref()
                            .is_some_and(|b| b.versioning != Versioning::Unversioned);
                    Ok(LatestRead {
                        latest: Latest::Object(Box::new(obj)),
                        data,
                        versioned,
                        lifecycle: row.and_then(|b| b.lifecycle),
                    })
                })
            })
            .await?)
    }

    /// [`still_names`], in a read of its own.
    pub async fn still_names(&self, obj: &ObjectRecord) -> Result<bool, StorageError> {
        let o = obj.clone();
        Ok(self
            .index
            .read(move |tx| {
                let o = o.clone();
                Box::pin(async move { still_names(tx, &o).await })
            })
            .await?)
    }

    /// Rewrites with `change` the metadata of the object version a request
    /// names (`version_id`, or the key's current object) where it is, in
    /// one transaction: its bytes, ETag, times and blob reference stay.
    /// Tags and ACLs are changed this way.
    pub(crate) async fn rewrite_meta<F>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: F,
    ) -> Result<Rewritten, StorageError>
    where
        F: Fn(&mut ObjectMeta) + Clone + Send + Sync + 'static,
    {
        let (b, k, v) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        Ok(self
            .index
            .write(move |tx| {
                let (b, k, v, change) = (b.clone(), k.clone(), v.clone(), change.clone());
                Box::pin(async move {
                    let mut obj = match named(tx, &b, &k, v.as_deref()).await? {
                        None => return Ok(Rewritten::Absent),
                        Some(Version::Marker(_)) => return Ok(Rewritten::Marker),
                        Some(Version::Object(o)) => *o,
                    };
                    change(&mut obj.meta);
                    rewrite(tx, &obj).await?;
                    Ok(Rewritten::Done(obj.version_id))
                })
            })
            .await?)
    }

    /// The version `version` of `bucket/key`, or what the key is now (its
    /// current object, or the delete marker hiding it); `None` if there is
    /// no such version, or the key has neither.
    pub async fn find(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<Version>, StorageError> {
        let (b, k, v) = (
            bucket.to_string(),
            key.to_string(),
            version.map(str::to_string),
        );
        Ok(self
            .index
            .read(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(async move {
                    if let Some(v) = v {
                        return find_version(tx, &b, &k, &v).await;
                    }
                    if let Some(obj) = tx.get_object(&b, &k).await? {
                        return Ok(Some(Version::Object(Box::new(obj))));
                    }
                    Ok(tx
                        .newest_past(&b, &k)
                        .await?
                        .map(|p| p.version)
                        .filter(Version::is_marker))
                })
            })
            .await?)
    }

    /// Versions of `bucket` under `prefix` after `after`, at most `limit`
    /// (see [`crate::index::tx::VersionRows::list_versions`]).
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: VersionPlace,
        limit: usize,
    ) -> Result<Vec<ListedVersion>, StorageError> {
        let (b, p) = (bucket.to_string(), prefix.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, p, a) = (b.clone(), p.clone(), after.clone());
                Box::pin(async move { tx.list_versions(&b, &p, &a, limit).await })
            })
            .await?)
    }

    /// The place of the version `version_id` of `bucket/key` in a listing
    /// of versions (a `version-id-marker`); `None` if there is no such
    /// version.
    pub async fn version_place(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<VersionPlace>, StorageError> {
        let (b, k, v) = (bucket.to_string(), key.to_string(), version_id.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(async move {
                    if let Some(current) = tx.get_object(&b, &k).await? {
                        if current.version_id == v {
                            return Ok(Some(VersionPlace {
                                key: k,
                                rank: VersionPlace::CURRENT,
                            }));
                        }
                    }
                    Ok(tx.past_version(&b, &k, &v).await?.map(|p| VersionPlace {
                        key: k,
                        rank: p.seq,
                    }))
                })
            })
            .await?)
    }
}
