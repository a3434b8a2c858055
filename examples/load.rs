//! Load driver for Stowage and any S3-compatible endpoint (issue 4, "Instruments").
//!
//! ```sh
//! cargo run --release --example load -- --target stowage --endpoint http://127.0.0.1:8080 \
//!     --token stw_… --scenario small-put --connections 64 --duration 10
//! cargo run --release --example load -- --target s3 --endpoint http://127.0.0.1:9000 \
//!     --access-key AK --secret-key SK --bucket bench --scenario large-put --size 268435456
//! cargo run --release --example load -- --scenario sha256 --size 1073741824   # machine limit
//! ```
//!
//! Every worker is a tokio task owning one keep-alive HTTP/1.1 connection (hyper's low-level
//! client), so `--connections N` means exactly N sockets. URLs are signed with Stowage's own
//! signer (`stowage::sigv4`) for S3 targets, and obtained from the presign API for Stowage.
//! Work that is not being measured (presigning the URLs of a PUT scenario, uploading the
//! objects a GET scenario reads, pre-computing the SHA-256 of a large body) happens before
//! the timed phase. Bodies come from a deterministic generator: a 1 MiB pseudo-random block
//! repeated, with a per-object prefix (run nonce + index) so every object is unique (Stowage
//! deduplicates identical content); a large body is never held in memory.
//!
//! Output: a human summary on stderr and, last on stdout, one JSON line
//! `{scenario, target, ops, bytes, secs, ops_per_sec, mb_per_sec, p50_ms, p99_ms, errors,
//! peak_rss_kib, …}` (MB = 10^6 bytes). Non-2xx answers and transport errors count as errors;
//! the first few are printed. With `--server-pid`, the server's peak-RSS counter is reset
//! (`/proc/PID/clear_refs`) when the timed phase starts and `VmHWM` is read at its end.
//!
//! Tiny local modes give the machine limits the benchmark script compares against:
//! `--scenario sha256` / `sha256-md5` (one core hashing `--size` bytes in 1 MiB buffers with
//! the same `sha2`/`md-5` code the server's ingest uses) and `--scenario fsync-4k --dir D`
//! (write + fsync + rename + directory fsync of 4 KiB files from `--connections` writers).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use http::{header, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use md5::Md5;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use stowage::sigv4::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, signed_headers_line,
};
use stowage::sigv4::key::{signature, signing_key};
use stowage::sigv4::string_to_sign::{
    credential_scope, format_amz_date, format_date_stamp, string_to_sign, ALGORITHM, EMPTY_SHA256,
};
use stowage::sigv4::{presign, Credentials, PresignParams};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use uuid::Uuid;

