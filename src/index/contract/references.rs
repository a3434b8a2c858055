//! References to blobs under concurrency: many bodies at once point keys
//! and parts at blobs, replace them, copy them and delete them, each
//! letting go of a blob nothing names any more in the same transaction (as
//! the storage service's release does). A reader running meanwhile must
//! find, in every snapshot, exactly the named blobs recorded and in use —
//! never a named blob missing or called unused — and so must the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{read, write};
use crate::index::{BlobInfo, Index, MultipartUpload, ObjectMeta, ObjectRecord, PartRecord, Tx};
use crate::index::{IndexError, TxResult};
use crate::store::Digest;

/// Keys (and part numbers) the writers share.
const KEYS: u8 = 4;
/// Blobs the writers point them at.
const BLOBS: u8 = 4;
/// Writer tasks, and the steps each takes.
const WRITERS: usize = 8;
const STEPS: usize = 12;

fn blob(j: u8) -> BlobInfo {
    BlobInfo {
        sha256: Digest([0x10 + j; 32]),
        size: 8,
        md5: Some([j; 16]),
    }
}

fn object(key: u8, sha: Digest) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "rc".into(),
        key: format!("k{key}"),
        sha256: sha,
        size: 8,
        etag: hex::encode(sha.0),
        content_type: "application/octet-stream".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    }
}

/// One step of a writer.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Points key `k` at blob `b` (recording the blob).
    Put { k: u8, b: u8 },
    /// Deletes key `k`.
    Delete { k: u8 },
    /// Points key `to` at the blob key `from` names, if it names one.
    Copy { from: u8, to: u8 },
    /// Points part `n` of the shared upload at blob `b`.
    Part { n: u8, b: u8 },
}

impl Step {
    /// The `i`th step of writer `t`: every kind, over every key and blob.
    fn nth(t: usize, i: usize) -> Step {
        let k = ((t * 7 + i) % KEYS as usize) as u8;
        let b = ((t * 3 + i * 5) % BLOBS as usize) as u8;
        match (t + i) % 4 {
            0 => Step::Put { k, b },
            1 => Step::Delete { k },
            2 => Step::Copy {
                from: ((t + 2 * i + 1) % KEYS as usize) as u8,
                to: k,
            },
            _ => Step::Part { n: k + 1, b },
        }
    }
}

/// Deletes blob `d` if nothing names it any more (the release rule).
async fn let_go(tx: &mut dyn Tx, d: Option<Digest>) -> TxResult<()> {
    if let Some(d) = d {
        if !tx.blob_in_use(&d).await? {
            tx.delete_blob(&d, 0).await?;
        }
    }
    Ok(())
}

async fn run_step(tx: &mut dyn Tx, step: Step) -> TxResult<()> {
    match step {
        Step::Put { k, b } => {
            let bytes = [0x10 + b; 8];
            tx.record_blob(&blob(b), Some(&bytes), 1, false).await?;
            let old = tx.put_object(&object(k, blob(b).sha256)).await?;
            let_go(tx, old).await
        }
        Step::Delete { k } => {
            let old = tx.delete_object("rc", &format!("k{k}")).await?;
            let_go(tx, old.map(|o| o.sha256)).await
        }
        Step::Copy { from, to } => {
            let Some(src) = tx.get_object("rc", &format!("k{from}")).await? else {
                return Ok(());
            };
            let old = tx.put_object(&object(to, src.sha256)).await?;
            let_go(tx, old).await
        }
        Step::Part { n, b } => {
            let bytes = [0x10 + b; 8];
            tx.record_blob(&blob(b), Some(&bytes), 1, false).await?;
            let old = tx.get_part("up", u32::from(n)).await?.map(|p| p.sha256);
            let part = PartRecord {
                part_number: u32::from(n),
                sha256: blob(b).sha256,
                size: 8,
                md5: [b; 16],
                last_modified: 1,
                checksum: None,
            };
            tx.put_part("up", &part).await?;
            let_go(tx, old.filter(|o| *o != part.sha256)).await
        }
    }
}

