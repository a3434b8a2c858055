//! `[index]`: the backend from the file or the environment, its URL never
//! shown; the start-up error names the backend.

use std::path::Path;
use std::sync::Arc;

use crate::app::{App, StartError};
use crate::clock::SystemClock;
use crate::config::file::FileConfig;
use crate::config::{Config, IndexConfig, Overrides};

#[test]
fn the_index_backend_comes_from_file_or_env_and_its_url_is_never_shown() {
    assert_eq!(Config::from_toml("").unwrap().index, IndexConfig::Sqlite);
    let url = "postgresql://stowage:s3cret@db.example:5432/stowage";
    let c =
        Config::from_toml(&format!("[index]\nbackend = \"postgres\"\nurl = \"{url}\"")).unwrap();
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
fn the_index_is_described_by_backend_and_place_never_by_password() {
    let dir = Path::new("/srv/stowage");
    assert_eq!(
        IndexConfig::Sqlite.describe(dir),
        "SQLite index in data dir /srv/stowage"
    );
    for (url, shown) in [
        (
            "postgresql://stowage:s3cret@db.example:5432/stowage",
            "PostgreSQL index stowage@db.example:5432/stowage",
        ),
        (
            "postgresql://db.example/files?user=app&password=s3cret",
            "PostgreSQL index app@db.example:5432/files",
        ),
        (
            "postgresql://u:s3cret@[::1]:5433,db2:5434/d?sslmode=disable",
            "PostgreSQL index u@[::1]:5433,db2:5434/d",
        ),
        (
            "host=db.example port=6432 user=u password=s3cret dbname=d",
            "PostgreSQL index u@db.example:6432/d",
        ),
        (
            "postgresql://u:s3cret@h:notaport/db",
            "PostgreSQL index (its URL does not parse)",
        ),
    ] {
        let index = IndexConfig::Postgres { url: url.into() };
        assert_eq!(index.describe(dir), shown, "{url}");
    }
}

/// `App::open` on an index that cannot open: its error says which backend
/// (and where), and never the password of a PostgreSQL URL.
#[test]
fn the_start_up_error_names_the_index_backend_and_never_the_password() {
    let open = |config: Config| match App::open(
        config,
        Arc::new(SystemClock),
        "127.0.0.1:0".parse().unwrap(),
    ) {
        Err(e @ StartError::Index { .. }) => e.to_string(),
        Err(e) => panic!("not an index error: {e}"),
        Ok(_) => panic!("opened an index that cannot open"),
    };

    // SQLite: its file in the data dir is a directory.
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join(crate::index::DB_FILE)).unwrap();
    let mut config = Config::from_toml("").unwrap();
    config.data_dir = data.path().to_path_buf();
    let e = open(config);
    let want = format!(
        "cannot open the SQLite index in data dir {}: ",
        data.path().display()
    );
    assert!(e.starts_with(&want), "{e}");

    // PostgreSQL: a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml(&format!(
        "[index]\nbackend = \"postgres\"\n\
         url = \"postgresql://stowage:hunter2@127.0.0.1:{port}/files\""
    ))
    .unwrap();
    config.data_dir = data.path().to_path_buf();
    let e = open(config);
    let want = format!("cannot open the PostgreSQL index stowage@127.0.0.1:{port}/files: ");
    assert!(e.starts_with(&want), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}