const MIB: u64 = 1024 * 1024;
const SMALL: u64 = 4096;
/// Size of the generator's repeated block, and of every body frame after the first.
const CHUNK: usize = 1024 * 1024;
/// How many error descriptions are kept and printed.
const MAX_ERRORS_SHOWN: usize = 5;
/// How much of a response body is kept (for JSON answers and error messages).
const KEEP_BODY: usize = 64 * 1024;
const API: &str = "/api/inspect/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Stowage's upload API (presign → PUT → complete, download URLs from the API).
    Stowage,
    /// Any S3-compatible endpoint, path-style, SigV4-presigned URLs signed here.
    S3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// PUT `--count` (default 1) objects of `--size` bytes through presigned URLs.
    LargePut,
    /// PUT 4 KiB objects through presigned URLs (presigned before the timed phase).
    SmallPut,
    /// presign → PUT → complete per 4 KiB file (Stowage only).
    E2e,
    /// `POST …/file/upload/presigned` only (Stowage only).
    Presign,
    /// GET 4 KiB objects through presigned URLs (uploaded before the timed phase).
    GetSmall,
    /// GET an object of `--size` bytes `--count` times (default 1).
    GetLarge,
    /// Machine limit: SHA-256 of `--size` bytes on one core, 1 MiB buffers.
    Sha256,
    /// Machine limit: SHA-256 and MD5 together (what the server's ingest computes).
    Sha256Md5,
    /// Machine limit: write + fsync + rename + dir fsync of 4 KiB files in `--dir`.
    #[value(name = "fsync-4k")]
    Fsync4k,
    /// Machine limit: PUT `--size` bytes over loopback into an in-process hyper sink that
    /// computes SHA-256 (the "hashing sink" ceiling of a streaming upload).
    SinkPut,
    /// Machine limit: GET `--size` generated bytes over loopback from an in-process hyper
    /// server (the ceiling of a streaming download).
    SinkGet,
    /// Machine limit: the same in-process server, downloaded by `curl -o /dev/null` (the
    /// issue's "loopback curl into a sink" reference for GETs).
    SinkGetCurl,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::LargePut => "large-put",
            Scenario::SmallPut => "small-put",
            Scenario::E2e => "e2e",
            Scenario::Presign => "presign",
            Scenario::GetSmall => "get-small",
            Scenario::GetLarge => "get-large",
            Scenario::Sha256 => "sha256",
            Scenario::Sha256Md5 => "sha256-md5",
            Scenario::Fsync4k => "fsync-4k",
            Scenario::SinkPut => "sink-put",
            Scenario::SinkGet => "sink-get",
            Scenario::SinkGetCurl => "sink-get-curl",
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Load driver for Stowage and S3-compatible endpoints")]
struct Args {
    #[arg(long, value_enum, default_value = "stowage")]
    target: Target,
    /// Base URL, http only, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Object size for large-put / get-large, bytes hashed for sha256 (default 256 MiB).
    #[arg(long, default_value_t = 256 * MIB)]
    size: u64,
    /// Concurrent connections (one tokio task each), or writers for fsync-4k.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Length of the timed phase in seconds (ignored when --count is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Number of operations instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Open-loop rate in operations per second over all connections: operation i is due at
    /// start + i/rate, and its latency counts from then when it is sent more than 1 ms late
    /// (so a stalled server's backlog shows in the percentiles; within 1 ms it counts from the
    /// send, as tokio's timer wakes up to 1 ms late). Without it each connection sends its
    /// next request as soon as the last one is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Objects presigned before a timed small-put (default: --count, else 40000). The timed
    /// phase ends early if the pool runs out; that is reported.
    #[arg(long)]
    prepare: Option<u64>,
    /// Distinct objects uploaded before get-small (read round-robin).
    #[arg(long, default_value_t = 1000)]
    objects: u64,
    /// Stowage API bearer token (scopes upload and read).
    #[arg(long, env = "STOWAGE_TOKEN")]
    token: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
    secret_key: Option<String>,
    /// Bucket for S3 targets (created if missing).
    #[arg(long, default_value = "bench")]
    bucket: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Content-Type of uploaded objects.
    #[arg(long, default_value = "application/octet-stream")]
    content_type: String,
    /// Server process whose peak RSS (VmHWM) is reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Per-operation timeout in seconds (default 60, or 600 for large scenarios).
    #[arg(long)]
    timeout: Option<u64>,
    /// Runtime worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Directory for fsync-4k.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = args.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(report) => {
            let ok = report.tally.ops > 0;
            report.print();
            if ok {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Tally {
    ops: u64,
    bytes: u64,
    errors: u64,
    /// Latency of each successful operation, microseconds.
    lat_us: Vec<u32>,
}

impl Tally {
    fn ok(&mut self, started: Instant, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.lat_us.push(us);
    }
    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.lat_us.extend(other.lat_us);
    }
}

struct Report {
    scenario: Scenario,
    target: Option<Target>,
    tally: Tally,
    secs: f64,
    connections: usize,
    size: u64,
    peak_rss_kib: Option<u64>,
    start_rss_kib: Option<u64>,
    note: Option<String>,
    errors_shown: Vec<String>,
}

impl Report {
    fn print(mut self) {
        self.tally.lat_us.sort_unstable();
        let pct = |p: usize| -> Option<f64> {
            let v = &self.tally.lat_us;
            if v.is_empty() {
                return None;
            }
            let i = ((v.len() - 1) * p).div_ceil(100);
            Some(v[i.min(v.len() - 1)] as f64 / 1000.0)
        };
        let secs = self.secs.max(1e-9);
        let ops_per_sec = self.tally.ops as f64 / secs;
        let mb_per_sec = self.tally.bytes as f64 / secs / 1e6;
        let (p50, p99) = (pct(50), pct(99));
        for e in &self.errors_shown {
            eprintln!("  error: {e}");
        }
        eprintln!(
            "{} {}: {} ops in {:.2} s = {:.1} ops/s, {:.1} MB/s, p50 {} ms, p99 {} ms, {} errors, \
             {} connections{}{}",
            self.scenario.name(),
            self.target.map_or("local", |t| match t {
                Target::Stowage => "stowage",
                Target::S3 => "s3",
            }),
            self.tally.ops,
            secs,
            ops_per_sec,
            mb_per_sec,
            p50.map_or("-".into(), |v| format!("{v:.3}")),
            p99.map_or("-".into(), |v| format!("{v:.3}")),
            self.tally.errors,
            self.connections,
            self.peak_rss_kib
                .map_or(String::new(), |k| format!(", server peak RSS {k} KiB")),
            self.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})")),
        );
        let line = json!({
            "scenario": self.scenario.name(),
            "target": self.target.map_or("local", |t| match t {
                Target::Stowage => "stowage",
                Target::S3 => "s3",
            }),
            "ops": self.tally.ops,
            "bytes": self.tally.bytes,
            "secs": round3(secs),
            "ops_per_sec": round3(ops_per_sec),
            "mb_per_sec": round3(mb_per_sec),
            "p50_ms": p50.map(round3),
            "p99_ms": p99.map(round3),
            "errors": self.tally.errors,
            "peak_rss_kib": self.peak_rss_kib,
            "start_rss_kib": self.start_rss_kib,
            "connections": self.connections,
            "size": self.size,
            "note": self.note,
        });
        println!("{line}");
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// First few error descriptions, shared by all workers.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl Errors {
    fn record(&self, what: String) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < MAX_ERRORS_SHOWN {
                v.push(what);
            }
        }
    }
    fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Server memory

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resets the peak-RSS counter (`VmHWM`) of `pid` to its current RSS (Linux ≥ 4.0).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

// ---------------------------------------------------------------------------------------------
// Deterministic bodies

/// The generator: a 1 MiB xorshift block, repeated; an object's first 16 bytes are its run
/// nonce and index so that no two objects are equal.
#[derive(Clone)]
struct Gen {
    block: Bytes,
    nonce: u64,
}

