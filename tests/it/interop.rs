//! Interop with real S3 clients: the current boto3 and AWS CLI from PyPI,
//! with their default configuration plus an endpoint URL, against the real
//! `stowage` binary. The clients are installed by this module into a
//! virtual environment under `target/interop-venv` (created on first use,
//! reused afterwards); the scenarios are the Python scripts in
//! `tests/interop/` and the `aws` commands below.
//!
//! Each test starts its own server on a fresh data dir, so they run in
//! parallel and each can check what was (not) stored on disk.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::harness::*;

/// The Python scripts and their requirements.
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// Longest a single script or `aws` command may run before it is killed.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest the first `pip install` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------
// The virtual environment
// ---------------------------------------------------------------------------

/// The venv's Python, creating the venv on first use. Concurrent test
/// threads share one attempt (and its error, if it failed).
pub(crate) fn venv_python() -> PathBuf {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(ensure_venv) {
        Ok(p) => p.clone(),
        Err(e) => panic!("could not set up the interop venv: {e}"),
    }
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
            }
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `target/interop-venv`, installed from `tests/interop/requirements.txt`.
/// A marker file holding the requirements it was installed from says the
/// venv is complete; without it (or after the requirements changed) the
/// venv is built anew in a temporary directory and renamed into place, so
/// a concurrent `cargo test` never sees a half-built one. Only
/// `bin/python` is used (`python -m awscli` for the CLI), which keeps
/// working after the rename, unlike the console scripts' shebangs.
fn ensure_venv() -> Result<PathBuf, String> {
    let requirements = Path::new(SCRIPTS).join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let target = target_dir();
    let venv = target.join("interop-venv");
    let marker = venv.join("stowage-requirements.txt");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && python.exists()
    {
        return Ok(python);
    }

    let started = Instant::now();
    eprintln!(
        "interop: creating {} with boto3 and awscli from PyPI",
        venv.display()
    );
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let building = target.join(format!("interop-venv.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let python3 = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = run_timed(
        Command::new(&python3).args(["-m", "venv"]).arg(&building),
        INSTALL_TIMEOUT,
    )
    .map_err(|e| format!("`{python3} -m venv`: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&building);
        return Err(format!(
            "`{python3} -m venv {}` failed ({}); on Debian/Ubuntu install python3-venv.\n{}",
            building.display(),
            out.status,
            out.text()
        ));
    }
    let out = run_timed(
        Command::new(building.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements),
        INSTALL_TIMEOUT,
    )
    .map_err(|e| format!("pip install: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&building);
        return Err(format!(
            "pip install failed ({}):\n{}",
            out.status,
            out.text()
        ));
    }
    std::fs::write(building.join("stowage-requirements.txt"), &wanted)
        .map_err(|e| format!("writing the venv marker: {e}"))?;

    // Replace a stale venv; if another process finished first, use its.
    if venv.exists() && std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
    }
    if std::fs::rename(&building, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        return Err(format!("{} is not complete after install", venv.display()));
    }
    eprintln!(
        "interop: venv ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(python)
}

// ---------------------------------------------------------------------------
// Subprocesses
// ---------------------------------------------------------------------------

pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    pub(crate) fn text(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs a command to completion with its output captured, killing it after
/// `timeout`.
pub(crate) fn run_timed(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (out.join().unwrap(), err.join().unwrap());
            return Err(format!(
                "{cmd:?} still running after {timeout:?}; killed.\n--- stdout ---\n{o}\n--- stderr ---\n{e}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    })
}

/// Reads a child's pipe to the end on a thread (so a chatty child never
/// blocks on a full pipe).
fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

// ---------------------------------------------------------------------------
// A served gateway and the clients pointed at it
// ---------------------------------------------------------------------------

pub(crate) struct Interop {
    // Dropped first: the server stops before its data dir goes.
    served: Served,
    pub(crate) dir: tempfile::TempDir,
    python: PathBuf,
    pub(crate) endpoint: String,
    access_key: String,
    secret_key: String,
    token: String,
}

impl Interop {
    /// The real binary on a fresh data dir, with the generated S3 keys and
    /// the first-start API token.
    pub(crate) fn start() -> Self {
        Self::start_with("")
    }

    /// [`Self::start`] with extra config (TOML).
    pub(crate) fn start_with(extra: &str) -> Self {
        let python = venv_python();
        let dir = tempfile::tempdir().unwrap();
        let served = Served::start_site(&write_config(dir.path(), extra));
        let creds: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("data").join("s3-credentials.json")).unwrap(),
        )
        .unwrap();
        let token = served.initial_token();
        Interop {
            endpoint: served.base.clone(),
            served,
            python,
            access_key: creds["access_key_id"].as_str().unwrap().to_string(),
            secret_key: creds["secret_access_key"].as_str().unwrap().to_string(),
            token,
            dir,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command with only our AWS settings: no AWS_* variables or config
    /// files of whoever runs the tests, so the clients' defaults apply.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("AWS_") || k.starts_with("BOTO") {
                cmd.env_remove(k);
            }
        }
        let none = self.dir.path().join("no-aws-config");
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("STOWAGE_ENDPOINT", &self.endpoint)
            .env("STOWAGE_TOKEN", &self.token)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs `tests/interop/<script> <endpoint> <args…>` and asserts it
    /// exits 0, printing its output either way.
    pub(crate) fn python(&self, script: &str, args: &[&str]) {
        self.python_with(script, args, &[]);
    }

    /// [`Self::python`] with extra environment variables.
    pub(crate) fn python_with(&self, script: &str, args: &[&str], env: &[(&str, &str)]) {
        let started = Instant::now();
        let mut cmd = self.command(&self.python);
        cmd.envs(env.iter().copied());
        cmd.arg(Path::new(SCRIPTS).join(script))
            .arg(&self.endpoint)
            .args(args);
        let out = run_timed(&mut cmd, STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "=== {script} {} ({:.1} s, {})\n{}",
            args.join(" "),
            started.elapsed().as_secs_f64(),
            out.status,
            out.text()
        );
        assert!(
            out.status.success(),
            "{script} {} failed ({}):\n{}\n--- server log (last lines) ---\n{}",
            args.join(" "),
            out.status,
            out.text(),
            self.server_log_tail()
        );
    }

    /// `aws --endpoint-url <endpoint> <args…>`, whatever its exit status.
    pub(crate) fn aws_output(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&self.python);
        cmd.args(["-m", "awscli", "--endpoint-url", &self.endpoint])
            .args(args);
        let out = run_timed(&mut cmd, STEP_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "=== aws {} ({})\n{}",
            args.join(" "),
            out.status,
            out.text()
        );
        out
    }

    /// `aws …`, asserting exit status 0; returns stdout.
    pub(crate) fn aws(&self, args: &[&str]) -> String {
        let out = self.aws_output(args);
        assert!(
            out.status.success(),
            "aws {} failed ({}):\n{}\n--- server log (last lines) ---\n{}",
            args.join(" "),
            out.status,
            out.text(),
            self.server_log_tail()
        );
        out.stdout
    }

    /// `aws s3api …` whose stdout is JSON.
    pub(crate) fn s3api(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["s3api"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--output", "json"]);
        let out = self.aws(&full);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    pub(crate) fn server_log_tail(&self) -> String {
        let log = self.served.stderr();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Blob bytes the site keeps outside its index (`harness::site_blobs`).
    fn stored_blobs(&self) -> Vec<String> {
        crate::harness::site_blobs(&self.served, &self.data_dir(), |sql| {
            crate::index_db::of_config_dir(self.dir.path(), |i| i.rows(sql))
        })
    }

    /// Asserts that no blob was committed and no temp file is left.
    fn assert_nothing_on_disk(&self) {
        let blobs = self.stored_blobs();
        assert!(blobs.is_empty(), "blobs were committed: {blobs:?}");
        // A staged file is removed when its request ends; allow the
        // handler a moment to unwind.
        let data = self.data_dir();
        for _ in 0..100 {
            if crate::harness::site_temps(&data).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("temp files left: {:?}", crate::harness::site_temps(&data));
    }
}

/// Every file under `dir`, as paths relative to it.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Relative path → content of every file under `dir`.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_in(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    stowage::random::fill(&mut b);
    b
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// boto3
// ---------------------------------------------------------------------------

/// Buckets, objects with metadata and headers kept, conditionals,
/// checksums, copy, deletes, listings with pagination, multipart through
/// `upload_file` and by hand, abort, odd keys.
#[test]
fn boto3_round_trip_of_every_operation() {
    let t = Interop::start();
    t.python("roundtrip.py", &["objects", "copy", "listing", "multipart"]);
}

/// botocore asks for checksums on every GetObject by default
/// (`x-amz-checksum-mode: ENABLED`) and validates the body against the
/// `x-amz-checksum-*` it gets back; S3 sends none with a partial body.
#[test]
fn boto3_ranged_gets_of_checksummed_objects() {
    let t = Interop::start();
    t.python("roundtrip.py", &["ranges"]);
    t.python("cross_surface.py", &["api_upload_ranged"]);
}

#[test]
fn boto3_put_and_upload_part_echo_their_checksums() {
    let t = Interop::start();
    t.python("roundtrip.py", &["checksum_echo"]);
}

/// botocore sends PutObject/UploadPart with `Expect: 100-continue`; on an
/// early error it withholds the body and reuses the connection.
#[test]
fn boto3_connection_is_reusable_after_an_early_error_to_expect_100_continue() {
    let t = Interop::start();
    t.python("roundtrip.py", &["expect_continue"]);
}

/// `generate_presigned_url` with the default config (SigV2 query auth in
/// us-east-1), with SigV2 asked for, and with SigV4; used with http.client.
#[test]
fn boto3_presigned_urls() {
    let t = Interop::start();
    t.python("presigned.py", &["object_urls", "bucket_urls"]);
}

#[test]
fn boto3_sigv2_bucket_level_requests() {
    let t = Interop::start();
    t.python("presigned.py", &["sigv2_bucket_level"]);
}

/// Conditional writes, GetObjectAttributes, ListObjectVersions on an
/// unversioned bucket, the user-metadata limit, CORS, POST forms (issue 6).
#[test]
fn boto3_conditional_writes_attributes_and_versions() {
    let t = Interop::start();
    t.python(
        "teams.py",
        &[
            "post_policy",
            "cors",
            "conditional",
            "attributes",
            "versions",
            "metadata",
        ],
    );
}

/// Versioning and Object Lock driven by boto3: version ids, delete
/// markers, suspended buckets, paginated ListObjectVersions, DeleteObjects
/// by version, emptying a versioned bucket; locked buckets, default
/// retention, COMPLIANCE and GOVERNANCE versions and legal holds against
/// every delete boto3 can send (issue 16).
#[test]
fn boto3_versioning() {
    let t = Interop::start();
    t.python(
        "versioning.py",
        &["versioning", "object_lock", "lifecycle", "acl"],
    );
}

/// A key made with `stowage key create` on the gateway of `t`: (id,
/// secret).
pub(crate) fn second_key(t: &Interop) -> (String, String) {
    let out = Command::new(crate::harness::BIN)
        .args(["key", "create", "--name", "second", "--config"])
        .arg(t.dir.path().join("config.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |p: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no {p}: {text}"))
            .to_string()
    };
    (get("access_key_id="), get("secret_access_key="))
}

/// Unsigned boto3 (`signature_version=UNSIGNED`) reads a bucket listed in
/// `[s3] public_read`, and nothing else.
#[test]
fn boto3_anonymous_reads_of_a_public_bucket() {
    let t = Interop::start_with("[s3]\npublic_read = [\"uploads\"]\n");
    t.python("teams.py", &["public_read"]);
}

/// A second access key made with `stowage key create`, used by boto3: its
/// own bucket, nothing else until allowed.
#[test]
fn boto3_with_a_second_key() {
    let t = Interop::start();
    let (id, secret) = second_key(&t);
    t.python_with(
        "teams.py",
        &["second_key"],
        &[("STOWAGE_KEY2_ID", &id), ("STOWAGE_KEY2_SECRET", &secret)],
    );
}

/// Every JSON API operation's answers (successes and refusals) validated
/// against the OpenAPI 3.1 document the gateway serves.
#[test]
fn the_json_api_answers_as_its_openapi_document_says() {
    let t = Interop::start();
    t.python("openapi.py", &[]);
}

/// A presign-API upload read with boto3; a boto3 object read through the
/// API's downloadURL.
#[test]
fn presign_api_and_boto3_share_one_namespace() {
    let t = Interop::start();
    t.python("cross_surface.py", &[]);
}

/// Wrong secret, unknown key, expired SDK-presigned URLs, tampered chunk
/// signatures, wrong trailer checksums, wrong Content-MD5: the S3 error
/// code each time, nothing listed, nothing on disk; then the same
/// hand-made requests, unaltered, succeed.
#[test]
fn negative_interop_fails_with_s3_codes_and_stores_nothing() {
    let t = Interop::start();
    t.python("negative.py", &["negatives"]);
    t.assert_nothing_on_disk();
    t.python("negative.py", &["controls"]);
}

// ---------------------------------------------------------------------------
// AWS CLI
// ---------------------------------------------------------------------------

#[test]
fn aws_cli_cp_ls_sync_rm_and_s3api() {
    let t = Interop::start();
    let work = t.dir.path().join("cli");
    std::fs::create_dir_all(&work).unwrap();
    let bucket = "cli-interop";
    let s3 = |key: &str| format!("s3://{bucket}/{key}");

    // Buckets.
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    let listed = t.aws(&["s3", "ls"]);
    assert!(listed.contains(bucket), "{listed}");
    assert!(listed.contains("uploads"), "{listed}");

    // 40 MiB both ways: above the CLI's 8 MiB threshold, so multipart up
    // (8 MiB parts) and ranged GETs down.
    let big = random_bytes(40 * 1024 * 1024);
    let up = work.join("forty.bin");
    std::fs::write(&up, &big).unwrap();
    t.aws(&["s3", "cp", path_str(&up), &s3("big/forty.bin")]);
    let head = t.s3api(&["head-object", "--bucket", bucket, "--key", "big/forty.bin"]);
    assert_eq!(head["ContentLength"], big.len(), "{head}");
    let etag = head["ETag"].as_str().unwrap();
    assert!(
        etag.ends_with("-5\""),
        "not a 5-part multipart ETag: {etag}"
    );
    let down = work.join("forty.down");
    t.aws(&["s3", "cp", &s3("big/forty.bin"), path_str(&down)]);
    assert!(
        std::fs::read(&down).unwrap() == big,
        "40 MiB download differs"
    );
    let ls = t.aws(&["s3", "ls", &s3("big/")]);
    assert!(
        ls.contains("forty.bin") && ls.contains(&big.len().to_string()),
        "{ls}"
    );

    // A tree of small files, synced up and back down.
    let src = work.join("tree");
    for i in 0..20 {
        let dir = match i % 4 {
            0 => src.clone(),
            1 => src.join("photos"),
            2 => src.join("photos").join("2024 summer"),
            _ => src.join("docs").join("ü"),
        };
        std::fs::create_dir_all(&dir).unwrap();
        let name = match i % 5 {
            0 => format!("file {i}.txt"),
            1 => format!("file+{i}.bin"),
            _ => format!("file-{i}.dat"),
        };
        std::fs::write(dir.join(&name), random_bytes(100 + i * 37)).unwrap();
        // `aws s3 sync` re-uploads a file whose mtime is later than the
        // object's LastModified, which S3 gives in whole seconds; files
        // written in the second of their upload would all look newer.
        std::fs::File::options()
            .write(true)
            .open(dir.join(&name))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }
    let out = t.aws(&["s3", "sync", path_str(&src), &s3("tree")]);
    assert_eq!(out.matches("upload:").count(), 20, "{out}");
    let ls = t.aws(&["s3", "ls", "--recursive", &s3("tree/")]);
    assert_eq!(ls.lines().count(), 20, "{ls}");
    let out = t.aws(&["s3", "sync", path_str(&src), &s3("tree")]);
    assert!(!out.contains("upload:"), "a second sync re-uploaded: {out}");
    let back = work.join("back");
    let out = t.aws(&["s3", "sync", &s3("tree"), path_str(&back)]);
    assert_eq!(out.matches("download:").count(), 20, "{out}");
    assert!(tree(&src) == tree(&back), "synced trees differ");
    let changed = src.join("photos").join("file+1.bin");
    std::fs::write(&changed, b"changed, and a different size").unwrap();
    let out = t.aws(&["s3", "sync", path_str(&src), &s3("tree")]);
    assert_eq!(out.matches("upload:").count(), 1, "{out}");
    let out = t.aws(&["s3", "sync", &s3("tree"), path_str(&back)]);
    assert_eq!(out.matches("download:").count(), 1, "{out}");
    assert!(
        tree(&src) == tree(&back),
        "trees differ after the second sync"
    );

    // s3api.
    let small = work.join("note.txt");
    std::fs::write(&small, b"put with s3api\n").unwrap();
    let put = t.s3api(&[
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "api/note 1.txt",
        "--body",
        path_str(&small),
        "--content-type",
        "text/plain",
        "--metadata",
        "site=north",
    ]);
    assert_eq!(put["ETag"], "\"a03240268b97fcae067ef1c69f92c605\"", "{put}");
    let head = t.s3api(&["head-object", "--bucket", bucket, "--key", "api/note 1.txt"]);
    assert_eq!(head["ContentLength"], 15, "{head}");
    assert_eq!(head["ContentType"], "text/plain", "{head}");
    assert_eq!(head["Metadata"]["site"], "north", "{head}");
    let list = t.s3api(&["list-objects-v2", "--bucket", bucket, "--prefix", "api/"]);
    let keys: Vec<&str> = list["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["api/note 1.txt"], "{list}");
    let got = work.join("note.got");
    let get = t.s3api(&[
        "get-object",
        "--bucket",
        bucket,
        "--key",
        "api/note 1.txt",
        path_str(&got),
    ]);
    assert_eq!(get["ContentLength"], 15, "{get}");
    assert_eq!(std::fs::read(&got).unwrap(), b"put with s3api\n");

    // Remove everything; the listing is then empty and the bucket goes.
    let out = t.aws(&["s3", "rm", "--recursive", &format!("s3://{bucket}")]);
    assert_eq!(out.matches("delete:").count(), 22, "{out}");
    let ls = t.aws_output(&["s3", "ls", "--recursive", &format!("s3://{bucket}")]);
    // `aws s3 ls` exits 1 when nothing matches.
    assert!(ls.status.code().is_some_and(|c| c <= 1), "{}", ls.text());
    assert_eq!(ls.stdout.trim(), "", "objects left after rm --recursive");
    t.aws(&["s3", "rb", &format!("s3://{bucket}")]);
    let listed = t.aws(&["s3", "ls"]);
    assert!(!listed.contains(bucket), "{listed}");
}

/// `aws s3 rb --force` empties a bucket and deletes it; its unfinished
/// multipart uploads go with it (as in S3), their parts with them.
/// The AWS CLI's versioning commands: put/get-bucket-versioning, the
/// version id of a put, list-object-versions with a delete marker, a read
/// of an older version and the removal of the marker (issue 16).
#[test]
fn aws_cli_versioning() {
    let t = Interop::start();
    let work = t.dir.path().join("cli-versions");
    std::fs::create_dir_all(&work).unwrap();
    let bucket = "cli-versions";
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    t.aws(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        bucket,
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let state = t.s3api(&["get-bucket-versioning", "--bucket", bucket]);
    assert_eq!(state["Status"], "Enabled", "{state}");
    let mut ids = Vec::new();
    for body in ["first", "second"] {
        let f = work.join(body);
        std::fs::write(&f, body).unwrap();
        let put = t.s3api(&[
            "put-object",
            "--bucket",
            bucket,
            "--key",
            "report.txt",
            "--body",
            path_str(&f),
        ]);
        ids.push(put["VersionId"].as_str().expect("a version id").to_string());
    }
    t.aws(&["s3", "rm", &format!("s3://{bucket}/report.txt")]);
    let listed = t.s3api(&["list-object-versions", "--bucket", bucket]);
    let versions = listed["Versions"].as_array().expect("versions");
    let markers = listed["DeleteMarkers"].as_array().expect("a delete marker");
    assert_eq!((versions.len(), markers.len()), (2, 1), "{listed}");
    assert_eq!(markers[0]["IsLatest"], true, "{listed}");
    let old = work.join("old");
    t.s3api(&[
        "get-object",
        "--bucket",
        bucket,
        "--key",
        "report.txt",
        "--version-id",
        &ids[0],
        path_str(&old),
    ]);
    assert_eq!(std::fs::read(&old).unwrap(), b"first");
    let marker = markers[0]["VersionId"].as_str().unwrap();
    t.s3api(&[
        "delete-object",
        "--bucket",
        bucket,
        "--key",
        "report.txt",
        "--version-id",
        marker,
    ]);
    let back = t.aws(&["s3", "cp", &format!("s3://{bucket}/report.txt"), "-"]);
    assert_eq!(back, "second");

    // Object Lock from the CLI: a locked bucket, a held version that
    // delete-object cannot remove until the hold is lifted.
    let locked = "cli-locked";
    t.s3api(&[
        "create-bucket",
        "--bucket",
        locked,
        "--object-lock-enabled-for-bucket",
    ]);
    let config = t.s3api(&["get-object-lock-configuration", "--bucket", locked]);
    assert_eq!(
        config["ObjectLockConfiguration"]["ObjectLockEnabled"], "Enabled",
        "{config}"
    );
    let f = work.join("held");
    std::fs::write(&f, "held").unwrap();
    let put = t.s3api(&[
        "put-object",
        "--bucket",
        locked,
        "--key",
        "held.txt",
        "--body",
        path_str(&f),
        "--object-lock-legal-hold-status",
        "ON",
    ]);
    let id = put["VersionId"].as_str().unwrap();
    let refused = t.aws_output(&[
        "s3api",
        "delete-object",
        "--bucket",
        locked,
        "--key",
        "held.txt",
        "--version-id",
        id,
    ]);
    assert!(!refused.status.success());
    assert!(
        refused.text().contains("AccessDenied"),
        "{}",
        refused.text()
    );
    t.aws(&[
        "s3api",
        "put-object-legal-hold",
        "--bucket",
        locked,
        "--key",
        "held.txt",
        "--version-id",
        id,
        "--legal-hold",
        "Status=OFF",
    ]);
    t.aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        locked,
        "--key",
        "held.txt",
        "--version-id",
        id,
    ]);
}

#[test]
fn aws_cli_rb_force_removes_a_bucket_with_unfinished_uploads() {
    let t = Interop::start();
    let work = t.dir.path().join("rb");
    std::fs::create_dir_all(&work).unwrap();
    let bucket = "rb-force";
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    // Above 64 KiB, so each is a file under data/blobs.
    let object = work.join("kept.bin");
    std::fs::write(&object, random_bytes(200 * 1024)).unwrap();
    t.aws(&[
        "s3",
        "cp",
        path_str(&object),
        &format!("s3://{bucket}/kept.bin"),
    ]);
    let up = t.s3api(&[
        "create-multipart-upload",
        "--bucket",
        bucket,
        "--key",
        "half.bin",
    ]);
    let id = up["UploadId"].as_str().unwrap();
    let part = work.join("part.bin");
    std::fs::write(&part, random_bytes(300 * 1024)).unwrap();
    t.s3api(&[
        "upload-part",
        "--bucket",
        bucket,
        "--key",
        "half.bin",
        "--upload-id",
        id,
        "--part-number",
        "1",
        "--body",
        path_str(&part),
    ]);
    assert_eq!(t.stored_blobs().len(), 2, "{:?}", t.stored_blobs());

    t.aws(&["s3", "rb", "--force", &format!("s3://{bucket}")]);
    let listed = t.aws(&["s3", "ls"]);
    assert!(!listed.contains(bucket), "{listed}");
    let uploads = crate::index_db::of_config_dir(t.dir.path(), |i| {
        i.value("SELECT count(*) FROM multipart_uploads")
    });
    assert_eq!(uploads.as_deref(), Some("0"));
    t.assert_nothing_on_disk();
}
