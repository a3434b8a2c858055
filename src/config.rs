//! Configuration: `config.toml`, then `STOWAGE_*` environment variables, then
//! command-line flags, each overriding the one before.
//!
//! This module owns parsing and validating every setting and the S3
//! credentials kept in the data dir. It must never log or render a secret:
//! `Config`'s `Debug` redacts the secret access key, and every error names
//! the offending key, never its value when the value could be a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sigv4::Credentials;

/// Default size limit of one upload: 5 GiB, S3's own single-PUT limit.
pub const DEFAULT_MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Default lifetime of a presigned URL: 15 minutes, as the published API.
pub const DEFAULT_PRESIGN_EXPIRY_SECS: u64 = 900;
/// Default age at which an unfinished multipart upload is abandoned: 1 day.
pub const DEFAULT_ABANDONED_MULTIPART_SECS: u64 = 86_400;
/// Name of the file in the data dir that keeps generated S3 credentials.
pub const CREDENTIALS_FILE: &str = "s3-credentials.json";

/// Why the configuration could not be loaded. Every variant names the key
/// or file so an operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot use S3 credentials file {path}: {message}")]
    Credentials { path: PathBuf, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// The file as written; every field optional so defaults apply.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    s3: FileS3,
    #[serde(default)]
    upload: FileUpload,
    #[serde(default)]
    storage: FileStorage,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    cors: FileCors,
    #[serde(default)]
    metrics: FileMetrics,
    #[serde(default)]
    index: FileIndex,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIndex {
    backend: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    access: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCors {
    allowed_origins: Option<Vec<String>>,
    allowed_methods: Option<Vec<String>>,
    allowed_headers: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    max_age_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    idle_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    max_connections: Option<u64>,
    max_headers: Option<u64>,
    presign_per_token_per_sec: Option<u64>,
    auth_failures_per_sec: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    form_fields_timeout_secs: Option<u64>,
    form_fields_min_bytes_per_sec: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    fsync: Option<bool>,
    reserve_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileS3 {
    region: Option<String>,
    bucket: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    abandoned_multipart_secs: Option<u64>,
    public_read: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUpload {
    max_size: Option<u64>,
    presign_expiry_secs: Option<u64>,
    dedupe: Option<bool>,
}

/// Values given on the command line; `None` leaves the file/env value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// The validated configuration the gateway runs with.
#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Base URL written into presigned URLs; `None` means "derive it from
    /// the address actually bound", which also covers `--listen …:0`.
    pub public_url: Option<PublicUrl>,
    /// Root of the database, blobs and temp files.
    pub data_dir: PathBuf,
    /// Serve HTTPS with this certificate chain and key (PEM files), for
    /// sites without a TLS-terminating proxy; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    pub s3: S3Config,
    pub upload: UploadConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    /// The default CORS rule (`[cors]`), for the JSON API and the built-in
    /// bucket while it has no configuration of its own; `None` when no
    /// origin is allowed.
    pub cors: Option<CorsDefault>,
    /// Who may read `GET /metrics`.
    pub metrics: MetricsAccess,
    /// Where the index (the metadata) is kept (`[index]`).
    pub index: IndexConfig,
}

/// `[index]`: the backend that keeps the index. Blobs, temp files and the
/// generated S3 key pair stay in the data dir whichever it is.
#[derive(Clone, PartialEq, Eq)]
pub enum IndexConfig {
    /// `data_dir/stowage.db` (the default).
    Sqlite,
    /// A PostgreSQL database, by its connection URL
    /// (`postgresql://user@host:port/db`), which may hold a password.
    Postgres { url: String },
}

impl fmt::Debug for IndexConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexConfig::Sqlite => f.write_str("Sqlite"),
            // The URL may carry a password: never printed.
            IndexConfig::Postgres { .. } => f.write_str("Postgres { url: <redacted> }"),
        }
    }
}

/// `[metrics] access`: who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who can reach the port (a scraper on a trusted network).
    Open,
    /// A bearer token with the `read` scope (the default).
    Token,
    /// Not served (404).
    Off,
}

/// `[cors]`: which web origins may call the gateway from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsDefault {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u32,
}

