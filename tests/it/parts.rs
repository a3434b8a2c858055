//! Part-wise uploads through the JSON API (`POST …/file/upload/parts`,
//! then `…/upload/complete`), over real HTTP: the parts held are reported
//! by hash so a client sends only what is missing, the whole file is
//! checked before it is stored, and every refusal stores nothing.

use base64::Engine;
use md5::{Digest as _, Md5};
use serde_json::Value;
use sha2::Sha256;

use crate::harness::*;

const MIB: usize = 1024 * 1024;
const PARTS: &str = "/api/inspect/v1/file/upload/parts";

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// Asks for the parts of `f` in `part_size` pieces.
fn ask(s: &TestServer, f: &TestFile, part_size: usize) -> Resp {
    let mut d = f.declaration();
    d["partSize"] = part_size.into();
    s.post_json(PARTS, &d)
}

fn plan(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["data"]["parts"].as_array().unwrap().clone()
}

/// PUTs part `p` of `bytes` (the bytes it covers, or `body` instead) with
/// its Content-MD5.
fn put_part(p: &Value, body: &[u8]) -> Resp {
    let md5 = b64(&Md5::digest(body));
    Resp::from(
        ureq::put(p["url"].as_str().unwrap())
            .set("Content-MD5", &md5)
            .send_bytes(body),
    )
}

fn slice<'a>(bytes: &'a [u8], p: &Value) -> &'a [u8] {
    let (o, n) = (
        p["offset"].as_u64().unwrap() as usize,
        p["size"].as_u64().unwrap() as usize,
    );
    &bytes[o..o + n]
}

#[test]
fn parts_are_listed_sent_resumed_and_put_together() {
    let s = TestServer::start();
    let f = TestFile::new(12 * MIB + 777);
    let parts = plan(&ask(&s, &f, 5 * MIB));
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2]["size"], 2 * MIB + 777);
    assert!(parts.iter().all(|p| p["hash"].is_null()));
    // The URLs carry signatures, not the token.
    assert!(!parts[0]["url"].as_str().unwrap().contains(&s.token));

    // Two parts arrive, then the link drops; asking again shows which.
    for p in &parts[..2] {
        assert_eq!(put_part(p, slice(&f.bytes, p)).status, 200);
    }
    let again = plan(&ask(&s, &f, 5 * MIB));
    for (i, p) in again.iter().enumerate() {
        let want = (i < 2).then(|| b64(&Sha256::digest(slice(&f.bytes, p))));
        assert_eq!(p["hash"].as_str().map(str::to_string), want, "part {i}");
    }
    // Completing now is refused: a part is missing, nothing is stored.
    let c = s.complete(&f.id);
    let msg = c.assert_json_error(409, "Conflict");
    assert!(
        msg.contains("part 3 is missing") || msg.contains("parts hold"),
        "{msg}"
    );
    s.assert_nothing_stored(&f);

    assert_eq!(put_part(&again[2], slice(&f.bytes, &again[2])).status, 200);
    let c = s.complete(&f.id);
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["data"]["status"], "completed");
    assert_eq!(c.json()["data"]["hash"], f.hash_b64());
    let (status, _, body) = get(c.json()["data"]["downloadURL"].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(body == f.bytes, "the downloaded bytes differ");
    // Completing again answers the same; asking for parts says "stored".
    assert_eq!(s.complete(&f.id).status, 200);
    assert_eq!(ask(&s, &f, 5 * MIB).status, 200);
    // The file is its parts' blobs, kept once: no copy of the whole.
    assert!(s.temps().is_empty());
    assert_only_parts_kept(&s, &f);
}

#[test]
fn parts_that_do_not_make_the_declared_file_are_refused_and_discarded() {
    let s = TestServer::start();
    let f = TestFile::new(10 * MIB + 1);
    let parts = plan(&ask(&s, &f, 5 * MIB));
    // Part 2 of the right size but other bytes: each part is fine on its
    // own, the whole is not the declared file.
    let other = TestFile::new(5 * MIB);
    assert_eq!(put_part(&parts[0], slice(&f.bytes, &parts[0])).status, 200);
    assert_eq!(put_part(&parts[1], &other.bytes).status, 200);
    assert_eq!(put_part(&parts[2], slice(&f.bytes, &parts[2])).status, 200);
    let msg = s.complete(&f.id).assert_json_error(400, "BadRequest");
    assert!(
        msg.contains("discarded") && msg.contains(&f.hash_b64()),
        "{msg}"
    );
    s.assert_nothing_stored(&f);
    // The upload was discarded: a new ask holds nothing.
    let again = plan(&ask(&s, &f, 5 * MIB));
    assert!(again.iter().all(|p| p["hash"].is_null()), "{again:?}");
}

#[test]
fn a_part_damaged_on_the_way_is_refused_on_arrival() {
    let s = TestServer::start();
    let f = TestFile::new(6 * MIB);
    let parts = plan(&ask(&s, &f, 5 * MIB));
    let mut damaged = slice(&f.bytes, &parts[0]).to_vec();
    let md5 = b64(&Md5::digest(&damaged));
    damaged[1000] ^= 1;
    let r = Resp::from(
        ureq::put(parts[0]["url"].as_str().unwrap())
            .set("Content-MD5", &md5)
            .send_bytes(&damaged),
    );
    r.assert_s3_error(400, "BadDigest");
    let again = plan(&ask(&s, &f, 5 * MIB));
    assert!(again[0]["hash"].is_null(), "the damaged part was kept");
    s.assert_nothing_stored(&f);
}

