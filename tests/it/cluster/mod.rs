//! Several gateways as one service: `stowage serve` processes, each with a
//! data dir of its own, sharing one PostgreSQL index (a database of their
//! own on the test server) and one Garage cluster of three nodes (started
//! for the test) for their bytes, and one public URL,
//! `http://stowage.test` — as behind a load balancer, but each request
//! sent to the gateway a test picks (a resolver maps the public host to
//! it), so "presign on one, PUT on a second, complete on a third" is
//! exactly that.
//!
//! Each gateway names all three Garage nodes in `s3_endpoint`, its own
//! node first (gateway `i` starts with node `i mod 3`, as a site would
//! spread them), so a node down sends its calls to the next. Requests
//! through a gateway of a test's choosing: `requests.rs`.
//!
//! Needs PostgreSQL and Garage (scripts/test provides both); without them
//! a test fails saying how to get them, unless `STOWAGE_TEST_POSTGRES=off`
//! or `STOWAGE_TEST_GARAGE=off` leaves it out. They run in the suite's
//! PostgreSQL pass (`STOWAGE_TEST_INDEX=postgres`) only: their index is
//! PostgreSQL in either (the shared test server's, or with
//! [`Cluster::start_on`] a server of the test's own, which it may stop).
//!
//! Tests: `flows.rs` and `s3.rs` (any gateway serves any request),
//! `faults.rs` (a gateway killed mid-upload), `garage_faults.rs` (a Garage
//! node down; the whole cluster down), `postgres_faults.rs` (the index's
//! server stopped and started).

mod faults;
mod flows;
mod garage_faults;
mod postgres_faults;
mod requests;
mod s3;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::garage::GarageCluster;
use crate::harness::{addr_of, Served};
use crate::index_db::TestIndex;

/// The public URL every gateway signs for.
pub const PUBLIC_HOST: &str = "stowage.test";
/// The S3 key pair every gateway is configured with (presigned URLs made
/// by one are checked by another).
pub const KEY_ID: &str = "AKIACLUSTERTEST00001";
pub const SECRET: &str = "clusterTestSecretKey0000000000000000000000";

/// Gateways over one index and one Garage cluster (see the module docs).
pub struct Cluster {
    /// `None` while killed.
    gateways: Vec<Option<Served>>,
    /// Where each gateway listens (kept while it is down, for messages).
    addrs: Vec<SocketAddr>,
    configs: Vec<PathBuf>,
    /// A token with every scope, printed by the first gateway's first
    /// start (the index holds it, so every gateway knows it).
    pub token: String,
    pub garage: GarageCluster,
    index: TestIndex,
    /// Last: removed after the gateways stopped.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` gateways on a fresh index and a fresh 3-node Garage cluster;
    /// `None` when PostgreSQL or Garage tests are switched off.
    pub fn start(n: usize) -> Option<Cluster> {
        Self::start_with(n, "")
    }

    /// The same, with `extra` TOML in every gateway's configuration (its
    /// own top-level keys or tables other than `[s3]`, `[index]` and
    /// `[storage]`).
    pub fn start_with(n: usize, extra: &str) -> Option<Cluster> {
        if !Self::in_this_pass() {
            return None;
        }
        Self::launch(n, extra, TestIndex::fresh_postgres()?)
    }

    /// `n` gateways whose index is a fresh database on the PostgreSQL
    /// server at `admin_url` (one the test may stop, e.g. a
    /// `TempPostgres`'s; its user creates the database).
    pub fn start_on(n: usize, admin_url: &str) -> Option<Cluster> {
        if !Self::in_this_pass() {
            return None;
        }
        Self::launch(n, "", TestIndex::fresh_on(admin_url))
    }

    /// Their index is PostgreSQL whichever pass of the suite this is: they
    /// run once, in the pass on PostgreSQL.
    pub fn in_this_pass() -> bool {
        let yes = crate::index_db::on_postgres();
        if !yes {
            eprintln!("the cluster tests run in the suite's PostgreSQL pass");
        }
        yes
    }