impl Gen {
    fn new() -> Self {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = Vec::with_capacity(CHUNK);
        while block.len() < CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        let nonce = u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([7; 8]));
        Gen {
            block: Bytes::from(block),
            nonce,
        }
    }

    /// The first frame of object `idx` of `size` bytes (at most one block).
    fn first(&self, idx: u64, size: u64) -> Bytes {
        let len = (size as usize).min(CHUNK);
        let mut b = BytesMut::from(&self.block[..len]);
        let mut prefix = [0u8; 16];
        prefix[..8].copy_from_slice(&self.nonce.to_le_bytes());
        prefix[8..].copy_from_slice(&idx.to_le_bytes());
        let n = len.min(16);
        b[..n].copy_from_slice(&prefix[..n]);
        b.freeze()
    }

    fn body(&self, idx: u64, size: u64) -> GenBody {
        let first = self.first(idx, size);
        GenBody {
            remaining: size - first.len() as u64,
            first: Some(first),
            block: self.block.clone(),
        }
    }

    /// SHA-256 of object `idx`, streaming the same frames the body will send.
    fn sha256(&self, idx: u64, size: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        let first = self.first(idx, size);
        h.update(&first);
        let mut rest = size - first.len() as u64;
        while rest > 0 {
            let n = rest.min(CHUNK as u64) as usize;
            h.update(&self.block[..n]);
            rest -= n as u64;
        }
        h.finalize().into()
    }
}

/// A request body: empty, one buffer, or a generated object streamed in 1 MiB frames.
enum ReqBody {
    Full(Option<Bytes>),
    Gen(GenBody),
}

struct GenBody {
    first: Option<Bytes>,
    block: Bytes,
    remaining: u64,
}

impl ReqBody {
    fn empty() -> Self {
        ReqBody::Full(None)
    }
    fn len(&self) -> u64 {
        match self {
            ReqBody::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ReqBody::Gen(g) => g.first.as_ref().map_or(0, |b| b.len() as u64) + g.remaining,
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = match this {
            ReqBody::Full(b) => b.take(),
            ReqBody::Gen(g) => match g.first.take() {
                Some(b) => Some(b),
                None if g.remaining > 0 => {
                    let n = g.remaining.min(CHUNK as u64) as usize;
                    g.remaining -= n as u64;
                    Some(g.block.slice(..n))
                }
                None => None,
            },
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// One keep-alive connection, re-established when the server closes it.
struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<ReqBody>>,
    timeout: Duration,
}

struct Answer {
    status: StatusCode,
    /// Body bytes received.
    len: u64,
    /// The first `KEEP_BODY` bytes, if asked for.
    kept: Bytes,
}

impl Answer {
    fn describe(&self, what: &str) -> String {
        let text = String::from_utf8_lossy(&self.kept[..self.kept.len().min(400)]);
        format!("{what}: HTTP {} {}", self.status.as_u16(), text.trim())
    }
}

impl Conn {
    fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            sender: None,
            timeout,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(self.addr))
            .await
            .map_err(|_| format!("connecting to {} timed out after 5 s", self.addr))?
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(4 * CHUNK)
            .handshake::<_, ReqBody>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", self.addr))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request and reads the whole answer (keeping up to `KEEP_BODY` bytes when
    /// `keep` or the status is not 2xx), within the per-operation timeout.
    async fn call(&mut self, req: Request<ReqBody>, keep: bool) -> Result<Answer, String> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.call_inner(req, keep)).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                Err(format!("no complete answer within {} s", timeout.as_secs()))
            }
        }
    }

    async fn call_inner(&mut self, req: Request<ReqBody>, keep: bool) -> Result<Answer, String> {
        let usable = match self.sender.as_mut() {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.sender = None;
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        if sender.ready().await.is_err() {
            self.sender = None;
            return Err("connection closed before the request could be sent".into());
        }
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("request failed: {e}"));
            }
        };
        match read_answer(resp, keep).await {
            Ok(a) => Ok(a),
            Err(e) => {
                self.sender = None;
                Err(e)
            }
        }
    }
}

async fn read_answer(resp: Response<Incoming>, keep: bool) -> Result<Answer, String> {
    let status = resp.status();
    let keep = keep || !status.is_success();
    let mut body = resp.into_body();
    let mut len = 0u64;
    let mut kept = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| format!("reading the answer failed after {len} bytes: {e}"))?;
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            if keep && kept.len() < KEEP_BODY {
                let n = data.len().min(KEEP_BODY - kept.len());
                kept.extend_from_slice(&data[..n]);
            }
        }
    }
    Ok(Answer {
        status,
        len,
        kept: kept.freeze(),
    })
}

