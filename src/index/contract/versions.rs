//! The history of versioned keys: a bucket's versioning state, versions
//! and delete markers pushed newest on top, found by id, removed, their
//! blobs kept in use, and listed with current objects in S3's order —
//! keys by their bytes, each key's versions newest first, the latest
//! marked — in pages that resume at a place.

use std::sync::Arc;

use super::rows::{blob, object};
use super::{read, write};
use crate::index::{
    DeleteMarker, Index, ListedVersion, ObjectRecord, Version, VersionPlace, Versioning,
};

fn version(bucket: &str, key: &str, id: &str, n: u8) -> ObjectRecord {
    ObjectRecord {
        version_id: id.into(),
        last_modified: i64::from(n),
        ..object(bucket, key, blob(n, 3).sha256)
    }
}

fn marker(bucket: &str, key: &str, id: &str, at: i64) -> Version {
    Version::Marker(DeleteMarker {
        bucket: bucket.into(),
        key: key.into(),
        version_id: id.into(),
        last_modified: at,
    })
}

/// (key, version id, latest) of a listing, to compare in one line.
fn ids(listed: &[ListedVersion]) -> Vec<(String, String, bool)> {
    listed
        .iter()
        .map(|l| {
            (
                l.version.key().to_string(),
                l.version.version_id().to_string(),
                l.is_latest,
            )
        })
        .collect()
}

/// Versioning state, push, find, newest, update, remove; blobs named by
/// the history stay in use and make the bucket non-empty.
pub async fn versions_round_trip(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("b", None, 1).await?;
            for n in 1..=3 {
                tx.record_blob(&blob(n, 3), None, 1, false).await?;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
    let (fresh, set, missing) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            let fresh = tx.get_bucket("b").await?.map(|b| b.versioning);
            let set = tx.set_bucket_versioning("b", Versioning::Enabled).await?;
            let missing = tx
                .set_bucket_versioning("nobucket", Versioning::Enabled)
                .await?;
            Ok((fresh, set, missing))
        })
    })
    .await
    .unwrap();
    assert_eq!(
        (fresh, set, missing),
        (Some(Versioning::Unversioned), true, false)
    );
    let locked = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.set_bucket_object_lock("b", "{\"days\":1}").await?,
                tx.set_bucket_object_lock("nobucket", "{}").await?,
                tx.set_bucket_text(
                    "b",
                    crate::index::BucketText::Lifecycle,
                    Some("{\"rules\":[]}"),
                )
                .await?,
                tx.set_bucket_text("b", crate::index::BucketText::Tags, Some("[]"))
                    .await?,
                tx.set_bucket_text("b", crate::index::BucketText::Acl, Some("public-read"))
                    .await?,
                tx.set_bucket_text("b", crate::index::BucketText::Policy, Some("{}"))
                    .await?,
                tx.set_bucket_text("b", crate::index::BucketText::PublicAccessBlock, Some("p"))
                    .await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(locked, (true, false, true, true, true, true, true));
    let with_lifecycle = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.lifecycle_buckets().await })
    })
    .await
    .unwrap();
    assert_eq!(
        with_lifecycle,
        vec![("b".to_string(), "{\"rules\":[]}".to_string())]
    );
    let state = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok(tx
                .get_bucket("b")
                .await?
                .map(|b| (b.versioning, b.object_lock, b.policy, b.public_access_block)))
        })
    })
    .await
    .unwrap();
    assert_eq!(
        state,
        Some((
            Versioning::Enabled,
            Some("{\"days\":1}".to_string()),
            Some("{}".to_string()),
            Some("p".to_string())
        ))
    );

    // Only the history names blob 1; a marker names none.
    let seqs = write(&index, (), |tx, ()| {
        Box::pin(async move {
            let a = tx
                .push_past(&Version::Object(Box::new(version("b", "k", "v1", 1))))
                .await?;
            let b = tx.push_past(&marker("b", "k", "m1", 2)).await?;
            let c = tx
                .push_past(&Version::Object(Box::new(version("b", "k", "v2", 2))))
                .await?;
            let other = tx.push_past(&marker("b", "other", "m9", 3)).await?;
            Ok((a, b, c, other))
        })
    })
    .await
    .unwrap();
    assert!(seqs.0 < seqs.1 && seqs.1 < seqs.2, "{seqs:?}");
    let (found, newest, in_use, unused, non_empty) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.past_version("b", "k", "m1").await?,
                tx.newest_past("b", "k").await?,
                tx.blob_in_use(&blob(1, 3).sha256).await?,
                tx.blob_in_use(&blob(3, 3).sha256).await?,
                tx.bucket_has_objects("b").await?,
            ))
        })
    })
    .await
    .unwrap();
    let found = found.expect("the marker");
    assert_eq!(found.version, marker("b", "k", "m1", 2));
    assert_eq!(found.seq, seqs.1);
    let newest = newest.expect("the newest version");
    assert_eq!(
        newest.version,
        Version::Object(Box::new(version("b", "k", "v2", 2)))
    );
    assert!(in_use && !unused && non_empty);

    // Tags change in place; a marker has none to change.
    let (updated, on_marker, tags) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            let mut v = version("b", "k", "v1", 1);
            v.meta.tags = vec![("t".into(), "1".into())];
            let updated = tx.update_past(&v).await?;
            let mut m = version("b", "k", "m1", 1);
            m.meta.tags = vec![("t".into(), "1".into())];
            let on_marker = tx.update_past(&m).await?;
            let tags = match tx.past_version("b", "k", "v1").await? {
                Some(p) => match p.version {
                    Version::Object(o) => o.meta.tags,
                    Version::Marker(_) => Vec::new(),
                },
                None => Vec::new(),
            };
            Ok((updated, on_marker, tags))
        })
    })
    .await
    .unwrap();
    assert!(updated && !on_marker);
    assert_eq!(tags, vec![("t".to_string(), "1".to_string())]);

    // Removing gives the row back once; the blob it named is then free.
    let (removed, again, in_use) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            let removed = tx.remove_past("b", "k", "v1").await?;
            let again = tx.remove_past("b", "k", "v1").await?;
            Ok((removed, again, tx.blob_in_use(&blob(1, 3).sha256).await?))
        })
    })
    .await
    .unwrap();
    assert_eq!(removed.map(|p| p.seq), Some(seqs.0));
    assert!(again.is_none() && !in_use);
}