/// Bounds on what one client can hold or ask of the gateway, so that a
/// slow, broken or hostile client cannot take it away from the others.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// A connection on which nothing moves, in either direction, this long
    /// is closed: a stalled upload is abandoned (its temp file removed), a
    /// download nobody reads stops holding its buffers, an idle keep-alive
    /// connection is given back.
    pub idle_timeout: std::time::Duration,
    /// The whole header block of a request must arrive within this time
    /// (slow-loris clients that trickle headers are cut off).
    pub header_timeout: std::time::Duration,
    /// Connections served at once; one more is answered 503 SlowDown and
    /// closed, so a flood cannot use up file descriptors or memory.
    pub max_connections: usize,
    /// Header fields in one request; more is answered 431.
    pub max_headers: usize,
    /// Presign requests one bearer token may make per second (bursts up to
    /// twice that); more is answered 429 with Retry-After. 0 = no limit.
    pub presign_per_token_per_sec: u32,
    /// Failed authentications (bad token, bad signature) one client address
    /// may make per second (bursts up to ten times that); beyond it, its
    /// requests that fail authentication are answered 429 until it slows
    /// down. A request with valid credentials is never refused for this,
    /// from any address. 0 = no limit.
    pub auth_failures_per_sec: u32,
    /// On SIGTERM or Ctrl-C, how long requests in flight (uploads) may go
    /// on after the gateway stops accepting; the rest are then cut off,
    /// their temp files removed.
    pub shutdown_grace: std::time::Duration,
    /// Who "one client" is. Reverse proxies whose `X-Forwarded-For` (or
    /// `Forwarded`) header is believed: a request from one of these
    /// addresses is taken to come from the address the proxies forwarded
    /// (the rightmost one that is not itself a trusted proxy), for the
    /// per-client limits and the access log. Empty (the default): every
    /// client is its TCP peer, and those headers are ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// A form upload (POST Object) is read before it is authenticated, up
    /// to its signature: those fields must all arrive within this time
    /// (at most 60 s), or the client is answered 400 RequestTimeout and
    /// nothing is stored. The file after them has no such limit.
    pub form_fields_timeout: std::time::Duration,
    /// …and, once [`FORM_FIELDS_RATE_GRACE_SECS`] have passed, at an
    /// average of at least this many bytes per second since the body
    /// began. 0 = no minimum (the timeout alone).
    pub form_fields_min_bytes_per_sec: u64,
}

/// Default idle timeout of a connection.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default time allowed for a request's headers.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Default limit of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1024;
/// Default limit of header fields in one request.
pub const DEFAULT_MAX_HEADERS: u64 = 100;
/// Default presign rate of one token.
pub const DEFAULT_PRESIGN_PER_TOKEN_PER_SEC: u64 = 1000;
/// Default time uploads in flight get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// Default rate of failed authentications from one address.
pub const DEFAULT_AUTH_FAILURES_PER_SEC: u64 = 10;
/// Default time allowed for the fields of a form upload before its
/// signature.
pub const DEFAULT_FORM_FIELDS_TIMEOUT_SECS: u64 = 20;
/// Longest time that may be configured for them: a connection held that
/// long by a client nobody has authenticated is already generous.
pub const MAX_FORM_FIELDS_TIMEOUT_SECS: u64 = 60;
/// Default least average rate of those fields.
pub const DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC: u64 = 1024;
/// Time a form's fields get before their rate is held to the minimum, so
/// a client that pauses at the start (a slow network's first round trips)
/// is not cut off for it.
pub const FORM_FIELDS_RATE_GRACE_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Make every acknowledged write durable (fsync of data, directory and
    /// SQLite WAL). `false` is for throwaway dev/CI data only: a power cut
    /// can then lose uploads that were answered 200.
    pub fsync: bool,
    /// Free space the gateway keeps on its disk: an upload that would
    /// leave less is refused up front (507), and one that reaches it while
    /// streaming stops, so the index and the system always have room.
    pub reserve_bytes: u64,
}

/// Default free-space reserve: 256 MiB.
pub const DEFAULT_RESERVE_BYTES: u64 = 256 << 20;

#[derive(Clone)]
pub struct S3Config {
    /// Region in the credential scope of every signature.
    pub region: String,
    /// The one bucket presigned URLs point into.
    pub bucket: String,
    /// Explicit key pair; `None` means generate once and keep in the data dir.
    pub credentials: Option<Credentials>,
    /// Multipart uploads neither completed nor aborted this long after they
    /// began are aborted by the sweep, freeing their parts' disk space.
    pub abandoned_multipart_secs: u64,
    /// Buckets anyone may read without signing (GET/HEAD of objects and
    /// listings), for sites that serve files to the public. Writes always
    /// need a signature.
    pub public_read: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Largest upload accepted, in bytes.
    pub max_size: u64,
    /// Lifetime of a presigned URL in seconds (1..=604800, SigV4's limit).
    pub presign_expiry_secs: u64,
    /// Link a new id to an already-stored blob with the same hash and size
    /// instead of asking the client to send the bytes again.
    pub dedupe: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_ref().map(|u| &u.base))
            .field("data_dir", &self.data_dir)
            .field("region", &self.s3.region)
            .field("bucket", &self.s3.bucket)
            .field(
                "access_key_id",
                &self.s3.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .field("upload", &self.upload)
            .field("index", &self.index)
            .finish()
    }
}

