//! Which index the gateways of these tests keep their rows in, and a look
//! at those rows that works on either.
//!
//! By default a gateway's index is SQLite in its data dir. With
//! `STOWAGE_TEST_INDEX=postgres` (scripts/test's second run of this
//! suite) each gateway gets a fresh PostgreSQL database of its own on the
//! server `STOWAGE_TEST_POSTGRES_URL` names, through `[index]` in its
//! configuration. Tests read rows as an operator would, beside the running
//! gateway, with the same plain SQL on both (`SELECT col FROM table WHERE
//! …`): [`TestIndex::rows`], [`TestIndex::execute`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// `postgres`: run the gateways of this suite on PostgreSQL.
pub const INDEX_VAR: &str = "STOWAGE_TEST_INDEX";
/// The PostgreSQL server of the tests (scripts/test starts one).
pub const URL_VAR: &str = "STOWAGE_TEST_POSTGRES_URL";
/// `off`: tests that need PostgreSQL whatever the run's backend return at
/// once (said on stderr).
pub const SWITCH_VAR: &str = "STOWAGE_TEST_POSTGRES";

/// Whether this run's gateways keep their index in PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var(INDEX_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("" | "sqlite") | Err(_) => false,
        Ok(other) => panic!("{INDEX_VAR}={other}: expected sqlite or postgres"),
    }
}

/// The index of one gateway.
pub enum TestIndex {
    /// `stowage.db` in this data dir.
    Sqlite(PathBuf),
    /// A database made for it, dropped with this.
    Postgres { admin: String, name: String },
}

