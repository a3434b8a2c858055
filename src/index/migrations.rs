//! Schema migrations of both backends, in one place: SQLite's, versioned
//! by `PRAGMA user_version` ([`MIGRATIONS`]), and PostgreSQL's, versioned
//! in the table `stowage_schema` ([`POSTGRES`]). A change to the schema is
//! a new entry in each list.
//!
//! Append-only: a released migration is never edited, a change is a new
//! entry. Each runs in a transaction together with its version bump, and a
//! database of a newer schema is refused, never downgraded.

use rusqlite::Connection;

use super::{DbError, IndexError};

/// Index `i` upgrades the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: files and tokens.
    "CREATE TABLE files (
        id             TEXT PRIMARY KEY,
        file_name      TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        size           INTEGER NOT NULL CHECK (size >= 0),
        sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
        status         TEXT NOT NULL CHECK (status IN ('pending', 'uploaded', 'completed')),
        created_at     INTEGER NOT NULL,
        url_expires_at INTEGER NOT NULL,
        uploaded_at    INTEGER,
        completed_at   INTEGER
     );
     CREATE INDEX files_by_blob ON files (sha256, size) WHERE status <> 'pending';
     CREATE INDEX files_pending_expiry ON files (url_expires_at) WHERE status = 'pending';
     CREATE TABLE tokens (
        name        TEXT PRIMARY KEY,
        token_hash  TEXT NOT NULL UNIQUE,
        scopes      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
     );",
    // 2: the S3 namespace. `blobs` records the facts of each stored blob
    // once (a row exists only after the blob is durable); `objects` maps
    // bucket/key to a blob. Files from the upload API refer to blobs by
    // their sha256 too, so a blob is garbage only when neither refers to it.
    // md5 of blobs stored before this migration is unknown (NULL) until the
    // start-up pass computes it.
    "CREATE TABLE blobs (
        sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        size        INTEGER NOT NULL CHECK (size >= 0),
        md5         TEXT CHECK (md5 IS NULL OR length(md5) = 32),
        created_at  INTEGER NOT NULL
     );
     INSERT INTO blobs (sha256, size, md5, created_at)
        SELECT sha256, size, NULL, min(coalesce(uploaded_at, created_at))
        FROM files WHERE status <> 'pending' GROUP BY sha256;
     CREATE TABLE buckets (
        name        TEXT PRIMARY KEY,
        created_at  INTEGER NOT NULL
     );
     CREATE TABLE objects (
        bucket         TEXT NOT NULL REFERENCES buckets (name),
        key            TEXT NOT NULL,
        sha256         TEXT NOT NULL REFERENCES blobs (sha256),
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        meta           TEXT NOT NULL,
        last_modified  INTEGER NOT NULL,
        PRIMARY KEY (bucket, key)
     ) WITHOUT ROWID;
     CREATE INDEX objects_by_blob ON objects (sha256);",
    // 3: multipart uploads. Each part is a blob of its own until the upload
    // completes (the parts are then assembled into one new blob) or aborts.
    "CREATE TABLE multipart_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket        TEXT NOT NULL REFERENCES buckets (name),
        key           TEXT NOT NULL,
        content_type  TEXT NOT NULL,
        meta          TEXT NOT NULL,
        created_at    INTEGER NOT NULL
     );
     CREATE INDEX multipart_by_key ON multipart_uploads (bucket, key);
     CREATE TABLE multipart_parts (
        upload_id    TEXT NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
        part_number  INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
        sha256       TEXT NOT NULL REFERENCES blobs (sha256),
        size         INTEGER NOT NULL,
        md5          TEXT NOT NULL,
        last_modified INTEGER NOT NULL,
        PRIMARY KEY (upload_id, part_number)
     ) WITHOUT ROWID;
     CREATE INDEX parts_by_blob ON multipart_parts (sha256);",
    // 4: completed multipart uploads, remembered for a while so a client
    // that retries CompleteMultipartUpload (its first answer lost to a
    // timeout) gets the same answer, as from S3.
    "CREATE TABLE completed_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket        TEXT NOT NULL,
        key           TEXT NOT NULL,
        etag          TEXT NOT NULL,
        completed_at  INTEGER NOT NULL
     );",
    // 5: small blobs kept inline: their bytes are committed in the same
    // transaction as the row that references them (group commit, no file
    // and no per-file fsync). NULL: the bytes are in the blob store.
    "ALTER TABLE blobs ADD COLUMN data BLOB;",
    // 6: the start-up pass looks for blobs whose MD5 is unknown; with a
    // million blobs a full scan of the table took seconds from a cold
    // cache. This index holds only those rows (normally none).
    "CREATE INDEX blobs_missing_md5 ON blobs (sha256) WHERE md5 IS NULL;",
    // 7: inline bytes move out of `blobs` into a table of their own, keyed
    // by an increasing rowid: a new small blob's bytes are appended at the
    // end of that table instead of widening a leaf of the `blobs` B-tree,
    // whose keys are random digests (rows of 4 KiB left about one row per
    // leaf, so every upload split or dirtied a page of its own). A trigger
    // removes the bytes with their row.
    "CREATE TABLE blob_bytes (
        id    INTEGER PRIMARY KEY,
        data  BLOB NOT NULL
     );
     ALTER TABLE blobs ADD COLUMN bytes_id INTEGER REFERENCES blob_bytes (id);
     INSERT INTO blob_bytes (id, data) SELECT rowid, data FROM blobs WHERE data IS NOT NULL;
     UPDATE blobs SET bytes_id = rowid WHERE data IS NOT NULL;
     ALTER TABLE blobs DROP COLUMN data;
     CREATE TRIGGER blobs_drop_bytes AFTER DELETE ON blobs WHEN OLD.bytes_id IS NOT NULL
     BEGIN
        DELETE FROM blob_bytes WHERE id = OLD.bytes_id;
     END;",
    // 8: a blob whose file the start-up pass found missing or of the wrong
    // size is marked (why, and when) rather than silently served as an
    // error; `stowage verify` and the log report it. NULL: not known bad.
    "ALTER TABLE blobs ADD COLUMN damaged TEXT;",
    // 9: a bucket's CORS configuration (PutBucketCors), as JSON rules;
    // NULL: none of its own.
    "ALTER TABLE buckets ADD COLUMN cors TEXT;",
    // 10: several S3 access keys. Each key beside the configured one has a
    // name and a secret (kept, since SigV4 needs it to check a signature);
    // a bucket belongs to the key that created it (NULL: the configured
    // key), and the operator grants other keys read or write on it.
    "CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        secret        TEXT NOT NULL,
        name          TEXT NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        revoked_at    INTEGER
     );
     CREATE TABLE bucket_grants (
        access_key_id TEXT NOT NULL,
        bucket        TEXT NOT NULL,
        can_write     INTEGER NOT NULL,
        PRIMARY KEY (access_key_id, bucket)
     ) WITHOUT ROWID;
     ALTER TABLE buckets ADD COLUMN owner TEXT;",
    // 11: blobs in a store that names them by write-once ids (an upstream
    // S3 cluster) record that id; NULL: the store names it by its digest.
    // `garbage` holds ids no row refers to any more, deleted from the
    // store once `due_at` (unix seconds) has passed: a reader streaming
    // the bytes, or an index restored from a backup, may still need them.
    "ALTER TABLE blobs ADD COLUMN location TEXT;
     CREATE UNIQUE INDEX blobs_by_location ON blobs (location) WHERE location IS NOT NULL;
     CREATE TABLE garbage (
        name    TEXT PRIMARY KEY,
        due_at  INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX garbage_due ON garbage (due_at);",
    // 12: composite blobs: an object put together from parts (S3's
    // CompleteMultipartUpload, the upload API's part-wise completion) is
    // the list of its parts' blobs, in order, not a copy of their bytes.
    // A composite row has no bytes of its own; its segments are ordinary
    // blobs, kept while a composite names them.
    "ALTER TABLE blobs ADD COLUMN composite INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE blob_segments (
        composite  TEXT NOT NULL REFERENCES blobs (sha256),
        idx        INTEGER NOT NULL,
        sha256     TEXT NOT NULL REFERENCES blobs (sha256),
        size       INTEGER NOT NULL,
        PRIMARY KEY (composite, idx)
     ) WITHOUT ROWID;
     CREATE INDEX segments_by_blob ON blob_segments (sha256);",
    // 13: versioning. A bucket's state (NULL: never enabled); each current
    // object's version id ('null' unless written with versioning
    // enabled); and each key's history: the versions it had before its
    // current object and its delete markers (no blob), newest the highest
    // `seq` of the key. A version in the history keeps its blob as an
    // object does.
    "ALTER TABLE buckets ADD COLUMN versioning TEXT
        CHECK (versioning IS NULL OR versioning IN ('Enabled', 'Suspended'));
     ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null';
     CREATE TABLE object_history (
        bucket         TEXT NOT NULL REFERENCES buckets (name),
        key            TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        version_id     TEXT NOT NULL,
        delete_marker  INTEGER NOT NULL CHECK (delete_marker IN (0, 1)),
        sha256         TEXT REFERENCES blobs (sha256),
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        meta           TEXT NOT NULL,
        last_modified  INTEGER NOT NULL,
        PRIMARY KEY (bucket, key, seq),
        UNIQUE (bucket, key, version_id),
        CHECK ((delete_marker = 1) = (sha256 IS NULL))
     ) WITHOUT ROWID;
     CREATE INDEX history_by_blob ON object_history (sha256) WHERE sha256 IS NOT NULL;",
    // 14: Object Lock. A bucket's configuration (NULL: not enabled), as
    // opaque text the storage service reads; each version's retention and
    // legal hold live in its metadata.
    "ALTER TABLE buckets ADD COLUMN object_lock TEXT;",
    // 15: a bucket's lifecycle configuration (NULL: none), as opaque text
    // the storage service reads.
    "ALTER TABLE buckets ADD COLUMN lifecycle TEXT;",
    // 16: a bucket's tag set (NULL: none), as opaque text.
    "ALTER TABLE buckets ADD COLUMN tags TEXT;",
    // 17: a bucket's canned ACL (NULL: private); an object's is in its
    // metadata.
    "ALTER TABLE buckets ADD COLUMN acl TEXT;",
    // 18: a bucket's policy (its JSON text) and PublicAccessBlock
    // configuration (opaque text); NULL: none.
    "ALTER TABLE buckets ADD COLUMN policy TEXT;
     ALTER TABLE buckets ADD COLUMN public_access_block TEXT;",
    // 19: a part's checksum of its upload's algorithm (base64; NULL for an
    // upload created without one).
    "ALTER TABLE multipart_parts ADD COLUMN checksum TEXT;",
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`]; refuses a database from a newer binary.
pub fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > LATEST {
        return Err(DbError::TooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// PostgreSQL's migrations: index `i` upgrades the schema from version `i`
/// to `i + 1`.
///
/// Version 1 is SQLite's schema as of its version 10, table for table and
/// column for column (the same statements read the same rows on both), in
/// PostgreSQL's types: identifiers, keys, names and digests are `TEXT
/// COLLATE "C"`, so they compare and sort by their bytes as S3 lists keys
/// (SQLite's BINARY); integers are `BIGINT`; inline bytes `BYTEA`. Where
/// SQLite's rowid gives a position (files newest first, blobs newest
/// first), a `bigserial` column `seq` does.
pub const POSTGRES: &[&str] = &[
    // 1: the whole schema (see above).
    r#"CREATE TABLE files (
        seq            BIGSERIAL NOT NULL UNIQUE,
        id             TEXT COLLATE "C" PRIMARY KEY,
        file_name      TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        size           BIGINT NOT NULL CHECK (size >= 0),
        sha256         TEXT COLLATE "C" NOT NULL CHECK (length(sha256) = 64),
        status         TEXT NOT NULL CHECK (status IN ('pending', 'uploaded', 'completed')),
        created_at     BIGINT NOT NULL,
        url_expires_at BIGINT NOT NULL,
        uploaded_at    BIGINT,
        completed_at   BIGINT
     );
     CREATE INDEX files_by_blob ON files (sha256, size);
     CREATE INDEX files_pending_expiry ON files (url_expires_at) WHERE status = 'pending';
     CREATE TABLE tokens (
        name        TEXT COLLATE "C" PRIMARY KEY,
        token_hash  TEXT COLLATE "C" NOT NULL UNIQUE,
        scopes      TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        revoked_at  BIGINT
     );
     CREATE TABLE blob_bytes (
        id    BIGSERIAL PRIMARY KEY,
        data  BYTEA NOT NULL
     );
     CREATE TABLE blobs (
        seq         BIGSERIAL NOT NULL UNIQUE,
        sha256      TEXT COLLATE "C" PRIMARY KEY CHECK (length(sha256) = 64),
        size        BIGINT NOT NULL CHECK (size >= 0),
        md5         TEXT COLLATE "C" CHECK (md5 IS NULL OR length(md5) = 32),
        created_at  BIGINT NOT NULL,
        bytes_id    BIGINT REFERENCES blob_bytes (id),
        damaged     TEXT
     );
     CREATE INDEX blobs_missing_md5 ON blobs (sha256) WHERE md5 IS NULL;
     CREATE FUNCTION blobs_drop_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        DELETE FROM blob_bytes WHERE id = OLD.bytes_id;
        RETURN NULL;
     END $$;
     CREATE TRIGGER blobs_drop_bytes AFTER DELETE ON blobs
        FOR EACH ROW WHEN (OLD.bytes_id IS NOT NULL) EXECUTE FUNCTION blobs_drop_bytes();
     CREATE TABLE buckets (
        name        TEXT COLLATE "C" PRIMARY KEY,
        created_at  BIGINT NOT NULL,
        cors        TEXT,
        owner       TEXT COLLATE "C"
     );
     CREATE TABLE objects (
        bucket         TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
        key            TEXT COLLATE "C" NOT NULL,
        sha256         TEXT COLLATE "C" NOT NULL REFERENCES blobs (sha256),
        size           BIGINT NOT NULL,
        etag           TEXT COLLATE "C" NOT NULL,
        content_type   TEXT NOT NULL,
        meta           TEXT NOT NULL,
        last_modified  BIGINT NOT NULL,
        PRIMARY KEY (bucket, key)
     );
     CREATE INDEX objects_by_blob ON objects (sha256);
     CREATE TABLE multipart_uploads (
        upload_id     TEXT COLLATE "C" PRIMARY KEY,
        bucket        TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
        key           TEXT COLLATE "C" NOT NULL,
        content_type  TEXT NOT NULL,
        meta          TEXT NOT NULL,
        created_at    BIGINT NOT NULL
     );
     CREATE INDEX multipart_by_key ON multipart_uploads (bucket, key);
     CREATE TABLE multipart_parts (
        upload_id     TEXT COLLATE "C" NOT NULL
                      REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
        part_number   INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
        sha256        TEXT COLLATE "C" NOT NULL REFERENCES blobs (sha256),
        size          BIGINT NOT NULL,
        md5           TEXT COLLATE "C" NOT NULL,
        last_modified BIGINT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
     );
     CREATE INDEX parts_by_blob ON multipart_parts (sha256);
     CREATE TABLE completed_uploads (
        upload_id     TEXT COLLATE "C" PRIMARY KEY,
        bucket        TEXT COLLATE "C" NOT NULL,
        key           TEXT COLLATE "C" NOT NULL,
        etag          TEXT COLLATE "C" NOT NULL,
        completed_at  BIGINT NOT NULL
     );
     CREATE TABLE access_keys (
        access_key_id TEXT COLLATE "C" PRIMARY KEY,
        secret        TEXT COLLATE "C" NOT NULL,
        name          TEXT COLLATE "C" NOT NULL UNIQUE,
        created_at    BIGINT NOT NULL,
        revoked_at    BIGINT
     );
     CREATE TABLE bucket_grants (
        access_key_id TEXT COLLATE "C" NOT NULL,
        bucket        TEXT COLLATE "C" NOT NULL,
        can_write     BOOLEAN NOT NULL,
        PRIMARY KEY (access_key_id, bucket)
     );"#,
    // 2: SQLite's 11 (write-once blob ids, and their garbage).
    r#"ALTER TABLE blobs ADD COLUMN location TEXT COLLATE "C";
     CREATE UNIQUE INDEX blobs_by_location ON blobs (location) WHERE location IS NOT NULL;
     CREATE TABLE garbage (
        name    TEXT COLLATE "C" PRIMARY KEY,
        due_at  BIGINT NOT NULL
     );
     CREATE INDEX garbage_due ON garbage (due_at);"#,
    // 3: SQLite's 12 (composite blobs and their segments).
    r#"ALTER TABLE blobs ADD COLUMN composite BOOLEAN NOT NULL DEFAULT false;
     CREATE TABLE blob_segments (
        composite  TEXT COLLATE "C" NOT NULL REFERENCES blobs (sha256),
        idx        INTEGER NOT NULL,
        sha256     TEXT COLLATE "C" NOT NULL REFERENCES blobs (sha256),
        size       BIGINT NOT NULL,
        PRIMARY KEY (composite, idx)
     );
     CREATE INDEX segments_by_blob ON blob_segments (sha256);"#,
    // 4: SQLite's 13 (versioning: the bucket's state, version ids, and
    // each key's history).
    r#"ALTER TABLE buckets ADD COLUMN versioning TEXT
        CHECK (versioning IS NULL OR versioning IN ('Enabled', 'Suspended'));
     ALTER TABLE objects ADD COLUMN version_id TEXT COLLATE "C" NOT NULL DEFAULT 'null';
     CREATE TABLE object_history (
        bucket         TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
        key            TEXT COLLATE "C" NOT NULL,
        seq            BIGINT NOT NULL,
        version_id     TEXT COLLATE "C" NOT NULL,
        delete_marker  BOOLEAN NOT NULL,
        sha256         TEXT COLLATE "C" REFERENCES blobs (sha256),
        size           BIGINT NOT NULL,
        etag           TEXT COLLATE "C" NOT NULL,
        content_type   TEXT NOT NULL,
        meta           TEXT NOT NULL,
        last_modified  BIGINT NOT NULL,
        PRIMARY KEY (bucket, key, seq),
        UNIQUE (bucket, key, version_id),
        CHECK (delete_marker = (sha256 IS NULL))
     );
     CREATE INDEX history_by_blob ON object_history (sha256) WHERE sha256 IS NOT NULL;"#,
    // 5: SQLite's 14 (a bucket's Object Lock configuration).
    "ALTER TABLE buckets ADD COLUMN object_lock TEXT;",
    // 6: SQLite's 15 (a bucket's lifecycle configuration).
    "ALTER TABLE buckets ADD COLUMN lifecycle TEXT;",
    // 7: SQLite's 16 (a bucket's tag set).
    "ALTER TABLE buckets ADD COLUMN tags TEXT;",
    // 8: SQLite's 17 (a bucket's canned ACL).
    "ALTER TABLE buckets ADD COLUMN acl TEXT;",
    // 9: SQLite's 18 (a bucket's policy and PublicAccessBlock).
    "ALTER TABLE buckets ADD COLUMN policy TEXT;
     ALTER TABLE buckets ADD COLUMN public_access_block TEXT;",
    // 10: SQLite's 19 (a part's checksum).
    "ALTER TABLE multipart_parts ADD COLUMN checksum TEXT;",
];