/// An address range, `192.168.0.0/16` or `fd00::/8` (a bare address is a
/// range of one), as `trusted_proxies` lists them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The first address of the range (host bits cleared).
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`. IPv4 addresses written as IPv6
    /// (`::ffff:10.0.0.1`) are taken as IPv4, as peers are compared.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr_s
            .parse()
            .map_err(|_| format!("'{s}' is not an address or range like 10.0.0.0/8 or fd00::/8"))?;
        let addr = addr.to_canonical();
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}' has a prefix length outside 0..={max}"))?,
        };
        Ok(IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The PEM files HTTPS is served with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A base URL with only scheme and authority, as presigned URLs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://authority`, no trailing slash, default port dropped.
    pub base: String,
    /// The authority a client will send as `Host` for this URL.
    pub host: String,
}

impl PublicUrl {
    /// Parses `http(s)://host[:port][/]`. A path prefix is refused: the
    /// signature covers the path the gateway receives, so a proxy that strips
    /// a prefix would break every URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("'{s}' is not a URL; expected e.g. http://files.example:8080")
        })?;
        let default_port = match scheme {
            "http" => "80",
            "https" => "443",
            _ => return Err(format!("scheme '{scheme}' is not http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err("the URL has no host".into());
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(
                "the URL must be only scheme://host[:port], without path, query or user".into(),
            );
        }
        // Clients omit a default port from Host, so the signed host must too.
        let host = match authority.rsplit_once(':') {
            // A ']' after the last ':' means a bare IPv6 literal, no port.
            Some((h, port)) if !port.contains(']') => {
                if port.parse::<u16>().is_err() {
                    return Err(format!("port '{port}' is not a number"));
                }
                if port == default_port {
                    h.to_string()
                } else {
                    authority.to_string()
                }
            }
            _ => authority.to_string(),
        };
        Ok(PublicUrl {
            base: format!("{scheme}://{host}"),
            host,
        })
    }

    /// The public URL for a server bound at `addr` with no configured URL
    /// (`https` when it serves TLS).
    pub fn from_addr(addr: SocketAddr, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        PublicUrl {
            base: format!("{scheme}://{addr}"),
            host: addr.to_string(),
        }
    }
}

