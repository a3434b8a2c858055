//! The test harness: a real Stowage server on `127.0.0.1:0` with a temp data
//! dir and a shiftable clock, plus small HTTP helpers (ureq, raw TCP, curl).
//! Its index is SQLite in the data dir, or a PostgreSQL database of its own
//! with `STOWAGE_TEST_INDEX=postgres` (see `index_db`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use stowage::app::App;
use stowage::clock::ShiftedClock;
use stowage::config::{BlobStoreConfig, Config};

use crate::index_db::TestIndex;
use crate::topology;

pub struct TestServer {
    /// Where the test sends its requests: the gateway, or in a cluster run
    /// the balancer in front of the gateways (see `topology`).
    pub addr: SocketAddr,
    pub base: String,
    /// The first gateway's data dir.
    pub data_dir: PathBuf,
    /// A token with every scope.
    pub token: String,
    /// The first gateway.
    pub app: Arc<App>,
    /// Every gateway, the first first (one, or three in a cluster run).
    pub apps: Vec<Arc<App>>,
    /// Where each gateway listens itself (in a cluster run, behind `addr`).
    pub gateways: Vec<SocketAddr>,
    /// The one clock of every gateway.
    pub clock: Arc<ShiftedClock>,
    pub rt: Option<tokio::runtime::Runtime>,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    extra_toml: String,
    dir: Option<tempfile::TempDir>,
    /// Dropped after the server (its database, on PostgreSQL).
    index: Option<TestIndex>,
    /// In a cluster run, the key prefix of this server's blobs in the test
    /// bucket (kept across a restart).
    blob_prefix: Option<String>,
}

