//! The kill -9 test: the real binary takes uploads from several clients at
//! once — small ones (kept in the index by the batched group commit), large
//! ones (files), S3 multipart uploads, and versions and delete markers in a
//! versioned bucket — and is killed with SIGKILL at a
//! random moment, over and over, with a fixed seed. A test-only delay
//! between publishing a blob and committing its row (`STOWAGE_FAILPOINT_
//! DELAY_MS`) widens that window so kills land in it too.
//!
//! After every restart: every upload that was answered 200 reads back byte
//! for byte; an upload that was not answered is either absent or whole
//! (a commit can land just before the kill, its answer lost — never half of
//! it); no temp file is left; and every upload that failed succeeds when
//! retried; every version answered reads back by its id, the answered
//! marker on top. At the end `stowage verify` finds no missing, corrupt or
//! orphaned data.
//!
//! `STOWAGE_CRASH_ROUNDS` sets the number of rounds (default 25, for CI);
//! `STOWAGE_CRASH_SEED` the seed. The long run:
//! `STOWAGE_CRASH_ROUNDS=300 cargo test --test it crash -- --nocapture`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use stowage::sigv4::encode::uri_encode;
use stowage::sigv4::{presign, Credentials, PresignParams};

use crate::harness::{Resp, BIN};

/// splitmix64: a small deterministic generator, so a failing seed replays.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The bytes of an upload, made again from its seed when checked.
pub fn bytes_of(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&r.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[derive(Clone, Debug)]
enum Kind {
    /// The upload API: presign, presigned PUT, complete. `id` is its id.
    Api,
    /// S3 multipart: create, parts, complete, under key `name`.
    Multipart,
    /// S3 in a versioned bucket: two versions of key `name` (bodies from
    /// `seed` and `seed + 1`), then a DELETE, which writes a marker.
    Versioned,
}

/// The versioned bucket of [`Kind::Versioned`].
const VERSIONED: &str = "/crashver";

#[derive(Clone, Debug)]
struct Upload {
    kind: Kind,
    /// The file id (API) or object key (multipart).
    name: String,
    seed: u64,
    len: usize,
    /// Versioned: its two versions' ids and its marker's, as answered.
    versions: Vec<String>,
}

impl Upload {
    fn bytes(&self) -> Vec<u8> {
        bytes_of(self.seed, self.len)
    }

    /// The body of a versioned upload's `i`th version.
    fn version_bytes(&self, i: u64) -> Vec<u8> {
        bytes_of(self.seed + i, self.len)
    }

    /// Where the bytes read back from: API files are S3 objects too.
    fn object_path(&self) -> String {
        match self.kind {
            Kind::Versioned => format!("{VERSIONED}/{}", self.name),
            _ => format!("/uploads/{}", self.name),
        }
    }
}

/// What the clients saw.
#[derive(Default)]
struct Ledger {
    /// Answered 200 (stored).
    acked: Vec<Upload>,
    /// Begun but never answered 200.
    unacked: Vec<Upload>,
}

/// A running `stowage serve` on a fixed port (so presigned URLs, which sign
/// the host, stay valid across restarts).
struct Gateway {
    child: Child,
    base: String,
    host: String,
}

impl Gateway {
    fn start(config: &Path, data: &Path) -> (Gateway, Vec<String>) {
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .env(stowage::failpoint::ENV, "30")
            // The recovery pass's report, not the access log.
            .env("RUST_LOG", "warn,stowage::app=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(l);
                }
            });
        }
        let text = std::fs::read_to_string(config).unwrap();
        let host = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \""))
            .unwrap()
            .trim_end_matches('"')
            .to_string();
        let base = format!("http://{host}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = ureq::get(&format!("{base}/healthz")).call() {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the gateway did not come up");
            assert!(
                child.try_wait().unwrap().is_none(),
                "the gateway exited at start-up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = data;
        let out = lines.lock().unwrap().clone();
        (Gateway { child, base, host }, out)
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

struct Client {
    base: String,
    host: String,
    token: String,
    creds: Credentials,
    agent: ureq::Agent,
}

impl Client {
    fn signed(&self, method: &str, path: &str, query: &[(&str, &str)]) -> String {
        let q = presign(
            &self.creds,
            &PresignParams {
                method,
                host: &self.host,
                path,
                region: "us-east-1",
                service: "s3",
                expires_secs: 3600,
                extra_query: query,
                extra_signed_headers: &[],
            },
            time::OffsetDateTime::now_utc(),
        );
        format!("{}{}?{q}", self.base, uri_encode(path, false))
    }

    /// One API upload: presign, PUT, complete. Ok(true) once the PUT was
    /// answered 200 (the bytes are stored); Err on a transport failure.
    fn api_upload(&self, u: &Upload) -> Result<bool, String> {
        let bytes = u.bytes();
        let decl = serde_json::json!({
            "id": u.name,
            "fileName": format!("{}.bin", u.name),
            "contentType": "application/octet-stream",
            "size": u.len,
            "hash": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                Sha256::digest(&bytes)
            ),
        });
        let r = send(
            self.agent
                .post(&format!(
                    "{}/api/inspect/v1/file/upload/presigned",
                    self.base
                ))
                .set("Authorization", &format!("Bearer {}", self.token))
                .send_string(&decl.to_string()),
        )?;
        let url = match r.status {
            201 => r.json()["data"]["presignedURL"]
                .as_str()
                .unwrap()
                .to_string(),
            200 => return Ok(true), // already stored (a retry after an unanswered PUT)
            s => panic!("presign of {} answered {s}: {}", u.name, r.body),
        };
        let r = send(
            self.agent
                .put(&url)
                .set("Content-Type", "application/octet-stream")
                .send_bytes(&bytes),
        )?;
        if r.status != 200 {
            panic!("PUT of {} answered {}: {}", u.name, r.status, r.body);
        }
        // Complete is best effort here: the bytes are already stored.
        let _ = self
            .agent
            .post(&format!(
                "{}/api/inspect/v1/file/upload/complete",
                self.base
            ))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_string(&serde_json::json!({ "id": u.name }).to_string());
        Ok(true)
    }

    /// One multipart upload of one or two parts. Ok(true) once complete
    /// was answered 200.
    fn multipart_upload(&self, u: &Upload) -> Result<bool, String> {
        let bytes = u.bytes();
        let path = u.object_path();
        let call = |req: ureq::Request, body: &[u8]| -> Result<Resp, String> {
            let r = send(req.send_bytes(body))?;
            match r.status {
                200 => Ok(r),
                s => panic!("multipart {} answered {s}: {}", u.name, r.body),
            }
        };
        let r = call(
            self.agent
                .post(&self.signed("POST", &path, &[("uploads", "")])),
            b"",
        )?;
        let id = between(&r.body, "<UploadId>", "</UploadId>").to_string();
        // Parts of at least 5 MiB except the last, as S3 requires.
        let cut = if bytes.len() > 5 << 20 {
            5 << 20
        } else {
            bytes.len()
        };
        let mut parts = Vec::new();
        for (n, piece) in [&bytes[..cut], &bytes[cut..]].into_iter().enumerate() {
            if piece.is_empty() && n > 0 {
                continue;
            }
            let num = (n + 1).to_string();
            let r = call(
                self.agent.put(&self.signed(
                    "PUT",
                    &path,
                    &[("partNumber", &num), ("uploadId", &id)],
                )),
                piece,
            )?;
            parts.push((num, r.header("etag").unwrap().to_string()));
        }
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, e) in &parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let r = call(
            self.agent
                .post(&self.signed("POST", &path, &[("uploadId", &id)])),
            xml.as_bytes(),
        )?;
        assert!(r.body.contains("<ETag>"), "{}", r.body);
        Ok(true)
    }

    /// Two versions, then a delete marker. Ok(true) once the DELETE was
    /// answered; the ids answered are in `u.versions`.
    fn versioned_upload(&self, u: &mut Upload) -> Result<bool, String> {
        u.versions.clear();
        let path = u.object_path();
        for i in 0..2 {
            let url = self.signed("PUT", &path, &[]);
            let r = send(self.agent.put(&url).send_bytes(&u.version_bytes(i)))?;
            assert_eq!(r.status, 200, "versioned PUT of {}: {}", u.name, r.body);
            u.versions
                .push(r.header("x-amz-version-id").expect("an id").to_string());
        }
        let r = send(self.agent.delete(&self.signed("DELETE", &path, &[])).call())?;
        assert_eq!(r.status, 204, "versioned DELETE of {}: {}", u.name, r.body);
        assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
        u.versions
            .push(r.header("x-amz-version-id").expect("an id").to_string());
        Ok(true)
    }

    fn upload(&self, u: &mut Upload) -> Result<bool, String> {
        match u.kind {
            Kind::Api => self.api_upload(u),
            Kind::Multipart => self.multipart_upload(u),
            Kind::Versioned => self.versioned_upload(u),
        }
    }

    /// (version id, is a marker, is latest) of every version of a
    /// versioned upload's key, newest first.
    fn versions_of(&self, u: &Upload) -> Vec<(String, bool, bool)> {
        let url = self.signed("GET", VERSIONED, &[("versions", ""), ("prefix", &u.name)]);
        let r = send(self.agent.get(&url).call()).expect("a listing");
        assert_eq!(r.status, 200, "{}", r.body);
        let mut out = Vec::new();
        let mut rest = r.body.as_str();
        while let Some(i) = ["<Version>", "<DeleteMarker>"]
            .iter()
            .filter_map(|t| rest.find(t))
            .min()
        {
            let marker = rest[i..].starts_with("<DeleteMarker>");
            let e = &rest[i..];
            let end = e
                .find(if marker {
                    "</DeleteMarker>"
                } else {
                    "</Version>"
                })
                .unwrap();
            let e = &e[..end];
            assert_eq!(between(e, "<Key>", "</Key>"), u.name);
            out.push((
                between(e, "<VersionId>", "</VersionId>").to_string(),
                marker,
                between(e, "<IsLatest>", "</IsLatest>") == "true",
            ));
            rest = &rest[i + end..];
        }
        out
    }

    /// The bytes of one version of `u`'s key, or None if it has none.
    fn read_version(&self, u: &Upload, id: &str) -> Option<Vec<u8>> {
        let url = self.signed("GET", &u.object_path(), &[("versionId", id)]);
        match self.agent.get(&url).call() {
            Ok(r) => {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
                Some(body)
            }
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("reading a version of {} failed: {e}", u.name),
        }
    }

    /// An answered versioned upload's versions are there, each whole, its
    /// marker the latest; `Err` says what is not.
    fn check_versions(&self, u: &Upload) -> Result<(), String> {
        let listed = self.versions_of(u);
        let want = vec![
            (u.versions[2].clone(), true, true),
            (u.versions[1].clone(), false, false),
            (u.versions[0].clone(), false, false),
        ];
        if listed[..listed.len().min(3)] != want[..] {
            return Err(format!("versions {listed:?}, want {want:?} on top"));
        }
        for i in 0..2 {
            if self.read_version(u, &u.versions[i]) != Some(u.version_bytes(i as u64)) {
                return Err(format!("version {i} does not read back whole"));
            }
        }
        Ok(())
    }

    /// The object's bytes, or None if it does not exist.
    fn read(&self, u: &Upload) -> Option<Vec<u8>> {
        let resp = self
            .agent
            .get(&self.signed("GET", &u.object_path(), &[]))
            .call();
        match resp {
            Ok(r) => {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
                Some(body)
            }
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("reading {} failed: {e}", u.name),
        }
    }
}

