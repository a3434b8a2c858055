//! Every row operation round-trips: what one transaction writes, the next
//! reads back as written, in the order the interface promises.

use std::sync::Arc;

use super::{declared, read, write};
use crate::index::{
    AccessKey, BlobInfo, BucketRecord, Cursor, Index, MultipartUpload, ObjectMeta, ObjectRecord,
    PartRecord, Status,
};
use crate::store::Digest;

pub(super) fn blob(n: u8, size: u64) -> BlobInfo {
    BlobInfo {
        sha256: Digest([n; 32]),
        size,
        md5: Some([n; 16]),
    }
}

pub(super) fn object(bucket: &str, key: &str, sha: Digest) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: bucket.into(),
        key: key.into(),
        sha256: sha,
        size: 3,
        etag: "e".into(),
        content_type: "text/plain".into(),
        meta: ObjectMeta {
            user: vec![("colour".into(), "blue".into())],
            parts: Some(2),
            ..ObjectMeta::default()
        },
        last_modified: 7,
    }
}

/// Files: insert, read, update, the lookups by blob and by expiry, and
/// the delete of a pending row only.
pub async fn files_round_trip(index: Arc<dyn Index>) {
    let pending = declared(5);
    let stored = crate::index::Declared {
        sha256: pending.sha256,
        ..declared(5)
    };
    write(&index, (pending.clone(), stored.clone()), |tx, (p, s)| {
        Box::pin(async move {
            tx.insert_file(&p, Status::Pending, 10, 100, None).await?;
            tx.insert_file(&s, Status::Uploaded, 11, 101, Some(12))
                .await
        })
    })
    .await
    .unwrap();
    let (p, s, with_bytes, pending_ids, expired) =
        read(&index, (pending.clone(), stored.clone()), |tx, (p, s)| {
            Box::pin(async move {
                Ok((
                    tx.get_file(&p.id).await?,
                    tx.get_file(&s.id).await?,
                    tx.file_with_bytes(&p.sha256, 5).await?,
                    tx.pending_files_of(&p.sha256, 5).await?,
                    tx.expired_pending(101).await?,
                ))
            })
        })
        .await
        .unwrap();
    let p = p.expect("the pending row");
    assert_eq!(
        (
            p.file_name.as_str(),
            p.content_type.as_str(),
            p.sha256,
            p.status
        ),
        (
            pending.file_name.as_str(),
            "application/octet-stream",
            pending.sha256,
            Status::Pending
        )
    );
    assert_eq!(
        (p.created_at, p.url_expires_at, p.uploaded_at),
        (10, 100, None)
    );
    let s = s.expect("the stored row");
    assert_eq!(
        (s.status, s.uploaded_at, s.completed_at),
        (Status::Uploaded, Some(12), None)
    );
    assert!(with_bytes, "a row with bytes holds the blob");
    assert_eq!(pending_ids, vec![pending.id]);
    assert_eq!(expired, vec![pending.id]);

    let mut done = s.clone();
    done.file_name = "renamed é.bin".into();
    done.status = Status::Completed;
    done.completed_at = Some(13);
    let (deleted_stored, deleted_pending) =
        write(&index, (done, pending.id), |tx, (done, pending)| {
            Box::pin(async move {
                tx.update_file(&done).await?;
                Ok((
                    tx.delete_pending_file(&done.id).await?,
                    tx.delete_pending_file(&pending).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!((deleted_stored, deleted_pending), (false, true));
    let (s2, p2) = read(&index, (stored.id, pending.id), |tx, (s, p)| {
        Box::pin(async move { Ok((tx.get_file(&s).await?, tx.get_file(&p).await?)) })
    })
    .await
    .unwrap();
    let s2 = s2.expect("the stored row stays");
    assert_eq!(
        (s2.file_name.as_str(), s2.status, s2.completed_at),
        ("renamed é.bin", Status::Completed, Some(13))
    );
    assert!(p2.is_none());
}

/// `list_files` pages newest first by insertion, through more than two
/// pages, each row once, the last page without a cursor.
pub async fn files_page_newest_first(index: Arc<dyn Index>) {
    let all: Vec<_> = (0..25).map(|_| declared(1)).collect();
    for d in &all {
        write(&index, d.clone(), |tx, d| {
            Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
        })
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut from: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let (page, next) = read(&index, from, |tx, from| {
            Box::pin(async move { tx.list_files(from, 10).await })
        })
        .await
        .unwrap();
        pages += 1;
        assert!(page.len() <= 10);
        seen.extend(page.into_iter().map(|f| f.id));
        match next {
            Some(c) => from = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<_> = all.iter().rev().map(|d| d.id).collect();
    assert_eq!(seen, newest_first);
    // An exact multiple of the page: no empty page after the last.
    let (page, next) = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.list_files(None, 25).await })
    })
    .await
    .unwrap();
    assert_eq!((page.len(), next), (25, None));
}

/// Blobs: inline bytes kept and read back whole, the first MD5 and bytes
/// kept, damage marked and healed, ETags filled, use by referrers, the
/// digest-ordered page, dangling rows, and forgetting a blob with its
/// referrers.
pub async fn blobs_round_trip_with_inline_bytes(index: Arc<dyn Index>) {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let (a, b) = (blob(0xa1, 3000), blob(0x0b, 9));
    let d = bytes.clone();
    write(&index, (a, b, d), |tx, (a, b, d)| {
        Box::pin(async move {
            tx.record_blob(&a, Some(&d), 5, false).await?;
            // Recorded again: the first bytes and MD5 stay.
            let other = BlobInfo {
                md5: Some([0; 16]),
                ..a
            };
            tx.record_blob(&other, Some(b"other"), 6, false).await?;
            let no_md5 = BlobInfo { md5: None, ..b };
            tx.record_blob(&no_md5, None, 6, false).await
        })
    })
    .await
    .unwrap();
    let (ra, data, rb, missing) = read(&index, (a, b), |tx, (a, b)| {
        Box::pin(async move {
            Ok((
                tx.get_blob(&a.sha256).await?,
                tx.blob_data(&a.sha256).await?,
                tx.get_blob(&b.sha256).await?,
                tx.blobs_missing_md5().await?,
            ))
        })
    })
    .await
    .unwrap();
    let ra = ra.expect("blob a");
    assert_eq!(
        (ra.info, ra.inline, ra.damaged, ra.created_at),
        (a, true, None, 5)
    );
    assert_eq!(
        data.as_deref(),
        Some(&bytes[..]),
        "inline bytes read back whole"
    );
    let rb = rb.expect("blob b");
    assert_eq!((rb.info.md5, rb.inline), (None, false));
    assert_eq!(missing, vec![b.sha256]);

    // An object without an ETag gets one with the MD5; damage comes and
    // goes with `heal`.
    let obj = ObjectRecord {
        etag: String::new(),
        ..object("blobs", "k", b.sha256)
    };
    write(&index, (b, obj), |tx, (b, obj)| {
        Box::pin(async move {
            tx.insert_bucket("blobs", None, 1).await?;
            tx.put_object(&obj).await?;
            tx.set_blob_md5(&b.sha256, &[0xb0; 16]).await?;
            tx.mark_damaged(&b.sha256, "missing: gone").await
        })
    })
    .await
    .unwrap();
    let (rb, etag, in_use, missing) = read(&index, b, |tx, b| {
        Box::pin(async move {
            Ok((
                tx.get_blob(&b.sha256).await?,
                tx.get_object("blobs", "k").await?.map(|o| o.etag),
                tx.blob_in_use(&b.sha256).await?,
                tx.blobs_missing_md5().await?,
            ))
        })
    })
    .await
    .unwrap();
    let rb = rb.expect("blob b");
    assert_eq!(rb.info.md5, Some([0xb0; 16]));
    assert_eq!(rb.damaged.as_deref(), Some("missing: gone"));
    assert_eq!(etag.as_deref(), Some(hex::encode([0xb0; 16]).as_str()));
    assert!(in_use);
    assert!(missing.is_empty());
    let healed = read(&index, b, |tx, b| {
        Box::pin(async move {
            tx.record_blob(&b, None, 9, false).await?;
            Ok(())
        })
    })
    .await;
    assert!(healed.is_err(), "a read body cannot write");
    write(&index, b, |tx, b| {
        Box::pin(async move { tx.record_blob(&b, None, 9, true).await })
    })
    .await
    .unwrap();
    let rb = read(&index, b, |tx, b| {
        Box::pin(async move { tx.get_blob(&b.sha256).await })
    })
    .await
    .unwrap()
    .expect("blob b");
    assert_eq!(rb.damaged, None, "heal clears the mark");

    // In digest order, from after a digest; a file naming a missing blob
    // dangles; forgetting a blob takes its referrers.
    let page = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.blob_page(None, 10).await })
    })
    .await
    .unwrap();
    let order: Vec<_> = page.iter().map(|e| (e.info.sha256, e.inline)).collect();
    assert_eq!(order, vec![(b.sha256, false), (a.sha256, true)]);
    let after_b = read(&index, b.sha256, |tx, b| {
        Box::pin(async move { tx.blob_page(Some(&b), 10).await })
    })
    .await
    .unwrap();
    assert_eq!(after_b.len(), 1);
    let orphan = declared(4);
    write(&index, orphan.clone(), |tx, d| {
        Box::pin(async move { tx.insert_file(&d, Status::Uploaded, 1, 2, Some(1)).await })
    })
    .await
    .unwrap();
    let dangling = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.dangling().await })
    })
    .await
    .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].referrer, format!("file {}", orphan.id));
    assert_eq!(dangling[0].sha256, orphan.sha256.hex());
    let forgotten = write(&index, b.sha256, |tx, b| {
        Box::pin(async move { tx.forget_blob(&b).await })
    })
    .await
    .unwrap();
    assert_eq!(forgotten, 1, "its object went with it");

    // Deleting a blob takes its inline bytes.
    let (gone, data) = {
        write(&index, a.sha256, |tx, a| {
            Box::pin(async move { tx.delete_blob(&a, 0).await })
        })
        .await
        .unwrap();
        read(&index, a.sha256, |tx, a| {
            Box::pin(async move { Ok((tx.get_blob(&a).await?, tx.blob_data(&a).await?)) })
        })
        .await
        .unwrap()
    };
    assert!(gone.is_none() && data.is_none());
}

