//! Copies between the backends on real databases: a SQLite index file with
//! a row in every table (and the awkward values: every byte in inline
//! bytes, NULLs, gaps in rowids), to a fresh PostgreSQL database and back,
//! compared value for value; each refusal leaves the target as it was.

use std::path::{Path, PathBuf};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::rows::{Kind, TABLES};
use super::*;
use crate::index::postgres_testing::{blocking, TestDb};
use crate::index::{SqliteIndex, DB_FILE};

/// A data dir whose index has rows in every table.
fn populated() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteIndex::open(dir.path()).unwrap());
    let file = dir.path().join(DB_FILE);
    let conn = Connection::open(&file).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    let every_byte: Vec<u8> = (0..=255u8).collect();
    conn.execute_batch(&format!(
        "INSERT INTO files (rowid, id, file_name, content_type, size, sha256, status, created_at,
                            url_expires_at, uploaded_at, completed_at) VALUES
           (5, 'f5', 'résumé 📄.pdf', 'application/pdf', 256, '{a}', 'completed', 1, 2, 3, 4),
           (9, 'f9', 'pending.bin', 'application/octet-stream', 10, '{b}', 'pending', 5, 6, NULL, NULL),
           (12, 'f12', 'big.iso', 'application/octet-stream', 9000000000, '{b}', 'uploaded',
            7, 8, 9, NULL);
         INSERT INTO tokens VALUES ('initial', 'hash1', 'upload,read,admin', 1, NULL),
                                   ('old', 'hash2', 'read', 2, 3);
         INSERT INTO blob_bytes (id, data) VALUES (3, x'{}'), (7, x'');
         INSERT INTO blobs (rowid, sha256, size, md5, created_at, bytes_id, damaged) VALUES
           (2, '{a}', 256, '{}', 1, 3, NULL),
           (4, '{b}', 9000000000, NULL, 2, NULL, 'missing since 5'),
           (6, '{c}', 0, '{}', 3, 7, NULL);
                  INSERT INTO buckets VALUES ('uploads', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                     NULL),
                                    ('photos', 2, '[{{\"AllowedOrigins\":[\"*\"]}}]', 'AKIDEXAMPLE',
                                     'Enabled', '{{\"days\":3}}', '{{\"rules\":[]}}', '[[\"team\",\"survey\"]]', 'public-read',
                                     '{{\"Statement\":[]}}', '{{\"block_public_acls\":true}}');
         INSERT INTO objects VALUES ('photos', 'a/b c/ü.jpg', '{a}', 256, 'etag1', 'image/jpeg',
                                     '{{\"user\":[[\"k\",\"v\"]]}}', 10, 'v2'),
                                    ('photos', 'zero', '{c}', 0, 'etag2', 'text/plain', '{{}}', 11,
                                     'null');
         INSERT INTO object_history VALUES
           ('photos', 'a/b c/ü.jpg', 1, 'null', 0, '{b}', 9000000000, 'etag0', 'image/jpeg', '{{}}', 8),
           ('photos', 'a/b c/ü.jpg', 2, 'v1', 1, NULL, 0, '', '', '{{}}', 9);
         INSERT INTO multipart_uploads VALUES ('up1', 'photos', 'big', 'video/mp4', '{{}}', 12);
                  INSERT INTO multipart_parts VALUES ('up1', 1, '{b}', 9000000000, 'md5a', 13, NULL),
                                            ('up1', 10000, '{a}', 256, 'md5b', 14, 'AAAAAA==');
         INSERT INTO completed_uploads VALUES ('up0', 'photos', 'done', 'e-2', 15);
         INSERT INTO access_keys VALUES ('AKIDEXAMPLE', 'secret', 'laptop', 16, NULL);
         INSERT INTO bucket_grants VALUES ('AKIDEXAMPLE', 'uploads', 1),
                                          ('AKIDOTHER', 'photos', 0);",
        hex::encode(&every_byte),
        "1".repeat(32),
        "2".repeat(32),
    ))
    .unwrap();
    (dir, file)
}

/// Every row of every table of a SQLite index file, in a fixed order.
fn dump(file: &Path) -> Vec<(&'static str, Vec<Vec<SqlValue>>)> {
    let conn = Connection::open(file).unwrap();
    TABLES
        .iter()
        .map(|t| {
            let n = t.columns.len();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    t.sqlite_list(),
                    t.name,
                    order.join(", ")
                ))
                .unwrap();
            let rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, SqlValue>(i)).collect())
                .unwrap()
                .collect::<Result<Vec<Vec<SqlValue>>, _>>()
                .unwrap();
            (t.name, rows)
        })
        .collect()
}

