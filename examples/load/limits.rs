//! Machine limits the benchmark scripts compare against, measured by the same binary: one core
//! hashing, durable 4 KiB files, and loopback PUT/GET into and out of an in-process server.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use md5::Md5;
use serde_json::Map;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::body::{Gen, ReqBody, CHUNK};
use crate::conn::{request_for_url, Conn};
use crate::report::{Report, Tally, MAX_ERRORS_SHOWN};
use crate::{Args, Scenario, MIB, SMALL};

/// One core hashing `--size` bytes (at least 64 MiB) from a 1 MiB buffer.
pub fn hash_limit(args: &Args) -> Report {
    let gen = Gen::new();
    let buf = gen.block.clone();
    let total = args.size().max(64 * MIB);
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
        extra: Map::new(),
    }
}

/// `--connections` writers each storing 4 KiB files durably as the server's blob store does
/// (write, fsync, rename, fsync the directory) in `--dir`, for `--duration` (default 5 s) or
/// `--count` files per writer.
pub async fn fsync_limit(args: &Args) -> Result<Report, String> {
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
        extra: Map::new(),
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
pub async fn sink_limit(args: &Args) -> Result<Report, String> {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let gen = Gen::new();
    let size = args.size();
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
        extra: Map::new(),
    })
}
