//! `GET /metrics` over real HTTP: counters move with real traffic, refusals
//! are counted by reason, the scrape reads stored files and free disk, and
//! access follows `[metrics] access`.

use crate::harness::*;

/// The value of the first sample line starting with `name` (labels
/// included in `name`).
pub(crate) fn sample(text: &str, name: &str) -> f64 {
    sample_of(text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

fn sample_of(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sum of sample `name` over every gateway of `s` (each counts what
/// it served: a site's monitoring scrapes each gateway and adds them up).
pub(crate) fn total(s: &TestServer, name: &str) -> f64 {
    s.gateways
        .iter()
        .map(|gw| {
            let r = Resp::from(
                ureq::get(&format!("http://{gw}/metrics"))
                    .set("Authorization", &format!("Bearer {}", s.token))
                    .call(),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            // A gateway that served none of them has no such line.
            sample_of(&r.body, name).unwrap_or(0.0)
        })
        .sum()
}

pub(crate) fn scrape(s: &TestServer) -> String {
    let r = s.get_api("/metrics", Some(&s.token.clone()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    r.body
}

#[test]
fn counters_move_with_traffic_and_refusals_are_counted_by_reason() {
    let s = TestServer::start();
    let before = scrape(&s);
    assert_eq!(sample(&before, "stowage_stored_files "), 0.0);
    assert!(sample(&before, "stowage_free_disk_bytes ") > 0.0);
    // The size of SQLite's file; PostgreSQL's database is not the
    // gateway's to measure (0).
    assert!(crate::index_db::on_postgres() || sample(&before, "stowage_index_bytes ") > 0.0);

    let f = TestFile::new(100_000);
    let url = s.presign_url(&f);
    // A tampered upload: refused, and counted by its S3 code.
    put(&url, "text/plain", &f.bytes).assert_s3_error(403, "SignatureDoesNotMatch");
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let pending = TestFile::new(10);
    s.presign_url(&pending);

    // Counters are each gateway's own (summed over a cluster's); what the
    // scrape reads from the index is the same on every gateway.
    let after = scrape(&s);
    assert_eq!(
        total(
            &s,
            "stowage_http_requests_total{route=\"api_presign\",method=\"POST\",status=\"201\"}"
        ),
        2.0
    );
    assert_eq!(
        total(
            &s,
            "stowage_http_requests_total{route=\"s3_object\",method=\"PUT\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        total(
            &s,
            "stowage_rejections_total{reason=\"SignatureDoesNotMatch\"}"
        ),
        1.0
    );
    assert_eq!(sample(&after, "stowage_stored_files "), 1.0);
    assert_eq!(sample(&after, "stowage_pending_uploads "), 1.0);
    assert_eq!(sample(&after, "stowage_stored_bytes "), 100_000.0);
    assert!(total(&s, "stowage_http_request_bytes_total ") >= 200_000.0);
    assert!(
        total(
            &s,
            "stowage_http_request_duration_seconds_count{route=\"s3_object\"}"
        ) >= 2.0
    );
    // Nothing a client chose becomes a label.
    assert!(!after.contains(&f.id), "an id in the metrics");
}

#[test]
fn access_follows_the_config() {
    let s = TestServer::start();
    s.get_api("/metrics", None)
        .assert_json_error(401, "Unauthorized");
    let open = TestServer::start_with("[metrics]\naccess = \"open\"\n");
    assert_eq!(open.get_api("/metrics", None).status, 200);
    let off = TestServer::start_with("[metrics]\naccess = \"off\"\n");
    off.get_api("/metrics", Some(&off.token.clone()))
        .assert_json_error(404, "NotFound");
}
