//! The SQLite backend's own tests: group commit, durability, files on
//! disk, and the index operations as this backend implements them.

use super::*;
use crate::storage::tests::retired::Retired;

/// A token row, written as the token commands do.
fn insert_token(db: &SqliteIndex, name: &str, hash: &Digest) -> Result<(), DbError> {
    db.write(|c| {
        c.execute(
            "INSERT INTO tokens (name, token_hash, scopes, created_at) VALUES (?1, ?2, '', 1)",
            params![name, hash.hex()],
        )?;
        Ok(())
    })
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
fn concurrent_commits_share_syncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let (c0, s0) = db.commit_stats().unwrap();
    let (threads, per) = (32, 10);
    concurrently(&db, threads, per, |db, t, i| {
        assert!(db.create_bucket(&format!("b-{t}-{i}"), 1).unwrap());
    });
    let (c1, s1) = db.commit_stats().unwrap();
    assert_eq!(c1 - c0, (threads * per) as u64);
    assert!(s1 - s0 >= 1, "a durable index syncs");
    assert!(
        s1 - s0 < c1 - c0,
        "{} syncs for {} concurrent commits: not grouped",
        s1 - s0,
        c1 - c0
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
        let r = db.write_batched(move |tx| {
            tx.cached_exec(
                "INSERT INTO buckets (name, created_at) VALUES (?1, 1)",
                [&name],
            )?;
            if fail {
                return Err(DbError::Corrupt("test: this write fails"));
            }
            Ok(name)
        });
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

#[test]
fn submitted_writes_run_on_the_writer_in_shared_durable_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    insert_token(&db, "taken", &Digest([6; 32])).unwrap();
    let (c0, _) = db.commit_stats().unwrap();
    let (done, results) = std::sync::mpsc::channel();
    let n = 300;
    for i in 0..n {
        let (index, done) = (db.clone(), done.clone());
        db.submit_write(Box::new(move || {
            // Every third job fails (a token name already taken); the
            // others' writes must not suffer for it.
            let r = if i % 3 == 0 {
                insert_token(&index, "taken", &Digest([7; 32]))
            } else {
                index.create_bucket(&format!("s-{i}"), 1).map(|_| ())
            };
            // Half the jobs take their answer before the sync; it is
            // the same answer.
            let deliver: Delivery = Box::new(move |batch: Result<(), DbError>| {
                done.send((i, batch.and(r))).unwrap();
            });
            (deliver, i % 2 == 0)
        }));
    }
    let got: Vec<(usize, Result<(), DbError>)> = (0..n).map(|_| results.recv().unwrap()).collect();
    for (i, r) in &got {
        assert_eq!(r.is_err(), i % 3 == 0, "job {i}: {r:?}");
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
    let db = SqliteIndex::open(dir.path()).unwrap();
    let v: i64 = db
        .read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
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

    crate::index::contract::contract_tests!(index());
}
