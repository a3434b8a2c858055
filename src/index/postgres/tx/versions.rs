//! The history of versioned keys in PostgreSQL (`object_history`), as
//! `crate::index::sqlite::versions` has it. No decision is made here.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{all, digest, get, limit, marker, signed, text, unsigned, unstorable, PgTx};
use crate::index::tx::{TxResult, VersionRows};
use crate::index::versions::mark_latest;
use crate::index::{
    DeleteMarker, IndexError, ListedVersion, ObjectRecord, PastVersion, Version, VersionPlace,
};

/// The columns a version is read from, in [`version_from_row`]'s order;
/// `rank` is `seq` in the history.
const HISTORY_COLUMNS: &str = "bucket, key, seq, version_id, delete_marker, sha256, size, etag, \
                               content_type, meta, last_modified";

/// A version from a row of [`HISTORY_COLUMNS`], with its rank.
fn version_from_row(r: &Row) -> TxResult<(Version, i64)> {
    let bucket: String = get(r, 0, "object_history.bucket")?;
    let key: String = get(r, 1, "object_history.key")?;
    let rank: i64 = get(r, 2, "object_history.seq")?;
    let version_id: String = get(r, 3, "object_history.version_id")?;
    let is_marker: bool = get(r, 4, "object_history.delete_marker")?;
    let last_modified: i64 = get(r, 10, "object_history.last_modified")?;
    if is_marker {
        let m = DeleteMarker {
            bucket,
            key,
            version_id,
            last_modified,
        };
        return Ok((Version::Marker(m), rank));
    }
    let sha: Option<&str> = get(r, 5, "object_history.sha256")?;
    let meta: &str = get(r, 9, "object_history.meta")?;
    let obj = ObjectRecord {
        bucket,
        key,
        sha256: digest(
            sha.ok_or(IndexError::Corrupt("object_history.sha256"))?,
            "object_history.sha256",
        )?,
        size: unsigned(get(r, 6, "object_history.size")?, "object_history.size")?,
        etag: get(r, 7, "object_history.etag")?,
        content_type: get(r, 8, "object_history.content_type")?,
        meta: serde_json::from_str(meta).map_err(|_| IndexError::Corrupt("object_history.meta"))?,
        last_modified,
        version_id,
    };
    Ok((Version::Object(Box::new(obj)), rank))
}

fn past(row: Option<Row>) -> TxResult<Option<PastVersion>> {
    row.as_ref()
        .map(version_from_row)
        .transpose()
        .map(|v| v.map(|(version, seq)| PastVersion { version, seq }))
}

