//! A PostgreSQL database of its own for each test, on the server named by
//! `STOWAGE_TEST_POSTGRES_URL` (`scripts/test` starts one and sets it).
//!
//! Without that variable a PostgreSQL test fails, saying how to get a
//! server — it never passes without having run — unless
//! `STOWAGE_TEST_POSTGRES=off` says to leave PostgreSQL out.

use std::future::Future;
use std::sync::Arc;

use tokio_postgres::NoTls;

use super::PostgresIndex;
use crate::index::Index;

/// The server the tests use: a URL whose user may create databases.
pub const URL_VAR: &str = "STOWAGE_TEST_POSTGRES_URL";
/// `off`: PostgreSQL tests return at once (said on stderr).
pub const SWITCH_VAR: &str = "STOWAGE_TEST_POSTGRES";

/// A database made for one test, dropped (with its connections) when
/// this is.
pub struct TestDb {
    admin: String,
    name: String,
    /// The URL of this database.
    pub url: String,
}

/// The URL of the test server, or `None` when PostgreSQL tests are off.
/// Panics (fails the test) when neither is said.
pub fn server_url() -> Option<String> {
    if std::env::var(SWITCH_VAR).is_ok_and(|v| v == "off") {
        eprintln!("{SWITCH_VAR}=off: this PostgreSQL test did not run");
        return None;
    }
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!(
            "{URL_VAR} is not set: this test needs a PostgreSQL server. Run the tests with \
             scripts/test, which starts a throwaway one (or point {URL_VAR} at a server whose \
             user may create databases, e.g. postgresql://postgres@127.0.0.1:5432/postgres; \
             {SWITCH_VAR}=off leaves PostgreSQL out)"
        ),
    }
}

