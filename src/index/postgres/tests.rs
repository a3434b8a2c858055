//! The PostgreSQL backend's tests: the contract every backend keeps
//! (`crate::index::contract`), each check on a database of its own, and
//! what only this backend has — conflicts run again, values it cannot
//! store, its schema versions, a server that goes away and comes back.

/// The contract of every index backend.
mod contract {
    crate::index::contract::contract_tests!(
        super::super::testing::dyn_index(),
        full: super::super::testing::full_index()
    );
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::testing::{self, admin_exec, blocking, TestDb};
use super::PostgresIndex;
use crate::index::migrations::POSTGRES_LATEST;
use crate::index::{Index, IndexError, ObjectMeta, ObjectRecord, Status};
use crate::store::Digest;

/// Two bodies read a counter, both wait until the other has read it too,
/// then both write it back one higher: the second to commit loses a
/// serialization conflict, is run again, reads the first one's value and
/// writes on from there. Nothing is lost, and the index counts the rerun.
/// (Two indexes on one database, as two gateways: one index runs its
/// writes one at a time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_conflict_is_run_again_to_a_correct_answer() {
    let Some((db, pg)) = testing::index() else {
        return;
    };
    let other = Arc::new(PostgresIndex::open(&db.url).unwrap());
    let index: Arc<dyn Index> = pg.clone();
    let indexes: [Arc<dyn Index>; 2] = [pg.clone(), other.clone()];
    index
        .write(|tx| {
            Box::pin(async move {
                tx.insert_bucket("counter", None, 1).await?;
                tx.set_bucket_text("counter", crate::index::BucketText::Cors, Some("0"))
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let both_read = Arc::new(tokio::sync::Barrier::new(2));
    let runs = Arc::new(AtomicUsize::new(0));
    let racer = |index: &Arc<dyn Index>| {
        let (index, both_read, runs) = (index.clone(), both_read.clone(), runs.clone());
        tokio::spawn(async move {
            let attempts = Arc::new(AtomicUsize::new(0));
            index
                .write(move |tx| {
                    let (both_read, runs, attempts) =
                        (both_read.clone(), runs.clone(), attempts.clone());
                    Box::pin(async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let seen: u64 = tx
                            .get_bucket("counter")
                            .await?
                            .and_then(|b| b.cors?.parse().ok())
                            .unwrap_or(0);
                        // Only PostgreSQL lets a body wait on something
                        // else; the first run of each waits for the other.
                        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                            both_read.wait().await;
                        }
                        tx.set_bucket_text(
                            "counter",
                            crate::index::BucketText::Cors,
                            Some(&(seen + 1).to_string()),
                        )
                        .await?;
                        Ok(seen)
                    })
                })
                .await
        })
    };
    let (a, b) = (racer(&indexes[0]), racer(&indexes[1]));
    let mut seen = vec![a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
    seen.sort();
    assert_eq!(seen, [0, 1], "one ran after the other");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "the loser ran again once");
    assert_eq!(pg.retries() + other.retries(), 1);
    let last = index
        .read(|tx| Box::pin(async move { tx.get_bucket("counter").await }))
        .await
        .unwrap()
        .and_then(|b| b.cors);
    assert_eq!(last.as_deref(), Some("2"));
}

/// PostgreSQL's text cannot hold the NUL character: a key (or name) with
/// one is refused, naming it, and the body's other writes are undone; the
/// API says so as a client error.
#[tokio::test]
async fn the_nul_character_is_refused_and_nothing_is_kept() {
    let Some((_db, index)) = testing::dyn_index() else {
        return;
    };
    let r = index
        .write(|tx| {
            Box::pin(async move {
                tx.insert_bucket("nul", None, 1).await?;
                let blob = crate::index::BlobInfo {
                    sha256: Digest([1; 32]),
                    size: 1,
                    md5: Some([1; 16]),
                };
                tx.record_blob(&blob, Some(b"x"), 1, false).await?;
                tx.put_object(&ObjectRecord {
                    version_id: crate::index::NULL_VERSION.into(),
                    bucket: "nul".into(),
                    key: "a\0b".into(),
                    sha256: blob.sha256,
                    size: 1,
                    etag: "e".into(),
                    content_type: "text/plain".into(),
                    meta: ObjectMeta::default(),
                    last_modified: 1,
                })
                .await?;
                Ok(())
            })
        })
        .await;
    assert!(
        matches!(r, Err(IndexError::NotStorable("object key"))),
        "{r:?}"
    );
    let left = index
        .read(|tx| Box::pin(async move { tx.get_bucket("nul").await }))
        .await
        .unwrap();
    assert!(left.is_none(), "the body's other writes were undone");
    // A lookup by it finds nothing (no row can hold it), and a listing
    // after a marker with it goes on exactly where SQLite's would.
    let (found, listed) = index
        .write(|tx| {
            Box::pin(async move {
                tx.insert_bucket("nul", None, 1).await?;
                let blob = crate::index::BlobInfo {
                    sha256: Digest([3; 32]),
                    size: 1,
                    md5: Some([3; 16]),
                };
                tx.record_blob(&blob, None, 1, false).await?;
                for key in ["a", "a\u{1}", "ab"] {
                    tx.put_object(&ObjectRecord {
                        version_id: crate::index::NULL_VERSION.into(),
                        bucket: "nul".into(),
                        key: key.into(),
                        sha256: blob.sha256,
                        size: 1,
                        etag: "e".into(),
                        content_type: "text/plain".into(),
                        meta: ObjectMeta::default(),
                        last_modified: 1,
                    })
                    .await?;
                }
                Ok((
                    tx.get_object("nul", "a\0").await?,
                    tx.list_objects("nul", "", "a\0b", 10).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert!(found.is_none());
    let keys: Vec<_> = listed.into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["a\u{1}", "ab"]);
    // Every other text is refused as the key is.
    let d = crate::index::Declared {
        id: uuid::Uuid::new_v4(),
        file_name: "a\0.png".into(),
        content_type: "image/png".into(),
        size: 1,
        sha256: Digest([2; 32]),
    };
    let r = index
        .write(move |tx| {
            let d = d.clone();
            Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
        })
        .await;
    assert!(
        matches!(r, Err(IndexError::NotStorable("file name"))),
        "{r:?}"
    );
    let api = crate::api::ApiError::from(IndexError::NotStorable("object key"));
    match api {
        crate::api::ApiError::InvalidArgument(m) => {
            assert!(m.contains("object key") && m.contains("NUL"), "{m}")
        }
        other => panic!("not a client error: {other:?}"),
    }
}

/// The schema is made once, by whichever of several gateways starting
/// together gets there first; a database of a newer schema is refused.
#[test]
fn the_schema_is_migrated_once_and_a_newer_one_is_refused() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let opening: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || PostgresIndex::open(&url).map(drop))
        })
        .collect();
    for o in opening {
        o.join().unwrap().expect("opened");
    }
    let url = db.url.clone();
    blocking(
        async move { admin_exec(&url, "UPDATE stowage_schema SET version = version + 1").await },
    )
    .unwrap();
    match PostgresIndex::open(&db.url) {
        Err(IndexError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (POSTGRES_LATEST + 1, POSTGRES_LATEST))
        }
        Err(e) => panic!("not refused as too new: {e}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}

/// A server nobody answers at: the index cannot open, and says it is
/// unavailable (no panic).
#[test]
fn an_unreachable_server_is_unavailable() {
    if testing::server_url().is_none() {
        return;
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    match PostgresIndex::open(&format!("postgresql://stowage@127.0.0.1:{port}/stowage")) {
        Err(IndexError::Unavailable(_)) => {}
        Err(e) => panic!("not unavailable: {e}"),
        Ok(_) => panic!("opened an index on nothing"),
    }
}

/// The server goes away under a running index (every connection cut, new
/// ones refused) and comes back: meanwhile every body is answered
/// unavailable, nothing panics; after, the pool connects again and what was
/// committed before is all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_is_unavailable_until_it_comes_back() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let direct: tokio_postgres::Config = db.url.parse().unwrap();
    let host = match direct.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => panic!("{} must name a TCP host for this test", testing::URL_VAR),
    };
    let port = direct.get_ports().first().copied().unwrap_or(5432);
    let proxy = testing::Proxy::start(format!("{host}:{port}"));
    let mut via = tokio_postgres::Config::new();
    via.host("127.0.0.1").port(proxy.port);
    if let Some(u) = direct.get_user() {
        via.user(u);
    }
    if let Some(p) = direct.get_password() {
        via.password(p);
    }
    if let Some(d) = direct.get_dbname() {
        via.dbname(d);
    }
    let index: Arc<dyn Index> =
        Arc::new(blocking(async move { PostgresIndex::open_config(via) }).unwrap());
    let insert = |name: &'static str| {
        let index = index.clone();
        async move {
            index
                .write(move |tx| Box::pin(async move { tx.insert_bucket(name, None, 1).await }))
                .await
        }
    };
    assert!(insert("before").await.unwrap());

    proxy.set_up(false).await;
    let down = insert("while-down").await;
    assert!(matches!(down, Err(IndexError::Unavailable(_))), "{down:?}");
    let read = index
        .read(|tx| Box::pin(async move { tx.list_buckets().await }))
        .await;
    assert!(matches!(read, Err(IndexError::Unavailable(_))), "{read:?}");

    proxy.set_up(true).await;
    assert!(insert("after").await.unwrap());
    let names: Vec<String> = index
        .read(|tx| Box::pin(async move { tx.list_buckets().await }))
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["after", "before"]);
}

/// Every connection commits synchronously (a 200 is flushed), whatever the
/// server's default.
#[tokio::test]
async fn commits_are_synchronous_whatever_the_server_default() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let url = db.url.clone();
    blocking(async move {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        admin_exec(
            &url,
            &format!("ALTER DATABASE {name} SET synchronous_commit = off"),
        )
        .await
    })
    .unwrap();
    let index = PostgresIndex::open(&db.url).unwrap();
    let mut client = index.pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let row = tx.query_one("SHOW synchronous_commit", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "on");
}

/// Several indexes on one database, as several gateways: each body runs on
/// the next one in turn.
struct Several {
    indexes: Vec<Arc<PostgresIndex>>,
    next: AtomicUsize,
}

impl Several {
    fn pick(&self) -> &PostgresIndex {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.indexes.len();
        &self.indexes[n]
    }
}

impl Index for Several {
    fn run_write(
        &self,
        body: crate::index::Body,
        durable: crate::index::MustBeDurable,
    ) -> futures_util::future::BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, IndexError>>
    {
        self.pick().run_write(body, durable)
    }

