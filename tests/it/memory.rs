//! Streaming, measured: a 1 GiB upload and download through the real binary
//! must keep the server's peak resident memory (VmHWM) under 64 MiB, which
//! only holds if no body is ever buffered whole.

use std::io::Read;

use sha2::{Digest as _, Sha256};

use crate::harness::*;

const SIZE: u64 = 1 << 30;
const LIMIT_KIB: u64 = 64 * 1024;

/// Deterministic pseudo-random bytes, generated on the fly so the test
/// itself never holds the file either.
struct Pattern {
    state: u64,
    left: u64,
}

impl Pattern {
    fn new(len: u64) -> Self {
        Pattern {
            state: 0x9E37_79B9_7F4A_7C15,
            left: len,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize & !7;
        let n = if n == 0 {
            self.left.min(buf.len() as u64) as usize
        } else {
            n
        };
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn sha256_of(mut r: impl Read) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return h.finalize().into();
        }
        h.update(&buf[..n]);
    }
}

#[test]
fn one_gib_round_trip_stays_under_64_mib_resident() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&write_config(dir.path(), ""));
    let token = served.initial_token();
    let sha = sha256_of(Pattern::new(SIZE));
    let id = uuid::Uuid::new_v4().to_string();
    let r = Resp::from(
        ureq::post(&format!(
            "{}/api/inspect/v1/file/upload/presigned",
            served.base
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(
            &serde_json::json!({
                "id": id, "contentType": "application/octet-stream",
                "hash": base64::engine::general_purpose::STANDARD.encode(sha),
                "fileName": "big.bin", "size": SIZE
            })
            .to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();

    let put = Resp::from(
        ureq::put(&url)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &SIZE.to_string())
            .send(Pattern::new(SIZE)),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let after_put = served.vm_hwm_kib();

    let done = Resp::from(
        ureq::post(&format!(
            "{}/api/inspect/v1/file/upload/complete",
            served.base
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(&serde_json::json!({ "id": id }).to_string()),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let download = done.json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = ureq::get(&download).call().unwrap();
    assert_eq!(
        resp.header("content-length"),
        Some(SIZE.to_string().as_str())
    );
    assert_eq!(
        sha256_of(resp.into_reader()),
        sha,
        "downloaded bytes differ"
    );
    let after_get = served.vm_hwm_kib();

    eprintln!("server VmHWM: {after_put} KiB after 1 GiB PUT, {after_get} KiB after GET");
    assert!(after_put < LIMIT_KIB, "PUT peak RSS {after_put} KiB");
    assert!(after_get < LIMIT_KIB, "GET peak RSS {after_get} KiB");
}
