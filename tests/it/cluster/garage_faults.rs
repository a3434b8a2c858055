//! Faults of the storage cluster under running gateways: one Garage node
//! of three killed (uploads and downloads go on through every gateway, its
//! calls passed to the next node), and every node killed (large bodies
//! answered 503, inline ones still served, nothing recorded or left
//! behind, all well again once Garage is back).

use std::time::{Duration, Instant};

use super::{text, walk, Cluster};
use crate::harness::{Resp, TestFile};

/// The blobs whose bytes are in Garage.
const STORED_UPSTREAM: &str = "SELECT sha256 FROM blobs WHERE location IS NOT NULL";

/// What gateway `i`'s log says when its calls left an endpoint it could
/// not connect to for `now`.
fn failed_over_to(c: &Cluster, i: usize, now: &str) -> bool {
    c.log(i)
        .lines()
        .any(|l| l.contains("calls go to the next one") && l.contains(&format!("now={now}")))
}

/// Node 0 (gateway 0's first endpoint) is SIGKILLed. With two nodes of
/// three up, every gateway takes uploads — small (kept in the index) and
/// large (in Garage), through the upload API and S3, one above the part
/// size (a multipart upload upstream) — and serves what was stored before
/// and during the outage; gateway 0's calls went on to node 1. Node 0
/// started again serves: with node 2 down next, gateway 2 (nodes 2, 0, 1)
/// goes on through node 0, and everything reads back through it.
#[test]
fn with_one_garage_node_down_every_gateway_uploads_and_downloads() {
    let Some(mut c) = Cluster::start(3) else {
        return;
    };
    let before = [TestFile::new(2000), TestFile::new(300_000)];
    let mut stored: Vec<(TestFile, String)> = before
        .iter()
        .map(|f| (f.clone(), c.store_file(0, f)))
        .collect();
    assert_eq!(c.s3(0, "PUT", "/faults", &[], &[], b"").0, 200);
    let mut objects = vec![("/faults/before".to_string(), TestFile::new(200_000).bytes)];
    let (s, b) = c.s3(0, "PUT", &objects[0].0, &[], &[], &objects[0].1);
    assert_eq!(s, 200, "{}", text(&b));

    c.garage.kill_node(0);
    for i in 0..3 {
        for len in [1000, 300_000] {
            let f = TestFile::new(len);
            let url = c.store_file(i, &f);
            stored.push((f, url));
        }
        for (name, len) in [("small", 500), ("large", 700_000)] {
            let key = format!("/faults/g{i}-{name}");
            let body = TestFile::new(len).bytes;
            let (s, b) = c.s3(i, "PUT", &key, &[], &[], &body);
            assert_eq!(s, 200, "S3 PUT through gateway {i}: {}", text(&b));
            objects.push((key, body));
        }
    }
    // Above the part size (8 MiB): create, parts and completion upstream.
    let big = TestFile::new(9 << 20);
    let url = c.store_file(0, &big);
    stored.push((big, url));
    assert!(
        failed_over_to(&c, 0, &c.garage.endpoint(1)),
        "gateway 0 did not go on to node 1:\n{}",
        c.log(0)
    );
    for i in 0..3 {
        for (f, url) in &stored {
            let (status, got) = c.fetch(i, url);
            assert_eq!(status, 200, "gateway {i}: {}", text(&got));
            assert!(got == f.bytes, "gateway {i} served other bytes of {}", f.id);
        }
        for (key, body) in &objects {
            let (s, got) = c.s3(i, "GET", key, &[], &[], b"");
            assert_eq!(s, 200, "gateway {i}, {key}: {}", text(&got));
            assert!(got == *body, "gateway {i} served other bytes of {key}");
        }
    }

    c.garage.start_node(0);
    c.garage.kill_node(2);
    let f = TestFile::new(400_000);
    let url = c.store_file(2, &f);
    stored.push((f, url));
    let body = TestFile::new(600_000).bytes;
    let (s, b) = c.s3(2, "PUT", "/faults/after", &[], &[], &body);
    assert_eq!(s, 200, "{}", text(&b));
    objects.push(("/faults/after".to_string(), body));
    assert!(
        failed_over_to(&c, 2, &c.garage.endpoint(0)),
        "gateway 2 did not go on to node 0:\n{}",
        c.log(2)
    );
    for (f, url) in &stored {
        let (status, got) = c.fetch(2, url);
        assert_eq!(status, 200, "{}", text(&got));
        assert!(got == f.bytes, "other bytes of {} through node 0", f.id);
    }
    for (key, body) in &objects {
        let (s, got) = c.s3(2, "GET", key, &[], &[], b"");
        assert_eq!(s, 200, "{key}: {}", text(&got));
        assert!(got == *body, "other bytes of {key} through node 0");
    }
    // Node 0 lists every blob the index names, those written while it
    // was down included.
    let ids = c.upstream_ids();
    assert!(ids.len() >= 9, "{ids:?}");
    let listed = c.garage_blobs();
    for id in &ids {
        assert!(
            listed.contains(id.as_str()),
            "node 0 lists no {id}:\n{listed}"
        );
    }
    c.assert_no_panic_or_500();
}

