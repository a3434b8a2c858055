//! Backup software against versioned and locked buckets, as sites run it:
//! restic (Debian's 0.14, over minio-go) backs up into a bucket created
//! with Object Lock and a default retention, restores byte for byte, and
//! when told to forget and prune, leaves every version it wrote behind its
//! delete markers — no version of it can be removed while it is retained;
//! rclone (Debian's 1.60) keeps a folder in a versioned bucket and reads it
//! back as it was before an overwrite and a delete (`--s3-versions`,
//! `--s3-version-at`). Both are installed by `scripts/test`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::interop::{random_bytes, run_timed, Interop, Output};

const STEP: Duration = Duration::from_secs(300);

fn run(t: &Interop, program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd: Command = t.command(Path::new(program));
    cmd.args(args).envs(env.iter().copied());
    let out = run_timed(&mut cmd, STEP).unwrap_or_else(|e| panic!("{program}: {e}"));
    println!(
        "=== {program} {} ({})\n{}",
        args.join(" "),
        out.status,
        out.stderr
    );
    out
}

fn ok(t: &Interop, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(t, program, args, env);
    assert!(
        out.status.success(),
        "{program} {} failed ({}):\n{}\n--- server log ---\n{}",
        args.join(" "),
        out.status,
        out.text(),
        t.server_log_tail()
    );
    out.stdout
}

/// A folder of files worth backing up: small ones and one of 3 MiB.
fn folder(root: &Path) {
    std::fs::create_dir_all(root.join("site/photos")).unwrap();
    for i in 0..5u8 {
        std::fs::write(
            root.join(format!("site/note-{i}.txt")),
            vec![b'a' + i; 100 + i as usize],
        )
        .unwrap();
    }
    std::fs::write(root.join("site/photos/big.raw"), random_bytes(3 << 20)).unwrap();
}

/// Every file under `root`, relative, with its bytes.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// (versions, delete markers) of a bucket, as the AWS CLI lists them.
fn version_counts(t: &Interop, bucket: &str) -> (usize, usize) {
    let v = t.s3api(&["list-object-versions", "--bucket", bucket]);
    let n = |k: &str| v[k].as_array().map_or(0, Vec::len);
    (n("Versions"), n("DeleteMarkers"))
}

#[test]
fn restic_backs_up_into_a_locked_bucket_and_its_prune_removes_no_version() {
    let t = Interop::start();
    let bucket = "restic-locked";
    t.s3api(&[
        "create-bucket",
        "--bucket",
        bucket,
        "--object-lock-enabled-for-bucket",
    ]);
    t.aws(&[
        "s3api",
        "put-object-lock-configuration",
        "--bucket",
        bucket,
        "--object-lock-configuration",
        "ObjectLockEnabled=Enabled,Rule={DefaultRetention={Mode=COMPLIANCE,Days=1}}",
    ]);
    let work = t.dir.path().join("restic");
    let (src, restored) = (work.join("src"), work.join("restored"));
    folder(&src);
    let repo = format!("s3:{}/{bucket}", t.endpoint);
    let cache = work.join("cache");
    let env = [
        ("RESTIC_REPOSITORY", repo.as_str()),
        ("RESTIC_PASSWORD", "field site 7"),
        ("RESTIC_CACHE_DIR", cache.to_str().unwrap()),
    ];
    ok(&t, "restic", &["init"], &env);
    let out = ok(
        &t,
        "restic",
        &["backup", "--json", src.to_str().unwrap()],
        &env,
    );
    let snapshot = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["snapshot_id"].as_str().map(str::to_string))
        .expect("a snapshot id");
    ok(&t, "restic", &["check", "--read-data"], &env);
    ok(
        &t,
        "restic",
        &["restore", &snapshot, "--target", restored.to_str().unwrap()],
        &env,
    );
    let inner = restored.join(src.strip_prefix("/").unwrap());
    assert!(
        files(&inner) == files(&src),
        "the restore differs from the source"
    );
    let (written, _) = version_counts(&t, bucket);

    // Told to forget everything and prune, restic deletes its files: each
    // delete only puts a marker on top; every version it wrote stays.
    ok(&t, "restic", &["forget", &snapshot, "--prune"], &env);
    let (versions, markers) = version_counts(&t, bucket);
    assert!(markers > 0, "prune deleted nothing");
    assert!(versions >= written, "{versions} versions left of {written}");
    // And none of them can be removed while retained, whoever asks.
    let listed = t.s3api(&["list-object-versions", "--bucket", bucket]);
    let first = &listed["Versions"][0];
    let refused = t.aws_output(&[
        "s3api",
        "delete-object",
        "--bucket",
        bucket,
        "--key",
        first["Key"].as_str().unwrap(),
        "--version-id",
        first["VersionId"].as_str().unwrap(),
        "--bypass-governance-retention",
    ]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("AccessDenied"),
        "{}",
        refused.text()
    );
}

#[test]
fn rclone_reads_a_versioned_folder_back_as_it_was() {
    let t = Interop::start();
    let bucket = "rclone-versions";
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    t.aws(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        bucket,
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let work = t.dir.path().join("rclone");
    let src = work.join("src");
    folder(&src);
    let env = [
        ("RCLONE_CONFIG", "/nonexistent-rclone.conf"),
        ("RCLONE_CONFIG_STW_TYPE", "s3"),
        ("RCLONE_CONFIG_STW_PROVIDER", "Other"),
        ("RCLONE_CONFIG_STW_ENDPOINT", t.endpoint.as_str()),
        ("RCLONE_CONFIG_STW_REGION", "us-east-1"),
        ("RCLONE_CONFIG_STW_ENV_AUTH", "true"),
    ];
    let remote = format!("stw:{bucket}/site");
    ok(
        &t,
        "rclone",
        &["copy", src.join("site").to_str().unwrap(), &remote],
        &env,
    );
    let before = files(&src.join("site"));
    // Moments later, a file is overwritten and another deleted.
    std::thread::sleep(Duration::from_millis(1100));
    let stamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(src.join("site/note-0.txt"), b"overwritten").unwrap();
    ok(
        &t,
        "rclone",
        &["copy", src.join("site").to_str().unwrap(), &remote],
        &env,
    );
    ok(
        &t,
        "rclone",
        &["deletefile", &format!("{remote}/note-1.txt")],
        &env,
    );

    let now = ok(&t, "rclone", &["lsf", "-R", &remote], &env);
    assert!(!now.contains("note-1.txt"), "{now}");
    let all = ok(&t, "rclone", &["lsf", "-R", "--s3-versions", &remote], &env);
    assert!(all.lines().count() > now.lines().count(), "{all}");
    // The folder as it was before the overwrite and the delete.
    let back = work.join("back");
    ok(
        &t,
        "rclone",
        &[
            "copy",
            "--s3-version-at",
            &stamp,
            &remote,
            back.to_str().unwrap(),
        ],
        &env,
    );
    assert!(files(&back) == before, "the folder at {stamp} differs");
}
