//! The rules of S3 multipart uploads (`storage::multipart`), on any index.

use md5::{Digest as _, Md5};
use sha2::Sha256;
use uuid::Uuid;

use super::UPLOADS;
use crate::index::{BlobInfo, Declared, MultipartUpload, ObjectMeta, ObjectRecord, Status};
use crate::storage::multipart::{
    CompleteMultipartOutcome as Complete, CopyPartOutcome, CreateMultipartOutcome, PutPartOutcome,
    MIN_PART,
};
use crate::storage::objects::{ConditionFailure, WriteCondition};
use crate::storage::{Payload, Storage, INLINE_BLOB_MAX};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    an_upload_opens_only_in_a_bucket_and_belongs_to_its_key,
    a_replaced_part_releases_its_blob_and_a_part_of_no_upload_is_not_kept,
    a_part_leaves_a_damage_mark_as_it_is,
    a_part_copied_whole_shares_the_blob_and_a_range_gets_its_own,
    a_completion_records_the_object_forgets_the_upload_and_remembers_it,
    a_completions_condition_is_decided_when_it_commits,
    a_part_uploaded_again_during_assembly_refuses_the_completion,
    a_completion_never_writes_a_files_key,
    an_abort_forgets_only_its_own_upload_and_releases_its_parts,
    uploads_are_listed_by_key_then_id_after_the_marker,
);

/// The facts of `data`, as a received body's.
fn blob_of(data: &[u8]) -> BlobInfo {
    BlobInfo {
        sha256: Digest(Sha256::digest(data).into()),
        size: data.len() as u64,
        md5: Some(Md5::digest(data).into()),
    }
}

/// `data` received and verified: in memory if small, staged if not.
async fn received(s: &Storage, data: &[u8]) -> (Payload, BlobInfo) {
    let payload = if data.len() as u64 <= INLINE_BLOB_MAX {
        Payload::Inline(bytes::Bytes::copy_from_slice(data))
    } else {
        let mut staged = s.store.stage().await.unwrap();
        staged.write(data).await.unwrap();
        Payload::Staged(staged)
    };
    (payload, blob_of(data))
}

fn upload(id: &str, bucket: &str, key: &str) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        content_type: "text/html".into(),
        meta: ObjectMeta {
            user: vec![("k".into(), "v".into())],
            ..ObjectMeta::default()
        },
        created_at: 2,
    }
}

async fn make_bucket(s: &Storage, name: &str) {
    let (n, now) = (name.to_string(), s.now());
    s.index
        .write(move |tx| {
            let n = n.clone();
            Box::pin(async move { tx.insert_bucket(&n, None, now).await })
        })
        .await
        .unwrap();
}

async fn put_object(s: &Storage, obj: ObjectRecord) {
    s.index
        .write(move |tx| {
            let o = obj.clone();
            Box::pin(async move {
                let blob = BlobInfo {
                    sha256: o.sha256,
                    size: o.size,
                    md5: None,
                };
                tx.record_blob(&blob, None, o.last_modified, false).await?;
                tx.put_object(&o).await
            })
        })
        .await
        .unwrap();
}

async fn object(s: &Storage, bucket: &str, key: &str) -> Option<ObjectRecord> {
    s.get_object(bucket, key).await.unwrap()
}

/// Whether a blob row exists, and its damage mark.
async fn blob_row(s: &Storage, d: Digest) -> Option<Option<String>> {
    s.index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap()
        .map(|r| r.damaged)
}

async fn put(s: &Storage, id: &str, n: u32, data: &[u8]) -> PutPartOutcome {
    let (payload, blob) = received(s, data).await;
    s.put_part(id, n, payload, blob, None).await.unwrap()
}

fn etag(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

async fn an_upload_opens_only_in_a_bucket_and_belongs_to_its_key(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert_eq!(
        s.create_multipart(upload("u1", "b", "k")).await.unwrap(),
        CreateMultipartOutcome::NoSuchBucket
    );
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_none());
    make_bucket(&s, "b").await;
    assert_eq!(
        s.create_multipart(upload("u1", "b", "k")).await.unwrap(),
        CreateMultipartOutcome::Created
    );
    assert_eq!(
        s.find_upload("u1", "b", "k").await.unwrap(),
        Some(upload("u1", "b", "k"))
    );
    assert!(s.find_upload("u1", "b", "other").await.unwrap().is_none());
    assert!(s.find_upload("u1", "c", "k").await.unwrap().is_none());
}

