//! `stowage upload` and `stowage download`: the real client binary against
//! the real server, as a field technician would run it — a folder half of
//! which is already there, a large upload killed mid-way and run again, a
//! link that drops connections, downloads that must prove their bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::harness::*;
use crate::metrics::total;

const MIB: usize = 1024 * 1024;

/// The client binary, pointed at `server` with `token` through the
/// environment, with a home of its own (no user config file unless the
/// test writes one).
fn client(server: &str, token: &str, home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("STOWAGE_SERVER", server)
        .env("STOWAGE_TOKEN", token)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME");
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the client to its end, asserting success; its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// Bytes of request bodies the server has read so far.
fn bytes_in(s: &TestServer) -> u64 {
    total(s, "stowage_http_request_bytes_total ") as u64
}

/// [`bytes_in`] once it stops moving: a request's bytes are counted when
/// it ends, and the server notices a killed client's requests a little
/// after the kill (a gateway whose store is a cluster later still: a part
/// whose body had all arrived is still being committed upstream). So: once
/// no request with a body is in flight, and then the count holds still.
fn settled_bytes_in(s: &TestServer) -> u64 {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.writes_in_flight() > 0 {
        assert!(
            std::time::Instant::now() < until,
            "requests with a body still in flight"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut last = bytes_in(s);
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = bytes_in(s);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the request byte counter never settled");
}

/// (path, id) of every "uploaded"/"skipped" line.
fn ids(stdout: &str, verb: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(verb))
        .map(|rest| {
            let mut w = rest.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    stowage::random::fill(&mut b);
    b
}

/// The file's bytes as the server gives them back.
fn fetch(s: &TestServer, id: &str) -> (serde_json::Value, Vec<u8>) {
    let meta = s.file(id);
    assert_eq!(meta.status, 200, "{}", meta.body);
    let data = meta.json()["data"].clone();
    assert_eq!(data["status"], "completed", "{data}");
    let (status, _, body) = get(data["downloadURL"].as_str().unwrap());
    assert_eq!(status, 200);
    (data, body)
}

#[test]
fn a_folder_of_photos_half_already_there_sends_only_the_new_half() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (photos, first) = (dir.path().join("photos"), dir.path().join("first"));
    std::fs::create_dir_all(photos.join("site-b")).unwrap();
    std::fs::create_dir_all(&first).unwrap();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for i in 0..100 {
        let ext = if i % 2 == 0 { "jpg" } else { "png" };
        let name = format!("IMG_{i:04}.{ext}");
        // A subfolder too: folders are walked recursively.
        let path = if i >= 90 {
            photos.join("site-b").join(&name)
        } else {
            photos.join(&name)
        };
        let bytes = random_bytes(10_000 + i * 500);
        std::fs::write(&path, &bytes).unwrap();
        if i < 50 {
            std::fs::write(first.join(&name), &bytes).unwrap();
        }
        files.push((path, bytes));
    }

    let stdout = run_ok(
        client(&s.base, &s.token, dir.path())
            .arg("upload")
            .arg(&first),
    );
    assert!(
        stdout.contains("50 uploaded, 0 already on the server, 0 failed"),
        "{stdout}"
    );

    let before = bytes_in(&s);
    let stdout = run_ok(
        client(&s.base, &s.token, dir.path())
            .args(["upload", "--jobs", "8"])
            .arg(&photos),
    );
    assert!(
        stdout.contains("50 uploaded, 50 already on the server, 0 failed"),
        "{stdout}"
    );
    // Only the new half crossed the wire (plus the small JSON calls).
    let sent = bytes_in(&s) - before;
    let new_bytes: u64 = files[50..].iter().map(|(_, b)| b.len() as u64).sum();
    let old_bytes: u64 = files[..50].iter().map(|(_, b)| b.len() as u64).sum();
    assert!(
        sent >= new_bytes && sent < new_bytes + 150_000,
        "sent {sent} bytes for {new_bytes} new ones"
    );
    assert!(
        old_bytes > 150_000,
        "the bound above must exclude the old half"
    );

    // Every file is stored whole, completed, with its type by extension.
    let mut seen = ids(&stdout, "uploaded ");
    seen.extend(ids(&stdout, "skipped  "));
    assert_eq!(seen.len(), 100, "{stdout}");
    for (path, bytes) in &files {
        let shown = path.display().to_string();
        let (_, id) = seen
            .iter()
            .find(|(p, _)| *p == shown)
            .unwrap_or_else(|| panic!("{shown} not reported:\n{stdout}"));
        let (data, body) = fetch(&s, id);
        assert!(body == *bytes, "{shown}: the stored bytes differ");
        let want = if shown.ends_with(".jpg") {
            "image/jpeg"
        } else {
            "image/png"
        };
        assert_eq!(data["contentType"], want);
        assert_eq!(
            data["fileName"].as_str(),
            path.file_name().unwrap().to_str()
        );
    }
}

#[test]
fn a_large_upload_killed_mid_way_resumes_with_only_the_missing_parts() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("survey.bin");
    let bytes = random_bytes(40 * MIB);
    std::fs::write(&path, &bytes).unwrap();
    let args = [
        "upload",
        "--parts-above",
        "8M",
        "--part-size",
        "5M",
        "--limit-rate",
        "10M",
    ];

    // The first run is killed (SIGKILL: no chance to tidy up) once three
    // of its eight parts are acknowledged (others are then half-sent).
    let mut child = client(&s.base, &s.token, dir.path())
        .args(args)
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the client ended early: {seen:?}"))
            .unwrap();
        seen.push(line);
        // Parts go several at once, in any order: count acknowledgements.
        if seen.iter().filter(|l| l.ends_with("/8 sent")).count() == 3 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let before = settled_bytes_in(&s);
    let stdout = run_ok(client(&s.base, &s.token, dir.path()).args(args).arg(&path));
    let held: usize = stdout
        .lines()
        .find_map(|l| {
            l.split(": ")
                .nth(1)?
                .strip_suffix(" of 8 parts already on the server")
        })
        .unwrap_or_else(|| panic!("no resume line:\n{stdout}"))
        .parse()
        .unwrap();
    assert!((3..8).contains(&held), "{held} parts held:\n{stdout}");
    assert!(
        stdout.contains("1 uploaded, 0 already on the server, 0 failed"),
        "{stdout}"
    );
    // Only the missing parts were sent again.
    let sent = bytes_in(&s) - before;
    let missing = bytes.len() as u64 - held as u64 * 5 * MIB as u64;
    assert!(
        sent >= missing && sent < missing + 64 * 1024,
        "sent {sent} bytes, {missing} were missing"
    );

    let (_, id) = ids(&stdout, "uploaded ").pop().unwrap();
    let (_, body) = fetch(&s, &id);
    assert!(body == bytes, "the resumed file differs");
    // The file is its parts, kept once, never copied together: no blob of
    // the whole, the parts' bytes exactly the file's; no temp files.
    let whole = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    assert!(!s.blobs().contains(&whole));
    assert_eq!(s.stored_bytes(), bytes.len() as u64, "{:?}", s.blobs());
    assert!(s.temps().is_empty(), "{:?}", s.temps());

    // Downloaded by the client too, proven by its SHA-256.
    let back = dir.path().join("back.bin");
    let stdout = run_ok(
        client(&s.base, &s.token, dir.path())
            .args(["download", &id, "-o"])
            .arg(&back),
    );
    assert!(stdout.contains("SHA-256 verified"), "{stdout}");
    assert!(std::fs::read(&back).unwrap() == bytes);
}

/// A TCP relay to `upstream` that cuts the connection carrying
/// client-to-server byte number `cuts[i]` (counted over all connections),
/// as a flaky field link does.
fn flaky_link(listener: TcpListener, upstream: std::net::SocketAddr, cuts: Vec<u64>) {
    let total = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for down in listener.incoming().flatten() {
            let Ok(up) = TcpStream::connect(upstream) else {
                continue;
            };
            let (total, cuts) = (total.clone(), cuts.clone());
            let (mut d_read, mut u_write) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            let (mut u_read, mut d_write) = (up, down);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match d_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n as u64,
                    };
                    let before = total.fetch_add(n, Ordering::SeqCst);
                    if cuts.iter().any(|c| before < *c && before + n >= *c) {
                        let _ = d_read.shutdown(Shutdown::Both);
                        let _ = u_write.shutdown(Shutdown::Both);
                        break;
                    }
                    if u_write.write_all(&buf[..n as usize]).is_err() {
                        break;
                    }
                }
                let _ = u_write.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u_read, &mut d_write);
                let _ = d_write.shutdown(Shutdown::Both);
            });
        }
    });
}