    fn run_read(
        &self,
        body: crate::index::Body,
        fresh: bool,
    ) -> futures_util::future::BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, IndexError>>
    {
        self.pick().run_read(body, fresh)
    }

    fn lock(
        &self,
        name: crate::index::LockName,
        mode: crate::index::LockMode,
    ) -> futures_util::future::BoxFuture<'_, Result<crate::index::IndexLock, IndexError>> {
        self.pick().lock(name, mode)
    }

    fn try_lock(
        &self,
        name: crate::index::LockName,
        mode: crate::index::LockMode,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<crate::index::IndexLock>, IndexError>>
    {
        self.pick().try_lock(name, mode)
    }
}

fn several(db: &TestDb, n: usize) -> Arc<Several> {
    Arc::new(Several {
        indexes: (0..n)
            .map(|_| Arc::new(PostgresIndex::open(&db.url).unwrap()))
            .collect(),
        next: AtomicUsize::new(0),
    })
}

/// The contract's racers, spread over four gateways on one database:
/// PostgreSQL orders their transactions, running the losers of conflicts
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racers_on_several_gateways_decide_one_way() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let gateways = several(&db, 4);
    crate::index::contract::concurrent_inserts_decide_one_way(gateways.clone()).await;
    crate::index::contract::conflicting_updates_each_count_once(gateways.clone()).await;
    // Each lock call goes to the next gateway: exclusion holds between them.
    crate::index::contract::locks_exclude_and_share(gateways.clone()).await;
    crate::index::contract::locked_sections_never_overlap(gateways.clone()).await;
    let reruns: u64 = gateways.indexes.iter().map(|i| i.retries()).sum();
    eprintln!("conflicts run again: {reruns}");
}