pub const POSTGRES_LATEST: i64 = POSTGRES.len() as i64;

/// The oldest PostgreSQL the schema and statements need (`starts_with`,
/// `EXECUTE FUNCTION`).
const POSTGRES_MIN_VERSION: i64 = 110000;

/// An arbitrary constant: the advisory lock that serializes migrations of
/// one database, so gateways started together migrate it once.
const MIGRATION_LOCK: i64 = 0x0053_746f_7761_6765;

/// Brings a PostgreSQL database up to [`POSTGRES_LATEST`], in one
/// transaction under an advisory lock; refuses a database from a newer
/// binary.
pub async fn migrate_postgres(client: &mut tokio_postgres::Client) -> Result<(), IndexError> {
    let err = super::postgres::error::index_error;
    check_postgres_version(client).await?;
    let tx = client.transaction().await.map_err(err)?;
    migrate_postgres_in(&tx).await?;
    tx.commit().await.map_err(err)
}

/// Refuses a PostgreSQL server older than the schema needs.
pub async fn check_postgres_version(client: &tokio_postgres::Client) -> Result<(), IndexError> {
    let version: i64 = client
        .query_one("SELECT current_setting('server_version_num')::bigint", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(super::postgres::error::index_error)?;
    if version < POSTGRES_MIN_VERSION {
        return Err(IndexError::Backend(format!(
            "PostgreSQL {} is too old for the index: version 11 or newer is needed",
            version / 10000
        )));
    }
    Ok(())
}

/// [`migrate_postgres`] inside the caller's transaction `tx` (a copy of
/// an index makes the schema and its rows in one), which it leaves open.
pub async fn migrate_postgres_in(tx: &tokio_postgres::Transaction<'_>) -> Result<(), IndexError> {
    let err = super::postgres::error::index_error;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS stowage_schema (
            one      BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
            version  BIGINT NOT NULL
         )",
    )
    .await
    .map_err(err)?;
    let current: i64 = tx
        .query_opt("SELECT version FROM stowage_schema", &[])
        .await
        .map_err(err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(err)?
        .unwrap_or(0);
    if current > POSTGRES_LATEST {
        return Err(IndexError::TooNew {
            found: current,
            supported: POSTGRES_LATEST,
        });
    }
    if current == POSTGRES_LATEST {
        return Ok(());
    }
    for sql in &POSTGRES[current as usize..] {
        tx.batch_execute(sql).await.map_err(err)?;
    }
    tx.execute(
        "INSERT INTO stowage_schema (version) VALUES ($1) \
         ON CONFLICT (one) DO UPDATE SET version = excluded.version",
        &[&POSTGRES_LATEST],
    )
    .await
    .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_bytes_of_schema_5_move_to_blob_bytes_and_go_with_their_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        conn.execute(
            "INSERT INTO blobs (sha256, size, md5, created_at, data) VALUES (?1, 3, NULL, 1, x'010203')",
            [&a],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO blobs (sha256, size, md5, created_at, data) VALUES (?1, 9, NULL, 1, NULL)",
            [&b],
        )
        .unwrap();

        migrate(&mut conn).unwrap();
        let bytes_of = |conn: &Connection, sha: &str| -> Option<Vec<u8>> {
            conn.query_row(
                "SELECT d.data FROM blobs JOIN blob_bytes d ON d.id = blobs.bytes_id \
                 WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(bytes_of(&conn, &a), Some(vec![1, 2, 3]));
        assert_eq!(bytes_of(&conn, &b), None);
        // Deleting a blob's row deletes its bytes.
        conn.execute("DELETE FROM blobs WHERE sha256 = ?1", [&a])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM blob_bytes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
