//! The upload API and S3 across gateways: any gateway serves any request,
//! and what one wrote every other sees at once.

use std::io::Read;
use std::process::Command;

use serde_json::{json, Value};

use super::Cluster;
use crate::harness::TestFile;

/// A JSON API call through gateway `i` with the cluster's token:
/// (status, body).
fn api(c: &Cluster, i: usize, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let req = c
        .agent(i)
        .request(method, &c.url(path))
        .set("Authorization", &format!("Bearer {}", c.token));
    let r = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("gateway {i}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// curl PUT of `bytes` to a public URL, sent to gateway `i`: (status, body).
fn curl_put(c: &Cluster, i: usize, url: &str, content_type: &str, bytes: &[u8]) -> (u16, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--connect-to", &c.connect_to(i), "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {content_type}"))
        .arg("--upload-file")
        .arg(&path)
        .arg(url)
        .args(["-w", "\n%{http_code}"])
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// The bytes behind a public URL (a presigned download), from gateway `i`.
fn fetch(c: &Cluster, i: usize, url: &str) -> (u16, Vec<u8>) {
    let resp = match c.agent(i).get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("gateway {i}: {e}"),
    };
    let status = resp.status();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, body)
}

/// Presign on one gateway, PUT with curl on a second, complete on a third,
/// download from each: for a file kept in the index (4 KiB) and one whose
/// bytes go to Garage (3 MiB). The large one's bytes are in the cluster
/// under the id the index records, and nowhere in any gateway's data dir.
#[test]
fn the_upload_flow_crosses_gateways() {
    let Some(c) = Cluster::start(3) else { return };
    for (n, len) in [(0usize, 4096usize), (1, 3 << 20)] {
        let f = TestFile::new(len);
        let (status, body) = api(
            &c,
            n % 3,
            "POST",
            "/api/inspect/v1/file/upload/presigned",
            Some(&f.declaration()),
        );
        assert_eq!(status, 201, "presign: {body}");
        let url = body["data"]["presignedURL"].as_str().unwrap().to_string();
        assert!(url.starts_with("http://stowage.test/"), "{url}");
        let (status, text) = curl_put(&c, (n + 1) % 3, &url, &f.content_type, &f.bytes);
        assert_eq!(status, 200, "PUT through gateway {}: {text}", (n + 1) % 3);
        let (status, body) = api(
            &c,
            (n + 2) % 3,
            "POST",
            "/api/inspect/v1/file/upload/complete",
            Some(&json!({ "id": f.id })),
        );
        assert_eq!(status, 200, "complete: {body}");
        for i in 0..3 {
            let (status, body) = api(
                &c,
                i,
                "GET",
                &format!("/api/inspect/v1/file/{}", f.id),
                None,
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["status"], "completed", "gateway {i}: {body}");
            let download = body["data"]["downloadURL"].as_str().unwrap().to_string();
            let (status, got) = fetch(&c, (i + 1) % 3, &download);
            assert_eq!(status, 200);
            assert!(got == f.bytes, "gateway {} served other bytes", (i + 1) % 3);
        }
    }
    // The large file's bytes: one object in the cluster, under the id its
    // row records; no blob file in any data dir.
    let ids = c
        .index()
        .column("SELECT location FROM blobs WHERE location IS NOT NULL");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = c.garage.aws(
        0,
        &["s3", "ls", &format!("s3://{}/blobs/", c.garage.bucket())],
    );
    let id = ids[0].clone().unwrap();
    assert!(listed.contains(&id), "{listed}");
    assert!(listed.contains(&(3u64 << 20).to_string()), "{listed}");
    for i in 0..3 {
        let blobs = c.data_dir(i).join("blobs");
        let files = walk(&blobs);
        assert!(files.is_empty(), "gateway {i} keeps blob files: {files:?}");
    }
}

/// Every file under `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
