//! A file of the upload API as S3 sees it: the object at its id's key in
//! the upload bucket, whether an object there is someone else's, and
//! whether the blob behind it is intact. Shared by the whole-file path
//! (`files.rs`), the part-wise one (`file_parts.rs`) and recovery, so each
//! decides these the same way.
//!
//! Must never: write anything (these are rules; the callers' transactions
//! apply them).

use uuid::Uuid;

use crate::index::{BlobInfo, BlobRow, FileRecord, ObjectMeta, ObjectRecord, Tx, TxResult};

/// Whether an id's key in the upload bucket holds an object the upload API
/// did not write there (an S3 client's), which the API never replaces. A
/// file with bytes owns the object of its own blob at its key; a pending
/// file (or none, `rec` = `None`) owns none yet, so any object there is
/// someone else's.
pub(super) async fn occupied_by_other(
    tx: &mut dyn Tx,
    bucket: &str,
    rec: Option<&FileRecord>,
    id: &Uuid,
) -> TxResult<bool> {
    let Some(obj) = tx.get_object(bucket, &id.to_string()).await? else {
        return Ok(false);
    };
    Ok(match rec {
        Some(r) if r.status.has_bytes() => obj.sha256 != r.sha256,
        _ => true,
    })
}

/// The S3 object through which a file of the upload API is visible.
pub(super) fn file_object(bucket: &str, d: &FileRecord, blob: &BlobInfo, now: i64) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket.to_string(),
        key: d.id.to_string(),
        sha256: blob.sha256,
        size: blob.size,
        etag: blob.md5.map(hex::encode).unwrap_or_default(),
        content_type: d.content_type.clone(),
        meta: ObjectMeta {
            content_disposition: Some(crate::headers::content_disposition(&d.file_name)),
            checksums: vec![(
                "SHA256".into(),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob.sha256.0),
            )],
            ..ObjectMeta::default()
        },
        last_modified: now,
    }
}

/// The blob's facts if it is intact as far as its row and a look at the
/// store (`store_len`, the size of its file there) can tell without
/// reading it: recorded with this size, not marked damaged, and its bytes
/// inline or in a store file of exactly that size. Only such bytes may be
/// answered "already stored".
pub(super) fn intact(row: Option<BlobRow>, size: u64, store_len: Option<u64>) -> Option<BlobInfo> {
    let row = row.filter(|r| r.info.size == size && r.damaged.is_none())?;
    (row.inline || store_len == Some(size)).then_some(row.info)
}