#[test]
fn bad_part_requests_are_refused_with_the_fix() {
    let s = TestServer::start();
    let f = TestFile::new(1000);
    let msg = ask(&s, &f, 1024).assert_json_error(400, "BadRequest");
    assert!(msg.contains("partSize") && msg.contains("5242880"), "{msg}");
    let msg = s
        .post_json(PARTS, &f.declaration())
        .assert_json_error(400, "BadRequest");
    assert!(msg.contains("partSize"), "{msg}");
    // More than 10,000 parts (on a gateway that takes files that large).
    let roomy = TestServer::start_with("[upload]\nmax_size = 60000000000\n");
    let mut d = f.declaration();
    d["size"] = (5u64 * 1024 * 1024 * 10_001).into();
    d["partSize"] = (5 * MIB).into();
    let msg = roomy
        .post_json(PARTS, &d)
        .assert_json_error(400, "BadRequest");
    assert!(
        msg.contains("more than 10000 parts") && msg.contains("at least"),
        "{msg}"
    );
    assert_eq!(
        roomy.file(&f.id).status,
        404,
        "a refused ask declared the file"
    );
    // Without the upload scope.
    let r = s.post_raw(PARTS, &f.declaration().to_string(), Some("stw_wrong"));
    r.assert_json_error(401, "Unauthorized");
    assert_eq!(s.file(&f.id).status, 404, "a refused ask declared the file");
}

#[test]
fn bytes_already_stored_need_no_parts() {
    let s = TestServer::start();
    let f = TestFile::new(6 * MIB);
    s.store_completed(&f);
    let mut twin = TestFile::new(0);
    twin.bytes = f.bytes.clone();
    let r = ask(&s, &twin, 5 * MIB);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.complete(&twin.id).status, 200);
}

#[test]
fn asking_again_with_another_part_size_still_completes() {
    let s = TestServer::start();
    let f = TestFile::new(12 * MIB);
    // First in 5 MiB parts (5 + 5 + 2), all sent.
    for p in plan(&ask(&s, &f, 5 * MIB)) {
        assert_eq!(put_part(&p, slice(&f.bytes, &p)).status, 200);
    }
    // Then the client changes its mind: 6 MiB parts (6 + 6). None of the
    // held parts fits the new plan, so none is offered as held.
    let again = plan(&ask(&s, &f, 6 * MIB));
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|p| p["hash"].is_null()), "{again:?}");
    for p in &again {
        assert_eq!(put_part(p, slice(&f.bytes, p)).status, 200);
    }
    // Parts 1 and 2 now make the file; the old part 3 is left out.
    let c = s.complete(&f.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let (_, _, body) = get(c.json()["data"]["downloadURL"].as_str().unwrap());
    assert!(body == f.bytes, "the stored bytes differ");
    assert_only_parts_kept(&s, &f);
}

#[test]
fn an_upload_asked_for_again_outlives_the_abandoned_upload_sweep() {
    let s = TestServer::start_with("[s3]\nabandoned_multipart_secs = 3600\n");
    let f = TestFile::new(11 * MIB);
    let parts = plan(&ask(&s, &f, 5 * MIB));
    assert_eq!(put_part(&parts[0], slice(&f.bytes, &parts[0])).status, 200);
    // Most of an hour later the client asks again (its URLs expired)...
    s.clock.advance(3000);
    let again = plan(&ask(&s, &f, 5 * MIB));
    assert!(again[0]["hash"].is_string(), "{again:?}");
    // ...so an hour after it began, the sweep still leaves it be.
    s.clock.advance(1000);
    s.sweep();
    let after = plan(&ask(&s, &f, 5 * MIB));
    assert!(
        after[0]["hash"].is_string(),
        "the sweep took a live upload: {after:?}"
    );
    for p in &after[1..] {
        assert_eq!(put_part(p, slice(&f.bytes, p)).status, 200);
    }
    assert_eq!(s.complete(&f.id).status, 200);
    // Left alone past the limit, it is swept like any abandoned upload.
    let g = TestFile::new(6 * MIB);
    let gp = plan(&ask(&s, &g, 5 * MIB));
    assert_eq!(put_part(&gp[0], slice(&g.bytes, &gp[0])).status, 200);
    s.clock.advance(3601);
    s.sweep();
    let gone = plan(&ask(&s, &g, 5 * MIB));
    assert!(gone[0]["hash"].is_null(), "{gone:?}");
}

#[test]
fn two_completes_at_once_store_the_file_once_and_both_succeed() {
    let s = TestServer::start();
    let f = TestFile::new(16 * MIB);
    for p in plan(&ask(&s, &f, 5 * MIB)) {
        assert_eq!(put_part(&p, slice(&f.bytes, &p)).status, 200);
    }
    let answers: Vec<Resp> = std::thread::scope(|scope| {
        let a = scope.spawn(|| s.complete(&f.id));
        let b = scope.spawn(|| s.complete(&f.id));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["data"]["hash"], f.hash_b64());
    }
    assert_only_parts_kept(&s, &f);
    assert!(s.temps().is_empty(), "{:?}", s.temps());
}

/// `f`, completed from its parts, is kept as those parts only: no blob of
/// the whole file, and exactly the file's bytes stored (the parts left out
/// of it let go).
fn assert_only_parts_kept(s: &TestServer, f: &TestFile) {
    assert!(
        !s.blobs().contains(&hex::encode(f.sha256())),
        "the parts were copied into a blob of the whole"
    );
    assert_eq!(s.stored_bytes(), f.bytes.len() as u64, "{:?}", s.blobs());
}
