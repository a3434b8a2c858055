//! The rules of the upload API's files (`storage/files.rs`,
//! `storage/file_parts.rs`): a file's life from declaration to completion,
//! dedupe, intact bytes, the keys S3 clients hold, the sweep and recovery
//! of pending rows.
//!
//! Steps that only set up rows of other domains (S3 objects, multipart)
//! go through the test shim of the retired calls ([`legacy`], in
//! `super::retired`).

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::retired::Retired;
use super::UPLOADS;
use crate::index::{
    BlobInfo, DbError, Declared, FileRecord, Index, MultipartUpload, ObjectMeta, ObjectRecord,
    PartRecord, Status,
};
use crate::storage::file_parts::PartsRefusal;
use crate::storage::files::{CompleteOutcome, PresignOutcome, PutFileOutcome};
use crate::storage::objects::PutObjectOutcome;
use crate::storage::objects::WriteCondition;
use crate::storage::{Payload, Storage, PENDING_GRACE_SECS};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    sweep_removes_only_expired_pending,
    lifecycle_pending_uploaded_completed,
    dedupe_links_and_a_redeclaration_gets_the_stored_record,
    dedupe_never_links_to_bytes_only_an_s3_object_holds,
    parts_sent_again_heal_a_stored_files_damaged_blob_and_keep_its_times,
    an_uploaded_file_is_visible_as_an_object_and_keeps_its_blob,
    only_intact_bytes_count_as_stored_and_a_verified_write_heals_them,
    an_object_an_s3_client_wrote_under_an_id_is_never_replaced,
    a_files_key_is_written_once_whether_or_not_its_object_is_there,
);

fn blob(sha256: Digest, size: u64) -> BlobInfo {
    BlobInfo {
        sha256,
        size,
        md5: Some([7; 16]),
    }
}

fn declared(sha: u8, size: u64) -> Declared {
    Declared {
        id: Uuid::new_v4(),
        file_name: "a.png".into(),
        content_type: "image/png".into(),
        size,
        sha256: Digest([sha; 32]),
    }
}

fn object(bucket: &str, key: &str, sha: u8) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket.into(),
        key: key.into(),
        sha256: Digest([sha; 32]),
        size: 3,
        etag: "e".into(),
        content_type: "text/plain".into(),
        meta: ObjectMeta {
            user: vec![("k".into(), "v".into())],
            ..ObjectMeta::default()
        },
        last_modified: 5,
    }
}

/// A call of the retiring index interface (the rule of a domain not yet
/// ported).
async fn legacy<R, F>(s: &Storage, f: F) -> R
where
    R: Send + 'static,
    F: FnOnce(&dyn Index) -> Result<R, DbError> + Send + 'static,
{
    let index = s.index.clone();
    tokio::task::spawn_blocking(move || f(&*index))
        .await
        .expect("a blocking call that finished")
        .expect("a call of the retired index interface")
}

/// A presign whose URL is good for 900 s.
async fn presign(s: &Storage, d: &Declared, dedupe: bool) -> PresignOutcome {
    s.presign(d, s.now() + 900, dedupe).await.unwrap()
}

/// A PUT of file `id`'s verified bytes `b`: kept inline in the index
/// (`inline`), or else `b.size` bytes staged in the blob store.
async fn put(
    s: &Storage,
    id: Uuid,
    b: BlobInfo,
    inline: Option<&[u8]>,
    lost: Option<&Declared>,
) -> PutFileOutcome {
    let payload = match inline {
        Some(bytes) => Payload::Inline(Bytes::copy_from_slice(bytes)),
        None => {
            let mut staged = s.store.stage().await.unwrap();
            staged.write(&vec![0; b.size as usize]).await.unwrap();
            Payload::Staged(staged)
        }
    };
    s.put_file(id, payload, b, lost.cloned()).await.unwrap()
}

/// Puts a file of `len` bytes under `digest` in the blob store (replacing
/// one there), as if those were its bytes.
async fn store_file(s: &Storage, digest: Digest, len: usize) {
    super::plant_bytes(s, digest, &vec![1; len]).await;
}

async fn file(s: &Storage, id: Uuid) -> Option<FileRecord> {
    s.file(id).await.unwrap()
}

