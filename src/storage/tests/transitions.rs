//! State transitions through the storage service's rules, on every
//! backend: a file goes pending → uploaded → completed (or is withdrawn
//! while pending), a multipart upload created → parts → completed (or
//! aborted); each step read back, and each step its state does not allow
//! refused with nothing changed and nothing kept — no blob row, no bytes
//! in the store.

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use uuid::Uuid;

use super::UPLOADS;
use crate::index::{BlobInfo, Declared, MultipartUpload, ObjectMeta, Status};
use crate::storage::files::{CompleteOutcome, PresignOutcome, PutFileOutcome};
use crate::storage::multipart::{
    CompleteMultipartOutcome as Complete, CreateMultipartOutcome, PutPartOutcome, MIN_PART,
};
use crate::storage::objects::WriteCondition;
use crate::storage::{Payload, Storage, INLINE_BLOB_MAX, PENDING_GRACE_SECS};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    a_file_goes_from_pending_to_uploaded_to_completed_and_never_back,
    a_withdrawn_file_takes_no_bytes,
    an_upload_goes_from_created_through_parts_to_completed_and_then_takes_nothing,
    an_aborted_upload_takes_nothing_more,
);

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
        Payload::Inline(Bytes::copy_from_slice(data))
    } else {
        let mut staged = s.store.stage().await.unwrap();
        staged.write(data).await.unwrap();
        Payload::Staged(staged)
    };
    (payload, blob_of(data))
}

/// Whether a blob is kept anywhere: (its row, its bytes in the store).
async fn kept(s: &Storage, data: &[u8]) -> (bool, bool) {
    let d = blob_of(data).sha256;
    let row = s
        .index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap()
        .is_some();
    (row, s.stored_len(&d).await.unwrap().is_some())
}

fn declared(data: &[u8]) -> Declared {
    let b = blob_of(data);
    Declared {
        id: Uuid::new_v4(),
        file_name: "life.bin".into(),
        content_type: "application/octet-stream".into(),
        size: b.size,
        sha256: b.sha256,
    }
}

async fn put_file(s: &Storage, id: Uuid, data: &[u8]) -> PutFileOutcome {
    let (payload, blob) = received(s, data).await;
    s.put_file(id, payload, blob, None).await.unwrap()
}

/// (status, uploaded_at, completed_at) of file `id`.
async fn state(s: &Storage, id: Uuid) -> Option<(Status, Option<i64>, Option<i64>)> {
    s.file(id)
        .await
        .unwrap()
        .map(|f| (f.status, f.uploaded_at, f.completed_at))
}

async fn file_object(s: &Storage, id: Uuid) -> Option<Digest> {
    s.get_object(UPLOADS, &id.to_string())
        .await
        .unwrap()
        .map(|o| o.sha256)
}

