//! The SQLite backend's own tests: group commit, durability, files on
//! disk, and the index operations as this backend implements them.

use super::commit::CHECKPOINT_EVERY;
use super::*;
use crate::storage::tests::retired::Retired;
use crate::store::Digest;

/// Runs a future to its end on a runtime of its own (these tests drive
/// the index from plain threads, as concurrent requests would).
fn block_on<R>(f: impl std::future::Future<Output = R>) -> R {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

/// A token row, written as the token commands do; an error if the name is
/// taken.
fn insert_token(db: &SqliteIndex, name: &str, hash: &Digest) -> Result<(), IndexError> {
    let (name, hash) = (name.to_string(), *hash);
    block_on((db as &dyn Index).write(move |tx| {
        let name = name.clone();
        Box::pin(async move {
            if tx.insert_token(&name, &hash, &[], 1).await? {
                Ok(())
            } else {
                Err(IndexError::Backend(format!("a token named {name} exists")))
            }
        })
    }))
}

/// The bucket names a freshly opened index of `dir` holds.
fn bucket_names_after_reopen(dir: &Path) -> std::collections::HashSet<String> {
    let db = SqliteIndex::open(dir).unwrap();
    db.list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect()
}

/// Runs `f(db, thread, i)` for `per` values of `i` on each of
/// `threads` threads, all released at once.
fn concurrently(
    db: &std::sync::Arc<SqliteIndex>,
    threads: usize,
    per: usize,
    f: impl Fn(&SqliteIndex, usize, usize) + Send + Sync + Copy + 'static,
) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (db, start) = (db.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..per {
                    f(&db, t, i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn concurrent_writes_share_syncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let (c0, s0) = db.commit_stats().unwrap();
    let (threads, per) = (32, 10);
    concurrently(&db, threads, per, |db, t, i| {
        assert!(db.create_bucket(&format!("b-{t}-{i}"), 1).unwrap());
    });
    // Every write is a transaction body of the writer's batches: they
    // share transactions and, above all, syncs.
    let (c1, s1) = db.commit_stats().unwrap();
    let writes = (threads * per) as u64;
    assert!(
        c1 - c0 <= writes,
        "{} transactions for {writes} writes",
        c1 - c0
    );
    assert!(s1 - s0 >= 1, "a durable index syncs");
    assert!(
        s1 - s0 < writes,
        "{} syncs for {writes} concurrent writes: not grouped",
        s1 - s0
    );
    drop(db);
    // Everything answered is there after reopening.
    let db = SqliteIndex::open(dir.path()).unwrap();
    assert_eq!(db.list_buckets().unwrap().len(), threads * per);
}

#[test]
fn batched_writes_share_transactions_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let (c0, _) = db.commit_stats().unwrap();
    let (threads, per) = (32, 10);
    concurrently(&db, threads, per, |db, t, i| {
        let name = format!("b-{t}-{i}");
        let fail = (t + i) % 3 == 0;
        let r = block_on((db as &dyn Index).write(move |tx| {
            let name = name.clone();
            Box::pin(async move {
                tx.insert_bucket(&name, None, 1).await?;
                if fail {
                    return Err(IndexError::Backend("test: this write fails".into()));
                }
                Ok(name)
            })
        }));
        assert_eq!(r.is_err(), fail);
    });
    let (c1, _) = db.commit_stats().unwrap();
    let calls = (threads * per) as u64;
    assert!(
        c1 - c0 < calls,
        "{} transactions for {calls} writes",
        c1 - c0
    );
    // Exactly the writes that succeeded are there, after reopening too.
    drop(db);
    let names = bucket_names_after_reopen(dir.path());
    for t in 0..threads {
        for i in 0..per {
            let name = format!("b-{t}-{i}");
            assert_eq!(names.contains(&name), (t + i) % 3 != 0, "{name}");
        }
    }
}

/// Write `i` of the test below: every third a token name already taken
/// (it fails), the others a bucket of their own.
fn token_or_bucket(tx: &mut dyn crate::index::Tx, i: usize) -> crate::index::TxFuture<'_, ()> {
    Box::pin(async move {
        if i % 3 == 0 {
            if !tx.insert_token("taken", &Digest([7; 32]), &[], 1).await? {
                return Err(IndexError::Backend("name taken".into()));
            }
        } else {
            tx.insert_bucket(&format!("s-{i}"), None, 1).await?;
        }
        Ok(())
    })
}

#[test]
fn submitted_writes_run_on_the_writer_in_shared_durable_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    insert_token(&db, "taken", &Digest([6; 32])).unwrap();
    let (c0, _) = db.commit_stats().unwrap();
    let n = 300;
    // Every write is submitted before any is answered: they share the
    // writer's batches.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got: Vec<(usize, Result<(), IndexError>)> = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let index: std::sync::Arc<dyn Index> = db.clone();
                tokio::spawn(async move {
                    // The failing ones must not make the others fail.
                    // Half take their answer before the sync; it is the
                    // same answer.
                    let r = if i % 2 == 0 {
                        index.write(move |tx| token_or_bucket(tx, i)).await
                    } else {
                        index
                            .write_when(move |tx| token_or_bucket(tx, i), |_| false)
                            .await
                    };
                    (i, r)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for (i, r) in &got {
        assert_eq!(r.is_err(), i % 3 == 0, "write {i}: {r:?}");
    }
    let (c1, _) = db.commit_stats().unwrap();
    assert!(c1 - c0 < n as u64, "{} transactions for {n} jobs", c1 - c0);
    drop(db);
    let names = bucket_names_after_reopen(dir.path());
    for i in 0..n {
        assert_eq!(
            names.contains(&format!("s-{i}")),
            i % 3 != 0,
            "bucket s-{i}"
        );
    }
}

#[test]
fn the_syncer_checkpoints_the_wal_without_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    for i in 0..300 {
        db.create_bucket(&format!("c-{i}"), 1).unwrap();
    }
    // Within a few checkpoint periods every write is in the database
    // file itself (300 small commits stay far below the writer's own
    // checkpoint mark, so this is the syncer's doing).
    // A copy of that file alone, without the WAL, shows what it holds.
    let copy = tempfile::tempdir().unwrap();
    let mut copied = false;
    for _ in 0..50 {
        std::thread::sleep(CHECKPOINT_EVERY / 2);
        std::fs::copy(dir.path().join(DB_FILE), copy.path().join(DB_FILE)).unwrap();
        // (Before the first checkpoint not even the schema is there.)
        let n: i64 = Connection::open(copy.path().join(DB_FILE))
            .unwrap()
            .query_row("SELECT count(*) FROM buckets", [], |r| r.get(0))
            .unwrap_or(0);
        if n == 300 {
            copied = true;
            break;
        }
    }
    assert!(copied, "the WAL was never checkpointed");
}

#[test]
fn relaxed_index_never_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open_with(dir.path(), false).unwrap();
    assert!(db.create_bucket("b", 1).unwrap());
    assert!(db.commit_stats().is_none());
    assert!(db.bucket_exists("b").unwrap());
}

