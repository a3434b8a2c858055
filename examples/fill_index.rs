//! Fills a data dir's index with N stored files, for the scale test of
//! issue 4 ("with 1,000,000 indexed files, start-up under 1 s and
//! presign/PUT/GET latency within 10% of an empty index").
//!
//! ```sh
//! cargo run --release --example fill_index -- DATA_DIR 1000000
//! ```
//!
//! Writes straight into SQLite (after letting `SqliteIndex::open` create
//! and migrate the schema), in one transaction: per file a `files` row
//! (completed), a `blobs` row and an `objects` row in the configured
//! bucket `uploads`, as an upload through the API leaves them. The blobs'
//! bytes are not written anywhere (neither a blob file nor inline data):
//! the scale test measures the index, and its scenarios read only objects
//! they uploaded themselves. Never point this at a data dir you care about.

use std::time::Instant;

use rusqlite::params;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: fill_index DATA_DIR N");
        std::process::exit(2);
    };
    let n: u64 = n.parse()?;
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    drop(stowage::index::SqliteIndex::open(&dir)?);

    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(dir.join(stowage::index::DB_FILE))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR IGNORE INTO buckets (name, created_at) VALUES ('uploads', 0)",
        [],
    )?;
    {
        let mut file = tx.prepare(
            "INSERT INTO files (id, file_name, content_type, size, sha256, status, created_at, \
             url_expires_at, uploaded_at, completed_at) \
             VALUES (?1, ?2, 'image/png', 4096, ?3, 'completed', ?4, ?4, ?4, ?4)",
        )?;
        let mut blob = tx.prepare(
            "INSERT INTO blobs (sha256, size, md5, created_at) VALUES (?1, 4096, ?2, ?3)",
        )?;
        let mut object = tx.prepare(
            "INSERT INTO objects (bucket, key, sha256, size, etag, content_type, meta, \
             last_modified) VALUES ('uploads', ?1, ?2, 4096, ?3, 'image/png', '{}', ?4)",
        )?;
        let now = 1_780_000_000i64;
        for i in 0..n {
            let id = uuid::Uuid::new_v4().to_string();
            let sha = hex::encode(Sha256::digest(i.to_le_bytes()));
            let md5 = &sha[..32];
            file.execute(params![id, format!("photo-{i}.png"), sha, now])?;
            blob.execute(params![sha, md5, now])?;
            object.execute(params![id, sha, md5, now])?;
            if (i + 1) % 100_000 == 0 {
                eprintln!("{} files…", i + 1);
            }
        }
    }
    tx.commit()?;
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
    eprintln!(
        "filled {n} files into {} in {:.1} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
