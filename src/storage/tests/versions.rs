//! Versioning's rules: what writes and deletes do to a key's versions in
//! an enabled and a suspended bucket, which version becomes current when
//! one is removed, and that every version keeps its blob exactly as long
//! as it exists (dedupe included).

use super::objects::{blob_of, blob_row, create_bucket, put};
use crate::index::{ListedVersion, Version, VersionPlace, Versioning, NULL_VERSION};
use crate::storage::objects::{DeleteObjectOutcome, PutObjectOutcome, WriteCondition};
use crate::storage::versions::{is_version_id, SetVersioningOutcome};
use crate::storage::Storage;

crate::storage::tests::on_each_backend!(
    every_version_keeps_its_blob_and_removing_one_frees_exactly_its_reference,
    a_suspended_bucket_replaces_the_null_version_wherever_it_is,
    the_upload_bucket_and_missing_buckets_are_refused,
    racing_writers_and_deleters_of_a_versioned_key_each_leave_one_version,
);

/// The version id a put was stored as.
async fn put_version(s: &Storage, key: &str, bytes: &[u8]) -> Option<String> {
    match put(s, "v", key, bytes, WriteCondition::Always).await {
        PutObjectOutcome::Stored { version_id, .. } => version_id,
        other => panic!("not stored: {other:?}"),
    }
}

/// (key, version id, marker, latest) of every version in the bucket.
async fn versions(s: &Storage) -> Vec<(String, String, bool, bool)> {
    let listed: Vec<ListedVersion> = s
        .list_versions("v", "", VersionPlace::after_key(""), 1000)
        .await
        .unwrap();
    listed
        .iter()
        .map(|l| {
            (
                l.version.key().to_string(),
                l.version.version_id().to_string(),
                l.version.is_marker(),
                l.is_latest,
            )
        })
        .collect()
}

/// The current object's bytes' digest at `key`, if it has an object.
async fn current_blob(s: &Storage, key: &str) -> Option<crate::store::Digest> {
    s.get_object("v", key).await.unwrap().map(|o| o.sha256)
}

async fn every_version_keeps_its_blob_and_removing_one_frees_exactly_its_reference(
    s: Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "v").await;
    // Written before versioning: the null version.
    assert_eq!(put_version(&s, "k", b"zero").await, None);
    assert_eq!(
        s.set_versioning("v", Versioning::Enabled).await.unwrap(),
        SetVersioningOutcome::Set
    );
    let v1 = put_version(&s, "k", b"one").await.expect("an id");
    let v2 = put_version(&s, "k", b"two").await.expect("an id");
    // The same bytes as v1: one blob, named by two versions.
    let v3 = put_version(&s, "k", b"one").await.expect("an id");
    assert!(is_version_id(&v1) && v1 != v2 && v2 != v3 && v1 != v3);
    let row = |id: &str, latest| ("k".to_string(), id.to_string(), false, latest);
    assert_eq!(
        versions(&s).await,
        vec![
            row(&v3, true),
            row(&v2, false),
            row(&v1, false),
            row(NULL_VERSION, false)
        ]
    );
    for (bytes, id) in [(b"zero".as_slice(), NULL_VERSION), (b"two", v2.as_str())] {
        let found = s.find("v", "k", Some(id)).await.unwrap();
        assert_eq!(found.and_then(|v| v.blob()), Some(blob_of(bytes).sha256));
    }

    // A delete hides the key behind a marker and frees nothing.
    let DeleteObjectOutcome::Marked(marker) = s.delete_object("v", "k", None).await.unwrap() else {
        panic!("no marker");
    };
    assert_eq!(current_blob(&s, "k").await, None);
    assert!(matches!(
        s.find("v", "k", None).await.unwrap(),
        Some(Version::Marker(_))
    ));
    for bytes in [b"zero".as_slice(), b"one", b"two"] {
        assert!(blob_row(&s, blob_of(bytes).sha256).await);
    }

    // v1 goes; its blob stays for v3. Then v3 goes: the blob is free.
    let one = blob_of(b"one").sha256;
    assert!(matches!(
        s.delete_object("v", "k", Some(&v1)).await.unwrap(),
        DeleteObjectOutcome::RemovedVersion(Version::Object(_))
    ));
    assert!(blob_row(&s, one).await);
    s.delete_object("v", "k", Some(&v3)).await.unwrap();
    assert!(!blob_row(&s, one).await);
    // Removing one that is gone is no error and frees nothing more.
    assert_eq!(
        s.delete_object("v", "k", Some(&v3)).await.unwrap(),
        DeleteObjectOutcome::Absent
    );

    // Removing the marker brings back the newest object below it.
    assert!(matches!(
        s.delete_object("v", "k", Some(&marker)).await.unwrap(),
        DeleteObjectOutcome::RemovedVersion(Version::Marker(_))
    ));
    assert_eq!(current_blob(&s, "k").await, Some(blob_of(b"two").sha256));
    assert_eq!(
        versions(&s).await,
        vec![row(&v2, true), row(NULL_VERSION, false)]
    );
    // Removing the current version brings back the one below it.
    s.delete_object("v", "k", Some(&v2)).await.unwrap();
    assert!(!blob_row(&s, blob_of(b"two").sha256).await);
    assert_eq!(current_blob(&s, "k").await, Some(blob_of(b"zero").sha256));
    assert_eq!(versions(&s).await, vec![row(NULL_VERSION, true)]);
    s.delete_object("v", "k", Some(NULL_VERSION)).await.unwrap();
    assert!(versions(&s).await.is_empty());
    assert!(!blob_row(&s, blob_of(b"zero").sha256).await);
}