async fn get_object(s: &Storage, bucket: &str, key: &str) -> Option<ObjectRecord> {
    let (b, k) = (bucket.to_string(), key.to_string());
    s.index
        .read(move |tx| {
            let (b, k) = (b.clone(), k.clone());
            Box::pin(async move { tx.get_object(&b, &k).await })
        })
        .await
        .unwrap()
}

/// The damage mark of a blob (`None`: not marked, or no such blob).
async fn damage_of(s: &Storage, sha: Digest) -> Option<String> {
    s.index
        .read(move |tx| Box::pin(async move { tx.get_blob(&sha).await }))
        .await
        .unwrap()
        .and_then(|b| b.damaged)
}

async fn mark_damaged(s: &Storage, sha: Digest, why: &'static str) {
    s.index
        .write(move |tx| Box::pin(async move { tx.mark_damaged(&sha, why).await }))
        .await
        .unwrap()
}

async fn complete(s: &Storage, id: Uuid) -> CompleteOutcome {
    s.complete_file(id).await.unwrap()
}

async fn lifecycle_pending_uploaded_completed(s: super::Storage, clock: super::TestClock) {
    let d = declared(1, 10);
    assert!(matches!(
        presign(&s, &d, true).await,
        PresignOutcome::NeedsUpload
    ));
    assert!(matches!(
        complete(&s, d.id).await,
        CompleteOutcome::NotUploaded
    ));
    // Wrong hash never marks.
    assert_eq!(
        put(&s, d.id, blob(Digest([2; 32]), 10), None, None).await,
        PutFileOutcome::NotFound
    );
    assert_eq!(
        put(&s, d.id, blob(d.sha256, 10), None, None).await,
        PutFileOutcome::Marked
    );
    assert_eq!(
        put(&s, d.id, blob(d.sha256, 10), None, None).await,
        PutFileOutcome::AlreadyStored
    );
    let before = s.now();
    let CompleteOutcome::Completed(r) = complete(&s, d.id).await else {
        panic!("not completed")
    };
    assert_eq!(r.status, Status::Completed);
    let first = r.completed_at.expect("a completion time");
    assert!((before..=s.now()).contains(&first));
    // Idempotent: the first completion time stays.
    clock.advance(6);
    let CompleteOutcome::Completed(r) = complete(&s, d.id).await else {
        panic!("not completed")
    };
    assert_eq!(r.completed_at, Some(first));
}

async fn dedupe_links_and_a_redeclaration_gets_the_stored_record(
    s: super::Storage,
    _clock: super::TestClock,
) {
    let a = declared(7, 5);
    presign(&s, &a, true).await;
    put(&s, a.id, blob(a.sha256, 5), None, None).await;
    let b = declared(7, 5);
    assert!(matches!(
        presign(&s, &b, true).await,
        PresignOutcome::AlreadyStored
    ));
    assert_eq!(file(&s, b.id).await.unwrap().status, Status::Uploaded);
    // Without dedupe the same content needs its own upload.
    let c = declared(7, 5);
    assert!(matches!(
        presign(&s, &c, false).await,
        PresignOutcome::NeedsUpload
    ));
    let mut other = a.clone();
    other.size = 6;
    match presign(&s, &other, true).await {
        // The stored record, for the API to word the refusal.
        PresignOutcome::Redeclared(rec) => assert_eq!((rec.id, rec.size), (a.id, 5)),
        o => panic!("{o:?}"),
    }
}

