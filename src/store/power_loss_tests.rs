//! The power-loss test: real uploads through [`LocalStore`] on a real
//! directory, their filesystem operations logged as performed, and every
//! prefix of that log replayed as a crash through a filesystem model that
//! forgets whatever no fsync made durable (see [`super::fslog::model`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use super::fslog::model::violations;
use super::fslog::{FsLog, FsOp};
use super::{BlobStore, Digest, LocalStore};

#[derive(Default)]
struct Recorder(Mutex<Vec<FsOp>>);

impl FsLog for Recorder {
    fn record(&self, op: FsOp) {
        self.0.lock().unwrap().push(op);
    }
}

/// Runs a mix of uploads, an aborted one, a duplicate (which replaces the
/// blob file of the same bytes) and a delete through a store on `dir`;
/// returns the log and each blob path's size.
async fn run_uploads(dir: &Path, durable: bool) -> (Vec<FsOp>, HashMap<PathBuf, u64>) {
    let rec = Arc::new(Recorder::default());
    let store = LocalStore::attach(dir, durable)
        .unwrap()
        .with_log(rec.clone());
    let mut sizes = HashMap::new();
    let mut stored = Vec::new();
    let bodies: Vec<Vec<u8>> = [0usize, 1, 70_000, 300_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (j * 31 + i * 7) as u8).collect())
        .collect();
    for body in bodies.iter().chain(std::iter::once(&bodies[2])) {
        let mut staged = store.stage().await.unwrap();
        for piece in body.chunks(64 << 10) {
            staged.write(piece).await.unwrap();
        }
        let digest = Digest(Sha256::digest(body).into());
        staged.commit(&digest).await.unwrap();
        // The caller commits the blob's row only after `commit` returned.
        let path = store.blob_path(&digest);
        rec.record(FsOp::Mark(format!("commit {}", path.display())));
        sizes.insert(path, body.len() as u64);
        stored.push(digest);
    }
    // An upload that fails halfway: its temp file goes.
    {
        let mut staged = store.stage().await.unwrap();
        staged.write(&[9u8; 100_000]).await.unwrap();
    }
    // A blob released: its row is deleted first, then the file.
    let gone = stored[3];
    rec.record(FsOp::Mark(format!(
        "release {}",
        store.blob_path(&gone).display()
    )));
    store.remove(&super::BlobName::Content(gone)).await.unwrap();
    let log = rec.0.lock().unwrap().clone();
    (log, sizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_crash_point_leaves_a_partial_blob_or_a_committed_row_without_its_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (log, sizes) = run_uploads(dir.path(), true).await;
    let blobs = dir.path().join("blobs");
    let count = |f: fn(&FsOp) -> bool| log.iter().filter(|op| f(op)).count();
    // The log is of the real operations: every step of each commit is in it.
    assert_eq!(count(|op| matches!(op, FsOp::Create(_))), 7);
    assert_eq!(count(|op| matches!(op, FsOp::SyncData(_))), 6);
    // The duplicate is renamed over the first copy (heals a damaged one).
    assert_eq!(count(|op| matches!(op, FsOp::Rename { .. })), 6);
    assert!(count(|op| matches!(op, FsOp::SyncDir(_))) >= 6);
    // The aborted upload's temp file, and the released blob.
    assert_eq!(count(|op| matches!(op, FsOp::Remove(_))), 2);

    let found = violations(&log, dir.path(), &blobs, &sizes);
    assert!(
        found.is_empty(),
        "{} crash points:\n{found:#?}",
        log.len() + 1
    );

    // The checker is not blind: the same log without the directory syncs,
    // or without the data syncs, has crash points that lose data.
    let without = |drop: fn(&FsOp) -> bool| -> Vec<FsOp> {
        log.iter().filter(|op| !drop(op)).cloned().collect()
    };
    let no_dir_sync = without(|op| matches!(op, FsOp::SyncDir(_)));
    assert!(!violations(&no_dir_sync, dir.path(), &blobs, &sizes).is_empty());
    let no_data_sync = without(|op| matches!(op, FsOp::SyncData(_)));
    let v = violations(&no_data_sync, dir.path(), &blobs, &sizes);
    assert!(v.iter().any(|m| m.contains("survives with")), "{v:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fsync_a_crash_can_lose_acknowledged_blobs() {
    // `[storage] fsync = false` is documented as unsafe on power loss; the
    // model agrees.
    let dir = tempfile::tempdir().unwrap();
    let (log, sizes) = run_uploads(dir.path(), false).await;
    let found = violations(&log, dir.path(), &dir.path().join("blobs"), &sizes);
    assert!(!found.is_empty());
}