/// The first column of the first row `sql` gives on PostgreSQL, as text.
fn pg_value(url: &str, sql: &str) -> Option<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    blocking(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let msgs = client.simple_query(&sql).await.unwrap();
        msgs.into_iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(String::from)),
            _ => None,
        })
    })
    .flatten()
}

fn run<F: std::future::Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    blocking(f)
}

fn to_postgres(file: &Path, url: &str) -> Result<Copied, TransferError> {
    let (file, target) = (file.to_path_buf(), PostgresTarget::parse(url).unwrap());
    run(async move { sqlite_to_postgres(&file, &target).await })
}

fn to_sqlite(url: &str, file: &Path) -> Result<Copied, TransferError> {
    let (file, source) = (file.to_path_buf(), PostgresTarget::parse(url).unwrap());
    run(async move { postgres_to_sqlite(&source, &file).await })
}

/// Whether the database holds no table of an index (nothing committed).
fn untouched(url: &str) -> bool {
    pg_value(
        url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
    .as_deref()
        == Some("0")
}

#[test]
fn sqlite_to_postgres_and_back_gives_the_same_rows() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, file) = populated();
    let copied = to_postgres(&file, &db.url).unwrap();
    let want: Vec<(&str, u64)> = dump(&file)
        .iter()
        .map(|(t, rows)| (*t, rows.len() as u64))
        .collect();
    assert_eq!(copied, want);
    // Inline bytes are bytes, every one of them.
    assert_eq!(
        pg_value(
            &db.url,
            "SELECT encode(data, 'hex') FROM blob_bytes WHERE id = 3"
        ),
        Some(hex::encode((0..=255u8).collect::<Vec<_>>()))
    );
    // Rowids are `seq`, and the sequences go on after the largest.
    assert_eq!(
        pg_value(
            &db.url,
            "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM files"
        ),
        Some("5,9,12".into())
    );
    assert_eq!(
        pg_value(
            &db.url,
            &format!(
                "INSERT INTO files (id, file_name, content_type, size, sha256, status, \
                 created_at, url_expires_at) VALUES ('new', 'n', 't', 0, '{}', 'pending', 0, 0) \
                 RETURNING seq",
                "d".repeat(64)
            )
        ),
        Some("13".into())
    );
    assert_eq!(
        pg_value(
            &db.url,
            "SELECT nextval(pg_get_serial_sequence('blobs', 'seq'))"
        ),
        Some("7".into())
    );
    assert_eq!(
        pg_value(
            &db.url,
            "SELECT nextval(pg_get_serial_sequence('blob_bytes', 'id'))"
        ),
        Some("8".into())
    );
    pg_value(&db.url, "DELETE FROM files WHERE id = 'new'");

    let back = tempfile::tempdir().unwrap();
    let back_file = back.path().join(DB_FILE);
    let copied_back = to_sqlite(&db.url, &back_file).unwrap();
    assert_eq!(copied_back, want);
    assert_eq!(dump(&back_file), dump(&file));
    // The copy is a SQLite index as the gateway keeps it: owner-only,
    // WAL, and it opens.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&back_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(SqliteIndex::open(back.path()).unwrap());
    // A file that exists is never overwritten.
    let e = to_sqlite(&db.url, &back_file).unwrap_err().to_string();
    assert!(e.contains("File exists"), "{e}");
    assert_eq!(dump(&back_file), dump(&file));
}

#[test]
fn a_nul_character_refuses_the_whole_copy_naming_the_row() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, file) = populated();
    let conn = Connection::open(&file).unwrap();
    conn.execute(
        "INSERT INTO objects VALUES ('photos', ?1, ?2, 256, 'e', 't', '{}', 1, 'null')",
        rusqlite::params!["bad\0key", "a".repeat(64)],
    )
    .unwrap();
    drop(conn);
    let e = to_postgres(&file, &db.url).unwrap_err().to_string();
    assert!(
        e.contains(r#"objects row bucket="photos" key="bad\0key""#)
            && e.contains("its key contains the NUL character")
            && e.contains("nothing was copied"),
        "{e}"
    );
    assert!(untouched(&db.url), "something was committed");
}

#[test]
fn a_value_of_the_wrong_type_refuses_the_copy() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, file) = populated();
    let conn = Connection::open(&file).unwrap();
    conn.execute("UPDATE files SET size = 'lots' WHERE id = 'f9'", [])
        .unwrap();
    drop(conn);
    let e = to_postgres(&file, &db.url).unwrap_err().to_string();
    assert!(
        e.contains(r#"files row id="f9": its size holds text where an integer is expected"#),
        "{e}"
    );
    assert!(untouched(&db.url));
}