/// Every Garage node is SIGKILLed while a 24 MiB PUT streams its parts up
/// through gateway 0: it is answered 503 with a clear message, its file
/// stays pending and no blob is recorded. While the cluster is down, on
/// every gateway: a large upload (upload API and S3) answers 503
/// `ServiceUnavailable` saying the storage cluster cannot be reached and
/// nothing was stored; large downloads answer 503; small files (inline in
/// the index) are still stored and served; `/healthz` answers 503; the gateway stays up and its data
/// dir gains no file. Once Garage is back: healthy again, the cut
/// upload's multipart upload aborted (no upload left in progress), and
/// every upload and download works, the cut one retried.
#[test]
fn with_the_storage_cluster_down_large_bodies_answer_503_and_nothing_is_left() {
    let Some(mut c) = Cluster::start(2) else {
        return;
    };
    let small = TestFile::new(3000);
    let large = TestFile::new(400_000);
    let small_url = c.store_file(0, &small);
    let large_url = c.store_file(1, &large);
    assert_eq!(c.s3(0, "PUT", "/down", &[], &[], b"").0, 200);
    let small_obj = TestFile::new(100).bytes;
    let large_obj = TestFile::new(300_000).bytes;
    assert_eq!(c.s3(0, "PUT", "/down/small", &[], &[], &small_obj).0, 200);
    assert_eq!(c.s3(1, "PUT", "/down/large", &[], &[], &large_obj).0, 200);
    let blobs = c.index().rows(STORED_UPSTREAM);
    let files: Vec<Vec<_>> = (0..2).map(|i| walk(&c.data_dir(i))).collect();

    // The cut upload: presigned on gateway 1, streamed slowly into 0.
    let cut = TestFile::new(24 << 20);
    let cut_url = c.presign(1, &cut);
    let slow = c.slow_put(0, &cut_url, &cut.content_type, &cut.bytes, "2M");
    c.wait_upload_in_garage("the cut PUT");
    for n in 0..3 {
        c.garage.kill_node(n);
    }
    let (status, answer, stderr) = slow.finish();
    assert_eq!(status, 503, "the cut PUT: {answer} {stderr}\n{}", c.log(0));
    assert!(answer.contains("storage cluster"), "{answer}");
    assert_eq!(c.file_status(&cut.id), vec![Some("pending".to_string())]);

    for (i, files) in files.iter().enumerate() {
        let f = TestFile::new(300_000);
        // Presigning needs the index only.
        let url = c.presign(i, &f);
        let (status, answer) = c.curl_put(i, &url, &f.content_type, &f.bytes);
        assert_eq!(status, 503, "gateway {i}: {answer}");
        assert!(
            answer.contains("cannot reach its storage cluster")
                && answer.contains("nothing of this request was stored"),
            "{answer}"
        );
        assert_eq!(c.file_status(&f.id), vec![Some("pending".to_string())]);

        let url = c.s3_url(i, "PUT", "/down/new-large", &[], &[]);
        let r = c.request(i, "PUT", &url, &[], &large_obj);
        let m = r.assert_s3_error(503, "ServiceUnavailable");
        assert!(m.contains("storage cluster"), "{m}");

        let (status, answer) = c.fetch(i, &large_url);
        assert_eq!(status, 503, "gateway {i}: {}", text(&answer));
        let url = c.s3_url(i, "GET", "/down/large", &[], &[]);
        let r: Resp = c.request(i, "GET", &url, &[], b"");
        r.assert_s3_error(503, "ServiceUnavailable");

        let (status, got) = c.fetch(i, &small_url);
        assert_eq!(status, 200, "gateway {i}: {}", text(&got));
        assert!(got == small.bytes);
        // Small bodies are kept in the index: they are still taken.
        let f = TestFile::new(2000);
        let url = c.store_file(i, &f);
        let (status, got) = c.fetch(1 - i, &url);
        assert_eq!(status, 200, "{}", text(&got));
        assert!(got == f.bytes);
        let key = format!("/down/small-{i}");
        assert_eq!(c.s3(i, "PUT", &key, &[], &[], &small_obj).0, 200);
        let (s, got) = c.s3(i, "GET", "/down/small", &[], &[], b"");
        assert_eq!(s, 200, "{}", text(&got));
        assert!(got == small_obj);

        let d = c
            .wait_health(i, 503, Duration::from_secs(10))
            .assert_json_error(503, "ServiceUnavailable");
        assert!(d.contains("blob store"), "{d}");
        assert!(c.exited(i).is_none(), "gateway {i} exited:\n{}", c.log(i));
        assert_eq!(&walk(&c.data_dir(i)), files, "gateway {i}'s data dir");
    }
    assert_eq!(c.index().rows(STORED_UPSTREAM), blobs);

    c.garage.start_nodes(&[0, 1, 2]);
    for i in 0..2 {
        c.wait_health(i, 200, Duration::from_secs(30));
    }
    // The cut upload's parts went up before the cluster fell; its abort
    // could not: the gateway's sweep (once a minute) aborts it now.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let listed = c.garage_uploads();
        if !listed.contains("UploadId") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an upload is still in progress in Garage: {listed}\n{}",
            c.log(0)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let (status, answer) = c.curl_put(1, &cut_url, &cut.content_type, &cut.bytes);
    assert_eq!(status, 200, "the retried PUT: {answer}");
    for i in 0..2 {
        let (status, got) = c.fetch(i, &large_url);
        assert_eq!(status, 200, "{}", text(&got));
        assert!(got == large.bytes);
        let (s, got) = c.s3(i, "GET", "/down/large", &[], &[], b"");
        assert_eq!(s, 200);
        assert!(got == large_obj);
        let key = format!("/down/after-{i}");
        assert_eq!(c.s3(i, "PUT", &key, &[], &[], &large_obj).0, 200);
        let f = TestFile::new(500_000);
        let url = c.store_file(i, &f);
        let (status, got) = c.fetch(1 - i, &url);
        assert_eq!(status, 200);
        assert!(got == f.bytes);
    }
    c.assert_no_panic_or_500();
}
