//! S3 objects: what a write may record (its bucket, its condition, the
//! upload API's written-once keys), what copies and deletes do to blobs,
//! listings in S3's order, and reading an object's bytes.

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::UPLOADS;
use crate::index::{BlobInfo, Declared, ObjectMeta, ObjectRecord, Status};
use crate::storage::objects::{
    ConditionFailure, CopyOutcome, DeleteObjectOutcome, PutObjectOutcome, WriteCondition,
};
use crate::storage::{Payload, Storage, StorageError};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    objects_live_in_buckets_and_release_their_blobs,
    a_delete_names_a_missing_key_or_a_missing_bucket,
    blobs_in_the_store_go_with_the_last_object_naming_them,
    listing_is_in_utf8_byte_order_with_prefix_and_marker,
    conditions_are_decided_when_the_write_commits,
    of_racing_writers_of_a_free_key_exactly_one_wins,
    of_racing_creates_of_one_key_exactly_one_wins_and_only_its_bytes_stay,
    of_racing_replacements_of_one_etag_exactly_one_wins_and_only_its_bytes_stay,
    a_files_key_is_written_once_whether_or_not_its_object_is_there,
    a_copy_names_the_same_blob_only_while_the_source_does,
    a_copy_leaves_a_damage_mark_and_a_put_of_the_bytes_heals_it,
    an_object_is_read_from_its_inline_bytes_or_the_store,
);

/// The blob of `bytes`, with its real hashes.
pub(super) fn blob_of(bytes: &[u8]) -> BlobInfo {
    BlobInfo {
        sha256: Digest(Sha256::digest(bytes).into()),
        size: bytes.len() as u64,
        md5: Some(Md5::digest(bytes).into()),
    }
}

/// An object at `bucket/key` holding `blob`.
pub(super) fn object(bucket: &str, key: &str, blob: &BlobInfo) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket.into(),
        key: key.into(),
        sha256: blob.sha256,
        size: blob.size,
        etag: blob.md5.map(hex::encode).unwrap_or_default(),
        content_type: "text/plain".into(),
        meta: ObjectMeta {
            user: vec![("k".into(), "v".into())],
            ..ObjectMeta::default()
        },
        last_modified: 5,
    }
}

/// PutObject of `bytes` (kept inline: they are small) at `bucket/key`.
pub(super) async fn put(
    s: &Storage,
    bucket: &str,
    key: &str,
    bytes: &[u8],
    cond: WriteCondition,
) -> PutObjectOutcome {
    let blob = blob_of(bytes);
    let payload = Payload::Inline(Bytes::copy_from_slice(bytes));
    s.put_object(payload, object(bucket, key, &blob), blob, cond)
        .await
        .unwrap()
}

/// PutObject of `bytes` staged in the blob store.
async fn put_staged(s: &Storage, bucket: &str, key: &str, bytes: &[u8]) -> PutObjectOutcome {
    let blob = blob_of(bytes);
    let mut staged = s.store.stage().await.unwrap();
    staged.write(bytes).await.unwrap();
    s.put_object(
        Payload::Staged(staged),
        object(bucket, key, &blob),
        blob,
        WriteCondition::Always,
    )
    .await
    .unwrap()
}

pub(super) async fn create_bucket(s: &Storage, name: &str) {
    assert!(s.create_bucket(name).await.unwrap());
}

/// Whether the index still has a row for the blob.
pub(super) async fn blob_row(s: &Storage, d: Digest) -> bool {
    s.index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap()
        .is_some()
}

/// Its damage mark (`None`: not marked).
async fn damage_of(s: &Storage, d: Digest) -> Option<String> {
    s.index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap()
        .and_then(|b| b.damaged)
}

