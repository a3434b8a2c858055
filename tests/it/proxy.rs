//! The reverse-proxy example, `deploy/nginx.conf`, run for real: Debian's
//! nginx (`.ci/run` installs it) terminates TLS on a port of its own in
//! front of the gateway, with the example's server block as shipped (only
//! its address, certificate paths and upstream changed). Presigned URLs
//! made for the proxy's address must work through it: curl uploads and
//! downloads, `stowage upload` sends a file whole and one in parts over
//! HTTPS (trusting the test certificate with `--ca-cert`), and an altered
//! URL is still refused by the gateway behind it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::tls::{curl, curl_post_json, curl_put_png, Tls};

const MIB: usize = 1024 * 1024;

/// nginx running the example's server block; stopped on drop.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is not installed (.ci/run installs Debian's nginx)")
}

/// The example's `server { … }` block, pointed at `port`, `tls` and
/// `upstream`; everything else as shipped.
fn example_server_block(port: u16, tls: &Tls, upstream: std::net::SocketAddr) -> String {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let block = &shipped[shipped.find("server {").expect("a server block")..];
    let replace = |text: String, from: &str, to: &str| {
        assert!(text.contains(from), "the example no longer has `{from}`");
        text.replace(from, to)
    };
    let block = replace(
        block.to_string(),
        "listen 443 ssl",
        &format!("listen 127.0.0.1:{port} ssl"),
    );
    let block = replace(
        block,
        "/etc/ssl/certs/files.site.lan.pem",
        &tls.path("cert.pem"),
    );
    let block = replace(
        block,
        "/etc/ssl/private/files.site.lan.key",
        &tls.path("key.pem"),
    );
    replace(
        block,
        "http://127.0.0.1:8080",
        &format!("http://{upstream}"),
    )
}

