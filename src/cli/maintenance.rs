//! The maintenance commands of a data dir: `verify`, `backup`, `index
//! migrate` (the work is in [`crate::ops`]), with a progress line on a
//! terminal and a report on stdout.

use std::path::PathBuf;
use std::sync::Arc;

use super::args::ConfigArgs;
use super::open::{maintenance_runtime, open_data_dir, open_index, storage_of};
use crate::config::IndexConfig;
use crate::index::transfer::PostgresTarget;
use crate::index::SqliteIndex;
use crate::ops::backup::IndexSource;

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

pub(super) fn verify(args: &ConfigArgs, data_dir: Option<PathBuf>) -> Result<(), String> {
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

pub(super) fn backup(
    args: &ConfigArgs,
    data_dir: Option<PathBuf>,
    dest: &std::path::Path,
) -> Result<(), String> {
    let (config, store) = open_data_dir(args, data_dir)?;
    let rt = maintenance_runtime()?;
    let mut bar = ProgressLine::new();
    let started = std::time::Instant::now();
    let credentials = config.data_dir.join(crate::config::CREDENTIALS_FILE);
    let progress = |r: &crate::ops::backup::BackupReport| {
        bar.draw(|| {
            format!(
                "backing up: {} blob files, {:.1} MB",
                r.files,
                r.bytes as f64 / 1e6
            )
        })
    };
    // The copy of the index is SQLite's online backup of its file, or
    // every row of one snapshot of the PostgreSQL database.
    let report = match &config.index {
        IndexConfig::Sqlite => {
            let index = Arc::new(SqliteIndex::open(&config.data_dir).map_err(|e| e.to_string())?);
            let storage = storage_of(&config, index.clone(), store);
            rt.block_on(crate::ops::backup::backup(
                IndexSource::Sqlite(&index),
                &storage,
                Some(&credentials),
                dest,
                progress,
            ))
        }
        IndexConfig::Postgres { url } => {
            let db = PostgresTarget::configured(url).map_err(|e| e.to_string())?;
            let storage = storage_of(&config, open_index(&config)?, store);
            rt.block_on(crate::ops::backup::backup(
                IndexSource::Postgres(&db),
                &storage,
                Some(&credentials),
                dest,
                progress,
            ))
        }
    }
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

/// `stowage index migrate --to URL`: the data dir's SQLite index copied
/// into an empty PostgreSQL database, then what to do next. Prints the
/// URL only without its password.
pub(super) fn migrate(
    args: &ConfigArgs,
    data_dir: Option<PathBuf>,
    to: &str,
) -> Result<(), String> {
    let config = args.load(crate::config::Overrides {
        data_dir,
        ..Default::default()
    })?;
    let dir = &config.data_dir;
    let started = std::time::Instant::now();
    let done = maintenance_runtime()?
        .block_on(crate::ops::migrate::to_postgres(dir, to))
        .map_err(|e| format!("{e}\nindex migrate: nothing was committed to the target"))?;
    println!(
        "Copied the SQLite index of {} to {} in {:.1} s:",
        dir.display(),
        done.target,
        started.elapsed().as_secs_f64()
    );
    for (table, rows) in &done.tables {
        println!("  {table:<18} {rows:>10}");
    }
    println!(
        "  {:<18} {:>10}",
        "(all rows)",
        done.tables.iter().map(|(_, n)| n).sum::<u64>()
    );
    println!(
        "\nNext, with the gateway still stopped:\n\
         \x20 1. Point it at the new index, in its config.toml:\n\
         \x20      [index]\n\
         \x20      backend = \"postgres\"\n\
         \x20      url = \"{target}\"   (add the password, if it has one)\n\
         \x20    or in its environment: STOWAGE_INDEX_BACKEND=postgres STOWAGE_INDEX_URL=…\n\
         \x20 2. Check the data dir against it: stowage verify{config}\n\
         \x20 3. Start it: stowage serve{config}\n\
         {source} is left in place and no longer used once the gateway is on PostgreSQL; \
         keep it until you are satisfied.",
        target = done.target,
        config = args.flag(),
        source = done.source.display(),
    );
    Ok(())
}