/// A file of the upload API declared for `bytes`, recorded with `status`;
/// with bytes, its blob and its object in the upload bucket too (as the
/// upload API records them).
async fn file(s: &Storage, bytes: &[u8], status: Status) -> Declared {
    let blob = blob_of(bytes);
    let d = Declared {
        id: uuid::Uuid::new_v4(),
        file_name: "a.txt".into(),
        content_type: "text/plain".into(),
        size: blob.size,
        sha256: blob.sha256,
    };
    let (row, data) = (d.clone(), bytes.to_vec());
    s.index
        .write(move |tx| {
            let (d, data) = (row.clone(), data.clone());
            Box::pin(async move {
                tx.insert_bucket(UPLOADS, None, 0).await?;
                let uploaded = status.has_bytes().then_some(1);
                tx.insert_file(&d, status, 0, 900, uploaded).await?;
                if status.has_bytes() {
                    tx.record_blob(&blob, Some(&data), 1, true).await?;
                    tx.put_object(&object(UPLOADS, &d.id.to_string(), &blob))
                        .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    d
}

async fn objects_live_in_buckets_and_release_their_blobs(
    s: super::Storage,
    _clock: super::TestClock,
) {
    let key = "a/ü b+c";
    assert_eq!(
        put(&s, "b1", key, b"one", WriteCondition::Always).await,
        PutObjectOutcome::NoSuchBucket
    );
    // Refused: nothing refers to the new blob, so it is gone again.
    assert!(!blob_row(&s, blob_of(b"one").sha256).await);
    assert!(s.create_bucket("b1").await.unwrap());
    assert!(!s.create_bucket("b1").await.unwrap());
    assert_eq!(
        put(&s, "b1", key, b"one", WriteCondition::Always).await,
        PutObjectOutcome::Stored {
            released: vec![],
            version_id: None,
            expiry: None,
        }
    );
    let o = object("b1", key, &blob_of(b"one"));
    assert_eq!(s.get_object("b1", key).await.unwrap().unwrap(), o);
    // Overwrite with other bytes names the blob it replaced, which is
    // released: nothing refers to it any more.
    assert_eq!(
        put(&s, "b1", key, b"two", WriteCondition::Always).await,
        PutObjectOutcome::Stored {
            released: vec![o.sha256],
            version_id: None,
            expiry: None,
        }
    );
    assert!(!blob_row(&s, o.sha256).await);
    let o2 = object("b1", key, &blob_of(b"two"));
    assert!(!s.release(o2.sha256).await.unwrap(), "still referenced");
    assert_eq!(
        s.delete_bucket("b1").await.unwrap(),
        crate::storage::buckets::DeleteBucketOutcome::NotEmpty
    );
    assert_eq!(
        s.delete_object("b1", key, None).await.unwrap(),
        DeleteObjectOutcome::Deleted(Box::new(o2.clone()))
    );
    assert!(!blob_row(&s, o2.sha256).await, "released with its object");
    assert_eq!(
        s.delete_bucket("b1").await.unwrap(),
        crate::storage::buckets::DeleteBucketOutcome::Deleted
    );
    assert_eq!(
        s.delete_bucket("b1").await.unwrap(),
        crate::storage::buckets::DeleteBucketOutcome::NotFound
    );
}

async fn a_delete_names_a_missing_key_or_a_missing_bucket(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert_eq!(
        s.delete_object("nope", "k", None).await.unwrap(),
        DeleteObjectOutcome::NoSuchBucket
    );
    create_bucket(&s, "b").await;
    assert_eq!(
        s.delete_object("b", "k", None).await.unwrap(),
        DeleteObjectOutcome::Absent
    );
}

async fn blobs_in_the_store_go_with_the_last_object_naming_them(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    let (one, two) = (vec![1u8; 100_000], vec![2u8; 100_000]);
    let (d1, d2) = (blob_of(&one).sha256, blob_of(&two).sha256);
    put_staged(&s, "b", "x", &one).await;
    put_staged(&s, "b", "y", &one).await;
    assert!(s.open_stored(&d1).await.unwrap().is_some());
    // Another object still names it: replacing one keeps the file.
    put_staged(&s, "b", "x", &two).await;
    assert!(s.open_stored(&d1).await.unwrap().is_some());
    put_staged(&s, "b", "y", &two).await;
    assert!(s.open_stored(&d1).await.unwrap().is_none());
    // A refused write leaves no file behind.
    let three = vec![3u8; 100_000];
    let blob = blob_of(&three);
    let mut staged = s.store.stage().await.unwrap();
    staged.write(&three).await.unwrap();
    let out = s
        .put_object(
            Payload::Staged(staged),
            object("b", "x", &blob),
            blob,
            WriteCondition::IfAbsent,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        PutObjectOutcome::ConditionFailed(ConditionFailure::Precondition)
    );
    assert!(s.open_stored(&blob.sha256).await.unwrap().is_none());
    assert!(s.open_stored(&d2).await.unwrap().is_some());
    for k in ["x", "y"] {
        s.delete_object("b", k, None).await.unwrap();
    }
    assert!(s.open_stored(&d2).await.unwrap().is_none());
}

async fn listing_is_in_utf8_byte_order_with_prefix_and_marker(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    for (i, k) in ["b", "a/2", "a/1", "é", "Z", "a%"].iter().enumerate() {
        put(&s, "b", k, &[i as u8], WriteCondition::Always).await;
    }
    let keys = |v: Vec<ObjectRecord>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.list_objects("b", "", "", 100).await.unwrap()),
        ["Z", "a%", "a/1", "a/2", "b", "é"]
    );
    assert_eq!(
        keys(s.list_objects("b", "a/", "", 100).await.unwrap()),
        ["a/1", "a/2"]
    );
    assert_eq!(
        keys(s.list_objects("b", "", "a/1", 2).await.unwrap()),
        ["a/2", "b"]
    );
}

async fn conditions_are_decided_when_the_write_commits(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    assert_eq!(
        put(&s, "b", "k", b"v1", WriteCondition::IfEtag("00".into())).await,
        PutObjectOutcome::ConditionFailed(ConditionFailure::NoObject)
    );
    assert_eq!(
        put(&s, "b", "k", b"v1", WriteCondition::IfAbsent).await,
        PutObjectOutcome::Stored {
            released: vec![],
            version_id: None,
            expiry: None,
        }
    );
    assert_eq!(
        put(&s, "b", "k", b"v2", WriteCondition::IfAbsent).await,
        PutObjectOutcome::ConditionFailed(ConditionFailure::Precondition)
    );
    assert!(!blob_row(&s, blob_of(b"v2").sha256).await);
    assert_eq!(
        put(&s, "b", "k", b"v2", WriteCondition::IfEtag("00".into())).await,
        PutObjectOutcome::ConditionFailed(ConditionFailure::Precondition)
    );
    let etag = hex::encode(blob_of(b"v1").md5.unwrap());
    assert_eq!(
        put(&s, "b", "k", b"v2", WriteCondition::IfEtag(etag)).await,
        PutObjectOutcome::Stored {
            released: vec![blob_of(b"v1").sha256],
            version_id: None,
            expiry: None,
        }
    );
}

async fn of_racing_writers_of_a_free_key_exactly_one_wins(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
    let outs = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| put(&s, "b", "k", b, WriteCondition::IfAbsent)),
    )
    .await;
    let won: Vec<usize> = (0..outs.len())
        .filter(|&i| {
            outs[i]
                == PutObjectOutcome::Stored {
                    released: vec![],
                    version_id: None,
                    expiry: None,
                }
        })
        .collect();
    assert_eq!(won.len(), 1, "{outs:?}");
    for (i, o) in outs.iter().enumerate() {
        if i != won[0] {
            assert_eq!(
                *o,
                PutObjectOutcome::ConditionFailed(ConditionFailure::Precondition)
            );
            assert!(!blob_row(&s, blob_of(&bodies[i]).sha256).await);
        }
    }
    let got = s.get_object("b", "k").await.unwrap().unwrap();
    assert_eq!(got.sha256, blob_of(&bodies[won[0]]).sha256);
}

async fn a_files_key_is_written_once_whether_or_not_its_object_is_there(
    mut s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "other").await;
    // Pending: the key is not the file's yet (the upload API refuses the
    // file if an S3 client writes there first).
    let pending = file(&s, b"pending", Status::Pending).await;
    let pending_key = pending.id.to_string();
    assert!(!s.is_file_key(UPLOADS, &pending_key).await.unwrap());
    assert!(matches!(
        put(&s, UPLOADS, &pending_key, b"s3", WriteCondition::Always).await,
        PutObjectOutcome::Stored { .. }
    ));
    let d = file(&s, b"stored", Status::Uploaded).await;
    let key = d.id.to_string();
    assert!(s.is_file_key(UPLOADS, &key).await.unwrap());
    let theirs = || async { s.get_object(UPLOADS, &key).await.unwrap().map(|o| o.sha256) };
    for cond in [
        WriteCondition::Always,
        WriteCondition::IfEtag(hex::encode(blob_of(b"stored").md5.unwrap())),
    ] {
        assert_eq!(
            put(&s, UPLOADS, &key, b"s3", cond).await,
            PutObjectOutcome::WrittenOnce
        );
    }
    assert_eq!(theirs().await, Some(d.sha256));
    // Deleted through S3: still the file's key.
    s.delete_object(UPLOADS, &key, None).await.unwrap();
    assert!(blob_row(&s, d.sha256).await, "the file still refers to it");
    assert_eq!(
        put(&s, UPLOADS, &key, b"s3", WriteCondition::IfAbsent).await,
        PutObjectOutcome::WrittenOnce
    );
    assert_eq!(theirs().await, None);
    // The same key in another bucket, another spelling of the id, and the
    // upload bucket when it is not the files' are ordinary keys.
    assert!(matches!(
        put(&s, "other", &key, b"s3", WriteCondition::Always).await,
        PutObjectOutcome::Stored { .. }
    ));
    assert!(!s.is_file_key(UPLOADS, &key.to_uppercase()).await.unwrap());
    assert!(matches!(
        put(
            &s,
            UPLOADS,
            &key.to_uppercase(),
            b"s3",
            WriteCondition::Always
        )
        .await,
        PutObjectOutcome::Stored { .. }
    ));
    s.settings.upload_bucket = "files".into();
    assert!(!s.is_file_key(UPLOADS, &key).await.unwrap());
    assert!(matches!(
        put(&s, UPLOADS, &key, b"s3", WriteCondition::Always).await,
        PutObjectOutcome::Stored { .. }
    ));
}

