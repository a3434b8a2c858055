//! Bucket lifecycle as AWS answers it, over real HTTP, run on the
//! gateway's injected clock: Put/Get/DeleteBucketLifecycleConfiguration
//! with AWS's refusals; `x-amz-expiration` on reads; a round of the worker
//! expires current objects, removes noncurrent versions (the newest N
//! kept) and lone delete markers, aborts old multipart uploads, never
//! removes a version Object Lock holds, and counts what it did in
//! `/metrics`.

use crate::harness::*;
use crate::s3::{call, create_upload, put_obj, put_req, signed};

const DAY: i64 = 86_400;

fn put_lifecycle(s: &TestServer, bucket: &str, rules: &str) -> Resp {
    let xml = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
    Resp::from(ureq::put(&signed(s, "PUT", bucket, &[("lifecycle", "")])).send_string(&xml))
}

/// One round of the worker, as the housekeeping timer runs it (waiting
/// for the lock, counted in `/metrics`).
fn run_lifecycle(s: &TestServer) {
    let rt = s.rt.as_ref().unwrap();
    rt.block_on(stowage::server::lifecycle_round(&s.app, true));
}

fn versioned(s: &TestServer, bucket: &str) {
    assert_eq!(call(s, "PUT", bucket, &[]).status, 200);
    let on = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r = Resp::from(ureq::put(&signed(s, "PUT", bucket, &[("versioning", "")])).send_string(on));
    assert_eq!(r.status, 200);
}

fn versions(s: &TestServer, bucket: &str) -> Vec<String> {
    let r = call(s, "GET", bucket, &[("versions", "")]);
    r.body
        .split("<VersionId>")
        .skip(1)
        .map(|v| v.split('<').next().unwrap().to_string())
        .collect()
}

/// A line of the `/metrics` text of the gateway the rounds ran on (each
/// gateway counts its own; a cluster run's balancer would pick any).
fn metric(s: &TestServer, line_start: &str) -> String {
    let text = s.app.metrics.render(stowage::metrics::Snapshot::default());
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_configuration_round_trips_and_a_bad_one_changes_nothing() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/rules", &[]).status, 200);
    call(&s, "GET", "/rules", &[("lifecycle", "")])
        .assert_s3_error(404, "NoSuchLifecycleConfiguration");
    let rule = "<Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>\
                <Expiration><Days>30</Days></Expiration></Rule>";
    assert_eq!(put_lifecycle(&s, "/rules", rule).status, 200);
    let r = call(&s, "GET", "/rules", &[("lifecycle", "")]);
    assert!(r.body.contains("<ID>logs</ID>"), "{}", r.body);
    assert!(r.body.contains("<Prefix>logs/</Prefix>"), "{}", r.body);
    assert!(r.body.contains("<Days>30</Days>"), "{}", r.body);
    // Refused with AWS's codes; the rules stay as they were.
    for (bad, status, code) in [
        (
            "<Rule><ID>x</ID><Status>Enabled</Status></Rule>",
            400,
            "InvalidRequest",
        ),
        (
            "<Rule><ID>x</ID><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule>",
            400,
            "MalformedXML",
        ),
        (
            "<Rule><ID>x</ID><Status>Enabled</Status><Transition><Days>1</Days>\
             <StorageClass>GLACIER</StorageClass></Transition></Rule>",
            501,
            "NotImplemented",
        ),
    ] {
        put_lifecycle(&s, "/rules", bad).assert_s3_error(status, code);
    }
    assert!(call(&s, "GET", "/rules", &[("lifecycle", "")])
        .body
        .contains("<ID>logs</ID>"));
    assert_eq!(
        call(&s, "DELETE", "/rules", &[("lifecycle", "")]).status,
        204
    );
    call(&s, "GET", "/rules", &[("lifecycle", "")])
        .assert_s3_error(404, "NoSuchLifecycleConfiguration");
}

#[test]
fn current_objects_expire_on_the_gateways_clock() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/life", &[]).status, 200);
    put_obj(&s, "/life/logs/a.log", b"old log", &[]);
    put_obj(&s, "/life/keep/b.txt", b"kept", &[]);
    let rule = "<Rule><ID>expire-logs</ID><Filter><Prefix>logs/</Prefix></Filter>\
                <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>";
    assert_eq!(put_lifecycle(&s, "/life", rule).status, 200);
    let r = call(&s, "GET", "/life/logs/a.log", &[]);
    let expiration = r
        .header("x-amz-expiration")
        .expect("x-amz-expiration")
        .to_string();
    assert!(
        expiration.contains("rule-id=\"expire-logs\""),
        "{expiration}"
    );
    assert!(expiration.contains("GMT\""), "{expiration}");
    assert_eq!(
        call(&s, "GET", "/life/keep/b.txt", &[]).header("x-amz-expiration"),
        None
    );
    // A PUT the rule covers says so in its answer too.
    let r = put_obj(&s, "/life/logs/c.log", b"new log", &[]);
    let on_put = r
        .header("x-amz-expiration")
        .expect("x-amz-expiration on PUT");
    assert!(on_put.contains("rule-id=\"expire-logs\""), "{on_put}");

    // Not yet due: nothing happens.
    run_lifecycle(&s);
    assert_eq!(call(&s, "GET", "/life/logs/a.log", &[]).status, 200);
    // Two days on, the log is gone, the rest stays.
    s.clock.advance(2 * DAY);
    run_lifecycle(&s);
    call(&s, "GET", "/life/logs/a.log", &[]).assert_s3_error(404, "NoSuchKey");
    assert_eq!(call(&s, "GET", "/life/keep/b.txt", &[]).body, "kept");
    assert!(
        metric(&s, "stowage_lifecycle_actions_total{action=\"expired\"}").ends_with(" 2"),
        "{}",
        metric(&s, "stowage_lifecycle_actions_total")
    );
    // The two rounds run here, and the timer's first at start-up.
    let rounds = metric(&s, "stowage_lifecycle_rounds_total");
    let n: u64 = rounds.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((2..=3).contains(&n), "{rounds}");
}