impl Config {
    /// Loads `path` (a missing file is an error only when `explicit`), then
    /// applies `env` (`STOWAGE_*` lookups) and `overrides`.
    pub fn load(
        path: &Path,
        explicit: bool,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => parse_file(&text).map_err(|message| ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                FileConfig::default()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Self::resolve(file, env, overrides)
    }

    /// Parses a config from TOML text (used by tests).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file = parse_file(text).map_err(|message| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message,
        })?;
        Self::resolve(file, |_| None, &Overrides::default())
    }

    fn resolve(
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let pick = |key: &'static str, file_value: Option<String>| -> Option<String> {
            env(&env_name(key)).or(file_value)
        };

        let listen_s = overrides
            .listen
            .clone()
            .or_else(|| pick("listen", file.listen.clone()))
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_s.parse().map_err(|_| {
            invalid(
                "listen",
                format!("'{listen_s}' is not an address like 127.0.0.1:8080"),
            )
        })?;

        let public_url = pick("public_url", file.public_url)
            .filter(|s| !s.is_empty())
            .map(|s| PublicUrl::parse(&s).map_err(|m| invalid("public_url", m)))
            .transpose()?;
        if public_url.is_none() && listen.ip().is_unspecified() {
            // http://0.0.0.0:8080 in a URL reaches nobody, and the host is
            // signed, so clients could not even correct it by hand.
            return Err(invalid(
                "public_url",
                format!(
                    "must be set when listening on the wildcard address {listen}: it is the \
                     URL clients use to reach this gateway, e.g. http://192.168.1.20:{}",
                    listen.port()
                ),
            ));
        }

        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| env(&env_name("data_dir")).map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }

        let tls_cert = env(&env_name("tls_cert"))
            .map(PathBuf::from)
            .or(file.tls_cert)
            .filter(|p| !p.as_os_str().is_empty());
        let tls_key = env(&env_name("tls_key"))
            .map(PathBuf::from)
            .or(file.tls_key)
            .filter(|p| !p.as_os_str().is_empty());
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "tls_key",
                    "is required when tls_cert is set (the PEM file of the certificate's key)",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_cert",
                    "is required when tls_key is set (the PEM file of the certificate chain)",
                ))
            }
        };
        let plain_url = public_url
            .as_ref()
            .is_some_and(|u| !u.base.starts_with("https://"));
        if tls.is_some() && plain_url {
            return Err(invalid(
                "public_url",
                "must be an https:// URL when the gateway serves TLS itself (tls_cert)",
            ));
        }

        let region = pick("s3.region", file.s3.region).unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "s3.region",
                format!("'{region}' is not a region name like us-east-1"),
            ));
        }
        let bucket = pick("s3.bucket", file.s3.bucket).unwrap_or_else(|| "uploads".into());
        validate_bucket(&bucket).map_err(|m| invalid("s3.bucket", m))?;

        let key_id = pick("s3.access_key_id", file.s3.access_key_id).filter(|s| !s.is_empty());
        let secret =
            pick("s3.secret_access_key", file.s3.secret_access_key).filter(|s| !s.is_empty());
        let credentials = match (key_id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => {
                if !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid(
                        "s3.access_key_id",
                        "must be letters and digits only",
                    ));
                }
                if secret_access_key.len() < 16 || secret_access_key.contains(char::is_whitespace) {
                    // The value itself is never echoed: it is a secret.
                    return Err(invalid(
                        "s3.secret_access_key",
                        "must be at least 16 characters without spaces",
                    ));
                }
                Some(Credentials {
                    access_key_id,
                    secret_access_key,
                })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "s3.secret_access_key",
                    "is required when s3.access_key_id is set (or remove both to generate a pair)",
                ))
            }
            (None, Some(_)) => return Err(invalid(
                "s3.access_key_id",
                "is required when s3.secret_access_key is set (or remove both to generate a pair)",
            )),
        };

        let abandoned_multipart_secs = parse_u64(
            "s3.abandoned_multipart_secs",
            &env,
            file.s3.abandoned_multipart_secs,
        )?
        .unwrap_or(DEFAULT_ABANDONED_MULTIPART_SECS);
        if abandoned_multipart_secs == 0 {
            return Err(invalid(
                "s3.abandoned_multipart_secs",
                "must be greater than 0",
            ));
        }
        let public_read = file.s3.public_read.unwrap_or_default();
        for b in &public_read {
            validate_bucket(b).map_err(|m| invalid("s3.public_read", m))?;
        }
        let max_size =
            parse_u64("upload.max_size", &env, file.upload.max_size)?.unwrap_or(DEFAULT_MAX_SIZE);
        if max_size == 0 {
            return Err(invalid("upload.max_size", "must be greater than 0"));
        }
        let presign_expiry_secs = parse_u64(
            "upload.presign_expiry_secs",
            &env,
            file.upload.presign_expiry_secs,
        )?
        .unwrap_or(DEFAULT_PRESIGN_EXPIRY_SECS);
        if !(1..=crate::sigv4::MAX_EXPIRES_SECS).contains(&presign_expiry_secs) {
            return Err(invalid(
                "upload.presign_expiry_secs",
                format!(
                    "{presign_expiry_secs} is outside 1..={} (SigV4 allows at most 7 days)",
                    crate::sigv4::MAX_EXPIRES_SECS
                ),
            ));
        }
        let fsync = parse_bool("storage.fsync", &env, file.storage.fsync)?.unwrap_or(true);
        let limits = resolve_limits(&file.limits, &env)?;
        let cors = resolve_cors(file.cors)?;
        let metrics = match pick("metrics.access", file.metrics.access).as_deref() {
            None | Some("token") => MetricsAccess::Token,
            Some("open") => MetricsAccess::Open,
            Some("off") => MetricsAccess::Off,
            Some(other) => {
                return Err(invalid(
                    "metrics.access",
                    format!("'{other}' is not one of token, open, off"),
                ))
            }
        };
        let reserve_bytes = parse_u64("storage.reserve_bytes", &env, file.storage.reserve_bytes)?
            .unwrap_or(DEFAULT_RESERVE_BYTES);
        let dedupe = parse_bool("upload.dedupe", &env, file.upload.dedupe)?.unwrap_or(true);
        let index = resolve_index(
            pick("index.backend", file.index.backend),
            pick("index.url", file.index.url),
        )?;

        Ok(Config {
            listen,
            public_url,
            data_dir,
            tls,
            s3: S3Config {
                region,
                bucket,
                credentials,
                abandoned_multipart_secs,
                public_read,
            },
            storage: StorageConfig {
                fsync,
                reserve_bytes,
            },
            limits,
            cors,
            metrics,
            index,
            upload: UploadConfig {
                max_size,
                presign_expiry_secs,
                dedupe,
            },
        })
    }

    /// The configured key pair, or the one generated on first start and kept
    /// in `data_dir/s3-credentials.json` (mode 0600).
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        if let Some(c) = &self.s3.credentials {
            return Ok(c.clone());
        }
        load_or_create_credentials(&self.data_dir)
    }
}

/// Parses the file, naming the key of any error (`upload.max_size: invalid
/// type: string "5G", expected u64`).
fn parse_file(text: &str) -> Result<FileConfig, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = inner
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        if path == "." || path.is_empty() {
            format!("{}{at}", inner.message())
        } else {
            format!("`{path}`: {}{at}", inner.message())
        }
    })
}