async fn a_file_goes_from_pending_to_uploaded_to_completed_and_never_back(
    s: super::Storage,
    clock: super::TestClock,
) {
    // Larger than what is kept inline: its bytes go to the blob store.
    let data = vec![7u8; INLINE_BLOB_MAX as usize + 1000];
    let d = declared(&data);
    assert!(matches!(
        s.presign(&d, s.now() + 900, true).await.unwrap(),
        PresignOutcome::NeedsUpload
    ));
    assert_eq!(state(&s, d.id).await, Some((Status::Pending, None, None)));
    assert_eq!(file_object(&s, d.id).await, None);

    // Pending: no complete, and bytes that are not the declared ones are
    // refused and not kept.
    assert!(matches!(
        s.complete_file(d.id).await.unwrap(),
        CompleteOutcome::NotUploaded
    ));
    let other = vec![8u8; INLINE_BLOB_MAX as usize + 1000];
    assert_eq!(put_file(&s, d.id, &other).await, PutFileOutcome::NotFound);
    assert_eq!(kept(&s, &other).await, (false, false));
    assert_eq!(state(&s, d.id).await, Some((Status::Pending, None, None)));

    // Uploaded: the file is its object, its bytes are stored.
    let before = s.now();
    assert_eq!(put_file(&s, d.id, &data).await, PutFileOutcome::Marked);
    let (status, uploaded_at, completed_at) = state(&s, d.id).await.expect("the row");
    assert_eq!((status, completed_at), (Status::Uploaded, None));
    let uploaded_at = uploaded_at.expect("an upload time");
    assert!((before..=s.now()).contains(&uploaded_at));
    assert_eq!(file_object(&s, d.id).await, Some(d.sha256));
    assert_eq!(kept(&s, &data).await, (true, true));
    // A presign again does not make it pending.
    assert!(matches!(
        s.presign(&d, s.now() + 900, true).await.unwrap(),
        PresignOutcome::AlreadyStored
    ));
    assert_eq!(state(&s, d.id).await.map(|st| st.0), Some(Status::Uploaded));

    // Completed, once.
    clock.advance(5);
    let before = s.now();
    let CompleteOutcome::Completed(r) = s.complete_file(d.id).await.unwrap() else {
        panic!("not completed")
    };
    assert_eq!(r.status, Status::Completed);
    let completed_at = r.completed_at.expect("a completion time");
    assert!((before..=s.now()).contains(&completed_at));
    let done = Some((Status::Completed, Some(uploaded_at), Some(completed_at)));
    assert_eq!(state(&s, d.id).await, done);
    assert!(completed_at > uploaded_at);
    // Bytes sent again, a complete again, a presign again, the sweep:
    // none of them moves it.
    clock.advance(5);
    assert_eq!(
        put_file(&s, d.id, &data).await,
        PutFileOutcome::AlreadyStored
    );
    assert!(matches!(
        s.complete_file(d.id).await.unwrap(),
        CompleteOutcome::Completed(_)
    ));
    assert!(matches!(
        s.presign(&d, s.now() + 900, true).await.unwrap(),
        PresignOutcome::AlreadyStored
    ));
    clock.advance(PENDING_GRACE_SECS + 1000);
    assert_eq!(s.sweep().await.unwrap().0, 0);
    assert_eq!(state(&s, d.id).await, done);
    assert_eq!(file_object(&s, d.id).await, Some(d.sha256));
    assert_eq!(kept(&s, &data).await, (true, true));
}

async fn a_withdrawn_file_takes_no_bytes(s: super::Storage, _clock: super::TestClock) {
    let data = vec![9u8; INLINE_BLOB_MAX as usize + 1000];
    let d = declared(&data);
    let long_ago = s.now() - PENDING_GRACE_SECS - 100;
    assert!(matches!(
        s.presign(&d, long_ago, true).await.unwrap(),
        PresignOutcome::NeedsUpload
    ));
    assert_eq!(state(&s, d.id).await.map(|st| st.0), Some(Status::Pending));
    assert_eq!(s.sweep().await.unwrap().0, 1);
    assert_eq!(state(&s, d.id).await, None);
    // Withdrawn: its bytes find no row (and are not kept); there is
    // nothing to complete.
    assert_eq!(put_file(&s, d.id, &data).await, PutFileOutcome::NotFound);
    assert_eq!(kept(&s, &data).await, (false, false));
    assert_eq!(file_object(&s, d.id).await, None);
    assert!(matches!(
        s.complete_file(d.id).await.unwrap(),
        CompleteOutcome::NotFound
    ));
    assert_eq!(s.sweep().await.unwrap().0, 0);
}

fn upload(id: &str, key: &str) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: "b".into(),
        key: key.into(),
        content_type: "video/mp4".into(),
        meta: ObjectMeta::default(),
        created_at: 1,
    }
}

async fn put_part(s: &Storage, id: &str, n: u32, data: &[u8]) -> PutPartOutcome {
    let (payload, blob) = received(s, data).await;
    s.put_part(id, n, payload, blob, None).await.unwrap()
}

fn etag(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Part numbers and ETags of an upload's parts.
async fn parts(s: &Storage, id: &str) -> Vec<(u32, String)> {
    s.list_parts(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.part_number, hex::encode(p.md5)))
        .collect()
}