async fn a_replaced_part_releases_its_blob_and_a_part_of_no_upload_is_not_kept(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    assert_eq!(put(&s, "u1", 1, b"first").await, PutPartOutcome::Stored);
    let first = blob_of(b"first").sha256;
    assert!(blob_row(&s, first).await.is_some());
    assert_eq!(put(&s, "u1", 1, b"second").await, PutPartOutcome::Stored);
    assert!(
        blob_row(&s, first).await.is_none(),
        "the replaced part's blob"
    );
    let parts = s.list_parts("u1", 0, 10).await.unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].sha256, blob_of(b"second").sha256);
    assert_eq!(parts[0].md5, blob_of(b"second").md5.unwrap());
    // The same bytes again replace nothing that could go.
    assert_eq!(put(&s, "u1", 1, b"second").await, PutPartOutcome::Stored);
    assert!(blob_row(&s, blob_of(b"second").sha256).await.is_some());
    // No such upload: nothing recorded, the new blob released.
    assert_eq!(
        put(&s, "nope", 1, b"orphan").await,
        PutPartOutcome::NoSuchUpload
    );
    assert!(blob_row(&s, blob_of(b"orphan").sha256).await.is_none());
    // Listing goes on after a part number.
    put(&s, "u1", 3, b"three").await;
    put(&s, "u1", 2, b"two").await;
    let numbers =
        |v: Vec<crate::index::PartRecord>| v.into_iter().map(|p| p.part_number).collect::<Vec<_>>();
    assert_eq!(numbers(s.list_parts("u1", 0, 10).await.unwrap()), [1, 2, 3]);
    assert_eq!(numbers(s.list_parts("u1", 1, 1).await.unwrap()), [2]);
}

/// Ported from the index's `only_intact_bytes_count_as_stored_and_a_
/// verified_write_heals_them`: a part copied whole never clears a blob's
/// damage mark (no byte was written); a part received does (its bytes were
/// just hashed and published).
async fn a_part_leaves_a_damage_mark_as_it_is(s: super::Storage, _clock: super::TestClock) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    put(&s, "u1", 1, b"abc").await;
    let d = blob_of(b"abc").sha256;
    s.index
        .write(move |tx| Box::pin(async move { tx.mark_damaged(&d, "missing").await }))
        .await
        .unwrap();
    let src = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "b".into(),
        key: "src".into(),
        sha256: d,
        size: 3,
        etag: etag(b"abc"),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    };
    put_object(&s, src.clone()).await;
    assert!(matches!(
        s.copy_part("u1", 3, &src, 0, 3, None).await.unwrap(),
        CopyPartOutcome::Copied(_)
    ));
    assert_eq!(blob_row(&s, d).await, Some(Some("missing".into())));
    put(&s, "u1", 2, b"abc").await;
    assert_eq!(blob_row(&s, d).await, Some(None), "a received part heals");
}

async fn a_part_copied_whole_shares_the_blob_and_a_range_gets_its_own(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    let (payload, blob) = received(&s, b"0123456789").await;
    s.put_part("u1", 1, payload, blob, None).await.unwrap();
    let src = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "b".into(),
        key: "src".into(),
        sha256: blob.sha256,
        size: 10,
        etag: etag(b"0123456789"),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    };
    put_object(&s, src.clone()).await;
    let CopyPartOutcome::Copied(whole) = s.copy_part("u1", 2, &src, 0, 10, None).await.unwrap()
    else {
        panic!("not copied")
    };
    assert_eq!(
        (whole.sha256, whole.size, whole.md5),
        (src.sha256, 10, blob.md5.unwrap())
    );
    let CopyPartOutcome::Copied(range) = s.copy_part("u1", 3, &src, 2, 3, None).await.unwrap()
    else {
        panic!("not copied")
    };
    assert_eq!(
        (range.sha256, range.size, range.md5),
        (blob_of(b"234").sha256, 3, blob_of(b"234").md5.unwrap())
    );
    let mut r = s
        .open_blob(&range.sha256, 3, 0, 3)
        .await
        .unwrap()
        .expect("the range's blob");
    let mut got = Vec::new();
    crate::store::pump(&mut r, None, |b| got.extend_from_slice(b))
        .await
        .unwrap();
    assert_eq!(got, b"234");
    // A multipart object's ETag is no MD5: even whole, it is copied.
    let multi = ObjectRecord {
        key: "multi".into(),
        etag: format!("{}-2", etag(b"x")),
        ..src.clone()
    };
    put_object(&s, multi.clone()).await;
    let CopyPartOutcome::Copied(p) = s.copy_part("u1", 4, &multi, 0, 10, None).await.unwrap()
    else {
        panic!("not copied")
    };
    assert_eq!(p.md5, blob.md5.unwrap());
    // No such upload.
    assert_eq!(
        s.copy_part("nope", 1, &src, 0, 10, None).await.unwrap(),
        CopyPartOutcome::NoSuchUpload
    );
    assert_eq!(
        s.copy_part("nope", 1, &src, 1, 2, None).await.unwrap(),
        CopyPartOutcome::NoSuchUpload
    );
    assert!(blob_row(&s, blob_of(b"12").sha256).await.is_none());
    // The source replaced after it was looked up: refused, both ways.
    put_object(
        &s,
        ObjectRecord {
            sha256: Digest([7; 32]),
            ..src.clone()
        },
    )
    .await;
    for (start, len) in [(0, 10), (1, 2)] {
        assert_eq!(
            s.copy_part("u1", 5, &src, start, len, None).await.unwrap(),
            CopyPartOutcome::SourceChanged
        );
    }
    assert!(s.list_parts("u1", 4, 10).await.unwrap().is_empty());
}