#[test]
fn a_target_with_rows_is_refused_and_left_as_it_was() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, file) = populated();
    to_postgres(&file, &db.url).unwrap();
    let before = pg_value(&db.url, "SELECT count(*) FROM files");
    let e = to_postgres(&file, &db.url).unwrap_err().to_string();
    assert!(
        e.contains("already holds rows (files 3, tokens 2, blob_bytes 2, blobs 3,")
            && e.contains("never merges"),
        "{e}"
    );
    assert_eq!(pg_value(&db.url, "SELECT count(*) FROM files"), before);
    // An empty schema is no index: it is copied into.
    let empty = TestDb::create().unwrap();
    let (_d, empty_file) = {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteIndex::open(dir.path()).unwrap());
        let f = dir.path().join(DB_FILE);
        (dir, f)
    };
    to_postgres(&empty_file, &empty.url).unwrap();
    to_postgres(&file, &empty.url).unwrap();
    assert_eq!(
        pg_value(&empty.url, "SELECT count(*) FROM objects"),
        Some("2".into())
    );
}

#[test]
fn schemas_not_at_this_version_are_refused() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, file) = populated();
    let conn = Connection::open(&file).unwrap();
    conn.pragma_update(None, "user_version", crate::index::migrations::LATEST + 1)
        .unwrap();
    drop(conn);
    let e = to_postgres(&file, &db.url).unwrap_err().to_string();
    assert!(e.contains("the SQLite index has schema version"), "{e}");
    assert!(untouched(&db.url));

    let (_dir, file) = populated();
    pg_value(
        &db.url,
        "CREATE TABLE stowage_schema (one BOOLEAN PRIMARY KEY DEFAULT true, version BIGINT); \
         INSERT INTO stowage_schema (version) VALUES (99)",
    );
    let e = to_postgres(&file, &db.url).unwrap_err().to_string();
    assert!(
        e.contains("schema version 99, newer than this binary's"),
        "{e}"
    );
    assert_eq!(
        pg_value(
            &db.url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        Some("1".into())
    );
    // Nor is a database without an index a source.
    let empty = TestDb::create().unwrap();
    let out = tempfile::tempdir().unwrap();
    let e = to_sqlite(&empty.url, &out.path().join(DB_FILE))
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no Stowage index"), "{e}");
    assert!(!out.path().join(DB_FILE).exists());
}

#[test]
fn an_unreachable_server_is_said_so_without_the_password() {
    // A port nothing listens on: one just bound and let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_dir, file) = populated();
    let e = to_postgres(
        &file,
        &format!("postgresql://ann:hunter2@127.0.0.1:{port}/x"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!(
            "cannot connect to PostgreSQL at postgresql://ann@127.0.0.1:{port}/x"
        )),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

/// [`TABLES`] is every table and column of SQLite's schema…
#[test]
fn the_tables_are_those_of_the_sqlite_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteIndex::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names.sort();
    let mut ours: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    ours.sort();
    assert_eq!(names, ours);
    for t in TABLES {
        let cols: Vec<(String, bool)> = conn
            .prepare(&format!(
                "SELECT name, \"notnull\" OR pk FROM pragma_table_info('{}')",
                t.name
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let ours: Vec<(String, bool)> = t
            .columns
            .iter()
            .filter(|c| c.sqlite != "rowid")
            .map(|c| (c.name.to_string(), !c.nullable))
            .collect();
        assert_eq!(cols, ours, "{}", t.name);
    }
}

/// …and of PostgreSQL's, with its types.
#[test]
fn the_tables_are_those_of_the_postgres_schema() {
    let Some(db) = TestDb::create() else { return };
    let (_dir, empty_file) = {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteIndex::open(dir.path()).unwrap());
        let f = dir.path().join(DB_FILE);
        (dir, f)
    };
    to_postgres(&empty_file, &db.url).unwrap();
    let listed = pg_value(
        &db.url,
        "SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || \
         is_nullable, ';' ORDER BY table_name, ordinal_position) FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> 'stowage_schema'",
    )
    .unwrap();
    let mut ours: Vec<(&str, usize, String)> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns.iter().enumerate().map(move |(i, c)| {
                let ty = match c.kind {
                    Kind::Int => "bigint",
                    Kind::Int4 => "integer",
                    Kind::Text => "text",
                    Kind::Bytes => "bytea",
                    Kind::Bool => "boolean",
                };
                let null = if c.nullable { "YES" } else { "NO" };
                (t.name, i, format!("{}.{} {ty} {null}", t.name, c.name))
            })
        })
        .collect();
    ours.sort();
    let ours: Vec<String> = ours.into_iter().map(|(_, _, s)| s).collect();
    // PostgreSQL lists by table, then column position: ours by table name,
    // then our column order, which must be the table's.
    let mut theirs: Vec<&str> = listed.split(';').collect();
    theirs.sort_by_key(|s| s.split('.').next().unwrap_or_default().to_string());
    assert_eq!(theirs, ours);
}
