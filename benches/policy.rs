//! Benchmarks of what a bucket policy adds to a request: parsing the
//! stored document (once per text), finding it parsed (every later
//! request), and evaluating it, beside the SigV4 check every signed request already
//! pays, measured in the same run as the reference.
//!
//! Owns: measuring `crate::policy` (no I/O). Must never read the wall
//! clock inside the measured code.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stowage::policy::{arn, Context, Policy, PolicyCache, Request, Who};
use stowage::sigv4::{
    presign, verify_presigned, Credentials, PresignParams, RequestParts, VerifyParams,
};
use time::macros::datetime;

/// A policy as tools write them: public reads of a prefix, a key's
/// listing by prefix and address, and a transport Deny.
const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Web", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
   "Resource": "arn:aws:s3:::site/public/*"},
  {"Sid": "Team", "Effect": "Allow", "Principal": {"AWS": ["AKIDTEAM0000000001", "AKIDTEAM0000000002"]},
   "Action": ["s3:ListBucket", "s3:GetObject*", "s3:PutObject"],
   "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/team/*"],
   "Condition": {"StringLike": {"s3:prefix": ["team/*", ""]}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
  {"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
   "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"],
   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#;

fn bench_policy(c: &mut Criterion) {
    c.bench_function("policy_parse", |b| {
        b.iter(|| Policy::parse(black_box(POLICY), "site").unwrap())
    });
    // What a request pays once the text was parsed for an earlier one.
    let cache = PolicyCache::new();
    cache.get("site", POLICY).unwrap();
    c.bench_function("policy_cache_hit", |b| {
        b.iter(|| cache.get(black_box("site"), black_box(POLICY)).unwrap())
    });
    let policy = Policy::parse(POLICY, "site").unwrap();
    let mut ctx = Context::new();
    ctx.set("aws:SourceIp", "10.1.2.3")
        .set("aws:SecureTransport", "true")
        .set("aws:PrincipalType", "User");
    let resource = arn("site", Some("team/reports/2026/12/summary.pdf"));
    c.bench_function("policy_evaluate", |b| {
        b.iter(|| {
            policy.evaluate(black_box(&Request {
                who: Who::Key("AKIDTEAM0000000002"),
                action: "s3:GetObject",
                resource: &resource,
                context: &ctx,
            }))
        })
    });

    // The reference: verifying a presigned URL, which every such request
    // pays already.
    let creds = Credentials {
        access_key_id: "AKIDSTOWAGEBENCH".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    };
    let now = datetime!(2024-03-01 10:00:00 UTC);
    let params = PresignParams {
        method: "GET",
        host: "127.0.0.1:8080",
        path: "/site/team/reports/2026/12/summary.pdf",
        region: "us-east-1",
        service: "s3",
        expires_secs: 900,
        extra_query: &[],
        extra_signed_headers: &[],
    };
    let query = presign(&creds, &params, now);
    let headers = vec![("host".to_owned(), "127.0.0.1:8080".to_owned())];
    let req = RequestParts {
        method: "GET",
        raw_path: params.path,
        raw_query: &query,
        headers: &headers,
    };
    let vp = VerifyParams {
        region: "us-east-1",
        service: "s3",
    };
    let secret_for =
        |id: &str| (id == creds.access_key_id).then(|| creds.secret_access_key.clone());
    assert!(verify_presigned(&req, secret_for, &vp, now).is_ok());
    c.bench_function("reference_verify_presigned_get", |b| {
        b.iter(|| verify_presigned(black_box(&req), secret_for, black_box(&vp), black_box(now)))
    });
}

criterion_group!(benches, bench_policy);
criterion_main!(benches);