async fn a_completion_records_the_object_forgets_the_upload_and_remembers_it(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    let big = vec![b'a'; MIN_PART as usize];
    put(&s, "u1", 1, &big).await;
    put(&s, "u1", 2, b"tail").await;
    put(&s, "u1", 3, b"unlisted").await;
    let up = s.find_upload("u1", "b", "k").await.unwrap().unwrap();
    // A listed part must be stored with its ETag.
    assert_eq!(
        s.complete_multipart(
            up.clone(),
            &[(1, etag(b"wrong"))],
            &Default::default(),
            WriteCondition::Always
        )
        .await
        .unwrap(),
        Complete::InvalidPart {
            number: 1,
            etag: etag(b"wrong")
        }
    );
    assert!(matches!(
        s.complete_multipart(
            up.clone(),
            &[(4, etag(b"x"))],
            &Default::default(),
            WriteCondition::Always
        )
        .await
        .unwrap(),
        Complete::InvalidPart { number: 4, .. }
    ));
    // Every part but the last at least MIN_PART.
    assert_eq!(
        s.complete_multipart(
            up.clone(),
            &[(2, etag(b"tail")), (3, etag(b"unlisted"))],
            &Default::default(),
            WriteCondition::Always
        )
        .await
        .unwrap(),
        Complete::TooSmall { number: 2, size: 4 }
    );
    let wanted = [(1, etag(&big)), (2, etag(b"tail"))];
    let Complete::Completed { etag: made, .. } = s
        .complete_multipart(
            up.clone(),
            &wanted,
            &Default::default(),
            WriteCondition::Always,
        )
        .await
        .unwrap()
    else {
        panic!("not completed")
    };
    let mut m = Md5::new();
    m.update(Md5::digest(&big));
    m.update(Md5::digest(b"tail"));
    assert_eq!(made, format!("{}-2", hex::encode(m.finalize())));
    let obj = object(&s, "b", "k").await.expect("the object");
    let mut whole = big.clone();
    whole.extend_from_slice(b"tail");
    // The object is the list of its parts' blobs, no copy of their bytes.
    let segments = [&big[..], b"tail"].map(|d| crate::index::Segment {
        sha256: blob_of(d).sha256,
        size: d.len() as u64,
    });
    assert_eq!(
        (obj.sha256, obj.size, obj.etag.as_str()),
        (
            crate::storage::composite_digest(&segments),
            whole.len() as u64,
            made.as_str()
        )
    );
    let mut read = s
        .open_object(&obj, None, 0, obj.size)
        .await
        .expect("the object's bytes");
    let mut got = Vec::new();
    while let Some(piece) = futures_util::StreamExt::next(&mut read.chunks).await {
        got.extend_from_slice(&piece.unwrap());
    }
    assert!(
        got == whole,
        "the object does not read as its parts in order"
    );
    assert_eq!(obj.content_type, "text/html");
    assert_eq!(obj.meta.parts, Some(2));
    assert_eq!(obj.meta.user, vec![("k".to_string(), "v".to_string())]);
    // The upload and its parts are gone; the listed parts' blobs are the
    // object's segments now, the unlisted part's is let go.
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_none());
    assert!(s.list_parts("u1", 0, 10).await.unwrap().is_empty());
    for data in [&big[..], b"tail"] {
        assert!(blob_row(&s, blob_of(data).sha256).await.is_some());
    }
    assert!(blob_row(&s, blob_of(b"unlisted").sha256).await.is_none());
    // A retry gets the same answer while the key holds that object.
    assert_eq!(
        s.completed_upload("u1", "b", "k").await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(s.completed_upload("u1", "b", "k2").await.unwrap(), None);
    assert_eq!(s.completed_upload("u2", "b", "k").await.unwrap(), None);
    put_object(
        &s,
        ObjectRecord {
            etag: "other".into(),
            ..obj
        },
    )
    .await;
    assert_eq!(s.completed_upload("u1", "b", "k").await.unwrap(), None);
}