/// A response, or Err when the connection failed (the gateway was killed).
pub fn send(r: Result<ureq::Response, ureq::Error>) -> Result<Resp, String> {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    let headers = crate::harness::headers_of(&resp);
    let mut body = String::new();
    std::io::Read::read_to_string(&mut resp.into_reader(), &mut body).map_err(|e| e.to_string())?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    s.split(a).nth(1).unwrap().split(b).next().unwrap()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new upload of a random kind and size.
fn new_upload(rng: &mut Rng, round: u64, n: u64) -> Upload {
    let seed = rng.next();
    let pick = rng.below(12);
    let (kind, len) = match pick {
        // Versioned: small (inline) or up to 256 KiB (a file).
        10.. => (Kind::Versioned, 1 + rng.below(256 << 10) as usize),
        // Small: inline in the index, batched commit.
        0..=4 => (Kind::Api, 1 + rng.below(8 << 10) as usize),
        // Large: a file, published then committed.
        5..=7 => (Kind::Api, (100 << 10) + rng.below(2 << 20) as usize),
        // Multipart, one part or two (5 MiB + a tail).
        8 => (Kind::Multipart, (64 << 10) + rng.below(1 << 20) as usize),
        9 => (
            Kind::Multipart,
            (5 << 20) + 1 + rng.below(512 << 10) as usize,
        ),
    };
    let name = match kind {
        Kind::Api => uuid::Uuid::from_u64_pair(round, n).to_string(),
        Kind::Multipart => format!("crash/r{round}/n{n}.bin"),
        Kind::Versioned => format!("v/r{round}/n{n}/k"),
    };
    Upload {
        kind,
        name,
        seed,
        len,
        versions: Vec::new(),
    }
}

fn temps(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn acknowledged_uploads_survive_kill_9_at_random_moments() {
    let rounds = env_u64("STOWAGE_CRASH_ROUNDS", 25);
    let seed = env_u64("STOWAGE_CRASH_SEED", 0x5EED_CAFE);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n[limits]\npresign_per_token_per_sec = 0\n",
            free_port(),
            data.display()
        ),
    )
    .unwrap();

    let (gw, out) = Gateway::start(&config, &data);
    let token = out
        .iter()
        .find(|l| l.starts_with("stw_"))
        .expect("no initial token")
        .clone();
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("s3-credentials.json")).unwrap()).unwrap();
    let client = |gw: &Gateway| Client {
        base: gw.base.clone(),
        host: gw.host.clone(),
        token: token.clone(),
        creds: Credentials {
            access_key_id: creds["access_key_id"].as_str().unwrap().into(),
            secret_access_key: creds["secret_access_key"].as_str().unwrap().into(),
        },
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .build(),
    };
    {
        // The bucket of the versioned writes and deletes.
        let c = client(&gw);
        let r = send(c.agent.put(&c.signed("PUT", VERSIONED, &[])).call()).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let on = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        let url = c.signed("PUT", VERSIONED, &[("versioning", "")]);
        let r = send(c.agent.put(&url).send_string(on)).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut gw = Some(gw);
    let mut all_acked: Vec<Upload> = Vec::new();
    let (mut killed_mid_flight, mut unacked_total, mut unacked_visible) = (0u64, 0u64, 0u64);
    let mut bytes_checked = 0u64;
    let (mut orphans_removed, mut rows_relinked) = (0u64, 0u64);

    for round in 0..rounds {
        let g = gw.take().unwrap();
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let c = client(&g);
                let (ledger, stop) = (ledger.clone(), stop.clone());
                let mut rng = Rng(rng.next());
                std::thread::spawn(move || {
                    let mut n = w * 1_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        let mut u = new_upload(&mut rng, round, n);
                        n += 1;
                        match c.upload(&mut u) {
                            Ok(true) => ledger.lock().unwrap().acked.push(u),
                            _ => {
                                ledger.lock().unwrap().unacked.push(u);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        // Kill at a random moment: most rounds mid-traffic, some at once.
        std::thread::sleep(Duration::from_millis(20 + rng.below(600)));
        g.kill();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        killed_mid_flight += ledger.unacked.len() as u64;

        let (g, log) = Gateway::start(&config, &data);
        // What the recovery pass found: blobs published whose row never
        // committed (the kill landed between the two).
        for l in log.iter().filter(|l| l.contains("recovery pass repaired")) {
            let field = |name: &str| -> u64 {
                l.split(&format!("{name}="))
                    .nth(1)
                    .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            orphans_removed += field("orphan_blobs_removed");
            rows_relinked += field("rows_relinked");
        }
        let c = client(&g);
        assert!(
            temps(&data).is_empty(),
            "round {round}: temp files after restart: {:?}",
            temps(&data)
        );
        for u in &ledger.acked {
            if let Kind::Versioned = u.kind {
                c.check_versions(u).unwrap_or_else(|e| {
                    panic!("round {round} (seed {seed:#x}): acknowledged {u:?}: {e}")
                });
                bytes_checked += 2 * u.len as u64;
                continue;
            }
            let got = c.read(u).unwrap_or_else(|| {
                panic!("round {round} (seed {seed:#x}): acknowledged {u:?} is gone")
            });
            assert!(
                got == u.bytes(),
                "round {round} (seed {seed:#x}): acknowledged {u:?} reads back wrong"
            );
            bytes_checked += u.len as u64;
        }
        for u in &ledger.unacked {
            unacked_total += 1;
            if let Kind::Versioned = u.kind {
                // Whatever of it committed is whole: each version listed
                // reads back as one of its two bodies.
                let listed = c.versions_of(u);
                for (id, marker, _) in &listed {
                    if *marker {
                        continue;
                    }
                    let got = c.read_version(u, id);
                    assert!(
                        got == Some(u.version_bytes(0)) || got == Some(u.version_bytes(1)),
                        "round {round} (seed {seed:#x}): a version of unacknowledged {u:?} is \
                         not whole"
                    );
                }
                unacked_visible += u64::from(!listed.is_empty());
                let mut retry = u.clone();
                assert_eq!(
                    c.upload(&mut retry),
                    Ok(true),
                    "round {round}: retry of {u:?}"
                );
                c.check_versions(&retry)
                    .unwrap_or_else(|e| panic!("round {round}: retried {u:?}: {e}"));
                all_acked.push(retry);
                continue;
            }
            if let Some(got) = c.read(u) {
                // Committed just before the kill, its answer lost: whole.
                assert!(
                    got == u.bytes(),
                    "round {round} (seed {seed:#x}): unacknowledged {u:?} is visible but not whole"
                );
                unacked_visible += 1;
            }
            // The retry succeeds.
            assert_eq!(
                c.upload(&mut u.clone()),
                Ok(true),
                "round {round}: retry of {u:?} failed"
            );
            assert!(c.read(u).unwrap() == u.bytes());
            all_acked.push(u.clone());
        }
        all_acked.extend(ledger.acked);
        gw = Some(g);
    }

    // Everything ever acknowledged, once more, after the last restart.
    let g = gw.take().unwrap();
    let c = client(&g);
    for u in &all_acked {
        if let Kind::Versioned = u.kind {
            c.check_versions(u)
                .unwrap_or_else(|e| panic!("{u:?} at the end: {e}"));
            bytes_checked += 2 * u.len as u64;
            continue;
        }
        assert!(
            c.read(u).unwrap() == u.bytes(),
            "{u:?} reads back wrong at the end"
        );
        bytes_checked += u.len as u64;
    }
    g.kill();
    let v = Command::new(BIN)
        .args(["verify", "--data-dir"])
        .arg(&data)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "verify after the crashes:\n{report}");
    eprintln!(
        "crash test: {rounds} kill -9 rounds (seed {seed:#x}); {} uploads acknowledged and \
         read back ({bytes_checked} bytes checked); {killed_mid_flight} uploads in flight at a \
         kill, {unacked_visible} of {unacked_total} of those committed whole before it, all \
         retried successfully; recovery removed {orphans_removed} blobs published without \
         their row and relinked {rows_relinked} rows; {}",
        all_acked.len(),
        report.trim()
    );
}