impl TestDb {
    /// A fresh, empty database `stowage_test_<random>`; `None` when
    /// PostgreSQL tests are off.
    pub fn create() -> Option<TestDb> {
        let admin = server_url()?;
        let name = format!("stowage_test_{}", crate::random::hex(8));
        let sql = format!("CREATE DATABASE {name}");
        let a = admin.clone();
        blocking(async move { admin_exec(&a, &sql).await })
            .unwrap_or_else(|e| panic!("cannot create a test database on {URL_VAR}: {e}"));
        Some(TestDb {
            url: with_database(&admin, &name),
            admin,
            name,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        if let Err(e) = blocking(async move { admin_exec(&admin, &sql).await }) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A PostgreSQL index over a fresh database, and the database (drop it
/// last); `None` when PostgreSQL tests are off.
pub fn index() -> Option<(TestDb, Arc<PostgresIndex>)> {
    let db = TestDb::create()?;
    let index = PostgresIndex::open(&db.url).expect("a PostgreSQL index on the test database");
    Some((db, Arc::new(index)))
}

/// [`index`] as the trait object the contract suite takes.
pub fn dyn_index() -> Option<(TestDb, Arc<dyn Index>)> {
    index().map(|(db, i)| (db, i as Arc<dyn Index>))
}

/// Bytes of the filesystem under [`full_index`]'s tables: room for the
/// empty schema and a little more.
const FULL_DISK: u64 = 1 << 20;

/// A PostgreSQL database whose tables and indexes live on a tablespace of
/// their own, on a small tmpfs (see `crate::store::tmpfs`): a write that
/// does not fit fails as on a full disk. Dropped in order: the database,
/// the tablespace, the filesystem.
pub struct FullDb {
    db: Option<TestDb>,
    admin: String,
    tablespace: String,
    _fs: crate::store::tmpfs::Tmpfs,
}

impl Drop for FullDb {
    fn drop(&mut self) {
        drop(self.db.take());
        let (admin, sql) = (
            self.admin.clone(),
            format!("DROP TABLESPACE IF EXISTS {}", self.tablespace),
        );
        if let Err(e) = blocking(async move { admin_exec(&admin, &sql).await }) {
            eprintln!("could not drop tablespace {}: {e}", self.tablespace);
        }
    }
}

/// An index whose tables are on a disk of [`FULL_DISK`] bytes, filled for
/// real by the test; `None` when PostgreSQL tests are off, or the tmpfs
/// cannot be mounted and the mount tests are skipped. The server must run
/// on this machine (its data directory is looked at, to give the tmpfs to
/// the user it runs as) and the test's user be its superuser, as with the
/// server `scripts/test` starts.
pub fn full_index() -> Option<(FullDb, Arc<dyn Index>)> {
    let admin = server_url()?;
    let a = admin.clone();
    let data_dir = blocking(async move { admin_query(&a, "SHOW data_directory").await })
        .unwrap_or_else(|e| panic!("cannot ask the test server for its data directory: {e}"));
    let Ok(meta) = std::fs::metadata(&data_dir) else {
        return crate::store::tmpfs::skip_or_fail(&format!(
            "the PostgreSQL server's data directory {data_dir} is not on this machine"
        ));
    };
    use std::os::unix::fs::MetadataExt;
    let fs = crate::store::tmpfs::Tmpfs::mount(FULL_DISK, Some((meta.uid(), meta.gid())))?;
    let tablespace = format!("stowage_full_{}", crate::random::hex(8));
    let sql = format!(
        "CREATE TABLESPACE {tablespace} LOCATION '{}'",
        fs.path().display()
    );
    let a = admin.clone();
    blocking(async move { admin_exec(&a, &sql).await })
        .unwrap_or_else(|e| panic!("cannot make a tablespace on the tmpfs: {e}"));
    let mut full = FullDb {
        db: None,
        admin: admin.clone(),
        tablespace: tablespace.clone(),
        _fs: fs,
    };
    let db = TestDb::create()?;
    // Every table and index the migrations make goes there.
    let sql = format!(
        "ALTER DATABASE {} SET default_tablespace = {tablespace}",
        db.name
    );
    blocking(async move { admin_exec(&admin, &sql).await })
        .unwrap_or_else(|e| panic!("cannot give the test database its tablespace: {e}"));
    let index = PostgresIndex::open(&db.url).expect("a PostgreSQL index on the small disk");
    let (url, sql) = (
        db.url.clone(),
        format!(
            "SELECT count(*)::text FROM pg_class c JOIN pg_tablespace t \
             ON c.reltablespace = t.oid WHERE t.spcname = '{tablespace}' AND c.relname = 'blobs'"
        ),
    );
    let there = blocking(async move { admin_query(&url, &sql).await }).expect("a count");
    assert_eq!(there, "1", "the blobs table is not on the small disk");
    full.db = Some(db);
    Some((full, Arc::new(index)))
}

/// The first column of the first row `sql` answers on the server at `url`.
pub async fn admin_query(url: &str, sql: &str) -> Result<String, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(conn);
    let r = client.query_one(sql, &[]).await.map(|row| row.get(0));
    drop(client);
    let _ = conn.await;
    r
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_from = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_from..].find('/') {
        Some(slash) => &base[..authority_from + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs one statement on the server at `url`.
pub async fn admin_exec(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(conn);
    let r = client.batch_execute(sql).await;
    drop(client);
    let _ = conn.await;
    r
}

/// Runs `f` to its end on a runtime of its own, on a thread of its own,
/// so it may be called from inside a runtime (a test) or outside.
pub fn blocking<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    })
    .join()
    .expect("the helper thread finished")
}

#[test]
fn a_database_replaces_the_one_in_the_url() {
    assert_eq!(
        with_database("postgresql://u@h:5432/postgres?sslmode=disable", "x"),
        "postgresql://u@h:5432/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgresql://u@h:5432", "x"),
        "postgresql://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u@%2Ftmp%2Fpg/postgres", "x"),
        "postgresql://u@%2Ftmp%2Fpg/x"
    );
}

/// A TCP proxy in front of the test server, on a thread of its own, that
/// a test takes down (every connection through it cut, new ones refused,
/// as when the server stops) and brings back up on the same port.
pub struct Proxy {
    pub port: u16,
    ctl: tokio::sync::mpsc::UnboundedSender<(bool, tokio::sync::oneshot::Sender<()>)>,
}

impl Proxy {
    /// A proxy to `target` (`host:port`), up.
    pub fn start(target: String) -> Proxy {
        let (ctl, mut orders) =
            tokio::sync::mpsc::unbounded_channel::<(bool, tokio::sync::oneshot::Sender<()>)>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a port");
                let addr = listener.local_addr().expect("its address");
                let _ = port_tx.send(addr.port());
                let mut serving = Some(tokio::spawn(serve(listener, target.clone())));
                while let Some((up, done)) = orders.recv().await {
                    if let Some(s) = serving.take() {
                        s.abort();
                        let _ = s.await;
                    }
                    if up {
                        let l = tokio::net::TcpListener::bind(addr)
                            .await
                            .expect("the port again");
                        serving = Some(tokio::spawn(serve(l, target.clone())));
                    }
                    let _ = done.send(());
                }
            });
        });
        Proxy {
            port: port_rx.recv().expect("the proxy's port"),
            ctl,
        }
    }

    /// Cuts every connection and refuses new ones (`false`), or accepts
    /// again (`true`).
    pub async fn set_up(&self, up: bool) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.ctl.send((up, done)).expect("the proxy runs");
        wait.await.expect("the proxy answers");
    }
}

/// Forwards each connection to `target`; aborting this task drops the
/// listener and every forwarding task with it.
async fn serve(listener: tokio::net::TcpListener, target: String) {
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        conns.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