async fn dedupe_never_links_to_bytes_only_an_s3_object_holds(
    s: super::Storage,
    _clock: super::TestClock,
) {
    // Another key's private object, in the store and inline.
    legacy(&s, |db| {
        db.create_bucket_for("secret", Some("AKIAOTHER"), 0)
    })
    .await;
    let big = object("secret", "doc", 1);
    store_file(&s, big.sha256, 3).await;
    legacy(&s, move |db| {
        db.put_object(
            &big,
            &blob(big.sha256, 3),
            None,
            &WriteCondition::Always,
            UPLOADS,
        )
    })
    .await;
    let small = object("secret", "note", 2);
    legacy(&s, move |db| {
        db.put_object(
            &small,
            &blob(small.sha256, 3),
            Some(b"abc"),
            &WriteCondition::Always,
            UPLOADS,
        )
    })
    .await;
    for sha in [1, 2] {
        let d = declared(sha, 3);
        assert!(s.blob_intact(d.sha256, 3).await.unwrap());
        assert!(matches!(
            presign(&s, &d, true).await,
            PresignOutcome::NeedsUpload
        ));
        assert_eq!(file(&s, d.id).await.unwrap().status, Status::Pending);
        assert!(get_object(&s, UPLOADS, &d.id.to_string()).await.is_none());
    }
    // Once a file of the upload API holds them, they are linked.
    let a = declared(1, 3);
    presign(&s, &a, true).await;
    put(&s, a.id, blob(a.sha256, 3), None, None).await;
    let b = declared(1, 3);
    assert!(matches!(
        presign(&s, &b, true).await,
        PresignOutcome::AlreadyStored
    ));
}

