//! The S3 namespace's row operations in SQLite — buckets, objects and
//! multipart uploads — as `crate::index::postgres::tx::s3` has them for
//! PostgreSQL. No decision is made here; see `crate::storage`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::rows::{
    get_multipart_row, get_object_row, multipart_from_row, object_from_row, part_blobs,
    part_from_row, upsert_object, Cached, MULTIPART_COLUMNS, OBJECT_COLUMNS,
};
use super::tx::{rows, SqliteTx, PREFIX2_MATCHES, PREFIX_MATCHES};
use crate::index::tx::{BucketRow, BucketRows, BucketText, ObjectRows, TxResult, UploadRows};
use crate::index::{
    BucketRecord, IndexError, MultipartUpload, ObjectRecord, PartRecord, Versioning,
};
use crate::store::Digest;

#[async_trait]
impl BucketRows for SqliteTx {
    async fn get_bucket(&mut self, name: &str) -> TxResult<Option<BucketRow>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT name, created_at, owner, cors, versioning, object_lock, lifecycle, \
                 tags, acl, policy, public_access_block FROM buckets WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        BucketRow {
                            name: r.get(0)?,
                            created_at: r.get(1)?,
                            owner: r.get(2)?,
                            cors: r.get(3)?,
                            versioning: Versioning::Unversioned,
                            object_lock: r.get(5)?,
                            lifecycle: r.get(6)?,
                            tags: r.get(7)?,
                            acl: r.get(8)?,
                            policy: r.get(9)?,
                            public_access_block: r.get(10)?,
                        },
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?
            .map(|(mut row, v)| {
                row.versioning = Versioning::from_column(v.as_deref())?;
                Ok::<_, IndexError>(row)
            })
            .transpose()?)
    }

    async fn set_bucket_text(
        &mut self,
        name: &str,
        what: BucketText,
        text: Option<&str>,
    ) -> TxResult<bool> {
        let sql = format!("UPDATE buckets SET {} = ?2 WHERE name = ?1", what.column());
        Ok(self.conn.cached_exec(&sql, params![name, text])? > 0)
    }

    async fn lifecycle_buckets(&mut self) -> TxResult<Vec<(String, String)>> {
        rows(
            &self.conn,
            "SELECT name, lifecycle FROM buckets WHERE lifecycle IS NOT NULL ORDER BY name",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    async fn set_bucket_object_lock(&mut self, name: &str, config: &str) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "UPDATE buckets SET object_lock = ?2 WHERE name = ?1",
            params![name, config],
        )? > 0)
    }

    async fn set_bucket_versioning(&mut self, name: &str, state: Versioning) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
            params![name, state.to_column()],
        )? > 0)
    }

    async fn insert_bucket(&mut self, name: &str, owner: Option<&str>, now: i64) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "INSERT OR IGNORE INTO buckets (name, created_at, owner) VALUES (?1, ?2, ?3)",
            params![name, now, owner],
        )? > 0)
    }

    async fn delete_bucket(&mut self, name: &str) -> TxResult<()> {
        self.conn
            .cached_exec("DELETE FROM bucket_grants WHERE bucket = ?1", [name])?;
        self.conn
            .cached_exec("DELETE FROM buckets WHERE name = ?1", [name])?;
        Ok(())
    }

    async fn list_buckets(&mut self) -> TxResult<Vec<BucketRecord>> {
        rows(
            &self.conn,
            "SELECT name, created_at FROM buckets ORDER BY name",
            [],
            |r| {
                Ok(BucketRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                })
            },
        )
    }

    async fn buckets_of(&mut self, access_key_id: &str) -> TxResult<Vec<BucketRecord>> {
        rows(
            &self.conn,
            "SELECT name, created_at FROM buckets WHERE owner = ?1 \
             OR name IN (SELECT bucket FROM bucket_grants WHERE access_key_id = ?1) \
             ORDER BY name",
            [access_key_id],
            |r| {
                Ok(BucketRecord {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                })
            },
        )
    }

    async fn bucket_has_objects(&mut self, name: &str) -> TxResult<bool> {
        Ok(self
            .conn
            .cached_row(
                "SELECT 1 FROM objects WHERE bucket = ?1 \
                 UNION ALL SELECT 1 FROM object_history WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    async fn get_grant(&mut self, access_key_id: &str, bucket: &str) -> TxResult<Option<bool>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT can_write FROM bucket_grants WHERE access_key_id = ?1 AND bucket = ?2",
                params![access_key_id, bucket],
                |r| r.get(0),
            )
            .optional()?)
    }

    async fn put_grant(&mut self, access_key_id: &str, bucket: &str, write: bool) -> TxResult<()> {
        self.conn.cached_exec(
            "INSERT OR REPLACE INTO bucket_grants (access_key_id, bucket, can_write) \
             VALUES (?1, ?2, ?3)",
            params![access_key_id, bucket, write],
        )?;
        Ok(())
    }
}

#[async_trait]
impl ObjectRows for SqliteTx {
    async fn get_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>> {
        Ok(get_object_row(&self.conn, bucket, key)?)
    }

    async fn put_object(&mut self, obj: &ObjectRecord) -> TxResult<Option<Digest>> {
        Ok(upsert_object(&self.conn, obj)?)
    }

    async fn delete_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>> {
        let rec = get_object_row(&self.conn, bucket, key)?;
        if rec.is_some() {
            self.conn.cached_exec(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
            )?;
        }
        Ok(rec)
    }

