//! The row operations of [`crate::index::Tx`] in PostgreSQL, statement by
//! statement as `crate::index::sqlite::tx` has them, on the transaction
//! the body runs in. No decision is made here; see `crate::storage`.
//!
//! Every text a statement is given is checked for the NUL character first
//! ([`text`]): PostgreSQL's text cannot hold it, and the refusal must name
//! the value, not come back as a server error. Each failed statement that
//! was a conflict with a concurrent transaction is noted (`conflict`), so
//! the runner runs the body again whatever the body made of the error.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;
use uuid::Uuid;

use super::error::{index_error, is_conflict};

mod keys;
mod s3;
mod versions;
use crate::index::tx::{BlobRow, BlobRows, Cursor, DeletedBlob, FileRows, HealthRows, TxResult};
use crate::index::{
    BlobEntry, BlobInfo, Dangling, Declared, FileRecord, IndexError, Segment, Status,
};
use crate::store::Digest;

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// One transaction, as a body sees it.
pub(super) struct PgTx<'c> {
    tx: Transaction<'c>,
    /// The first conflict a statement of this transaction met.
    pub(super) conflict: Option<IndexError>,
}

impl<'c> PgTx<'c> {
    pub(super) fn new(tx: Transaction<'c>) -> Self {
        PgTx { tx, conflict: None }
    }

    pub(super) fn into_inner(self) -> Transaction<'c> {
        self.tx
    }

    fn failed(&mut self, e: tokio_postgres::Error) -> IndexError {
        let conflict = is_conflict(&e);
        let err = index_error(e);
        if conflict && self.conflict.is_none() {
            self.conflict = Some(IndexError::Unavailable(err.to_string()));
        }
        err
    }

    /// Deletes the rows naming a blob (files with bytes, objects and
    /// versions, parts);
    /// how many.
    async fn forget_referrers(&mut self, sha256: &Digest) -> TxResult<u64> {
        let h = sha256.hex();
        let mut n = self
            .exec(
                "DELETE FROM files WHERE sha256 = $1 AND status <> 'pending'",
                &[&h],
            )
            .await?;
        n += self
            .exec("DELETE FROM objects WHERE sha256 = $1", &[&h])
            .await?;
        n += self
            .exec("DELETE FROM object_history WHERE sha256 = $1", &[&h])
            .await?;
        n += self
            .exec("DELETE FROM multipart_parts WHERE sha256 = $1", &[&h])
            .await?;
        Ok(n)
    }

    async fn query(&mut self, sql: &str, p: &Params<'_>) -> TxResult<Vec<Row>> {
        let r = match self.tx.prepare_cached(sql).await {
            Ok(stmt) => self.tx.query(&stmt, p).await,
            Err(e) => Err(e),
        };
        r.map_err(|e| self.failed(e))
    }

    async fn opt(&mut self, sql: &str, p: &Params<'_>) -> TxResult<Option<Row>> {
        Ok(self.query(sql, p).await?.into_iter().next())
    }

    async fn exists(&mut self, sql: &str, p: &Params<'_>) -> TxResult<bool> {
        Ok(self.opt(sql, p).await?.is_some())
    }

    async fn exec(&mut self, sql: &str, p: &Params<'_>) -> TxResult<u64> {
        let r = match self.tx.prepare_cached(sql).await {
            Ok(stmt) => self.tx.execute(&stmt, p).await,
            Err(e) => Err(e),
        };
        r.map_err(|e| self.failed(e))
    }
}

/// `s`, if this backend can store it: PostgreSQL's text cannot hold the
/// NUL character (`what` names the value in the refusal).
fn text<'s>(what: &'static str, s: &'s str) -> TxResult<&'s str> {
    if s.contains('\0') {
        return Err(IndexError::NotStorable(what));
    }
    Ok(s)
}

