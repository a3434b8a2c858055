//! Full disks, for real: the data dir is a 48 MiB tmpfs, so the kernel says
//! ENOSPC when it is full. Uploads that would eat into the reserve are
//! refused up front with 507; one whose disk fills while its body streams
//! stops with 507 and leaves nothing; reads and uploads that fit go on; and
//! once space is freed the refused uploads succeed.
//!
//! Mounting needs root (as CI runs). Where that is not possible the test
//! says so and fails, unless `STOWAGE_SKIP_MOUNT_TESTS=1` is set, which
//! skips it with a message.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{curl_put, get, put, TestFile, TestServer};
use crate::limits::start_put;

const RESERVE: u64 = 8 << 20;

/// A tmpfs mounted at `path`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Tmpfs(path.to_path_buf()));
        }
        if std::env::var("STOWAGE_SKIP_MOUNT_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: cannot mount a tmpfs here (STOWAGE_SKIP_MOUNT_TESTS=1)");
            return None;
        }
        panic!(
            "this test mounts a small tmpfs to fill a disk for real and needs root for it; \
             run as root, or set STOWAGE_SKIP_MOUNT_TESTS=1 to skip it"
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free(path: &Path) -> u64 {
    let st = rustix::fs::statvfs(path).unwrap();
    st.f_bavail * st.f_frsize
}

/// Fills the filesystem of `dir` until `leave` bytes are free (about).
fn fill_until(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let block = vec![7u8; 64 << 10];
    while free(dir) > leave + block.len() as u64 {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    f.sync_all().unwrap();
    path
}

#[test]
fn a_full_disk_refuses_with_507_keeps_nothing_and_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(mnt) = Tmpfs::mount(&data, "48m") else {
        return;
    };
    let server = TestServer::start_in_dir(dir, &format!("[storage]\nreserve_bytes = {RESERVE}\n"));

    // Declared larger than the disk can spare: refused before any byte.
    let huge = TestFile::new(45 << 20);
    let r = server.presign(&huge);
    let why = r.assert_json_error(507, "InsufficientStorage");
    assert!(why.contains("nothing was stored"), "{why}");
    assert_eq!(server.file(&huge.id).status, 404);

    // What fits is stored.
    let a = TestFile::new(6 << 20);
    let a_url = server.presign_url(&a);
    assert_eq!(put(&a_url, "image/png", &a.bytes).status, 200);

    // Presigned while there was room, sent when there is not: refused up
    // front, in S3's XML.
    let b = TestFile::new(4 << 20);
    let b_url = server.presign_url(&b);
    let filler = fill_until(&data, RESERVE + (2 << 20));
    // curl, which reads the early answer (it waits for 100-continue): a
    // client that sends the whole body first may see the connection close.
    let (status, body) = curl_put(&b_url, "image/png", &b.bytes);
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("<Code>InsufficientStorage</Code>"), "{body}");
    assert!(body.contains("nothing was stored"), "{body}");
    server.assert_nothing_stored(&b);

    // A smaller upload that fits, and reads, go on while the disk is tight.
    let small = TestFile::new(512 << 10);
    assert_eq!(
        put(&server.presign_url(&small), "image/png", &small.bytes).status,
        200
    );
    let tiny = TestFile::new(1000);
    assert_eq!(
        put(&server.presign_url(&tiny), "image/png", &tiny.bytes).status,
        200
    );
    let c = server.complete(&a.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let (status, _, body) = get(c.json()["data"]["downloadURL"].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(body == a.bytes);

    // The disk fills while a body streams: the upload stops with 507 and
    // its temp file goes.
    std::fs::remove_file(&filler).unwrap();
    let d = TestFile::new(20 << 20);
    let d_url = server.presign_url(&d);
    let mut conn = start_put(&server, &d_url, &d, 2 << 20);
    server.await_receiving(1);
    let filler = fill_until(&data, 1 << 20);
    conn.set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may stop reading (and answer) before all of it is sent.
    let _ = conn.write_all(&d.bytes[2 << 20..]);
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    assert!(
        answer.contains("<Code>InsufficientStorage</Code>"),
        "{answer}"
    );
    server.assert_nothing_stored(&d);

    // Space freed: the refused uploads now succeed.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(put(&b_url, "image/png", &b.bytes).status, 200);
    assert_eq!(put(&d_url, "image/png", &d.bytes).status, 200);
    assert_eq!(server.status_of(&d.id), "uploaded");

    drop(server);
    drop(mnt);
}

/// A full storage cluster, for real: the gateway's S3 store is another
/// Stowage gateway (an S3 server like any other) whose data dir is a
/// 48 MiB tmpfs filled to its reserve, so it answers 507
/// `InsufficientStorage`. The gateway answers 507 too, saying the storage
/// cluster is full and nothing was stored; no object and no upstream
/// upload is left, the file stays pending, and once the cluster has room
/// the same URL stores it. (Garage out of space is not reproduced here:
/// it would take filling three nodes' disks.)
#[test]
fn a_full_storage_cluster_answers_507_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(mnt) = Tmpfs::mount(&data, "48m") else {
        return;
    };
    let cluster = TestServer::start_in_dir(dir, &format!("[storage]\nreserve_bytes = {RESERVE}\n"));
    let creds = &cluster.app.credentials;
    let server = TestServer::start_single_with(&format!(
        "[storage]\nbackend = \"s3\"\ns3_endpoint = \"{}\"\ns3_bucket = \"uploads\"\n\
         s3_region = \"{}\"\ns3_access_key_id = \"{}\"\ns3_secret_access_key = \"{}\"\n\
         s3_prefix = \"site/blobs/\"\n",
        cluster.base, cluster.app.config.s3.region, creds.access_key_id, creds.secret_access_key
    ));
    // What the cluster holds for the gateway: objects under its prefix,
    // and multipart uploads in progress.
    let upstream_state = || {
        (
            cluster.index().rows(
                "SELECT key FROM objects WHERE bucket = 'uploads' AND key LIKE 'site/blobs/%'",
            ),
            cluster
                .index()
                .rows("SELECT key FROM multipart_uploads WHERE bucket = 'uploads'"),
        )
    };

    // Room: a file goes up and reads back.
    let stored = TestFile::new(1 << 20);
    let url = server.store_completed(&stored);
    assert!(get(&url).2 == stored.bytes);
    assert_eq!(upstream_state().0.len(), 1);

    // Full: one PUT (2 MiB) and a multipart upload (20 MiB, parts of
    // 8 MiB) are both refused by the cluster.
    let filler = fill_until(&data, RESERVE + (1 << 20));
    for f in [TestFile::new(2 << 20), TestFile::new(20 << 20)] {
        let f_url = server.presign_url(&f);
        let (status, body) = curl_put(&f_url, "image/png", &f.bytes);
        assert_eq!(status, 507, "{body}");
        assert!(body.contains("<Code>InsufficientStorage</Code>"), "{body}");
        assert!(
            body.contains("storage cluster behind this gateway is full")
                && body.contains("nothing of this request was stored"),
            "{body}"
        );
        server.assert_nothing_stored(&f);
        assert_eq!(upstream_state().0.len(), 1, "{:?}", upstream_state());
        assert!(upstream_state().1.is_empty(), "{:?}", upstream_state());
        assert!(
            server.index().rows("SELECT sha256 FROM blobs").len() <= 2,
            "a blob of the refused upload was recorded"
        );
    }
    // What is stored still reads.
    assert!(get(&url).2 == stored.bytes);

    // Room again: the same kind of upload is stored.
    std::fs::remove_file(&filler).unwrap();
    let later = TestFile::new(20 << 20);
    assert_eq!(
        put(&server.presign_url(&later), "image/png", &later.bytes).status,
        200
    );
    assert_eq!(server.status_of(&later.id), "uploaded");

    drop(server);
    drop(cluster);
    drop(mnt);
}