    async fn list_objects(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> TxResult<Vec<ObjectRecord>> {
        // Keys compare under BINARY, memcmp over their whole length (a NUL
        // included): S3's order, UTF-8 bytes, which the primary key keeps,
        // so a page reads its rows off the index from `after` (and from
        // the prefix) on, never the whole bucket. The prefix itself is
        // matched as BLOBs (see `PREFIX_MATCHES`).
        rows(
            &self.conn,
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 \
                 AND key > ?2 AND key >= ?3 AND {PREFIX_MATCHES} \
                 ORDER BY key LIMIT ?4"
            ),
            params![bucket, after, prefix, limit as i64],
            object_from_row,
        )?
        .into_iter()
        .map(|r| r.map_err(IndexError::from))
        .collect()
    }
}

#[async_trait]
impl UploadRows for SqliteTx {
    async fn insert_upload(&mut self, u: &MultipartUpload) -> TxResult<()> {
        let meta = serde_json::to_string(&u.meta)
            .map_err(|_| IndexError::Corrupt("multipart_uploads.meta"))?;
        self.conn.cached_exec(
            &format!(
                "INSERT INTO multipart_uploads ({MULTIPART_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ),
            params![
                u.upload_id,
                u.bucket,
                u.key,
                u.content_type,
                meta,
                u.created_at
            ],
        )?;
        Ok(())
    }

    async fn get_upload(&mut self, upload_id: &str) -> TxResult<Option<MultipartUpload>> {
        Ok(get_multipart_row(&self.conn, upload_id)?)
    }

    async fn delete_upload(&mut self, upload_id: &str) -> TxResult<()> {
        Ok(super::rows::delete_upload(&self.conn, upload_id)?)
    }

    async fn touch_upload(&mut self, upload_id: &str, now: i64) -> TxResult<bool> {
        Ok(self.conn.cached_exec(
            "UPDATE multipart_uploads SET created_at = ?2 WHERE upload_id = ?1",
            params![upload_id, now],
        )? > 0)
    }

    async fn get_part(&mut self, upload_id: &str, number: u32) -> TxResult<Option<PartRecord>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT part_number, sha256, size, md5, last_modified, checksum FROM multipart_parts \
                 WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, number],
                part_from_row,
            )
            .optional()?
            .transpose()?)
    }

    async fn put_part(&mut self, upload_id: &str, part: &PartRecord) -> TxResult<()> {
        self.conn.cached_exec(
            "INSERT INTO multipart_parts (upload_id, part_number, sha256, size, md5, \
             last_modified, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET sha256 = excluded.sha256, \
             size = excluded.size, md5 = excluded.md5, last_modified = excluded.last_modified, \
             checksum = excluded.checksum",
            params![
                upload_id,
                part.part_number,
                part.sha256.hex(),
                part.size as i64,
                hex::encode(part.md5),
                part.last_modified,
                part.checksum
            ],
        )?;
        Ok(())
    }

    async fn list_parts(
        &mut self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> TxResult<Vec<PartRecord>> {
        rows(
            &self.conn,
            "SELECT part_number, sha256, size, md5, last_modified, checksum FROM multipart_parts \
             WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
            params![upload_id, after, limit as i64],
            part_from_row,
        )?
        .into_iter()
        .map(|r| r.map_err(IndexError::from))
        .collect()
    }

    async fn part_blobs(&mut self, upload_id: &str) -> TxResult<Vec<Digest>> {
        Ok(part_blobs(&self.conn, upload_id)?)
    }

    async fn list_uploads(
        &mut self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> TxResult<Vec<MultipartUpload>> {
        rows(
            &self.conn,
            &format!(
                "SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = ?1 \
                 AND {PREFIX2_MATCHES} \
                 AND (CAST(key AS BLOB) > CAST(?3 AS BLOB) \
                      OR (key = ?3 AND ?4 <> '' AND upload_id > ?4)) \
                 ORDER BY CAST(key AS BLOB), upload_id LIMIT ?5"
            ),
            params![bucket, prefix, key_marker, upload_id_marker, limit as i64],
            multipart_from_row,
        )?
        .into_iter()
        .map(|r| r.map_err(IndexError::from))
        .collect()
    }

    async fn uploads_in(&mut self, bucket: &str) -> TxResult<Vec<MultipartUpload>> {
        rows(
            &self.conn,
            &format!("SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = ?1"),
            [bucket],
            multipart_from_row,
        )?
        .into_iter()
        .map(|r| r.map_err(IndexError::from))
        .collect()
    }

    async fn stale_uploads(&mut self, cutoff: i64) -> TxResult<Vec<String>> {
        rows(
            &self.conn,
            "SELECT upload_id FROM multipart_uploads WHERE created_at < ?1",
            [cutoff],
            |r| r.get(0),
        )
    }

    async fn put_completed(
        &mut self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        etag: &str,
        at: i64,
    ) -> TxResult<()> {
        self.conn.cached_exec(
            "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, etag, \
             completed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![upload_id, bucket, key, etag, at],
        )?;
        Ok(())
    }

    async fn get_completed(
        &mut self,
        upload_id: &str,
    ) -> TxResult<Option<(String, String, String)>> {
        Ok(self
            .conn
            .cached_row(
                "SELECT bucket, key, etag FROM completed_uploads WHERE upload_id = ?1",
                [upload_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    async fn forget_completed_before(&mut self, cutoff: i64) -> TxResult<()> {
        self.conn.cached_exec(
            "DELETE FROM completed_uploads WHERE completed_at < ?1",
            [cutoff],
        )?;
        Ok(())
    }
}