/// Whether one of `values` holds the NUL character, which no row can: a
/// lookup by it finds nothing (as SQLite, which stores such keys, finds
/// nothing when none was stored), where a write of it is refused
/// ([`text`]).
fn unstorable(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

/// Everything before the first NUL character of a listing's marker: no
/// stored value has one, so "after `a\0b`" is exactly "after `a`" (every
/// key above `a` sorts above `a\0b`, and `a` below it).
fn marker(s: &str) -> &str {
    s.split('\0').next().unwrap_or_default()
}

/// Column `i` of `row`; a value of another type is a corrupt column.
fn get<'r, T: FromSql<'r>>(row: &'r Row, i: usize, what: &'static str) -> TxResult<T> {
    row.try_get(i).map_err(|_| IndexError::Corrupt(what))
}

fn unsigned(v: i64, what: &'static str) -> TxResult<u64> {
    u64::try_from(v).map_err(|_| IndexError::Corrupt(what))
}

fn signed(v: u64) -> i64 {
    // Sizes are checked far below this where they enter; saturating keeps
    // a bug from wrapping into a negative size.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn digest(hex: &str, what: &'static str) -> TxResult<Digest> {
    Digest::from_hex(hex).ok_or(IndexError::Corrupt(what))
}

fn md5_of(hex: &str, what: &'static str) -> TxResult<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(hex, &mut out).map_err(|_| IndexError::Corrupt(what))?;
    Ok(out)
}

fn part_number(n: u32) -> TxResult<i32> {
    i32::try_from(n).map_err(|_| IndexError::Backend(format!("part number {n} out of range")))
}

const FILE_COLUMNS: &str = "id, file_name, content_type, size, sha256, status, created_at, \
                            url_expires_at, uploaded_at, completed_at";

fn file_from_row(r: &Row) -> TxResult<FileRecord> {
    let id: &str = get(r, 0, "files.id")?;
    let status: &str = get(r, 5, "files.status")?;
    Ok(FileRecord {
        id: Uuid::parse_str(id).map_err(|_| IndexError::Corrupt("files.id"))?,
        file_name: get(r, 1, "files.file_name")?,
        content_type: get(r, 2, "files.content_type")?,
        size: unsigned(get(r, 3, "files.size")?, "files.size")?,
        sha256: digest(get(r, 4, "files.sha256")?, "files.sha256")?,
        status: Status::parse(status).ok_or(IndexError::Corrupt("files.status"))?,
        created_at: get(r, 6, "files.created_at")?,
        url_expires_at: get(r, 7, "files.url_expires_at")?,
        uploaded_at: get(r, 8, "files.uploaded_at")?,
        completed_at: get(r, 9, "files.completed_at")?,
    })
}

/// A `blobs` row as (sha256, size, md5, inline) → [`BlobEntry`].
fn blob_entry_row(r: &Row) -> TxResult<BlobEntry> {
    let md5: Option<&str> = get(r, 2, "blobs.md5")?;
    Ok(BlobEntry {
        info: BlobInfo {
            sha256: digest(get(r, 0, "blobs.sha256")?, "blobs.sha256")?,
            size: unsigned(get(r, 1, "blobs.size")?, "blobs.size")?,
            md5: md5.map(|h| md5_of(h, "blobs.md5")).transpose()?,
        },
        inline: get(r, 3, "blobs.bytes_id")?,
    })
}

fn all<T>(rows: Vec<Row>, f: impl Fn(&Row) -> TxResult<T>) -> TxResult<Vec<T>> {
    rows.iter().map(f).collect()
}

fn digests(rows: Vec<Row>, what: &'static str) -> TxResult<Vec<Digest>> {
    all(rows, |r| digest(get(r, 0, what)?, what))
}

fn ids(rows: Vec<Row>) -> TxResult<Vec<Uuid>> {
    all(rows, |r| {
        Uuid::parse_str(get(r, 0, "files.id")?).map_err(|_| IndexError::Corrupt("files.id"))
    })
}

#[async_trait]
impl FileRows for PgTx<'_> {
    async fn get_file(&mut self, id: &Uuid) -> TxResult<Option<FileRecord>> {
        self.opt(
            &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1"),
            &[&id.to_string()],
        )
        .await?
        .as_ref()
        .map(file_from_row)
        .transpose()
    }

    async fn insert_file(
        &mut self,
        d: &Declared,
        status: Status,
        created_at: i64,
        url_expires_at: i64,
        uploaded_at: Option<i64>,
    ) -> TxResult<()> {
        self.exec(
            "INSERT INTO files (id, file_name, content_type, size, sha256, status, \
             created_at, url_expires_at, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &d.id.to_string(),
                &text("file name", &d.file_name)?,
                &text("content type", &d.content_type)?,
                &signed(d.size),
                &d.sha256.hex(),
                &status.as_str(),
                &created_at,
                &url_expires_at,
                &uploaded_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_file(&mut self, r: &FileRecord) -> TxResult<()> {
        self.exec(
            "UPDATE files SET file_name = $2, status = $3, url_expires_at = $4, \
             uploaded_at = $5, completed_at = $6 WHERE id = $1",
            &[
                &r.id.to_string(),
                &text("file name", &r.file_name)?,
                &r.status.as_str(),
                &r.url_expires_at,
                &r.uploaded_at,
                &r.completed_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn file_with_bytes(&mut self, sha256: &Digest, size: u64) -> TxResult<bool> {
        self.exists(
            "SELECT 1 FROM files WHERE sha256 = $1 AND size = $2 AND status <> 'pending' LIMIT 1",
            &[&sha256.hex(), &signed(size)],
        )
        .await
    }

    async fn pending_files_of(&mut self, sha256: &Digest, size: u64) -> TxResult<Vec<Uuid>> {
        ids(self
            .query(
                "SELECT id FROM files WHERE sha256 = $1 AND size = $2 AND status = 'pending'",
                &[&sha256.hex(), &signed(size)],
            )
            .await?)
    }

    async fn expired_pending(&mut self, cutoff: i64) -> TxResult<Vec<Uuid>> {
        ids(self
            .query(
                "SELECT id FROM files WHERE status = 'pending' AND url_expires_at < $1",
                &[&cutoff],
            )
            .await?)
    }

    async fn delete_pending_file(&mut self, id: &Uuid) -> TxResult<bool> {
        Ok(self
            .exec(
                "DELETE FROM files WHERE id = $1 AND status = 'pending'",
                &[&id.to_string()],
            )
            .await?
            > 0)
    }

    async fn list_files(
        &mut self,
        from: Option<Cursor>,
        limit_to: usize,
    ) -> TxResult<(Vec<FileRecord>, Option<Cursor>)> {
        // Newest first by insertion (`seq`, the rowid's stand-in); one row
        // more than asked says a page follows.
        let found = self
            .query(
                &format!(
                    "SELECT {FILE_COLUMNS}, seq FROM files WHERE seq < $1 \
                     ORDER BY seq DESC LIMIT $2"
                ),
                &[
                    &from.map_or(i64::MAX, |c| c.0),
                    &limit(limit_to).saturating_add(1),
                ],
            )
            .await?;
        let more = found.len() > limit_to;
        let mut out = Vec::with_capacity(limit_to.min(found.len()));
        let mut last = None;
        for r in found.iter().take(limit_to) {
            out.push(file_from_row(r)?);
            last = Some(Cursor(get(r, 10, "files.seq")?));
        }
        Ok((out, if more { last } else { None }))
    }
}

#[async_trait]
impl BlobRows for PgTx<'_> {
    async fn get_blob(&mut self, sha256: &Digest) -> TxResult<Option<BlobRow>> {
        let Some(r) = self
            .opt(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL, damaged, created_at, location, \
                 composite FROM blobs WHERE sha256 = $1",
                &[&sha256.hex()],
            )
            .await?
        else {
            return Ok(None);
        };
        let entry = blob_entry_row(&r)?;
        Ok(Some(BlobRow {
            info: entry.info,
            inline: entry.inline,
            damaged: get(&r, 4, "blobs.damaged")?,
            created_at: get(&r, 5, "blobs.created_at")?,
            location: get(&r, 6, "blobs.location")?,
            composite: get(&r, 7, "blobs.composite")?,
        }))
    }

    async fn record_blob(
        &mut self,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        now: i64,
        heal: bool,
    ) -> TxResult<()> {
        let md5 = blob.md5.map(hex::encode);
        let hex = blob.sha256.hex();
        let bytes_id: Option<i64> = match inline {
            None => None,
            Some(data) => {
                let has_bytes = self
                    .opt(
                        "SELECT bytes_id IS NOT NULL FROM blobs WHERE sha256 = $1",
                        &[&hex],
                    )
                    .await?
                    .map(|r| get::<bool>(&r, 0, "blobs.bytes_id"))
                    .transpose()?;
                if has_bytes == Some(true) {
                    None
                } else {
                    let r = self
                        .query(
                            "INSERT INTO blob_bytes (data) VALUES ($1) RETURNING id",
                            &[&data],
                        )
                        .await?;
                    let r = r.first().ok_or(IndexError::Corrupt("blob_bytes.id"))?;
                    Some(get(r, 0, "blob_bytes.id")?)
                }
            }
        };
        self.exec(
            "INSERT INTO blobs (sha256, size, md5, created_at, bytes_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO UPDATE SET md5 = coalesce(blobs.md5, excluded.md5), \
             bytes_id = coalesce(blobs.bytes_id, excluded.bytes_id), \
             damaged = CASE WHEN $6 THEN NULL ELSE blobs.damaged END",
            &[&hex, &signed(blob.size), &md5, &now, &bytes_id, &heal],
        )
        .await?;
        Ok(())
    }

    async fn blob_data(&mut self, sha256: &Digest) -> TxResult<Option<Vec<u8>>> {
        self.opt(
            "SELECT b.data FROM blobs JOIN blob_bytes b ON b.id = blobs.bytes_id \
             WHERE blobs.sha256 = $1",
            &[&sha256.hex()],
        )
        .await?
        .map(|r| get(&r, 0, "blob_bytes.data"))
        .transpose()
    }

    async fn blob_in_use(&mut self, sha256: &Digest) -> TxResult<bool> {
        self.exists(
            "SELECT 1 FROM files WHERE sha256 = $1 AND status <> 'pending' \
             UNION ALL SELECT 1 FROM objects WHERE sha256 = $1 \
             UNION ALL SELECT 1 FROM object_history WHERE sha256 = $1 \
             UNION ALL SELECT 1 FROM multipart_parts WHERE sha256 = $1 \
             UNION ALL SELECT 1 FROM blob_segments WHERE sha256 = $1 LIMIT 1",
            &[&sha256.hex()],
        )
        .await
    }

    async fn delete_blob(&mut self, sha256: &Digest, due_at: i64) -> TxResult<DeletedBlob> {
        let segments = self.segments(sha256).await?;
        if !segments.is_empty() {
            self.exec(
                "DELETE FROM blob_segments WHERE composite = $1",
                &[&sha256.hex()],
            )
            .await?;
        }
        // Its inline bytes go with it (a trigger of the schema).
        let location: Option<String> = self
            .opt(
                "DELETE FROM blobs WHERE sha256 = $1 RETURNING location",
                &[&sha256.hex()],
            )
            .await?
            .map(|r| get::<Option<String>>(&r, 0, "blobs.location"))
            .transpose()?
            .flatten();
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
        let md5 = blob.md5.map(hex::encode);
        let inserted = self
            .exec(
                "INSERT INTO blobs (sha256, size, md5, created_at, composite) \
                 VALUES ($1, $2, $3, $4, true) ON CONFLICT (sha256) DO NOTHING",
                &[&hex, &signed(blob.size), &md5, &now],
            )
            .await?;
        if inserted == 0 {
            return Ok(false);
        }
        for (idx, seg) in segments.iter().enumerate() {
            let idx = i32::try_from(idx).map_err(|_| IndexError::Corrupt("blob_segments.idx"))?;
            self.exec(
                "INSERT INTO blob_segments (composite, idx, sha256, size) VALUES ($1, $2, $3, $4)",
                &[&hex, &idx, &seg.sha256.hex(), &signed(seg.size)],
            )
            .await?;
        }
        Ok(true)
    }

    async fn dissolve_composite(&mut self, sha256: &Digest) -> TxResult<Vec<Digest>> {
        let segments = self.segments(sha256).await?;
        let h = sha256.hex();
        self.exec("DELETE FROM blob_segments WHERE composite = $1", &[&h])
            .await?;
        self.exec(
            "UPDATE blobs SET composite = false WHERE sha256 = $1 AND composite",
            &[&h],
        )
        .await?;
        Ok(segments.into_iter().map(|s| s.sha256).collect())
    }

    async fn segments(&mut self, sha256: &Digest) -> TxResult<Vec<Segment>> {
        self.query(
            "SELECT sha256, size FROM blob_segments WHERE composite = $1 ORDER BY idx",
            &[&sha256.hex()],
        )
        .await?
        .iter()
        .map(|r| {
            let h: String = get(r, 0, "blob_segments.sha256")?;
            let size: i64 = get(r, 1, "blob_segments.size")?;
            Ok(Segment {
                sha256: Digest::from_hex(&h).ok_or(IndexError::Corrupt("blob_segments.sha256"))?,
                size: u64::try_from(size).map_err(|_| IndexError::Corrupt("blob_segments.size"))?,
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
        let Some(r) = self
            .opt(
                "SELECT location FROM blobs WHERE sha256 = $1 FOR UPDATE",
                &[&sha256.hex()],
            )
            .await?
        else {
            return Err(IndexError::Corrupt("a location for a blob with no row"));
        };
        let old: Option<String> = get(&r, 0, "blobs.location")?;
        if old.as_deref() == Some(location) {
            return Ok(());
        }
        self.exec(
            "UPDATE blobs SET location = $2 WHERE sha256 = $1",
            &[&sha256.hex(), &location],
        )
        .await?;
        if let Some(old) = old {
            self.add_garbage(&old, due_at).await?;
        }
        Ok(())
    }

    async fn add_garbage(&mut self, name: &str, due_at: i64) -> TxResult<()> {
        self.exec(
            "INSERT INTO garbage (name, due_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET due_at = greatest(garbage.due_at, excluded.due_at)",
            &[&name, &due_at],
        )
        .await?;
        Ok(())
    }

    async fn due_garbage(&mut self, now: i64, limit_to: usize) -> TxResult<Vec<String>> {
        self.query(
            "SELECT name FROM garbage WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
            &[&now, &limit(limit_to)],
        )
        .await?
        .iter()
        .map(|r| get(r, 0, "garbage.name"))
        .collect()
    }

    async fn drop_garbage(&mut self, name: &str) -> TxResult<()> {
        self.exec("DELETE FROM garbage WHERE name = $1", &[&name])
            .await?;
        Ok(())
    }

    async fn location_known(&mut self, name: &str) -> TxResult<bool> {
        self.exists(
            "SELECT 1 FROM blobs WHERE location = $1 \
             UNION ALL SELECT 1 FROM garbage WHERE name = $1 LIMIT 1",
            &[&name],
        )
        .await
    }

    async fn set_blob_md5(&mut self, sha256: &Digest, md5: &[u8; 16]) -> TxResult<()> {
        let (h, m) = (sha256.hex(), hex::encode(md5));
        self.exec("UPDATE blobs SET md5 = $2 WHERE sha256 = $1", &[&h, &m])
            .await?;
        self.exec(
            "UPDATE objects SET etag = $2 WHERE sha256 = $1 AND etag = ''",
            &[&h, &m],
        )
        .await?;
        self.exec(
            "UPDATE object_history SET etag = $2 WHERE sha256 = $1 AND etag = ''",
            &[&h, &m],
        )
        .await?;
        Ok(())
    }

    async fn mark_damaged(&mut self, sha256: &Digest, why: &str) -> TxResult<()> {
        self.exec(
            "UPDATE blobs SET damaged = $2 WHERE sha256 = $1",
            &[&sha256.hex(), &text("damage note", why)?],
        )
        .await?;
        Ok(())
    }

    async fn blobs_missing_md5(&mut self) -> TxResult<Vec<Digest>> {
        digests(
            self.query(
                "SELECT sha256 FROM blobs WHERE md5 IS NULL AND NOT composite",
                &[],
            )
            .await?,
            "blobs.sha256",
        )
    }

    async fn blob_page(
        &mut self,
        after: Option<&Digest>,
        limit_to: usize,
    ) -> TxResult<Vec<BlobEntry>> {
        let after = after.map(Digest::hex).unwrap_or_default();
        all(
            self.query(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL FROM blobs \
                 WHERE sha256 > $1 AND NOT composite ORDER BY sha256 LIMIT $2",
                &[&after, &limit(limit_to)],
            )
            .await?,
            blob_entry_row,
        )
    }

    async fn newest_blobs(
        &mut self,
        from: Option<Cursor>,
        limit_to: usize,
    ) -> TxResult<Vec<(Cursor, i64, BlobEntry)>> {
        // `seq` backwards, through its unique index: it stops after
        // `limit` rows however large the table is.
        all(
            self.query(
                "SELECT sha256, size, md5, bytes_id IS NOT NULL, seq, created_at FROM blobs \
                 WHERE seq < $1 AND bytes_id IS NULL AND NOT composite \
                 ORDER BY seq DESC LIMIT $2",
                &[&from.map_or(i64::MAX, |c| c.0), &limit(limit_to)],
            )
            .await?,
            |r| {
                Ok((
                    Cursor(get(r, 4, "blobs.seq")?),
                    get(r, 5, "blobs.created_at")?,
                    blob_entry_row(r)?,
                ))
            },
        )
    }

    async fn dangling(&mut self) -> TxResult<Vec<Dangling>> {
        all(
            self.query(
                "SELECT 'file ' || id, sha256 FROM files \
                   WHERE status <> 'pending' AND sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'object ' || bucket || '/' || key, sha256 FROM objects \
                   WHERE sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'version ' || version_id || ' of object ' || bucket || '/' \
                   || key, sha256 FROM object_history \
                   WHERE sha256 IS NOT NULL AND sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'part ' || part_number || ' of upload ' || upload_id, sha256 \
                   FROM multipart_parts WHERE sha256 NOT IN (SELECT sha256 FROM blobs) \
                 UNION ALL SELECT 'segment ' || idx || ' of blob ' || composite, sha256 \
                   FROM blob_segments WHERE sha256 NOT IN (SELECT sha256 FROM blobs)",
                &[],
            )
            .await?,
            |r| {
                Ok(Dangling {
                    referrer: get(r, 0, "dangling.referrer")?,
                    sha256: get(r, 1, "dangling.sha256")?,
                })
            },
        )
    }

    async fn forget_blob(&mut self, sha256: &Digest) -> TxResult<usize> {
        // The composites it is a segment of cannot be read either: they
        // go first, with their referrers.
        let composites = self
            .query(
                "SELECT DISTINCT composite FROM blob_segments WHERE sha256 = $1",
                &[&sha256.hex()],
            )
            .await?
            .iter()
            .map(|r| {
                let h: String = get(r, 0, "blob_segments.composite")?;
                Digest::from_hex(&h).ok_or(IndexError::Corrupt("blob_segments.composite"))
            })
            .collect::<TxResult<Vec<Digest>>>()?;
        let mut n = 0;
        for c in composites {
            n += self.forget_referrers(&c).await?;
            self.delete_blob(&c, 0).await?;
        }
        n += self.forget_referrers(sha256).await?;
        // Its bytes are missing or damaged: an upstream copy, if any, is
        // garbage at once.
        self.delete_blob(sha256, 0).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

#[async_trait]
impl HealthRows for PgTx<'_> {
    async fn stats(&mut self) -> TxResult<(u64, u64, u64, u64)> {
        let r = self
            .query(
                "SELECT (SELECT count(*) FROM files WHERE status = 'pending'), \
                        (SELECT count(*) FROM files WHERE status <> 'pending'), \
                        (SELECT count(*) FROM objects), \
                        (SELECT coalesce(sum(size), 0)::bigint FROM blobs WHERE NOT composite)",
                &[],
            )
            .await?;
        let r = r.first().ok_or(IndexError::Corrupt("stats"))?;
        let n = |i: usize| get::<i64>(r, i, "stats").map(|v| v.max(0) as u64);
        Ok((n(0)?, n(1)?, n(2)?, n(3)?))
    }

    async fn check(&mut self) -> TxResult<()> {
        self.query("SELECT count(*) FROM files", &[]).await?;
        Ok(())
    }
}