async fn a_completions_condition_is_decided_when_it_commits(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    put(&s, "u1", 1, b"part").await;
    let up = s.find_upload("u1", "b", "k").await.unwrap().unwrap();
    let wanted = [(1, etag(b"part"))];
    // If-Match on a missing key.
    assert_eq!(
        s.precheck_condition("b", "k", &WriteCondition::IfEtag("e".into()))
            .await
            .unwrap(),
        Err(ConditionFailure::NoObject)
    );
    assert_eq!(
        s.complete_multipart(
            up.clone(),
            &wanted,
            &Default::default(),
            WriteCondition::IfEtag("e".into())
        )
        .await
        .unwrap(),
        Complete::ConditionFailed(ConditionFailure::NoObject)
    );
    // If-None-Match: * on a key that holds an object.
    let theirs = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "b".into(),
        key: "k".into(),
        sha256: Digest([8; 32]),
        size: 3,
        etag: "e".into(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    };
    put_object(&s, theirs.clone()).await;
    assert_eq!(
        s.precheck_condition("b", "k", &WriteCondition::IfAbsent)
            .await
            .unwrap(),
        Err(ConditionFailure::Precondition)
    );
    assert_eq!(
        s.complete_multipart(
            up.clone(),
            &wanted,
            &Default::default(),
            WriteCondition::IfAbsent
        )
        .await
        .unwrap(),
        Complete::ConditionFailed(ConditionFailure::Precondition)
    );
    // Refused: the object stays, the upload stays open.
    assert_eq!(object(&s, "b", "k").await, Some(theirs));
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_some());
    assert_eq!(s.list_parts("u1", 0, 10).await.unwrap().len(), 1);
    // The condition holding, it completes, and the object it replaced
    // lets its blob go.
    assert!(matches!(
        s.complete_multipart(
            up,
            &wanted,
            &Default::default(),
            WriteCondition::IfEtag("e".into())
        )
        .await
        .unwrap(),
        Complete::Completed { .. }
    ));
    assert!(blob_row(&s, Digest([8; 32])).await.is_none());
}

async fn a_part_uploaded_again_during_assembly_refuses_the_completion(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    put(&s, "u1", 1, b"old").await;
    let obj = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "b".into(),
        key: "k".into(),
        sha256: blob_of(b"old").sha256,
        size: 3,
        etag: "x-1".into(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    };
    let blob = blob_of(b"old");
    // Assembled from part 1 as it was, then part 1 came again.
    let assembled = vec![(1u32, blob_of(b"old").sha256)];
    put(&s, "u1", 1, b"new").await;
    let rule = |id: &'static str, key: &'static str| {
        let (a, o) = (assembled.clone(), obj.clone());
        s.index.write(move |tx| {
            let (a, o) = (
                a.clone(),
                ObjectRecord {
                    key: key.into(),
                    ..o.clone()
                },
            );
            Box::pin(async move {
                crate::storage::multipart::complete(
                    tx,
                    id,
                    &a,
                    &o,
                    &blob,
                    &[crate::index::Segment {
                        sha256: blob.sha256,
                        size: blob.size,
                    }],
                    &WriteCondition::Always,
                    UPLOADS,
                )
                .await
            })
        })
    };
    // Not this upload, or not of this key.
    for (id, key) in [("nope", "k"), ("u1", "other")] {
        let outcome = rule(id, key).await.unwrap();
        assert_eq!(outcome.answer, Complete::NoSuchUpload);
        assert!(!outcome.keep);
    }
    let outcome = rule("u1", "k").await.unwrap();
    assert_eq!(outcome.answer, Complete::PartsChanged);
    assert!(!outcome.keep);
    assert!(object(&s, "b", "k").await.is_none());
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_some());
}

