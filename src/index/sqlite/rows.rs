//! SQLite rows: the statements and row mappers the transaction operations
//! ([`super::tx`]) and the engine share — columns, conversions, a few
//! multi-statement helpers. No decision is made here.

use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::index::{
    BlobEntry, BlobInfo, DbError, Declared, FileRecord, MultipartUpload, ObjectRecord, PartRecord,
    Status, TokenRecord,
};
use crate::store::Digest;

pub(super) const FILE_COLUMNS: &str =
    "id, file_name, content_type, size, sha256, status, created_at, \
                            url_expires_at, uploaded_at, completed_at";

/// `execute` and `query_row` through the connection's prepared-statement
/// cache: the hot paths run the same few statements thousands of times a
/// second, and parsing SQL each time was a tenth of the CPU.
pub(super) trait Cached {
    fn cached_exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize>;
    fn cached_row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn cached_exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    fn cached_row<T, P, F>(&self, sql: &str, p: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(p, f)
    }
}

pub(super) fn file_from_row(row: &Row<'_>) -> rusqlite::Result<Result<FileRecord, DbError>> {
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

pub(super) fn get_file(conn: &Connection, id: &Uuid) -> Result<Option<FileRecord>, DbError> {
    conn.cached_row(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
        [id.to_string()],
        file_from_row,
    )
    .optional()?
    .transpose()
}

/// The recorded facts of a blob, if it is stored.
pub(super) fn blob_info(conn: &Connection, sha256: &Digest) -> Result<Option<BlobInfo>, DbError> {
    let row: Option<(i64, Option<String>)> = conn
        .cached_row(
            "SELECT size, md5 FROM blobs WHERE sha256 = ?1",
            [sha256.hex()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(size, md5)| {
        Ok(BlobInfo {
            sha256: *sha256,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("blobs.size"))?,
            md5: match md5 {
                None => None,
                Some(h) => {
                    let mut out = [0u8; 16];
                    hex::decode_to_slice(&h, &mut out)
                        .map_err(|_| DbError::Corrupt("blobs.md5"))?;
                    Some(out)
                }
            },
        })
    })
    .transpose()
}

/// Records a durable blob (idempotent; fills a missing MD5, and keeps
/// `inline` bytes if the row has none yet). `heal`: the caller has just
/// published these bytes, verified, so the blob is whole again and a damage
/// mark on it goes, in this same write. Without it (a copy, the recovery
/// pass) the mark stays: nothing was written.
pub(super) fn record_blob(
    conn: &Connection,
    blob: &BlobInfo,
    inline: Option<&[u8]>,
    now: i64,
    heal: bool,
) -> Result<(), DbError> {
    let md5 = blob.md5.map(hex::encode);
    let hex = blob.sha256.hex();
    let bytes_id = match inline {
        None => None,
        Some(data) => {
            let has_bytes: Option<bool> = conn
                .cached_row(
                    "SELECT bytes_id IS NOT NULL FROM blobs WHERE sha256 = ?1",
                    [&hex],
                    |r| r.get(0),
                )
                .optional()?;
            if has_bytes == Some(true) {
                None
            } else {
                conn.cached_exec("INSERT INTO blob_bytes (data) VALUES (?1)", [data])?;
                Some(conn.last_insert_rowid())
            }
        }
    };
    conn.cached_exec(
        "INSERT INTO blobs (sha256, size, md5, created_at, bytes_id) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (sha256) DO UPDATE SET md5 = coalesce(blobs.md5, excluded.md5), \
         bytes_id = coalesce(blobs.bytes_id, excluded.bytes_id), \
         damaged = CASE WHEN ?6 THEN NULL ELSE blobs.damaged END",
        params![hex, blob.size as i64, md5, now, bytes_id, heal],
    )?;
    Ok(())
}

/// Inserts the row of a declared file.
pub(super) fn insert_file(
    conn: &Connection,
    d: &Declared,
    status: &str,
    now: i64,
    url_expires_at: i64,
    uploaded_at: Option<i64>,
) -> Result<(), DbError> {
    conn.cached_exec(
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
    Ok(())
}

/// A `blobs` row as (sha256, size, md5, inline) → [`BlobEntry`].
pub(super) fn blob_entry_row(r: &Row<'_>) -> rusqlite::Result<Result<BlobEntry, DbError>> {
    let (sha, size, md5, inline): (String, i64, Option<String>, bool) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    Ok((|| {
        let md5 = match md5 {
            Some(h) => {
                let mut m = [0u8; 16];
                hex::decode_to_slice(&h, &mut m).map_err(|_| DbError::Corrupt("blobs.md5"))?;
                Some(m)
            }
            None => None,
        };
        Ok(BlobEntry {
            info: BlobInfo {
                sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("blobs.sha256"))?,
                size: u64::try_from(size).map_err(|_| DbError::Corrupt("blobs.size"))?,
                md5,
            },
            inline,
        })
    })())
}

pub(super) fn inline_data(conn: &Connection, sha256: &Digest) -> Result<Option<Vec<u8>>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT b.data FROM blobs JOIN blob_bytes b ON b.id = blobs.bytes_id \
             WHERE blobs.sha256 = ?1",
        )?
        .query_row([sha256.hex()], |r| r.get(0))
        .optional()?)
}

