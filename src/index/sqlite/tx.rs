//! The row operations of [`crate::index::Tx`] in SQLite: one statement (or
//! a few) each, on the connection of the transaction they run in — the
//! writer's batch for a write, a reader for a read. No decision is made
//! here; see `crate::storage`.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::{
    blob_entry_row, blob_in_use, blob_info, file_from_row, get_file, inline_data, insert_file,
    record_blob, token_from_row, token_row, Cached, FILE_COLUMNS,
};
use crate::index::tx::{
    BlobRow, BlobRows, Cursor, DeletedBlob, FileRows, HealthRows, KeyRows, TxResult,
};
use crate::index::DbError;
use crate::index::{
    AccessKey, BlobEntry, BlobInfo, Dangling, Declared, FileRecord, IndexError, Segment, Status,
    TokenRecord,
};
use crate::store::Digest;

impl SqliteTx {
    /// Deletes the rows naming a blob (files with bytes, objects and
    /// versions, parts);
    /// how many.
    fn forget_referrers(&self, sha256: &Digest) -> Result<usize, DbError> {
        let h = sha256.hex();
        let c = &self.conn;
        let mut n = c.cached_exec(
            "DELETE FROM files WHERE sha256 = ?1 AND status <> 'pending'",
            [&h],
        )?;
        n += c.cached_exec("DELETE FROM objects WHERE sha256 = ?1", [&h])?;
        n += c.cached_exec("DELETE FROM object_history WHERE sha256 = ?1", [&h])?;
        n += c.cached_exec("DELETE FROM multipart_parts WHERE sha256 = ?1", [&h])?;
        Ok(n)
    }
}

/// One transaction's connection. It owns the connection while the body
/// runs (a `&Connection` could not cross into a `Send` future: a
/// connection is not `Sync`), and gives it back after.
pub(super) struct SqliteTx {
    pub(super) conn: Connection,
}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<DbError> for IndexError {
    fn from(e: DbError) -> Self {
        if e.is_disk_full() {
            return IndexError::DiskFull;
        }
        match e {
            DbError::Corrupt(what) => IndexError::Corrupt(what),
            DbError::TooNew { found, supported } => IndexError::TooNew { found, supported },
            DbError::Index(e) => e,
            other => IndexError::Backend(other.to_string()),
        }
    }
}

/// `key` starts with the prefix `?3`, byte for byte: compared as BLOBs,
/// since as text `length` counts characters only up to a NUL, which a key
/// may hold.
pub(super) const PREFIX_MATCHES: &str =
    "substr(CAST(key AS BLOB), 1, length(CAST(?3 AS BLOB))) = CAST(?3 AS BLOB)";
/// [`PREFIX_MATCHES`] with the prefix in `?2`.
pub(super) const PREFIX2_MATCHES: &str =
    "substr(CAST(key AS BLOB), 1, length(CAST(?2 AS BLOB))) = CAST(?2 AS BLOB)";

pub(super) fn rows<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> TxResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let out = stmt.query_map(p, f)?.collect::<Result<_, _>>()?;
    Ok(out)
}

fn digests(hexes: Vec<String>, what: &'static str) -> TxResult<Vec<Digest>> {
    hexes
        .iter()
        .map(|h| Digest::from_hex(h).ok_or(IndexError::Corrupt(what)))
        .collect()
}

fn ids(texts: Vec<String>) -> TxResult<Vec<Uuid>> {
    texts
        .iter()
        .map(|t| Uuid::parse_str(t).map_err(|_| IndexError::Corrupt("files.id")))
        .collect()
}

#[async_trait]
impl FileRows for SqliteTx {
    async fn get_file(&mut self, id: &Uuid) -> TxResult<Option<FileRecord>> {
        Ok(get_file(&self.conn, id)?)
    }

    async fn insert_file(
        &mut self,
        d: &Declared,
        status: Status,
        created_at: i64,
        url_expires_at: i64,
        uploaded_at: Option<i64>,
    ) -> TxResult<()> {
        Ok(insert_file(
            &self.conn,
            d,
            status.as_str(),
            created_at,
            url_expires_at,
            uploaded_at,
        )?)
    }