async fn only_intact_bytes_count_as_stored_and_a_verified_write_heals_them(
    s: super::Storage,
    _clock: super::TestClock,
) {
    let a = declared(4, 100);
    presign(&s, &a, true).await;
    put(&s, a.id, blob(a.sha256, 100), None, None).await;
    assert!(s.blob_intact(a.sha256, 100).await.unwrap());
    // The store's file is gone, or of another size: not stored.
    for store_len in [None, Some(99), Some(101)] {
        match store_len {
            None => super::lose_bytes(&s, a.sha256).await,
            Some(n) => store_file(&s, a.sha256, n).await,
        }
        assert!(!s.blob_intact(a.sha256, 100).await.unwrap());
        let b = declared(4, 100);
        assert!(matches!(
            presign(&s, &b, true).await,
            PresignOutcome::NeedsUpload
        ));
    }
    // Marked damaged (the start-up pass found it cut): not stored
    // either, whatever the store says now; the file's own id gets a
    // URL to send the bytes again, and stays uploaded meanwhile.
    store_file(&s, a.sha256, 100).await;
    mark_damaged(&s, a.sha256, "its file has 7 bytes, not 100").await;
    assert!(!s.blob_intact(a.sha256, 100).await.unwrap());
    assert!(matches!(
        presign(&s, &declared(4, 100), true).await,
        PresignOutcome::NeedsUpload
    ));
    assert!(matches!(
        presign(&s, &a, true).await,
        PresignOutcome::NeedsUpload
    ));
    assert_eq!(file(&s, a.id).await.unwrap().status, Status::Uploaded);
    // A copy (no md5: no byte written) and a part leave the mark.
    legacy(&s, |db| db.create_bucket("b", 0)).await;
    let mut copy = object("b", "copy", 4);
    copy.size = 100;
    let no_md5 = BlobInfo {
        md5: None,
        ..blob(a.sha256, 100)
    };
    legacy(&s, move |db| {
        db.put_object(&copy, &no_md5, None, &WriteCondition::Always, UPLOADS)
    })
    .await;
    assert!(damage_of(&s, a.sha256).await.is_some());
    let upload = MultipartUpload {
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "k".into(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        created_at: 0,
    };
    legacy(&s, move |db| db.create_multipart(&upload)).await;
    let part = PartRecord {
        part_number: 1,
        sha256: a.sha256,
        size: 100,
        md5: [7; 16],
        last_modified: 1,
        checksum: None,
    };
    let sha = a.sha256;
    legacy(&s, move |db| {
        db.put_part("u1", &part, &blob(sha, 100), None)
    })
    .await;
    assert!(damage_of(&s, a.sha256).await.is_some());
    // The verified bytes again, through the file's URL: the mark goes
    // in the same write, and the bytes count as stored again.
    assert_eq!(
        put(&s, a.id, blob(a.sha256, 100), None, None).await,
        PutFileOutcome::AlreadyStored
    );
    assert_eq!(damage_of(&s, a.sha256).await, None);
    assert!(s.blob_intact(a.sha256, 100).await.unwrap());
    // Through S3 PutObject (bytes received: md5 known) too.
    mark_damaged(&s, a.sha256, "missing").await;
    let mut put_obj = object("b", "put", 4);
    put_obj.size = 100;
    legacy(&s, move |db| {
        db.put_object(
            &put_obj,
            &blob(sha, 100),
            None,
            &WriteCondition::Always,
            UPLOADS,
        )
    })
    .await;
    assert_eq!(damage_of(&s, a.sha256).await, None);
    // Bytes kept inline in the index need no file in the store.
    let small = declared(5, 3);
    presign(&s, &small, true).await;
    put(&s, small.id, blob(small.sha256, 3), Some(b"xyz"), None).await;
    assert_eq!(s.stored_len(&small.sha256).await.unwrap(), None);
    assert!(s.blob_intact(small.sha256, 3).await.unwrap());
    assert!(matches!(
        presign(&s, &declared(5, 3), true).await,
        PresignOutcome::AlreadyStored
    ));
}

async fn parts_sent_again_heal_a_stored_files_damaged_blob_and_keep_its_times(
    s: super::Storage,
    clock: super::TestClock,
) {
    // Real bytes: the parts are put together and checked against them.
    let mut a = declared(0, 3);
    a.sha256 = Digest(Sha256::digest(b"abc").into());
    presign(&s, &a, true).await;
    put(&s, a.id, blob(a.sha256, 3), None, None).await;
    let CompleteOutcome::Completed(stored) = complete(&s, a.id).await else {
        panic!("not completed")
    };
    mark_damaged(&s, a.sha256, "its file is missing").await;
    clock.advance(60);
    let (id, now) = (a.id, s.now());
    let part = PartRecord {
        part_number: 1,
        sha256: Digest([60; 32]),
        size: 3,
        md5: [7; 16],
        last_modified: now,
        checksum: None,
    };
    let p = part.clone();
    s.index
        .write(move |tx| {
            let p = p.clone();
            Box::pin(async move {
                tx.insert_upload(&MultipartUpload {
                    upload_id: "file-heal".into(),
                    bucket: UPLOADS.into(),
                    key: id.to_string(),
                    content_type: "image/png".into(),
                    meta: ObjectMeta::default(),
                    created_at: now,
                })
                .await?;
                tx.record_blob(&blob(p.sha256, 3), Some(b"abc"), now, true)
                    .await?;
                tx.put_part("file-heal", &p).await
            })
        })
        .await
        .unwrap();
    let CompleteOutcome::Completed(record) = complete(&s, a.id).await else {
        panic!("not completed")
    };
    assert_eq!(record.status, Status::Completed);
    assert_eq!(
        (record.uploaded_at, record.completed_at),
        (stored.uploaded_at, stored.completed_at)
    );
    // The part's blob was released (nothing refers to it any more).
    let gone = part.sha256;
    let row = s
        .index
        .read(move |tx| Box::pin(async move { tx.get_blob(&gone).await }))
        .await
        .unwrap();
    assert!(row.is_none());
    assert_eq!(damage_of(&s, a.sha256).await, None);
    let upload = s
        .index
        .read(|tx| Box::pin(async move { tx.get_upload("file-heal").await }))
        .await
        .unwrap();
    assert!(upload.is_none());
    assert_eq!(
        get_object(&s, UPLOADS, &a.id.to_string())
            .await
            .unwrap()
            .sha256,
        a.sha256
    );
}

async fn an_object_an_s3_client_wrote_under_an_id_is_never_replaced(
    s: super::Storage,
    _clock: super::TestClock,
) {
    legacy(&s, |db| db.create_bucket(UPLOADS, 0)).await;
    let s3_put = |d: &Declared, sha: u8| {
        let mut o = object(UPLOADS, &d.id.to_string(), sha);
        o.size = 3;
        let theirs = o.clone();
        let put = legacy(&s, move |db| {
            db.put_object(
                &o,
                &blob(o.sha256, 3),
                None,
                &WriteCondition::Always,
                UPLOADS,
            )
        });
        async move {
            put.await;
            theirs
        }
    };
    // Written before any presign: the id is taken.
    let a = declared(1, 3);
    let theirs = s3_put(&a, 9).await;
    store_file(&s, a.sha256, 3).await;
    assert!(matches!(
        presign(&s, &a, true).await,
        PresignOutcome::Occupied
    ));
    assert!(file(&s, a.id).await.is_none());
    // Nor does a self-contained URL make a row and take the key.
    assert_eq!(
        put(&s, a.id, blob(a.sha256, 3), None, Some(&a)).await,
        PutFileOutcome::Occupied
    );
    assert!(file(&s, a.id).await.is_none());
    assert_eq!(
        get_object(&s, UPLOADS, &a.id.to_string()).await,
        Some(theirs)
    );

    // Written after the presign, before the PUT: the PUT records nothing.
    let b = declared(2, 3);
    presign(&s, &b, true).await;
    let theirs = s3_put(&b, 8).await;
    assert_eq!(
        put(&s, b.id, blob(b.sha256, 3), None, None).await,
        PutFileOutcome::Occupied
    );
    assert_eq!(file(&s, b.id).await.unwrap().status, Status::Pending);
    assert_eq!(
        get_object(&s, UPLOADS, &b.id.to_string()).await,
        Some(theirs.clone())
    );
    assert!(matches!(
        presign(&s, &b, true).await,
        PresignOutcome::Occupied
    ));
    // The start-up pass does not adopt bytes for it either: they go. (A
    // store of ids has nothing to adopt: bytes no row names are garbage.)
    if s.store.names_by_content() {
        store_file(&s, b.sha256, 3).await;
        let r = s.recover().await.unwrap();
        assert_eq!(r.relinked, 0);
        assert_eq!(s.stored_len(&b.sha256).await.unwrap(), None);
    }
    assert_eq!(file(&s, b.id).await.unwrap().status, Status::Pending);
    // Nor does a part-wise upload complete over it.
    let (id, sha) = (b.id, b.sha256);
    s.index
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_upload(&MultipartUpload {
                    upload_id: "file-1".into(),
                    bucket: UPLOADS.into(),
                    key: id.to_string(),
                    content_type: "image/png".into(),
                    meta: ObjectMeta::default(),
                    created_at: 0,
                })
                .await?;
                tx.record_blob(&blob(sha, 3), Some(b"abc"), 1, true).await?;
                let part = PartRecord {
                    part_number: 1,
                    sha256: sha,
                    size: 3,
                    md5: [7; 16],
                    last_modified: 1,
                    checksum: None,
                };
                tx.put_part("file-1", &part).await
            })
        })
        .await
        .unwrap();
    assert!(matches!(
        complete(&s, b.id).await,
        CompleteOutcome::Parts(PartsRefusal::Occupied)
    ));
    assert_eq!(file(&s, b.id).await.unwrap().status, Status::Pending);
    assert_eq!(
        get_object(&s, UPLOADS, &b.id.to_string()).await,
        Some(theirs)
    );

    // A file's own object is no conflict: presign again is 200.
    let c = declared(3, 3);
    presign(&s, &c, true).await;
    put(&s, c.id, blob(c.sha256, 3), None, None).await;
    assert!(matches!(
        presign(&s, &c, true).await,
        PresignOutcome::AlreadyStored
    ));
    // An S3 write cannot replace it: the key is written once.
    let o = object(UPLOADS, &c.id.to_string(), 7);
    let o2 = o.clone();
    assert_eq!(
        legacy(&s, move |db| db.put_object(
            &o2,
            &blob(o2.sha256, 3),
            None,
            &WriteCondition::Always,
            UPLOADS
        ))
        .await,
        PutObjectOutcome::WrittenOnce
    );
    assert!(matches!(
        presign(&s, &c, true).await,
        PresignOutcome::AlreadyStored
    ));
    // Other bytes under its key all the same (written while the upload
    // bucket was configured under another name, or before keys were
    // written once) are no file's: presign refuses the id.
    legacy(&s, move |db| {
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "elsewhere",
        )
    })
    .await;
    assert!(matches!(
        presign(&s, &c, true).await,
        PresignOutcome::Occupied
    ));
}

