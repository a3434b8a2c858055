//! The upload client in the same binary: `stowage upload` and `stowage
//! download`, speaking only the public JSON API and the presigned URLs it
//! hands out — exactly what any other client could do.
//!
//! # Layout
//!
//! - [`http`]: one HTTP(S) client with retries and backoff (connection
//!   errors, 5xx, 429), a stall watchdog, file bodies streamed from disk
//!   with progress and an optional rate limit, and API errors read into
//!   words a person can act on.
//! - [`progress`]: bars per file and overall on a terminal (indicatif),
//!   plain lines otherwise.
//! - [`upload`]: files and folders; hashing, ids, presign / PUT / complete,
//!   and the part-wise path that resumes a large file.
//! - [`download`]: one file by id, resumed with `Range` after a broken
//!   link, its SHA-256 checked before it gets its name.
//!
//! Where the server and token come from: flags, then `STOWAGE_SERVER` /
//! `STOWAGE_TOKEN`, then the user config file ([`Target::resolve`]). The
//! token is never printed, logged or put in a URL.

pub mod download;
pub mod http;
pub mod progress;
pub mod upload;

use std::path::PathBuf;

/// What went wrong for one file (or before any): each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A setting is missing or malformed.
    #[error("{0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached (after the retries).
    #[error("cannot reach {server}: {detail}")]
    Unreachable { server: String, detail: String },
    /// The server refused, with its own code and description.
    #[error("the server answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The bytes are not what they should be.
    #[error("{0}")]
    Integrity(String),
}

impl ClientError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The gateway to talk to and the token to show it.
#[derive(Clone)]
pub struct Target {
    /// Base URL, without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// An API bearer token (scopes `upload` and/or `read`).
    pub token: String,
}

impl std::fmt::Debug for Target {
    // Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The user config file: `$XDG_CONFIG_HOME/stowage/client.toml`, else
/// `~/.config/stowage/client.toml`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(x).join("stowage").join("client.toml"));
    }
    env("HOME")
        .filter(|s| !s.is_empty())
        .map(|h| PathBuf::from(h).join(".config/stowage/client.toml"))
}

/// The keys the user config file may hold.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    server: Option<String>,
    token: Option<String>,
}

/// The server when nothing says otherwise: `stowage serve`'s default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

impl Target {
    /// Flags (clap already folds `STOWAGE_SERVER` / `STOWAGE_TOKEN` into
    /// them), then the user config file, then the default server. A token
    /// is required.
    pub fn resolve(
        server: Option<String>,
        token: Option<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Target, ClientError> {
        let path = config_path(env);
        let file = match &path {
            Some(p) if server.is_none() || token.is_none() => read_settings(p)?,
            _ => FileSettings::default(),
        };
        let server = server
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let server = server.trim().trim_end_matches('/').to_string();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "the server '{server}' must be a URL starting with http:// or https://"
            )));
        }
        let token = token.or(file.token).filter(|t| !t.trim().is_empty());
        let Some(token) = token else {
            return Err(ClientError::Config(format!(
                "no API token: pass --token, set STOWAGE_TOKEN, or put `token = \"stw_…\"` in {} \
                 (`stowage token create --name NAME` makes one on the server)",
                path.map_or("the user config file".into(), |p| p.display().to_string())
            )));
        };
        Ok(Target {
            server,
            token: token.trim().to_string(),
        })
    }

    /// `{server}/api/inspect/v1/{rest}`.
    pub fn api(&self, rest: &str) -> String {
        format!("{}/api/inspect/v1/{rest}", self.server)
    }
}

fn read_settings(path: &std::path::Path) -> Result<FileSettings, ClientError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileSettings::default()),
        Err(e) => return Err(ClientError::io(path, e)),
    };
    toml::from_str(&text)
        .map_err(|e| ClientError::Config(format!("{}: {}", path.display(), e.message())))
}

/// Parses a byte count with an optional binary suffix: `5242880`, `512K`,
/// `16M`, `1G` (also `16MiB`, `16MB`: all powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 16M"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("'{s}': unknown unit (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// `12.3 MiB`-style sizes for people.
pub fn human(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("5242880"), Ok(5 << 20));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn flags_win_then_the_file_then_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("stowage");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("client.toml"),
            "server = \"https://gw.example/\"\ntoken = \"stw_file\"\n",
        )
        .unwrap();
        let xdg = dir.path().to_str().unwrap().to_string();
        let env = move |k: &str| (k == "XDG_CONFIG_HOME").then(|| xdg.clone());

        let t = Target::resolve(None, None, &env).unwrap();
        assert_eq!(
            (t.server.as_str(), t.token.as_str()),
            ("https://gw.example", "stw_file")
        );
        let t = Target::resolve(Some("http://10.0.0.2:8080".into()), None, &env).unwrap();
        assert_eq!(
            (t.server.as_str(), t.token.as_str()),
            ("http://10.0.0.2:8080", "stw_file")
        );
        let t = Target::resolve(None, Some("stw_flag".into()), &env).unwrap();
        assert_eq!(
            (t.server.as_str(), t.token.as_str()),
            ("https://gw.example", "stw_flag")
        );

        // No file, no token: an error that says where a token can come from.
        let none = env_of(&[("HOME", "/nonexistent-home")]);
        let e = Target::resolve(None, None, &none).unwrap_err().to_string();
        assert!(e.contains("STOWAGE_TOKEN") && e.contains("--token"), "{e}");
        let t = Target::resolve(None, Some("stw_x".into()), &none).unwrap();
        assert_eq!(t.server, DEFAULT_SERVER);
        // Debug output never shows the token.
        assert!(!format!("{t:?}").contains("stw_x"));
    }

    #[test]
    fn a_bad_config_file_or_server_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("stowage");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("client.toml"), "sever = \"typo\"\n").unwrap();
        let xdg = dir.path().to_str().unwrap().to_string();
        let env = move |k: &str| (k == "XDG_CONFIG_HOME").then(|| xdg.clone());
        let e = Target::resolve(None, Some("t".into()), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("client.toml") && e.contains("sever"), "{e}");
        let e = Target::resolve(Some("ftp://x".into()), Some("t".into()), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("http://"), "{e}");
    }
}
