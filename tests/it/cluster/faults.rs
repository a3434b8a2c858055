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
    let url = c.presign(0, &f);
    let slow = c.slow_put(1, &url, &f.content_type, &f.bytes, "2M");
    c.wait_upload_in_garage("the PUT through gateway 1");
    c.kill(1);
    let (status, _, _) = slow.finish();
    assert_ne!(status, 200, "the cut PUT succeeded");
    assert_eq!(c.file_status(&f.id), vec![Some("pending".to_string())]);
    assert!(c.index().rows("SELECT sha256 FROM blobs").is_empty());

    let (status, answer) = c.curl_put(0, &url, &f.content_type, &f.bytes);
    assert_eq!(status, 200, "{answer}\n{}", c.log(0));
    c.restart(1);
    let (status, v) = c.api(1, "GET", &format!("/api/inspect/v1/file/{}", f.id), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["status"], "uploaded", "{v}");
    let (status, v) = c.api(
        1,
        "POST",
        "/api/inspect/v1/file/upload/complete",
        Some(&serde_json::json!({ "id": f.id })),
    );
    assert_eq!(status, 200, "{v}");
    let download = v["data"]["downloadURL"].as_str().unwrap().to_string();
    let (status, got) = c.fetch(1, &download);
    assert_eq!(status, 200);
    assert!(got == f.bytes, "gateway 1 served other bytes");
}