#[test]
fn uploads_retry_through_a_link_that_drops_connections() {
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let via = format!("http://{}", relay.local_addr().unwrap());
    // Presigned URLs must point through the link too.
    let s = TestServer::start_with(&format!("public_url = \"{via}\"\n"));
    // Two cuts in the whole-file PUT (sent three times: 3 + 6 + 8 MiB),
    // one in the first part of the part-wise file.
    flaky_link(
        relay,
        s.addr,
        vec![3 * MIB as u64, 9 * MIB as u64, 20 * MIB as u64],
    );

    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("a-whole.bin");
    let parted = dir.path().join("b-parts.bin");
    let (a, b) = (random_bytes(8 * MIB), random_bytes(14 * MIB));
    std::fs::write(&whole, &a).unwrap();
    std::fs::write(&parted, &b).unwrap();
    let stdout = run_ok(
        client(&via, &s.token, dir.path())
            .args([
                "upload",
                "--jobs",
                "1",
                "--parts-above",
                "10M",
                "--part-size",
                "5M",
            ])
            .arg(&whole)
            .arg(&parted),
    );
    let retries = |name: &str| {
        stdout
            .lines()
            .filter(|l| l.starts_with("retry") && l.contains(name))
            .count()
    };
    assert!(retries("a-whole.bin") >= 2, "{stdout}");
    assert!(retries("b-parts.bin") >= 1, "{stdout}");
    assert!(
        !stdout.contains("X-Amz-Signature"),
        "a signed URL was shown:\n{stdout}"
    );
    assert!(
        stdout.contains("2 uploaded, 0 already on the server, 0 failed"),
        "{stdout}"
    );
    let up = ids(&stdout, "uploaded ");
    for (path, bytes) in [(&whole, &a), (&parted, &b)] {
        let shown = path.display().to_string();
        let (_, id) = up.iter().find(|(p, _)| *p == shown).unwrap();
        assert!(fetch(&s, id).1 == *bytes, "{shown} differs");
    }
    assert!(s.temps().is_empty(), "{:?}", s.temps());
}

