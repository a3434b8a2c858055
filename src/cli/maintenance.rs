//! The maintenance commands of a data dir: `verify`, `backup` (the work is
//! in [`crate::ops`]), with a progress line on a terminal and a report on
//! stdout.

use std::path::PathBuf;
use std::sync::Arc;

use super::args::ConfigArgs;
use super::open::{maintenance_runtime, open_data_dir, open_index, storage_of};
use crate::config::IndexConfig;
use crate::index::SqliteIndex;

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
