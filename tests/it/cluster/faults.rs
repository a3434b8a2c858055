//! Faults of a cluster: a gateway killed in the middle of an upload.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Cluster;
use crate::harness::TestFile;

/// A 24 MiB PUT streams slowly into gateway 1; once its bytes are going
/// up to Garage (a multipart upload there is in progress), gateway 1 is
/// SIGKILLed. Nothing of it is visible: the file is still pending, no
/// blob row. The client's retry through gateway 0 stores it; gateway 1,
/// started again, serves it.
#[test]
fn a_gateway_killed_mid_upload_leaves_nothing_and_the_retry_elsewhere_succeeds() {
    let Some(mut c) = Cluster::start(2) else {
        return;
    };
    let f = TestFile::new(24 << 20);
    let presigned = c
        .agent(0)
        .post(&c.url("/api/inspect/v1/file/upload/presigned"))
        .set("Authorization", &format!("Bearer {}", c.token))
        .set("Content-Type", "application/json")
        .send_string(&f.declaration().to_string())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&presigned.into_string().unwrap()).unwrap();
    let url = v["data"]["presignedURL"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, &f.bytes).unwrap();
    let curl = |to: String, rate: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--connect-to", &to, "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {}", f.content_type))
            .arg("--upload-file")
            .arg(&path)
            .args(["-o", "/dev/null", "-w", "%{http_code}"]);
        if let Some(r) = rate {
            cmd.args(["--limit-rate", r]);
        }
        cmd.arg(&url).stdout(Stdio::piped()).stderr(Stdio::null());
        cmd
    };
    let slow = curl(c.connect_to(1), Some("2M")).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let bucket = format!(
        "s3api list-multipart-uploads --bucket {}",
        c.garage.bucket()
    );
    let args: Vec<&str> = bucket.split(' ').collect();
    loop {
        let out = c.garage.aws(0, &args);
        if out.contains("UploadId") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no upload went up to Garage: {}",
            c.log(1)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    c.kill(1);
    let out = slow.wait_with_output().unwrap();
    assert_ne!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "the cut PUT succeeded"
    );
    let status = c
        .index()
        .column(&format!("SELECT status FROM files WHERE id = '{}'", f.id));
    assert_eq!(status, vec![Some("pending".to_string())]);
    assert!(c.index().rows("SELECT sha256 FROM blobs").is_empty());

    let retry = curl(c.connect_to(0), None).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&retry.stdout),
        "200",
        "{}",
        c.log(0)
    );
    c.restart(1);
    let r = c
        .agent(1)
        .get(&c.url(&format!("/api/inspect/v1/file/{}", f.id)))
        .set("Authorization", &format!("Bearer {}", c.token))
        .call()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    assert_eq!(v["data"]["status"], "uploaded", "{v}");
    let r = c
        .agent(1)
        .post(&c.url("/api/inspect/v1/file/upload/complete"))
        .set("Authorization", &format!("Bearer {}", c.token))
        .set("Content-Type", "application/json")
        .send_string(&serde_json::json!({ "id": f.id }).to_string())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    let download = v["data"]["downloadURL"].as_str().unwrap().to_string();
    let mut got = Vec::new();
    std::io::Read::read_to_end(
        &mut c.agent(1).get(&download).call().unwrap().into_reader(),
        &mut got,
    )
    .unwrap();
    assert!(got == f.bytes, "gateway 1 served other bytes");
}