#[test]
fn downloads_prove_their_bytes_and_never_replace_by_accident() {
    let s = TestServer::start();
    let f = TestFile::new(300_000);
    s.store_completed(&f);
    let home = tempfile::tempdir().unwrap();
    // Server and token from the user config file alone.
    let conf = home.path().join(".config/stowage");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("client.toml"),
        format!("server = \"{}\"\ntoken = \"{}\"\n", s.base, s.token),
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("HOME", home.path())
            .env_remove("STOWAGE_SERVER")
            .env_remove("STOWAGE_TOKEN")
            .env_remove("XDG_CONFIG_HOME")
            .current_dir(out_dir.path())
            .output()
            .unwrap();
        let (o, e) = text(&out);
        (out.status.success(), o, e)
    };

    // Into the current folder, under its own name.
    let (ok, o, e) = run(&["download", &f.id]);
    assert!(ok, "{o}\n{e}");
    let saved = out_dir.path().join(&f.name);
    assert!(std::fs::read(&saved).unwrap() == f.bytes);

    // Not over an existing file, unless asked.
    let (ok, _, e) = run(&["download", &f.id]);
    assert!(!ok && e.contains("--force"), "{e}");
    let (ok, o, e) = run(&["download", &f.id, "--force"]);
    assert!(ok, "{o}\n{e}");

    // A run that stopped half-way left its bytes: the next run continues
    // from there (a Range request) and still proves the whole.
    let partial = |bytes: &[u8]| {
        let simple = f.id.replace('-', "");
        std::fs::write(
            out_dir.path().join(format!(".{simple}.stowage-download")),
            bytes,
        )
        .unwrap();
    };
    partial(&f.bytes[..100_000]);
    let (ok, o, e) = run(&["download", &f.id, "-o", "resumed.png"]);
    assert!(ok && o.contains("97.66 KiB already here"), "{o}\n{e}");
    assert!(std::fs::read(out_dir.path().join("resumed.png")).unwrap() == f.bytes);
    std::fs::remove_file(out_dir.path().join("resumed.png")).unwrap();
    // Left-over bytes that are not this file's: caught by the hash, thrown
    // away; the next run starts afresh.
    partial(&[0u8; 1000]);
    let (ok, _, e) = run(&["download", &f.id, "-o", "resumed.png"]);
    assert!(!ok && e.contains("deleted"), "{e}");
    let (ok, o, e) = run(&["download", &f.id, "-o", "resumed.png"]);
    assert!(ok, "{o}\n{e}");
    std::fs::remove_file(out_dir.path().join("resumed.png")).unwrap();

    // Bytes damaged on the server's disk: refused, nothing left behind.
    s.damage_blob(&hex::encode(f.sha256()), |b| b[12_345] ^= 0x40);
    let (ok, _, e) = run(&["download", &f.id, "-o", "copy.png"]);
    assert!(!ok && e.contains("SHA-256") && e.contains("deleted"), "{e}");
    let left: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, vec![f.name.clone()], "files left: {left:?}");

    // An unknown id and a malformed one are told apart.
    let (ok, _, e) = run(&["download", &uuid::Uuid::new_v4().to_string()]);
    assert!(!ok && e.contains("404"), "{e}");
    let (ok, _, e) = run(&["download", "not-an-id"]);
    assert!(!ok && e.contains("not a file id"), "{e}");
}