/// A request for an absolute URL (as a presigned URL is): origin-form target, `Host` from the
/// URL's authority (it is signed), sent to whichever address the connection uses.
fn request_for_url(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: ReqBody,
) -> Result<Request<ReqBody>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = uri
        .authority()
        .ok_or_else(|| format!("URL without a host: {url}"))?
        .as_str()
        .to_owned();
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut b = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::CONTENT_LENGTH, body.len());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body)
        .map_err(|e| format!("cannot build request: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The two kinds of target

/// What every worker needs to know about the target.
struct Ctx {
    target: Target,
    base: String,
    host: String,
    addr: SocketAddr,
    token: Option<String>,
    creds: Option<Credentials>,
    bucket: String,
    region: String,
    content_type: String,
    gen: Gen,
    timeout: Duration,
    errors: Errors,
}

/// An object ready to be PUT: its URL and which generated body it carries.
struct PutJob {
    url: String,
    idx: u64,
    size: u64,
    /// Stowage id, for `complete`.
    id: Option<Uuid>,
}

impl Ctx {
    fn conn(&self) -> Conn {
        Conn::new(self.addr, self.timeout)
    }

    fn token(&self) -> Result<&str, String> {
        self.token
            .as_deref()
            .ok_or_else(|| "--token is required for --target stowage".to_owned())
    }

    fn creds(&self) -> Result<&Credentials, String> {
        self.creds
            .as_ref()
            .ok_or_else(|| "--access-key and --secret-key are required for --target s3".to_owned())
    }

    /// A SigV4 presigned URL for the S3 target (`UNSIGNED-PAYLOAD`, only `host` signed).
    fn s3_url(&self, method: &str, key: &str) -> Result<String, String> {
        let path = format!("/{}/{}", self.bucket, key);
        let query = presign(
            self.creds()?,
            &PresignParams {
                method,
                host: &self.host,
                path: &path,
                region: &self.region,
                service: "s3",
                expires_secs: 3600,
                extra_query: &[],
                extra_signed_headers: &[],
            },
            OffsetDateTime::now_utc(),
        );
        Ok(format!("{}{}?{}", self.base, canonical_uri(&path), query))
    }

    /// Header-signed (SigV4 `Authorization`) request with an empty body, for bucket setup.
    fn s3_header_signed(&self, method: &str, path: &str) -> Result<Request<ReqBody>, String> {
        let creds = self.creds()?;
        let now = OffsetDateTime::now_utc();
        let amz_date = format_amz_date(now);
        let date = format_date_stamp(now);
        let scope = credential_scope(&date, &self.region, "s3");
        let headers = [
            ("host", self.host.as_str()),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", amz_date.as_str()),
        ];
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let signed = signed_headers_line(&names);
        let creq = canonical_request(
            method,
            &canonical_uri(path),
            &canonical_query::<&str, &str>(&[]),
            &canonical_headers(&names, &headers),
            &signed,
            EMPTY_SHA256,
        );
        let sts = string_to_sign(&amz_date, &scope, &creq);
        let key = signing_key(&creds.secret_access_key, &date, &self.region, "s3");
        let auth = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed}, Signature={}",
            creds.access_key_id,
            signature(&key, &sts)
        );
        let mut b = Request::builder()
            .method(method)
            .uri(canonical_uri(path))
            .header(header::CONTENT_LENGTH, 0)
            .header(header::AUTHORIZATION, auth);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.body(ReqBody::empty())
            .map_err(|e| format!("cannot build request: {e}"))
    }

    /// Creates the S3 bucket unless it exists.
    async fn ensure_bucket(&self, conn: &mut Conn) -> Result<(), String> {
        let path = format!("/{}", self.bucket);
        let head = conn
            .call(self.s3_header_signed("HEAD", &path)?, true)
            .await?;
        if head.status.is_success() {
            return Ok(());
        }
        let put = conn
            .call(self.s3_header_signed("PUT", &path)?, true)
            .await?;
        if put.status.is_success() || put.status == StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(put.describe(&format!("creating bucket {}", self.bucket)))
        }
    }

    /// Stowage: `POST …/presigned` for object `idx`. Returns the URL (None: already stored).
    async fn stowage_presign(
        &self,
        conn: &mut Conn,
        id: Uuid,
        sha: [u8; 32],
        size: u64,
    ) -> Result<Option<String>, String> {
        let body = json!({
            "id": id.to_string(),
            "contentType": self.content_type,
            "hash": base64::engine::general_purpose::STANDARD.encode(sha),
            "fileName": format!("bench-{id}.bin"),
            "size": size,
        });
        let ans = self
            .api_post("/file/upload/presigned", body.to_string(), conn)
            .await?;
        if ans.status == StatusCode::OK {
            return Ok(None); // already stored (deduplicated)
        }
        if ans.status != StatusCode::CREATED {
            return Err(ans.describe("presign"));
        }
        let v: Value = serde_json::from_slice(&ans.kept)
            .map_err(|e| format!("presign answered 201 with a body that is not JSON: {e}"))?;
        v["data"]["presignedURL"]
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| "presign answered 201 without data.presignedURL".to_owned())
    }

    async fn api_post(&self, path: &str, body: String, conn: &mut Conn) -> Result<Answer, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{API}{path}"))
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token()?))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(ReqBody::Full(Some(Bytes::from(body))))
            .map_err(|e| format!("cannot build request: {e}"))?;
        conn.call(req, true).await
    }

    async fn stowage_complete(&self, conn: &mut Conn, id: Uuid) -> Result<(), String> {
        let ans = self
            .api_post(
                "/file/upload/complete",
                json!({"id": id.to_string()}).to_string(),
                conn,
            )
            .await?;
        if ans.status.is_success() {
            Ok(())
        } else {
            Err(ans.describe("complete"))
        }
    }

    async fn stowage_download_url(&self, conn: &mut Conn, id: Uuid) -> Result<String, String> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{API}/file/{id}"))
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token()?))
            .body(ReqBody::empty())
            .map_err(|e| format!("cannot build request: {e}"))?;
        let ans = conn.call(req, true).await?;
        if !ans.status.is_success() {
            return Err(ans.describe("GET file metadata"));
        }
        let v: Value = serde_json::from_slice(&ans.kept)
            .map_err(|e| format!("file metadata is not JSON: {e}"))?;
        v["data"]["downloadURL"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "file {id} has no downloadURL (status {})",
                    v["data"]["status"]
                )
            })
    }

    /// Prepares a PUT of generated object `idx` (Stowage: hash + presign; S3: sign here).
    async fn prepare_put(&self, conn: &mut Conn, idx: u64, size: u64) -> Result<PutJob, String> {
        match self.target {
            Target::S3 => Ok(PutJob {
                url: self.s3_url("PUT", &format!("obj-{:016x}-{idx}", self.gen.nonce))?,
                idx,
                size,
                id: None,
            }),
            Target::Stowage => {
                let gen = self.gen.clone();
                let sha = if size > 8 * MIB {
                    tokio::task::spawn_blocking(move || gen.sha256(idx, size))
                        .await
                        .map_err(|e| format!("hashing task failed: {e}"))?
                } else {
                    gen.sha256(idx, size)
                };
                let id = Uuid::new_v4();
                let url = self
                    .stowage_presign(conn, id, sha, size)
                    .await?
                    .ok_or_else(|| {
                        format!("presign of {id} answered 200: these bytes are already stored")
                    })?;
                Ok(PutJob {
                    url,
                    idx,
                    size,
                    id: Some(id),
                })
            }
        }
    }

    /// PUTs a prepared object; `Ok(bytes sent)` on 2xx.
    async fn put(&self, conn: &mut Conn, job: &PutJob) -> Result<u64, String> {
        let body = ReqBody::Gen(self.gen.body(job.idx, job.size));
        let ct = self.content_type.as_str();
        let req = request_for_url(Method::PUT, &job.url, &[("content-type", ct)], body)?;
        let ans = conn.call(req, false).await?;
        if ans.status.is_success() {
            Ok(job.size)
        } else {
            Err(ans.describe("PUT"))
        }
    }

    /// GETs a URL; `Ok(bytes received)` on 2xx with the expected length.
    async fn get(&self, conn: &mut Conn, url: &str, expect: u64) -> Result<u64, String> {
        let req = request_for_url(Method::GET, url, &[], ReqBody::empty())?;
        let ans = conn.call(req, false).await?;
        if !ans.status.is_success() {
            return Err(ans.describe("GET"));
        }
        if ans.len != expect {
            return Err(format!("GET returned {} bytes, expected {expect}", ans.len));
        }
        Ok(ans.len)
    }

    /// Uploads object `idx` (outside the timed phase) and returns a GET URL for it.
    async fn upload_for_get(&self, conn: &mut Conn, idx: u64, size: u64) -> Result<String, String> {
        let job = self.prepare_put(conn, idx, size).await?;
        self.put(conn, &job).await?;
        match (self.target, job.id) {
            (Target::Stowage, Some(id)) => {
                self.stowage_complete(conn, id).await?;
                self.stowage_download_url(conn, id).await
            }
            _ => self.s3_url("GET", &format!("obj-{:016x}-{idx}", self.gen.nonce)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running a scenario

/// When the timed phase stops handing out work.
#[derive(Clone, Copy)]
enum Limit {
    Count(u64),
    Until(Instant),
}

struct Plan {
    next: AtomicU64,
    limit: Limit,
    /// `--rate`: when the timed phase began, and operations per second.
    pace: Option<(Instant, f64)>,
}

impl Plan {
    /// The next operation index, or None when the phase is over.
    fn take(&self) -> Option<u64> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Limit::Count(n) if i < n => Some(i),
            Limit::Until(t) if self.due(i).max(Instant::now()) < t => Some(i),
            _ => None,
        }
    }

    /// When operation `i` is due: at once without `--rate`.
    fn due(&self, i: u64) -> Instant {
        match self.pace {
            Some((start, rate)) => start + Duration::from_secs_f64(i as f64 / rate),
            None => Instant::now(),
        }
    }
}

async fn run(args: Args) -> Result<Report, String> {
    match args.scenario {
        Scenario::Sha256 | Scenario::Sha256Md5 => return Ok(hash_limit(&args)),
        Scenario::Fsync4k => return fsync_limit(&args).await,
        Scenario::SinkPut | Scenario::SinkGet | Scenario::SinkGetCurl => {
            return sink_limit(&args).await
        }
        _ => {}
    }
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let endpoint = args.endpoint.trim_end_matches('/').to_owned();
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("--endpoint must be http://host:port, got {endpoint}"))?
        .to_owned();
    if host.contains('/') {
        return Err("--endpoint must not have a path".into());
    }
    let addr = tokio::net::lookup_host(&host)
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let large = matches!(args.scenario, Scenario::LargePut | Scenario::GetLarge);
    let timeout = Duration::from_secs(args.timeout.unwrap_or(if large { 600 } else { 60 }));
    let creds = match (&args.access_key, &args.secret_key) {
        (Some(a), Some(s)) => Some(Credentials {
            access_key_id: a.clone(),
            secret_access_key: s.clone(),
        }),
        _ => None,
    };
    let ctx = Arc::new(Ctx {
        target: args.target,
        base: endpoint,
        host,
        addr,
        token: args.token.clone(),
        creds,
        bucket: args.bucket.clone(),
        region: args.region.clone(),
        content_type: args.content_type.clone(),
        gen: Gen::new(),
        timeout,
        errors: Errors::default(),
    });

    // Validate the target and its credentials before any work.
    let mut conn = ctx.conn();
    match ctx.target {
        Target::Stowage => {
            ctx.token()?;
        }
        Target::S3 => {
            if matches!(args.scenario, Scenario::E2e | Scenario::Presign) {
                return Err(format!(
                    "scenario {} exists only for --target stowage",
                    args.scenario.name()
                ));
            }
            ctx.ensure_bucket(&mut conn).await?;
        }
    }

    let n = args.connections;
    let default_count = |d: u64| args.count.unwrap_or(d);
    let timed = |count: Option<u64>| -> Limit {
        match (count, args.duration) {
            (Some(c), _) => Limit::Count(c),
            (None, Some(d)) => Limit::Until(Instant::now() + Duration::from_secs_f64(d)),
            (None, None) => Limit::Until(Instant::now() + Duration::from_secs(10)),
        }
    };

    // Setup, outside the timed phase.
    let mut note = None;
    let (size, work): (u64, Work) = match args.scenario {
        Scenario::LargePut | Scenario::SmallPut => {
            let size = if args.scenario == Scenario::LargePut {
                args.size
            } else {
                SMALL
            };
            let pool = match args.scenario {
                Scenario::LargePut => default_count(1),
                _ => args.prepare.or(args.count).unwrap_or(40_000),
            };
            eprintln!("preparing {pool} presigned PUT URL(s) of {size} bytes…");
            let jobs = prepare_puts(&ctx, n, pool, size).await?;
            (size, Work::Put(Arc::new(jobs)))
        }
        Scenario::GetSmall | Scenario::GetLarge => {
            let (size, objects) = if args.scenario == Scenario::GetSmall {
                (SMALL, args.objects.max(1))
            } else {
                (args.size, 1)
            };
            eprintln!("uploading {objects} object(s) of {size} bytes to read…");
            let urls = prepare_gets(&ctx, n, objects, size).await?;
            (size, Work::Get(Arc::new(urls)))
        }
        Scenario::E2e => {
            if ctx.target != Target::Stowage {
                return Err("e2e is a Stowage scenario".into());
            }
            (SMALL, Work::E2e)
        }
        Scenario::Presign => (SMALL, Work::Presign),
        Scenario::Sha256
        | Scenario::Sha256Md5
        | Scenario::Fsync4k
        | Scenario::SinkPut
        | Scenario::SinkGet
        | Scenario::SinkGetCurl => unreachable!("handled above"),
    };
    let limit = match (&work, args.scenario) {
        (Work::Put(jobs), Scenario::LargePut) => Limit::Count(jobs.len() as u64),
        (Work::Put(jobs), _) => match timed(args.count) {
            Limit::Count(c) => Limit::Count(c.min(jobs.len() as u64)),
            other => other,
        },
        (_, Scenario::GetLarge) => Limit::Count(default_count(1)),
        _ => timed(args.count),
    };

    // The timed phase.
    let start_rss = args.server_pid.and_then(|p| {
        let reset = reset_peak_rss(p);
        if !reset {
            eprintln!(
                "warning: could not reset the peak RSS of pid {p}; VmHWM covers its whole life"
            );
        }
        proc_status_kib(p, "VmRSS")
    });
    let started = Instant::now();
    let plan = Arc::new(Plan {
        next: AtomicU64::new(0),
        limit,
        pace: args.rate.filter(|r| *r > 0.0).map(|r| (started, r)),
    });
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (ctx, plan, work) = (ctx.clone(), plan.clone(), work.clone());
        tasks.push(tokio::spawn(
            async move { worker(ctx, plan, work, size).await },
        ));
    }
    let mut tally = Tally::default();
    for t in tasks {
        match t.await {
            Ok(t) => tally.merge(t),
            Err(e) => return Err(format!("a worker failed: {e}")),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if let (Work::Put(jobs), Limit::Until(t)) = (&work, limit) {
        if tally.ops + tally.errors >= jobs.len() as u64 && Instant::now() < t {
            note = Some(format!(
                "pool of {} prepared URLs ran out before --duration; raise --prepare",
                jobs.len()
            ));
        }
    }
    let peak = args.server_pid.and_then(|p| proc_status_kib(p, "VmHWM"));
    if let Some(p) = args.server_pid {
        if peak.is_none() {
            eprintln!("warning: cannot read /proc/{p}/status (is the server running?)");
        }
    }
    Ok(Report {
        scenario: args.scenario,
        target: Some(args.target),
        tally,
        secs,
        connections: n,
        size,
        peak_rss_kib: peak,
        start_rss_kib: start_rss,
        note,
        errors_shown: ctx.errors.take(),
    })
}

#[derive(Clone)]
enum Work {
    Put(Arc<Vec<PutJob>>),
    Get(Arc<Vec<String>>),
    E2e,
    Presign,
}

async fn worker(ctx: Arc<Ctx>, plan: Arc<Plan>, work: Work, size: u64) -> Tally {
    let mut conn = ctx.conn();
    let mut t = Tally::default();
    while let Some(i) = plan.take() {
        // Latency counts from the due time when the driver is behind
        // schedule (the server's backlog), but not for the up to 1 ms by
        // which tokio's timer wakes late. Closed loop (no --rate): no
        // timer at all.
        let started = match plan.pace {
            None => Instant::now(),
            Some(_) => {
                let due = plan.due(i);
                tokio::time::sleep_until(due.into()).await;
                let woke = Instant::now();
                if woke.duration_since(due) <= Duration::from_millis(1) {
                    woke
                } else {
                    due
                }
            }
        };
        let result = match &work {
            Work::Put(jobs) => match jobs.get(i as usize) {
                Some(job) => ctx.put(&mut conn, job).await,
                None => break,
            },
            Work::Get(urls) => {
                let url = &urls[(i % urls.len() as u64) as usize];
                ctx.get(&mut conn, url, size).await
            }
            Work::E2e => e2e_once(&ctx, &mut conn, i).await,
            Work::Presign => {
                let sha: [u8; 32] = Sha256::digest(format!("{}-{i}", ctx.gen.nonce)).into();
                ctx.stowage_presign(&mut conn, Uuid::new_v4(), sha, SMALL)
                    .await
                    .and_then(|url| {
                        url.map(|_| 0)
                            .ok_or_else(|| "presign answered 200 (already stored)".to_owned())
                    })
            }
        };
        match result {
            Ok(bytes) => t.ok(started, bytes),
            Err(e) => {
                t.errors += 1;
                ctx.errors.record(e);
            }
        }
    }
    t
}

async fn e2e_once(ctx: &Ctx, conn: &mut Conn, i: u64) -> Result<u64, String> {
    // e2e objects are numbered apart from any other scenario's in this run.
    let job = ctx.prepare_put(conn, (1 << 40) + i, SMALL).await?;
    let bytes = ctx.put(conn, &job).await?;
    if let Some(id) = job.id {
        ctx.stowage_complete(conn, id).await?;
    }
    Ok(bytes)
}

/// Prepares `pool` PUT jobs over `n` connections, in index order.
async fn prepare_puts(
    ctx: &Arc<Ctx>,
    n: usize,
    pool: u64,
    size: u64,
) -> Result<Vec<PutJob>, String> {
    let next = Arc::new(AtomicU64::new(0));
    let workers = if size > 8 * MIB { 1 } else { n.min(16) };
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = ctx.conn();
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pool {
                    return Ok(out);
                }
                out.push(ctx.prepare_put(&mut conn, i, size).await?);
            }
        }));
    }
    let mut jobs = Vec::with_capacity(pool as usize);
    for t in tasks {
        let r: Result<Vec<PutJob>, String> =
            t.await.map_err(|e| format!("setup task failed: {e}"))?;
        jobs.extend(r.map_err(|e| format!("setup failed: {e}"))?);
    }
    jobs.sort_by_key(|j| j.idx);
    Ok(jobs)
}