#[async_trait]
impl VersionRows for PgTx<'_> {
    async fn past_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<PastVersion>> {
        if unstorable(&[bucket, key, version_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        let row = self
            .opt(
                &format!(
                    "SELECT {HISTORY_COLUMNS} FROM object_history \
                     WHERE bucket = $1 AND key = $2 AND version_id = $3"
                ),
                &[&bucket, &key, &version_id],
            )
            .await?;
        past(row)
    }

    async fn newest_past(&mut self, bucket: &str, key: &str) -> TxResult<Option<PastVersion>> {
        if unstorable(&[bucket, key]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        let row = self
            .opt(
                &format!(
                    "SELECT {HISTORY_COLUMNS} FROM object_history \
                     WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1"
                ),
                &[&bucket, &key],
            )
            .await?;
        past(row)
    }

    async fn push_past(&mut self, v: &Version) -> TxResult<i64> {
        let (bucket, key, version_id, last_modified) = match v {
            Version::Object(o) => (&o.bucket, &o.key, &o.version_id, o.last_modified),
            Version::Marker(m) => (&m.bucket, &m.key, &m.version_id, m.last_modified),
        };
        let bucket = text("bucket name", bucket)?;
        let key = text("object key", key)?;
        let version_id = text("version id", version_id)?;
        let seq: i64 = {
            let row = self
                .opt(
                    "SELECT coalesce(max(seq), 0) + 1 FROM object_history \
                     WHERE bucket = $1 AND key = $2",
                    &[&bucket, &key],
                )
                .await?
                .ok_or(IndexError::Corrupt("object_history.seq"))?;
            get(&row, 0, "object_history.seq")?
        };
        match v {
            Version::Object(o) => {
                let meta = serde_json::to_string(&o.meta)
                    .map_err(|_| IndexError::Corrupt("object_history.meta"))?;
                self.exec(
                    "INSERT INTO object_history (bucket, key, seq, version_id, delete_marker, \
                     sha256, size, etag, content_type, meta, last_modified) \
                     VALUES ($1, $2, $3, $4, false, $5, $6, $7, $8, $9, $10)",
                    &[
                        &bucket,
                        &key,
                        &seq,
                        &version_id,
                        &o.sha256.hex(),
                        &signed(o.size),
                        &text("ETag", &o.etag)?,
                        &text("content type", &o.content_type)?,
                        &text("metadata", &meta)?,
                        &last_modified,
                    ],
                )
                .await?;
            }
            Version::Marker(_) => {
                self.exec(
                    "INSERT INTO object_history (bucket, key, seq, version_id, delete_marker, \
                     sha256, size, etag, content_type, meta, last_modified) \
                     VALUES ($1, $2, $3, $4, true, NULL, 0, '', '', '{}', $5)",
                    &[&bucket, &key, &seq, &version_id, &last_modified],
                )
                .await?;
            }
        }
        Ok(seq)
    }

    async fn remove_past(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<PastVersion>> {
        if unstorable(&[bucket, key, version_id]) {
            // No row can hold it: there is none to find.
            return Ok(None);
        }
        let row = self
            .opt(
                &format!(
                    "DELETE FROM object_history WHERE bucket = $1 AND key = $2 \
                     AND version_id = $3 RETURNING {HISTORY_COLUMNS}"
                ),
                &[&bucket, &key, &version_id],
            )
            .await?;
        past(row)
    }

    async fn update_past(&mut self, obj: &ObjectRecord) -> TxResult<bool> {
        if unstorable(&[&obj.bucket, &obj.key, &obj.version_id]) {
            // No row can hold it: there is none to find.
            return Ok(false);
        }
        let meta = serde_json::to_string(&obj.meta)
            .map_err(|_| IndexError::Corrupt("object_history.meta"))?;
        Ok(self
            .exec(
                "UPDATE object_history SET meta = $4 \
                 WHERE bucket = $1 AND key = $2 AND version_id = $3 AND NOT delete_marker",
                &[
                    &obj.bucket,
                    &obj.key,
                    &obj.version_id,
                    &text("metadata", &meta)?,
                ],
            )
            .await?
            > 0)
    }

    async fn list_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &VersionPlace,
        limit_to: usize,
    ) -> TxResult<Vec<ListedVersion>> {
        if unstorable(&[bucket, prefix]) {
            // No row can hold it: there is none to find.
            return Ok(Vec::new());
        }
        // No stored key holds a NUL: a place under `a\0b` is after every
        // version of `a` (see `marker`).
        let (after_key, after_rank) = if after.key.contains('\0') {
            (marker(&after.key), i64::MIN)
        } else {
            (after.key.as_str(), after.rank)
        };
        // As in SQLite: current objects rank above their history. Each arm
        // reads its primary key from `after` on, at most `limit` rows, and
        // the two merge (keys are COLLATE "C": S3's order); the versions of
        // one key alone are sorted.
        let sql = format!(
            "SELECT * FROM ( \
               (SELECT bucket, key, {current}::bigint AS rank, version_id, \
                  false AS delete_marker, sha256, size, etag, content_type, meta, last_modified \
                FROM objects WHERE bucket = $1 AND key > $2 \
                  AND key >= $3 AND starts_with(key, $3) \
                ORDER BY key LIMIT $5) \
               UNION ALL \
               (SELECT {HISTORY_COLUMNS} FROM object_history \
                WHERE bucket = $1 AND key >= $2 AND (key > $2 OR seq < $4) \
                  AND key >= $3 AND starts_with(key, $3) \
                ORDER BY key, seq DESC LIMIT $5) \
             ) v ORDER BY key, rank DESC LIMIT $5",
            current = VersionPlace::CURRENT,
        );
        let rows = self
            .query(
                &sql,
                &[
                    &text("bucket name", bucket)?,
                    &after_key,
                    &text("prefix", prefix)?,
                    &after_rank,
                    &limit(limit_to),
                ],
            )
            .await?;
        let found = all(rows, version_from_row)?;
        let after = VersionPlace {
            key: after_key.to_string(),
            rank: after_rank,
        };
        Ok(mark_latest(&after, found))
    }
}