#[test]
fn noncurrent_versions_and_lone_markers_go_the_newest_kept() {
    let s = TestServer::start();
    versioned(&s, "/hist");
    let ids: Vec<String> = ["v1", "v2", "v3"]
        .iter()
        .map(|b| {
            put_obj(&s, "/hist/doc", b.as_bytes(), &[])
                .header("x-amz-version-id")
                .unwrap()
                .to_string()
        })
        .collect();
    put_obj(&s, "/hist/gone/x", b"x", &[]);
    assert_eq!(call(&s, "DELETE", "/hist/gone/x", &[]).status, 204);
    let rules = "<Rule><ID>keep-one</ID><Filter><Prefix>doc</Prefix></Filter><Status>Enabled\
                 </Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
                 <NewerNoncurrentVersions>1</NewerNoncurrentVersions>\
                 </NoncurrentVersionExpiration></Rule>\
                 <Rule><ID>tidy</ID><Filter><Prefix>gone/</Prefix></Filter><Status>Enabled\
                 </Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>\
                 </Expiration><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
                 </NoncurrentVersionExpiration></Rule>";
    assert_eq!(put_lifecycle(&s, "/hist", rules).status, 200);
    s.clock.advance(2 * DAY);
    run_lifecycle(&s);
    // doc: v3 current, v2 the one noncurrent kept, v1 gone; gone/x: its
    // version and then its lone marker gone.
    assert_eq!(versions(&s, "/hist"), vec![ids[2].clone(), ids[1].clone()]);
    assert_eq!(call(&s, "GET", "/hist/doc", &[]).body, "v3");
    assert!(metric(
        &s,
        "stowage_lifecycle_actions_total{action=\"noncurrent_removed\"}"
    )
    .ends_with(" 2"));
    assert!(metric(
        &s,
        "stowage_lifecycle_actions_total{action=\"markers_removed\"}"
    )
    .ends_with(" 1"));
}

#[test]
fn a_locked_version_outlives_the_rule_until_its_retention_ends() {
    let s = TestServer::start();
    let r = Resp::from(
        put_req(
            &s,
            "/wormlife",
            &[],
            &[("x-amz-bucket-object-lock-enabled", "true")],
        )
        .call(),
    );
    assert_eq!(r.status, 200);
    let config = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
                  <DefaultRetention><Mode>COMPLIANCE</Mode><Days>10</Days></DefaultRetention>\
                  </Rule></ObjectLockConfiguration>";
    let url = signed(&s, "PUT", "/wormlife", &[("object-lock", "")]);
    assert_eq!(Resp::from(ureq::put(&url).send_string(config)).status, 200);
    let old = put_obj(&s, "/wormlife/db", b"first", &[])
        .header("x-amz-version-id")
        .unwrap()
        .to_string();
    put_obj(&s, "/wormlife/db", b"second", &[]);
    let rule = "<Rule><ID>prune</ID><Filter></Filter><Status>Enabled</Status>\
                <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
                </NoncurrentVersionExpiration></Rule>";
    assert_eq!(put_lifecycle(&s, "/wormlife", rule).status, 200);
    s.clock.advance(2 * DAY);
    run_lifecycle(&s);
    assert_eq!(
        call(&s, "GET", "/wormlife/db", &[("versionId", &old)]).body,
        "first"
    );
    assert!(metric(
        &s,
        "stowage_lifecycle_actions_total{action=\"locked_kept\"}"
    )
    .ends_with(" 1"));
    // Its retention over, the rule removes it.
    s.clock.advance(10 * DAY);
    run_lifecycle(&s);
    call(&s, "GET", "/wormlife/db", &[("versionId", &old)]).assert_s3_error(404, "NoSuchVersion");
}

#[test]
fn old_multipart_uploads_are_aborted() {
    let s = TestServer::start();
    assert_eq!(call(&s, "PUT", "/mpu", &[]).status, 200);
    create_upload(&s, "/mpu/big.iso");
    let rule = "<Rule><ID>abort</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>\
                <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
                </AbortIncompleteMultipartUpload></Rule>";
    assert_eq!(put_lifecycle(&s, "/mpu", rule).status, 200);
    run_lifecycle(&s);
    assert!(call(&s, "GET", "/mpu", &[("uploads", "")])
        .body
        .contains("<Upload>"));
    s.clock.advance(2 * DAY);
    run_lifecycle(&s);
    let r = call(&s, "GET", "/mpu", &[("uploads", "")]);
    assert!(!r.body.contains("<Upload>"), "{}", r.body);
}
