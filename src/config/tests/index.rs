//! `[index]`: the backend from the file or the environment, its URL never
//! shown.

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
