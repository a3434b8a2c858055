//! The real `stowage` binary: first-run token, token commands, config
//! errors, and the access log's discretion.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

fn run(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn presign_with(base: &str, token: &str, f: &TestFile) -> Resp {
    Resp::from(
        ureq::post(&format!("{base}/api/inspect/v1/file/upload/presigned"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(&f.declaration().to_string()),
    )
}

#[test]
fn first_start_prints_an_initial_token_once_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let served = Served::start(&config);
    let out = served.stdout();
    let token = out
        .iter()
        .find(|l| l.starts_with("stw_"))
        .unwrap_or_else(|| panic!("no token printed: {out:?}"))
        .clone();
    assert!(
        out.iter()
            .any(|l| l.contains("stowage token revoke initial")),
        "{out:?}"
    );

    // The whole flow through the real binary, then check the log.
    let f = TestFile::new(2048);
    let r = presign_with(&served.base, &token, &f);
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200); // already stored
    assert_eq!(put(&url, "image/gif", &f.bytes).status, 403); // not what was signed

    let secret: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/s3-credentials.json")).unwrap(),
    )
    .unwrap();
    let secret = secret["secret_access_key"].as_str().unwrap().to_string();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_string();
    // Give the access log a moment to be written.
    std::thread::sleep(Duration::from_millis(200));
    let log = served.stderr();
    assert!(log.contains("method=PUT"), "{log}");
    assert!(log.contains(&format!("path=/uploads/{}", f.id)), "{log}");
    assert!(log.contains("request_id="), "{log}");
    for needle in [
        token.as_str(),
        secret.as_str(),
        signature.as_str(),
        "X-Amz-",
    ] {
        assert!(!log.contains(needle), "log leaks {needle}: {log}");
    }
    drop(served);

    // A second start on the same data dir creates no token.
    let again = Served::start(&config);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!again.stdout().iter().any(|l| l.starts_with("stw_")));
    assert_eq!(
        presign_with(&again.base, &token, &TestFile::new(5)).status,
        201
    );
}

#[test]
fn token_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (ok, out, err) = run(
        &[
            "token", "create", "--name", "tablet-7", "--scopes", "upload",
        ],
        &config,
    );
    assert!(ok, "{err}");
    let token = out.lines().last().unwrap().to_string();
    assert!(token.starts_with("stw_"), "{out}");

    let (ok, _, err) = run(&["token", "create", "--name", "tablet-7"], &config);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        &["token", "create", "--name", "x", "--scopes", "write"],
        &config,
    );
    assert!(!ok);
    assert!(err.contains("unknown scope 'write'"), "{err}");

    let served = Served::start(&config);
    let f = TestFile::new(10);
    assert_eq!(presign_with(&served.base, &token, &f).status, 201);

    let (ok, out, _) = run(&["token", "list"], &config);
    assert!(ok);
    assert!(out.contains("tablet-7") && out.contains("active"), "{out}");
    assert!(!out.contains(&token));

    let (ok, out, err) = run(&["token", "revoke", "tablet-7"], &config);
    assert!(ok, "{err}");
    assert!(out.contains("Revoked"));
    presign_with(&served.base, &token, &TestFile::new(10)).assert_json_error(401, "Unauthorized");
    let (_, out, _) = run(&["token", "list"], &config);
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, err) = run(&["token", "revoke", "tablet-7"], &config);
    assert!(!ok);
    assert!(err.contains("no active token"), "{err}");
}

#[test]
fn invalid_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        (
            "[upload]\npresign_expiry_secs = 0\n",
            "upload.presign_expiry_secs",
        ),
        ("[s3]\nbucket = \"Bad_Bucket\"\n", "s3.bucket"),
        ("[upload]\nmax_sise = 1\n", "max_sise"),
    ] {
        let config = write_config(dir.path(), extra);
        let out = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
    }
    // A wildcard listen address needs a public_url: 0.0.0.0 is no URL.
    let config = write_config(dir.path(), "");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_url"));
    // A value of the wrong type names its key.
    let config = write_config(dir.path(), "[upload]\nmax_size = \"5G\"\n");
    let (ok, _, err) = run(&["serve"], &config);
    assert!(!ok);
    assert!(err.contains("`upload.max_size`"), "{err}");
    // An environment variable is checked the same way.
    let config = write_config(dir.path(), "");
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("STOWAGE_UPLOAD_MAX_SIZE", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("upload.max_size"));
    // A missing explicit config file is an error, not a silent default.
    let out = Command::new(BIN)
        .args(["serve", "--config", "/nonexistent/stowage.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/stowage.toml"));
}