/// `[index] backend` and `url` (or `STOWAGE_INDEX_BACKEND`,
/// `STOWAGE_INDEX_URL`). A URL without `backend = "postgres"` is refused
/// rather than ignored: an operator who names a server means to use it.
/// The URL is never echoed (it may hold a password).
fn resolve_index(backend: Option<String>, url: Option<String>) -> Result<IndexConfig, ConfigError> {
    let url = url.filter(|u| !u.trim().is_empty());
    match (backend.as_deref().map(str::trim), url) {
        (None | Some("" | "sqlite"), None) => Ok(IndexConfig::Sqlite),
        (None | Some("" | "sqlite"), Some(_)) => Err(invalid(
            "index.url",
            "is set, but index.backend is not \"postgres\": set backend = \"postgres\" to use \
             that server, or remove url to keep the index in the data dir (SQLite)",
        )),
        (Some("postgres"), None) => Err(invalid(
            "index.url",
            "is required with backend = \"postgres\" (e.g. postgresql://stowage@127.0.0.1:5432/stowage)",
        )),
        (Some("postgres"), Some(url)) => {
            if let Err(e) = url.parse::<tokio_postgres::Config>() {
                // The parser's message names what is wrong, not the value.
                return Err(invalid(
                    "index.url",
                    format!(
                        "is not a PostgreSQL connection URL like \
                         postgresql://user@host:port/db ({e})"
                    ),
                ));
            }
            Ok(IndexConfig::Postgres { url })
        }
        (Some(other), _) => Err(invalid(
            "index.backend",
            format!("'{other}' is not one of sqlite, postgres"),
        )),
    }
}

fn resolve_cors(file: FileCors) -> Result<Option<CorsDefault>, ConfigError> {
    let origins = file.allowed_origins.unwrap_or_default();
    if origins.is_empty() {
        return Ok(None);
    }
    if let Some(o) = origins.iter().find(|o| o.matches('*').count() > 1) {
        return Err(invalid(
            "cors.allowed_origins",
            format!("'{o}' has more than one '*' wildcard"),
        ));
    }
    let methods = file
        .allowed_methods
        .unwrap_or_else(|| ["GET", "PUT", "POST", "HEAD"].map(String::from).to_vec());
    if let Some(m) = methods
        .iter()
        .find(|m| !["GET", "PUT", "POST", "HEAD", "DELETE"].contains(&m.as_str()))
    {
        return Err(invalid(
            "cors.allowed_methods",
            format!("'{m}' is not one of GET, PUT, POST, HEAD, DELETE"),
        ));
    }
    Ok(Some(CorsDefault {
        allowed_origins: origins,
        allowed_methods: methods,
        allowed_headers: file.allowed_headers.unwrap_or_else(|| vec!["*".into()]),
        expose_headers: file
            .expose_headers
            .unwrap_or_else(|| vec!["ETag".into(), "x-amz-request-id".into()]),
        max_age_secs: file.max_age_secs.unwrap_or(3600),
    }))
}

fn resolve_limits(
    file: &FileLimits,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<LimitsConfig, ConfigError> {
    let secs = |key: &'static str, v: Option<u64>, default: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        if !(1..=86_400).contains(&v) {
            return Err(invalid(key, format!("{v} is outside 1..=86400 seconds")));
        }
        Ok(std::time::Duration::from_secs(v))
    };
    let count = |key: &'static str, v: Option<u64>, default: u64, max: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        if !(1..=max).contains(&v) {
            return Err(invalid(key, format!("{v} is outside 1..={max}")));
        }
        Ok(v)
    };
    let rate = |key: &'static str, v: Option<u64>, default: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        u32::try_from(v)
            .map_err(|_| invalid(key, format!("{v} is too large (0 turns the limit off)")))
    };
    Ok(LimitsConfig {
        idle_timeout: secs(
            "limits.idle_timeout_secs",
            file.idle_timeout_secs,
            DEFAULT_IDLE_TIMEOUT_SECS,
        )?,
        header_timeout: secs(
            "limits.header_timeout_secs",
            file.header_timeout_secs,
            DEFAULT_HEADER_TIMEOUT_SECS,
        )?,
        max_connections: count(
            "limits.max_connections",
            file.max_connections,
            DEFAULT_MAX_CONNECTIONS,
            1_000_000,
        )? as usize,
        max_headers: count(
            "limits.max_headers",
            file.max_headers,
            DEFAULT_MAX_HEADERS,
            10_000,
        )? as usize,
        presign_per_token_per_sec: rate(
            "limits.presign_per_token_per_sec",
            file.presign_per_token_per_sec,
            DEFAULT_PRESIGN_PER_TOKEN_PER_SEC,
        )?,
        auth_failures_per_sec: rate(
            "limits.auth_failures_per_sec",
            file.auth_failures_per_sec,
            DEFAULT_AUTH_FAILURES_PER_SEC,
        )?,
        shutdown_grace: secs(
            "limits.shutdown_grace_secs",
            file.shutdown_grace_secs,
            DEFAULT_SHUTDOWN_GRACE_SECS,
        )?,
        trusted_proxies: match env(&env_name("limits.trusted_proxies")) {
            // The environment lists them comma-separated.
            Some(v) => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
                .collect(),
            None => file.trusted_proxies.clone().unwrap_or_default(),
        }
        .iter()
        .map(|s| IpNet::parse(s).map_err(|m| invalid("limits.trusted_proxies", m)))
        .collect::<Result<Vec<_>, _>>()?,
        form_fields_timeout: std::time::Duration::from_secs(count(
            "limits.form_fields_timeout_secs",
            file.form_fields_timeout_secs,
            DEFAULT_FORM_FIELDS_TIMEOUT_SECS,
            MAX_FORM_FIELDS_TIMEOUT_SECS,
        )?),
        form_fields_min_bytes_per_sec: parse_u64(
            "limits.form_fields_min_bytes_per_sec",
            env,
            file.form_fields_min_bytes_per_sec,
        )?
        .unwrap_or(DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC),
    })
}

