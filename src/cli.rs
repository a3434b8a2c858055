//! The `stowage` command line: `serve`, `token`, `key`, `verify`, `backup`,
//! and the client commands `upload` and `download` (in `client`).
//!
//! Prints tokens only to stdout, only when created, and never logs them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::IndexConfig;
use crate::config::{Config, Overrides};
use crate::index::{Index, PostgresIndex, SqliteIndex};
use crate::storage::{Settings, Storage};
use crate::store::LocalStore;
use crate::tokens;

#[derive(Parser)]
#[command(
    name = "stowage",
    version,
    about = "Self-hosted storage gateway with SigV4 presigned uploads"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on, e.g. 0.0.0.0:8080 (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Log lines as text (default) or as one JSON object each, for log
        /// shippers.
        #[arg(long, env = "STOWAGE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
    },
    /// Manage API bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage extra S3 access keys and what they may do.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Check every stored blob against the index (rehash, compare both
    /// ways); exits 1 if anything is missing, corrupt, orphaned or dangling.
    /// Read-only; safe beside a running gateway.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory (overrides `data_dir`), e.g. a backup to check.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Upload files and folders (recursively) to a gateway through its API:
    /// files it already has are skipped, large files go in parts and resume
    /// where they stopped when the command is run again.
    Upload {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Files sent at once.
        #[arg(long, short = 'j', default_value_t = 4)]
        jobs: usize,
        /// Files larger than this are sent in parts, and resume after an
        /// interruption (K, M, G suffixes).
        #[arg(long, default_value = "64M", value_parser = parse_size_arg)]
        parts_above: u64,
        /// Size of each part (at least 5M).
        #[arg(long, default_value = "16M", value_parser = parse_size_arg)]
        part_size: u64,
    },
    /// Download a stored file by id; it gets its name only once its SHA-256
    /// matches the one the server recorded.
    Download {
        /// The file's id.
        id: String,
        /// Where to write it (a file, or a folder to put it in) [default:
        /// its own name, in the current folder].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Copy the data dir to DEST (a new directory), consistently, while the
    /// gateway keeps serving; DEST is a data dir of its own.
    Backup {
        /// The new directory to create.
        dest: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory to copy (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an S3 access key; its id and secret are printed once. It can
    /// create buckets of its own, and use others only once allowed.
    Create {
        /// A unique name, used to list, allow and revoke it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the keys (ids and names; secrets are not shown).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a key by name; it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Let a key read (or, with --write, also write) a bucket.
    Allow {
        name: String,
        bucket: String,
        /// Also PUT, POST and DELETE objects.
        #[arg(long)]
        write: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// A unique name, used to list and revoke it.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: upload, read, admin.
        #[arg(long, default_value = "upload,read")]
        scopes: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List tokens (names and scopes; tokens themselves are not stored).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a token by name; it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Which gateway a client command talks to, and how patiently.
#[derive(Args)]
struct RemoteArgs {
    /// The gateway's URL [default: `server` in ~/.config/stowage/client.toml,
    /// else http://127.0.0.1:8080].
    #[arg(long, env = "STOWAGE_SERVER")]
    server: Option<String>,
    /// An API token. Prefer STOWAGE_TOKEN or `token` in the config file: a
    /// flag is visible to other users in `ps`.
    #[arg(long, env = "STOWAGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// More trusted CA certificates (PEM), for a gateway whose HTTPS
    /// certificate is private or self-signed.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Tries after a failed one (connection errors, 5xx, 429), with
    /// growing waits.
    #[arg(long, default_value_t = 8)]
    retries: u32,
    /// A transfer that moves no byte for this many seconds is broken off
    /// and tried again.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
    /// Most bytes per second to send, all files together, e.g. 500K (a
    /// shared field link).
    #[arg(long, value_parser = parse_size_arg)]
    limit_rate: Option<u64>,
}

impl RemoteArgs {
    fn connect(self) -> Result<(crate::client::Target, crate::client::http::Http), String> {
        if self.limit_rate.is_some_and(|r| r < MIN_RATE) {
            // Slower, and pieces of the many bodies in flight would wait
            // longer than the stall watchdog allows.
            return Err(format!(
                "--limit-rate must be at least {MIN_RATE} bytes per second (4K)"
            ));
        }
        let target =
            crate::client::Target::resolve(self.server, self.token, &|k| std::env::var(k).ok())
                .map_err(|e| e.to_string())?;
        let mut http = crate::client::http::Http::new(&target.server, self.ca_cert.as_deref())
            .map_err(|e| e.to_string())?;
        http.retry.retries = self.retries;
        http.stall = std::time::Duration::from_secs(self.stall_secs.max(1));
        http.pacer = self
            .limit_rate
            .filter(|r| *r > 0)
            .map(|r| std::sync::Arc::new(crate::client::http::Pacer::new(r)));
        Ok((target, http))
    }
}

/// The slowest `--limit-rate`.
const MIN_RATE: u64 = 4096;

fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::client::parse_size(s)
}

/// A runtime for the client commands.
fn client_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn upload(
    paths: Vec<PathBuf>,
    remote: RemoteArgs,
    opts: crate::client::upload::Options,
) -> Result<(), String> {
    if opts.part_size < crate::storage::multipart::MIN_PART {
        return Err(format!(
            "--part-size must be at least {} bytes (5M): S3's smallest part",
            crate::storage::multipart::MIN_PART
        ));
    }
    let (target, http) = remote.connect()?;
    let rt = client_runtime()?;
    let summary = rt.block_on(crate::client::upload::run(target, http, &paths, opts));
    // Not waiting for a file still being hashed after Ctrl-C.
    rt.shutdown_background();
    let summary = summary.map_err(|e| e.to_string())?;
    if summary.failed > 0 {
        // Each failure was reported on its own line.
        return Err(String::new());
    }
    Ok(())
}

fn download(
    id: String,
    output: Option<PathBuf>,
    force: bool,
    remote: RemoteArgs,
) -> Result<(), String> {
    let (target, http) = remote.connect()?;
    let rt = client_runtime()?;
    let done = rt.block_on(crate::client::download::run(
        target, http, &id, output, force,
    ));
    rt.shutdown_background();
    done.map(|_| ()).map_err(|e| e.to_string())
}

#[derive(Args)]
struct ConfigArgs {
    /// Config file [default: ./config.toml]
    #[arg(long)]
    config: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self, overrides: Overrides) -> Result<Config, String> {
        let explicit = self.config.is_some();
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("config.toml"));
        Config::load(&path, explicit, |k| std::env::var(k).ok(), &overrides)
            .map_err(|e| e.to_string())
    }
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            log_format,
        } => serve(
            &config,
            Overrides { listen, data_dir },
            log_format == "json",
        ),
        Command::Token { command } => token(command),
        Command::Key { command } => key(command),
        Command::Verify { config, data_dir } => verify(&config, data_dir),
        Command::Backup {
            dest,
            config,
            data_dir,
        } => backup(&config, data_dir, &dest),
        Command::Upload {
            paths,
            remote,
            jobs,
            parts_above,
            part_size,
        } => upload(
            paths,
            remote,
            crate::client::upload::Options {
                jobs,
                parts_above,
                part_size,
            },
        ),
        Command::Download {
            id,
            output,
            force,
            remote,
        } => download(id, output, force, remote),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) if msg.is_empty() => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: text (colored on a terminal), or one JSON object per
/// line with `json`. `RUST_LOG` filters (default `info`).
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn serve(args: &ConfigArgs, overrides: Overrides, json_logs: bool) -> Result<(), String> {
    let config = args.load(overrides)?;
    init_logging(json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let app = App::open(config, Arc::new(SystemClock), bound).map_err(|e| e.to_string())?;
        app.storage
            .recover()
            .await
            .map_err(|e| format!("start-up recovery failed: {e:?}"))?;
        let initial = tokens::ensure_initial(&app.storage, app.now_unix())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(token) = initial {
            // Not `println!`: with stdout closed (a reader that went away)
            // that panics and would take the gateway down with it.
            use std::io::Write;
            let shown = writeln!(
                std::io::stdout(),
                "Created API token 'initial' with scopes upload, read, admin. It is shown only \
                 this once:\n{token}\nRevoke it with: stowage token revoke initial"
            )
            .and_then(|()| std::io::stdout().flush());
            if shown.is_err() {
                tracing::warn!(
                    "could not print the initial API token (stdout is closed); revoke it with \
                     `stowage token revoke initial` and create one with `stowage token create`"
                );
            }
        }
        tracing::info!(
            data_dir = %app.config.data_dir.display(),
            public_url = %app.public_url.base,
            bucket = %app.config.s3.bucket,
            access_key_id = %app.credentials.access_key_id,
            "gateway ready"
        );
        if crate::failpoint::enabled() {
            tracing::warn!(
                "{} is set: uploads pause inside their commit (a test knob; unset it)",
                crate::failpoint::ENV
            );
        }
        tracing::info!("listening on http://{bound}");
        crate::server::run(listener, Arc::new(app), shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The storage service over the data dir of the configuration (created if
/// need be), for the token and key commands: they change only settings
/// rows, so a gateway may be serving it meanwhile.
fn open_storage(args: &ConfigArgs) -> Result<Storage, String> {
    let config = args.load(Overrides::default())?;
    let dir = &config.data_dir;
    crate::store::fsutil::create_dir_all_durable(dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    let index = open_index(&config)?;
    let store = LocalStore::attach(dir, config.storage.fsync)
        .map_err(|e| format!("cannot open the blob store in {}: {e}", dir.display()))?;
    Ok(storage_of(&config, index, store))
}

/// The index the configuration names (`[index]`): the data dir's SQLite
/// file, or the PostgreSQL database the gateway uses.
fn open_index(config: &Config) -> Result<Arc<dyn Index>, String> {
    Ok(match &config.index {
        IndexConfig::Sqlite => {
            Arc::new(SqliteIndex::open(&config.data_dir).map_err(|e| e.to_string())?)
        }
        IndexConfig::Postgres { url } => {
            Arc::new(PostgresIndex::open(url).map_err(|e| e.to_string())?)
        }
    })
}

/// The storage service over a data dir's index and store, as the gateway
/// would set it up from `config`.
fn storage_of(config: &Config, index: Arc<dyn Index>, store: LocalStore) -> Storage {
    Storage::new(
        index,
        Arc::new(store),
        Arc::new(SystemClock),
        Settings {
            upload_bucket: config.s3.bucket.clone(),
            reserve_bytes: config.storage.reserve_bytes,
            abandoned_multipart_secs: config.s3.abandoned_multipart_secs,
        },
    )
}

/// The configuration and store of an existing data dir, for a maintenance
/// command (without the gateway's start-up sweep of temp files: one may be
/// serving).
fn open_data_dir(
    args: &ConfigArgs,
    data_dir: Option<PathBuf>,
) -> Result<(Config, LocalStore), String> {
    let config = args.load(Overrides {
        data_dir,
        ..Overrides::default()
    })?;
    let dir = &config.data_dir;
    if config.index == IndexConfig::Sqlite && !dir.join(crate::index::DB_FILE).exists() {
        return Err(format!(
            "{} holds no Stowage index ({}); name the data dir with --data-dir",
            dir.display(),
            crate::index::DB_FILE
        ));
    }
    let store = LocalStore::attach(dir, config.storage.fsync)
        .map_err(|e| format!("cannot open the blob store in {}: {e}", dir.display()))?;
    Ok((config, store))
}

fn maintenance_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// A one-line progress display on stderr, drawn only on a terminal and at
/// most ten times a second.
struct ProgressLine {
    on: bool,
    last: Option<std::time::Instant>,
}

impl ProgressLine {
    fn new() -> Self {
        ProgressLine {
            on: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            last: None,
        }
    }

    fn draw(&mut self, text: impl FnOnce() -> String) {
        if !self.on || self.last.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        eprint!("\r\x1b[2K{}", text());
    }

    fn clear(&self) {
        if self.on && self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

fn verify(args: &ConfigArgs, data_dir: Option<PathBuf>) -> Result<(), String> {
    let (config, store) = open_data_dir(args, data_dir)?;
    let storage = storage_of(&config, open_index(&config)?, store);
    let rt = maintenance_runtime()?;
    let mut bar = ProgressLine::new();
    let started = std::time::Instant::now();
    let report = rt
        .block_on(crate::ops::verify::verify(&storage, |p| {
            bar.draw(|| {
                let pct = (p.bytes_done * 100)
                    .checked_div(p.bytes_total)
                    .unwrap_or(100);
                format!(
                    "verifying {}: {pct:>3}%  {}/{} blobs  {:.1}/{:.1} MB",
                    config.data_dir.display(),
                    p.blobs_done,
                    p.blobs_total,
                    p.bytes_done as f64 / 1e6,
                    p.bytes_total as f64 / 1e6
                )
            })
        }))
        .map_err(|e| e.to_string())?;
    bar.clear();
    for f in &report.findings {
        println!("{f}");
    }
    println!(
        "{} in {:.1} s",
        report.summary(),
        started.elapsed().as_secs_f64()
    );
    if report.findings.is_empty() {
        Ok(())
    } else {
        eprintln!(
            "verify: {} problem(s) found in {}",
            report.findings.len(),
            config.data_dir.display()
        );
        Err(String::new())
    }
}

fn backup(
    args: &ConfigArgs,
    data_dir: Option<PathBuf>,
    dest: &std::path::Path,
) -> Result<(), String> {
    let (config, store) = open_data_dir(args, data_dir)?;
    if config.index != IndexConfig::Sqlite {
        // The copy of the index is SQLite's online backup of its file.
        return Err(
            "stowage backup copies a SQLite index, and this data dir's index is in \
             PostgreSQL: back the database up with PostgreSQL's tools (pg_dump) and copy the \
             data dir (its blobs) beside it"
                .into(),
        );
    }
    let index = Arc::new(SqliteIndex::open(&config.data_dir).map_err(|e| e.to_string())?);
    let storage = storage_of(&config, index.clone(), store);
    let rt = maintenance_runtime()?;
    let mut bar = ProgressLine::new();
    let started = std::time::Instant::now();
    let credentials = config.data_dir.join(crate::config::CREDENTIALS_FILE);
    let report = rt
        .block_on(crate::ops::backup::backup(
            &index,
            &storage,
            Some(&credentials),
            dest,
            |r| {
                bar.draw(|| {
                    format!(
                        "backing up: {} blob files, {:.1} MB",
                        r.files,
                        r.bytes as f64 / 1e6
                    )
                })
            },
        ))
        .map_err(|e| e.to_string())?;
    bar.clear();
    for (sha, rows) in &report.deleted_meanwhile {
        println!(
            "left out blob {} and {rows} row(s) referring to it: deleted on the gateway while the backup ran",
            sha.hex()
        );
    }
    for p in &report.problems {
        println!("{p}");
    }
    println!(
        "backed up {} to {}: {} blob files ({} bytes) and {} small blobs in the index, in {:.1} s",
        config.data_dir.display(),
        dest.display(),
        report.files,
        report.bytes,
        report.inline,
        started.elapsed().as_secs_f64()
    );
    if report.problems.is_empty() {
        Ok(())
    } else {
        eprintln!(
            "backup: the source has {} damaged blob(s), listed above; they are not in the backup \
             (run `stowage verify` on the source)",
            report.problems.len()
        );
        Err(String::new())
    }
}

/// The names of tokens and keys: 1-64 letters, digits, '-', '_' or '.'.
fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("--name must be 1-64 letters, digits, '-', '_' or '.'".into())
    }
}

/// Runs a token or key command's work on the storage service of its data
/// dir.
fn with_storage<R>(
    config: &ConfigArgs,
    work: impl AsyncFnOnce(&Storage) -> Result<R, crate::storage::StorageError>,
) -> Result<R, String> {
    let storage = open_storage(config)?;
    maintenance_runtime()?
        .block_on(work(&storage))
        .map_err(|e| e.to_string())
}

fn key(cmd: KeyCommand) -> Result<(), String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        KeyCommand::Create { name, config } => {
            check_name(&name)?;
            let fresh = crate::config::generate_credentials();
            let key = crate::index::AccessKey {
                access_key_id: fresh.access_key_id.clone(),
                secret: fresh.secret_access_key.clone(),
                name: name.clone(),
                created_at: now,
                revoked_at: None,
            };
            let created = with_storage(&config, async |s| s.create_access_key(&key).await)?;
            if !created {
                return Err(format!(
                    "a key named '{name}' already exists; pick another --name"
                ));
            }
            println!(
                "Created S3 access key '{name}'. Keep the secret safe; it is not shown again:"
            );
            println!("access_key_id={}", fresh.access_key_id);
            println!("secret_access_key={}", fresh.secret_access_key);
            Ok(())
        }
        KeyCommand::List { config } => {
            let keys = with_storage(&config, async |s| s.list_access_keys().await)?;
            println!("{:<24} {:<22} STATUS", "NAME", "ACCESS KEY ID");
            for k in keys {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{:<24} {:<22} {status}", k.name, k.access_key_id);
            }
            Ok(())
        }
        KeyCommand::Revoke { name, config } => {
            if with_storage(&config, async |s| s.revoke_access_key(&name, now).await)? {
                println!("Revoked key '{name}'.");
                Ok(())
            } else {
                Err(format!("no active key named '{name}'"))
            }
        }
        KeyCommand::Allow {
            name,
            bucket,
            write,
            config,
        } => {
            crate::config::validate_bucket(&bucket)?;
            if with_storage(&config, async |s| {
                s.grant_bucket(&name, &bucket, write).await
            })? {
                let what = if write { "read and write" } else { "read" };
                println!("Key '{name}' may now {what} bucket '{bucket}'.");
                Ok(())
            } else {
                Err(format!("no active key named '{name}'"))
            }
        }
    }
}

fn token(cmd: TokenCommand) -> Result<(), String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    match cmd {
        TokenCommand::Create {
            name,
            scopes,
            config,
        } => {
            check_name(&name)?;
            let scopes = tokens::parse_scopes(&scopes)?;
            let storage = open_storage(&config)?;
            let token = maintenance_runtime()?
                .block_on(tokens::create(&storage, &name, &scopes, now))
                .map_err(|e| match e {
                    tokens::CreateError::NameTaken(_) => {
                        format!("{e}; pick another --name or revoke it first")
                    }
                    e => e.to_string(),
                })?;
            println!(
                "Created token '{name}' with scopes {}. Keep it safe; it is not shown again:",
                scopes.join(",")
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { config } => {
            let list = with_storage(&config, async |s| s.list_tokens().await)?;
            println!("{:<24} {:<20} {:<22} STATUS", "NAME", "SCOPES", "CREATED");
            for t in list {
                let when = |t: i64| {
                    OffsetDateTime::from_unix_timestamp(t)
                        .ok()
                        .and_then(|d| {
                            d.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_default()
                };
                let status = match t.revoked_at {
                    Some(r) => format!("revoked {}", when(r)),
                    None => "active".into(),
                };
                println!(
                    "{:<24} {:<20} {:<22} {status}",
                    t.name,
                    t.scopes.join(","),
                    when(t.created_at)
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { name, config } => {
            if with_storage(&config, async |s| s.revoke_token(&name, now).await)? {
                println!("Revoked token '{name}'.");
                Ok(())
            } else {
                Err(format!(
                    "no active token named '{name}' (see `stowage token list`)"
                ))
            }
        }
    }
}