/// One snapshot's view of blob `j`: (times objects and parts name it,
/// whether its row exists, whether the index calls it in use).
type Seen = BTreeMap<u8, (usize, bool, bool)>;

async fn snapshot(index: &Arc<dyn Index>) -> Result<Seen, IndexError> {
    read(index, (), |tx, ()| {
        Box::pin(async move {
            let mut names: Vec<Digest> = tx
                .list_objects("rc", "", "", 1000)
                .await?
                .into_iter()
                .map(|o| o.sha256)
                .collect();
            names.extend(tx.list_parts("up", 0, 1000).await?.iter().map(|p| p.sha256));
            let mut seen = Seen::new();
            for j in 0..BLOBS {
                let d = blob(j).sha256;
                let refs = names.iter().filter(|n| **n == d).count();
                let row = tx.get_blob(&d).await?.is_some();
                seen.insert(j, (refs, row, tx.blob_in_use(&d).await?));
            }
            Ok(seen)
        })
    })
    .await
}

/// Every blob some row names is recorded and in use; no other is.
fn check(seen: &Seen, when: &str) {
    for (j, (refs, row, used)) in seen {
        assert_eq!(
            (*row, *used),
            (*refs > 0, *refs > 0),
            "{when}: blob {j} named {refs} times, row {row}, in use {used}"
        );
    }
}

/// Writers race over shared keys, parts and blobs (see the module docs);
/// a reader checks every snapshot it gets while they run, and the end.
pub async fn references_under_concurrency_keep_exactly_the_named_blobs(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("rc", None, 1).await?;
            tx.insert_upload(&MultipartUpload {
                upload_id: "up".into(),
                bucket: "rc".into(),
                key: "parts".into(),
                content_type: "application/octet-stream".into(),
                meta: ObjectMeta::default(),
                created_at: 1,
            })
            .await
        })
    })
    .await
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (index, done, checks) = (index.clone(), done.clone(), checks.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                check(&snapshot(&index).await.unwrap(), "while writers ran");
                checks.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for t in 0..WRITERS {
        let index = index.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..STEPS {
                write(&index, Step::nth(t, i), |tx, step| {
                    Box::pin(async move { run_step(tx, step).await })
                })
                .await
                .unwrap_or_else(|e| panic!("step {:?}: {e}", Step::nth(t, i)));
                tokio::task::yield_now().await;
            }
        }));
    }
    for w in writers {
        w.await.expect("a writer");
    }
    done.store(true, Ordering::SeqCst);
    reader.await.expect("the reader");
    check(&snapshot(&index).await.unwrap(), "after the writers");
    // A known tail, one step after another: blob 0 named by three keys and
    // a part, blob 1 by three parts, blobs 2 and 3 by nothing.
    let tail = [
        Step::Put { k: 0, b: 0 },
        Step::Put { k: 1, b: 0 },
        Step::Copy { from: 0, to: 2 },
        Step::Delete { k: 3 },
        Step::Part { n: 1, b: 0 },
        Step::Part { n: 2, b: 1 },
        Step::Part { n: 3, b: 1 },
        Step::Part { n: 4, b: 1 },
    ];
    for step in tail {
        write(&index, step, |tx, step| {
            Box::pin(async move { run_step(tx, step).await })
        })
        .await
        .unwrap();
    }
    let end = snapshot(&index).await.unwrap();
    check(&end, "at the end");
    let want: Seen = [
        (0, (4, true, true)),
        (1, (3, true, true)),
        (2, (0, false, false)),
        (3, (0, false, false)),
    ]
    .into();
    assert_eq!(end, want);
    eprintln!(
        "{} snapshots checked while writers ran",
        checks.load(Ordering::SeqCst)
    );
}
