//! The history of versioned keys in SQLite (`object_history`): the row
//! operations of [`VersionRows`]. No decision is made here; see
//! `crate::storage::versions`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use super::rows::Cached;
use super::tx::{rows, SqliteTx, PREFIX_MATCHES};
use crate::index::tx::{TxResult, VersionRows};
use crate::index::versions::mark_latest;
use crate::index::{
    DbError, DeleteMarker, IndexError, ListedVersion, ObjectRecord, PastVersion, Version,
    VersionPlace,
};
use crate::store::Digest;

/// The columns a version is read from, in [`version_from_row`]'s order;
/// `rank` is `seq` in the history.
const HISTORY_COLUMNS: &str = "bucket, key, seq, version_id, delete_marker, sha256, size, etag, \
                               content_type, meta, last_modified";

/// A version from a row of [`HISTORY_COLUMNS`]; with its rank.
fn version_from_row(r: &Row<'_>) -> rusqlite::Result<Result<(Version, i64), DbError>> {
    let bucket: String = r.get(0)?;
    let key: String = r.get(1)?;
    let rank: i64 = r.get(2)?;
    let version_id: String = r.get(3)?;
    let marker: bool = r.get(4)?;
    let last_modified: i64 = r.get(10)?;
    if marker {
        return Ok(Ok((
            Version::Marker(DeleteMarker {
                bucket,
                key,
                version_id,
                last_modified,
            }),
            rank,
        )));
    }
    let sha: Option<String> = r.get(5)?;
    let size: i64 = r.get(6)?;
    let etag: String = r.get(7)?;
    let content_type: String = r.get(8)?;
    let meta: String = r.get(9)?;
    Ok((|| {
        let obj = ObjectRecord {
            bucket,
            key,
            sha256: sha
                .as_deref()
                .and_then(Digest::from_hex)
                .ok_or(DbError::Corrupt("object_history.sha256"))?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("object_history.size"))?,
            etag,
            content_type,
            meta: serde_json::from_str(&meta)
                .map_err(|_| DbError::Corrupt("object_history.meta"))?,
            last_modified,
            version_id,
        };
        Ok((Version::Object(Box::new(obj)), rank))
    })())
}

fn past(found: Option<Result<(Version, i64), DbError>>) -> TxResult<Option<PastVersion>> {
    Ok(found
        .transpose()?
        .map(|(version, seq)| PastVersion { version, seq }))
}

impl SqliteTx {
    fn past_row(&self, bucket: &str, key: &str, version_id: &str) -> TxResult<Option<PastVersion>> {
        past(
            self.conn
                .cached_row(
                    &format!(
                        "SELECT {HISTORY_COLUMNS} FROM object_history \
                         WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
                    ),
                    params![bucket, key, version_id],
                    version_from_row,
                )
                .optional()?,
        )
    }
}

#[async_trait]
impl VersionRows for SqliteTx {
    async fn past_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> TxResult<Option<PastVersion>> {
        self.past_row(bucket, key, version_id)
    }

    async fn newest_past(&mut self, bucket: &str, key: &str) -> TxResult<Option<PastVersion>> {
        past(
            self.conn
                .cached_row(
                    &format!(
                        "SELECT {HISTORY_COLUMNS} FROM object_history \
                         WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1"
                    ),
                    params![bucket, key],
                    version_from_row,
                )
                .optional()?,
        )
    }

    async fn push_past(&mut self, v: &Version) -> TxResult<i64> {
        let (bucket, key, version_id, last_modified) = match v {
            Version::Object(o) => (&o.bucket, &o.key, &o.version_id, o.last_modified),
            Version::Marker(m) => (&m.bucket, &m.key, &m.version_id, m.last_modified),
        };
        let seq: i64 = self.conn.cached_row(
            "SELECT coalesce(max(seq), 0) + 1 FROM object_history WHERE bucket = ?1 AND key = ?2",
            params![bucket, key],
            |r| r.get(0),
        )?;
        match v {
            Version::Object(o) => {
                let meta = serde_json::to_string(&o.meta)
                    .map_err(|_| IndexError::Corrupt("object_history.meta"))?;
                self.conn.cached_exec(
                    "INSERT INTO object_history (bucket, key, seq, version_id, delete_marker, \
                     sha256, size, etag, content_type, meta, last_modified) \
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        bucket,
                        key,
                        seq,
                        version_id,
                        o.sha256.hex(),
                        o.size as i64,
                        o.etag,
                        o.content_type,
                        meta,
                        last_modified
                    ],
                )?;
            }
            Version::Marker(_) => {
                self.conn.cached_exec(
                    "INSERT INTO object_history (bucket, key, seq, version_id, delete_marker, \
                     sha256, size, etag, content_type, meta, last_modified) \
                     VALUES (?1, ?2, ?3, ?4, 1, NULL, 0, '', '', '{}', ?5)",
                    params![bucket, key, seq, version_id, last_modified],
                )?;
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
        let found = self.past_row(bucket, key, version_id)?;
        if found.is_some() {
            self.conn.cached_exec(
                "DELETE FROM object_history WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
                params![bucket, key, version_id],
            )?;
        }
        Ok(found)
    }

    async fn update_past(&mut self, obj: &ObjectRecord) -> TxResult<bool> {
        let meta = serde_json::to_string(&obj.meta)
            .map_err(|_| IndexError::Corrupt("object_history.meta"))?;
        Ok(self.conn.cached_exec(
            "UPDATE object_history SET meta = ?4 \
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 AND delete_marker = 0",
            params![obj.bucket, obj.key, obj.version_id, meta],
        )? > 0)
    }

    async fn list_versions(
        &mut self,
        bucket: &str,
        prefix: &str,
        after: &VersionPlace,
        limit: usize,
    ) -> TxResult<Vec<ListedVersion>> {
        // Current objects rank above every version of their history.
        // Keys compare under BINARY (S3's order, as in `list_objects`):
        // both arms read their primary keys from `after` on and merge,
        // sorting only the versions of one key at a time.
        let sql = format!(
            "SELECT bucket, key, {current} AS rank, version_id, 0 AS delete_marker, sha256, \
               size, etag, content_type, meta, last_modified \
               FROM objects WHERE bucket = ?1 AND key > ?2 AND key >= ?3 AND {PREFIX_MATCHES} \
             UNION ALL \
             SELECT {HISTORY_COLUMNS} FROM object_history \
               WHERE bucket = ?1 AND key >= ?2 AND (key > ?2 OR seq < ?4) \
               AND key >= ?3 AND {PREFIX_MATCHES} \
             ORDER BY 2, 3 DESC LIMIT ?5",
            current = VersionPlace::CURRENT,
        );
        let found = rows(
            &self.conn,
            &sql,
            params![bucket, after.key, prefix, after.rank, limit as i64],
            version_from_row,
        )?;
        let found = found.into_iter().collect::<Result<Vec<_>, DbError>>()?;
        Ok(mark_latest(after, found))
    }
}