#[test]
fn the_index_file_is_its_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // New: created 0600, and SQLite's WAL follows it.
    let idx = SqliteIndex::open_with(dir.path(), false).unwrap();
    insert_token(&idx, "t", &Digest([7; 32])).unwrap();
    assert_eq!(mode(&dir.path().join(DB_FILE)), 0o600);
    assert_eq!(mode(&dir.path().join(format!("{DB_FILE}-wal"))), 0o600);
    drop(idx);
    // Existing and open to others: tightened.
    let db = dir.path().join(DB_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteIndex::open_with(dir.path(), false).unwrap();
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn reopening_keeps_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteIndex::open(dir.path()).unwrap());
    drop(SqliteIndex::open(dir.path()).unwrap());
    let v: i64 = Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, migrations::LATEST);
}

/// The contract of every index backend (`crate::index::contract`).
mod contract {
    fn index() -> Option<(tempfile::TempDir, std::sync::Arc<dyn super::Index>)> {
        let dir = tempfile::tempdir().unwrap();
        let idx = super::SqliteIndex::open(dir.path()).unwrap();
        Some((dir, std::sync::Arc::new(idx)))
    }

    /// An index that may grow only a little past its empty schema (64
    /// pages more, `PRAGMA max_page_count` on the writer): SQLite answers
    /// SQLITE_FULL as on a full disk.
    fn full_index() -> Option<(tempfile::TempDir, std::sync::Arc<dyn super::Index>)> {
        let dir = tempfile::tempdir().unwrap();
        let idx = super::SqliteIndex::open(dir.path()).unwrap();
        {
            let writer = idx.core.lock_writer().unwrap();
            let conn = writer.as_ref().expect("the writer is idle");
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .unwrap();
            let limit: i64 = conn
                .query_row(
                    &format!("PRAGMA max_page_count = {}", pages + 64),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(limit, pages + 64);
        }
        Some((dir, std::sync::Arc::new(idx)))
    }

    crate::index::contract::contract_tests!(index(), full: full_index());
}

/// Keys may hold the NUL character here (PostgreSQL refuses them, so the
/// contract cannot say it for every backend): a prefix holding one
/// matches by bytes like any other, for objects and for uploads.
#[tokio::test]
async fn a_prefix_with_a_nul_matches_by_its_bytes() {
    use crate::index::{BlobInfo, MultipartUpload, ObjectMeta, ObjectRecord};
    let dir = tempfile::tempdir().unwrap();
    let idx: std::sync::Arc<dyn Index> =
        std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let keys = ["a", "a\0b", "a\0c", "ab", "b"];
    idx.write(move |tx| {
        Box::pin(async move {
            tx.insert_bucket("b", None, 1).await?;
            let blob = BlobInfo {
                sha256: Digest([1; 32]),
                size: 1,
                md5: None,
            };
            tx.record_blob(&blob, None, 1, false).await?;
            for (n, k) in keys.iter().enumerate() {
                let obj = ObjectRecord {
                    version_id: crate::index::NULL_VERSION.into(),
                    bucket: "b".into(),
                    key: k.to_string(),
                    sha256: blob.sha256,
                    size: 1,
                    etag: "e".into(),
                    content_type: "text/plain".into(),
                    meta: ObjectMeta::default(),
                    last_modified: 1,
                };
                tx.put_object(&obj).await?;
                let up = MultipartUpload {
                    upload_id: format!("u{n}"),
                    bucket: "b".into(),
                    key: k.to_string(),
                    content_type: "text/plain".into(),
                    meta: ObjectMeta::default(),
                    created_at: 1,
                };
                tx.insert_upload(&up).await?;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
    for (prefix, want) in [
        ("a\0", &["a\0b", "a\0c"][..]),
        ("a\0b", &["a\0b"][..]),
        ("a", &["a", "a\0b", "a\0c", "ab"][..]),
        ("\0", &[][..]),
    ] {
        let (objects, uploads) = idx
            .read(move |tx| {
                Box::pin(async move {
                    Ok((
                        tx.list_objects("b", prefix, "", 10).await?,
                        tx.list_uploads("b", prefix, "", "", 10).await?,
                    ))
                })
            })
            .await
            .unwrap();
        let objects: Vec<_> = objects.iter().map(|o| o.key.as_str()).collect();
        let uploads: Vec<_> = uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(objects, want, "objects under {prefix:?}");
        assert_eq!(uploads, want, "uploads under {prefix:?}");
    }
}