/// `newest_blobs` pages through the blobs whose bytes are in the store,
/// newest first, more than two pages, skipping inline ones.
pub async fn newest_blobs_page_through_every_stored_blob(index: Arc<dyn Index>) {
    for n in 1..=12u8 {
        write(&index, n, |tx, n| {
            Box::pin(async move {
                let inline = (n % 4 == 0).then_some(&b"tiny"[..]);
                tx.record_blob(&blob(n, 4), inline, i64::from(n), false)
                    .await
            })
        })
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut from = None;
    let mut pages = 0;
    loop {
        let page = read(&index, from, |tx, from| {
            Box::pin(async move { tx.newest_blobs(from, 4).await })
        })
        .await
        .unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        from = page.last().map(|(c, _, _)| *c);
        for (_, created, e) in page {
            assert!(!e.inline);
            seen.push((created, e.info.sha256));
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<_> = (1..=12u8)
        .rev()
        .filter(|n| n % 4 != 0)
        .map(|n| (i64::from(n), Digest([n; 32])))
        .collect();
    assert_eq!(seen, want);
}

/// Buckets: insert once, owner and CORS, byte order, the buckets of a key
/// (owned or granted), grants replaced, and a delete that takes grants.
pub async fn buckets_and_grants_round_trip(index: Arc<dyn Index>) {
    let (first, again) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            let first = tx.insert_bucket("zeta", Some("AKALICE"), 3).await?;
            let again = tx.insert_bucket("zeta", None, 4).await?;
            tx.insert_bucket("Alpha", None, 1).await?;
            tx.insert_bucket("beta", Some("AKBOB"), 2).await?;
            tx.put_grant("AKALICE", "beta", false).await?;
            tx.put_grant("AKALICE", "beta", true).await?;
            Ok((first, again))
        })
    })
    .await
    .unwrap();
    assert_eq!((first, again), (true, false));
    let set = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.set_bucket_text("zeta", crate::index::BucketText::Cors, Some("[{\"x\":1}]"))
                    .await?,
                tx.set_bucket_text("nope", crate::index::BucketText::Cors, Some("[]"))
                    .await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(set, (true, false));
    let (zeta, all, alice, grant, none) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.get_bucket("zeta").await?,
                tx.list_buckets().await?,
                tx.buckets_of("AKALICE").await?,
                tx.get_grant("AKALICE", "beta").await?,
                tx.get_grant("AKBOB", "zeta").await?,
            ))
        })
    })
    .await
    .unwrap();
    let zeta = zeta.expect("zeta");
    assert_eq!(
        (zeta.created_at, zeta.owner.as_deref(), zeta.cors.as_deref()),
        (3, Some("AKALICE"), Some("[{\"x\":1}]"))
    );
    let names = |v: &[BucketRecord]| v.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
    // Byte order: uppercase before lowercase.
    assert_eq!(names(&all), ["Alpha", "beta", "zeta"]);
    assert_eq!(names(&alice), ["beta", "zeta"]);
    assert_eq!((grant, none), (Some(true), None));

    let has = write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.record_blob(&blob(1, 3), None, 1, false).await?;
            tx.put_object(&object("beta", "k", Digest([1; 32]))).await?;
            let has = (
                tx.bucket_has_objects("beta").await?,
                tx.bucket_has_objects("zeta").await?,
            );
            tx.delete_object("beta", "k").await?;
            tx.delete_bucket("beta").await?;
            Ok(has)
        })
    })
    .await
    .unwrap();
    assert_eq!(has, (true, false));
    let (beta, grant, alice) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.get_bucket("beta").await?,
                tx.get_grant("AKALICE", "beta").await?,
                tx.buckets_of("AKALICE").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(beta.is_none() && grant.is_none());
    assert_eq!(names(&alice), ["zeta"]);
}

