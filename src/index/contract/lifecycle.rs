//! State transitions as rows: a file from pending to uploaded to
//! completed (or withdrawn while pending), a multipart upload from its
//! creation through its parts to its completion or abort — each step read
//! back as the next transaction sees it, and the steps a row's state does
//! not allow refused with nothing kept. (Which transition a request may
//! make is the storage service's rule, tested in `storage/tests/`; here,
//! that the rows a rule reads and writes keep what it wrote, and that the
//! row operations guarded by a state or a reference refuse the same way
//! on every backend.)

use std::sync::Arc;

use super::{declared, read, write};
use crate::index::{
    BlobInfo, Declared, FileRecord, Index, IndexError, MultipartUpload, ObjectMeta, ObjectRecord,
    PartRecord, Status, Tx, TxFuture,
};
use crate::store::Digest;

/// What the file lookups say of one file: (its row, whether a file with
/// bytes holds its blob, the pending files of its blob, the pending files
/// expired at 101).
type FileLooks = (Option<FileRecord>, bool, Vec<uuid::Uuid>, Vec<uuid::Uuid>);

async fn looks(index: &Arc<dyn Index>, d: &Declared) -> FileLooks {
    read(index, d.clone(), |tx, d| {
        Box::pin(async move {
            Ok((
                tx.get_file(&d.id).await?,
                tx.file_with_bytes(&d.sha256, d.size).await?,
                tx.pending_files_of(&d.sha256, d.size).await?,
                tx.expired_pending(101).await?,
            ))
        })
    })
    .await
    .unwrap()
}

/// Withdraws `id` if it is still pending; whether it was.
async fn withdraw(index: &Arc<dyn Index>, id: uuid::Uuid) -> bool {
    write(index, id, |tx, id| {
        Box::pin(async move { tx.delete_pending_file(&id).await })
    })
    .await
    .unwrap()
}

/// A file row through its life: pending (found by its blob and its expiry
/// as pending, withdrawable), uploaded (found as a file with bytes, no
/// longer pending or withdrawable), completed (the same, with its
/// completion time); every field read back after each step. A second file
/// is withdrawn while pending: gone, and withdrawn only once.
pub async fn file_rows_follow_a_files_life(index: Arc<dyn Index>) {
    let d = declared(7);
    write(&index, d.clone(), |tx, d| {
        Box::pin(async move { tx.insert_file(&d, Status::Pending, 10, 100, None).await })
    })
    .await
    .unwrap();
    let (rec, with_bytes, pending, expired) = looks(&index, &d).await;
    let rec = rec.expect("the pending row");
    assert_eq!(
        (rec.status, rec.uploaded_at, rec.completed_at),
        (Status::Pending, None, None)
    );
    assert!(!with_bytes, "a pending file holds no bytes");
    assert_eq!((pending, expired), (vec![d.id], vec![d.id]));

    // Uploaded: the rule writes the row back with its new status.
    let mut up = rec.clone();
    up.status = Status::Uploaded;
    up.uploaded_at = Some(20);
    let stayed = write(&index, up.clone(), |tx, up| {
        Box::pin(async move {
            tx.update_file(&up).await?;
            // Not pending any more: not withdrawable.
            tx.delete_pending_file(&up.id).await
        })
    })
    .await
    .unwrap();
    assert!(!stayed, "an uploaded file was withdrawn");
    let (rec, with_bytes, pending, expired) = looks(&index, &d).await;
    let rec = rec.expect("the uploaded row stays");
    assert_eq!(
        (rec.status, rec.uploaded_at, rec.completed_at),
        (Status::Uploaded, Some(20), None)
    );
    assert_eq!(
        (rec.created_at, rec.url_expires_at, rec.size, rec.sha256),
        (10, 100, 7, d.sha256)
    );
    assert!(with_bytes);
    assert!(
        pending.is_empty() && expired.is_empty(),
        "{pending:?} {expired:?}"
    );

    let mut done = rec.clone();
    done.status = Status::Completed;
    done.completed_at = Some(30);
    write(&index, done, |tx, done| {
        Box::pin(async move { tx.update_file(&done).await })
    })
    .await
    .unwrap();
    assert!(
        !withdraw(&index, d.id).await,
        "a completed file was withdrawn"
    );
    let (rec, with_bytes, pending, _) = looks(&index, &d).await;
    let rec = rec.expect("the completed row stays");
    assert_eq!(
        (rec.status, rec.uploaded_at, rec.completed_at),
        (Status::Completed, Some(20), Some(30))
    );
    assert_eq!(rec.file_name, d.file_name);
    assert!(with_bytes && pending.is_empty());

    // Withdrawn while pending: gone, once.
    let w = declared(8);
    write(&index, w.clone(), |tx, w| {
        Box::pin(async move { tx.insert_file(&w, Status::Pending, 10, 100, None).await })
    })
    .await
    .unwrap();
    assert!(withdraw(&index, w.id).await);
    assert!(!withdraw(&index, w.id).await, "withdrawn twice");
    let (rec, _, pending, expired) = looks(&index, &w).await;
    assert!(rec.is_none() && pending.is_empty());
    assert!(!expired.contains(&w.id));
}