/// `s3.access_key_id` → `STOWAGE_S3_ACCESS_KEY_ID`.
pub fn env_name(key: &str) -> String {
    format!("STOWAGE_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn parse_u64(
    key: &'static str,
    env: &impl Fn(&str) -> Option<String>,
    file_value: Option<u64>,
) -> Result<Option<u64>, ConfigError> {
    match env(&env_name(key)) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid(key, format!("'{v}' is not a non-negative integer"))),
        None => Ok(file_value),
    }
}

fn parse_bool(
    key: &'static str,
    env: &impl Fn(&str) -> Option<String>,
    file_value: Option<bool>,
) -> Result<Option<bool>, ConfigError> {
    match env(&env_name(key)) {
        Some(v) => match v.trim() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(invalid(key, format!("'{v}' is not true or false"))),
        },
        None => Ok(file_value),
    }
}

/// S3's bucket naming rules (the subset that matters for path-style URLs).
pub fn validate_bucket(b: &str) -> Result<(), String> {
    let ok_chars = b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
    let edges_ok = b
        .bytes()
        .next()
        .zip(b.bytes().last())
        .is_some_and(|(f, l)| f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric());
    if (3..=63).contains(&b.len()) && ok_chars && edges_ok && !b.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "'{b}' is not a valid bucket name (3-63 lowercase letters, digits, '-' or '.')"
        ))
    }
}

#[derive(serde::Serialize, Deserialize)]
struct StoredCredentials {
    access_key_id: String,
    secret_access_key: String,
}

/// A new random key pair, AWS-shaped: 20 uppercase alphanumerics for the
/// id, 44 characters of secret.
pub fn generate_credentials() -> Credentials {
    let mut id_bytes = [0u8; 10];
    let mut secret_bytes = [0u8; 32];
    crate::random::fill(&mut id_bytes);
    crate::random::fill(&mut secret_bytes);
    use base64::Engine;
    Credentials {
        access_key_id: format!("STW{}", hex::encode_upper(&id_bytes[..]))[..20].to_string(),
        secret_access_key: base64::engine::general_purpose::STANDARD.encode(secret_bytes),
    }
}