/// Current objects and history listed together: keys in byte order, each
/// key's current object first, then its history newest first; the latest
/// is the current object, or the newest marker of a key with none; a page
/// resumes after its last place, and after a key's last version.
pub async fn versions_list_newest_first_under_each_key(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("b", None, 1).await?;
            tx.insert_bucket("c", None, 1).await?;
            for n in 1..=6 {
                tx.record_blob(&blob(n, 3), None, 1, false).await?;
            }
            // "a": current v3, history v1, v2.
            tx.push_past(&Version::Object(Box::new(version("b", "a", "v1", 1))))
                .await?;
            tx.push_past(&Version::Object(Box::new(version("b", "a", "v2", 2))))
                .await?;
            tx.put_object(&version("b", "a", "v3", 3)).await?;
            // "a/x": a marker is its latest, over one version.
            tx.push_past(&Version::Object(Box::new(version("b", "a/x", "null", 4))))
                .await?;
            tx.push_past(&marker("b", "a/x", "m1", 5)).await?;
            // "ä" sorts after "b" by its bytes; only a current object.
            tx.put_object(&version("b", "ä", "null", 5)).await?;
            tx.put_object(&version("b", "b", "v6", 6)).await?;
            // Another bucket's versions are not listed.
            tx.push_past(&marker("c", "a", "mc", 1)).await?;
            Ok(())
        })
    })
    .await
    .unwrap();
    let list = |prefix: &'static str, after: VersionPlace, limit: usize| {
        let index = index.clone();
        async move {
            read(&index, (prefix, after, limit), |tx, (p, a, l)| {
                Box::pin(async move { tx.list_versions("b", p, &a, l).await })
            })
            .await
            .unwrap()
        }
    };
    let row = |k: &str, v: &str, latest: bool| (k.to_string(), v.to_string(), latest);
    let start = VersionPlace::after_key("");
    let everything = list("", start.clone(), 100).await;
    assert_eq!(
        ids(&everything),
        vec![
            row("a", "v3", true),
            row("a", "v2", false),
            row("a", "v1", false),
            row("a/x", "m1", true),
            row("a/x", "null", false),
            row("b", "v6", true),
            row("ä", "null", true),
        ]
    );
    assert!(everything[3].version.is_marker());

    // Pages of 2, each resuming at the last place: the same rows, once.
    let mut paged = Vec::new();
    let mut after = start.clone();
    loop {
        let page = list("", after.clone(), 2).await;
        if page.is_empty() {
            break;
        }
        after = page
            .last()
            .map(|l| l.place.clone())
            .unwrap_or(start.clone());
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&everything));

    // After a key: none of its versions; under a prefix: only its keys.
    assert_eq!(
        ids(&list("", VersionPlace::after_key("a"), 100).await)[0],
        row("a/x", "m1", true)
    );
    assert_eq!(
        ids(&list("a/", start.clone(), 100).await),
        vec![row("a/x", "m1", true), row("a/x", "null", false)]
    );
    // After the place of "a"'s current object: its history.
    let place = everything[0].place.clone();
    assert_eq!(place.rank, VersionPlace::CURRENT);
    assert_eq!(
        ids(&list("", place, 2).await),
        vec![row("a", "v2", false), row("a", "v1", false)]
    );
}
