//! The PostgreSQL side of a copy: the target named by a URL (shown without
//! its password), the check that it holds no index, the copy into it (one
//! transaction, COPY BINARY per table, counts checked and sequences set
//! before the commit), and the copy out of one REPEATABLE READ snapshot.
//!
//! It must never print a URL as given (it may carry a password), and never
//! write to a database that holds rows.

use std::error::Error as _;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::error::TransferError;
use super::rows::{Item, Kind, Row, Table, Value, BATCH, TABLES};
use crate::index::migrations::{check_postgres_version, migrate_postgres_in, POSTGRES_LATEST};

/// How long connecting may take (unless the URL says).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the copy waits for the target's tables to be free (a gateway
/// serving that database holds them a moment per request).
const LOCK_TIMEOUT: &str = "10s";

/// A PostgreSQL database named by a URL.
pub struct PostgresTarget {
    config: tokio_postgres::Config,
    /// The URL without its password, for messages.
    pub shown: String,
}

impl PostgresTarget {
    /// Parses `postgresql://user[:password]@host:port/database[?…]`.
    pub fn parse(url: &str) -> Result<PostgresTarget, TransferError> {
        let url = url.trim();
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(TransferError::NotPostgresUrl(
                "it does not begin with postgresql://".into(),
            ));
        }
        let target = Self::configured(url)?;
        if target.config.get_dbname().is_none() {
            return Err(TransferError::NotPostgresUrl("it names no database".into()));
        }
        Ok(target)
    }

    /// The database of `[index] url`: whatever the gateway accepts there.
    pub fn configured(url: &str) -> Result<PostgresTarget, TransferError> {
        // The parser's messages name the option at fault, never a value.
        let config: tokio_postgres::Config = url
            .trim()
            .parse()
            .map_err(|e: tokio_postgres::Error| TransferError::NotPostgresUrl(describe(&e)))?;
        let shown = shown(&config);
        Ok(PostgresTarget { config, shown })
    }

    async fn connect(&self) -> Result<Client, TransferError> {
        let mut config = self.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("stowage index transfer");
        }
        let (client, conn) =
            config
                .connect(NoTls)
                .await
                .map_err(|e| TransferError::Unreachable {
                    target: self.shown.clone(),
                    why: describe(&e),
                })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

/// `postgresql://user@host:port/database`, without password or options.
fn shown(c: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            match c.get_ports().get(i).or(c.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    format!(
        "postgresql://{user}{}/{}",
        hosts.join(","),
        c.get_dbname().unwrap_or_default()
    )
}

/// A tokio-postgres error as text: the server's code and message (and
/// detail, which names the row a constraint refused), or the client's
/// error and its cause.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.code().code(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        return s;
    }
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn target_err(what: &str) -> impl Fn(tokio_postgres::Error) -> TransferError + '_ {
    move |e| TransferError::Target(format!("{what}: {}", describe(&e)))
}

fn source_err(what: &str) -> impl Fn(tokio_postgres::Error) -> TransferError + '_ {
    move |e| TransferError::Source(format!("{what}: {}", describe(&e)))
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Int => Type::INT8,
        Kind::Int4 => Type::INT4,
        Kind::Text => Type::TEXT,
        Kind::Bytes => Type::BYTEA,
        Kind::Bool => Type::BOOL,
    }
}

/// Every table's name, for one LOCK.
fn all_tables() -> String {
    TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(n), &Type::INT4) => i32::try_from(*n)?.to_sql(ty, out),
            (Value::Int(n), &Type::INT8) => n.to_sql(ty, out),
            (Value::Text(s), &Type::TEXT) => s.as_str().to_sql(ty, out),
            (Value::Bytes(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (Value::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (v, ty) => Err(format!("{v:?} is not a value of type {ty}").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [Type::INT4, Type::INT8, Type::TEXT, Type::BYTEA, Type::BOOL].contains(ty)
    }

    to_sql_checked!();
}

/// Refuses the database at `target` unless its index tables, if it has
/// them, hold no row, and its schema is not newer than this binary's.
/// Reads only.
async fn refuse_unless_empty(
    client: &Client,
    target: &PostgresTarget,
) -> Result<(), TransferError> {
    let err = target_err("reading the target database");
    let exists = |name: &'static str| async move {
        client
            .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&name])
            .await
            .and_then(|r| r.try_get::<_, bool>(0))
    };
    if exists("stowage_schema").await.map_err(&err)? {
        let version: Option<i64> = client
            .query_opt("SELECT version FROM stowage_schema", &[])
            .await
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(&err)?;
        if let Some(v) = version.filter(|v| *v > POSTGRES_LATEST) {
            return Err(TransferError::Schema(format!(
                "the database at {} holds an index of schema version {v}, newer than this \
                 binary's ({POSTGRES_LATEST}); nothing was copied: name a new, empty database",
                target.shown
            )));
        }
    }
    let mut held = Vec::new();
    for t in TABLES {
        if exists(t.name).await.map_err(&err)? {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(&err)?;
            if n > 0 {
                held.push(format!("{} {n}", t.name));
            }
        }
    }
    if held.is_empty() {
        Ok(())
    } else {
        Err(TransferError::NotEmpty {
            target: target.shown.clone(),
            tables: held.join(", "),
        })
    }
}

