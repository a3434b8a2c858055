//! Buckets, objects and multipart uploads: the rows of the S3 namespace.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{
    all, digest, digests, get, limit, marker, md5_of, part_number, signed, text, unsigned,
    unstorable, PgTx,
};
use crate::index::tx::{BucketRow, BucketRows, BucketText, ObjectRows, TxResult, UploadRows};
use crate::index::{
    BucketRecord, IndexError, MultipartUpload, ObjectRecord, PartRecord, Versioning,
};
use crate::store::Digest;

pub(super) const OBJECT_COLUMNS: &str =
    "bucket, key, sha256, size, etag, content_type, meta, last_modified, version_id";

pub(super) fn object_from_row(r: &Row) -> TxResult<ObjectRecord> {
    let meta: &str = get(r, 6, "objects.meta")?;
    Ok(ObjectRecord {
        bucket: get(r, 0, "objects.bucket")?,
        key: get(r, 1, "objects.key")?,
        sha256: digest(get(r, 2, "objects.sha256")?, "objects.sha256")?,
        size: unsigned(get(r, 3, "objects.size")?, "objects.size")?,
        etag: get(r, 4, "objects.etag")?,
        content_type: get(r, 5, "objects.content_type")?,
        meta: serde_json::from_str(meta).map_err(|_| IndexError::Corrupt("objects.meta"))?,
        last_modified: get(r, 7, "objects.last_modified")?,
        version_id: get(r, 8, "objects.version_id")?,
    })
}

const MULTIPART_COLUMNS: &str = "upload_id, bucket, key, content_type, meta, created_at";

fn multipart_from_row(r: &Row) -> TxResult<MultipartUpload> {
    let meta: &str = get(r, 4, "multipart_uploads.meta")?;
    Ok(MultipartUpload {
        upload_id: get(r, 0, "multipart_uploads.upload_id")?,
        bucket: get(r, 1, "multipart_uploads.bucket")?,
        key: get(r, 2, "multipart_uploads.key")?,
        content_type: get(r, 3, "multipart_uploads.content_type")?,
        meta: serde_json::from_str(meta)
            .map_err(|_| IndexError::Corrupt("multipart_uploads.meta"))?,
        created_at: get(r, 5, "multipart_uploads.created_at")?,
    })
}

const PART_COLUMNS: &str = "part_number, sha256, size, md5, last_modified, checksum";

fn part_from_row(r: &Row) -> TxResult<PartRecord> {
    let number: i32 = get(r, 0, "multipart_parts.part_number")?;
    Ok(PartRecord {
        part_number: u32::try_from(number)
            .map_err(|_| IndexError::Corrupt("multipart_parts.part_number"))?,
        sha256: digest(
            get(r, 1, "multipart_parts.sha256")?,
            "multipart_parts.sha256",
        )?,
        size: unsigned(get(r, 2, "multipart_parts.size")?, "multipart_parts.size")?,
        md5: md5_of(get(r, 3, "multipart_parts.md5")?, "multipart_parts.md5")?,
        last_modified: get(r, 4, "multipart_parts.last_modified")?,
        checksum: get(r, 5, "multipart_parts.checksum")?,
    })
}

fn bucket_record(r: &Row) -> TxResult<BucketRecord> {
    Ok(BucketRecord {
        name: get(r, 0, "buckets.name")?,
        created_at: get(r, 1, "buckets.created_at")?,
    })
}

