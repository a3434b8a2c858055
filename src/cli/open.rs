//! How the local commands open what they work on: the configuration's
//! index (SQLite in the data dir, or PostgreSQL), the data dir's blob
//! store, and the storage service over both, as the gateway would set it
//! up — without the gateway's start-up sweep, since one may be serving.

use std::path::PathBuf;
use std::sync::Arc;

use super::args::ConfigArgs;
use crate::app::{garbage_grace_secs, open_blob_store};
use crate::clock::SystemClock;
use crate::config::{Config, IndexConfig, Overrides};
use crate::index::{Index, PostgresIndex, SqliteIndex};
use crate::storage::{Settings, Storage};
use crate::store::BlobStore;

/// The storage service over the data dir of the configuration (created if
/// need be), for the token and key commands: they change only settings
/// rows, so a gateway may be serving it meanwhile.
pub(super) fn open_storage(args: &ConfigArgs) -> Result<Storage, String> {
    let config = args.load(Overrides::default())?;
    let dir = &config.data_dir;
    crate::store::fsutil::create_dir_all_durable(dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    let index = open_index(&config)?;
    let store = open_blob_store(&config, false).map_err(|e| e.to_string())?;
    Ok(storage_of(&config, index, store))
}

/// The index the configuration names (`[index]`): the data dir's SQLite
/// file, or the PostgreSQL database the gateway uses.
pub(super) fn open_index(config: &Config) -> Result<Arc<dyn Index>, String> {
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
pub(super) fn storage_of(
    config: &Config,
    index: Arc<dyn Index>,
    store: Arc<dyn BlobStore>,
) -> Storage {
    Storage::new(
        index,
        store,
        Arc::new(SystemClock),
        Settings {
            upload_bucket: config.s3.bucket.clone(),
            reserve_bytes: config.storage.reserve_bytes,
            abandoned_multipart_secs: config.s3.abandoned_multipart_secs,
            garbage_grace_secs: garbage_grace_secs(config),
        },
    )
}

/// The configuration and store of an existing data dir, for a maintenance
/// command (without the gateway's start-up sweep of temp files: one may be
/// serving).
pub(super) fn open_data_dir(
    args: &ConfigArgs,
    data_dir: Option<PathBuf>,
) -> Result<(Config, Arc<dyn BlobStore>), String> {
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
    let store = open_blob_store(&config, false).map_err(|e| e.to_string())?;
    Ok((config, store))
}

pub(super) fn maintenance_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}