/// The contract's other racers, spread over four gateways on one
/// database the same way (each on a database of its own).
mod racers_on_several_gateways {
    use super::{several, TestDb};

    macro_rules! on_several {
        ($($check:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(db) = TestDb::create() else {
                        return;
                    };
                    let gateways = several(&db, 4);
                    crate::index::contract::$check(gateways.clone()).await;
                    let reruns: u64 = gateways.indexes.iter().map(|i| i.retries()).sum();
                    eprintln!("conflicts run again: {reruns}");
                }
            )*
        };
    }

    on_several!(
        racing_creates_of_one_key_let_exactly_one_win,
        racing_replacements_of_one_etag_let_exactly_one_win,
        a_withdrawal_racing_an_upload_decides_one_way,
        references_under_concurrency_keep_exactly_the_named_blobs,
    );
}

/// What each kind of server error becomes (`error.rs`), from errors the
/// real server raises: a full disk is `DiskFull`, a conflict or a server
/// short of resources or shutting down `Unavailable`, a character it
/// cannot store `NotStorable`, anything else a fault.
#[tokio::test]
async fn server_errors_are_classified_by_their_sqlstate() {
    let Some((_db, pg)) = testing::index() else {
        return;
    };
    let client = pg.pool.get().await.unwrap();
    for (code, want) in [
        ("53100", "DiskFull"),
        ("40001", "Unavailable"),
        ("40P01", "Unavailable"),
        ("53300", "Unavailable"),
        ("57P01", "Unavailable"),
        ("08006", "Unavailable"),
        ("22021", "NotStorable"),
        ("23505", "Backend"),
        ("XX000", "Backend"),
    ] {
        let e = client
            .batch_execute(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$"
            ))
            .await
            .expect_err("the server raised it");
        let got = super::error::index_error(e);
        let kind = match got {
            IndexError::DiskFull => "DiskFull",
            IndexError::Unavailable(_) => "Unavailable",
            IndexError::NotStorable(_) => "NotStorable",
            IndexError::Backend(_) => "Backend",
            ref other => panic!("{code}: {other:?}"),
        };
        assert_eq!(kind, want, "{code}: {got:?}");
    }
}

