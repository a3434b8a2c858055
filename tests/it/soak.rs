//! The soak test: the real binary under many concurrent clients for a
//! while — presign, PUT (1 KiB to 64 MiB), complete, GET, list — with some
//! clients breaking off mid-upload. Then: every acknowledged file reads
//! back byte for byte, no request got a 5xx, and neither open file
//! descriptors nor resident memory grew between the first and the last
//! part of the run.
//!
//! `STOWAGE_SOAK_SECS` (default 20, what CI runs) and
//! `STOWAGE_SOAK_CLIENTS` (default 64) size it; past `STOWAGE_SOAK_MAX_BYTES`
//! uploaded (default 4 GB, all kept until the end to be checked) clients
//! send small files only, so a long run fits on the disk. The long run:
//! `STOWAGE_SOAK_SECS=300 STOWAGE_SOAK_CLIENTS=300 cargo test --release --test it soak -- --nocapture`
//! (release: a debug build hashes too slowly for that many clients).

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest as _, Sha256};

use crate::crash::{bytes_of, send, Rng};
use crate::harness::{write_config, Served};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (open file descriptors, resident KiB) of a process.
fn usage(pid: u32) -> (u64, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    (fds, rss)
}

/// A stored file: its id and how to make its bytes again.
#[derive(Clone)]
struct Stored {
    id: String,
    seed: u64,
    len: usize,
    /// The presigned download URL, once completed.
    url: Option<String>,
}

/// Counters shared by the clients.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    aborts: AtomicU64,
    bytes_up: AtomicU64,
    first_5xx: Mutex<Option<String>>,
}

impl Tally {
    fn saw(&self, what: &str, status: u16, body: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
            let mut f = self.first_5xx.lock().unwrap();
            if f.is_none() {
                *f = Some(format!("{what}: {status} {body}"));
            }
        }
    }
}

/// A random upload size; once `full`, small ones only (the run's bytes are
/// kept to check at the end, so their total is bounded by the disk).
fn size(rng: &mut Rng, full: bool) -> usize {
    if full {
        return 1024 + rng.below(63 << 10) as usize;
    }
    match rng.below(100) {
        0..=59 => 1024 + rng.below(63 << 10) as usize,
        60..=94 => (64 << 10) + rng.below(1 << 20) as usize,
        95..=98 => (1 << 20) + rng.below(8 << 20) as usize,
        _ => (8 << 20) + rng.below(56 << 20) as usize,
    }
}

