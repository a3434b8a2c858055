//! The SQLite side of a copy: every table of an index file read from one
//! read transaction (one snapshot), and a new index file written from rows
//! in one transaction, with its schema made by the same migrations as the
//! gateway's.
//!
//! Both run on a thread of their own (rusqlite blocks), talking to the
//! other side through a bounded channel. The reader never writes; the
//! writer only ever creates a new file (owner-only: it holds the secrets
//! of access keys), and removes it again if the copy fails.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use super::error::TransferError;
use super::rows::{Column, Item, Kind, Row, Table, Value, BATCH, TABLES};
use crate::index::migrations::{migrate, LATEST};

fn source_err(what: &str) -> impl Fn(rusqlite::Error) -> TransferError + '_ {
    move |e| TransferError::Source(format!("{what}: {e}"))
}

fn target_err(what: &str) -> impl Fn(rusqlite::Error) -> TransferError + '_ {
    move |e| TransferError::Target(format!("{what}: {e}"))
}

/// Refuses an index file that is not at this binary's schema version.
pub(super) fn check_version(db_file: &Path) -> Result<(), TransferError> {
    let conn = open_query_only(db_file)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(source_err("reading the schema version"))?;
    same_version(version)
}

fn same_version(version: i64) -> Result<(), TransferError> {
    if version == LATEST {
        return Ok(());
    }
    Err(TransferError::Schema(format!(
        "the SQLite index has schema version {version}, not this binary's ({LATEST}){}",
        if version < LATEST {
            ": open it with this binary first (start its gateway once, or run `stowage verify`)"
        } else {
            ": use the Stowage that wrote it"
        }
    )))
}

/// A connection to an index file that only reads. Read-write all the
/// same: a read-only connection cannot open a WAL database whose
/// shared-memory file is gone.
fn open_query_only(db_file: &Path) -> Result<Connection, TransferError> {
    let err = source_err("opening the SQLite index");
    let conn = Connection::open_with_flags(
        db_file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(&err)?;
    conn.pragma_update(None, "query_only", "ON").map_err(&err)?;
    Ok(conn)
}

/// Sends every table of the index file `db_file` to `out`, as of one
/// snapshot; an error is sent as the last item. Stops quietly when `out`
/// is closed (the other side has its own error to tell).
pub(super) fn read(db_file: &Path, out: &mpsc::Sender<Result<Item, TransferError>>) {
    if let Err(e) = read_all(db_file, out) {
        let _ = out.blocking_send(Err(e));
    }
}

/// `Ok` also when `out` closed early.
fn read_all(
    db_file: &Path,
    out: &mpsc::Sender<Result<Item, TransferError>>,
) -> Result<(), TransferError> {
    let mut conn = open_query_only(db_file)?;
    let err = source_err("reading the SQLite index");
    // One read transaction for every table: one snapshot (WAL), whatever
    // a command such as `stowage token create` writes meanwhile.
    let tx = conn.transaction().map_err(&err)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(&err)?;
    same_version(version)?;
    for table in TABLES {
        let err = source_err(table.name);
        let counted: i64 = tx
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
            .map_err(&err)?;
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {} FROM {}",
                table.sqlite_list(),
                table.name
            ))
            .map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut sent = 0u64;
        while let Some(r) = rows.next().map_err(&err)? {
            batch.push(read_row(table, r).map_err(|e| match e {
                Bad::Sqlite(e) => err(e),
                Bad::Value(e) => e,
            })?);
            sent += 1;
            if batch.len() == BATCH
                && out
                    .blocking_send(Ok(Item::Rows(std::mem::take(&mut batch))))
                    .is_err()
            {
                return Ok(());
            }
        }
        let counted = u64::try_from(counted).unwrap_or_default();
        if (!batch.is_empty() && out.blocking_send(Ok(Item::Rows(batch))).is_err())
            || out.blocking_send(Ok(Item::Done { sent, counted })).is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

enum Bad {
    Sqlite(rusqlite::Error),
    Value(TransferError),
}

/// One row, each value checked against its column's type: the first that
/// does not fit refuses the copy, naming the row.
fn read_row(table: &'static Table, r: &rusqlite::Row<'_>) -> Result<Row, Bad> {
    let mut row = Vec::with_capacity(table.columns.len());
    let mut bad = None;
    for (i, c) in table.columns.iter().enumerate() {
        let v = r.get_ref(i).map_err(Bad::Sqlite)?;
        match value(c, v) {
            Ok(v) => row.push(v),
            Err(why) => {
                bad.get_or_insert((c.name, why));
                // Shown in the row's key if it is a key column.
                row.push(Value::Text(match v {
                    ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into(),
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Null => "NULL".into(),
                }));
            }
        }
    }
    match bad {
        None => Ok(row),
        Some((column, why)) => Err(Bad::Value(TransferError::Invalid {
            table: table.name,
            key: table.key_of(&row),
            column,
            why,
        })),
    }
}

/// The value `v` of column `c`, or why it does not fit.
fn value(c: &Column, v: ValueRef<'_>) -> Result<Value, String> {
    Ok(match (c.kind, v) {
        (_, ValueRef::Null) if c.nullable => Value::Null,
        (Kind::Int, ValueRef::Integer(n)) => Value::Int(n),
        (Kind::Int4, ValueRef::Integer(n)) => {
            i32::try_from(n).map_err(|_| format!("is {n}, out of range"))?;
            Value::Int(n)
        }
        // As the gateway reads it (rusqlite: any other integer is true).
        (Kind::Bool, ValueRef::Integer(n)) => Value::Bool(n != 0),
        (Kind::Text, ValueRef::Text(t)) => Value::Text(
            String::from_utf8(t.to_vec()).map_err(|_| "is text that is not valid UTF-8")?,
        ),
        (Kind::Bytes, ValueRef::Blob(b)) => Value::Bytes(b.to_vec()),
        (kind, v) => {
            return Err(format!(
                "holds {} where {} is expected",
                match v {
                    ValueRef::Null => "NULL",
                    ValueRef::Integer(_) => "an integer",
                    ValueRef::Real(_) => "a real number",
                    ValueRef::Text(_) => "text",
                    ValueRef::Blob(_) => "a blob",
                },
                match kind {
                    Kind::Int | Kind::Int4 => "an integer",
                    Kind::Bool => "0 or 1",
                    Kind::Text => "text",
                    Kind::Bytes => "a blob",
                }
            ))
        }
    })
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

/// Writes the new index file `db_file` (which must not exist) from the
/// rows `source` sends, in one transaction; the rows written per table.
/// On failure the file is removed.
pub(super) fn write_new(
    db_file: &Path,
    source: mpsc::Receiver<Item>,
) -> Result<Vec<(&'static str, u64)>, TransferError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db_file)
        .map_err(|e| TransferError::Target(format!("creating {}: {e}", db_file.display())))?;
    let written = write_rows(db_file, source);
    if written.is_err() {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_file.display()));
        }
    }
    written
}