#[async_trait]
impl BucketRows for PgTx<'_> {
    async fn get_bucket(&mut self, name: &str) -> TxResult<Option<BucketRow>> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            "SELECT name, created_at, owner, cors, versioning, object_lock, lifecycle, tags, \
             acl, policy, public_access_block FROM buckets WHERE name = $1",
            &[&text("bucket name", name)?],
        )
        .await?
        .map(|r| {
            let versioning: Option<&str> = get(&r, 4, "buckets.versioning")?;
            Ok(BucketRow {
                name: get(&r, 0, "buckets.name")?,
                created_at: get(&r, 1, "buckets.created_at")?,
                owner: get(&r, 2, "buckets.owner")?,
                cors: get(&r, 3, "buckets.cors")?,
                versioning: Versioning::from_column(versioning)?,
                object_lock: get(&r, 5, "buckets.object_lock")?,
                lifecycle: get(&r, 6, "buckets.lifecycle")?,
                tags: get(&r, 7, "buckets.tags")?,
                acl: get(&r, 8, "buckets.acl")?,
                policy: get(&r, 9, "buckets.policy")?,
                public_access_block: get(&r, 10, "buckets.public_access_block")?,
            })
        })
        .transpose()
    }

    async fn set_bucket_text(
        &mut self,
        name: &str,
        what: BucketText,
        value: Option<&str>,
    ) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        let column = what.column();
        let value = value.map(|v| text(column, v)).transpose()?;
        let sql = format!("UPDATE buckets SET {column} = $2 WHERE name = $1");
        Ok(self
            .exec(&sql, &[&text("bucket name", name)?, &value])
            .await?
            > 0)
    }

    async fn lifecycle_buckets(&mut self) -> TxResult<Vec<(String, String)>> {
        all(
            self.query(
                "SELECT name, lifecycle FROM buckets WHERE lifecycle IS NOT NULL ORDER BY name",
                &[],
            )
            .await?,
            |r| Ok((get(r, 0, "buckets.name")?, get(r, 1, "buckets.lifecycle")?)),
        )
    }

    async fn set_bucket_object_lock(&mut self, name: &str, config: &str) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        Ok(self
            .exec(
                "UPDATE buckets SET object_lock = $2 WHERE name = $1",
                &[
                    &text("bucket name", name)?,
                    &text("Object Lock configuration", config)?,
                ],
            )
            .await?
            > 0)
    }

    async fn set_bucket_versioning(&mut self, name: &str, state: Versioning) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        Ok(self
            .exec(
                "UPDATE buckets SET versioning = $2 WHERE name = $1",
                &[&text("bucket name", name)?, &state.to_column()],
            )
            .await?
            > 0)
    }

    async fn insert_bucket(&mut self, name: &str, owner: Option<&str>, now: i64) -> TxResult<bool> {
        let owner = owner.map(|o| text("access key id", o)).transpose()?;
        Ok(self
            .exec(
                "INSERT INTO buckets (name, created_at, owner) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&text("bucket name", name)?, &now, &owner],
            )
            .await?
            > 0)
    }

    async fn delete_bucket(&mut self, name: &str) -> TxResult<()> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(());
        }
        let name = text("bucket name", name)?;
        self.exec("DELETE FROM bucket_grants WHERE bucket = $1", &[&name])
            .await?;
        self.exec("DELETE FROM buckets WHERE name = $1", &[&name])
            .await?;
        Ok(())
    }

    async fn list_buckets(&mut self) -> TxResult<Vec<BucketRecord>> {
        all(
            self.query("SELECT name, created_at FROM buckets ORDER BY name", &[])
                .await?,
            bucket_record,
        )
    }

    async fn buckets_of(&mut self, access_key_id: &str) -> TxResult<Vec<BucketRecord>> {
        if unstorable(&[access_key_id]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        all(
            self.query(
                "SELECT name, created_at FROM buckets WHERE owner = $1 \
                 OR name IN (SELECT bucket FROM bucket_grants WHERE access_key_id = $1) \
                 ORDER BY name",
                &[&text("access key id", access_key_id)?],
            )
            .await?,
            bucket_record,
        )
    }

    async fn bucket_has_objects(&mut self, name: &str) -> TxResult<bool> {
        if unstorable(&[name]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        self.exists(
            "SELECT 1 FROM objects WHERE bucket = $1 \
             UNION ALL SELECT 1 FROM object_history WHERE bucket = $1 LIMIT 1",
            &[&text("bucket name", name)?],
        )
        .await
    }

    async fn get_grant(&mut self, access_key_id: &str, bucket: &str) -> TxResult<Option<bool>> {
        if unstorable(&[access_key_id, bucket]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            "SELECT can_write FROM bucket_grants WHERE access_key_id = $1 AND bucket = $2",
            &[
                &text("access key id", access_key_id)?,
                &text("bucket name", bucket)?,
            ],
        )
        .await?
        .map(|r| get(&r, 0, "bucket_grants.can_write"))
        .transpose()
    }

    async fn put_grant(&mut self, access_key_id: &str, bucket: &str, write: bool) -> TxResult<()> {
        self.exec(
            "INSERT INTO bucket_grants (access_key_id, bucket, can_write) VALUES ($1, $2, $3) \
             ON CONFLICT (access_key_id, bucket) DO UPDATE SET can_write = excluded.can_write",
            &[
                &text("access key id", access_key_id)?,
                &text("bucket name", bucket)?,
                &write,
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ObjectRows for PgTx<'_> {
    async fn get_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>> {
        if unstorable(&[bucket, key]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"),
            &[&text("bucket name", bucket)?, &text("object key", key)?],
        )
        .await?
        .as_ref()
        .map(object_from_row)
        .transpose()
    }

    async fn put_object(&mut self, obj: &ObjectRecord) -> TxResult<Option<Digest>> {
        let bucket = text("bucket name", &obj.bucket)?;
        let key = text("object key", &obj.key)?;
        let previous: Option<String> = self
            .opt(
                "SELECT sha256 FROM objects WHERE bucket = $1 AND key = $2",
                &[&bucket, &key],
            )
            .await?
            .map(|r| get(&r, 0, "objects.sha256"))
            .transpose()?;
        let meta =
            serde_json::to_string(&obj.meta).map_err(|_| IndexError::Corrupt("objects.meta"))?;
        self.exec(
            "INSERT INTO objects (bucket, key, sha256, size, etag, content_type, meta, \
             last_modified, version_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (bucket, key) DO UPDATE SET sha256 = excluded.sha256, \
             size = excluded.size, etag = excluded.etag, content_type = excluded.content_type, \
             meta = excluded.meta, last_modified = excluded.last_modified, \
             version_id = excluded.version_id",
            &[
                &bucket,
                &key,
                &obj.sha256.hex(),
                &signed(obj.size),
                &text("ETag", &obj.etag)?,
                &text("content type", &obj.content_type)?,
                &text("metadata", &meta)?,
                &obj.last_modified,
                &text("version id", &obj.version_id)?,
            ],
        )
        .await?;
        Ok(previous
            .and_then(|p| Digest::from_hex(&p))
            .filter(|p| *p != obj.sha256))
    }

    async fn delete_object(&mut self, bucket: &str, key: &str) -> TxResult<Option<ObjectRecord>> {
        let rec = self.get_object(bucket, key).await?;
        if rec.is_some() {
            self.exec(
                "DELETE FROM objects WHERE bucket = $1 AND key = $2",
                &[&bucket, &key],
            )
            .await?;
        }
        Ok(rec)
    }

    async fn list_objects(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit_to: usize,
    ) -> TxResult<Vec<ObjectRecord>> {
        if unstorable(&[bucket, prefix]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        // Keys are COLLATE "C": compared and sorted by their bytes, S3's
        // order. `key >= prefix` lets the scan start where the prefix does.
        all(
            self.query(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 \
                     AND key > $2 AND key >= $3 AND starts_with(key, $3) \
                     ORDER BY key LIMIT $4"
                ),
                &[
                    &text("bucket name", bucket)?,
                    &marker(after),
                    &text("prefix", prefix)?,
                    &limit(limit_to),
                ],
            )
            .await?,
            object_from_row,
        )
    }
}

#[async_trait]
impl UploadRows for PgTx<'_> {
    async fn insert_upload(&mut self, u: &MultipartUpload) -> TxResult<()> {
        let meta = serde_json::to_string(&u.meta)
            .map_err(|_| IndexError::Corrupt("multipart_uploads.meta"))?;
        self.exec(
            &format!(
                "INSERT INTO multipart_uploads ({MULTIPART_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            &[
                &text("upload id", &u.upload_id)?,
                &text("bucket name", &u.bucket)?,
                &text("object key", &u.key)?,
                &text("content type", &u.content_type)?,
                &text("metadata", &meta)?,
                &u.created_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_upload(&mut self, upload_id: &str) -> TxResult<Option<MultipartUpload>> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            &format!("SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE upload_id = $1"),
            &[&text("upload id", upload_id)?],
        )
        .await?
        .as_ref()
        .map(multipart_from_row)
        .transpose()
    }

    async fn delete_upload(&mut self, upload_id: &str) -> TxResult<()> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(());
        }
        let id = text("upload id", upload_id)?;
        self.exec("DELETE FROM multipart_parts WHERE upload_id = $1", &[&id])
            .await?;
        self.exec("DELETE FROM multipart_uploads WHERE upload_id = $1", &[&id])
            .await?;
        Ok(())
    }

    async fn touch_upload(&mut self, upload_id: &str, now: i64) -> TxResult<bool> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        Ok(self
            .exec(
                "UPDATE multipart_uploads SET created_at = $2 WHERE upload_id = $1",
                &[&text("upload id", upload_id)?, &now],
            )
            .await?
            > 0)
    }

    async fn get_part(&mut self, upload_id: &str, number: u32) -> TxResult<Option<PartRecord>> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        // A number beyond any part's (a client's marker) finds none.
        let Ok(number) = i32::try_from(number) else {
            return Ok(None);
        };
        self.opt(
            &format!(
                "SELECT {PART_COLUMNS} FROM multipart_parts \
                 WHERE upload_id = $1 AND part_number = $2"
            ),
            &[&text("upload id", upload_id)?, &number],
        )
        .await?
        .as_ref()
        .map(part_from_row)
        .transpose()
    }

    async fn put_part(&mut self, upload_id: &str, part: &PartRecord) -> TxResult<()> {
        self.exec(
            "INSERT INTO multipart_parts (upload_id, part_number, sha256, size, md5, \
             last_modified, checksum) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET sha256 = excluded.sha256, \
             size = excluded.size, md5 = excluded.md5, last_modified = excluded.last_modified, \
             checksum = excluded.checksum",
            &[
                &text("upload id", upload_id)?,
                &part_number(part.part_number)?,
                &part.sha256.hex(),
                &signed(part.size),
                &hex::encode(part.md5),
                &part.last_modified,
                &part.checksum,
            ],
        )
        .await?;
        Ok(())
    }

    async fn list_parts(
        &mut self,
        upload_id: &str,
        after: u32,
        limit_to: usize,
    ) -> TxResult<Vec<PartRecord>> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        all(
            self.query(
                &format!(
                    "SELECT {PART_COLUMNS} FROM multipart_parts \
                     WHERE upload_id = $1 AND part_number > $2::bigint ORDER BY part_number LIMIT $3"
                ),
                &[
                    &text("upload id", upload_id)?,
                    &i64::from(after),
                    &limit(limit_to),
                ],
            )
            .await?,
            part_from_row,
        )
    }

    async fn part_blobs(&mut self, upload_id: &str) -> TxResult<Vec<Digest>> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        digests(
            self.query(
                "SELECT DISTINCT sha256 FROM multipart_parts WHERE upload_id = $1",
                &[&text("upload id", upload_id)?],
            )
            .await?,
            "multipart_parts.sha256",
        )
    }

    async fn list_uploads(
        &mut self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit_to: usize,
    ) -> TxResult<Vec<MultipartUpload>> {
        if unstorable(&[bucket, prefix]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        all(
            self.query(
                &format!(
                    "SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = $1 \
                     AND starts_with(key, $2) \
                     AND (key > $3 OR (key = $3 AND $4 <> '' AND upload_id > $4)) \
                     ORDER BY key, upload_id LIMIT $5"
                ),
                &[
                    &text("bucket name", bucket)?,
                    &text("prefix", prefix)?,
                    &marker(key_marker),
                    // A key marker with a NUL is no stored key: nothing
                    // has that key, so no upload id goes after it.
                    &if unstorable(&[key_marker]) {
                        ""
                    } else {
                        marker(upload_id_marker)
                    },
                    &limit(limit_to),
                ],
            )
            .await?,
            multipart_from_row,
        )
    }

    async fn uploads_in(&mut self, bucket: &str) -> TxResult<Vec<MultipartUpload>> {
        if unstorable(&[bucket]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        all(
            self.query(
                &format!("SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = $1"),
                &[&text("bucket name", bucket)?],
            )
            .await?,
            multipart_from_row,
        )
    }

    async fn stale_uploads(&mut self, cutoff: i64) -> TxResult<Vec<String>> {
        all(
            self.query(
                "SELECT upload_id FROM multipart_uploads WHERE created_at < $1",
                &[&cutoff],
            )
            .await?,
            |r| get(r, 0, "multipart_uploads.upload_id"),
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
        self.exec(
            "INSERT INTO completed_uploads (upload_id, bucket, key, etag, completed_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (upload_id) DO UPDATE SET bucket = excluded.bucket, \
             key = excluded.key, etag = excluded.etag, completed_at = excluded.completed_at",
            &[
                &text("upload id", upload_id)?,
                &text("bucket name", bucket)?,
                &text("object key", key)?,
                &text("ETag", etag)?,
                &at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_completed(
        &mut self,
        upload_id: &str,
    ) -> TxResult<Option<(String, String, String)>> {
        if unstorable(&[upload_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        self.opt(
            "SELECT bucket, key, etag FROM completed_uploads WHERE upload_id = $1",
            &[&text("upload id", upload_id)?],
        )
        .await?
        .map(|r| {
            Ok((
                get(&r, 0, "completed_uploads.bucket")?,
                get(&r, 1, "completed_uploads.key")?,
                get(&r, 2, "completed_uploads.etag")?,
            ))
        })
        .transpose()
    }

    async fn forget_completed_before(&mut self, cutoff: i64) -> TxResult<()> {
        self.exec(
            "DELETE FROM completed_uploads WHERE completed_at < $1",
            &[&cutoff],
        )
        .await?;
        Ok(())
    }
}