async fn a_suspended_bucket_replaces_the_null_version_wherever_it_is(
    s: Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "v").await;
    put_version(&s, "k", b"null-one").await;
    s.set_versioning("v", Versioning::Enabled).await.unwrap();
    let kept = put_version(&s, "k", b"kept").await.expect("an id");
    s.set_versioning("v", Versioning::Suspended).await.unwrap();
    // The null version below `kept` is replaced by this one, on top.
    assert_eq!(
        put_version(&s, "k", b"null-two").await.as_deref(),
        Some(NULL_VERSION)
    );
    assert!(!blob_row(&s, blob_of(b"null-one").sha256).await);
    let row = |id: &str, marker, latest| ("k".to_string(), id.to_string(), marker, latest);
    assert_eq!(
        versions(&s).await,
        vec![row(NULL_VERSION, false, true), row(&kept, false, false)]
    );
    // A delete replaces it again, with a null marker; `kept` stays.
    assert_eq!(
        s.delete_object("v", "k", None).await.unwrap(),
        DeleteObjectOutcome::Marked(NULL_VERSION.into())
    );
    assert!(!blob_row(&s, blob_of(b"null-two").sha256).await);
    assert_eq!(
        versions(&s).await,
        vec![row(NULL_VERSION, true, true), row(&kept, false, false)]
    );
    // A put replaces the null marker.
    put_version(&s, "k", b"null-three").await;
    assert_eq!(
        versions(&s).await,
        vec![row(NULL_VERSION, false, true), row(&kept, false, false)]
    );
    assert!(blob_row(&s, blob_of(b"kept").sha256).await);
}

async fn the_upload_bucket_and_missing_buckets_are_refused(s: Storage, _clock: super::TestClock) {
    create_bucket(&s, super::UPLOADS).await;
    assert_eq!(
        s.set_versioning(super::UPLOADS, Versioning::Enabled)
            .await
            .unwrap(),
        SetVersioningOutcome::UploadBucket
    );
    assert_eq!(
        s.versioning(super::UPLOADS).await.unwrap(),
        Some(Versioning::Unversioned)
    );
    assert_eq!(
        s.set_versioning("nope", Versioning::Enabled).await.unwrap(),
        SetVersioningOutcome::NoSuchBucket
    );
    assert_eq!(s.versioning("nope").await.unwrap(), None);
}

async fn racing_writers_and_deleters_of_a_versioned_key_each_leave_one_version(
    s: Storage,
    _clock: super::TestClock,
) {
    create_bucket(&s, "v").await;
    s.set_versioning("v", Versioning::Enabled).await.unwrap();
    let s = std::sync::Arc::new(s);
    // Ten writers and five deleters of one key at once: every write is a
    // version and every delete a marker, none lost to another.
    let mut tasks = Vec::new();
    for n in 0..15u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if n < 10 {
                put_version(&s, "k", &[b'w', n]).await.map(|_| ())
            } else {
                match s.delete_object("v", "k", None).await.unwrap() {
                    DeleteObjectOutcome::Marked(_) => Some(()),
                    _ => None,
                }
            }
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("a racer"), Some(()));
    }
    let listed = versions(&s).await;
    assert_eq!(listed.iter().filter(|v| !v.2).count(), 10, "{listed:?}");
    assert_eq!(listed.iter().filter(|v| v.2).count(), 5, "{listed:?}");
    assert_eq!(listed.iter().filter(|v| v.3).count(), 1, "{listed:?}");
    for n in 0..10u8 {
        assert!(blob_row(&s, blob_of(&[b'w', n]).sha256).await);
    }
}
