//! The index's PostgreSQL server stopped and started under running
//! gateways (a server of the test's own: stopping the shared one would
//! break the tests beside it).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{text, Cluster};
use crate::harness::TestFile;
use crate::postgres::TempPostgres;

/// Files (small, kept in the index; large, in Garage) and S3 objects are
/// stored and acknowledged; then PostgreSQL stops at once, as a crash
/// would. On both gateways every request that needs the index answers
/// 503 `ServiceUnavailable` — a JSON error on the upload API, an S3 error
/// on S3, each saying to retry — the process stays up and `/healthz`
/// answers 503; a large PUT whose bytes were going up to Garage when the
/// outage began is answered 503 too. PostgreSQL started again: the
/// gateways answer again
/// without a restart, `/healthz` 200, everything acknowledged before reads
/// back whole through either gateway, and writes succeed (the file
/// presigned before the outage too).
#[test]
fn with_postgres_stopped_gateways_answer_503_stay_up_and_lose_nothing() {
    if !Cluster::in_this_pass() {
        return;
    }
    let Some(pg) = TempPostgres::start() else {
        return;
    };
    let Some(mut c) = Cluster::start_on(2, &pg.url()) else {
        return;
    };
    let files = [TestFile::new(1500), TestFile::new(300_000)];
    let urls: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| c.store_file(i % 2, f))
        .collect();
    assert_eq!(c.s3(0, "PUT", "/pgfault", &[], &[], b"").0, 200);
    let objects = [
        ("/pgfault/small", TestFile::new(700).bytes),
        ("/pgfault/large", TestFile::new(250_000).bytes),
    ];
    for (i, (key, body)) in objects.iter().enumerate() {
        let (s, b) = c.s3(i % 2, "PUT", key, &[], &[], body);
        assert_eq!(s, 200, "{}", text(&b));
    }
    // Presigned before the outage, PUT during it, and again after.
    let later = TestFile::new(200_000);
    // Presigned before the outage, its bytes on their way when it begins.
    let cut = TestFile::new(24 << 20);
    let cut_url = c.presign(1, &cut);
    let later_url = c.presign(0, &later);

    let slow = c.slow_put(1, &cut_url, &cut.content_type, &cut.bytes, "2M");
    c.wait_upload_in_garage("the PUT through gateway 1");
    pg.down();
    for i in 0..2 {
        let f = TestFile::new(100);
        let r = c.api_resp(
            i,
            "POST",
            "/api/inspect/v1/file/upload/presigned",
            Some(&f.declaration()),
        );
        let d = r.assert_json_error(503, "ServiceUnavailable");
        assert!(d.contains("Retry"), "{d}");
        assert_eq!(r.header("retry-after"), Some("1"));
        let r = c.api_resp(
            i,
            "GET",
            &format!("/api/inspect/v1/file/{}", files[0].id),
            None,
        );
        r.assert_json_error(503, "ServiceUnavailable");
        let (status, answer) = c.curl_put(i, &later_url, &later.content_type, &later.bytes);
        assert_eq!(status, 503, "gateway {i}: {answer}");
        assert!(answer.contains("index"), "{answer}");
        let (status, answer) = c.fetch(i, &urls[1]);
        assert_eq!(status, 503, "gateway {i}: {}", text(&answer));

        for (method, key, body) in [
            ("GET", "/pgfault/small", &b""[..]),
            ("GET", "/pgfault/large", &b""[..]),
            ("PUT", "/pgfault/new", &objects[1].1[..]),
        ] {
            let url = c.s3_url(i, method, key, &[], &[]);
            let m = c
                .request(i, method, &url, &[], body)
                .assert_s3_error(503, "ServiceUnavailable");
            assert!(m.contains("Retry"), "{method} {key}: {m}");
        }
        let url = c.s3_url(i, "GET", "/pgfault", &[("list-type", "2")], &[]);
        c.request(i, "GET", &url, &[], b"")
            .assert_s3_error(503, "ServiceUnavailable");

        let d = c
            .wait_health(i, 503, Duration::from_secs(10))
            .assert_json_error(503, "ServiceUnavailable");
        assert!(d.contains("blob store"), "{d}");
        assert!(c.exited(i).is_none(), "gateway {i} exited:\n{}", c.log(i));
    }

    // The body went on arriving; its record could not be written.
    let (status, answer, stderr) = slow.finish();
    assert_eq!(
        status,
        503,
        "the PUT in flight: {answer} {stderr}\n{}",
        c.log(1)
    );
    assert!(answer.contains("index"), "{answer}");

    pg.up();
    // Each gateway's pool connects again at its next request.
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..2 {
        loop {
            let (status, body) = c.api(
                i,
                "GET",
                &format!("/api/inspect/v1/file/{}", files[0].id),
                None,
            );
            if status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "gateway {i} is not back: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c.wait_health(i, 200, Duration::from_secs(10));
    }
    for i in 0..2 {
        for (f, url) in files.iter().zip(&urls) {
            let (status, body) = c.api(i, "GET", &format!("/api/inspect/v1/file/{}", f.id), None);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["status"], "completed", "{body}");
            let (status, got) = c.fetch(i, url);
            assert_eq!(status, 200, "{}", text(&got));
            assert!(got == f.bytes, "gateway {i} served other bytes of {}", f.id);
        }
        for (key, body) in &objects {
            let (s, got) = c.s3(i, "GET", key, &[], &[], b"");
            assert_eq!(s, 200, "{key}: {}", text(&got));
            assert!(got == *body, "gateway {i} served other bytes of {key}");
        }
    }
    for (i, f, url) in [(1, &later, &later_url), (0, &cut, &cut_url)] {
        let (status, answer) = c.curl_put(i, url, &f.content_type, &f.bytes);
        assert_eq!(status, 200, "{answer}");
        let (status, body) = c.api(
            1 - i,
            "POST",
            "/api/inspect/v1/file/upload/complete",
            Some(&json!({ "id": f.id })),
        );
        assert_eq!(status, 200, "{body}");
        let download = body["data"]["downloadURL"].as_str().unwrap().to_string();
        let (status, got) = c.fetch(i, &download);
        assert_eq!(status, 200);
        assert!(got == f.bytes, "other bytes of {}", f.id);
    }
    c.store_file(1, &TestFile::new(5000));
    let (s, b) = c.s3(0, "PUT", "/pgfault/after", &[], &[], &objects[1].1);
    assert_eq!(s, 200, "{}", text(&b));
    // The cut PUT's multipart upload in Garage was aborted as it ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.garage_uploads().contains("UploadId") {
        assert!(Instant::now() < deadline, "{}", c.garage_uploads());
        std::thread::sleep(Duration::from_millis(500));
    }
    c.assert_no_panic_or_500();
}
