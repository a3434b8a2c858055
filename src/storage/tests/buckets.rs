//! S3 buckets: owners, listings per key, CORS text, and what a delete
//! refuses, aborts and lets go.

use crate::index::{BlobInfo, Declared, MultipartUpload, ObjectMeta, PartRecord, Status};
use crate::storage::buckets::{CreateBucketOutcome, DeleteBucketOutcome};
use crate::storage::Storage;
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    a_bucket_belongs_to_the_key_that_made_it,
    a_key_lists_the_buckets_it_owns_or_was_granted,
    cors_text_is_kept_per_bucket,
    a_delete_aborts_leftover_uploads_but_not_a_pending_files,
);

fn names(v: Vec<crate::index::BucketRecord>) -> Vec<String> {
    v.into_iter().map(|b| b.name).collect()
}

async fn a_bucket_belongs_to_the_key_that_made_it(s: super::Storage, _clock: super::TestClock) {
    assert!(!s.bucket_exists("mine").await.unwrap());
    assert_eq!(
        s.create_bucket_for("mine", Some("AKIAONE"), false)
            .await
            .unwrap(),
        CreateBucketOutcome::Created
    );
    assert!(s.bucket_exists("mine").await.unwrap());
    assert_eq!(
        s.create_bucket_for("mine", Some("AKIAONE"), false)
            .await
            .unwrap(),
        CreateBucketOutcome::OwnedByYou
    );
    assert_eq!(
        s.create_bucket_for("mine", Some("AKIATWO"), false)
            .await
            .unwrap(),
        CreateBucketOutcome::Taken
    );
    assert_eq!(
        s.create_bucket_for("mine", None, false).await.unwrap(),
        CreateBucketOutcome::Taken
    );
    // The configured key's (no owner) bucket.
    assert!(s.create_bucket("main").await.unwrap());
    assert_eq!(
        s.create_bucket_for("main", None, false).await.unwrap(),
        CreateBucketOutcome::OwnedByYou
    );
    assert_eq!(
        s.create_bucket_for("main", Some("AKIAONE"), false)
            .await
            .unwrap(),
        CreateBucketOutcome::Taken
    );
}

async fn a_key_lists_the_buckets_it_owns_or_was_granted(
    s: super::Storage,
    _clock: super::TestClock,
) {
    for (name, owner) in [("c", Some("AKIAONE")), ("a", None), ("b", Some("AKIATWO"))] {
        s.create_bucket_for(name, owner, false).await.unwrap();
    }
    grant(&s, "AKIAONE", "a").await;
    assert_eq!(names(s.list_buckets().await.unwrap()), ["a", "b", "c"]);
    assert_eq!(names(s.buckets_of("AKIAONE").await.unwrap()), ["a", "c"]);
    assert_eq!(names(s.buckets_of("AKIATWO").await.unwrap()), ["b"]);
    assert!(s.buckets_of("AKIANONE").await.unwrap().is_empty());
}

async fn grant(s: &Storage, key: &str, bucket: &str) {
    let (k, b) = (key.to_string(), bucket.to_string());
    s.index
        .write(move |tx| {
            let (k, b) = (k.clone(), b.clone());
            Box::pin(async move { tx.put_grant(&k, &b, false).await })
        })
        .await
        .unwrap();
}

async fn cors_text_is_kept_per_bucket(s: super::Storage, _clock: super::TestClock) {
    assert_eq!(s.bucket_cors("b").await.unwrap(), None);
    assert!(!s.set_bucket_cors("b", Some("[]")).await.unwrap());
    s.create_bucket("b").await.unwrap();
    assert_eq!(s.bucket_cors("b").await.unwrap(), Some(None));
    assert!(s.set_bucket_cors("b", Some("[1]")).await.unwrap());
    assert_eq!(s.bucket_cors("b").await.unwrap(), Some(Some("[1]".into())));
    assert!(s.set_bucket_cors("b", None).await.unwrap());
    assert_eq!(s.bucket_cors("b").await.unwrap(), Some(None));
}

/// An upload `id` of `bucket/key` with one part naming the stored blob
/// `d`.
async fn upload_with_part(s: &Storage, id: &str, bucket: &str, key: &str, d: Digest) {
    let u = MultipartUpload {
        upload_id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        created_at: 0,
    };
    let part = PartRecord {
        part_number: 1,
        sha256: d,
        size: 3,
        md5: [7; 16],
        last_modified: 1,
        checksum: None,
    };
    let blob = BlobInfo {
        sha256: d,
        size: 3,
        md5: Some([7; 16]),
    };
    s.index
        .write(move |tx| {
            let (u, part) = (u.clone(), part.clone());
            Box::pin(async move {
                tx.record_blob(&blob, Some(b"abc"), 1, true).await?;
                tx.insert_upload(&u).await?;
                tx.put_part(&u.upload_id, &part).await
            })
        })
        .await
        .unwrap();
}

async fn blob_row(s: &Storage, d: Digest) -> bool {
    s.index
        .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
        .await
        .unwrap()
        .is_some()
}

async fn a_delete_aborts_leftover_uploads_but_not_a_pending_files(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert_eq!(
        s.delete_bucket("b").await.unwrap(),
        DeleteBucketOutcome::NotFound
    );
    s.create_bucket_for("b", Some("AKIAONE"), false)
        .await
        .unwrap();
    grant(&s, "AKIATWO", "b").await;
    // A part-wise upload of a file the upload API still waits for: the
    // field client's progress keeps the bucket.
    let d = Declared {
        id: uuid::Uuid::new_v4(),
        file_name: "a".into(),
        content_type: "x/y".into(),
        size: 3,
        sha256: Digest([5; 32]),
    };
    let row = d.clone();
    s.index
        .write(move |tx| {
            let d = row.clone();
            Box::pin(async move { tx.insert_file(&d, Status::Pending, 0, 900, None).await })
        })
        .await
        .unwrap();
    upload_with_part(&s, "u-file", "b", &d.id.to_string(), Digest([1; 32])).await;
    upload_with_part(&s, "u-s3", "b", "some/key", Digest([2; 32])).await;
    assert_eq!(
        s.delete_bucket("b").await.unwrap(),
        DeleteBucketOutcome::NotEmpty
    );
    // Another spelling of the id is no file's key.
    let id = d.id;
    s.index
        .write(move |tx| Box::pin(async move { tx.delete_upload("u-file").await }))
        .await
        .unwrap();
    upload_with_part(
        &s,
        "u-upper",
        "b",
        &id.to_string().to_uppercase(),
        Digest([1; 32]),
    )
    .await;
    let DeleteBucketOutcome::DeletedWithUploads {
        uploads,
        mut released,
    } = s.delete_bucket("b").await.unwrap()
    else {
        panic!("not deleted")
    };
    released.sort_by_key(|d| d.0);
    assert_eq!(uploads, 2);
    assert_eq!(released, [Digest([1; 32]), Digest([2; 32])]);
    // The parts' blobs are gone with them.
    assert!(!blob_row(&s, Digest([1; 32])).await);
    assert!(!blob_row(&s, Digest([2; 32])).await);
    assert!(!s.bucket_exists("b").await.unwrap());
    // Grants do not pass to whoever makes the name next.
    s.create_bucket_for("b", Some("AKIATHREE"), false)
        .await
        .unwrap();
    assert!(s.buckets_of("AKIATWO").await.unwrap().is_empty());
}