/// A connection to `target`, once it is known to hold no row of an index
/// (nothing is written to it yet).
pub(super) async fn connect_empty(target: &PostgresTarget) -> Result<Client, TransferError> {
    let client = target.connect().await?;
    check_postgres_version(&client).await?;
    refuse_unless_empty(&client, target).await?;
    Ok(client)
}

/// Makes the schema of the empty target (as the gateway's start does)
/// and copies the rows `source` sends into it, all in one transaction;
/// the rows copied per table. On any error nothing is committed.
pub(super) async fn copy_in(
    client: &mut Client,
    target: &PostgresTarget,
    source: &mut mpsc::Receiver<Result<Item, TransferError>>,
) -> Result<Vec<(&'static str, u64)>, TransferError> {
    let tx = client
        .transaction()
        .await
        .map_err(target_err("starting the transaction"))?;
    tx.batch_execute(&format!(
        "SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    ))
    .await
    .map_err(target_err("setting up the transaction"))?;
    migrate_postgres_in(&tx).await?;
    // Nobody reads or writes these tables until the commit: a gateway
    // started on the target meanwhile waits, and cannot have added rows
    // between the check before and the copy (checked again below).
    if let Err(e) = tx
        .batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            all_tables()
        ))
        .await
    {
        if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return Err(TransferError::Target(format!(
                "the tables of {} stayed in use for {LOCK_TIMEOUT}: a gateway is using that \
                 database; stop it (and name an empty database)",
                target.shown
            )));
        }
        return Err(target_err("locking the tables")(e));
    }
    let version: i64 = tx
        .query_one("SELECT version FROM stowage_schema", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(target_err("reading the schema version"))?;
    if version != POSTGRES_LATEST {
        return Err(TransferError::Schema(format!(
            "the database at {} has schema version {version}, not this binary's \
             ({POSTGRES_LATEST}); nothing was copied",
            target.shown
        )));
    }
    let mut copied = Vec::new();
    for table in TABLES {
        if count(&tx, table).await.map_err(target_err(table.name))? != 0 {
            return Err(TransferError::NotEmpty {
                target: target.shown.clone(),
                tables: format!("{}, written while the copy began", table.name),
            });
        }
        copied.push((table.name, copy_table_in(&tx, table, source).await?));
    }
    tx.commit()
        .await
        .map_err(target_err("committing the copy"))?;
    Ok(copied)
}

async fn count(tx: &Transaction<'_>, table: &Table) -> Result<u64, tokio_postgres::Error> {
    let n: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
        .await?
        .try_get(0)?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Copies one table's rows from `source` with COPY BINARY, checks the
/// counts and sets its sequence; the rows copied.
async fn copy_table_in(
    tx: &Transaction<'_>,
    table: &'static Table,
    source: &mut mpsc::Receiver<Result<Item, TransferError>>,
) -> Result<u64, TransferError> {
    let err = target_err(table.name);
    let types: Vec<Type> = table.columns.iter().map(|c| pg_type(c.kind)).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            table.name,
            table.column_list()
        ))
        .await
        .map_err(&err)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    let (sent, counted) = loop {
        match source.recv().await {
            Some(Ok(Item::Rows(rows))) => {
                for row in &rows {
                    storable(table, row)?;
                    let values: Vec<&(dyn ToSql + Sync)> =
                        row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                    writer.as_mut().write(&values).await.map_err(&err)?;
                }
            }
            Some(Ok(Item::Done { sent, counted })) => break (sent, counted),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(TransferError::Source(
                    "the reader of the SQLite index stopped".into(),
                ))
            }
        }
    };
    let written = writer.as_mut().finish().await.map_err(&err)?;
    let in_table = count(tx, table).await.map_err(&err)?;
    for (read, written) in [(counted, sent), (sent, written), (sent, in_table)] {
        if read != written {
            return Err(TransferError::Count {
                table: table.name,
                read,
                written,
            });
        }
    }
    if let Some(col) = table.serial {
        // The next value after the largest copied (1 in an empty table).
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{col}'), \
                 GREATEST(coalesce(max({col}), 0) + 1, 1), false) FROM {t}",
                t = table.name
            ),
            &[],
        )
        .await
        .map_err(&err)?;
    }
    Ok(sent)
}