/// Uploads `objects` objects of `size` over up to `n` connections; returns their GET URLs.
async fn prepare_gets(
    ctx: &Arc<Ctx>,
    n: usize,
    objects: u64,
    size: u64,
) -> Result<Vec<String>, String> {
    let next = Arc::new(AtomicU64::new(0));
    let workers = n.min(16).min(objects as usize).max(1);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = ctx.conn();
            let mut out = VecDeque::new();
            loop {
                // GET objects are numbered apart from PUT objects of the same run.
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= objects {
                    return Ok(out);
                }
                out.push_back(ctx.upload_for_get(&mut conn, (1 << 41) + i, size).await?);
            }
        }));
    }
    let mut urls = Vec::with_capacity(objects as usize);
    for t in tasks {
        let r: Result<VecDeque<String>, String> =
            t.await.map_err(|e| format!("setup task failed: {e}"))?;
        urls.extend(r.map_err(|e| format!("setup failed: {e}"))?);
    }
    Ok(urls)
}

// ---------------------------------------------------------------------------------------------
// Machine limits

/// One core hashing `--size` bytes (at least 64 MiB) from a 1 MiB buffer.
fn hash_limit(args: &Args) -> Report {
    let gen = Gen::new();
    let buf = gen.block.clone();
    let total = args.size.max(64 * MIB);
    let with_md5 = args.scenario == Scenario::Sha256Md5;
    // Warm-up (CPU frequency, page faults).
    let _ = Sha256::digest(&buf);
    let started = Instant::now();
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut done = 0u64;
    while done < total {
        sha.update(&buf);
        if with_md5 {
            md5.update(&buf);
        }
        done += buf.len() as u64;
    }
    let mut digest = String::new();
    for b in sha.finalize() {
        let _ = write!(digest, "{b:02x}");
    }
    let _ = md5.finalize();
    let mut tally = Tally::default();
    tally.ok(started, done);
    Report {
        scenario: args.scenario,
        target: None,
        secs: started.elapsed().as_secs_f64(),
        tally,
        connections: 1,
        size: total,
        peak_rss_kib: None,
        start_rss_kib: None,
        note: Some(format!(
            "one core, 1 MiB buffers, sha256 {}…",
            &digest[..16]
        )),
        errors_shown: Vec::new(),
    }
}

