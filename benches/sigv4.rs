//! Benchmarks of presigning a PUT URL and verifying that same URL, verifying a header-signed
//! request, decoding a signed `aws-chunked` body, and hashing a body (SHA-256, MD5, CRCs).
//!
//! Owns: measuring the pure SigV4 path the server runs per request (no I/O).
//! Must never: read the wall clock inside the measured code (the clock is fixed).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use md5::Md5;
use sha2::{Digest, Sha256};
use stowage::sigv4::string_to_sign::{chunk_string_to_sign, sha256_hex};
use stowage::sigv4::{
    presign, verify_header_auth, verify_presigned, ChecksumAlgorithm, ChunkedDecoder, Credentials,
    PresignParams, RequestParts, SigningKey, StreamingMode, VerifyParams,
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

/// The "GET object" header-auth example from the S3 API reference (published signature).
fn bench_header_auth(c: &mut Criterion) {
    let headers: Vec<(String, String)> = [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        (
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let req = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    let vp = VerifyParams {
        region: "us-east-1",
        service: "s3",
    };
    let secret_for = |id: &str| {
        (id == "AKIAIOSFODNN7EXAMPLE")
            .then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned())
    };
    let now = datetime!(2013-05-24 00:00:00 UTC);
    assert!(verify_header_auth(&req, secret_for, &vp, now).is_ok());
    c.bench_function("verify_header_auth_get", |b| {
        b.iter(|| verify_header_auth(black_box(&req), secret_for, black_box(&vp), black_box(now)))
    });
}

const MIB: usize = 1 << 20;

/// A 1 MiB payload in 64 KiB signed chunks (16 + the final empty chunk).
fn bench_chunked(c: &mut Criterion) {
    let key = SigningKey::derive("secret", "20240301", "us-east-1", "s3");
    let amz_date = "20240301T100000Z";
    let scope = "20240301/us-east-1/s3/aws4_request";
    let seed = "0".repeat(64);
    let payload: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let mut body = Vec::with_capacity(MIB + 4096);
    let mut previous = seed.clone();
    for chunk in payload.chunks(64 * 1024).chain(std::iter::once(&[][..])) {
        let sig = key.sign(&chunk_string_to_sign(
            amz_date,
            scope,
            &previous,
            &sha256_hex(chunk),
        ));
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
        previous = sig;
    }
    let mode = StreamingMode::Signed {
        seed_signature: seed,
        signing_key: key,
        amz_date: amz_date.to_owned(),
        scope: scope.to_owned(),
    };
    let decode = |feed: usize| {
        let mut dec = ChunkedDecoder::new(mode.clone(), false);
        let mut n = 0usize;
        for piece in body.chunks(feed) {
            dec.feed(piece, &mut |d| n += d.len()).expect("valid body");
        }
        dec.finish().expect("complete body");
        n
    };
    assert_eq!(decode(16 * 1024), MIB);
    let mut g = c.benchmark_group("aws_chunked_signed_1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("feed_16k", |b| b.iter(|| decode(black_box(16 * 1024))));
    g.finish();
}

fn bench_hashes(c: &mut Criterion) {
    let data: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let mut g = c.benchmark_group("hash_1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&data))));
    g.bench_function("md5", |b| b.iter(|| Md5::digest(black_box(&data))));
    g.bench_function("sha256_and_md5", |b| {
        b.iter(|| {
            let mut s = Sha256::new();
            let mut m = Md5::new();
            for piece in black_box(&data).chunks(64 * 1024) {
                s.update(piece);
                m.update(piece);
            }
            (s.finalize(), m.finalize())
        })
    });
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        g.bench_function(alg.name(), |b| {
            b.iter(|| {
                let mut c = alg.checksummer();
                c.update(black_box(&data));
                c.finish()
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_sigv4,
    bench_header_auth,
    bench_chunked,
    bench_hashes
);
criterion_main!(benches);