/// Refuses a row holding a value PostgreSQL's text cannot.
fn storable(table: &'static Table, row: &Row) -> Result<(), TransferError> {
    for (c, v) in table.columns.iter().zip(row) {
        if matches!(v, Value::Text(s) if s.contains('\0')) {
            return Err(TransferError::NotStorable {
                table: table.name,
                key: table.key_of(row),
                column: c.name,
                why: "contains the NUL character (U+0000)".into(),
            });
        }
    }
    Ok(())
}

/// Sends every table's rows, as of one REPEATABLE READ snapshot of the
/// database at `target`, to `out`. Returns early (and well) if `out` is
/// closed: its reader has its own error to tell.
pub(super) async fn copy_out(
    target: &PostgresTarget,
    out: &mpsc::Sender<Item>,
) -> Result<(), TransferError> {
    let mut client = target.connect().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(source_err("starting the snapshot"))?;
    let err = source_err("reading the schema version");
    let has_schema: bool = tx
        .query_one("SELECT to_regclass('stowage_schema') IS NOT NULL", &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(&err)?;
    let version: Option<i64> = if has_schema {
        tx.query_opt("SELECT version FROM stowage_schema", &[])
            .await
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(&err)?
    } else {
        None
    };
    match version {
        None => {
            return Err(TransferError::Schema(format!(
                "the database at {} holds no Stowage index",
                target.shown
            )))
        }
        Some(v) if v != POSTGRES_LATEST => {
            return Err(TransferError::Schema(format!(
                "the database at {} has schema version {v}, not this binary's \
                 ({POSTGRES_LATEST}): use the Stowage that serves it{}",
                target.shown,
                if v < POSTGRES_LATEST {
                    ", or start this one's gateway on it once (it upgrades the schema)"
                } else {
                    ""
                }
            )))
        }
        Some(_) => {}
    }
    for table in TABLES {
        let err = source_err(table.name);
        let counted = count(&tx, table).await.map_err(&err)?;
        let types: Vec<Type> = table.columns.iter().map(|c| pg_type(c.kind)).collect();
        let stream = tx
            .copy_out(&format!(
                "COPY {} ({}) TO STDOUT (FORMAT binary)",
                table.name,
                table.column_list()
            ))
            .await
            .map_err(&err)?;
        let rows = BinaryCopyOutStream::new(stream, &types);
        let mut rows = std::pin::pin!(rows);
        let mut batch = Vec::with_capacity(BATCH);
        let mut sent = 0u64;
        while let Some(r) = rows.next().await {
            let r = r.map_err(&err)?;
            batch.push(read_row(table, &r).map_err(&err)?);
            sent += 1;
            if batch.len() == BATCH
                && out
                    .send(Item::Rows(std::mem::take(&mut batch)))
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
        if (!batch.is_empty() && out.send(Item::Rows(batch)).await.is_err())
            || out.send(Item::Done { sent, counted }).await.is_err()
        {
            return Ok(());
        }
    }
    // Read only: nothing to keep.
    tx.rollback()
        .await
        .map_err(source_err("ending the snapshot"))
}

fn read_row(table: &Table, r: &BinaryCopyOutRow) -> Result<Row, tokio_postgres::Error> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(match c.kind {
                Kind::Int => r.try_get::<Option<i64>>(i)?.map(Value::Int),
                Kind::Int4 => r.try_get::<Option<i32>>(i)?.map(|n| Value::Int(n.into())),
                Kind::Text => r.try_get::<Option<String>>(i)?.map(Value::Text),
                Kind::Bytes => r.try_get::<Option<Vec<u8>>>(i)?.map(Value::Bytes),
                Kind::Bool => r.try_get::<Option<bool>>(i)?.map(Value::Bool),
            }
            .unwrap_or(Value::Null))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let t = PostgresTarget::parse(
            "postgresql://ann:s3cret@db.example:5433/stowage?connect_timeout=3",
        )
        .unwrap();
        assert_eq!(t.shown, "postgresql://ann@db.example:5433/stowage");
        let t = PostgresTarget::parse("postgres://ann@%2Frun%2Fpostgresql/stowage").unwrap();
        assert_eq!(t.shown, "postgresql://ann@/run/postgresql:5432/stowage");
    }

    #[test]
    fn what_is_not_a_postgresql_url_is_refused() {
        for url in [
            "/var/lib/stowage",
            "sqlite:///x.db",
            "host=localhost dbname=x",
            "postgresql://ann@h:notaport/x",
            "postgresql://ann@h:5432",
        ] {
            let e = PostgresTarget::parse(url).err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains("not a PostgreSQL URL")),
                "{url}: {e:?}"
            );
        }
    }
}