/// A full disk met inside a write body — here the server raising it from
/// a trigger, as it does when a table cannot grow (the contract's
/// `a_full_disk_…` check fills a real one, where the tests may mount) —
/// is answered `DiskFull`, is not run again as a conflict would be, and
/// leaves nothing of the body.
#[tokio::test]
async fn a_full_disk_inside_a_body_is_disk_full_and_keeps_nothing() {
    let Some((db, pg)) = testing::index() else {
        return;
    };
    admin_exec(
        &db.url,
        "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$; \
         CREATE TRIGGER full_disk BEFORE INSERT ON buckets \
         FOR EACH ROW WHEN (NEW.name = 'full') EXECUTE FUNCTION full_disk();",
    )
    .await
    .unwrap();
    let index: Arc<dyn Index> = pg.clone();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let r = index
        .write(move |tx| {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tx.insert_token("before", &Digest([1; 32]), &[], 1).await?;
                tx.insert_bucket("full", None, 1).await?;
                Ok(())
            })
        })
        .await;
    assert!(matches!(r, Err(IndexError::DiskFull)), "{r:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "run again as a conflict");
    let left = index
        .read(|tx| Box::pin(async move { tx.token_count().await }))
        .await
        .unwrap();
    assert_eq!(left, 0, "the body's first write was kept");
    assert_eq!(pg.retries(), 0);
}
