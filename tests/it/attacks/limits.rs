//! Limits an attacker runs into: how long a signed URL may live, how many
//! failed authentications one client may make (and only that client, even
//! behind the shipped proxy), and how long an unauthenticated form may take
//! to reach its signature.

use super::*;

/// Objects stored under any key in any bucket (`bucket/key`).
fn objects(g: &Gateway) -> Vec<String> {
    g.index_rows("SELECT bucket || '/' || key FROM objects")
}

/// Finding 10: a SigV2 query URL that expires a century from now would be a
/// credential nobody can withdraw short of rotating the key. It is refused
/// like a SigV4 URL of more than 7 days, and a PUT through it stores
/// nothing; the same URL signed for a minute works.
#[test]
fn a_sigv2_url_valid_for_a_century_is_refused() {
    let g = Gateway::start("", "");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let century = now + 100 * 365 * 86_400;
    let url = g.v2_presigned(&g.main, "PUT", "/uploads/forever", &[], century);
    let r = g.send("PUT", &url, &[], b"kept for ever");
    let why = r.assert_s3_error(403, "AccessDenied");
    assert!(why.contains("at most 7 days"), "{why}");
    assert!(!r.body.contains("Signature="), "{}", r.body);
    assert_eq!(objects(&g), Vec::<String>::new());
    // A GET through such a URL is refused as well.
    let url = g.v2_presigned(&g.main, "GET", "/uploads/forever", &[], century);
    g.send("GET", &url, &[], b"")
        .assert_s3_error(403, "AccessDenied");
    // The refusal is the lifetime's: a short-lived URL for the same PUT works.
    let url = g.v2_presigned(&g.main, "PUT", "/uploads/forever", &[], now + 60);
    assert_eq!(g.send("PUT", &url, &[], b"a minute").status, 200);
    assert_eq!(objects(&g), vec!["uploads/forever".to_string()]);
}

/// [`Gateway::send`] from the local address `from` (any 127.x.y.z reaches
/// the gateway over loopback): a peer other than the trusted proxy's
/// 127.0.0.1.
fn send_from(
    g: &Gateway,
    from: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    let mut conn = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(local).unwrap();
        let stream = socket.connect(g.addr).await.unwrap();
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    });
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    conn.write_all(&g.request_bytes(method, target, headers, body))
        .unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    Resp::from_raw(&String::from_utf8_lossy(&out))
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// A key pair with the main key's id and a wrong secret: every signature
/// made with it is a failed authentication.
fn forged() -> Credentials {
    Credentials {
        access_key_id: MAIN_KEY.into(),
        secret_access_key: "not-the-secret-of-the-main-key".into(),
    }
}