#[test]
fn a_wrong_token_fails_every_file_clearly() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("note.txt");
    std::fs::write(&path, b"field note").unwrap();
    let out = client(&s.base, "stw_not-a-token", dir.path())
        .arg("upload")
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("FAILED") && stdout.contains("401"),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("stw_not-a-token") && !stderr.contains("stw_not-a-token"));
    assert!(
        stdout.contains("0 uploaded, 0 already on the server, 1 failed"),
        "{stdout}"
    );
    let r = s.get_api("/api/inspect/v1/files", Some(&s.token.clone()));
    assert_eq!(r.json()["data"], serde_json::json!([]), "{}", r.body);

    // No token at all: told where one comes from, nothing attempted.
    let out = Command::new(BIN)
        .arg("upload")
        .arg(&path)
        .env("HOME", dir.path())
        .env_remove("STOWAGE_TOKEN")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("STOWAGE_TOKEN"),
        "{stderr}"
    );
}

#[test]
fn a_long_part_wise_upload_outlasts_many_expired_urls() {
    // URLs good for a minute of the server's clock, which jumps past it as
    // soon as a round of parts begins to arrive: the parts of that round
    // not yet started find their URLs expired and the client asks again,
    // round after round — with progress every time (the parts already
    // arriving go through), so it never gives up. Driven by the parts
    // themselves, not by how fast this machine is (one-second URLs on the
    // wall clock made too many or too few rounds under load).
    let s = TestServer::start_with("[upload]\npresign_expiry_secs = 60\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.bin");
    // 24 parts, at most 4 at once: at least six rounds.
    let bytes = random_bytes(24 * 5 * MIB);
    std::fs::write(&path, &bytes).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut arriving = false;
            while !done.load(Ordering::SeqCst) {
                let now = s.receiving() > 0;
                if now && !arriving {
                    s.clock.advance(61);
                }
                arriving = now;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        // Not asserted here: the clock's thread must stop whatever happens.
        let out = client(&s.base, &s.token, dir.path())
            .args([
                "upload",
                "--parts-above",
                "8M",
                "--part-size",
                "5M",
                "--limit-rate",
                "16M",
            ])
            .arg(&path)
            .output();
        done.store(true, Ordering::SeqCst);
        out.unwrap()
    });
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let asked_again = stdout
        .lines()
        .filter(|l| l.contains("asking for the parts again"))
        .count();
    assert!(
        asked_again >= 5,
        "URLs expired only {asked_again} times:\n{stdout}"
    );
    let (_, id) = ids(&stdout, "uploaded ").pop().unwrap();
    assert!(fetch(&s, &id).1 == bytes, "the file differs");
}
