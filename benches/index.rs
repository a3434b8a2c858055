//! Benchmarks of the SQLite index on the upload path: recording a presign
//! (insert of a pending row) and marking a 4 KiB upload stored (update +
//! blob row with the bytes inline + object row), each one durable
//! transaction as in the server.
//!
//! Owns: measuring the index alone, on a real file in a temp dir with the
//! server's settings (WAL, group commit), so the WAL fsync is included;
//! from one thread every commit is its own group (the worst case).

use criterion::{criterion_group, criterion_main, Criterion};
use stowage::index::{BlobInfo, Declared, Index, SqliteIndex};
use stowage::store::Digest;
use uuid::Uuid;

fn declared(n: u64) -> Declared {
    let mut sha = [0u8; 32];
    sha[..8].copy_from_slice(&n.to_le_bytes());
    Declared {
        id: Uuid::new_v4(),
        file_name: "photo.png".into(),
        content_type: "image/png".into(),
        size: 4096,
        sha256: Digest(sha),
    }
}

fn bench_index(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let mut n = 0u64;
    c.bench_function("index_presign_insert", |b| {
        b.iter(|| {
            n += 1;
            db.presign(&declared(n), "uploads", 0, 900, true, None)
                .unwrap();
        })
    });
    c.bench_function("index_mark_uploaded", |b| {
        b.iter_batched(
            || {
                n += 1;
                let d = declared(n);
                db.presign(&d, "uploads", 0, 900, true, None).unwrap();
                d
            },
            |d| {
                let blob = BlobInfo {
                    sha256: d.sha256,
                    size: d.size,
                    md5: Some([1; 16]),
                };
                let bytes = [7u8; 4096];
                db.mark_uploaded(&d.id, &blob, Some(&bytes), None, "uploads", 1)
                    .unwrap();
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_index
}
criterion_main!(benches);