fn write_rows(
    db_file: &Path,
    mut source: mpsc::Receiver<Item>,
) -> Result<Vec<(&'static str, u64)>, TransferError> {
    let err = target_err("writing the SQLite index");
    let mut conn = Connection::open(db_file).map_err(&err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(&err)?;
    migrate(&mut conn).map_err(|e| TransferError::Target(format!("making the schema: {e}")))?;
    let tx = conn.transaction().map_err(&err)?;
    let mut written = Vec::new();
    for table in TABLES {
        let err = target_err(table.name);
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = tx
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                table.sqlite_list(),
                marks.join(", ")
            ))
            .map_err(&err)?;
        let (sent, counted) = loop {
            match source.blocking_recv() {
                Some(Item::Rows(rows)) => {
                    for row in &rows {
                        stmt.execute(rusqlite::params_from_iter(row.iter()))
                            .map_err(|e| {
                                TransferError::Target(format!(
                                    "{} row {}: {e}",
                                    table.name,
                                    table.key_of(row)
                                ))
                            })?;
                    }
                }
                Some(Item::Done { sent, counted }) => break (sent, counted),
                None => return Err(TransferError::Source("the copy stopped".into())),
            }
        };
        let in_table: i64 = tx
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
            .map_err(&err)?;
        let in_table = u64::try_from(in_table).unwrap_or_default();
        for (read, got) in [(counted, sent), (sent, in_table)] {
            if read != got {
                return Err(TransferError::Count {
                    table: table.name,
                    read,
                    written: got,
                });
            }
        }
        written.push((table.name, sent));
    }
    tx.commit().map_err(&err)?;
    // As the gateway keeps it.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(&err)?;
    Ok(written)
}