/// How a [`TestServer`] is laid out.
enum Layout {
    /// One gateway, blobs in its data dir.
    Single,
    /// Three behind one address, blobs in the test bucket under this
    /// prefix (see `topology`).
    Cluster(String),
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts with extra TOML config (e.g. "[upload]\nmax_size = 100").
    pub fn start_with(extra_toml: &str) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra_toml, None, None, None)
    }

    /// Starts with its data dir at `dir/data` (which the caller may have
    /// prepared, e.g. as a mount point): one gateway on its local store,
    /// whatever the run's layout.
    pub fn start_in_dir(dir: tempfile::TempDir, extra_toml: &str) -> Self {
        Self::start_in(dir, extra_toml, None, None, Some(Layout::Single))
    }

    /// One gateway on its local store whatever the run's layout (its index
    /// still the run's), for what holds per gateway: rate and connection
    /// limits, a gateway's own counters.
    pub fn start_single_with(extra_toml: &str) -> Self {
        Self::start_in(
            tempfile::tempdir().unwrap(),
            extra_toml,
            None,
            None,
            Some(Layout::Single),
        )
    }

    /// Stops this server and starts a new one on the same data dir, as a
    /// restart of the process would (the recovery pass runs again); every
    /// gateway of a cluster.
    pub fn restart(mut self) -> Self {
        let dir = self.dir.take().unwrap();
        let extra = std::mem::take(&mut self.extra_toml);
        let token = self.token.clone();
        let index = self.index.take();
        let layout = match self.blob_prefix.take() {
            Some(prefix) => Layout::Cluster(prefix),
            None => Layout::Single,
        };
        drop(self);
        Self::start_in(dir, &extra, Some(token), index, Some(layout))
    }

    fn start_in(
        dir: tempfile::TempDir,
        extra_toml: &str,
        token: Option<String>,
        index: Option<TestIndex>,
        layout: Option<Layout>,
    ) -> Self {
        let data_dir = dir.path().join("data");
        let index = index.unwrap_or_else(|| TestIndex::for_data_dir(&data_dir));
        let layout = layout.unwrap_or_else(|| match topology::cluster() {
            true => Layout::Cluster(format!("it-{}/", stowage::random::hex(8))),
            false => Layout::Single,
        });
        let (count, blob_prefix) = match layout {
            Layout::Single => (1, None),
            Layout::Cluster(prefix) => (topology::GATEWAYS, Some(prefix)),
        };
        let bucket = blob_prefix.as_ref().map(|_| topology::Bucket::from_env());
        let clock = Arc::new(ShiftedClock::default());
        let (rt, public) = topology::runtime_and_listener(2);
        let addr = public.local_addr().unwrap();
        let mut apps: Vec<Arc<App>> = Vec::new();
        for i in 0..count {
            let mut config = Config::from_toml(&format!("{extra_toml}{}", index.toml())).unwrap();
            config.data_dir = match i {
                0 => data_dir.clone(),
                _ => dir.path().join(format!("data-{}", i + 1)),
            };
            if let (Some(bucket), Some(prefix)) = (&bucket, &blob_prefix) {
                config.storage.blobs = BlobStoreConfig::S3(bucket.store_config(prefix));
            }
            if let Some(first) = apps.first() {
                // One key pair for all, as a site configures its gateways.
                config.s3.credentials = Some(first.credentials.clone());
            }
            // Every gateway signs for the public address.
            let app = Arc::new(App::open(config, clock.clone(), addr).unwrap());
            rt.block_on(app.storage.recover()).unwrap();
            apps.push(app);
        }
        let app = apps[0].clone();
        let token = match token {
            Some(t) => t,
            None => rt
                .block_on(stowage::tokens::ensure_initial(&app.storage, 0))
                .unwrap()
                .unwrap(),
        };
        let mut shutdown = Vec::new();
        let listeners = match apps.len() {
            1 => vec![public],
            n => {
                let own: Vec<_> = (0..n)
                    .map(|_| {
                        rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                            .unwrap()
                    })
                    .collect();
                let addrs = own.iter().map(|l| l.local_addr().unwrap()).collect();
                rt.spawn(topology::balance(public, addrs));
                own
            }
        };
        let gateways: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        for (listener, served) in listeners.into_iter().zip(apps.iter().cloned()) {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            shutdown.push(tx);
            rt.spawn(async move {
                stowage::server::run(listener, served, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        }
        TestServer {
            addr,
            base: format!("http://{addr}"),
            data_dir,
            token,
            app,
            apps,
            gateways,
            clock,
            rt: Some(rt),
            shutdown,
            extra_toml: extra_toml.to_string(),
            dir: Some(dir),
            index: Some(index),
            blob_prefix,
        }
    }

    /// The server's index, to look at its rows beside it.
    pub fn index(&self) -> &TestIndex {
        self.index.as_ref().expect("a running server has its index")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs JSON to an API path with the all-scopes token.
    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, &body.to_string(), Some(&self.token))
    }

    pub fn post_raw(&self, path: &str, body: &str, token: Option<&str>) -> Resp {
        let mut req = ureq::post(&self.url(path)).set("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        Resp::from(req.send_string(body))
    }

    pub fn get_api(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = ureq::get(&self.url(path));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        Resp::from(req.call())
    }

    /// Asks for a presigned URL for `file`.
    pub fn presign(&self, file: &TestFile) -> Resp {
        self.post_json("/api/inspect/v1/file/upload/presigned", &file.declaration())
    }

    /// Presigns and returns the URL, asserting 201.
    pub fn presign_url(&self, file: &TestFile) -> String {
        let r = self.presign(file);
        assert_eq!(r.status, 201, "presign: {}", r.body);
        r.json()["data"]["presignedURL"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The file's metadata from the API (status etc.).
    pub fn file(&self, id: &str) -> Resp {
        self.get_api(&format!("/api/inspect/v1/file/{id}"), Some(&self.token))
    }

    pub fn status_of(&self, id: &str) -> String {
        let r = self.file(id);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["data"]["status"].as_str().unwrap().to_string()
    }

    pub fn complete(&self, id: &str) -> Resp {
        self.post_json(
            "/api/inspect/v1/file/upload/complete",
            &serde_json::json!({ "id": id }),
        )
    }

    /// Runs one housekeeping sweep now; returns (pending rows, temp files)
    /// removed.
    pub fn sweep(&self) -> (usize, usize) {
        let app = self.app.clone();
        self.rt
            .as_ref()
            .unwrap()
            .block_on(async move { app.storage.sweep().await })
            .unwrap()
    }

    /// Request bodies the gateways are receiving now (their
    /// `stowage_receiving_bodies`): a test knows an upload is streaming.
    pub fn receiving(&self) -> i64 {
        self.apps.iter().map(|a| a.metrics.receiving_now()).sum()
    }

    /// Requests with a body the gateways are handling now, arrival to
    /// answer (their `stowage_writes_in_flight`).
    pub fn writes_in_flight(&self) -> i64 {
        self.apps.iter().map(|a| a.metrics.writes_now()).sum()
    }

    /// Waits (up to 10 s) until `n` request bodies are being received.
    pub fn await_receiving(&self, n: i64) {
        let until = Instant::now() + Duration::from_secs(10);
        while self.receiving() < n {
            assert!(
                Instant::now() < until,
                "{n} upload(s) never began streaming ({} did)",
                self.receiving()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's idea of now.
    pub fn clock_now(&self) -> time::OffsetDateTime {
        use stowage::clock::Clock;
        self.clock.now()
    }

    /// The hex digest of every stored blob, wherever its bytes are: a file
    /// under `blobs/` or inline in the index (small blobs), sorted. In a
    /// cluster run, an object in the bucket instead of a file: named by
    /// the digest of the row naming it, or `unrecorded:KEY` when no row
    /// (and no garbage entry awaiting its grace) does, which no test
    /// expects to see.
    pub fn blobs(&self) -> Vec<String> {
        let mut all: Vec<String> = match &self.blob_prefix {
            None => self
                .blob_files()
                .iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect(),
            Some(_) => {
                let rows = self.object_rows();
                let garbage = self.index().rows("SELECT name FROM garbage");
                self.objects()
                    .into_iter()
                    .filter(|(id, _)| !garbage.contains(id))
                    .map(|(id, _)| match rows.get(&id) {
                        Some(hex) => hex.clone(),
                        None => format!("unrecorded:{id}"),
                    })
                    .collect()
            }
        };
        all.extend(self.inline_blobs().into_iter().map(|(hex, _)| hex));
        all.sort();
        all.dedup();
        all
    }

    /// Every blob file under `blobs/` (none in a cluster run: its blobs are
    /// objects in the bucket, see [`Self::objects`]).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir.join("blobs"))
    }

    /// In a cluster run, every object under this server's prefix in the
    /// test bucket, by name (the prefix left off), with its size; none
    /// otherwise.
    pub fn objects(&self) -> Vec<(String, u64)> {
        match &self.blob_prefix {
            Some(prefix) => topology::objects(prefix),
            None => Vec::new(),
        }
    }

    /// In a cluster run, the keys of upstream multipart uploads begun under
    /// this server's prefix and neither completed nor aborted.
    pub fn pending_uploads(&self) -> Vec<String> {
        match &self.blob_prefix {
            Some(prefix) => topology::pending_uploads(prefix),
            None => Vec::new(),
        }
    }

    /// Object name → digest, of every blob row naming an object.
    fn object_rows(&self) -> std::collections::HashMap<String, String> {
        self.index()
            .rows("SELECT location || ' ' || sha256 FROM blobs WHERE location IS NOT NULL")
            .into_iter()
            .filter_map(|r| {
                let (id, hex) = r.split_once(' ')?;
                Some((id.to_string(), hex.to_string()))
            })
            .collect()
    }

    /// Bytes kept in all, in blob files (objects, in a cluster run) and
    /// inline: what was written once.
    pub fn stored_bytes(&self) -> u64 {
        let files: u64 = match &self.blob_prefix {
            None => self
                .blob_files()
                .iter()
                .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .sum(),
            Some(_) => {
                let garbage = self.index().rows("SELECT name FROM garbage");
                self.objects()
                    .into_iter()
                    .filter(|(id, _)| !garbage.contains(id))
                    .map(|(_, size)| size)
                    .sum()
            }
        };
        let inline: u64 = self
            .inline_blobs()
            .iter()
            .map(|(_, b)| b.len() as u64)
            .sum();
        files + inline
    }

    /// Blobs kept inline in the index, with their bytes, read straight from
    /// it (a second connection, as an operator's would be).
    pub fn inline_blobs(&self) -> Vec<(String, Vec<u8>)> {
        self.index().inline_blobs()
    }

    /// Where the store keeps the file of blob `hex` (blobs over 64 KiB) on
    /// the local store; a cluster run keeps none (see [`Self::objects`]).
    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.data_dir
            .join("blobs")
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(hex)
    }

    /// The environment that names this server's blob store to a `stowage`
    /// command (`STOWAGE_STORAGE_*` in a cluster run; none for the local
    /// store, the default).
    pub fn store_env(&self) -> Vec<(String, String)> {
        match &self.blob_prefix {
            Some(prefix) => topology::Bucket::from_env().env(prefix),
            None => Vec::new(),
        }
    }

    /// Changes the stored bytes of blob `hex` behind the gateways' back, as
    /// a failing disk or a store losing data would: its file, or in a
    /// cluster run its object in the bucket.
    pub fn damage_blob(&self, hex: &str, damage: impl FnOnce(&mut Vec<u8>)) {
        match &self.blob_prefix {
            None => {
                let path = self.blob_path(hex);
                let mut bytes = std::fs::read(&path).unwrap();
                damage(&mut bytes);
                std::fs::write(&path, &bytes).unwrap();
            }
            Some(prefix) => {
                let (id, _) = self
                    .object_rows()
                    .into_iter()
                    .find(|(_, h)| h == hex)
                    .unwrap_or_else(|| panic!("no object holds blob {hex}"));
                let key = format!("{prefix}{id}");
                let mut bytes = topology::object_bytes(&key);
                damage(&mut bytes);
                topology::put_object(&key, bytes);
            }
        }
    }

    /// Uploads and completes `f`; returns its download URL.
    pub fn store_completed(&self, f: &TestFile) -> String {
        assert_eq!(
            put(&self.presign_url(f), &f.content_type, &f.bytes).status,
            200
        );
        let c = self.complete(&f.id);
        assert_eq!(c.status, 200, "{}", c.body);
        c.json()["data"]["downloadURL"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The stored bytes of blob `hex`, from its file (its object, in a
    /// cluster run) or the index.
    pub fn blob_bytes(&self, hex: &str) -> Option<Vec<u8>> {
        let stored = match &self.blob_prefix {
            None => std::fs::read(self.blob_path(hex)).ok(),
            Some(prefix) => self
                .object_rows()
                .into_iter()
                .find(|(_, h)| h == hex)
                .map(|(id, _)| topology::object_bytes(&format!("{prefix}{id}"))),
        };
        stored.or_else(|| {
            self.inline_blobs()
                .into_iter()
                .find(|(h, _)| h == hex)
                .map(|(_, b)| b)
        })
    }

    /// Every file under `tmp/`, of every gateway.
    pub fn temps(&self) -> Vec<PathBuf> {
        self.apps
            .iter()
            .flat_map(|a| files_under(&a.config.data_dir.join("tmp")))
            .collect()
    }

    /// The invariant every rejection test checks: the id is still pending,
    /// no blob with its hash exists, and no temp file is left behind.
    pub fn assert_nothing_stored(&self, file: &TestFile) {
        assert_eq!(self.status_of(&file.id), "pending", "row changed");
        let hex = hex::encode(file.sha256());
        assert!(
            !self.blobs().iter().any(|p| p.ends_with(&hex)),
            "a blob was committed"
        );
        // The staged file (an upstream upload, in a cluster run) is removed
        // when the request ends; the handler may still be unwinding right
        // after the response.
        for _ in 0..100 {
            if self.temps().is_empty() && self.pending_uploads().is_empty() && self.receiving() == 0
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "temp files left behind: {:?}; upstream uploads left: {:?}; bodies still being \
             received: {}",
            self.temps(),
            self.pending_uploads(),
            self.receiving()
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A SigV4 query-signed URL for `method path?query` on `s`, signed with
/// `creds` (also signing `headers`, lowercase, that the request will carry).
pub fn presigned_url(
    s: &TestServer,
    creds: &stowage::sigv4::Credentials,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> String {
    let q = stowage::sigv4::presign(
        creds,
        &stowage::sigv4::PresignParams {
            method,
            host: &s.addr.to_string(),
            path,
            region: &s.app.config.s3.region,
            service: "s3",
            expires_secs: 300,
            extra_query: query,
            extra_signed_headers: headers,
        },
        s.clock_now(),
    );
    format!(
        "{}{}?{q}",
        s.base,
        stowage::sigv4::encode::uri_encode(path, false)
    )
}

/// The key pair `stowage key create` printed (`access_key_id=…` and
/// `secret_access_key=…` lines).
pub fn created_key(out: &str) -> stowage::sigv4::Credentials {
    let field = |p: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no {p} in {out}"))
            .to_string()
    };
    stowage::sigv4::Credentials {
        access_key_id: field("access_key_id="),
        secret_access_key: field("secret_access_key="),
    }
}

/// A file a test uploads.
#[derive(Clone)]
pub struct TestFile {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl TestFile {
    pub fn new(len: usize) -> Self {
        let mut bytes = vec![0u8; len];
        stowage::random::fill(&mut bytes);
        TestFile {
            id: uuid::Uuid::new_v4().to_string(),
            name: "photo.png".into(),
            content_type: "image/png".into(),
            bytes,
        }
    }

    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    pub fn hash_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.sha256())
    }

    pub fn declaration(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "contentType": self.content_type,
            "hash": self.hash_b64(),
            "fileName": self.name,
            "size": self.bytes.len(),
        })
    }
}

/// A response, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a JSON API error.
    pub fn assert_json_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        assert_eq!(v["error"], code, "{}", self.body);
        let d = v["errorDescription"].as_str().unwrap().to_string();
        assert!(!d.is_empty());
        d
    }

    /// Asserts an S3 XML error and returns its message.
    pub fn assert_s3_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/xml"));
        assert!(
            self.body.contains(&format!("<Code>{code}</Code>")),
            "expected {code}: {}",
            self.body
        );
        let rid = self.header("x-amz-request-id").unwrap();
        assert!(self.body.contains(&format!("<RequestId>{rid}</RequestId>")));
        let start = self.body.find("<Message>").unwrap() + 9;
        let end = self.body.find("</Message>").unwrap();
        self.body[start..end].to_string()
    }
}

impl Resp {
    /// Parses what [`raw_request`] returned (a response whose body has a
    /// Content-Length or ends with the connection).
    pub fn from_raw(text: &str) -> Resp {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response: {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {head:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Resp {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

impl From<Result<ureq::Response, ureq::Error>> for Resp {
    fn from(r: Result<ureq::Response, ureq::Error>) -> Self {
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let (status, headers) = (resp.status(), headers_of(&resp));
        let mut body = String::new();
        resp.into_reader().read_to_string(&mut body).unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// curl PUT of `bytes` to `url`; returns (status, body).
pub fn curl_put(url: &str, content_type: &str, bytes: &[u8]) -> (u16, String) {
    curl_put_with(&[], url, content_type, bytes)
}

/// [`curl_put`] with `extra` curl arguments (`--connect-to`, …).
pub fn curl_put_with(extra: &[&str], url: &str, content_type: &str, bytes: &[u8]) -> (u16, String) {
    let (mut cmd, _dir) = curl_put_command(extra, url, content_type, bytes);
    let out = cmd.output().expect("curl runs");
    curl_answer(&out.stdout)
}

/// The curl command that PUTs `bytes` to `url` with `extra` curl
/// arguments, not yet run, and the temp dir holding the body's file (keep
/// it until curl is done). curl, because it reads an early answer while
/// still sending. Its stdout ends with the status: [`curl_answer`].
pub fn curl_put_command(
    extra: &[&str],
    url: &str,
    content_type: &str,
    bytes: &[u8],
) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, bytes).unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {content_type}"))
        .arg("--upload-file")
        .arg(&path)
        .args(extra)
        .args(["-w", "\n%{http_code}"])
        .arg(url);
    (cmd, dir)
}

/// (status, body) of the stdout of a [`curl_put_command`]; status 0 when
/// no answer came.
pub fn curl_answer(stdout: &[u8]) -> (u16, String) {
    let stdout = String::from_utf8_lossy(stdout).to_string();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// PUTs `body` to a URL with a Content-Type, the way a client would.
pub fn put(url: &str, content_type: &str, body: &[u8]) -> Resp {
    Resp::from(
        ureq::put(url)
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
}

pub fn get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let resp = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let (status, headers) = (resp.status(), headers_of(&resp));
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, headers, body)
}

pub fn headers_of(resp: &ureq::Response) -> Vec<(String, String)> {
    resp.headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect()
}

/// The bytes of `method target` with `headers` (as given: `host` among
/// them) and `body`, on a connection the server is asked to close after.
pub fn request_bytes(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes of an HTTP request, optionally half-closes, and returns
/// the raw response text. For requests no well-behaved client sends.
pub fn raw_request(addr: SocketAddr, request: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a URL into (path-and-query, host).
pub fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let slash = rest.find('/').unwrap();
    (rest[slash..].to_string(), rest[..slash].to_string())
}

/// Replaces one query parameter's value in a URL.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let (head, query) = url.split_once('?').unwrap();
    let q: Vec<String> = query
        .split('&')
        .map(|kv| {
            if kv.split('=').next() == Some(name) {
                format!("{name}={value}")
            } else {
                kv.to_string()
            }
        })
        .collect();
    format!("{head}?{}", q.join("&"))
}

/// Removes one query parameter from a URL.
pub fn without_param(url: &str, name: &str) -> String {
    let (head, query) = url.split_once('?').unwrap();
    let q: Vec<&str> = query
        .split('&')
        .filter(|kv| kv.split('=').next() != Some(name))
        .collect();
    format!("{head}?{}", q.join("&"))
}

/// The `stowage` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_stowage");

pub use crate::served::{addr_of, site_blobs, site_temps, write_config, Served};