async fn sweep_removes_only_expired_pending(s: super::Storage, _clock: super::TestClock) {
    // Expired longer ago than the grace period, or not.
    let long_ago = s.now() - PENDING_GRACE_SECS - 100;
    let old = declared(1, 1);
    let fresh = declared(2, 1);
    let done = declared(3, 1);
    s.presign(&old, long_ago, true).await.unwrap();
    s.presign(&fresh, s.now() + 10_000, true).await.unwrap();
    s.presign(&done, long_ago, true).await.unwrap();
    put(&s, done.id, blob(done.sha256, 1), Some(b"x"), None).await;
    assert_eq!(s.sweep().await.unwrap().0, 1);
    assert!(file(&s, old.id).await.is_none());
    assert!(file(&s, fresh.id).await.is_some());
    assert!(file(&s, done.id).await.is_some());
    // An expired row whose bytes are arriving is kept.
    let busy = declared(4, 1);
    s.presign(&busy, long_ago, true).await.unwrap();
    let arriving = s.begin_upload(busy.id).await.unwrap();
    assert_eq!(s.sweep().await.unwrap().0, 0);
    assert!(file(&s, busy.id).await.is_some());
    drop(arriving);
}

async fn an_uploaded_file_is_visible_as_an_object_and_keeps_its_blob(
    s: super::Storage,
    _clock: super::TestClock,
) {
    let d = declared(4, 10);
    presign(&s, &d, true).await;
    put(&s, d.id, blob(d.sha256, 10), None, None).await;
    let o = get_object(&s, UPLOADS, &d.id.to_string()).await.unwrap();
    assert_eq!(o.etag, hex::encode([7u8; 16]));
    assert_eq!(o.content_type, "image/png");
    // Deleting the object leaves the file's reference.
    let key = d.id.to_string();
    legacy(&s, move |db| db.delete_object(UPLOADS, &key)).await;
    assert!(!s.release(d.sha256).await.unwrap());
}

