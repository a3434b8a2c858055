//! `stowage verify` and `stowage backup`, run as the real binary against a
//! data dir a live server is using: verify finds damage done by hand (a
//! flipped byte, an altered row, a deleted or planted file), and a backup
//! taken during uploads restores and verifies whole.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::harness::{get, put, Resp, TestFile, TestServer, BIN};

/// Runs `stowage ARGS…` to completion: (exit code, stdout, stderr).
fn stowage(args: &[&str], dir: &Path) -> (i32, String, String) {
    stowage_with(args, dir, Vec::new())
}

/// [`stowage`] on the data dir of `s`, with its index and blob store
/// (named in the environment: a PostgreSQL database under
/// STOWAGE_TEST_INDEX=postgres, the test bucket in a cluster run).
fn stowage_on(s: &TestServer, args: &[&str]) -> (i32, String, String) {
    let mut env: Vec<(String, String)> = s
        .index()
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(s.store_env());
    stowage_with(args, &s.data_dir, env)
}

fn stowage_with(args: &[&str], dir: &Path, env: Vec<(String, String)>) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env)
        .arg("--data-dir")
        .arg(dir)
        // No config file here: defaults, and the data dir given.
        .current_dir(dir.parent().unwrap())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn blob_file(s: &TestServer, f: &TestFile) -> std::path::PathBuf {
    s.blob_path(&hex::encode(f.sha256()))
}

#[test]
fn verify_passes_a_healthy_data_dir_beside_a_live_server() {
    let s = TestServer::start();
    for f in [
        TestFile::new(300_000),
        TestFile::new(1_000),
        TestFile::new(0),
    ] {
        s.store_completed(&f);
    }
    let (code, out, err) = stowage_on(&s, &["verify"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "checked 3 blobs (301000 bytes): 0 missing, 0 corrupt, 0 orphaned, 0 dangling"
        ),
        "{out}"
    );
}

#[test]
fn verify_reports_a_flipped_byte_an_altered_row_a_lost_file_and_an_orphan() {
    // Damage done to files of the local store, on one gateway in every pass.
    let s = TestServer::start_single_with("");
    let flipped = TestFile::new(200_000);
    let lost = TestFile::new(150_000);
    let small = TestFile::new(2_000);
    let dangling = TestFile::new(3_000);
    for f in [&flipped, &lost, &small, &dangling] {
        s.store_completed(f);
    }
    // Bit rot in a blob file.
    let path = blob_file(&s, &flipped);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[123_456] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    // A blob file gone.
    std::fs::remove_file(blob_file(&s, &lost)).unwrap();
    // A file nobody owns, under a digest-shaped name.
    let stray = TestFile::new(70_000);
    let stray_path = blob_file(&s, &stray);
    std::fs::create_dir_all(stray_path.parent().unwrap()).unwrap();
    std::fs::write(&stray_path, &stray.bytes).unwrap();
    // Rows altered behind the gateway's back: an inline blob's bytes, and a
    // file row pointed at a blob that does not exist.
    {
        let zeros = if crate::index_db::on_postgres() {
            "decode(repeat('00', 2000), 'hex')"
        } else {
            "zeroblob(2000)"
        };
        let n = s.index().execute(
            &format!(
                "UPDATE blob_bytes SET data = {zeros} WHERE id = \
                 (SELECT bytes_id FROM blobs WHERE sha256 = ?1)"
            ),
            &[&hex::encode(small.sha256())],
        );
        assert_eq!(n, 1);
        let n = s.index().execute(
            "UPDATE files SET sha256 = ?1 WHERE id = ?2",
            &[&"ab".repeat(32), &dangling.id],
        );
        assert_eq!(n, 1);
    }
    let (code, out, err) = stowage_on(&s, &["verify"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let line = |kind: &str, sha: &str| {
        out.lines()
            .find(|l| l.starts_with(kind) && l.contains(sha))
            .unwrap_or_else(|| panic!("no {kind} line for {sha}:\n{out}"))
            .to_string()
    };
    assert!(line("CORRUPT", &hex::encode(flipped.sha256())).contains("altered"));
    line("CORRUPT", &hex::encode(small.sha256()));
    line("MISSING", &hex::encode(lost.sha256()));
    line("ORPHAN", &hex::encode(stray.sha256()));
    assert!(line("DANGLING", &"ab".repeat(32)).contains(&dangling.id));
    assert!(
        out.contains("1 missing, 2 corrupt, 1 orphaned, 1 dangling"),
        "{out}"
    );
    // Read-only: the damage is reported, not repaired or removed.
    assert!(stray_path.exists());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[test]
fn a_backup_taken_during_uploads_restores_and_verifies() {
    let s = TestServer::start();
    let mut before = Vec::new();
    for i in 0..12 {
        let f = TestFile::new(if i % 3 == 0 { 400_000 } else { 1_000 + i });
        let url = s.store_completed(&f);
        before.push((f, url));
    }
    // Uploads go on while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (base, token, stop) = (s.base.clone(), s.token.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let f = TestFile::new(if n % 4 == 0 { 300_000 } else { 500 + n });
                let r = Resp::from(
                    ureq::post(&format!("{base}/api/inspect/v1/file/upload/presigned"))
                        .set("Authorization", &format!("Bearer {token}"))
                        .send_string(&f.declaration().to_string()),
                );
                let url = r.json()["data"]["presignedURL"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert_eq!(put(&url, &f.content_type, &f.bytes).status, 200);
                n += 1;
            }
            n
        })
    };
    let dest = s.data_dir.parent().unwrap().join("backup-1");
    // On either backend: the copy's index is a SQLite file (SQLite's
    // online backup, or every row of one snapshot of PostgreSQL).
    let (code, out, err) = stowage_on(&s, &["backup", dest.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    let during = writer.join().unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("backed up"), "{out}");
    assert!(during > 0, "no upload ran during the backup");
    assert!(!dest.with_extension("partial").exists());

    // The copy verifies whole on its own…
    // (Its blobs over 64 KiB are in the test bucket in a cluster run: the
    // index copy names them, and the store is the same.)
    let (code, out, err) = stowage_with(&["verify"], &dest, s.store_env());
    assert_eq!(code, 0, "{out}\n{err}");
    // …and served, it has every file stored before the backup, byte for
    // byte (the token is in the copied index too).
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            dest.display()
        ),
    )
    .unwrap();
    let restored = crate::harness::Served::start_env(&cfg, &s.store_env());
    for (f, _) in &before {
        let meta = Resp::from(
            ureq::get(&format!("{}/api/inspect/v1/file/{}", restored.base, f.id))
                .set("Authorization", &format!("Bearer {}", s.token))
                .call(),
        );
        let url = meta.json()["data"]["downloadURL"]
            .as_str()
            .unwrap()
            .to_string();
        let url = url.as_str();
        let (status, _, body) = get(url);
        assert_eq!(status, 200, "{}", f.id);
        assert!(body == f.bytes, "bytes of {} differ", f.id);
    }
    // A second backup to the same place is refused, nothing overwritten.
    let (code, _, err) = stowage(&["backup", dest.to_str().unwrap()], &dest);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
}
