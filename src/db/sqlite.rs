//! SQLite implementation of [`Index`]: one connection behind a mutex, WAL
//! journal, `synchronous = FULL` so a committed transaction survives a power
//! cut (the promise behind every 200 we send).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use super::{
    migrations, BlobClaim, CompleteOutcome, DbError, Declared, FileRecord, Index, MarkOutcome,
    PresignOutcome, Status, TokenRecord,
};
use crate::store::Digest;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "stowage.db";

pub struct SqliteIndex {
    conn: Mutex<Connection>,
}

const FILE_COLUMNS: &str = "id, file_name, content_type, size, sha256, status, created_at, \
                            url_expires_at, uploaded_at, completed_at";

impl SqliteIndex {
    /// Opens (creating and migrating if needed) `data_dir/stowage.db`.
    pub fn open(data_dir: &Path) -> Result<Self, DbError> {
        let mut conn = Connection::open(data_dir.join(DB_FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The token CLI may write while the server runs; wait, don't fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteIndex {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, DbError> {
        self.conn.lock().map_err(|_| DbError::Poisoned)
    }
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<Result<FileRecord, DbError>> {
    let id: String = row.get(0)?;
    let sha: String = row.get(4)?;
    let status: String = row.get(5)?;
    let size: i64 = row.get(3)?;
    let rec = (|| {
        Ok(FileRecord {
            id: Uuid::parse_str(&id).map_err(|_| DbError::Corrupt("files.id"))?,
            file_name: row.get(1)?,
            content_type: row.get(2)?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("files.size"))?,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("files.sha256"))?,
            status: Status::parse(&status).ok_or(DbError::Corrupt("files.status"))?,
            created_at: row.get(6)?,
            url_expires_at: row.get(7)?,
            uploaded_at: row.get(8)?,
            completed_at: row.get(9)?,
        })
    })();
    Ok(rec)
}

fn get_file(conn: &Connection, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
    conn.query_row(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
        [id.to_string()],
        file_from_row,
    )
    .optional()?
    .transpose()
}

fn blob_stored(conn: &Connection, sha256: &Digest, size: u64) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM files WHERE sha256 = ?1 AND size = ?2 AND status <> 'pending' LIMIT 1",
            params![sha256.hex(), size as i64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn describe_conflict(existing: &FileRecord, d: &Declared) -> Option<String> {
    let mut diffs = Vec::new();
    if existing.sha256 != d.sha256 {
        diffs.push("hash".to_string());
    }
    if existing.size != d.size {
        diffs.push(format!("size (stored {})", existing.size));
    }
    if existing.content_type != d.content_type {
        diffs.push(format!("contentType (stored '{}')", existing.content_type));
    }
    if diffs.is_empty() {
        None
    } else {
        Some(format!(
            "id {} is already used for a file with a different {}; use a new id for a different file",
            d.id,
            diffs.join(", ")
        ))
    }
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = row.get(1)?;
    Ok(TokenRecord {
        name: row.get(0)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_at: row.get(2)?,
        revoked_at: row.get(3)?,
    })
}

impl Index for SqliteIndex {
    fn presign(
        &self,
        d: &Declared,
        now: i64,
        url_expires_at: i64,
        dedupe: bool,
    ) -> Result<PresignOutcome, DbError> {
        let mut conn = self.conn()?;
        // IMMEDIATE: the read and the write below are one decision.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = get_file(&tx, &d.id)?;
        let linkable = dedupe && blob_stored(&tx, &d.sha256, d.size)?;
        let outcome = match existing {
            Some(rec) => {
                if let Some(why) = describe_conflict(&rec, d) {
                    PresignOutcome::Conflict(why)
                } else if rec.status.has_bytes() {
                    PresignOutcome::AlreadyStored
                } else if linkable {
                    tx.execute(
                        "UPDATE files SET status = 'uploaded', uploaded_at = ?2 WHERE id = ?1",
                        params![d.id.to_string(), now],
                    )?;
                    PresignOutcome::AlreadyStored
                } else {
                    // The newest declaration's name wins while nothing is
                    // stored yet (a client may have corrected it).
                    tx.execute(
                        "UPDATE files SET url_expires_at = ?2, file_name = ?3 WHERE id = ?1",
                        params![d.id.to_string(), url_expires_at, d.file_name],
                    )?;
                    PresignOutcome::NeedsUpload
                }
            }
            None => {
                let (status, uploaded_at) = if linkable {
                    ("uploaded", Some(now))
                } else {
                    ("pending", None)
                };
                tx.execute(
                    "INSERT INTO files (id, file_name, content_type, size, sha256, status, \
                     created_at, url_expires_at, uploaded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        d.id.to_string(),
                        d.file_name,
                        d.content_type,
                        d.size as i64,
                        d.sha256.hex(),
                        status,
                        now,
                        url_expires_at,
                        uploaded_at
                    ],
                )?;
                if linkable {
                    PresignOutcome::AlreadyStored
                } else {
                    PresignOutcome::NeedsUpload
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn get(&self, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
        get_file(&*self.conn()?, id)
    }

    fn mark_uploaded(
        &self,
        id: &Uuid,
        sha256: &Digest,
        size: u64,
        now: i64,
    ) -> Result<MarkOutcome, DbError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rec = get_file(&tx, id)?;
        let outcome = match rec {
            Some(r) if r.sha256 == *sha256 && r.size == size => {
                if r.status.has_bytes() {
                    MarkOutcome::AlreadyStored
                } else {
                    tx.execute(
                        "UPDATE files SET status = 'uploaded', uploaded_at = ?2 WHERE id = ?1",
                        params![id.to_string(), now],
                    )?;
                    MarkOutcome::Marked
                }
            }
            _ => MarkOutcome::NotFound,
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn complete(&self, id: &Uuid, now: i64) -> Result<CompleteOutcome, DbError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = match get_file(&tx, id)? {
            None => CompleteOutcome::NotFound,
            Some(r) if r.status == Status::Pending => CompleteOutcome::NotUploaded(r),
            Some(mut r) => {
                if r.status == Status::Uploaded {
                    tx.execute(
                        "UPDATE files SET status = 'completed', completed_at = ?2 WHERE id = ?1",
                        params![id.to_string(), now],
                    )?;
                    r.status = Status::Completed;
                    r.completed_at = Some(now);
                }
                CompleteOutcome::Completed(r)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn claim_blob(&self, sha256: &Digest, size: u64, now: i64) -> Result<BlobClaim, DbError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let referenced = tx
            .query_row(
                "SELECT 1 FROM files WHERE sha256 = ?1 AND status <> 'pending' LIMIT 1",
                [sha256.hex()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let claim = if referenced {
            BlobClaim::Referenced
        } else {
            let n = tx.execute(
                "UPDATE files SET status = 'uploaded', uploaded_at = ?3 \
                 WHERE sha256 = ?1 AND size = ?2 AND status = 'pending'",
                params![sha256.hex(), size as i64, now],
            )?;
            if n > 0 {
                BlobClaim::Relinked(n)
            } else {
                BlobClaim::Unreferenced
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    fn sweep_pending(&self, cutoff: i64, keep: &[Uuid]) -> Result<usize, DbError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired: Vec<String> = tx
            .prepare("SELECT id FROM files WHERE status = 'pending' AND url_expires_at < ?1")?
            .query_map([cutoff], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let keep: Vec<String> = keep.iter().map(Uuid::to_string).collect();
        let mut removed = 0;
        for id in expired.iter().filter(|id| !keep.contains(id)) {
            removed += tx.execute(
                "DELETE FROM files WHERE id = ?1 AND status = 'pending'",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(removed)
    }

    fn create_token(
        &self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> Result<(), DbError> {
        let conn = self.conn()?;
        let taken = conn
            .query_row("SELECT 1 FROM tokens WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Err(DbError::NameTaken(name.to_string()));
        }
        conn.execute(
            "INSERT INTO tokens (name, token_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, token_hash.hex(), scopes.join(","), now],
        )?;
        Ok(())
    }

    fn find_token(&self, token_hash: &Digest) -> Result<Option<TokenRecord>, DbError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT name, scopes, created_at, revoked_at FROM tokens \
                 WHERE token_hash = ?1 AND revoked_at IS NULL",
                [token_hash.hex()],
                token_from_row,
            )
            .optional()?)
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>, DbError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT name, scopes, created_at, revoked_at FROM tokens ORDER BY created_at, name",
        )?;
        let rows = stmt.query_map([], token_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke_token(&self, name: &str, now: i64) -> Result<bool, DbError> {
        Ok(self.conn()?.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now],
        )? > 0)
    }

    fn token_count(&self) -> Result<u64, DbError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn check(&self) -> Result<(), DbError> {
        // Taking the write lock proves the database is writable, not just
        // readable; nothing is changed.
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.query_row("SELECT count(*) FROM files", [], |_| Ok(()))?;
        tx.rollback()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(sha: u8, size: u64) -> Declared {
        Declared {
            id: Uuid::new_v4(),
            file_name: "a.png".into(),
            content_type: "image/png".into(),
            size,
            sha256: Digest([sha; 32]),
        }
    }

    #[test]
    fn lifecycle_pending_uploaded_completed() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteIndex::open(dir.path()).unwrap();
        let d = declared(1, 10);
        assert!(matches!(
            db.presign(&d, 0, 900, true).unwrap(),
            PresignOutcome::NeedsUpload
        ));
        assert!(matches!(
            db.complete(&d.id, 1).unwrap(),
            CompleteOutcome::NotUploaded(_)
        ));
        // Wrong hash never marks.
        assert_eq!(
            db.mark_uploaded(&d.id, &Digest([2; 32]), 10, 1).unwrap(),
            MarkOutcome::NotFound
        );
        assert_eq!(
            db.mark_uploaded(&d.id, &d.sha256, 10, 1).unwrap(),
            MarkOutcome::Marked
        );
        assert_eq!(
            db.mark_uploaded(&d.id, &d.sha256, 10, 2).unwrap(),
            MarkOutcome::AlreadyStored
        );
        let CompleteOutcome::Completed(r) = db.complete(&d.id, 3).unwrap() else {
            panic!("not completed")
        };
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.completed_at, Some(3));
        // Idempotent: the first completion time stays.
        let CompleteOutcome::Completed(r) = db.complete(&d.id, 9).unwrap() else {
            panic!("not completed")
        };
        assert_eq!(r.completed_at, Some(3));
    }

    #[test]
    fn dedupe_links_and_conflicts_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteIndex::open(dir.path()).unwrap();
        let a = declared(7, 5);
        db.presign(&a, 0, 900, true).unwrap();
        db.mark_uploaded(&a.id, &a.sha256, 5, 1).unwrap();
        let b = declared(7, 5);
        assert!(matches!(
            db.presign(&b, 2, 900, true).unwrap(),
            PresignOutcome::AlreadyStored
        ));
        assert_eq!(db.get(&b.id).unwrap().unwrap().status, Status::Uploaded);
        // Without dedupe the same content needs its own upload.
        let c = declared(7, 5);
        assert!(matches!(
            db.presign(&c, 2, 900, false).unwrap(),
            PresignOutcome::NeedsUpload
        ));
        let mut other = a.clone();
        other.size = 6;
        match db.presign(&other, 3, 900, true).unwrap() {
            PresignOutcome::Conflict(why) => assert!(why.contains("size"), "{why}"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn sweep_removes_only_expired_pending() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteIndex::open(dir.path()).unwrap();
        let old = declared(1, 1);
        let fresh = declared(2, 1);
        let done = declared(3, 1);
        db.presign(&old, 0, 100, true).unwrap();
        db.presign(&fresh, 0, 10_000, true).unwrap();
        db.presign(&done, 0, 100, true).unwrap();
        db.mark_uploaded(&done.id, &done.sha256, 1, 1).unwrap();
        assert_eq!(db.sweep_pending(5_000, &[]).unwrap(), 1);
        assert!(db.get(&old.id).unwrap().is_none());
        assert!(db.get(&fresh.id).unwrap().is_some());
        assert!(db.get(&done.id).unwrap().is_some());
        // An expired row whose bytes are arriving is kept.
        let busy = declared(4, 1);
        db.presign(&busy, 0, 100, true).unwrap();
        assert_eq!(db.sweep_pending(5_000, &[busy.id]).unwrap(), 0);
        assert!(db.get(&busy.id).unwrap().is_some());
    }

    #[test]
    fn tokens_are_unique_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteIndex::open(dir.path()).unwrap();
        let h = Digest([9; 32]);
        db.create_token("ci", &h, &["upload".into()], 0).unwrap();
        assert!(matches!(
            db.create_token("ci", &Digest([8; 32]), &[], 0),
            Err(DbError::NameTaken(_))
        ));
        assert_eq!(db.find_token(&h).unwrap().unwrap().scopes, vec!["upload"]);
        assert!(db.revoke_token("ci", 1).unwrap());
        assert!(db.find_token(&h).unwrap().is_none());
        assert!(!db.revoke_token("ci", 2).unwrap());
        assert_eq!(db.token_count().unwrap(), 1);
    }

    #[test]
    fn reopening_keeps_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteIndex::open(dir.path()).unwrap());
        let db = SqliteIndex::open(dir.path()).unwrap();
        let v: i64 = db
            .conn()
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, migrations::LATEST);
    }
}