    async fn update_file(&mut self, r: &FileRecord) -> TxResult<()> {
        self.conn.cached_exec(
            "UPDATE files SET file_name = ?2, status = ?3, url_expires_at = ?4, \
             uploaded_at = ?5, completed_at = ?6 WHERE id = ?1",
            params![
                r.id.to_string(),
                r.file_name,
                r.status.as_str(),
                r.url_expires_at,
                r.uploaded_at,
                r.completed_at
            ],
        )?;
        Ok(())
    }

    async fn file_with_bytes(&mut self, sha256: &Digest, size: u64) -> TxResult<bool> {
        Ok(self
            .conn
            .cached_row(
                "SELECT 1 FROM files WHERE sha256 = ?1 AND size = ?2 AND status <> 'pending' \
                 LIMIT 1",
                params![sha256.hex(), size as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    async fn pending_files_of(&mut self, sha256: &Digest, size: u64) -> TxResult<Vec<Uuid>> {
        ids(rows(
            &self.conn,
            "SELECT id FROM files WHERE sha256 = ?1 AND size = ?2 AND status = 'pending'",
            params![sha256.hex(), size as i64],
            |r| r.get(0),
        )?)
    }

    async fn expired_pending(&mut self, cutoff: i64) -> TxResult<Vec<Uuid>> {
        ids(rows(
            &self.conn,
            "SELECT id FROM files WHERE status = 'pending' AND url_expires_at < ?1",
            [cutoff],
            |r| r.get(0),
        )?)
    }

    async fn delete_pending_file(&mut self, id: &Uuid) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "DELETE FROM files WHERE id = ?1 AND status = 'pending'",
            [id.to_string()],
        )? > 0)
    }

    async fn list_files(
        &mut self,
        from: Option<Cursor>,
        limit: usize,
    ) -> TxResult<(Vec<FileRecord>, Option<Cursor>)> {
        // Newest first by insertion (the rowid B-tree, read backwards: no
        // index needed); one row more than asked says a page follows.
        let found = rows(
            &self.conn,
            &format!(
                "SELECT {FILE_COLUMNS}, rowid FROM files WHERE rowid < ?1 \
                 ORDER BY rowid DESC LIMIT ?2"
            ),
            params![from.map_or(i64::MAX, |c| c.0), limit as i64 + 1],
            |r| Ok((file_from_row(r)?, r.get::<_, i64>(10)?)),
        )?;
        let more = found.len() > limit;
        let mut out = Vec::with_capacity(limit);
        let mut last = None;
        for (rec, rowid) in found.into_iter().take(limit) {
            out.push(rec?);
            last = Some(Cursor(rowid));
        }
        Ok((out, if more { last } else { None }))
    }
}

#[async_trait]
impl BlobRows for SqliteTx {
    async fn get_blob(&mut self, sha256: &Digest) -> TxResult<Option<BlobRow>> {
        let Some(info) = blob_info(&self.conn, sha256)? else {
            return Ok(None);
        };
        type Fields = (bool, Option<String>, i64, Option<String>, bool);
        let (inline, damaged, created_at, location, composite): Fields = self.conn.cached_row(
            "SELECT bytes_id IS NOT NULL, damaged, created_at, location, composite FROM blobs \
             WHERE sha256 = ?1",
            [sha256.hex()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        Ok(Some(BlobRow {
            info,
            inline,
            damaged,
            created_at,
            location,
            composite,
        }))
    }

    async fn record_blob(
        &mut self,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        now: i64,
        heal: bool,
    ) -> TxResult<()> {
        Ok(record_blob(&self.conn, blob, inline, now, heal)?)
    }

    async fn blob_data(&mut self, sha256: &Digest) -> TxResult<Option<Vec<u8>>> {
        Ok(inline_data(&self.conn, sha256)?)
    }

    async fn blob_in_use(&mut self, sha256: &Digest) -> TxResult<bool> {
        Ok(blob_in_use(&self.conn, sha256)?)
    }

    async fn delete_blob(&mut self, sha256: &Digest, due_at: i64) -> TxResult<DeletedBlob> {
        let segments = self.segments(sha256).await?;
        if !segments.is_empty() {
            self.conn.cached_exec(
                "DELETE FROM blob_segments WHERE composite = ?1",
                [sha256.hex()],
            )?;
        }
        // Its inline bytes go with it (a trigger of the schema).
        let location: Option<Option<String>> = self
            .conn
            .cached_row(
                "DELETE FROM blobs WHERE sha256 = ?1 RETURNING location",
                [sha256.hex()],
                |r| r.get(0),
            )
            .optional()?;
        let location = location.flatten();
        if let Some(name) = &location {
            self.add_garbage(name, due_at).await?;
        }
        Ok(DeletedBlob {
            location,
            segments: segments.into_iter().map(|s| s.sha256).collect(),
        })
    }

    async fn record_composite(
        &mut self,
        blob: &BlobInfo,
        segments: &[Segment],
        now: i64,
    ) -> TxResult<bool> {
        let hex = blob.sha256.hex();
        let inserted = self.conn.cached_exec(
            "INSERT INTO blobs (sha256, size, md5, created_at, composite) \
             VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (sha256) DO NOTHING",
            params![hex, blob.size as i64, blob.md5.map(hex::encode), now],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        for (idx, seg) in segments.iter().enumerate() {
            self.conn.cached_exec(
                "INSERT INTO blob_segments (composite, idx, sha256, size) VALUES (?1, ?2, ?3, ?4)",
                params![hex, idx as i64, seg.sha256.hex(), seg.size as i64],
            )?;
        }
        Ok(true)
    }

    async fn dissolve_composite(&mut self, sha256: &Digest) -> TxResult<Vec<Digest>> {
        let segments = self.segments(sha256).await?;
        self.conn.cached_exec(
            "DELETE FROM blob_segments WHERE composite = ?1",
            [sha256.hex()],
        )?;
        self.conn.cached_exec(
            "UPDATE blobs SET composite = 0 WHERE sha256 = ?1",
            [sha256.hex()],
        )?;
        Ok(segments.into_iter().map(|s| s.sha256).collect())
    }

    async fn segments(&mut self, sha256: &Digest) -> TxResult<Vec<Segment>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sha256, size FROM blob_segments WHERE composite = ?1 ORDER BY idx",
            )
            .map_err(DbError::from)?;
        let rows = stmt
            .query_map([sha256.hex()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(DbError::from)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(DbError::from)?;
        rows.into_iter()
            .map(|(h, size)| {
                Ok(Segment {
                    sha256: Digest::from_hex(&h)
                        .ok_or(IndexError::Corrupt("blob_segments.sha256"))?,
                    size: u64::try_from(size)
                        .map_err(|_| IndexError::Corrupt("blob_segments.size"))?,
                })
            })
            .collect()
    }

    async fn set_blob_location(
        &mut self,
        sha256: &Digest,
        location: &str,
        due_at: i64,
    ) -> TxResult<()> {
        let old: Option<Option<String>> = self
            .conn
            .cached_row(
                "SELECT location FROM blobs WHERE sha256 = ?1",
                [sha256.hex()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(old) = old else {
            return Err(IndexError::Corrupt("a location for a blob with no row"));
        };
        if old.as_deref() == Some(location) {
            return Ok(());
        }
        self.conn.cached_exec(
            "UPDATE blobs SET location = ?2 WHERE sha256 = ?1",
            params![sha256.hex(), location],
        )?;
        if let Some(old) = old {
            self.add_garbage(&old, due_at).await?;
        }
        Ok(())
    }

    async fn add_garbage(&mut self, name: &str, due_at: i64) -> TxResult<()> {
        self.conn.cached_exec(
            "INSERT INTO garbage (name, due_at) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET due_at = max(garbage.due_at, excluded.due_at)",
            params![name, due_at],
        )?;
        Ok(())
    }

    async fn due_garbage(&mut self, now: i64, limit: usize) -> TxResult<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM garbage WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2")
            .map_err(DbError::from)?;
        let names = stmt
            .query_map(params![now, limit as i64], |r| r.get(0))
            .map_err(DbError::from)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(DbError::from)?;
        Ok(names)
    }

    async fn drop_garbage(&mut self, name: &str) -> TxResult<()> {
        self.conn
            .cached_exec("DELETE FROM garbage WHERE name = ?1", [name])?;
        Ok(())
    }

    async fn location_known(&mut self, name: &str) -> TxResult<bool> {
        let known: bool = self.conn.cached_row(
            "SELECT EXISTS (SELECT 1 FROM blobs WHERE location = ?1) \
             OR EXISTS (SELECT 1 FROM garbage WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        Ok(known)
    }

    async fn set_blob_md5(&mut self, sha256: &Digest, md5: &[u8; 16]) -> TxResult<()> {
        self.conn.cached_exec(
            "UPDATE blobs SET md5 = ?2 WHERE sha256 = ?1",
            params![sha256.hex(), hex::encode(md5)],
        )?;
        self.conn.cached_exec(
            "UPDATE objects SET etag = ?2 WHERE sha256 = ?1 AND etag = ''",
            params![sha256.hex(), hex::encode(md5)],
        )?;
        self.conn.cached_exec(
            "UPDATE object_history SET etag = ?2 WHERE sha256 = ?1 AND etag = ''",
            params![sha256.hex(), hex::encode(md5)],
        )?;
        Ok(())
    }

    async fn mark_damaged(&mut self, sha256: &Digest, why: &str) -> TxResult<()> {
        self.conn.cached_exec(
            "UPDATE blobs SET damaged = ?2 WHERE sha256 = ?1",
            params![sha256.hex(), why],
        )?;
        Ok(())
    }

    async fn blobs_missing_md5(&mut self) -> TxResult<Vec<Digest>> {
        digests(
            rows(
                &self.conn,
                "SELECT sha256 FROM blobs WHERE md5 IS NULL AND composite = 0",
                [],
                |r| r.get(0),
            )?,
            "blobs.sha256",
        )
    }

    async fn blob_page(
        &mut self,
        after: Option<&Digest>,
        limit: usize,
    ) -> TxResult<Vec<BlobEntry>> {
        let after = after.map(Digest::hex).unwrap_or_default();
        rows(
            &self.conn,
            "SELECT sha256, size, md5, bytes_id IS NOT NULL FROM blobs \
             WHERE sha256 > ?1 AND composite = 0 ORDER BY sha256 LIMIT ?2",
            params![after, limit as i64],
            blob_entry_row,
        )?
        .into_iter()
        .map(|r| r.map_err(IndexError::from))
        .collect()
    }

    async fn newest_blobs(
        &mut self,
        from: Option<Cursor>,
        limit: usize,
    ) -> TxResult<Vec<(Cursor, i64, BlobEntry)>> {
        // The rowid B-tree backwards: no index needed, and it stops after
        // `limit` rows however large the table is.
        rows(
            &self.conn,
            "SELECT sha256, size, md5, bytes_id IS NOT NULL, rowid, created_at FROM blobs \
             WHERE rowid < ?1 AND bytes_id IS NULL AND composite = 0 \
             ORDER BY rowid DESC LIMIT ?2",
            params![from.map_or(i64::MAX, |c| c.0), limit as i64],
            |r| Ok((r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, blob_entry_row(r)?)),
        )?
        .into_iter()
        .map(|(rowid, created, entry)| Ok((Cursor(rowid), created, entry?)))
        .collect()
    }

    async fn dangling(&mut self) -> TxResult<Vec<Dangling>> {
        rows(
            &self.conn,
            "SELECT 'file ' || id, sha256 FROM files \
               WHERE status <> 'pending' AND sha256 NOT IN (SELECT sha256 FROM blobs) \
             UNION ALL SELECT 'object ' || bucket || '/' || key, sha256 FROM objects \
               WHERE sha256 NOT IN (SELECT sha256 FROM blobs) \
             UNION ALL SELECT 'version ' || version_id || ' of object ' || bucket || '/' || key, \
               sha256 FROM object_history \
               WHERE sha256 IS NOT NULL AND sha256 NOT IN (SELECT sha256 FROM blobs) \
             UNION ALL SELECT 'part ' || part_number || ' of upload ' || upload_id, sha256 \
               FROM multipart_parts WHERE sha256 NOT IN (SELECT sha256 FROM blobs) \
             UNION ALL SELECT 'segment ' || idx || ' of blob ' || composite, sha256 \
               FROM blob_segments WHERE sha256 NOT IN (SELECT sha256 FROM blobs)",
            [],
            |r| {
                Ok(Dangling {
                    referrer: r.get(0)?,
                    sha256: r.get(1)?,
                })
            },
        )
    }

    async fn forget_blob(&mut self, sha256: &Digest) -> TxResult<usize> {
        // The composites it is a segment of cannot be read either: they
        // go first, with their referrers.
        let composites = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT DISTINCT composite FROM blob_segments WHERE sha256 = ?1")
                .map_err(DbError::from)?;
            let found = stmt
                .query_map([sha256.hex()], |r| r.get::<_, String>(0))
                .map_err(DbError::from)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(DbError::from)?;
            found
        };
        let mut n = 0;
        for c in composites {
            let c = Digest::from_hex(&c).ok_or(IndexError::Corrupt("blob_segments.composite"))?;
            n += self.forget_referrers(&c)?;
            self.delete_blob(&c, 0).await?;
        }
        n += self.forget_referrers(sha256)?;
        // Its bytes are missing or damaged: an upstream copy, if any, is
        // garbage at once.
        self.delete_blob(sha256, 0).await?;
        Ok(n)
    }
}

#[async_trait]
impl KeyRows for SqliteTx {
    async fn insert_token(
        &mut self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "INSERT OR IGNORE INTO tokens (name, token_hash, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![name, token_hash.hex(), scopes.join(","), now],
        )? > 0)
    }

    async fn find_token(&mut self, token_hash: &Digest) -> TxResult<Option<TokenRecord>> {
        Ok(token_row(&self.conn, token_hash)?)
    }

    async fn list_tokens(&mut self) -> TxResult<Vec<TokenRecord>> {
        rows(
            &self.conn,
            "SELECT name, scopes, created_at, revoked_at FROM tokens ORDER BY created_at, name",
            [],
            token_from_row,
        )
    }

    async fn revoke_token(&mut self, name: &str, now: i64) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now],
        )? > 0)
    }

    async fn token_count(&mut self) -> TxResult<u64> {
        let n: i64 = self
            .conn
            .cached_row("SELECT count(*) FROM tokens", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    async fn insert_access_key(&mut self, key: &AccessKey) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "INSERT OR IGNORE INTO access_keys (access_key_id, secret, name, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![key.access_key_id, key.secret, key.name, key.created_at],
        )? > 0)
    }

    async fn list_access_keys(&mut self) -> TxResult<Vec<AccessKey>> {
        rows(
            &self.conn,
            "SELECT access_key_id, secret, name, created_at, revoked_at FROM access_keys \
             ORDER BY name",
            [],
            |r| {
                Ok(AccessKey {
                    access_key_id: r.get(0)?,
                    secret: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            },
        )
    }

    async fn revoke_access_key(&mut self, name: &str, now: i64) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "UPDATE access_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now],
        )? > 0)
    }

    async fn access_key_secret(&mut self, access_key_id: &str) -> TxResult<Option<String>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT secret FROM access_keys WHERE access_key_id = ?1 AND revoked_at IS NULL",
                [access_key_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    async fn access_key_named(&mut self, name: &str) -> TxResult<Option<String>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT access_key_id FROM access_keys WHERE name = ?1 AND revoked_at IS NULL",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[async_trait]
impl HealthRows for SqliteTx {
    async fn stats(&mut self) -> TxResult<(u64, u64, u64, u64)> {
        Ok(self.conn.cached_row(
            "SELECT (SELECT count(*) FROM files WHERE status = 'pending'), \
                    (SELECT count(*) FROM files WHERE status <> 'pending'), \
                    (SELECT count(*) FROM objects), \
                    (SELECT coalesce(sum(size), 0) FROM blobs WHERE composite = 0)",
            [],
            |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok((n(0)?, n(1)?, n(2)?, n(3)?))
            },
        )?)
    }

    async fn check(&mut self) -> TxResult<()> {
        self.conn
            .cached_row("SELECT count(*) FROM files", [], |_| Ok(()))?;
        Ok(())
    }
}