    fn launch(n: usize, extra: &str, index: TestIndex) -> Option<Cluster> {
        let garage = GarageCluster::start(3)?;
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Cluster {
            gateways: Vec::new(),
            addrs: Vec::new(),
            configs: Vec::new(),
            token: String::new(),
            garage,
            index,
            _dir: dir,
        };
        for i in 0..n {
            let gw = cluster._dir.path().join(format!("gw{i}"));
            std::fs::create_dir_all(&gw).unwrap();
            let config = gw.join("config.toml");
            std::fs::write(&config, cluster.config_text(i, &gw, extra)).unwrap();
            cluster.configs.push(config);
            // One after the other: the first start of the first gateway
            // makes the initial token, the others find it in the index.
            let served = Served::start(&cluster.configs[i]);
            if i == 0 {
                cluster.token = served.initial_token();
            }
            cluster.addrs.push(addr_of(&served.base));
            cluster.gateways.push(Some(served));
        }
        Some(cluster)
    }

    /// Gateway `i`'s configuration: its own data dir and port, the shared
    /// public URL, key pair, index and store (every Garage node, node
    /// `i mod 3` first).
    fn config_text(&self, i: usize, dir: &Path, extra: &str) -> String {
        let g = &self.garage;
        let endpoints: Vec<String> = (0..3).map(|k| g.endpoint((i + k) % 3)).collect();
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{data}\"\npublic_url = \"http://{PUBLIC_HOST}\"\n\
             {extra}\n[s3]\naccess_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\n\
             {index}\n[storage]\nfsync = false\nbackend = \"s3\"\ns3_endpoint = \"{endpoint}\"\n\
             s3_bucket = \"{bucket}\"\ns3_region = \"{region}\"\ns3_access_key_id = \"{id}\"\n\
             s3_secret_access_key = \"{secret}\"\n",
            data = dir.join("data").display(),
            index = self.index.toml(),
            endpoint = endpoints.join(", "),
            bucket = g.bucket(),
            region = g.region(),
            id = g.access_key_id(),
            secret = g.secret_access_key(),
        )
    }

    /// An HTTP client whose every request for the public host goes to
    /// gateway `i`.
    pub fn agent(&self, i: usize) -> ureq::Agent {
        let to = self.addrs[i];
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .resolver(move |host_port: &str| -> std::io::Result<Vec<SocketAddr>> {
                if host_port == format!("{PUBLIC_HOST}:80") {
                    Ok(vec![to])
                } else {
                    host_port.to_socket_addrs().map(|a| a.collect())
                }
            })
            .build()
    }

    /// `path` under the public URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{PUBLIC_HOST}{path}")
    }

    /// curl's `--connect-to` for sending a public URL to gateway `i`.
    pub fn connect_to(&self, i: usize) -> String {
        format!("{PUBLIC_HOST}:80:{}", self.addrs[i])
    }

    /// Kills gateway `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        let mut served = self.gateways[i].take().expect("a running gateway");
        served.child.kill().unwrap();
        served.child.wait().unwrap();
    }

    /// How gateway `i`'s process ended, or `None` while it runs (a
    /// gateway taken down by [`Self::kill`] panics).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let served = self.gateways[i].as_mut().expect("a gateway not killed");
        served.child.try_wait().unwrap()
    }

    /// Starts gateway `i` again on its data dir (on a new port).
    pub fn restart(&mut self, i: usize) {
        assert!(self.gateways[i].is_none(), "gateway {i} is running");
        let served = Served::start(&self.configs[i]);
        self.addrs[i] = addr_of(&served.base);
        self.gateways[i] = Some(served);
    }

    /// Gateway `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        self.gateways[i]
            .as_ref()
            .map(|s| s.stderr())
            .unwrap_or_default()
    }

    /// Gateway `i`'s data dir.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.configs[i].parent().unwrap().join("data")
    }

    /// The index's database (to look at its rows).
    pub fn index(&self) -> &TestIndex {
        &self.index
    }
}

/// A body as text (for messages).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Every file under `dir` (none if it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