/// Racers per check of this file.
const RACERS: usize = 12;

/// Each of many pending files is, at once, marked uploaded by one body
/// (if it is still pending) and withdrawn by another: exactly one of the
/// two takes effect, and the row says which.
pub async fn a_withdrawal_racing_an_upload_decides_one_way(index: Arc<dyn Index>) {
    let files: Vec<Declared> = (0..RACERS).map(|_| declared(3)).collect();
    for d in &files {
        write(&index, d.clone(), |tx, d| {
            Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
        })
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for d in &files {
        let (i1, i2, id) = (index.clone(), index.clone(), d.id);
        let mark = tokio::spawn(async move {
            write(&i1, id, |tx, id| {
                Box::pin(async move {
                    let Some(mut r) = tx.get_file(&id).await? else {
                        return Ok(false);
                    };
                    if r.status != Status::Pending {
                        return Ok(false);
                    }
                    r.status = Status::Uploaded;
                    r.uploaded_at = Some(5);
                    tx.update_file(&r).await?;
                    Ok(true)
                })
            })
            .await
        });
        let pull = tokio::spawn(async move {
            write(&i2, id, |tx, id| {
                Box::pin(async move { tx.delete_pending_file(&id).await })
            })
            .await
        });
        tasks.push((id, mark, pull));
    }
    for (id, mark, pull) in tasks {
        let marked = mark.await.expect("a marker").expect("its answer");
        let pulled = pull.await.expect("a withdrawer").expect("its answer");
        let row = read(&index, id, |tx, id| {
            Box::pin(async move { tx.get_file(&id).await })
        })
        .await
        .unwrap();
        match (marked, pulled) {
            (true, false) => {
                let r = row.expect("the marked row");
                assert_eq!((r.status, r.uploaded_at), (Status::Uploaded, Some(5)));
            }
            (false, true) => assert!(row.is_none(), "a withdrawn row stayed: {row:?}"),
            other => panic!("marked and withdrawn: {other:?}, row {row:?}"),
        }
    }
}

fn blob(n: u8) -> BlobInfo {
    BlobInfo {
        sha256: Digest([n; 32]),
        size: 5,
        md5: Some([n; 16]),
    }
}

fn part(n: u32, b: u8) -> PartRecord {
    PartRecord {
        part_number: n,
        sha256: Digest([b; 32]),
        size: 5,
        md5: [b; 16],
        last_modified: 3,
        checksum: None,
    }
}

fn upload(id: &str) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: "life".into(),
        key: "movie".into(),
        content_type: "video/mp4".into(),
        meta: ObjectMeta::default(),
        created_at: 1,
    }
}

/// What the rows of an upload say: (the upload, its parts, the distinct
/// blobs they name, its remembered completion, whether blobs 1, 2 and 3
/// are in use).
type UploadLooks = (
    Option<MultipartUpload>,
    Vec<PartRecord>,
    usize,
    Option<(String, String, String)>,
    [bool; 3],
);

async fn upload_looks(index: &Arc<dyn Index>, id: &'static str) -> UploadLooks {
    read(index, id, |tx, id| {
        Box::pin(async move {
            let mut used = [false; 3];
            for (i, u) in used.iter_mut().enumerate() {
                *u = tx.blob_in_use(&Digest([i as u8 + 1; 32])).await?;
            }
            Ok((
                tx.get_upload(id).await?,
                tx.list_parts(id, 0, 100).await?,
                tx.part_blobs(id).await?.len(),
                tx.get_completed(id).await?,
                used,
            ))
        })
    })
    .await
    .unwrap()
}

