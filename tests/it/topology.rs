//! How this run lays out the server a test talks to.
//!
//! By default a [`crate::harness::TestServer`] is one gateway, its blobs in
//! its data dir. With `STOWAGE_TEST_TOPOLOGY=cluster` (scripts/test's
//! second pass, which also puts the index in PostgreSQL) it is three
//! gateways as a site of several machines runs them: one PostgreSQL
//! database, one bucket of the shared Garage cluster (`STOWAGE_TEST_S3_*`,
//! under a key prefix of this server's own), one key pair, one public
//! address. Behind that address a balancer hands each new connection to
//! the next gateway in turn, as a load balancer without sticky sessions
//! would; a test that opens a connection per request (ureq, curl, a raw
//! socket) meets all three within a few requests. Nothing else changes
//! for the test: the same requests, the same answers.
//!
//! Must never pick a gateway for a request from what the request says:
//! the point is that any gateway serves any request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stowage::config::{S3StoreConfig, DEFAULT_S3_GC_GRACE_SECS, DEFAULT_S3_PART_SIZE};

/// `cluster`: three gateways per test server (see the module docs).
pub const VAR: &str = "STOWAGE_TEST_TOPOLOGY";
/// Gateways of a test server in a cluster run.
pub const GATEWAYS: usize = 3;

/// Whether this run's test servers are clusters.
pub fn cluster() -> bool {
    match std::env::var(VAR).as_deref() {
        Ok("cluster") => {
            assert!(
                crate::index_db::on_postgres(),
                "{VAR}=cluster needs STOWAGE_TEST_INDEX=postgres: gateways share one index only \
                 in PostgreSQL (scripts/test sets both in its second pass)"
            );
            true
        }
        Ok("" | "single") | Err(_) => false,
        Ok(other) => panic!("{VAR}={other}: expected single or cluster"),
    }
}

/// The test bucket scripts/test's Garage cluster serves, from
/// `STOWAGE_TEST_S3_*`.
#[derive(Clone)]
pub struct Bucket {
    endpoint: String,
    region: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
}

impl Bucket {
    pub fn from_env() -> Bucket {
        let var = |name: &str| {
            std::env::var(format!("STOWAGE_TEST_S3_{name}")).unwrap_or_else(|_| {
                panic!(
                    "{VAR}=cluster needs STOWAGE_TEST_S3_{name}: run the tests with scripts/test, \
                     which starts a Garage cluster and names it"
                )
            })
        };
        Bucket {
            endpoint: var("ENDPOINT"),
            region: var("REGION"),
            bucket: var("BUCKET"),
            access_key_id: var("ACCESS_KEY_ID"),
            secret_access_key: var("SECRET_ACCESS_KEY"),
        }
    }

    /// A gateway's `[storage] backend = "s3"` over this bucket, its blobs
    /// under `prefix`.
    pub fn store_config(&self, prefix: &str) -> S3StoreConfig {
        S3StoreConfig {
            endpoints: self
                .endpoint
                .split(',')
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .collect(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            ca_cert: None,
            part_size: DEFAULT_S3_PART_SIZE,
            gc_grace_secs: DEFAULT_S3_GC_GRACE_SECS,
            prefix: prefix.to_string(),
        }
    }

    /// The same as the environment of a `stowage serve` process.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        [
            ("STOWAGE_STORAGE_BACKEND", "s3"),
            ("STOWAGE_STORAGE_S3_ENDPOINT", &self.endpoint),
            ("STOWAGE_STORAGE_S3_REGION", &self.region),
            ("STOWAGE_STORAGE_S3_BUCKET", &self.bucket),
            ("STOWAGE_STORAGE_S3_ACCESS_KEY_ID", &self.access_key_id),
            (
                "STOWAGE_STORAGE_S3_SECRET_ACCESS_KEY",
                &self.secret_access_key,
            ),
            ("STOWAGE_STORAGE_S3_PREFIX", prefix),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A client of this bucket, to look at what the gateways left in it.
    pub fn client(&self) -> stowage::upstream::Client {
        stowage::upstream::Client::new(stowage::upstream::Config::new(
            &self.endpoint,
            &self.region,
            &self.bucket,
            &self.access_key_id,
            &self.secret_access_key,
        ))
        .expect("the test bucket's settings are valid")
    }
}

/// A runtime of `workers` threads for the servers of a test, and the
/// listener on a free loopback port that will be their public address.
pub fn runtime_and_listener(workers: usize) -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let public = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    (rt, public)
}

/// Serves `public`: each connection accepted is joined, byte for byte in
/// both directions, to a new connection to the next of `gateways` in
/// turn. A gateway that cannot be reached closes the client's connection
/// (as a balancer with no health checks would). Runs until its task is
/// dropped.
pub async fn balance(public: tokio::net::TcpListener, gateways: Vec<SocketAddr>) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((mut client, _)) = public.accept().await else {
            continue;
        };
        let to = gateways[next.fetch_add(1, Ordering::Relaxed) % gateways.len()];
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            if let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await {
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

/// Runs `f` to its end on a runtime of its own (the helpers below are
/// called from tests, outside any runtime).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Every object under `prefix` in the test bucket, by name (the prefix
/// left off), with its size.
pub fn objects(prefix: &str) -> Vec<(String, u64)> {
    use futures_util::TryStreamExt;
    let client = Bucket::from_env().client();
    let pages: Vec<Vec<stowage::upstream::ObjectEntry>> =
        block_on(client.list_objects(prefix).try_collect()).expect("the test bucket lists");
    pages
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e.key.strip_prefix(prefix)?.to_string(), e.size)))
        .collect()
}

/// The keys of upstream multipart uploads under `prefix` in the test
/// bucket, begun and neither completed nor aborted.
pub fn pending_uploads(prefix: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let client = Bucket::from_env().client();
    let pages: Vec<Vec<stowage::upstream::PendingUpload>> =
        block_on(client.list_multipart_uploads(prefix).try_collect())
            .expect("the test bucket lists its uploads");
    pages.into_iter().flatten().map(|u| u.key).collect()
}

/// The whole of object `key` in the test bucket.
pub fn object_bytes(key: &str) -> Vec<u8> {
    use futures_util::TryStreamExt;
    let client = Bucket::from_env().client();
    block_on(async {
        let (_, body) = client.get_object(key, None).await?;
        body.try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
    })
    .unwrap_or_else(|e| panic!("GET {key} from the test bucket: {e}"))
}

/// Writes `bytes` as object `key` in the test bucket.
pub fn put_object(key: &str, bytes: Vec<u8>) {
    use stowage::upstream::{Body, Integrity};
    let bytes = bytes::Bytes::from(bytes);
    let integrity = Integrity::crc32c_of(&bytes);
    let len = bytes.len() as u64;
    block_on(
        Bucket::from_env()
            .client()
            .put_object(key, Body::from_bytes(bytes), len, integrity),
    )
    .unwrap_or_else(|e| panic!("PUT {key} to the test bucket: {e}"));
}