fn load_or_create_credentials(data_dir: &Path) -> Result<Credentials, ConfigError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let err = |message: String| ConfigError::Credentials {
        path: path.clone(),
        message,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            // A secret others can read is a leaked secret: refuse to run on
            // it rather than sign with it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| err(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(err(format!(
                        "it is readable by other users (mode {:o}); it holds the S3 secret key: \
                         run `chmod 600 {}` (and consider the key leaked: remove the file to \
                         generate a new pair)",
                        mode & 0o777,
                        path.display()
                    )));
                }
            }
            let c: StoredCredentials = serde_json::from_slice(&bytes).map_err(|_| {
                err("not valid JSON with access_key_id and secret_access_key".into())
            })?;
            return Ok(Credentials {
                access_key_id: c.access_key_id,
                secret_access_key: c.secret_access_key,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let fresh = generate_credentials();
    let stored = StoredCredentials {
        access_key_id: fresh.access_key_id,
        secret_access_key: fresh.secret_access_key,
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| err(e.to_string()))?;
    crate::store::fsutil::write_private_file(&path, &json).map_err(|e| err(e.to_string()))?;
    Ok(Credentials {
        access_key_id: stored.access_key_id,
        secret_access_key: stored.secret_access_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn credentials_are_created_private_and_refused_when_others_can_read_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_credentials(dir.path()).unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Read back as it was written.
        let again = load_or_create_credentials(dir.path()).unwrap();
        assert_eq!(again.access_key_id, first.access_key_id);
        for bad in [0o644, 0o604, 0o640] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
            let e = load_or_create_credentials(dir.path())
                .unwrap_err()
                .to_string();
            assert!(e.contains("chmod 600"), "{e}");
            assert!(!e.contains(&first.secret_access_key), "{e}");
        }
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.s3.region, "us-east-1");
        assert_eq!(c.s3.bucket, "uploads");
        assert_eq!(c.upload.max_size, DEFAULT_MAX_SIZE);
        assert_eq!(c.upload.presign_expiry_secs, 900);
        assert!(c.upload.dedupe);
        assert!(c.storage.fsync, "durable must be the default");
        assert!(c.public_url.is_none());
        assert_eq!(c.limits.idle_timeout.as_secs(), DEFAULT_IDLE_TIMEOUT_SECS);
        assert_eq!(c.limits.max_connections as u64, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(
            u64::from(c.limits.presign_per_token_per_sec),
            DEFAULT_PRESIGN_PER_TOKEN_PER_SEC
        );
    }

    #[test]
    fn the_shipped_config_file_parses_and_states_the_defaults() {
        let shipped = Config::from_toml(include_str!("../config.toml")).unwrap();
        let empty = Config::from_toml("").unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{empty:?}"));
        assert_eq!(
            format!("{:?}", shipped.limits),
            format!("{:?}", empty.limits)
        );
    }

    #[test]
    fn limits_are_checked() {
        for (text, key) in [
            (
                "[limits]\nidle_timeout_secs = 0",
                "limits.idle_timeout_secs",
            ),
            ("[limits]\nmax_connections = 0", "limits.max_connections"),
            ("[limits]\nmax_headers = 0", "limits.max_headers"),
            (
                "[limits]\npresign_per_token_per_sec = 99999999999",
                "limits.presign_per_token_per_sec",
            ),
        ] {
            let e = Config::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let c = Config::from_toml("[limits]\npresign_per_token_per_sec = 0").unwrap();
        assert_eq!(c.limits.presign_per_token_per_sec, 0);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_from_file_or_env() {
        let c = Config::from_toml("").unwrap();
        assert!(
            c.limits.trusted_proxies.is_empty(),
            "nobody is trusted by default"
        );
        let c = Config::from_toml(
            "[limits]\ntrusted_proxies = ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', \
             '::ffff:192.168.1.1']",
        )
        .unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = |s: &str| c.limits.trusted_proxies.iter().any(|n| n.contains(ip(s)));
        assert!(trusted("127.0.0.1"));
        assert!(trusted("::ffff:127.0.0.1"), "a v4 peer on a v6 socket");
        assert!(!trusted("127.0.0.2"));
        assert!(trusted("10.200.3.4"));
        assert!(!trusted("11.0.0.1"));
        assert!(trusted("fd12:3456::1"));
        assert!(!trusted("fe80::1"));
        assert!(trusted("192.168.1.1"));
        // Host bits in a range are cleared; /0 is everyone of that family.
        let n = IpNet::parse("10.1.2.3/8").unwrap();
        assert_eq!(format!("{n:?}"), "10.0.0.0/8");
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!IpNet::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        for bad in [
            "nope",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "10.0.0.0/",
            "",
        ] {
            let e =
                Config::from_toml(&format!("[limits]\ntrusted_proxies = ['{bad}']")).unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::Invalid {
                        key: "limits.trusted_proxies",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
        let env = |k: &str| {
            (k == "STOWAGE_LIMITS_TRUSTED_PROXIES")
                .then(|| "127.0.0.1, 192.168.0.0/16,".to_string())
        };
        let file = FileConfig {
            limits: FileLimits {
                trusted_proxies: Some(vec!["10.0.0.1".into()]),
                ..Default::default()
            },
            ..Default::default()
        };
        let c = Config::resolve(file, env, &Overrides::default()).unwrap();
        assert_eq!(
            format!("{:?}", c.limits.trusted_proxies),
            "[127.0.0.1/32, 192.168.0.0/16]"
        );
    }

    #[test]
    fn form_fields_limits_are_checked() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(
            c.limits.form_fields_timeout.as_secs(),
            DEFAULT_FORM_FIELDS_TIMEOUT_SECS
        );
        assert_eq!(
            c.limits.form_fields_min_bytes_per_sec,
            DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC
        );
        for bad in [0, 61, 3600] {
            let e = Config::from_toml(&format!("[limits]\nform_fields_timeout_secs = {bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("limits.form_fields_timeout_secs"), "{e}");
        }
        let c = Config::from_toml(
            "[limits]\nform_fields_timeout_secs = 60\nform_fields_min_bytes_per_sec = 0",
        )
        .unwrap();
        assert_eq!(c.limits.form_fields_timeout.as_secs(), 60);
        assert_eq!(c.limits.form_fields_min_bytes_per_sec, 0);
    }

    #[test]
    fn invalid_values_name_their_key() {
        for (toml, key) in [
            ("listen = 'nope'", "listen"),
            ("public_url = 'ftp://x'", "public_url"),
            ("public_url = 'http://x/prefix'", "public_url"),
            ("[s3]\nbucket = 'A'", "s3.bucket"),
            ("[s3]\nregion = 'US EAST'", "s3.region"),
            ("[s3]\naccess_key_id = 'AKID'", "s3.secret_access_key"),
            (
                "[upload]\npresign_expiry_secs = 604801",
                "upload.presign_expiry_secs",
            ),
            ("[upload]\nmax_size = 0", "upload.max_size"),
        ] {
            match Config::from_toml(toml) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{toml}"),
                other => panic!("{toml}: expected invalid {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn type_errors_name_the_key() {
        let e = Config::from_toml("[upload]\nmax_size = \"5G\"").unwrap_err();
        assert!(e.to_string().contains("`upload.max_size`"), "{e}");
        let e = Config::from_toml("listen = 8080").unwrap_err();
        assert!(e.to_string().contains("`listen`"), "{e}");
    }

    #[test]
    fn wildcard_listen_needs_a_public_url() {
        let e = Config::from_toml("listen = '0.0.0.0:8080'").unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "public_url",
                    ..
                }
            ),
            "{e}"
        );
        let c = Config::from_toml("listen = '0.0.0.0:8080'\npublic_url = 'http://10.1.2.3:8080'")
            .unwrap();
        assert_eq!(c.public_url.unwrap().host, "10.1.2.3:8080");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::from_toml("[upload]\nmax_sise = 3").unwrap_err();
        assert!(e.to_string().contains("max_sise"), "{e}");
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let env = |k: &str| match k {
            "STOWAGE_LISTEN" => Some("127.0.0.1:9000".to_string()),
            "STOWAGE_UPLOAD_MAX_SIZE" => Some("1024".to_string()),
            "STOWAGE_S3_BUCKET" => Some("photos".to_string()),
            _ => None,
        };
        let file = FileConfig {
            listen: Some("127.0.0.1:7000".into()),
            ..Default::default()
        };
        let c = Config::resolve(file, env, &Overrides::default()).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.upload.max_size, 1024);
        assert_eq!(c.s3.bucket, "photos");
        let flags = Overrides {
            listen: Some("127.0.0.1:9500".into()),
            data_dir: None,
        };
        let c = Config::resolve(FileConfig::default(), env, &flags).unwrap();
        assert_eq!(c.listen.port(), 9500);
        let relaxed = |k: &str| (k == "STOWAGE_STORAGE_FSYNC").then(|| "false".to_string());
        let c = Config::resolve(FileConfig::default(), relaxed, &Overrides::default()).unwrap();
        assert!(!c.storage.fsync);
    }

    #[test]
    fn the_index_backend_comes_from_file_or_env_and_its_url_is_never_shown() {
        assert_eq!(Config::from_toml("").unwrap().index, IndexConfig::Sqlite);
        let url = "postgresql://stowage:s3cret@db.example:5432/stowage";
        let c = Config::from_toml(&format!("[index]\nbackend = \"postgres\"\nurl = \"{url}\""))
            .unwrap();
        assert_eq!(c.index, IndexConfig::Postgres { url: url.into() });
        assert!(!format!("{:?}", c.index).contains("s3cret"));
        let env = |k: &str| match k {
            "STOWAGE_INDEX_BACKEND" => Some("postgres".to_string()),
            "STOWAGE_INDEX_URL" => Some("postgresql://u@127.0.0.1:5433/db".to_string()),
            _ => None,
        };
        let c = Config::resolve(FileConfig::default(), env, &Overrides::default()).unwrap();
        assert_eq!(
            c.index,
            IndexConfig::Postgres {
                url: "postgresql://u@127.0.0.1:5433/db".into()
            }
        );
        // Each mistake names its key, never the URL.
        for (toml, key) in [
            ("[index]\nbackend = \"mysql\"", "`index.backend`"),
            ("[index]\nbackend = \"postgres\"", "`index.url`"),
            ("[index]\nurl = \"postgresql://u:pw@h/db\"", "`index.url`"),
            (
                "[index]\nbackend = \"postgres\"\nurl = \"postgresql://u:pw@h:notaport/db\"",
                "`index.url`",
            ),
        ] {
            let e = Config::from_toml(toml).unwrap_err().to_string();
            assert!(e.contains(key), "{toml}: {e}");
            assert!(!e.contains("pw"), "{toml}: {e}");
        }
    }

    #[test]
    fn public_url_drops_default_port_and_slash() {
        let u = PublicUrl::parse("http://files.example:80/").unwrap();
        assert_eq!(u.base, "http://files.example");
        assert_eq!(u.host, "files.example");
        let u = PublicUrl::parse("https://10.0.0.5:8443").unwrap();
        assert_eq!(u.host, "10.0.0.5:8443");
        assert!(PublicUrl::parse("http://h:x").is_err());
    }

    #[test]
    fn generated_credentials_are_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_credentials(dir.path()).unwrap();
        let b = load_or_create_credentials(dir.path()).unwrap();
        assert_eq!(a.access_key_id, b.access_key_id);
        assert_eq!(a.secret_access_key, b.secret_access_key);
        assert_eq!(a.access_key_id.len(), 20);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
