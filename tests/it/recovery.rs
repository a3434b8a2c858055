//! Restarts: what a crash between publishing a blob and committing its row
//! leaves behind is repaired by the start-up pass, and stored files survive.
//!
//! These plant and damage files of the local store (blobs named by their
//! content), so they run on one gateway in every pass; a cluster's store
//! names blobs by write-once ids instead, and its crash window (a gateway
//! killed mid-upload) is `cluster::faults`'.

use sha2::{Digest as _, Sha256};

use crate::harness::*;

/// Puts `bytes` where the store keeps a blob, as a publish that never got
/// its row committed would.
fn plant_blob(s: &TestServer, bytes: &[u8]) -> std::path::PathBuf {
    let hex = hex::encode(Sha256::digest(bytes));
    let dir = s.data_dir.join("blobs").join(&hex[0..2]).join(&hex[2..4]);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(&hex);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn restart_keeps_stored_files_and_repairs_crash_leftovers() {
    let s = TestServer::start_single_with("");
    let kept = TestFile::new(4000);
    assert_eq!(
        put(&s.presign_url(&kept), "image/png", &kept.bytes).status,
        200
    );
    // A pending upload whose bytes were published but whose row was not
    // marked: the crash window between rename and commit.
    let interrupted = TestFile::new(3000);
    s.presign_url(&interrupted);
    plant_blob(&s, &interrupted.bytes);
    // A blob nobody declared at all.
    let orphan = plant_blob(&s, b"no row refers to these bytes");
    // A temp file from the crashed upload.
    std::fs::write(s.data_dir.join("tmp").join("crashed.part"), b"partial").unwrap();

    let s = s.restart();
    assert!(!orphan.exists(), "orphan blob kept");
    assert!(s.temps().is_empty(), "temp files kept: {:?}", s.temps());
    assert_eq!(s.status_of(&interrupted.id), "uploaded");
    assert_eq!(s.status_of(&kept.id), "uploaded");
    assert_eq!(s.blobs().len(), 2);
    // Both complete and download intact.
    for f in [&kept, &interrupted] {
        let c = s.complete(&f.id);
        assert_eq!(c.status, 200, "{}", c.body);
        let url = c.json()["data"]["downloadURL"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(get(&url).2, f.bytes);
    }
}

#[test]
fn restart_marks_and_reports_recent_blobs_whose_files_are_lost_or_cut() {
    let s = TestServer::start_single_with("");
    let lost = TestFile::new(200_000);
    let cut = TestFile::new(300_000);
    let fine = TestFile::new(100_000);
    for f in [&lost, &cut, &fine] {
        assert_eq!(put(&s.presign_url(f), "image/png", &f.bytes).status, 200);
    }
    let path_of = |f: &TestFile| s.blob_path(&hex::encode(f.sha256()));
    // What a disk that lied about a flush could leave after a power cut.
    std::fs::remove_file(path_of(&lost)).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path_of(&cut))
        .unwrap();
    f.set_len(1000).unwrap();
    drop(f);

    let s = s.restart();
    let damaged = |f: &TestFile| -> Option<String> {
        s.index().value(&format!(
            "SELECT damaged FROM blobs WHERE sha256 = '{}'",
            hex::encode(f.sha256())
        ))
    };
    assert!(damaged(&lost).unwrap().contains("missing"));
    assert!(damaged(&cut).unwrap().contains("1000 bytes, not 300000"));
    assert_eq!(damaged(&fine), None);
    // Nothing is deleted by it: the rows stay, for the operator to restore.
    assert_eq!(s.status_of(&lost.id), "uploaded");
    assert_eq!(s.status_of(&fine.id), "uploaded");
}
