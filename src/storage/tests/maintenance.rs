//! What the operator's tools read: counts, the liveness check, and the
//! blob rows `stowage verify` and `stowage backup` walk.

use crate::index::{BlobEntry, BlobInfo, ObjectMeta, ObjectRecord};
use crate::storage::{Stats, Storage};
use crate::store::Digest;

crate::storage::tests::on_each_backend!(
    blob_rows_are_walked_in_digest_order_page_by_page,
    a_forgotten_blob_takes_its_referrers_with_it,
    stats_count_what_is_stored_and_the_check_passes,
);

fn blob(b: u8, size: u64) -> BlobInfo {
    BlobInfo {
        sha256: Digest([b; 32]),
        size,
        md5: Some([b; 16]),
    }
}

async fn record(s: &Storage, blob: BlobInfo, inline: Option<&'static [u8]>) {
    s.index
        .write(move |tx| Box::pin(async move { tx.record_blob(&blob, inline, 1, true).await }))
        .await
        .unwrap();
}

async fn put_object(s: &Storage, key: &str, blob: BlobInfo) {
    let obj = ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "b".into(),
        key: key.into(),
        sha256: blob.sha256,
        size: blob.size,
        etag: String::new(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    };
    s.index
        .write(move |tx| {
            let obj = obj.clone();
            Box::pin(async move {
                tx.insert_bucket("b", None, 1).await?;
                tx.put_object(&obj).await
            })
        })
        .await
        .unwrap();
}

async fn blob_rows_are_walked_in_digest_order_page_by_page(
    s: super::Storage,
    _clock: super::TestClock,
) {
    for b in [3u8, 1, 2] {
        record(&s, blob(b, 100 + b as u64), None).await;
    }
    record(&s, blob(4, 3), Some(b"abc")).await;
    let first = s.blob_page(None, 2).await.unwrap();
    assert_eq!(
        first,
        vec![
            BlobEntry {
                info: blob(1, 101),
                inline: false
            },
            BlobEntry {
                info: blob(2, 102),
                inline: false
            },
        ]
    );
    let rest = s.blob_page(Some(Digest([2; 32])), 2).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|e| (e.info.sha256, e.inline))
            .collect::<Vec<_>>(),
        vec![(Digest([3; 32]), false), (Digest([4; 32]), true)]
    );
    assert!(s
        .blob_page(Some(Digest([4; 32])), 2)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.blob_entry(&Digest([4; 32])).await.unwrap(),
        Some(BlobEntry {
            info: blob(4, 3),
            inline: true
        })
    );
    assert_eq!(s.blob_entry(&Digest([5; 32])).await.unwrap(), None);
    assert_eq!(
        s.inline_bytes(&Digest([4; 32])).await.unwrap().as_deref(),
        Some(&b"abc"[..])
    );
    assert_eq!(s.inline_bytes(&Digest([1; 32])).await.unwrap(), None);
    assert!(s.dangling().await.unwrap().is_empty());
}

async fn a_forgotten_blob_takes_its_referrers_with_it(s: super::Storage, _clock: super::TestClock) {
    record(&s, blob(1, 10), None).await;
    record(&s, blob(2, 20), None).await;
    put_object(&s, "one", blob(1, 10)).await;
    put_object(&s, "again", blob(1, 10)).await;
    put_object(&s, "two", blob(2, 20)).await;
    assert_eq!(s.forget_blob(&Digest([1; 32])).await.unwrap(), 2);
    assert_eq!(s.blob_entry(&Digest([1; 32])).await.unwrap(), None);
    let left = s
        .index
        .read(|tx| Box::pin(async move { tx.list_objects("b", "", "", 10).await }))
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        vec!["two"]
    );
    assert!(s.dangling().await.unwrap().is_empty());
}

async fn stats_count_what_is_stored_and_the_check_passes(
    s: super::Storage,
    _clock: super::TestClock,
) {
    assert_eq!(s.stats().await.unwrap(), Stats::default());
    record(&s, blob(1, 10), None).await;
    record(&s, blob(2, 20), None).await;
    put_object(&s, "one", blob(1, 10)).await;
    assert_eq!(
        s.stats().await.unwrap(),
        Stats {
            pending_files: 0,
            stored_files: 0,
            objects: 1,
            blob_bytes: 30,
        }
    );
    assert!(s.healthy().await, "a fresh store and index take writes");
}