/// Whether any file with bytes, object, version, part or composite refers
/// to the blob.
pub(super) fn blob_in_use(conn: &Connection, sha256: &Digest) -> Result<bool, DbError> {
    Ok(conn
        .cached_row(
            "SELECT 1 FROM files WHERE sha256 = ?1 AND status <> 'pending' \
             UNION ALL SELECT 1 FROM objects WHERE sha256 = ?1 \
             UNION ALL SELECT 1 FROM object_history WHERE sha256 = ?1 \
             UNION ALL SELECT 1 FROM multipart_parts WHERE sha256 = ?1 \
             UNION ALL SELECT 1 FROM blob_segments WHERE sha256 = ?1 LIMIT 1",
            [sha256.hex()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Points `obj.bucket/obj.key` at its blob; returns the blob it replaced.
pub(super) fn upsert_object(
    conn: &Connection,
    obj: &ObjectRecord,
) -> Result<Option<Digest>, DbError> {
    let previous: Option<String> = conn
        .cached_row(
            "SELECT sha256 FROM objects WHERE bucket = ?1 AND key = ?2",
            params![obj.bucket, obj.key],
            |r| r.get(0),
        )
        .optional()?;
    let meta = serde_json::to_string(&obj.meta).map_err(|_| DbError::Corrupt("objects.meta"))?;
    conn.cached_exec(
        "INSERT INTO objects (bucket, key, sha256, size, etag, content_type, meta, last_modified, \
         version_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (bucket, key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
         etag = excluded.etag, content_type = excluded.content_type, meta = excluded.meta, \
         last_modified = excluded.last_modified, version_id = excluded.version_id",
        params![
            obj.bucket,
            obj.key,
            obj.sha256.hex(),
            obj.size as i64,
            obj.etag,
            obj.content_type,
            meta,
            obj.last_modified,
            obj.version_id
        ],
    )?;
    Ok(previous
        .and_then(|p| Digest::from_hex(&p))
        .filter(|p| *p != obj.sha256))
}

pub(super) const OBJECT_COLUMNS: &str =
    "bucket, key, sha256, size, etag, content_type, meta, last_modified, version_id";

pub(super) fn object_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ObjectRecord, DbError>> {
    let sha: String = row.get(2)?;
    let size: i64 = row.get(3)?;
    let meta: String = row.get(6)?;
    let bucket: String = row.get(0)?;
    let key: String = row.get(1)?;
    let etag: String = row.get(4)?;
    let content_type: String = row.get(5)?;
    let last_modified: i64 = row.get(7)?;
    let version_id: String = row.get(8)?;
    Ok((|| {
        Ok(ObjectRecord {
            bucket,
            key,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("objects.sha256"))?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("objects.size"))?,
            etag,
            content_type,
            meta: serde_json::from_str(&meta).map_err(|_| DbError::Corrupt("objects.meta"))?,
            last_modified,
            version_id,
        })
    })())
}

pub(super) fn get_object_row(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectRecord>, DbError> {
    conn.cached_row(
        &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
        params![bucket, key],
        object_from_row,
    )
    .optional()?
    .transpose()
}

pub(super) const MULTIPART_COLUMNS: &str = "upload_id, bucket, key, content_type, meta, created_at";

pub(super) fn multipart_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<Result<MultipartUpload, DbError>> {
    let meta: String = row.get(4)?;
    let (upload_id, bucket, key, content_type, created_at) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(5)?,
    );
    Ok(serde_json::from_str(&meta)
        .map_err(|_| DbError::Corrupt("multipart_uploads.meta"))
        .map(|meta| MultipartUpload {
            upload_id,
            bucket,
            key,
            content_type,
            meta,
            created_at,
        }))
}

pub(super) fn get_multipart_row(
    conn: &Connection,
    id: &str,
) -> Result<Option<MultipartUpload>, DbError> {
    conn.cached_row(
        &format!("SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE upload_id = ?1"),
        [id],
        multipart_from_row,
    )
    .optional()?
    .transpose()
}

pub(super) fn part_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PartRecord, DbError>> {
    let number: i64 = row.get(0)?;
    let sha: String = row.get(1)?;
    let size: i64 = row.get(2)?;
    let md5: String = row.get(3)?;
    let last_modified: i64 = row.get(4)?;
    let checksum: Option<String> = row.get(5)?;
    Ok((|| {
        let mut m = [0u8; 16];
        hex::decode_to_slice(&md5, &mut m).map_err(|_| DbError::Corrupt("multipart_parts.md5"))?;
        Ok(PartRecord {
            part_number: u32::try_from(number)
                .map_err(|_| DbError::Corrupt("multipart_parts.part_number"))?,
            sha256: Digest::from_hex(&sha).ok_or(DbError::Corrupt("multipart_parts.sha256"))?,
            size: u64::try_from(size).map_err(|_| DbError::Corrupt("multipart_parts.size"))?,
            md5: m,
            last_modified,
            checksum,
        })
    })())
}

/// Removes a multipart upload and its part rows (not their blobs).
pub(super) fn delete_upload(conn: &Connection, upload_id: &str) -> Result<(), DbError> {
    conn.cached_exec(
        "DELETE FROM multipart_parts WHERE upload_id = ?1",
        [upload_id],
    )?;
    conn.cached_exec(
        "DELETE FROM multipart_uploads WHERE upload_id = ?1",
        [upload_id],
    )?;
    Ok(())
}

pub(super) fn part_blobs(conn: &Connection, id: &str) -> Result<Vec<Digest>, DbError> {
    let hexes: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT sha256 FROM multipart_parts WHERE upload_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    hexes
        .iter()
        .map(|h| Digest::from_hex(h).ok_or(DbError::Corrupt("multipart_parts.sha256")))
        .collect()
}

/// The live (unrevoked) token with this hash.
pub(super) fn token_row(
    conn: &Connection,
    token_hash: &Digest,
) -> Result<Option<TokenRecord>, DbError> {
    Ok(conn
        .cached_row(
            "SELECT name, scopes, created_at, revoked_at FROM tokens \
             WHERE token_hash = ?1 AND revoked_at IS NULL",
            [token_hash.hex()],
            token_from_row,
        )
        .optional()?)
}

pub(super) fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
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
