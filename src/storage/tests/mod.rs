//! Tests of the storage service's rules, written against any index: each
//! check takes a [`Storage`] over some `Arc<dyn Index>`, so the same suite
//! runs on every backend (the contract of issue 14: state transitions,
//! refcounts, conditional writes racing, cursors). `on_sqlite` runs it on
//! a SQLite index; a PostgreSQL runner gives it a database of its own.

mod buckets;
mod objects;
pub(crate) mod retired;

mod files;
mod multipart;
use std::sync::Arc;

use crate::clock::ShiftedClock;
use crate::index::{Index, SqliteIndex};
use crate::store::LocalStore;

use super::{Settings, Storage};

mod keys;
mod maintenance;

/// The upload bucket of every test storage.
pub const UPLOADS: &str = "uploads";

/// A storage service over `index`, with a local blob store in `dir` and a
/// clock the test moves.
pub fn storage_over(index: Arc<dyn Index>, dir: &std::path::Path) -> (Storage, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::default());
    let store = LocalStore::open(dir, false).expect("a blob store in a temp dir");
    let storage = Storage::new(
        index,
        Arc::new(store),
        clock.clone(),
        Settings {
            upload_bucket: UPLOADS.into(),
            reserve_bytes: 0,
            abandoned_multipart_secs: 86_400,
        },
    );
    (storage, clock)
}

/// A storage service over a fresh SQLite index in a temp dir.
pub fn on_sqlite() -> (tempfile::TempDir, Storage, Arc<ShiftedClock>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SqliteIndex::open_with(dir.path(), false).expect("a SQLite index");
    let (storage, clock) = storage_over(Arc::new(index), dir.path());
    (dir, storage, clock)
}

#[tokio::test]
async fn a_released_blob_goes_only_when_nothing_refers_to_it() {
    let (_dir, s, _) = on_sqlite();
    let blob = crate::index::BlobInfo {
        sha256: crate::store::Digest([9; 32]),
        size: 3,
        md5: Some([1; 16]),
    };
    let now = s.now();
    s.index
        .write(move |tx| {
            Box::pin(async move { tx.record_blob(&blob, Some(b"abc"), now, true).await })
        })
        .await
        .unwrap();
    // Nothing refers to it: released, row and bytes.
    assert!(s.release(blob.sha256).await.unwrap());
    let d = blob.sha256;
    let row = s
        .index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap();
    assert!(row.is_none());
}
