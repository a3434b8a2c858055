//! The gateway on a PostgreSQL server of its own that stops and starts
//! again under it: while the server is away requests are answered 503 (a
//! JSON error on the upload API, an S3 error on S3) and the gateway stays
//! up; once it is back requests succeed and nothing acknowledged before is
//! lost.
//!
//! Also: two gateways keeping blobs on their own disks cannot share one
//! database.
//!
//! The server is started here the way scripts/test starts the shared one
//! (Debian's binaries, initdb into a temp dir, as the `postgres` user when
//! run as root, loopback on a free port). A longer run of the same
//! scenario, by hand: see README, "PostgreSQL".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{get, put, Resp, Served, TestFile};

/// A PostgreSQL server in a temp dir, stopped and removed on drop.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl TempPostgres {
    /// Makes and starts one; `None` when `STOWAGE_TEST_POSTGRES=off`.
    pub fn start() -> Option<TempPostgres> {
        if std::env::var("STOWAGE_TEST_POSTGRES").is_ok_and(|v| v == "off") {
            eprintln!("STOWAGE_TEST_POSTGRES=off: this PostgreSQL test did not run");
            return None;
        }
        let bin = postgres_bin().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: run the tests \
                 with scripts/test, which installs them (Debian's postgresql), or set \
                 STOWAGE_TEST_POSTGRES=off"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("stowage-pg-fault.")
            .tempdir()
            .unwrap();
        let as_root = output(Command::new("id").arg("-u")).trim() == "0";
        if as_root {
            // PostgreSQL refuses to run as root.
            output(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let mut pg = TempPostgres {
            port: 0,
            dir,
            bin,
            as_root,
        };
        output(
            pg.command("initdb")
                .arg("-D")
                .arg(pg.data())
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--locale=C.UTF-8", "--no-sync"]),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        pg.port = port;
        pg.up();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again, on the same port and data).
    pub fn up(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        output(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"]),
        );
    }

    /// Stops the server at once, as a crash would (its WAL replays on the
    /// next start).
    pub fn down(&self) {
        output(self.command("pg_ctl").arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").exists() && bin.join("initdb").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// Runs a command to success; its stdout.
fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn post_json(base: &str, path: &str, token: &str, body: &serde_json::Value) -> Resp {
    Resp::from(
        ureq::post(&format!("{base}{path}"))
            .set("Content-Type", "application/json")
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(&body.to_string()),
    )
}

fn get_json(base: &str, path: &str, token: &str) -> Resp {
    Resp::from(
        ureq::get(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

/// Uploads and completes `f` through the JSON API, asserting each step.
fn store(base: &str, token: &str, f: &TestFile) {
    let r = post_json(
        base,
        "/api/inspect/v1/file/upload/presigned",
        token,
        &f.declaration(),
    );
    assert_eq!(r.status, 201, "presign: {}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    let r = put(&url, &f.content_type, &f.bytes);
    assert_eq!(r.status, 200, "PUT: {}", r.body);
    let r = post_json(
        base,
        "/api/inspect/v1/file/upload/complete",
        token,
        &serde_json::json!({ "id": f.id }),
    );
    assert_eq!(r.status, 200, "complete: {}", r.body);
}

/// What the gateway answers of `f`: its metadata, and the status and
/// bytes of its object read anonymously from the public bucket.
fn read_back(base: &str, token: &str, f: &TestFile) -> (Resp, u16, Vec<u8>) {
    let meta = get_json(base, &format!("/api/inspect/v1/file/{}", f.id), token);
    let (status, _, bytes) = get(&format!("{base}/uploads/{}", f.id));
    (meta, status, bytes)
}

#[test]
fn the_gateway_answers_503_while_postgres_is_down_and_loses_nothing() {
    let Some(pg) = TempPostgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_postgres_config(dir.path(), &pg.url());
    let mut served = Served::start(&config);
    let token = served.initial_token();
    let base = served.base.clone();

    // Small (inline in the index) and large (a blob file) files, stored
    // and acknowledged before the outage.
    let before = [TestFile::new(1000), TestFile::new(200_000)];
    for f in &before {
        store(&base, &token, f);
    }

    pg.down();
    let f = TestFile::new(100);
    let json = post_json(
        &base,
        "/api/inspect/v1/file/upload/presigned",
        &token,
        &f.declaration(),
    );
    let d = json.assert_json_error(503, "ServiceUnavailable");
    assert!(d.contains("Retry"), "{d}");
    assert_eq!(json.header("retry-after"), Some("1"));
    let meta = get_json(
        &base,
        &format!("/api/inspect/v1/file/{}", before[0].id),
        &token,
    );
    meta.assert_json_error(503, "ServiceUnavailable");
    let s3 = Resp::from(ureq::get(&format!("{base}/uploads/{}", before[1].id)).call());
    let m = s3.assert_s3_error(503, "ServiceUnavailable");
    assert!(!m.is_empty());
    let health = Resp::from(ureq::get(&format!("{base}/healthz")).call());
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "the gateway exited: {}",
        served.stderr()
    );

    pg.up();
    // The pool connects again on the next request.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (meta, _, _) = read_back(&base, &token, &before[0]);
        if meta.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back: {} {}",
            meta.status,
            meta.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for f in &before {
        let (meta, status, bytes) = read_back(&base, &token, f);
        assert_eq!(meta.status, 200, "{}", meta.body);
        assert_eq!(meta.json()["data"]["status"], "completed");
        assert_eq!(status, 200);
        assert!(bytes == f.bytes, "the bytes of {} changed", f.id);
    }
    let after = TestFile::new(5000);
    store(&base, &token, &after);
    // /healthz holds a verdict for a second: the outage's, at first.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = Resp::from(ureq::get(&format!("{base}/healthz")).call());
        if health.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "unhealthy: {}", health.body);
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = served.child.kill();
}

/// A gateway configuration on `url`, with the upload bucket readable
/// anonymously (so a plain GET is an S3 request).
fn write_postgres_config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             [s3]\npublic_read = [\"uploads\"]\n\
             [storage]\nfsync = false\n\
             [index]\nbackend = \"postgres\"\nurl = \"{url}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

/// Gateways with blobs in their own data dirs cannot share one database
/// (blob rows would name files only one of them has): the second to start
/// is refused, saying what to configure, and starts once the first is
/// gone.
#[test]
fn a_second_gateway_on_local_disk_is_refused_on_a_shared_database() {
    let Some(index) = crate::index_db::TestIndex::fresh_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[s3]\npublic_read = [\"uploads\"]\n\
                 [storage]\nfsync = false\n{}",
                dir.path().join(name).display(),
                index.toml()
            ),
        )
        .unwrap();
        path
    };
    let (one, two) = (config("one"), config("two"));
    let first = Served::start(&one);
    let f = TestFile::new(100_000);
    store(&first.base, &first.initial_token(), &f);

    // (Bounded: a second gateway that started would serve forever.)
    let refused = crate::interop::run_timed(
        Command::new(crate::harness::BIN)
            .args(["serve", "--config"])
            .arg(&two),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("the second gateway was not refused: {e}"));
    let err = &refused.stderr;
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("another gateway on this index keeps its blobs in its own data dir")
            && err.contains("backend = \"s3\""),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
    // The first goes on serving what it stored.
    let token = first.initial_token();
    let (meta, status, body) = read_back(&first.base, &token, &f);
    assert_eq!((meta.status, status), (200, 200), "{}", meta.body);
    assert!(body == f.bytes);

    // Gone (killed: its session, and the claim, go with it), the other
    // starts.
    drop(first);
    let second = Served::start(&two);
    assert_eq!(
        get_json(&second.base, "/healthz", "").status,
        200,
        "{}",
        second.stderr()
    );
}
