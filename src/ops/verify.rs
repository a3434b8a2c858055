//! `stowage verify`: an fsck of the data dir. Every blob the index knows is
//! read back and rehashed (SHA-256, and MD5 where the index has one, since
//! that is the S3 ETag), and the index and the store are compared both ways.
//!
//! Read-only: it never repairs, deletes or rewrites anything, so it is safe
//! beside a running gateway. A finding about a blob that changed during the
//! pass (deleted, or published a moment before its row) is looked up again
//! before it is reported, so a busy gateway does not cause false alarms.

use std::fmt;

use futures_util::StreamExt;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::index::BlobEntry;
use crate::storage::{Storage, StorageError};
use crate::store::{Digest, StoreError};

/// Blob rows read from the index at a time.
const PAGE: usize = 1000;
/// How long an unowned blob file is given to get its row before it is
/// reported as an orphan.
const ORPHAN_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// What is wrong with one blob or row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The index has the blob; neither the store nor the inline table does.
    Missing { sha256: Digest, size: u64 },
    /// The bytes are there but are not what the index says.
    Corrupt { sha256: Digest, why: String },
    /// A blob file in the store that no index row owns.
    Orphan { sha256: Digest, size: u64 },
    /// A row referring to a blob the index has no row for.
    Dangling { referrer: String, sha256: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { sha256, size } => write!(
                f,
                "MISSING  blob {} ({size} bytes): in the index, but its bytes are gone",
                sha256.hex()
            ),
            Finding::Corrupt { sha256, why } => {
                write!(f, "CORRUPT  blob {}: {why}", sha256.hex())
            }
            Finding::Orphan { sha256, size } => write!(
                f,
                "ORPHAN   blob {} ({size} bytes): a file in the store that no row refers to",
                sha256.hex()
            ),
            Finding::Dangling { referrer, sha256 } => write!(
                f,
                "DANGLING {referrer} refers to blob {sha256}, which the index does not have"
            ),
        }
    }
}

/// The outcome of a pass.
#[derive(Debug, Default)]
pub struct Report {
    /// Blobs read back and rehashed.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    /// One line: what was checked and what was found.
    pub fn summary(&self) -> String {
        let count = |pick: fn(&Finding) -> bool| self.findings.iter().filter(|f| pick(f)).count();
        format!(
            "checked {} blobs ({} bytes): {} missing, {} corrupt, {} orphaned, {} dangling rows",
            self.blobs,
            self.bytes,
            count(|f| matches!(f, Finding::Missing { .. })),
            count(|f| matches!(f, Finding::Corrupt { .. })),
            count(|f| matches!(f, Finding::Orphan { .. })),
            count(|f| matches!(f, Finding::Dangling { .. })),
        )
    }
}

/// How far a pass has come, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub blobs_done: u64,
    pub blobs_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the index: {0}")]
    Index(#[from] StorageError),
    #[error("reading the blob store: {0}")]
    Store(#[from] StoreError),
}

/// Runs a whole pass over the data dir behind `storage`; `progress` is
/// called after each blob.
pub async fn verify(
    storage: &Storage,
    mut progress: impl FnMut(Progress),
) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    // A first pass over the rows only, for the progress bar's totals.
    let (mut blobs_total, mut bytes_total) = (0u64, 0u64);
    each_page(storage, |page| {
        blobs_total += page.len() as u64;
        bytes_total += page.iter().map(|e| e.info.size).sum::<u64>();
    })
    .await?;
    let mut after: Option<Digest> = None;
    loop {
        let page = storage.blob_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.info.sha256);
        for entry in page {
            if let Some(finding) = check_blob(storage, &entry).await? {
                report.findings.push(finding);
            }
            report.blobs += 1;
            report.bytes += entry.info.size;
            progress(Progress {
                blobs_done: report.blobs,
                blobs_total: blobs_total.max(report.blobs),
                bytes_done: report.bytes,
                bytes_total: bytes_total.max(report.bytes),
            });
        }
    }
    let mut candidates = Vec::new();
    let mut stored = storage.list_blobs();
    while let Some(found) = stored.next().await {
        let found = found?;
        // Only a store that names blobs by content has orphans to report:
        // in a store of ids an unrecorded id is garbage, the collector's.
        let crate::store::BlobName::Content(sha256) = found.name else {
            continue;
        };
        let size = found.len;
        if unowned(storage, &sha256).await? {
            candidates.push((sha256, size));
        }
    }
    if !candidates.is_empty() {
        // A gateway publishes a blob's file a moment before it commits the
        // row; give such a row time to land, then look again.
        tokio::time::sleep(ORPHAN_RECHECK).await;
        for (sha256, size) in candidates {
            if unowned(storage, &sha256).await? {
                report.findings.push(Finding::Orphan { sha256, size });
            }
        }
    }
    for d in storage.dangling().await? {
        report.findings.push(Finding::Dangling {
            referrer: d.referrer,
            sha256: d.sha256,
        });
    }
    Ok(report)
}