async fn a_copy_names_the_same_blob_only_while_the_source_does(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    put(&s, "b", "src", b"bytes", WriteCondition::Always).await;
    let src = s.get_object("b", "src").await.unwrap().unwrap();
    let copy = |key: &str| ObjectRecord {
        key: key.into(),
        ..src.clone()
    };
    assert_eq!(
        s.copy_object(&src, copy("dst")).await.unwrap(),
        CopyOutcome::Put(PutObjectOutcome::Stored {
            released: vec![],
            version_id: None,
            expiry: None,
        })
    );
    assert_eq!(
        s.get_object("b", "dst").await.unwrap().unwrap().sha256,
        src.sha256
    );
    // Both name it: deleting the source keeps it for the copy.
    s.delete_object("b", "src", None).await.unwrap();
    assert!(blob_row(&s, src.sha256).await);
    // The source gone (or holding other bytes) when the copy commits:
    // nothing is recorded.
    assert_eq!(
        s.copy_object(&src, copy("again")).await.unwrap(),
        CopyOutcome::SourceChanged
    );
    put(&s, "b", "src", b"other", WriteCondition::Always).await;
    assert_eq!(
        s.copy_object(&src, copy("again")).await.unwrap(),
        CopyOutcome::SourceChanged
    );
    assert!(s.get_object("b", "again").await.unwrap().is_none());
    // A copy over an object releases the blob that one named.
    let other = blob_of(b"other").sha256;
    put(&s, "b", "over", b"gone", WriteCondition::Always).await;
    let src = s.get_object("b", "src").await.unwrap().unwrap();
    let onto = ObjectRecord {
        key: "over".into(),
        ..src.clone()
    };
    assert_eq!(
        s.copy_object(&src, onto).await.unwrap(),
        CopyOutcome::Put(PutObjectOutcome::Stored {
            released: vec![blob_of(b"gone").sha256],
            version_id: None,
            expiry: None,
        })
    );
    assert!(!blob_row(&s, blob_of(b"gone").sha256).await);
    assert_eq!(
        s.get_object("b", "over").await.unwrap().unwrap().sha256,
        other
    );
    // Its destination's rules hold as for a put.
    let elsewhere = ObjectRecord {
        bucket: "nope".into(),
        ..src.clone()
    };
    assert_eq!(
        s.copy_object(&src, elsewhere).await.unwrap(),
        CopyOutcome::Put(PutObjectOutcome::NoSuchBucket)
    );
    let d = file(&s, b"stored", Status::Completed).await;
    let onto_file = ObjectRecord {
        bucket: UPLOADS.into(),
        key: d.id.to_string(),
        ..src.clone()
    };
    assert_eq!(
        s.copy_object(&src, onto_file).await.unwrap(),
        CopyOutcome::Put(PutObjectOutcome::WrittenOnce)
    );
}

