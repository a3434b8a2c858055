//! Faults of a cluster: a gateway killed in the middle of an upload.

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
    let slow = c.slow_put(1, &url, &f.content_type, &f.bytes, "2M");
    c.wait_upload_in_garage("the PUT through gateway 1");
    c.kill(1);
    let (status, _, _) = slow.finish();
    assert_ne!(status, 200, "the cut PUT succeeded");
    let status = c
        .index()
        .column(&format!("SELECT status FROM files WHERE id = '{}'", f.id));
    assert_eq!(status, vec![Some("pending".to_string())]);
    assert!(c.index().rows("SELECT sha256 FROM blobs").is_empty());

    let (status, answer) = c.curl_put(0, &url, &f.content_type, &f.bytes);
    assert_eq!(status, 200, "{answer}\n{}", c.log(0));
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