/// Waits until the gateway's log has a line with every one of `words`.
fn wait_for_log_line(g: &Gateway, words: &[&str]) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = g.served.stderr();
        if let Some(line) = log.lines().find(|l| words.iter().all(|w| l.contains(w))) {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < until,
            "no log line with {words:?}:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends forged PUTs (claiming the client address `xff`, when given) until
/// one is throttled; asserts that the first `burst` were refused for their
/// signature, and returns the throttled answer.
fn flood_until_throttled(g: &Gateway, burst: usize, send: impl Fn(usize) -> Resp) -> Resp {
    for i in 0..(burst * 10) {
        let r = send(i);
        if r.status == 429 {
            assert!(
                i >= burst,
                "throttled after {i} failures, before the burst of {burst}"
            );
            return r;
        }
        r.assert_s3_error(403, "SignatureDoesNotMatch");
    }
    panic!(
        "{} failures and never throttled: {}",
        burst * 10,
        g.served.stderr()
    );
}

/// Finding 7: behind the shipped proxy every client's TCP peer is
/// 127.0.0.1. A flood of bad signatures from one client (named by the
/// proxy's X-Forwarded-For) is throttled; that client's own valid requests
/// (a presigned URL, a token) and every other client's requests still go
/// through, another client's failures are counted apart, nothing of the
/// flood is stored, and the access log names each client.
#[test]
fn a_flood_of_bad_signatures_behind_the_proxy_throttles_only_its_failures() {
    // Limits hold per gateway.
    let g = Gateway::start_single(
        "",
        "[limits]\ntrusted_proxies = [\"127.0.0.1\"]\nauth_failures_per_sec = 1\n",
    );
    let flooder = "203.0.113.66";
    let other = "198.51.100.7";
    let from = |client: &str| vec![header("x-forwarded-for", client)];
    let forged_put = |client: &str, i: usize| {
        let url = g.v4_presigned(&forged(), "PUT", &format!("/uploads/flood-{i}"), &[], 60);
        g.send("PUT", &url, &from(client), b"flood")
    };
    let throttled = flood_until_throttled(&g, 10, |i| forged_put(flooder, i));
    let why = throttled.assert_s3_error(429, "SlowDown");
    assert!(why.contains("failed authentication"), "{why}");
    assert!(throttled.header("retry-after").is_some());
    assert!(
        !throttled.body.contains("X-Amz-Signature"),
        "{}",
        throttled.body
    );
    // The flooder's next failure is throttled too…
    forged_put(flooder, 1000).assert_s3_error(429, "SlowDown");
    // …but a valid presigned URL from the very same client goes through,
    let url = g.v4_presigned(&g.main, "PUT", "/uploads/from-the-flooder", &[], 60);
    assert_eq!(g.send("PUT", &url, &from(flooder), b"mine").status, 200);
    // SigV2 alike: a forged signature is throttled, a valid URL served.
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
    let url = g.v2_presigned(&forged(), "PUT", "/uploads/flood-v2", &[], expires);
    g.send("PUT", &url, &from(flooder), b"flood")
        .assert_s3_error(429, "SlowDown");
    let url = g.v2_presigned(&g.main, "GET", "/uploads/from-the-flooder", &[], expires);
    let r = g.send("GET", &url, &from(flooder), b"");
    assert_eq!((r.status, r.body.as_str()), (200, "mine"));
    // and so does its JSON API request with a valid token.
    let mut with_token = from(flooder);
    with_token.push(header("authorization", &format!("Bearer {}", g.token)));
    let r = g.send("GET", "/api/inspect/v1/files", &with_token, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    // Another client behind the same proxy has its own count: its failure
    // is answered for what it is, and its valid requests are served.
    forged_put(other, 2000).assert_s3_error(403, "SignatureDoesNotMatch");
    let url = g.v4_presigned(&g.main, "GET", "/uploads/from-the-flooder", &[], 60);
    let r = g.send("GET", &url, &from(other), b"");
    assert_eq!((r.status, r.body.as_str()), (200, "mine"));
    // Nothing of the flood was stored.
    assert_eq!(objects(&g), vec!["uploads/from-the-flooder".to_string()]);
    // The access log names the client the proxy forwarded.
    let line = wait_for_log_line(&g, &[&format!("client={flooder}"), "status=429"]);
    assert!(!line.contains("X-Amz-Signature"), "{line}");
    wait_for_log_line(&g, &[&format!("client={other}"), "status=200"]);
}

/// Finding 7: a peer that is not a trusted proxy cannot dodge its own limit
/// by naming a new address in X-Forwarded-For or Forwarded with each
/// attempt; its failures are its own (the address it connects from), and
/// its valid requests are still served.
#[test]
fn an_untrusted_peer_cannot_dodge_its_limit_with_forwarding_headers() {
    // Limits hold per gateway.
    let g = Gateway::start_single(
        "",
        "[limits]\ntrusted_proxies = [\"127.0.0.1\"]\nauth_failures_per_sec = 1\n",
    );
    let peer = "127.0.0.2";
    let invented = |i: usize| {
        vec![
            header("x-forwarded-for", &format!("10.{}.{}.1", i / 200, i % 200)),
            header("forwarded", &format!("for=10.99.{}.{}", i / 200, i % 200)),
        ]
    };
    let throttled = flood_until_throttled(&g, 10, |i| {
        let url = g.v4_presigned(&forged(), "PUT", &format!("/uploads/dodge-{i}"), &[], 60);
        send_from(&g, peer, "PUT", &url, &invented(i), b"dodge")
    });
    throttled.assert_s3_error(429, "SlowDown");
    // Its valid request is served.
    let url = g.v4_presigned(&g.main, "PUT", "/uploads/honest", &[], 60);
    let r = send_from(&g, peer, "PUT", &url, &invented(999), b"honest");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(objects(&g), vec!["uploads/honest".to_string()]);
    // The log has the peer's address, never one it invented.
    wait_for_log_line(&g, &[&format!("client={peer}"), "status=429"]);
    assert!(
        !g.served.stderr().contains("client=10."),
        "{}",
        g.served.stderr()
    );
}

/// The fields of a form upload to bucket `uploads`, signed by the main key
/// with a SigV4 POST policy allowing keys under `prefix`.
fn signed_form_fields(g: &Gateway, prefix: &str) -> Vec<(String, String)> {
    let conditions = [
        serde_json::json!({"bucket": "uploads"}),
        serde_json::json!(["starts-with", "$key", prefix]),
        serde_json::json!(["content-length-range", 1, 1_000_000]),
    ];
    let key = format!("{prefix}${{filename}}");
    g.form(&g.main, true, &conditions, &[("key", &key)])
}

/// The request head of a form upload of `length` bytes to `uploads`, from
/// a page on `origin` if given.
fn form_request_head(g: &Gateway, length: usize, origin: Option<&str>) -> Vec<u8> {
    let origin = origin.map_or(String::new(), |o| format!("origin: {o}\r\n"));
    format!(
        "POST /uploads HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; \
         boundary={FORM_BOUNDARY}\r\ncontent-length: {length}\r\n{origin}connection: close\r\n\r\n",
        g.host
    )
    .into_bytes()
}

/// Reads `conn` until the gateway closes it; fails the test if that takes
/// longer than `limit` (a bound on a hang, not a measure of speed).
fn read_to_close(conn: &mut TcpStream, limit: std::time::Duration) -> String {
    use std::io::Read;
    conn.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the gateway never closed the connection: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finding 8: form uploads are read before they are authenticated. Clients
/// that send a real-looking form a byte at a time, as many as the gateway's
/// connection limit, are each cut off with 400 RequestTimeout once the
/// (here short) deadline for the fields passes; the gateway is healthy
/// again afterwards and stored nothing. A signed form whose file then
/// arrives slowly, for longer than that deadline, is still stored: the
/// deadline ends at the signature. A page posting across origins can read
/// the refusal (it keeps its CORS headers).
#[test]
fn slow_unauthenticated_form_posts_are_cut_off_and_the_gateway_recovers() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let g = Gateway::start(
        "",
        "[limits]\nmax_connections = 4\nform_fields_timeout_secs = 1\n\
         [cors]\nallowed_origins = [\"https://app.site.lan\"]\n",
    );
    let form = form_head(&signed_form_fields(&g, "slow/"), "never.txt");
    let origin = "https://app.site.lan";
    let posters: Vec<_> = (0..4)
        .map(|i| {
            let mut conn = g.connect();
            let from_page = (i == 0).then_some(origin);
            conn.write_all(&form_request_head(&g, form.len() + 100, from_page))
                .unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let mut writer = conn.try_clone().unwrap();
            let (form, halt) = (form.clone(), stop.clone());
            // One byte every 200 ms until the gateway stops listening.
            let trickle = std::thread::spawn(move || {
                for b in form {
                    if halt.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            });
            (conn, stop, trickle)
        })
        .collect();
    for (i, (mut conn, stop, trickle)) in posters.into_iter().enumerate() {
        let answer = read_to_close(&mut conn, std::time::Duration::from_secs(30));
        stop.store(true, Ordering::Relaxed);
        trickle.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let r = Resp::from_raw(&answer);
        let why = r.assert_s3_error(400, "RequestTimeout");
        assert!(why.contains("Nothing was stored"), "{why}");
        assert!(!answer.contains("x-amz-signature"), "{answer}");
        if i == 0 {
            assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        }
    }
    // Their slots are given back: the gateway answers /healthz again.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = g.anonymous("GET", "/healthz");
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(std::time::Instant::now() < until, "never healthy again");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(objects(&g), Vec::<String>::new());

    // A signed form sent at once, whose file then trickles for longer than
    // the fields' deadline, is stored: the file streams at its own pace.
    let head = form_head(&signed_form_fields(&g, "slow/"), "patient.txt");
    let file = b"one chunk at a time".to_vec();
    let mut conn = g.connect();
    let length = head.len() + file.len() + form_tail().len();
    conn.write_all(&form_request_head(&g, length, None))
        .unwrap();
    conn.write_all(&head).unwrap();
    for chunk in file.chunks(4) {
        std::thread::sleep(std::time::Duration::from_millis(400));
        conn.write_all(chunk).unwrap();
    }
    conn.write_all(&form_tail()).unwrap();
    let answer = read_to_close(&mut conn, std::time::Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(objects(&g), vec!["uploads/slow/patient.txt".to_string()]);
    let url = g.v4_presigned(&g.main, "GET", "/uploads/slow/patient.txt", &[], 60);
    assert_eq!(g.send("GET", &url, &[], b"").body, "one chunk at a time");
}