/// Ported from the index's `a_files_key_is_written_once_whether_or_not_its
/// _object_is_there`: a multipart completion onto the key of a file of the
/// upload API is refused, and its upload stays.
async fn a_completion_never_writes_a_files_key(s: super::Storage, _clock: super::TestClock) {
    make_bucket(&s, UPLOADS).await;
    make_bucket(&s, "other").await;
    let stored = Declared {
        id: Uuid::new_v4(),
        file_name: "a.png".into(),
        content_type: "image/png".into(),
        size: 3,
        sha256: Digest([4; 32]),
    };
    let pending = Declared {
        id: Uuid::new_v4(),
        ..stored.clone()
    };
    let (a, b) = (stored.clone(), pending.clone());
    s.index
        .write(move |tx| {
            let (a, b) = (a.clone(), b.clone());
            Box::pin(async move {
                tx.insert_file(&a, Status::Uploaded, 0, 900, Some(1))
                    .await?;
                tx.insert_file(&b, Status::Pending, 0, 900, None).await
            })
        })
        .await
        .unwrap();
    let key = stored.id.to_string();
    assert!(s.is_file_key(UPLOADS, &key).await.unwrap());
    // A pending file's key is not its yet; the same key in another bucket,
    // and another spelling of the id, are ordinary keys.
    assert!(!s
        .is_file_key(UPLOADS, &pending.id.to_string())
        .await
        .unwrap());
    assert!(!s.is_file_key("other", &key).await.unwrap());
    assert!(!s.is_file_key(UPLOADS, &key.to_uppercase()).await.unwrap());

    s.create_multipart(upload("u1", UPLOADS, &key))
        .await
        .unwrap();
    put(&s, "u1", 1, b"abc").await;
    let up = s.find_upload("u1", UPLOADS, &key).await.unwrap().unwrap();
    assert_eq!(
        s.complete_multipart(
            up,
            &[(1, etag(b"abc"))],
            &Default::default(),
            WriteCondition::Always
        )
        .await
        .unwrap(),
        Complete::WrittenOnce
    );
    assert!(s.find_upload("u1", UPLOADS, &key).await.unwrap().is_some());
    assert!(object(&s, UPLOADS, &key).await.is_none());
    // Elsewhere, the same key completes.
    s.create_multipart(upload("u2", "other", &key))
        .await
        .unwrap();
    put(&s, "u2", 1, b"abc").await;
    let up = s.find_upload("u2", "other", &key).await.unwrap().unwrap();
    assert!(matches!(
        s.complete_multipart(
            up,
            &[(1, etag(b"abc"))],
            &Default::default(),
            WriteCondition::Always
        )
        .await
        .unwrap(),
        Complete::Completed { .. }
    ));
}

async fn an_abort_forgets_only_its_own_upload_and_releases_its_parts(
    s: super::Storage,
    _clock: super::TestClock,
) {
    make_bucket(&s, "b").await;
    s.create_multipart(upload("u1", "b", "k")).await.unwrap();
    put(&s, "u1", 1, b"one").await;
    put(&s, "u1", 2, b"two").await;
    assert!(!s.abort_multipart("u1", "b", "other").await.unwrap());
    assert!(!s.abort_multipart("nope", "b", "k").await.unwrap());
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_some());
    assert!(s.abort_multipart("u1", "b", "k").await.unwrap());
    assert!(s.find_upload("u1", "b", "k").await.unwrap().is_none());
    for data in [b"one", b"two"] {
        assert!(blob_row(&s, blob_of(data).sha256).await.is_none());
    }
    assert!(!s.abort_multipart("u1", "b", "k").await.unwrap());
}

async fn uploads_are_listed_by_key_then_id_after_the_marker(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert_eq!(s.list_multipart("b", "", "", "", 10).await.unwrap(), None);
    make_bucket(&s, "b").await;
    for (id, key) in [("u3", "a/1"), ("u1", "a/1"), ("u2", "b"), ("u4", "a/2")] {
        s.create_multipart(upload(id, "b", key)).await.unwrap();
    }
    let ids = |v: Option<Vec<MultipartUpload>>| {
        v.unwrap_or_default()
            .into_iter()
            .map(|u| u.upload_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.list_multipart("b", "", "", "", 10).await.unwrap()),
        ["u1", "u3", "u4", "u2"]
    );
    assert_eq!(
        ids(s.list_multipart("b", "a/", "", "", 10).await.unwrap()),
        ["u1", "u3", "u4"]
    );
    assert_eq!(
        ids(s.list_multipart("b", "", "a/1", "u1", 2).await.unwrap()),
        ["u3", "u4"]
    );
    assert_eq!(
        ids(s.list_multipart("b", "", "a/1", "", 10).await.unwrap()),
        ["u4", "u2"]
    );
}
