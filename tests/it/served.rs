//! `stowage serve` as a child process: the real binary with its output
//! captured, one gateway — or, with [`Served::start_site`] in a cluster
//! run, three behind one address (see `topology`) — and what a test reads
//! of a site's blobs and temp files.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{files_under, BIN};
use crate::topology;

/// A `stowage serve` child process with its output captured.
pub struct Served {
    pub child: Child,
    pub base: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Started by [`Served::start_site`] in a cluster run: the other
    /// gateways, and the balancer's runtime in front of all three.
    site: Vec<Served>,
    balancer: Option<tokio::runtime::Runtime>,
    /// Where the site keeps its blobs in the test bucket (cluster runs).
    pub blob_prefix: Option<String>,
}

fn capture(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Writes `dir/config.toml` for a gateway with its data dir in `dir/data`
/// and `extra` settings, and its index on this run's backend (see
/// `index_db::for_config_dir`).
pub fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let index = crate::index_db::for_config_dir(dir);
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{extra}{index}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

impl Served {
    pub fn start(config: &Path) -> Self {
        Self::start_env(config, &[])
    }

    /// The gateway `config` describes, as this run lays servers out: one
    /// process, or in a cluster run three (see `topology`) — the others on
    /// data dirs of their own beside the configured one (`data-2`,
    /// `data-3`, holding a copy of its generated key pair), all on the
    /// configured index, blobs in the test bucket under a prefix of their
    /// own, behind one address ([`Served::base`]) they all sign for. The
    /// first gateway is [`Served::child`], and prints the initial token.
    pub fn start_site(config: &Path) -> Self {
        if !topology::cluster() {
            return Self::start(config);
        }
        let (rt, public) = topology::runtime_and_listener(1);
        let base = format!("http://{}", public.local_addr().unwrap());
        let prefix = format!("it-{}/", stowage::random::hex(8));
        let mut env = topology::Bucket::from_env().env(&prefix);
        env.push(("STOWAGE_PUBLIC_URL".into(), base.clone()));
        let mut first = Self::start_env(config, &env);
        let data_dir = configured_data_dir(config);
        let mut gateways = vec![addr_of(&first.base)];
        for i in 2..=topology::GATEWAYS {
            let dir = data_dir.with_file_name(format!("data-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let key_pair = data_dir.join(stowage::config::CREDENTIALS_FILE);
            if key_pair.exists() {
                std::fs::copy(&key_pair, dir.join(stowage::config::CREDENTIALS_FILE)).unwrap();
            }
            let mut env = env.clone();
            env.push(("STOWAGE_DATA_DIR".into(), dir.display().to_string()));
            let other = Self::start_env(config, &env);
            gateways.push(addr_of(&other.base));
            first.site.push(other);
        }
        rt.spawn(topology::balance(public, gateways));
        first.base = base;
        first.balancer = Some(rt);
        first.blob_prefix = Some(prefix);
        first
    }

    /// Every gateway's process (one, or three of a cluster run's site).
    pub fn children(&mut self) -> Vec<&mut Child> {
        let mut all = vec![&mut self.child];
        all.extend(self.site.iter_mut().map(|s| &mut s.child));
        all
    }

    /// [`Served::start`] with these variables in its environment.
    pub fn start_env(config: &Path, env: &[(String, String)]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = capture(child.stdout.take().unwrap());
        let stderr = capture(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let found = stderr.lock().unwrap().iter().find_map(|l| {
                l.split("listening on ")
                    .nth(1)
                    .map(|s| s.trim().to_string())
            });
            if let Some(b) = found {
                break b;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Its last lines may still be on their way to the capture.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "stowage serve exited ({status}) before listening: {:?}",
                    stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no listen line: {:?}",
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Served {
            child,
            base,
            stdout,
            stderr,
            site: Vec::new(),
            balancer: None,
            blob_prefix: None,
        }
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// What the gateway logged (every gateway's, one after the other, in a
    /// cluster run).
    pub fn stderr(&self) -> String {
        let mut all = self.stderr.lock().unwrap().join("\n");
        for (i, other) in self.site.iter().enumerate() {
            all.push_str(&format!("\n--- gateway {} ---\n{}", i + 2, other.stderr()));
        }
        all
    }
}

/// Blob bytes a gateway of [`Served::start_site`] keeps outside its index,
/// as `name size` lines, sorted: the files under `data_dir/blobs`, or in a
/// cluster run the objects under the site's prefix in the test bucket
/// (those released and awaiting the garbage collector's grace left out).
/// `rows` runs a query on the site's index.
pub fn site_blobs(
    served: &Served,
    data_dir: &Path,
    rows: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut out: Vec<String> = match &served.blob_prefix {
        None => files_under(&data_dir.join("blobs"))
            .iter()
            .map(|p| {
                let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                format!("{} {len}", p.display())
            })
            .collect(),
        Some(prefix) => {
            let garbage = rows("SELECT name FROM garbage");
            topology::objects(prefix)
                .into_iter()
                .filter(|(id, _)| !garbage.contains(id))
                .map(|(id, size)| format!("{id} {size}"))
                .collect()
        }
    };
    out.sort();
    out
}

/// Files under `tmp/` of every gateway of a site whose first gateway's
/// data dir is `data_dir` (the others' beside it, see
/// [`Served::start_site`]).
pub fn site_temps(data_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![data_dir.join("tmp")];
    for i in 2..=topology::GATEWAYS {
        dirs.push(data_dir.with_file_name(format!("data-{i}")).join("tmp"));
    }
    dirs.iter().flat_map(|d| files_under(d)).collect()
}

/// The `data_dir` a configuration written by [`write_config`] names.
fn configured_data_dir(config: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    PathBuf::from(value["data_dir"].as_str().expect("data_dir in the config"))
}

/// `127.0.0.1:PORT` of a `http://127.0.0.1:PORT` base.
pub fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|_| panic!("not a listen address: {base}"))
}

impl Served {
    /// The token printed on first start.
    pub fn initial_token(&self) -> String {
        // Printed before the listen line, but stdout is read by a thread
        // of its own: it may not have the line yet.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(t) = self.stdout().into_iter().find(|l| l.starts_with("stw_")) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no token printed: {:?}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory of the server process, from /proc.
    pub fn vm_hwm_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The other gateways drop after this, then the balancer.
    }
}