async fn a_copy_leaves_a_damage_mark_and_a_put_of_the_bytes_heals_it(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    put(&s, "b", "src", b"bytes", WriteCondition::Always).await;
    let src = s.get_object("b", "src").await.unwrap().unwrap();
    let d = src.sha256;
    s.index
        .write(move |tx| Box::pin(async move { tx.mark_damaged(&d, "missing").await }))
        .await
        .unwrap();
    let copy = ObjectRecord {
        key: "copy".into(),
        ..src.clone()
    };
    s.copy_object(&src, copy).await.unwrap();
    assert!(damage_of(&s, d).await.is_some(), "a copy wrote no byte");
    put(&s, "b", "put", b"bytes", WriteCondition::Always).await;
    assert_eq!(damage_of(&s, d).await, None);
}

async fn an_object_is_read_from_its_inline_bytes_or_the_store(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    put(&s, "b", "small", b"0123456789", WriteCondition::Always).await;
    let big = vec![7u8; 100_000];
    put_staged(&s, "b", "big", &big).await;
    assert!(s.get_object_inline("b", "none").await.unwrap().is_none());

    let (obj, inline) = s.get_object_inline("b", "small").await.unwrap().unwrap();
    assert_eq!(inline.as_deref(), Some(&b"0123456789"[..]));
    assert_eq!(
        s.blob_data(&obj.sha256).await.unwrap().as_deref(),
        Some(&b"0123456789"[..])
    );
    let r = s.open_object(&obj, inline, 2, 3).await.unwrap();
    assert_eq!(r.len, 10);
    assert_eq!(read_all(r).await, b"234");

    let (obj, inline) = s.get_object_inline("b", "big").await.unwrap().unwrap();
    assert!(inline.is_none());
    let r = s.open_object(&obj, None, 99_998, 2).await.unwrap();
    assert_eq!(r.len, 100_000);
    assert_eq!(read_all(r).await, [7, 7]);
    // Its file gone: damaged, not an empty body.
    super::lose_bytes(&s, obj.sha256).await;
    assert!(matches!(
        s.open_object(&obj, None, 0, 1).await,
        Err(StorageError::Damaged(_))
    ));
}