/// One client's loop until `stop`: upload (sometimes breaking off), complete,
/// read back something stored, list now and then.
#[allow(clippy::too_many_arguments)]
fn client(
    base: &str,
    token: &str,
    mut rng: Rng,
    stop: &AtomicBool,
    tally: &Tally,
    stored: &Mutex<Vec<Stored>>,
    n: u64,
    max_bytes: u64,
) {
    // Generous: with hundreds of clients on two cores a 64 MiB upload gets
    // a small share of the machine; this is a test of correctness, not speed.
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1800))
        .build();
    let auth = format!("Bearer {token}");
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let seed = rng.next();
        let full = tally.bytes_up.load(Ordering::Relaxed) > max_bytes;
        let len = size(&mut rng, full);
        let bytes = bytes_of(seed, len);
        let id = uuid::Uuid::from_u64_pair(n, i).to_string();
        let decl = serde_json::json!({
            "id": id,
            "fileName": "soak.bin",
            "contentType": "application/octet-stream",
            "size": len,
            "hash": base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes)),
        });
        let r = send(
            agent
                .post(&format!("{base}/api/inspect/v1/file/upload/presigned"))
                .set("Authorization", &auth)
                .send_string(&decl.to_string()),
        )
        .expect("presign transport");
        tally.saw("presign", r.status, &r.body);
        assert_eq!(r.status, 201, "presign: {}", r.body);
        let url = r.json()["data"]["presignedURL"]
            .as_str()
            .unwrap()
            .to_string();

        // One upload in ten breaks off halfway (a tablet losing its link),
        // then is retried whole.
        if rng.below(10) == 0 {
            let (path, host) = crate::harness::split_url(&url);
            let addr = host.parse::<std::net::SocketAddr>().unwrap();
            if let Ok(mut c) = TcpStream::connect(addr) {
                let head = format!(
                    "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
                );
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&bytes[..len / 2]);
            }
            tally.aborts.fetch_add(1, Ordering::Relaxed);
        }
        let r = send(
            agent
                .put(&url)
                .set("Content-Type", "application/octet-stream")
                .send_bytes(&bytes),
        )
        .expect("PUT transport");
        tally.saw("PUT", r.status, &r.body);
        assert_eq!(r.status, 200, "PUT: {}", r.body);
        tally.bytes_up.fetch_add(len as u64, Ordering::Relaxed);
        let mut entry = Stored {
            id: id.clone(),
            seed,
            len,
            url: None,
        };
        if rng.below(4) != 0 {
            let r = send(
                agent
                    .post(&format!("{base}/api/inspect/v1/file/upload/complete"))
                    .set("Authorization", &auth)
                    .send_string(&serde_json::json!({ "id": id }).to_string()),
            )
            .expect("complete transport");
            tally.saw("complete", r.status, &r.body);
            assert_eq!(r.status, 200, "complete: {}", r.body);
            entry.url = r.json()["data"]["downloadURL"].as_str().map(String::from);
        }
        stored.lock().unwrap().push(entry);

        // Read back one stored file at random.
        let pick = {
            let s = stored.lock().unwrap();
            let with_url: Vec<&Stored> = s.iter().filter(|e| e.url.is_some()).collect();
            (!with_url.is_empty())
                .then(|| with_url[rng.below(with_url.len() as u64) as usize].clone())
        };
        if let Some(e) = pick {
            let url = e.url.as_deref().unwrap();
            match agent.get(url).call() {
                Ok(resp) => {
                    tally.saw("GET", resp.status(), "");
                    let mut body = Vec::new();
                    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
                    assert!(body == bytes_of(e.seed, e.len), "GET {} differs", e.id);
                }
                Err(ureq::Error::Status(s, r)) => {
                    let b = r.into_string().unwrap_or_default();
                    tally.saw("GET", s, &b);
                    panic!("GET {}: {s} {b}", e.id);
                }
                Err(e) => panic!("GET transport: {e}"),
            }
        }
        // And list the file metadata now and then.
        if rng.below(8) == 0 {
            let r = send(
                agent
                    .get(&format!("{base}/api/inspect/v1/file/{id}"))
                    .set("Authorization", &auth)
                    .call(),
            )
            .expect("metadata transport");
            tally.saw("metadata", r.status, &r.body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
}

#[test]
fn many_clients_for_a_while_lose_nothing_and_leak_nothing() {
    let secs = env_u64("STOWAGE_SOAK_SECS", 20);
    let clients = env_u64("STOWAGE_SOAK_CLIENTS", 64);
    // Everything uploaded is kept to be checked at the end: past this many
    // bytes, clients send small files only.
    let max_bytes = env_u64("STOWAGE_SOAK_MAX_BYTES", 4_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[limits]\npresign_per_token_per_sec = 0\n[storage]\nreserve_bytes = 0\n",
    );
    let server = Served::start(&config);
    let token = server.initial_token();
    let pid = server.child.id();
    // Descriptors of the idle gateway (index, log, listener), to compare
    // with once every client has gone.
    let idle_fds_before = usage(pid).0;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let stored = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|n| {
            let (base, token) = (server.base.clone(), token.clone());
            let (stop, tally, stored) = (stop.clone(), tally.clone(), stored.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    client(
                        &base,
                        &token,
                        Rng(0x50AC ^ n),
                        &stop,
                        &tally,
                        &stored,
                        n,
                        max_bytes,
                    )
                })
                .unwrap()
        })
        .collect();
    // Samples of (fds, RSS) once a second; the first and last fifth of the
    // run are compared.
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(usage(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a client failed (see its panic above)");
    }
    let elapsed = started.elapsed();

    assert_eq!(
        tally.server_errors.load(Ordering::Relaxed),
        0,
        "5xx answers, the first: {:?}",
        tally.first_5xx.lock().unwrap()
    );
    // Every acknowledged file, byte for byte, through the S3 view of it.
    let stored = stored.lock().unwrap().clone();
    let agent = ureq::AgentBuilder::new().build();
    let mut checked = 0u64;
    for e in &stored {
        let meta = send(
            agent
                .get(&format!("{}/api/inspect/v1/file/{}", server.base, e.id))
                .set("Authorization", &format!("Bearer {token}"))
                .call(),
        )
        .unwrap();
        assert_eq!(meta.status, 200, "{}", meta.body);
        assert_eq!(meta.json()["data"]["size"], e.len as u64, "{}", meta.body);
        if let Some(url) = &e.url {
            let mut body = Vec::new();
            let resp = agent.get(url).call().unwrap();
            std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
            assert!(body == bytes_of(e.seed, e.len), "{} differs", e.id);
            checked += e.len as u64;
        }
    }
    // Descriptors follow the load (a connection, a temp file and a blob
    // being read per busy client), so a leak shows as a rising floor: the
    // fewest open in the first fifth against the fewest in the last.
    let window = (samples.len() / 5).max(1);
    let (head, tail) = (&samples[..window], &samples[samples.len() - window..]);
    let fds_first = head.iter().map(|s| s.0).min().unwrap_or(0);
    let fds_last = tail.iter().map(|s| s.0).min().unwrap_or(0);
    let rss_first = head.iter().map(|s| s.1).max().unwrap_or(0);
    let rss_last = tail.iter().map(|s| s.1).max().unwrap_or(0);
    // And once every client is gone, the gateway holds what it held idle.
    drop(agent);
    let settle = Instant::now();
    let idle_fds_after = loop {
        let n = usage(pid).0;
        if n <= idle_fds_before + 4 || settle.elapsed() > Duration::from_secs(10) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "soak: {clients} clients, {:.0} s; {} requests, {} uploads ({} MB), {} broken off \
         mid-body, {checked} bytes read back at the end, 0 5xx; open fds (fewest) {fds_first} \
         → {fds_last}, idle {idle_fds_before} before and {idle_fds_after} after; RSS (most) \
         {rss_first} → {rss_last} KiB, first vs last fifth",
        elapsed.as_secs_f64(),
        tally.requests.load(Ordering::Relaxed),
        stored.len(),
        tally.bytes_up.load(Ordering::Relaxed) / 1_000_000,
        tally.aborts.load(Ordering::Relaxed),
    );
    // The floor moves with what the clients happen to be doing (up to a
    // connection, a temp file and a blob per client); a leak grows past it.
    // The strict check is the idle one below.
    let slack = (clients / 2).max(16);
    assert!(
        fds_last <= fds_first + slack,
        "open fds grew under load: {fds_first} → {fds_last} (slack {slack})"
    );
    assert!(
        idle_fds_after <= idle_fds_before + 4,
        "descriptors left open once the clients had gone: {idle_fds_before} → {idle_fds_after}"
    );
    assert!(
        rss_last <= rss_first + rss_first / 2 + 32 * 1024,
        "resident memory grew: {rss_first} → {rss_last} KiB"
    );
    assert!(!stored.is_empty());
}
