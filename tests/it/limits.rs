//! Hostile and broken clients: each test does the bad thing over a real
//! socket — trickles headers, stalls or drops a body, floods connections,
//! headers or presign calls, guesses tokens — and checks that the gateway
//! cuts that client off with its error, keeps nothing of it, and goes on
//! serving everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{put, raw_request, split_url, TestFile, TestServer};

/// Reads from `conn` until the server closes it (or `limit` passes, which
/// fails the test); returns what was read.
pub fn read_until_closed(conn: &mut TcpStream, limit: Duration) -> String {
    conn.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&out).into_owned()
            }
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// Starts a PUT of `file` to `url`, sending the headers and the first
/// `sent` bytes of the body only.
pub fn start_put(server: &TestServer, url: &str, file: &TestFile, sent: usize) -> TcpStream {
    let (path, host) = split_url(url);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        file.bytes.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&file.bytes[..sent]).unwrap();
    conn
}

#[test]
fn slow_loris_headers_are_cut_off_while_others_are_served() {
    let server = TestServer::start_with("[limits]\nheader_timeout_secs = 1\n");
    // Many clients each send part of a request line, then a byte now and
    // then, never finishing their headers.
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = TcpStream::connect(server.addr).unwrap();
            c.write_all(b"POST /api/inspect/v1/file/upload/presigned HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Meanwhile a well-behaved client gets its upload through.
    let file = TestFile::new(10_000);
    let url = server.presign_url(&file);
    assert_eq!(put(&url, "image/png", &file.bytes).status, 200);
    for c in &mut slow {
        let _ = c.write_all(b"X-Slow: 1\r\n");
    }
    // Each slow client is disconnected once its header time is up (with a
    // 408 or a bare close), without a request ever reaching a handler.
    for c in &mut slow {
        let answer = read_until_closed(c, Duration::from_secs(15));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert_eq!(server.status_of(&file.id), "uploaded");
}

#[test]
fn a_stalled_body_is_cut_off_and_leaves_nothing() {
    let server = TestServer::start_with("[limits]\nidle_timeout_secs = 1\n");
    let file = TestFile::new(300_000);
    let url = server.presign_url(&file);
    let mut conn = start_put(&server, &url, &file, 100_000);
    server.await_receiving(1);
    // The client sends nothing more; another client is served meanwhile.
    let other = TestFile::new(5_000);
    let other_url = server.presign_url(&other);
    assert_eq!(put(&other_url, "image/png", &other.bytes).status, 200);
    read_until_closed(&mut conn, Duration::from_secs(15));
    server.assert_nothing_stored(&file);
    // The same URL still works for a complete retry.
    assert_eq!(put(&url, "image/png", &file.bytes).status, 200);
    assert_eq!(server.status_of(&file.id), "uploaded");
}

#[test]
fn a_download_nobody_reads_is_dropped_after_the_idle_timeout() {
    let server = TestServer::start_with("[limits]\nidle_timeout_secs = 1\n");
    let file = TestFile::new(32 << 20);
    let url = server.presign_url(&file);
    assert_eq!(put(&url, "image/png", &file.bytes).status, 200);
    let c = server.complete(&file.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let get_url = c.json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (path, host) = split_url(&get_url);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    // Read a little, then stop reading long enough for the socket buffers
    // to fill and the server's writes to wait past its idle timeout.
    let mut buf = vec![0u8; 64 * 1024];
    conn.read_exact(&mut buf).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // Now read on: the body ends early, far short of 32 MiB.
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut total = buf.len();
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < 32 << 20, "the whole body arrived ({total} bytes)");
    // And the server is fine.
    let (status, _, body) = crate::harness::get(&get_url);
    assert_eq!((status, body.len()), (200, 32 << 20));
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let server = TestServer::start();
    for file in [TestFile::new(200_000), TestFile::new(8 << 20)] {
        let url = server.presign_url(&file);
        let conn = start_put(&server, &url, &file, file.bytes.len() / 2);
        server.await_receiving(1);
        drop(conn);
        server.assert_nothing_stored(&file);
        assert_eq!(put(&url, "image/png", &file.bytes).status, 200);
    }
}

#[test]
fn connections_over_the_limit_get_slow_down() {
    // Limits hold per gateway (README, "Several machines").
    let server = TestServer::start_single_with("[limits]\nmax_connections = 4\n");
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Let the server accept those four first.
    std::thread::sleep(Duration::from_millis(300));
    let answer = raw_request(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("<Code>SlowDown</Code>"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // A slot freed is a slot used again.
    drop(held);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = raw_request(
            server.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        );
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < until, "never served again: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn too_many_or_too_large_headers_get_431() {
    let server = TestServer::start_with("[limits]\nmax_headers = 20\n");
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw_request(server.addr, many.as_bytes(), false);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let answer = raw_request(server.addr, huge.as_bytes(), false);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // Just over the gateway's own limit (64 KiB; below what hyper buffers,
    // so the answer does not depend on how the bytes arrive): its code.
    let over = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(65 * 1024)
    );
    let answer = raw_request(server.addr, over.as_bytes(), false);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        answer.contains("<Code>RequestHeaderSectionTooLarge</Code>"),
        "{answer}"
    );
    // Within the limits, fine (a large header included).
    let answer = raw_request(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let large = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    let answer = raw_request(server.addr, large.as_bytes(), false);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn presign_over_the_token_rate_gets_429_and_creates_nothing() {
    // Limits hold per gateway (README, "Several machines").
    let server = TestServer::start_single_with("[limits]\npresign_per_token_per_sec = 2\n");
    // A burst of twice the rate is allowed…
    let mut granted = 0;
    let mut refused = None;
    for _ in 0..10 {
        let f = TestFile::new(100);
        let r = server.presign(&f);
        match r.status {
            201 => granted += 1,
            429 => {
                refused = Some((f, r));
                break;
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert!((4..=5).contains(&granted), "{granted} granted before 429");
    let (f, r) = refused.expect("never refused");
    let why = r.assert_json_error(429, "TooManyRequests");
    assert!(why.contains("retry after"), "{why}");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // …and the refused request left no row behind.
    assert_eq!(server.file(&f.id).status, 404);
}

#[test]
fn repeated_auth_failures_from_one_address_are_throttled() {
    // Limits hold per gateway (README, "Several machines").
    let server = TestServer::start_single_with("[limits]\nauth_failures_per_sec = 1\n");
    let f = TestFile::new(100);
    let body = f.declaration().to_string();
    let path = "/api/inspect/v1/file/upload/presigned";
    // A burst of ten failures is answered 401 each…
    for _ in 0..10 {
        server
            .post_raw(path, &body, Some("stw_wrong"))
            .assert_json_error(401, "Unauthorized");
    }
    // …then the address's failing requests are answered 429…
    let r = server.post_raw(path, &body, Some("stw_wrong"));
    let why = r.assert_json_error(429, "TooManyRequests");
    assert!(why.contains("failed authentication"), "{why}");
    assert!(!why.contains("stw_wrong"), "{why}");
    assert!(r.header("retry-after").is_some());
    assert_eq!(server.file(&f.id).status, 404);
    // …and so are its failing S3 requests, in XML.
    let (path_s3, _) = split_url(&server.url("/uploads/x"));
    let answer = raw_request(
        server.addr,
        format!(
            "GET {path_s3}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=NOPE%2F20240101%2F\
             us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&\
             X-Amz-SignedHeaders=host&X-Amz-Signature=00 HTTP/1.1\r\nHost: x\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
        false,
    );
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("<Code>SlowDown</Code>"), "{answer}");
    // A request with the right token is served all the while: it failed
    // nothing (issue 13, finding 7).
    assert_eq!(server.presign(&f).status, 201);
    // An unsigned request is not a failed authentication: it is refused
    // for what it is.
    let answer = raw_request(
        server.addr,
        format!("GET {path_s3} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        false,
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // A second later one more failing attempt is heard (and refused as such).
    std::thread::sleep(Duration::from_millis(1100));
    server
        .post_raw(path, &body, Some("stw_wrong"))
        .assert_json_error(401, "Unauthorized");
}

#[test]
fn a_client_that_sends_its_whole_body_still_reads_an_early_refusal() {
    // ureq sends the whole body before reading (no Expect: 100-continue),
    // as browsers do; the refusal comes before the gateway reads any of it.
    let server = TestServer::start();
    let file = TestFile::new(8 << 20);
    let url = server.presign_url(&file);
    for _ in 0..3 {
        let r = crate::harness::Resp::from(
            ureq::put(&url)
                .set("Content-Type", "text/plain")
                .send_bytes(&file.bytes),
        );
        let msg = r.assert_s3_error(403, "SignatureDoesNotMatch");
        assert!(!msg.is_empty());
    }
    server.assert_nothing_stored(&file);
    assert_eq!(put(&url, "image/png", &file.bytes).status, 200);
}