async fn read_all(r: crate::store::BlobReader) -> Vec<u8> {
    use futures_util::TryStreamExt;
    r.chunks
        .try_fold(Vec::new(), |mut v, c| async move {
            v.extend_from_slice(&c);
            Ok(v)
        })
        .await
        .unwrap()
}

/// Racers of the conditional write checks, each with a body of its own:
/// the even ones small (kept inline), the odd ones large (in the store).
const RACERS: u8 = 10;

fn racer_body(n: u8) -> Vec<u8> {
    let len = if n % 2 == 0 { 50 } else { 70_000 };
    vec![n; len + n as usize]
}

/// PutObject of `bytes` at `b/k` if `cond` holds when it commits: in
/// memory if small, staged in the blob store if not.
async fn put_any(s: &Storage, bytes: &[u8], cond: WriteCondition) -> PutObjectOutcome {
    let blob = blob_of(bytes);
    let payload = if s.keeps_inline(bytes.len() as u64) {
        Payload::Inline(Bytes::copy_from_slice(bytes))
    } else {
        let mut staged = s.store.stage().await.unwrap();
        staged.write(bytes).await.unwrap();
        Payload::Staged(staged)
    };
    s.put_object(payload, object("b", "k", &blob), blob, cond)
        .await
        .unwrap()
}

