//! `[index]`: which backend keeps the index — SQLite in the data dir (the
//! default) or a PostgreSQL server by its URL.
//!
//! Owns choosing the backend and checking that a URL is one PostgreSQL can
//! connect with, and naming the index to an operator. Must never show the
//! URL itself, which may hold a password: not in `Debug`, not in an error,
//! not in [`IndexConfig::describe`]. Must never connect: the index does.

use std::fmt;
use std::path::Path;

use tokio_postgres::config::Host;

use super::error::{invalid, ConfigError};

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

impl IndexConfig {
    /// The index as an operator knows it, for messages: `SQLite index in
    /// data dir ./data`, `PostgreSQL index stowage@db.example:5432/stowage`
    /// (user, hosts, ports and database of the URL; never its password or
    /// other parameters).
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            IndexConfig::Sqlite => format!("SQLite index in data dir {}", data_dir.display()),
            IndexConfig::Postgres { url } => match url.parse::<tokio_postgres::Config>() {
                Ok(c) => format!("PostgreSQL index {}", postgres_place(&c)),
                // Resolving refuses such a URL; a `Config` built by hand may
                // still hold one. What is wrong with it could quote it.
                Err(_) => "PostgreSQL index (its URL does not parse)".into(),
            },
        }
    }
}

/// `user@host:port,host:port/dbname`, each part only when the URL has it.
fn postgres_place(c: &tokio_postgres::Config) -> String {
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            // One port for all hosts, or one each (the parser fills in
            // 5432 when the URL has none).
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let mut place = String::new();
    if let Some(user) = c.get_user() {
        place.push_str(user);
        place.push('@');
    }
    place.push_str(&hosts.join(","));
    if let Some(db) = c.get_dbname() {
        place.push('/');
        place.push_str(db);
    }
    place
}

/// `[index] backend` and `url` (or `STOWAGE_INDEX_BACKEND`,
/// `STOWAGE_INDEX_URL`). A URL without `backend = "postgres"` is refused
/// rather than ignored: an operator who names a server means to use it.
/// The URL is never echoed (it may hold a password).
pub(super) fn resolve_index(
    backend: Option<String>,
    url: Option<String>,
) -> Result<IndexConfig, ConfigError> {
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
