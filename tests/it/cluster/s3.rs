//! S3 across gateways: a write on one is read and listed on the others at
//! once; a multipart upload's parts go through different gateways;
//! conditional creates racing on three gateways let exactly one win; the
//! same file id PUT on two gateways at once is one file.

use std::sync::{Arc, Barrier};

use super::{text, Cluster};
use crate::harness::TestFile;

/// A bucket made on gateway 0, an object put on gateway 1, listed on
/// gateway 2 right after, read (whole and a range) on gateway 0; deleted
/// on gateway 2, gone on all.
#[test]
fn a_write_on_one_gateway_is_read_and_listed_on_the_others_at_once() {
    let Some(c) = Cluster::start(3) else { return };
    let (s, b) = c.s3(0, "PUT", "/shared", &[], &[], b"");
    assert_eq!(s, 200, "{}", text(&b));
    let body = TestFile::new(300_000).bytes;
    for (i, key) in ["a/one", "a/two", "b/three"].iter().enumerate() {
        let (s, b) = c.s3(1 + i % 2, "PUT", &format!("/shared/{key}"), &[], &[], &body);
        assert_eq!(s, 200, "{}", text(&b));
        let (s, list) = c.s3(2 - i % 2, "GET", "/shared", &[("list-type", "2")], &[], b"");
        assert_eq!(s, 200);
        assert!(
            text(&list).contains(&format!("<Key>{key}</Key>")),
            "{}",
            text(&list)
        );
    }
    let (s, got) = c.s3(0, "GET", "/shared/a/two", &[], &[], b"");
    assert_eq!(s, 200);
    assert!(got == body);
    let (s, got) = c.s3(
        0,
        "GET",
        "/shared/a/two",
        &[],
        &[("range", "bytes=100-199")],
        b"",
    );
    assert_eq!(s, 206);
    assert!(got == body[100..200]);
    let (s, _) = c.s3(2, "DELETE", "/shared/a/two", &[], &[], b"");
    assert_eq!(s, 204);
    for i in 0..3 {
        let (s, _) = c.s3(i, "GET", "/shared/a/two", &[], &[], b"");
        assert_eq!(s, 404, "gateway {i}");
    }
}

/// CreateMultipartUpload on gateway 0, three parts through gateways 1, 2
/// and 0 (the last one small), the completion on gateway 1: the object
/// reads back whole on gateway 2 with the multipart ETag.
#[test]
fn a_multipart_uploads_parts_go_through_different_gateways() {
    let Some(c) = Cluster::start(3) else { return };
    assert_eq!(c.s3(0, "PUT", "/mpu", &[], &[], b"").0, 200);
    let (s, b) = c.s3(0, "POST", "/mpu/big", &[("uploads", "")], &[], b"");
    assert_eq!(s, 200, "CreateMultipartUpload: {}", text(&b));
    let upload_id = between(&text(&b), "<UploadId>", "</UploadId>");
    let parts: Vec<Vec<u8>> = [5 << 20, 5 << 20, 12_345]
        .iter()
        .map(|&n| TestFile::new(n).bytes)
        .collect();
    let mut etags = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let number = (n + 1).to_string();
        let q = [
            ("partNumber", number.as_str()),
            ("uploadId", upload_id.as_str()),
        ];
        let gw = [1, 2, 0][n];
        let url = c.s3_url(gw, "PUT", "/mpu/big", &q, &[]);
        let resp = c.agent(gw).put(&url).send_bytes(part).unwrap();
        assert_eq!(resp.status(), 200);
        etags.push(resp.header("etag").unwrap().to_string());
    }
    let xml: String = etags
        .iter()
        .enumerate()
        .map(|(n, e)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                n + 1
            )
        })
        .collect();
    let body = format!("<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>");
    let (s, b) = c.s3(
        1,
        "POST",
        "/mpu/big",
        &[("uploadId", &upload_id)],
        &[],
        body.as_bytes(),
    );
    assert_eq!(s, 200, "{}", text(&b));
    assert!(
        text(&b).contains("-3&quot;") || text(&b).contains("-3\""),
        "{}",
        text(&b)
    );
    let (s, got) = c.s3(2, "GET", "/mpu/big", &[], &[], b"");
    assert_eq!(s, 200);
    assert!(
        got == parts.concat(),
        "the object is not its parts in order"
    );
}

/// `If-None-Match: *` PUTs of one key from three gateways at once, five
/// keys over: each time exactly one is 200 and the others 412, and the
/// key holds the winner's bytes.
#[test]
fn conditional_creates_racing_on_three_gateways_let_exactly_one_win() {
    let Some(c) = Cluster::start(3) else { return };
    assert_eq!(c.s3(0, "PUT", "/race", &[], &[], b"").0, 200);
    let c = Arc::new(c);
    for round in 0..5 {
        let key = format!("/race/k{round}");
        let gate = Arc::new(Barrier::new(3));
        let racers: Vec<_> = (0..3)
            .map(|i| {
                let (c, gate, key) = (c.clone(), gate.clone(), key.clone());
                std::thread::spawn(move || {
                    let body = format!("from gateway {i}, {}", "x".repeat(100_000 * (i % 2)));
                    let url = c.s3_url(i, "PUT", &key, &[], &[("if-none-match", "*")]);
                    gate.wait();
                    let r = c
                        .agent(i)
                        .put(&url)
                        .set("if-none-match", "*")
                        .send_bytes(body.as_bytes());
                    let status = match r {
                        Ok(r) => r.status(),
                        Err(ureq::Error::Status(s, _)) => s,
                        Err(e) => panic!("{e}"),
                    };
                    (status, body)
                })
            })
            .collect();
        let results: Vec<(u16, String)> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let winners: Vec<&(u16, String)> = results.iter().filter(|r| r.0 == 200).collect();
        let statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "round {round}: {statuses:?}");
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            2,
            "round {round}: {statuses:?}"
        );
        let (s, got) = c.s3(round % 3, "GET", &key, &[], &[], b"");
        assert_eq!(s, 200);
        assert_eq!(text(&got), winners[0].1);
    }
}

/// One presigned URL PUT through two gateways at the same moment: both
/// answer as for one upload (stored, or stored already), and there is one
/// file, one blob row naming one id in the cluster, its bytes whole.
#[test]
fn the_same_id_put_on_two_gateways_at_once_is_one_file() {
    let Some(c) = Cluster::start(2) else { return };
    let c = Arc::new(c);
    let f = TestFile::new(2 << 20);
    let url = c.presign(0, &f);
    let gate = Arc::new(Barrier::new(2));
    let puts: Vec<_> = (0..2)
        .map(|i| {
            let (c, gate, url, f) = (c.clone(), gate.clone(), url.clone(), f.clone());
            std::thread::spawn(move || {
                gate.wait();
                match c
                    .agent(i)
                    .put(&url)
                    .set("Content-Type", &f.content_type)
                    .send_bytes(&f.bytes)
                {
                    Ok(r) => r.status(),
                    Err(ureq::Error::Status(s, r)) => {
                        panic!("gateway {i}: {s} {}", r.into_string().unwrap())
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    for p in puts {
        assert_eq!(p.join().unwrap(), 200);
    }
    assert_eq!(c.file_status(&f.id), vec![Some("uploaded".to_string())]);
    let ids = c.upstream_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = c.garage_blobs();
    assert!(listed.contains(&ids[0]), "{listed}");
}

fn between(s: &str, a: &str, b: &str) -> String {
    let from = s.find(a).unwrap_or_else(|| panic!("no {a} in {s}")) + a.len();
    let to = s[from..].find(b).unwrap() + from;
    s[from..to].to_string()
}