/// Whether a body's blob is kept: (its row, its bytes in the store).
async fn kept(s: &Storage, bytes: &[u8]) -> (bool, bool) {
    let d = blob_of(bytes).sha256;
    (
        blob_row(s, d).await,
        s.stored_len(&d).await.unwrap().is_some(),
    )
}

/// Runs the racers at once, each writing its body at `b/k` if `cond`
/// holds; their answers, by racer.
async fn race(s: &std::sync::Arc<Storage>, cond: WriteCondition) -> Vec<PutObjectOutcome> {
    let tasks: Vec<_> = (1..=RACERS)
        .map(|n| {
            let (s, cond) = (s.clone(), cond.clone());
            tokio::spawn(async move { put_any(&s, &racer_body(n), cond).await })
        })
        .collect();
    let mut outs = Vec::new();
    for t in tasks {
        outs.push(t.await.expect("a racer"));
    }
    outs
}

/// The one racer whose write was stored (its number); the others were
/// refused for the condition and keep no blob; the key holds the winner's
/// object, whose bytes are kept where they belong.
async fn one_winner(s: &Storage, outs: &[PutObjectOutcome], replaced: Option<Digest>) -> u8 {
    let stored = PutObjectOutcome::Stored {
        released: replaced.into_iter().collect(),
        version_id: None,
        expiry: None,
    };
    let won: Vec<u8> = (1..=RACERS)
        .filter(|n| outs[*n as usize - 1] == stored)
        .collect();
    assert_eq!(won.len(), 1, "{outs:?}");
    let winner = won[0];
    for n in (1..=RACERS).filter(|n| *n != winner) {
        assert_eq!(
            outs[n as usize - 1],
            PutObjectOutcome::ConditionFailed(ConditionFailure::Precondition)
        );
        assert_eq!(kept(s, &racer_body(n)).await, (false, false), "loser {n}");
    }
    let body = racer_body(winner);
    let got = s.get_object("b", "k").await.unwrap().expect("the object");
    assert_eq!(got, object("b", "k", &blob_of(&body)));
    assert_eq!(kept(s, &body).await, (true, winner % 2 == 1));
    winner
}

async fn of_racing_creates_of_one_key_exactly_one_wins_and_only_its_bytes_stay(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    let s = std::sync::Arc::new(s);
    let outs = race(&s, WriteCondition::IfAbsent).await;
    one_winner(&s, &outs, None).await;
}

async fn of_racing_replacements_of_one_etag_exactly_one_wins_and_only_its_bytes_stay(
    s: super::Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "b").await;
    let first = b"the first body".to_vec();
    assert_eq!(
        put_any(&s, &first, WriteCondition::IfAbsent).await,
        PutObjectOutcome::Stored {
            released: vec![],
            version_id: None,
            expiry: None,
        }
    );
    let etag = hex::encode(blob_of(&first).md5.unwrap());
    let s = std::sync::Arc::new(s);
    let outs = race(&s, WriteCondition::IfEtag(etag)).await;
    one_winner(&s, &outs, Some(blob_of(&first).sha256)).await;
    // The body it replaced is let go.
    assert_eq!(kept(&s, &first).await, (false, false));
}