async fn a_files_key_is_written_once_whether_or_not_its_object_is_there(
    s: super::Storage,
    _clock: super::TestClock,
) {
    legacy(&s, |db| db.create_bucket("other", 0)).await;
    legacy(&s, |db| db.create_bucket(UPLOADS, 0)).await;
    let put_s3 = |bucket: &str, key: &str, cond: WriteCondition| {
        let o = object(bucket, key, 9);
        legacy(&s, move |db| {
            db.put_object(&o, &blob(o.sha256, 3), None, &cond, UPLOADS)
        })
    };
    let stored = |o: PutObjectOutcome| matches!(o, PutObjectOutcome::Stored { .. });
    // Pending: the key is not the file's yet (the upload API refuses
    // the file if an S3 client writes there first).
    let pending = declared(5, 3);
    presign(&s, &pending, true).await;
    let pending_key = pending.id.to_string();
    assert!(stored(
        put_s3(UPLOADS, &pending_key, WriteCondition::Always).await
    ));
    let d = declared(4, 3);
    presign(&s, &d, true).await;
    let key = d.id.to_string();
    put(&s, d.id, blob(d.sha256, 3), None, None).await;
    for cond in [
        WriteCondition::Always,
        WriteCondition::IfEtag(hex::encode([7u8; 16])),
    ] {
        assert_eq!(
            put_s3(UPLOADS, &key, cond).await,
            PutObjectOutcome::WrittenOnce
        );
    }
    assert_eq!(
        get_object(&s, UPLOADS, &key).await.unwrap().sha256,
        d.sha256
    );
    // Deleted through S3: still the file's key.
    let k = key.clone();
    legacy(&s, move |db| db.delete_object(UPLOADS, &k)).await;
    assert_eq!(
        put_s3(UPLOADS, &key, WriteCondition::IfAbsent).await,
        PutObjectOutcome::WrittenOnce
    );
    assert!(get_object(&s, UPLOADS, &key).await.is_none());
    // A multipart completion onto it is refused alike: see
    // `multipart::a_completion_never_writes_a_files_key`.
    // The same key in another bucket, another spelling of the id, and
    // the upload bucket when it is not the files' are ordinary keys.
    assert!(stored(put_s3("other", &key, WriteCondition::Always).await));
    assert!(stored(
        put_s3(UPLOADS, &key.to_uppercase(), WriteCondition::Always).await
    ));
    let o = object(UPLOADS, &key, 9);
    assert!(stored(
        legacy(&s, move |db| db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "files"
        ))
        .await
    ));
}
