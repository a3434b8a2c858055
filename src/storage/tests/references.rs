//! References to blobs under concurrent requests, through the storage
//! service: many tasks at once put objects over each other, delete them,
//! copy them and replace parts, with small bodies (kept inline in the
//! index) and large ones (in the blob store). A reader running meanwhile
//! never finds a named blob missing or unused; at the end each blob is kept
//! — row and bytes — exactly when something names it, and the blob store
//! holds nothing else.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::index::{BlobInfo, MultipartUpload, ObjectMeta, ObjectRecord};
use crate::storage::objects::WriteCondition;
use crate::storage::{Payload, Storage, INLINE_BLOB_MAX};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(blobs_are_kept_exactly_while_something_names_them);

/// Contents the writers use: two kept inline, two in the store.
fn content(c: u8) -> Vec<u8> {
    let len = if c < 2 {
        100 + c as usize
    } else {
        INLINE_BLOB_MAX as usize + 1 + c as usize
    };
    vec![0x40 + c; len]
}

fn blob(c: u8) -> BlobInfo {
    let data = content(c);
    BlobInfo {
        sha256: Digest(Sha256::digest(&data).into()),
        size: data.len() as u64,
        md5: Some(Md5::digest(&data).into()),
    }
}

fn object(k: u8, b: &BlobInfo) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "rc".into(),
        key: format!("k{k}"),
        sha256: b.sha256,
        size: b.size,
        etag: b.md5.map(hex::encode).unwrap_or_default(),
        content_type: "application/octet-stream".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    }
}

/// `content(c)` received: in memory if small, staged if not.
async fn received(s: &Storage, c: u8) -> Payload {
    let data = content(c);
    if data.len() as u64 <= INLINE_BLOB_MAX {
        return Payload::Inline(Bytes::from(data));
    }
    let mut staged = s.store.stage().await.unwrap();
    staged.write(&data).await.unwrap();
    Payload::Staged(staged)
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Put { k: u8, c: u8 },
    Delete { k: u8 },
    Copy { from: u8, to: u8 },
    Part { n: u8, c: u8 },
}

impl Step {
    fn nth(t: usize, i: usize) -> Step {
        let k = ((t * 5 + i) % 4) as u8;
        let c = ((t * 3 + i * 7) % 4) as u8;
        match (t + i) % 4 {
            0 => Step::Put { k, c },
            1 => Step::Delete { k },
            2 => Step::Copy {
                from: ((t + i * 3 + 1) % 4) as u8,
                to: k,
            },
            _ => Step::Part { n: k % 2 + 1, c },
        }
    }

    async fn run(self, s: &Storage) {
        match self {
            Step::Put { k, c } => {
                let payload = received(s, c).await;
                s.put_object(
                    payload,
                    object(k, &blob(c)),
                    blob(c),
                    WriteCondition::Always,
                )
                .await
                .unwrap();
            }
            Step::Delete { k } => {
                s.delete_object("rc", &format!("k{k}"), None).await.unwrap();
            }
            Step::Copy { from, to } => {
                let Some(src) = s.get_object("rc", &format!("k{from}")).await.unwrap() else {
                    return;
                };
                let info = BlobInfo {
                    sha256: src.sha256,
                    size: src.size,
                    md5: None,
                };
                let dst = ObjectRecord {
                    etag: src.etag.clone(),
                    ..object(to, &info)
                };
                // The source may change meanwhile: then nothing is copied.
                s.copy_object(&src, dst).await.unwrap();
            }
            Step::Part { n, c } => {
                let payload = received(s, c).await;
                s.put_part("up", u32::from(n), payload, blob(c), None)
                    .await
                    .unwrap();
            }
        }
    }
}

