//! Tests of the storage service's rules, written against any index: each
//! check takes a [`Storage`] over some `Arc<dyn Index>`, so the same suite
//! runs on every backend (the contract of issue 14: state transitions,
//! refcounts, conditional writes racing, cursors). `on_sqlite` runs it on
//! a SQLite index, `on_postgres` on a PostgreSQL database of its own (on
//! the server `scripts/test` starts); [`on_each_backend!`] makes a test of
//! a check on each.

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
mod references;
mod transitions;
mod versions;

/// The upload bucket of every test storage.
pub const UPLOADS: &str = "uploads";

/// A storage service over `index`, with a local blob store in `dir` and a
/// clock the test moves.
pub fn storage_over(index: Arc<dyn Index>, dir: &std::path::Path) -> (Storage, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::default());
    let store = LocalStore::open(dir, false).expect("a blob store in a temp dir");
    let storage = Storage::new(index, Arc::new(store), clock.clone(), settings());
    (storage, clock)
}

/// A storage service over a fresh SQLite index in a temp dir.
pub fn on_sqlite() -> (tempfile::TempDir, Storage, Arc<ShiftedClock>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SqliteIndex::open_with(dir.path(), false).expect("a SQLite index");
    let (storage, clock) = storage_over(Arc::new(index), dir.path());
    (dir, storage, clock)
}

/// A storage service over a fresh PostgreSQL database, with a local blob
/// store in a temp dir (both go with the guard); `None` when PostgreSQL
/// tests are switched off (see `crate::index::postgres_testing`).
pub fn on_postgres() -> Option<(PostgresGuard, Storage, Arc<ShiftedClock>)> {
    let (db, index) = crate::index::postgres_testing::dyn_index()?;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (storage, clock) = storage_over(index, dir.path());
    Some(((dir, db), storage, clock))
}

/// A storage service over a fresh PostgreSQL database and an S3 store on
/// the test Garage cluster (under a prefix of its own) — the store of
/// several gateways; `None` when either's tests are switched off.
pub fn on_upstream() -> Option<(
    crate::index::postgres_testing::TestDb,
    Storage,
    Arc<ShiftedClock>,
)> {
    let store = crate::store::s3_testing::test_store()?;
    let (db, index) = crate::index::postgres_testing::dyn_index()?;
    let clock = Arc::new(ShiftedClock::default());
    let storage = Storage::new(index, Arc::new(store), clock.clone(), settings());
    Some((db, storage, clock))
}

/// Deletes a blob's bytes from the store behind the index's back (a disk
/// or cluster that lost them).
pub async fn lose_bytes(s: &Storage, digest: crate::store::Digest) {
    let name = s
        .locate(&digest)
        .await
        .unwrap()
        .expect("bytes in the store");
    s.store.remove(&name).await.unwrap();
}

/// Publishes `data` in the store as the bytes of `digest` behind the
/// storage service's back (what a test needs the store to hold: a file of
/// the wrong size, bytes an old row names), recording the id it got in a
/// store of ids, as the commit protocol would.
pub async fn plant_bytes(s: &Storage, digest: crate::store::Digest, data: &[u8]) {
    let mut staged = s.store.stage().await.unwrap();
    staged.write(data).await.unwrap();
    if let crate::store::BlobName::Id(id) = staged.commit(&digest).await.unwrap() {
        let info = crate::index::BlobInfo {
            sha256: digest,
            size: data.len() as u64,
            md5: None,
        };
        s.index
            .write(move |tx| {
                let id = id.clone();
                Box::pin(async move {
                    tx.record_blob(&info, None, 0, false).await?;
                    tx.set_blob_location(&info.sha256, &id, 0).await
                })
            })
            .await
            .unwrap();
    }
}

/// The settings of every test storage.
fn settings() -> Settings {
    Settings {
        upload_bucket: UPLOADS.into(),
        reserve_bytes: 0,
        abandoned_multipart_secs: 86_400,
        garbage_grace_secs: 3600,
    }
}

/// The clock a test storage's check is given.
pub type TestClock = Arc<ShiftedClock>;

/// What a PostgreSQL test storage lives on: its blob store's dir and its
/// database (dropped with its connections).
pub type PostgresGuard = (tempfile::TempDir, crate::index::postgres_testing::TestDb);

/// Makes each check — `async fn check(s: Storage, clock:
/// Arc<ShiftedClock>)` in the invoking module — a test on SQLite
/// (`sqlite::check`), one on PostgreSQL (`postgres::check`), both with
/// blobs on local disk, and one on PostgreSQL with blobs in the S3 store
/// (`upstream::check`).
macro_rules! on_each_backend {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let (_dir, s, clock) = $crate::storage::tests::on_sqlite();
                    super::$check(s, clock).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some((_guard, s, clock)) = $crate::storage::tests::on_postgres() else {
                        return;
                    };
                    super::$check(s, clock).await;
                }
            )*
        }
        mod upstream {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some((_guard, s, clock)) = $crate::storage::tests::on_upstream() else {
                        return;
                    };
                    super::$check(s, clock).await;
                }
            )*
        }
    };
}
pub(crate) use on_each_backend;

crate::storage::tests::on_each_backend!(a_released_blob_goes_only_when_nothing_refers_to_it);

async fn a_released_blob_goes_only_when_nothing_refers_to_it(s: Storage, _: Arc<ShiftedClock>) {
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