/// Whether no row owns the blob file `sha256` (a row of inline bytes does
/// not own a file of the same digest).
async fn unowned(storage: &Storage, sha256: &Digest) -> Result<bool, StorageError> {
    Ok(storage.blob_entry(sha256).await?.is_none_or(|e| e.inline))
}

async fn each_page(storage: &Storage, mut f: impl FnMut(&[BlobEntry])) -> Result<(), StorageError> {
    let mut after: Option<Digest> = None;
    loop {
        let page = storage.blob_page(after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.info.sha256);
        f(&page);
    }
}

/// Reads one blob back and compares it with its row.
async fn check_blob(storage: &Storage, entry: &BlobEntry) -> Result<Option<Finding>, VerifyError> {
    let info = entry.info;
    let mut sha = Sha256::new();
    let mut md5 = info.md5.map(|_| Md5::new());
    let mut len = 0u64;
    if entry.inline {
        match storage.inline_bytes(&info.sha256).await? {
            Some(data) => {
                sha.update(&data);
                if let Some(m) = md5.as_mut() {
                    m.update(&data);
                }
                len = data.len() as u64;
            }
            None => return missing_unless_gone(storage, entry).await,
        }
    } else {
        let Some(mut blob) = storage.open_stored(&info.sha256).await? else {
            return missing_unless_gone(storage, entry).await;
        };
        if blob.len != info.size {
            return Ok(Some(Finding::Corrupt {
                sha256: info.sha256,
                why: format!(
                    "the file has {} bytes, the index says {}",
                    blob.len, info.size
                ),
            }));
        }
        crate::store::pump(&mut blob, None, |piece| {
            sha.update(piece);
            if let Some(m) = md5.as_mut() {
                m.update(piece);
            }
            len += piece.len() as u64;
        })
        .await?;
    }
    let got = Digest(sha.finalize().into());
    let why = if len != info.size {
        Some(format!("{len} bytes, the index says {}", info.size))
    } else if got != info.sha256 {
        Some(format!(
            "its bytes hash to {}: they were altered after they were stored",
            got.hex()
        ))
    } else {
        match (md5, info.md5) {
            (Some(m), Some(want)) => {
                let m: [u8; 16] = m.finalize().into();
                (m != want).then(|| {
                    format!(
                        "its MD5 (the S3 ETag) is {}, the index says {}",
                        hex::encode(m),
                        hex::encode(want)
                    )
                })
            }
            _ => None,
        }
    };
    Ok(why.map(|why| Finding::Corrupt {
        sha256: info.sha256,
        why,
    }))
}

/// A blob whose bytes are gone is missing only if its row is still there
/// (a gateway may have deleted both since the page was read).
async fn missing_unless_gone(
    storage: &Storage,
    entry: &BlobEntry,
) -> Result<Option<Finding>, VerifyError> {
    Ok(storage
        .blob_entry(&entry.info.sha256)
        .await?
        .map(|_| Finding::Missing {
            sha256: entry.info.sha256,
            size: entry.info.size,
        }))
}