/// A multipart upload's rows through its life: created (no parts), parts
/// added (their blobs in use), completed (its object recorded, the upload
/// and parts gone in the same transaction, the completion remembered, the
/// parts' blobs no longer in use) — and another aborted (gone with its
/// parts, nothing remembered). A part of an upload that has ended, and a
/// part, object or delete that would leave a reference to a missing row,
/// are refused: an error, and nothing of that body kept.
pub async fn upload_rows_follow_an_uploads_life(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("life", None, 1).await?;
            for n in 1..=3 {
                tx.record_blob(&blob(n), None, 1, false).await?;
            }
            tx.insert_upload(&upload("done")).await?;
            tx.insert_upload(&upload("dropped")).await
        })
    })
    .await
    .unwrap();
    let (u, parts, blobs, completed, used) = upload_looks(&index, "done").await;
    assert_eq!(u, Some(upload("done")));
    assert!(parts.is_empty() && blobs == 0 && completed.is_none());
    assert_eq!(used, [false; 3]);

    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.put_part("done", &part(1, 1)).await?;
            tx.put_part("done", &part(2, 2)).await?;
            tx.put_part("dropped", &part(1, 2)).await
        })
    })
    .await
    .unwrap();
    let (_, parts, blobs, completed, used) = upload_looks(&index, "done").await;
    assert_eq!(parts, vec![part(1, 1), part(2, 2)]);
    assert_eq!((blobs, completed), (2, None));
    assert_eq!(used, [true, true, false]);

    // Completed: the object, the upload's end and its memory, at once.
    let obj = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "life".into(),
        key: "movie".into(),
        sha256: Digest([3; 32]),
        size: 10,
        etag: "abc-2".into(),
        content_type: "video/mp4".into(),
        meta: ObjectMeta {
            parts: Some(2),
            ..ObjectMeta::default()
        },
        last_modified: 4,
    };
    write(&index, obj.clone(), |tx, obj| {
        Box::pin(async move {
            tx.put_object(&obj).await?;
            tx.delete_upload("done").await?;
            tx.put_completed("done", "life", "movie", "abc-2", 4).await
        })
    })
    .await
    .unwrap();
    let (u, parts, blobs, completed, used) = upload_looks(&index, "done").await;
    assert!(u.is_none() && parts.is_empty() && blobs == 0);
    assert_eq!(
        completed,
        Some(("life".into(), "movie".into(), "abc-2".into()))
    );
    // Blob 2 is still a part of the other upload.
    assert_eq!(used, [false, true, true]);

    // A part of the ended upload: refused, and nothing of the body kept.
    let r = write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("kept-only-with-the-part", None, 1).await?;
            tx.put_part("done", &part(3, 1)).await
        })
    })
    .await;
    assert!(r.is_err(), "a part of an ended upload was kept");
    let (parts, bucket) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.list_parts("done", 0, 100).await?,
                tx.get_bucket("kept-only-with-the-part").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(parts.is_empty() && bucket.is_none());

    // Aborted: gone with its parts; nothing remembered.
    write(&index, (), |tx, ()| {
        Box::pin(async move { tx.delete_upload("dropped").await })
    })
    .await
    .unwrap();
    let (u, parts, blobs, completed, used) = upload_looks(&index, "dropped").await;
    assert!(u.is_none() && parts.is_empty() && blobs == 0 && completed.is_none());
    assert_eq!(used, [false, false, true]);

    references_to_missing_rows_are_refused(&index).await;
}

fn object(bucket: &str, sha: u8) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket.into(),
        key: "k".into(),
        sha256: Digest([sha; 32]),
        size: 5,
        etag: "e".into(),
        content_type: "text/plain".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    }
}

/// One step of a body.
type Step = for<'t> fn(&'t mut dyn Tx) -> TxFuture<'t, ()>;

/// A row naming a blob, bucket or upload with no row is refused, and so is
/// deleting a blob a row still names: an error, the body undone.
async fn references_to_missing_rows_are_refused(index: &Arc<dyn Index>) {
    let refused = |f: Step| {
        let index = index.clone();
        async move {
            let r: Result<(), IndexError> = write(&index, f, |tx, f| {
                Box::pin(async move {
                    tx.insert_token("undone", &Digest([9; 32]), &[], 1).await?;
                    f(tx).await
                })
            })
            .await;
            assert!(r.is_err(), "a reference to a missing row was kept");
            let tokens = read(&index, (), |tx, ()| {
                Box::pin(async move { tx.token_count().await })
            })
            .await
            .unwrap();
            assert_eq!(tokens, 0, "the refused body's other write was kept");
        }
    };
    // An object of a missing blob, or in a missing bucket.
    refused(|tx| {
        Box::pin(async move {
            tx.put_object(&object("life", 0xee)).await?;
            Ok(())
        })
    })
    .await;
    refused(|tx| {
        Box::pin(async move {
            tx.put_object(&object("no-such-bucket", 3)).await?;
            Ok(())
        })
    })
    .await;
    // A part of a missing blob; a part of an upload never made.
    refused(|tx| {
        Box::pin(async move {
            tx.insert_upload(&upload("fresh")).await?;
            tx.put_part("fresh", &part(1, 0xee)).await
        })
    })
    .await;
    refused(|tx| Box::pin(async move { tx.put_part("never", &part(1, 1)).await })).await;
    // The blob of the completed object, still named by it.
    refused(|tx| Box::pin(async move { tx.delete_blob(&Digest([3; 32]), 0).await.map(drop) }))
        .await;
    let (b3, obj, fresh) = read(index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.get_blob(&Digest([3; 32])).await?,
                tx.get_object("life", "movie").await?,
                tx.get_upload("fresh").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(b3.is_some() && obj.is_some(), "a named blob was deleted");
    assert!(fresh.is_none(), "a refused body's upload was kept");
}