impl TestIndex {
    /// The index of a gateway whose data dir is `data_dir`, on this run's
    /// backend (a fresh database on PostgreSQL).
    pub fn for_data_dir(data_dir: &Path) -> TestIndex {
        if !on_postgres() {
            return TestIndex::Sqlite(data_dir.to_path_buf());
        }
        let admin = std::env::var(URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{INDEX_VAR}=postgres needs a PostgreSQL server in {URL_VAR}: run the tests with \
                 scripts/test, which starts one"
            )
        });
        Self::create_database(admin)
    }

    /// A fresh, empty PostgreSQL database of its own, whichever backend
    /// this run's gateways use (for tests that move an index between
    /// backends); `None` when `STOWAGE_TEST_POSTGRES=off` leaves PostgreSQL
    /// out. Without a server in `STOWAGE_TEST_POSTGRES_URL` the test fails,
    /// saying how to get one: it never passes without having run.
    pub fn fresh_postgres() -> Option<TestIndex> {
        if std::env::var(SWITCH_VAR).is_ok_and(|v| v == "off") {
            eprintln!("{SWITCH_VAR}=off: this PostgreSQL test did not run");
            return None;
        }
        match std::env::var(URL_VAR) {
            Ok(admin) if !admin.is_empty() => Some(Self::create_database(admin)),
            _ => panic!(
                "{URL_VAR} is not set: this test needs a PostgreSQL server. Run the tests with \
                 scripts/test, which starts a throwaway one (or point {URL_VAR} at a server \
                 whose user may create databases; {SWITCH_VAR}=off leaves PostgreSQL out)"
            ),
        }
    }

    /// A fresh, empty database on the server at `admin_url` (a test's own
    /// server, e.g. a `TempPostgres`); its user creates the database.
    pub fn fresh_on(admin_url: &str) -> TestIndex {
        Self::create_database(admin_url.to_string())
    }

    fn create_database(admin: String) -> TestIndex {
        let name = format!("stowage_it_{}", stowage::random::hex(8));
        let (a, sql) = (admin.clone(), format!("CREATE DATABASE {name}"));
        blocking(async move { simple(&a, &sql).await })
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        TestIndex::Postgres { admin, name }
    }

    /// The `[index]` table of the gateway's configuration (empty for
    /// SQLite, the default).
    pub fn toml(&self) -> String {
        match self {
            TestIndex::Sqlite(_) => String::new(),
            TestIndex::Postgres { .. } => format!(
                "\n[index]\nbackend = \"postgres\"\nurl = \"{}\"\n",
                self.url().unwrap_or_default()
            ),
        }
    }

    /// The environment that names it to a `stowage` command (none for
    /// SQLite, the default).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self.url() {
            Some(url) => vec![
                ("STOWAGE_INDEX_BACKEND", "postgres".into()),
                ("STOWAGE_INDEX_URL", url),
            ],
            None => Vec::new(),
        }
    }

    /// The URL of its database (PostgreSQL only).
    pub fn url(&self) -> Option<String> {
        match self {
            TestIndex::Sqlite(_) => None,
            TestIndex::Postgres { admin, name } => Some(with_database(admin, name)),
        }
    }

    /// The first column of every row `sql` selects, as text (NULL as
    /// `None`), in the order the query gives.
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        match self {
            TestIndex::Sqlite(dir) => {
                let conn = sqlite(dir);
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                stmt.query_map([], |r| Ok(text_of(r.get_ref(0)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            TestIndex::Postgres { .. } => {
                let (url, sql) = (self.url().unwrap_or_default(), sql.to_string());
                blocking(async move { column(&url, &sql).await }).unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// One column of a query, sorted (a NULL fails the test).
    pub fn rows(&self, sql: &str) -> Vec<String> {
        let mut rows: Vec<String> = self
            .column(sql)
            .into_iter()
            .map(|v| v.unwrap_or_else(|| panic!("NULL in {sql}")))
            .collect();
        rows.sort();
        rows
    }

    /// The one value `sql` selects (`None`: no row, or NULL).
    pub fn value(&self, sql: &str) -> Option<String> {
        self.column(sql).into_iter().next().flatten()
    }

    /// Runs a statement with text parameters `?1`, `?2`, … (`$1`, … on
    /// PostgreSQL); the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&str]) -> u64 {
        match self {
            TestIndex::Sqlite(dir) => {
                let conn = sqlite(dir);
                conn.execute(sql, rusqlite::params_from_iter(params))
                    .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64
            }
            TestIndex::Postgres { .. } => {
                let mut pg_sql = sql.to_string();
                for n in (1..=params.len()).rev() {
                    pg_sql = pg_sql.replace(&format!("?{n}"), &format!("${n}"));
                }
                let url = self.url().unwrap_or_default();
                let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
                blocking(async move {
                    let client = connect(&url).await?;
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                        .iter()
                        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    client
                        .execute(&pg_sql, &refs)
                        .await
                        .map_err(|e| format!("{pg_sql}: {}", pg_error(&e)))
                })
                .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// The tables of the index.
    pub fn tables(&self) -> Vec<String> {
        self.rows(match self {
            TestIndex::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
            TestIndex::Postgres { .. } => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
            }
        })
    }

    /// Blobs kept inline in the index, with their bytes.
    pub fn inline_blobs(&self) -> Vec<(String, Vec<u8>)> {
        let hex_of = match self {
            TestIndex::Sqlite(dir) if !dir.join("stowage.db").exists() => return Vec::new(),
            TestIndex::Sqlite(_) => "lower(hex(b.data))",
            TestIndex::Postgres { .. } => "encode(b.data, 'hex')",
        };
        let tables = self.tables();
        if !tables.iter().any(|t| t == "blob_bytes") {
            return Vec::new(); // before SQLite's migration 7
        }
        self.rows(&format!(
            "SELECT blobs.sha256 || ' ' || {hex_of} FROM blobs \
             JOIN blob_bytes b ON b.id = blobs.bytes_id"
        ))
        .into_iter()
        .filter_map(|row| {
            let (sha, data) = row.split_once(' ')?;
            Some((sha.to_string(), hex::decode(data).ok()?))
        })
        .collect()
    }
}

impl Drop for TestIndex {
    fn drop(&mut self) {
        if let TestIndex::Postgres { admin, name } = self {
            let (a, sql) = (
                admin.clone(),
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
            if let Err(e) = blocking(async move { simple(&a, &sql).await }) {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

/// The index of the gateway configured in `dir` by
/// [`crate::harness::write_config`]: made there, kept until
/// [`forget_config_dir`] (a database left over is removed with the
/// server at the end of scripts/test).
pub fn for_config_dir(dir: &Path) -> String {
    let index = TestIndex::for_data_dir(&dir.join("data"));
    let toml = index.toml();
    registry().insert(dir.to_path_buf(), Arc::new(index));
    toml
}

/// Runs `f` on the index of the gateway configured in `dir`.
pub fn of_config_dir<R>(dir: &Path, f: impl FnOnce(&TestIndex) -> R) -> R {
    // Not under the registry's lock: `f` may fail the test.
    let index = registry().get(dir).cloned();
    match index {
        Some(index) => f(&index),
        None => f(&TestIndex::Sqlite(dir.join("data"))),
    }
}

/// Drops the index of the gateway configured in `dir` (its database).
pub fn forget_config_dir(dir: &Path) {
    let gone = registry().remove(dir);
    drop(gone);
}

/// The indexes of gateways configured by `write_config`, by config dir. A
/// test that failed while holding the lock leaves it usable to the others.
fn registry() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Arc<TestIndex>>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<PathBuf, Arc<TestIndex>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sqlite(data_dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(data_dir.join("stowage.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn text_of(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(hex::encode(b)),
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to the test database: {e}"))?;
    tokio::spawn(conn);
    Ok(client)
}

async fn simple(url: &str, sql: &str) -> Result<(), String> {
    connect(url)
        .await?
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {}", pg_error(&e)))
}

/// The server's message, not just "db error".
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

async fn column(url: &str, sql: &str) -> Result<Vec<Option<String>>, String> {
    let msgs = connect(url)
        .await?
        .simple_query(sql)
        .await
        .map_err(|e| format!("{sql}: {}", pg_error(&e)))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(String::from)),
            _ => None,
        })
        .collect())
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let from = base.find("://").map_or(0, |i| i + 3);
    let base = match base[from..].find('/') {
        Some(slash) => &base[..from + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs `f` on a runtime of its own, on a thread of its own (callers may
/// be inside a runtime or not).
fn blocking<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}
