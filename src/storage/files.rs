//! The rules of the upload API's files, decided inside index transactions:
//! what a declared id's key may hold, and the object through which a file
//! is visible to S3.

use uuid::Uuid;

use crate::index::{BlobInfo, FileRecord, ObjectMeta, ObjectRecord, Tx, TxResult};

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
