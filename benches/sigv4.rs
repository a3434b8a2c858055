//! Benchmarks of presigning a PUT URL and verifying that same URL.
//!
//! Owns: measuring the pure SigV4 path the server runs per request (no I/O).
//! Must never: read the wall clock inside the measured code (the clock is fixed).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stowage::sigv4::{
    presign, verify_presigned, Credentials, PresignParams, RequestParts, VerifyParams,
};
use time::macros::datetime;

const HOST: &str = "127.0.0.1:8080";
const PATH: &str = "/uploads/5f0c8a2e-3d4b-4c1e-9a7f-2b6d8e0f1a3c";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn bench_sigv4(c: &mut Criterion) {
    let creds = Credentials {
        access_key_id: "AKIDSTOWAGEBENCH".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    };
    let now = datetime!(2024-03-01 10:00:00 UTC);
    let params = PresignParams {
        method: "PUT",
        host: HOST,
        path: PATH,
        region: "us-east-1",
        service: "s3",
        expires_secs: 900,
        extra_query: &[("X-Stowage-Sha256", SHA)],
        extra_signed_headers: &[("content-type", "image/png")],
    };

    c.bench_function("presign_put", |b| {
        b.iter(|| presign(black_box(&creds), black_box(&params), black_box(now)))
    });

    let query = presign(&creds, &params, now);
    let headers = vec![
        ("host".to_owned(), HOST.to_owned()),
        ("content-type".to_owned(), "image/png".to_owned()),
        ("content-length".to_owned(), "1048576".to_owned()),
    ];
    let req = RequestParts {
        method: "PUT",
        raw_path: PATH,
        raw_query: &query,
        headers: &headers,
    };
    let vp = VerifyParams {
        region: "us-east-1",
        service: "s3",
    };
    let secret_for =
        |id: &str| (id == creds.access_key_id).then(|| creds.secret_access_key.clone());
    assert!(
        verify_presigned(&req, secret_for, &vp, now).is_ok(),
        "the benchmarked URL must verify"
    );

    c.bench_function("verify_presigned_put", |b| {
        b.iter(|| verify_presigned(black_box(&req), secret_for, black_box(&vp), black_box(now)))
    });
}

criterion_group!(benches, bench_sigv4);
criterion_main!(benches);
