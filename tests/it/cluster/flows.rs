//! The upload API and S3 across gateways: any gateway serves any request,
//! and what one wrote every other sees at once.

use serde_json::json;

use super::{walk, Cluster};
use crate::harness::TestFile;

/// Presign on one gateway, PUT with curl on a second, complete on a third,
/// download from each: for a file kept in the index (4 KiB) and one whose
/// bytes go to Garage (3 MiB). The large one's bytes are in the cluster
/// under the id the index records, and nowhere in any gateway's data dir.
#[test]
fn the_upload_flow_crosses_gateways() {
    let Some(c) = Cluster::start(3) else { return };
    for (n, len) in [(0usize, 4096usize), (1, 3 << 20)] {
        let f = TestFile::new(len);
        let url = c.presign(n % 3, &f);
        assert!(url.starts_with("http://stowage.test/"), "{url}");
        let (status, text) = c.curl_put((n + 1) % 3, &url, &f.content_type, &f.bytes);
        assert_eq!(status, 200, "PUT through gateway {}: {text}", (n + 1) % 3);
        let (status, body) = c.api(
            (n + 2) % 3,
            "POST",
            "/api/inspect/v1/file/upload/complete",
            Some(&json!({ "id": f.id })),
        );
        assert_eq!(status, 200, "complete: {body}");
        for i in 0..3 {
            let (status, body) = c.api(i, "GET", &format!("/api/inspect/v1/file/{}", f.id), None);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["status"], "completed", "gateway {i}: {body}");
            let download = body["data"]["downloadURL"].as_str().unwrap().to_string();
            let (status, got) = c.fetch((i + 1) % 3, &download);
            assert_eq!(status, 200);
            assert!(got == f.bytes, "gateway {} served other bytes", (i + 1) % 3);
        }
    }
    // The large file's bytes: one object in the cluster, under the id its
    // row records; no blob file in any data dir.
    let ids = c.upstream_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = c.garage_blobs();
    assert!(listed.contains(&ids[0]), "{listed}");
    assert!(listed.contains(&(3u64 << 20).to_string()), "{listed}");
    for i in 0..3 {
        let blobs = c.data_dir(i).join("blobs");
        let files = walk(&blobs);
        assert!(files.is_empty(), "gateway {i} keeps blob files: {files:?}");
    }
}