async fn an_upload_goes_from_created_through_parts_to_completed_and_then_takes_nothing(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert!(s.create_bucket("b").await.unwrap());
    let up = upload("u1", "movie");
    assert_eq!(
        s.create_multipart(up.clone()).await.unwrap(),
        CreateMultipartOutcome::Created
    );
    assert_eq!(
        s.find_upload("u1", "b", "movie").await.unwrap(),
        Some(up.clone())
    );
    assert!(parts(&s, "u1").await.is_empty());

    let (one, two) = (vec![1u8; MIN_PART as usize], b"the tail".to_vec());
    assert_eq!(put_part(&s, "u1", 1, &one).await, PutPartOutcome::Stored);
    assert_eq!(put_part(&s, "u1", 2, &two).await, PutPartOutcome::Stored);
    assert_eq!(
        parts(&s, "u1").await,
        vec![(1, etag(&one)), (2, etag(&two))]
    );
    assert_eq!(kept(&s, &one).await, (true, true));
    assert!(kept(&s, &two).await.0);

    let wanted = [(1, etag(&one)), (2, etag(&two))];
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
    let obj = s
        .get_object("b", "movie")
        .await
        .unwrap()
        .expect("the object");
    let whole = [&one[..], &two[..]].concat();
    let segments = [&one[..], &two[..]].map(|d| crate::index::Segment {
        sha256: blob_of(d).sha256,
        size: d.len() as u64,
    });
    let composite = crate::storage::composite_digest(&segments);
    assert_eq!((obj.sha256, obj.etag.as_str()), (composite, made.as_str()));
    // Its bytes are its parts' (every one there, so it is whole).
    assert_eq!(
        s.stored_len(&composite).await.unwrap(),
        Some(whole.len() as u64)
    );
    // The upload is over: gone with its parts' rows, remembered for a
    // retried completion; the parts' blobs are the object's now.
    assert_eq!(s.find_upload("u1", "b", "movie").await.unwrap(), None);
    assert!(parts(&s, "u1").await.is_empty());
    assert_eq!(kept(&s, &one).await, (true, true));
    assert!(kept(&s, &two).await.0);
    assert_eq!(
        s.completed_upload("u1", "b", "movie").await.unwrap(),
        Some(made.clone())
    );

    // Ended: a part is refused and not kept, an abort finds nothing, a
    // completion again changes nothing.
    let late = vec![3u8; INLINE_BLOB_MAX as usize + 1];
    assert_eq!(
        put_part(&s, "u1", 3, &late).await,
        PutPartOutcome::NoSuchUpload
    );
    assert_eq!(kept(&s, &late).await, (false, false));
    assert!(!s.abort_multipart("u1", "b", "movie").await.unwrap());
    let again = s
        .complete_multipart(up, &wanted, &Default::default(), WriteCondition::Always)
        .await
        .unwrap();
    assert!(!matches!(again, Complete::Completed { .. }), "{again:?}");
    assert_eq!(s.get_object("b", "movie").await.unwrap(), Some(obj));
    assert_eq!(
        s.stored_len(&composite).await.unwrap(),
        Some(whole.len() as u64)
    );

    // Deleted: the composite goes, and its segments with it.
    s.delete_object("b", "movie", None).await.unwrap();
    assert_eq!(kept(&s, &one).await, (false, false));
    assert!(!kept(&s, &two).await.0);
    assert_eq!(s.stored_len(&composite).await.unwrap(), None);
}

async fn an_aborted_upload_takes_nothing_more(s: super::Storage, _clock: super::TestClock) {
    assert!(s.create_bucket("b").await.unwrap());
    let up = upload("u2", "clip");
    s.create_multipart(up.clone()).await.unwrap();
    let (one, two) = (vec![4u8; MIN_PART as usize], b"end".to_vec());
    assert_eq!(put_part(&s, "u2", 1, &one).await, PutPartOutcome::Stored);
    assert_eq!(put_part(&s, "u2", 2, &two).await, PutPartOutcome::Stored);
    assert!(s.abort_multipart("u2", "b", "clip").await.unwrap());
    assert_eq!(s.find_upload("u2", "b", "clip").await.unwrap(), None);
    assert!(parts(&s, "u2").await.is_empty());
    assert_eq!(kept(&s, &one).await, (false, false));
    assert!(!kept(&s, &two).await.0);
    assert_eq!(s.completed_upload("u2", "b", "clip").await.unwrap(), None);
    // Aborted: no part, no second abort, no completion.
    let late = vec![5u8; INLINE_BLOB_MAX as usize + 1];
    assert_eq!(
        put_part(&s, "u2", 1, &late).await,
        PutPartOutcome::NoSuchUpload
    );
    assert_eq!(kept(&s, &late).await, (false, false));
    assert!(!s.abort_multipart("u2", "b", "clip").await.unwrap());
    let wanted = [(1, etag(&one)), (2, etag(&two))];
    let after = s
        .complete_multipart(up, &wanted, &Default::default(), WriteCondition::Always)
        .await
        .unwrap();
    assert!(!matches!(after, Complete::Completed { .. }), "{after:?}");
    assert_eq!(s.get_object("b", "clip").await.unwrap(), None);
}