/// `--connections` writers each storing 4 KiB files durably as the server's blob store does
/// (write, fsync, rename, fsync the directory) in `--dir`, for `--duration` (default 5 s) or
/// `--count` files per writer.
async fn fsync_limit(args: &Args) -> Result<Report, String> {
    let dir = args
        .dir
        .clone()
        .ok_or_else(|| "--dir is required for fsync-4k".to_owned())?
        .join(format!("fsync-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let until = Instant::now() + Duration::from_secs_f64(args.duration.unwrap_or(5.0));
    let per_writer = args.count;
    let started = Instant::now();
    let mut threads = Vec::new();
    for w in 0..args.connections.max(1) {
        let dir = dir.clone();
        threads.push(tokio::task::spawn_blocking(
            move || -> Result<Tally, String> {
                use std::io::Write as _;
                let data = vec![0x5au8; SMALL as usize];
                let mut t = Tally::default();
                let mut i = 0u64;
                while per_writer.map_or(Instant::now() < until, |c| i < c) {
                    let op = Instant::now();
                    let tmp = dir.join(format!("tmp-{w}-{i}"));
                    let fin = dir.join(format!("f-{w}-{i}"));
                    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("create: {e}"))?;
                    f.write_all(&data).map_err(|e| format!("write: {e}"))?;
                    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
                    std::fs::rename(&tmp, &fin).map_err(|e| format!("rename: {e}"))?;
                    std::fs::File::open(&dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| format!("directory fsync: {e}"))?;
                    t.ok(op, SMALL);
                    i += 1;
                }
                Ok(t)
            },
        ));
    }
    let mut tally = Tally::default();
    let mut failure = None;
    for t in threads {
        match t.await {
            Ok(Ok(t)) => tally.merge(t),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(format!("writer failed: {e}")),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Report {
        scenario: args.scenario,
        target: None,
        tally,
        secs,
        connections: args.connections.max(1),
        size: SMALL,
        peak_rss_kib: None,
        start_rss_kib: None,
        note: Some("write+fsync+rename+dir fsync per file".into()),
        errors_shown: Vec::new(),
    })
}

/// Downloads `url` with `curl -o /dev/null`; returns the bytes received.
async fn curl_get(url: &str) -> Result<u64, String> {
    let url = url.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{size_download}", &url])
            .output()
    })
    .await
    .map_err(|e| format!("curl task failed: {e}"))?
    .map_err(|e| format!("cannot run curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("curl printed no size: {e}"))
}

/// Loopback ceiling: an in-process hyper server that hashes what is PUT (SHA-256, like the
/// gateway's ingest, without disk) or serves `--size` generated bytes to a GET, driven by the
/// same client code over `--count` (default 3) sequential operations on one connection.
async fn sink_limit(args: &Args) -> Result<Report, String> {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let gen = Gen::new();
    let size = args.size;
    let server_gen = gen.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let gen = server_gen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let gen = gen.clone();
                    async move {
                        let resp = if req.method() == Method::PUT {
                            let mut body = req.into_body();
                            let mut sha = Sha256::new();
                            while let Some(Ok(frame)) = body.frame().await {
                                if let Ok(d) = frame.into_data() {
                                    sha.update(&d);
                                }
                            }
                            let digest: [u8; 32] = sha.finalize().into();
                            Response::new(ReqBody::Full(Some(Bytes::copy_from_slice(&digest))))
                        } else {
                            Response::new(ReqBody::Gen(gen.body(0, size)))
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(4 * CHUNK)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let url = format!("http://{addr}/sink");
    let mut conn = Conn::new(addr, Duration::from_secs(args.timeout.unwrap_or(600)));
    let put = args.scenario == Scenario::SinkPut;
    let mut tally = Tally::default();
    let mut errors = Vec::new();
    let started = Instant::now();
    for i in 0..args.count.unwrap_or(3) {
        let op = Instant::now();
        if args.scenario == Scenario::SinkGetCurl {
            match curl_get(&url).await {
                Ok(n) if n == size => tally.ok(op, size),
                Ok(n) => {
                    tally.errors += 1;
                    errors.push(format!("curl received {n} of {size} bytes"));
                }
                Err(e) => {
                    tally.errors += 1;
                    errors.push(e);
                }
            }
            continue;
        }
        let req = if put {
            request_for_url(Method::PUT, &url, &[], ReqBody::Gen(gen.body(i, size)))?
        } else {
            request_for_url(Method::GET, &url, &[], ReqBody::empty())?
        };
        match conn.call(req, false).await {
            Ok(a) if a.status.is_success() && (put || a.len == size) => tally.ok(op, size),
            Ok(a) => {
                tally.errors += 1;
                errors.push(a.describe("sink"));
            }
            Err(e) => {
                tally.errors += 1;
                errors.push(e);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    server.abort();
    errors.truncate(MAX_ERRORS_SHOWN);
    Ok(Report {
        scenario: args.scenario,
        target: None,
        tally,
        secs,
        connections: 1,
        size,
        peak_rss_kib: None,
        start_rss_kib: None,
        note: Some(if put {
            "loopback PUT into an in-process SHA-256 sink".into()
        } else if args.scenario == Scenario::SinkGetCurl {
            "loopback GET by curl -o /dev/null from an in-process generator".into()
        } else {
            "loopback GET from an in-process generator".into()
        }),
        errors_shown: errors,
    })
}