#[test]
fn public_url_is_used_in_presigned_urls() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "public_url = \"https://files.site.example\"\n");
    let served = Served::start(&config);
    let token = served
        .stdout()
        .into_iter()
        .find(|l| l.starts_with("stw_"))
        .unwrap();
    let f = TestFile::new(3);
    let r = presign_with(&served.base, &token, &f);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with(&format!("https://files.site.example/uploads/{}?", f.id)),
        "{url}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_and_never_carry_secrets() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut child = Command::new(BIN)
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let token = stdout
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("stw_"))
        .expect("no token printed");
    let mut lines = Vec::new();
    let base = loop {
        let l = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("no listen line");
        let v: serde_json::Value = serde_json::from_str(&l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {l:?} after {lines:#?}"));
        lines.push(l.clone());
        if let Some(addr) = v["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on "))
        {
            break addr.to_string();
        }
    };
    let f = TestFile::new(2000);
    let r = presign_with(&base, &token, &f);
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_string();
    // The two requests' access lines, then stop.
    let mut access = Vec::new();
    while access.len() < 2 {
        let l = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no access line");
        let v: serde_json::Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        if v["message"] == "request" {
            access.push(v);
        }
        lines.push(l);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(access[0]["method"], "POST");
    assert_eq!(access[1]["method"], "PUT");
    assert_eq!(access[1]["status"], 200);
    assert_eq!(access[1]["request_id"].as_str().unwrap().len(), 16);
    for l in &lines {
        assert!(!l.contains(&token), "a token in the log: {l}");
        assert!(!l.contains(&signature), "a signature in the log: {l}");
    }
}

/// The shipped systemd unit is valid as systemd reads it (with the unit's
/// ExecStart pointed at the binary built here).
#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/stowage.service"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stowage.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/stowage", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (systemd) runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// SIGTERM: the gateway stops accepting, an upload in flight that finishes
/// within the grace is stored, one that does not is cut off and leaves no
/// temp file, and the process exits cleanly.
#[test]
fn sigterm_lets_uploads_finish_within_the_grace_then_stops() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[limits]\nshutdown_grace_secs = 3\n");
    let mut served = Served::start(&config);
    let token = served.initial_token();
    let (finishing, stalled) = (TestFile::new(300_000), TestFile::new(300_000));
    let start_put = |f: &TestFile| {
        let r = presign_with(&served.base, &token, f);
        assert_eq!(r.status, 201, "{}", r.body);
        let url = r.json()["data"]["presignedURL"]
            .as_str()
            .unwrap()
            .to_string();
        let (path, host) = split_url(&url);
        let mut c = std::net::TcpStream::connect(host.as_str()).unwrap();
        write!(
            c,
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
            f.bytes.len()
        )
        .unwrap();
        c.write_all(&f.bytes[..100_000]).unwrap();
        c
    };
    let mut a = start_put(&finishing);
    let _b = start_put(&stalled);
    let tmp = dir.path().join("data").join("tmp");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&tmp).unwrap().count() < 2 {
        assert!(std::time::Instant::now() < until, "uploads never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = served.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));
    // No new connections are taken…
    let addr = served.base.trim_start_matches("http://").to_string();
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "a connection was accepted after SIGTERM"
    );
    // …the upload in flight finishes and is stored…
    a.write_all(&finishing.bytes[100_000..]).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = [0u8; 64];
    let n = a.read(&mut answer).unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // …and the stalled one is cut off at the end of the grace.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = served.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running long after the grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status}: {}", served.stderr());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temp files left after shutdown"
    );
    assert!(
        served.stderr().contains("shutdown grace"),
        "{}",
        served.stderr()
    );

    // After a restart: the finished upload is there, the cut one is not.
    let served = Served::start(&config);
    let status_of = |f: &TestFile| {
        let r = Resp::from(
            ureq::get(&format!("{}/api/inspect/v1/file/{}", served.base, f.id))
                .set("Authorization", &format!("Bearer {token}"))
                .call(),
        );
        r.json()["data"]["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status_of(&finishing), "uploaded");
    assert_eq!(status_of(&stalled), "pending");
}
