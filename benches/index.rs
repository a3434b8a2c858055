//! Benchmarks of the SQLite index on the upload path, through the storage
//! service's rules as the server runs them: recording a presign (insert of
//! a pending row) and recording a 4 KiB upload stored (update + blob row
//! with the bytes inline + object row), each one durable transaction.
//!
//! Owns: measuring the index under the rules, on a real file in a temp dir
//! with the server's settings (WAL, group commit), so the WAL fsync is
//! included; from one thread every commit is its own group (the worst
//! case). The presign includes the storage service's look at the blob
//! store (a stat, and the free-space check), as in the server.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use stowage::clock::SystemClock;
use stowage::index::{BlobInfo, Declared, SqliteIndex};
use stowage::storage::{Payload, Settings, Storage};
use stowage::store::{Digest, LocalStore};
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let storage = Storage::new(
        Arc::new(SqliteIndex::open(dir.path()).unwrap()),
        Arc::new(LocalStore::open(dir.path(), true).unwrap()),
        Arc::new(SystemClock),
        Settings {
            upload_bucket: "uploads".into(),
            reserve_bytes: 0,
            abandoned_multipart_secs: 86_400,
            garbage_grace_secs: 3600,
        },
    );
    let mut n = 0u64;
    c.bench_function("index_presign_insert", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(storage.presign(&declared(n), 900, true))
                .unwrap();
        })
    });
    c.bench_function("index_mark_uploaded", |b| {
        b.iter_batched(
            || {
                n += 1;
                let d = declared(n);
                rt.block_on(storage.presign(&d, 900, true)).unwrap();
                d
            },
            |d| {
                let blob = BlobInfo {
                    sha256: d.sha256,
                    size: d.size,
                    md5: Some([1; 16]),
                };
                let bytes = bytes::Bytes::from_static(&[7u8; 4096]);
                rt.block_on(storage.put_file(d.id, Payload::Inline(bytes), blob, None))
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