fn start_nginx(server_block: &str, port: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let conf = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {pid};\n\
         error_log {err} warn;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  \
         proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  \
         scgi_temp_path {t}/scgi;\n{server_block}\n}}\n",
        pid = p("nginx.pid"),
        err = p("error.log"),
        t = dir.path().display(),
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let check = Command::new(nginx_binary())
        .args(["-t", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t refused the example: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            p("error.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, dir }
}

#[test]
fn presigned_urls_work_through_the_example_nginx_proxy() {
    let tls = Tls::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let front = format!("https://127.0.0.1:{port}");
    // The gateway knows the address clients use: the proxy's.
    let s = TestServer::start_with(&format!("public_url = \"{front}\"\n"));
    let nginx = start_nginx(&example_server_block(port, &tls, s.addr), port);

    // The API flow with curl, through the proxy.
    let f = TestFile::new(3 * MIB);
    let (ok, code, body) = curl_post_json(
        &tls,
        &s.token,
        &f.declaration().to_string(),
        &format!("{front}/api/inspect/v1/file/upload/presigned"),
    );
    assert!(ok && code == 201, "{code} {body}");
    let url = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&front), "{url}");
    let file = nginx.dir.path().join("photo.png");
    std::fs::write(&file, &f.bytes).unwrap();
    // An altered URL is refused by the gateway, through the proxy.
    let altered = with_param(&url, "X-Stowage-Name", "other.png");
    let (_, code, body) = curl_put_png(&tls, &file, &altered);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    s.assert_nothing_stored(&f);
    // curl sends `Expect: 100-continue` for a body this size.
    let (ok, code, body) = curl_put_png(&tls, &file, &url);
    assert!(ok && code == 200, "{code} {body}");
    let c = s.complete(&f.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let download = c.json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(download.starts_with(&front), "{download}");
    let copy = nginx.dir.path().join("copy.png");
    let (ok, code, _) = curl(&tls, &["-o", copy.to_str().unwrap(), &download]);
    assert!(ok && code == 200, "{code}");
    assert!(
        std::fs::read(&copy).unwrap() == f.bytes,
        "the download differs"
    );

    // The upload client over HTTPS through the proxy: one file whole, one
    // in parts.
    let small = nginx.dir.path().join("note.txt");
    let large = nginx.dir.path().join("survey.bin");
    let mut big = vec![0u8; 12 * MIB];
    stowage::random::fill(&mut big);
    std::fs::write(&small, b"through the proxy").unwrap();
    std::fs::write(&large, &big).unwrap();
    let out = Command::new(BIN)
        .args([
            "upload",
            "--parts-above",
            "8M",
            "--part-size",
            "5M",
            "--ca-cert",
        ])
        .arg(tls.path("cert.pem"))
        .arg(&small)
        .arg(&large)
        .env("STOWAGE_SERVER", &front)
        .env("STOWAGE_TOKEN", &s.token)
        .env("HOME", nginx.dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("2 uploaded, 0 already on the server, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("part 3/3 sent"), "{stdout}");
    let id = stdout
        .lines()
        .find(|l| l.starts_with("uploaded") && l.contains("survey.bin"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .to_string();
    let dl = s.file(&id).json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    // Signed for the proxy's host: good through the proxy only.
    let (status, _, _) = get(&dl.replace(&front, &s.base));
    assert_eq!(status, 403);
    let copy = nginx.dir.path().join("survey.copy");
    let (ok, code, _) = curl(&tls, &["-o", copy.to_str().unwrap(), &dl]);
    assert!(ok && code == 200, "{code}");
    assert!(
        std::fs::read(&copy).unwrap() == big,
        "the part-wise file differs"
    );
}

/// Issue 13, finding 7, through the shipped proxy with `trusted_proxies`
/// naming it: every request reaches the gateway from 127.0.0.1, but each
/// client is counted by the address nginx forwards. One client (connecting
/// from 127.0.0.2, and writing an X-Forwarded-For of its own to pose as
/// someone else) floods bad signatures and is throttled; its valid URL, and
/// another client's (127.0.0.3) requests, good and bad, are answered for
/// what they are.
#[test]
fn one_client_failing_through_the_proxy_is_throttled_alone() {
    let tls = Tls::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let front = format!("https://127.0.0.1:{port}");
    let s = TestServer::start_with(&format!(
        "public_url = \"{front}\"\n[limits]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         auth_failures_per_sec = 1\n"
    ));
    let nginx = start_nginx(&example_server_block(port, &tls, s.addr), port);
    let put_from = |client: &str, file: &std::path::Path, url: &str, extra: &[&str]| {
        let mut args = vec!["--interface", client, "-X", "PUT"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "-H",
            "Content-Type: image/png",
            "--upload-file",
            file.to_str().unwrap(),
            url,
        ]);
        curl(&tls, &args)
    };
    let mine = TestFile::new(1000);
    let theirs = TestFile::new(2000);
    let (my_file, their_file) = (
        nginx.dir.path().join("a.png"),
        nginx.dir.path().join("b.png"),
    );
    std::fs::write(&my_file, &mine.bytes).unwrap();
    std::fs::write(&their_file, &theirs.bytes).unwrap();
    let my_url = s.presign_url(&mine);
    let their_url = s.presign_url(&theirs);
    let forged = with_param(&my_url, "X-Stowage-Name", "other.png");
    let pose = ["-H", "X-Forwarded-For: 198.51.100.1"];
    let mut failures = 0;
    let throttled = loop {
        let (_, code, body) = put_from("127.0.0.2", &my_file, &forged, &pose);
        if code == 429 {
            break body;
        }
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("SignatureDoesNotMatch"), "{body}");
        failures += 1;
        assert!(failures < 100, "never throttled");
    };
    assert!(failures >= 10, "throttled after {failures} failures");
    assert!(throttled.contains("<Code>SlowDown</Code>"), "{throttled}");
    s.assert_nothing_stored(&mine);
    // The other client's failure is its own, and its upload goes through.
    let (_, code, body) = put_from("127.0.0.3", &their_file, &forged, &[]);
    assert_eq!(code, 403, "{body}");
    let (ok, code, body) = put_from("127.0.0.3", &their_file, &their_url, &[]);
    assert!(ok && code == 200, "{code} {body}");
    // The flooding client's own valid URL works too.
    let (ok, code, body) = put_from("127.0.0.2", &my_file, &my_url, &pose);
    assert!(ok && code == 200, "{code} {body}");
    assert_eq!(s.status_of(&mine.id), "uploaded");
    assert_eq!(s.status_of(&theirs.id), "uploaded");
}