/// Objects: upsert answering the blob replaced, read back with their
/// metadata, listed in S3's order (UTF-8 bytes) by prefix and after a
/// key, and deleted answering what was there.
pub async fn objects_list_in_byte_order(index: Arc<dyn Index>) {
    // In byte order: "B" < "a" < "a/" < "a/b" < "ab" < "z" < "é" < "😀".
    let keys = ["z", "a/b", "é", "B", "a", "ab", "😀", "a/"];
    let replaced = write(&index, keys.map(String::from).to_vec(), |tx, keys| {
        Box::pin(async move {
            tx.insert_bucket("objs", None, 1).await?;
            tx.insert_bucket("other", None, 1).await?;
            tx.record_blob(&blob(1, 3), None, 1, false).await?;
            tx.record_blob(&blob(2, 3), None, 1, false).await?;
            for k in &keys {
                tx.put_object(&object("objs", k, Digest([1; 32]))).await?;
            }
            tx.put_object(&object("other", "a", Digest([1; 32])))
                .await?;
            Ok((
                tx.put_object(&object("objs", "a", Digest([1; 32]))).await?,
                tx.put_object(&object("objs", "ab", Digest([2; 32])))
                    .await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(replaced, (None, Some(Digest([1; 32]))));
    let list = |prefix: &'static str, after: &'static str, limit: usize| {
        let index = index.clone();
        async move {
            read(&index, (prefix, after, limit), |tx, (p, a, l)| {
                Box::pin(async move { tx.list_objects("objs", p, a, l).await })
            })
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("", "", 100).await,
        ["B", "a", "a/", "a/b", "ab", "z", "é", "😀"]
    );
    assert_eq!(list("a", "", 100).await, ["a", "a/", "a/b", "ab"]);
    assert_eq!(list("a", "a/", 100).await, ["a/b", "ab"]);
    assert_eq!(list("", "z", 100).await, ["é", "😀"]);
    assert_eq!(list("", "", 3).await, ["B", "a", "a/"]);
    assert_eq!(list("é", "", 3).await, ["é"]);
    assert!(list("x", "", 3).await.is_empty());

    let (got, gone, again, after) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.get_object("objs", "ab").await?,
                tx.delete_object("objs", "ab").await?,
                tx.delete_object("objs", "ab").await?,
                tx.get_object("objs", "ab").await?,
            ))
        })
    })
    .await
    .unwrap();
    let want = object("objs", "ab", Digest([2; 32]));
    assert_eq!(got.as_ref(), Some(&want), "read back with its metadata");
    assert_eq!(gone, Some(want));
    assert!(again.is_none() && after.is_none());
}

fn upload(id: &str, key: &str, at: i64) -> MultipartUpload {
    MultipartUpload {
        upload_id: id.into(),
        bucket: "mp".into(),
        key: key.into(),
        content_type: "video/mp4".into(),
        meta: ObjectMeta {
            cache_control: Some("no-cache".into()),
            ..ObjectMeta::default()
        },
        created_at: at,
    }
}

fn part(n: u32, sha: u8) -> PartRecord {
    PartRecord {
        part_number: n,
        sha256: Digest([sha; 32]),
        size: 5,
        md5: [sha; 16],
        last_modified: i64::from(n),
        // Kept and read back as it was, absent or not.
        checksum: (n % 2 == 0).then(|| format!("c{n}==")),
    }
}

/// Multipart uploads: insert, read, touch, parts replaced by number and
/// listed after a number, their distinct blobs, the listing by key and id
/// markers, stale ones, deletes, and the completions remembered.
pub async fn uploads_and_parts_round_trip(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.insert_bucket("mp", None, 1).await?;
            for n in [1, 2] {
                tx.record_blob(&blob(n, 5), None, 1, false).await?;
            }
            tx.insert_upload(&upload("u2", "b", 10)).await?;
            tx.insert_upload(&upload("u1", "b", 11)).await?;
            tx.insert_upload(&upload("u3", "a", 12)).await?;
            tx.insert_upload(&upload("u4", "c/d", 13)).await?;
            for n in 1..=3 {
                tx.put_part("u1", &part(n, 1)).await?;
            }
            // Replaced by number.
            tx.put_part("u1", &part(2, 2)).await
        })
    })
    .await
    .unwrap();
    let (u, p2, none, parts, after1, blobs, touched, missing) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.get_upload("u1").await?,
                tx.get_part("u1", 2).await?,
                tx.get_part("u1", u32::MAX).await?,
                tx.list_parts("u1", 0, 100).await?,
                tx.list_parts("u1", 1, 1).await?,
                tx.part_blobs("u1").await?,
                tx.touch_upload("u2", 20).await?,
                tx.touch_upload("nope", 20).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(u, Some(upload("u1", "b", 11)));
    assert_eq!(p2, Some(part(2, 2)));
    assert!(none.is_none());
    assert_eq!(parts, vec![part(1, 1), part(2, 2), part(3, 1)]);
    assert_eq!(after1, vec![part(2, 2)]);
    let mut blobs = blobs;
    blobs.sort_by_key(|d| d.0);
    assert_eq!(blobs, vec![Digest([1; 32]), Digest([2; 32])]);
    assert_eq!((touched, missing), (true, false));

    let ids = |v: Vec<MultipartUpload>| v.into_iter().map(|u| u.upload_id).collect::<Vec<_>>();
    let (all, by_b, after_b_u1, after_b, in_c, stale, everyone) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.list_uploads("mp", "", "", "", 100).await?,
                tx.list_uploads("mp", "b", "", "", 100).await?,
                tx.list_uploads("mp", "", "b", "u1", 100).await?,
                tx.list_uploads("mp", "", "b", "", 100).await?,
                tx.list_uploads("mp", "c/", "", "", 1).await?,
                tx.stale_uploads(13).await?,
                tx.uploads_in("mp").await?,
            ))
        })
    })
    .await
    .unwrap();
    // By key, then by upload id.
    assert_eq!(ids(all), ["u3", "u1", "u2", "u4"]);
    assert_eq!(ids(by_b), ["u1", "u2"]);
    assert_eq!(ids(after_b_u1), ["u2", "u4"]);
    assert_eq!(ids(after_b), ["u4"]);
    assert_eq!(ids(in_c), ["u4"]);
    let mut stale = stale;
    stale.sort();
    assert_eq!(stale, ["u1", "u3"]);
    assert_eq!(everyone.len(), 4);

    let (gone, parts, done, old) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.delete_upload("u1").await?;
            tx.put_completed("u1", "mp", "b", "etag-2", 30).await?;
            tx.put_completed("u0", "mp", "z", "etag-0", 5).await?;
            tx.put_completed("u1", "mp", "b", "etag-2b", 31).await?;
            tx.forget_completed_before(10).await?;
            Ok((
                tx.get_upload("u1").await?,
                tx.list_parts("u1", 0, 100).await?,
                tx.get_completed("u1").await?,
                tx.get_completed("u0").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(gone.is_none() && parts.is_empty());
    assert_eq!(done, Some(("mp".into(), "b".into(), "etag-2b".into())));
    assert!(old.is_none());
}

/// Tokens by hash (one name each), their revocation and count; access
/// keys (one name and one id each), their secrets while live.
pub async fn tokens_and_access_keys_round_trip(index: Arc<dyn Index>) {
    let scopes: Vec<String> = vec!["upload".into(), "read".into()];
    let made = write(&index, scopes.clone(), |tx, scopes| {
        Box::pin(async move {
            Ok((
                tx.insert_token("ci", &Digest([1; 32]), &scopes, 5).await?,
                tx.insert_token("ci", &Digest([2; 32]), &scopes, 6).await?,
                tx.insert_token("admin", &Digest([3; 32]), &[], 4).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(made, (true, false, true));
    let (found, other, list, count) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.find_token(&Digest([1; 32])).await?,
                tx.find_token(&Digest([2; 32])).await?,
                tx.list_tokens().await?,
                tx.token_count().await?,
            ))
        })
    })
    .await
    .unwrap();
    let found = found.expect("token ci");
    assert_eq!(
        (found.name.as_str(), &found.scopes, found.created_at),
        ("ci", &scopes, 5)
    );
    assert!(other.is_none());
    let names: Vec<_> = list.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["admin", "ci"], "by creation time");
    assert_eq!(count, 2);
    let revoked = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.revoke_token("ci", 9).await?,
                tx.revoke_token("ci", 10).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(revoked, (true, false));
    let (found, count, list) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.find_token(&Digest([1; 32])).await?,
                tx.token_count().await?,
                tx.list_tokens().await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(found.is_none());
    assert_eq!(count, 2, "revoked tokens still count");
    assert_eq!(list[1].revoked_at, Some(9));

    fn key(id: &str, name: &str) -> AccessKey {
        AccessKey {
            access_key_id: id.into(),
            secret: format!("secret-of-{id}"),
            name: name.into(),
            created_at: 1,
            revoked_at: None,
        }
    }
    let made = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.insert_access_key(&key("AK1", "alice")).await?,
                tx.insert_access_key(&key("AK2", "alice")).await?,
                tx.insert_access_key(&key("AK1", "bob")).await?,
                tx.insert_access_key(&key("AK3", "bob")).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(made, (true, false, false, true));
    let (keys, secret, named, revoked, again, after, named_after) = write(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.list_access_keys().await?,
                tx.access_key_secret("AK1").await?,
                tx.access_key_named("bob").await?,
                tx.revoke_access_key("alice", 7).await?,
                tx.revoke_access_key("alice", 8).await?,
                tx.access_key_secret("AK1").await?,
                tx.access_key_named("alice").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(keys, vec![key("AK1", "alice"), key("AK3", "bob")]);
    assert_eq!(secret.as_deref(), Some("secret-of-AK1"));
    assert_eq!(named.as_deref(), Some("AK3"));
    assert_eq!((revoked, again), (true, false));
    assert!(after.is_none() && named_after.is_none());
}

/// `stats` counts pending files, files with bytes, objects and bytes of
/// blobs; `check` answers.
pub async fn stats_count_rows(index: Arc<dyn Index>) {
    let (p, s) = (declared(1), declared(2));
    let stats = write(&index, (p, s), |tx, (p, s)| {
        Box::pin(async move {
            tx.check().await?;
            let empty = tx.stats().await?;
            tx.insert_file(&p, Status::Pending, 1, 2, None).await?;
            tx.insert_file(&s, Status::Completed, 1, 2, Some(1)).await?;
            tx.record_blob(&blob(1, 100), None, 1, false).await?;
            tx.record_blob(&blob(2, 23), Some(&[0; 23]), 1, false)
                .await?;
            tx.insert_bucket("st", None, 1).await?;
            tx.put_object(&object("st", "k", Digest([1; 32]))).await?;
            Ok(empty)
        })
    })
    .await
    .unwrap();
    assert_eq!(stats, (0, 0, 0, 0));
    let stats = read(&index, (), |tx, ()| {
        Box::pin(async move {
            tx.check().await?;
            tx.stats().await
        })
    })
    .await
    .unwrap();
    assert_eq!(stats, (1, 1, 1, 123));
}