/// How many objects and parts name each content, as one snapshot sees
/// them; and that each named blob has its row and is called in use.
async fn names(s: &Storage) -> BTreeMap<u8, usize> {
    let named: Vec<(Digest, bool, bool)> = s
        .index
        .read(|tx| {
            Box::pin(async move {
                let mut ds: Vec<Digest> = tx
                    .list_objects("rc", "", "", 1000)
                    .await?
                    .into_iter()
                    .map(|o| o.sha256)
                    .collect();
                ds.extend(tx.list_parts("up", 0, 1000).await?.iter().map(|p| p.sha256));
                let mut out = Vec::new();
                for d in ds {
                    out.push((
                        d,
                        tx.get_blob(&d).await?.is_some(),
                        tx.blob_in_use(&d).await?,
                    ));
                }
                Ok(out)
            })
        })
        .await
        .unwrap();
    let mut count = BTreeMap::new();
    for (d, row, used) in named {
        assert!(row && used, "{d:?} is named, its row {row}, in use {used}");
        let c = (0..4)
            .find(|c| blob(*c).sha256 == d)
            .expect("one of the contents");
        *count.entry(c).or_insert(0) += 1;
    }
    count
}

async fn blobs_are_kept_exactly_while_something_names_them(
    s: super::Storage,
    clock: super::TestClock,
) {
    assert!(s.create_bucket("rc").await.unwrap());
    s.create_multipart(MultipartUpload {
        upload_id: "up".into(),
        bucket: "rc".into(),
        key: "parts".into(),
        content_type: "application/octet-stream".into(),
        meta: ObjectMeta::default(),
        created_at: 1,
    })
    .await
    .unwrap();
    let s = Arc::new(s);
    let (done, checks) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let reader = {
        let (s, done, checks) = (s.clone(), done.clone(), checks.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                names(&s).await;
                checks.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..8 {
                    Step::nth(t, i).run(&s).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("a writer");
    }
    done.store(true, Ordering::SeqCst);
    reader.await.expect("the reader");
    names(&s).await;
    eprintln!(
        "{} snapshots checked while writers ran",
        checks.load(Ordering::SeqCst)
    );

    // A known end, one step after another: content 2 (in the store) named
    // by three keys, content 3 (in the store) by a part, content 0 (inline)
    // by the other part, content 1 by nothing.
    for step in [
        Step::Put { k: 0, c: 2 },
        Step::Put { k: 1, c: 2 },
        Step::Copy { from: 0, to: 2 },
        Step::Delete { k: 3 },
        Step::Part { n: 1, c: 3 },
        Step::Part { n: 2, c: 0 },
    ] {
        step.run(&s).await;
    }
    assert_eq!(names(&s).await, [(0, 1), (2, 3), (3, 1)].into());
    for c in 0..4u8 {
        let d = blob(c).sha256;
        let row = s
            .index
            .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
            .await
            .unwrap();
        assert_eq!(row.is_some(), c != 1, "the row of content {c}");
    }
    // The store holds the named large contents, nothing else (a store of
    // ids once the collector has deleted what is due).
    if !s.store.names_by_content() {
        clock.advance(s.settings.garbage_grace_secs as i64 + 1);
        let done = s.collect_garbage(false).await.unwrap();
        assert!(done.ran && done.garbage > 0, "{done:?}");
    }
    let mut want = vec![
        s.locate(&blob(2).sha256).await.unwrap().unwrap(),
        s.locate(&blob(3).sha256).await.unwrap().unwrap(),
    ];
    want.sort_by_key(|d| d.to_string());
    // Garage lists an object for a moment after its DELETE answered: the
    // listing is given a few seconds to catch up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let in_store = loop {
        let mut in_store = Vec::new();
        let mut list = s.store.list();
        while let Some(item) = list.next().await {
            in_store.push(item.unwrap().name);
        }
        in_store.sort_by_key(|d| d.to_string());
        if in_store == want || std::time::Instant::now() > deadline {
            break in_store;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    if in_store != want {
        // What the index says of every id, to tell a leak from a late
        // listing (seen once under load on the upstream store).
        let now = s.now();
        let garbage = s
            .index
            .read(move |tx| Box::pin(async move { tx.due_garbage(i64::MAX, 1000).await }))
            .await
            .unwrap();
        panic!(
            "the store holds {in_store:?}, the rows name {want:?}; garbage left (now {now}): \
             {garbage:?}"
        );
    }
    assert_eq!(
        s.store.sweep_staging().await.unwrap(),
        0,
        "staging left over"
    );
}
