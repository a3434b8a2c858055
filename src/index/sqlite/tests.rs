//! The SQLite backend's own tests: group commit, durability, files on
//! disk, and the index operations as this backend implements them.

use super::*;

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

#[test]
fn lifecycle_pending_uploaded_completed() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let d = declared(1, 10);
    assert!(matches!(
        db.presign(&d, "uploads", 0, 900, true, None).unwrap(),
        PresignOutcome::NeedsUpload
    ));
    assert!(matches!(
        db.complete(&d.id, 1).unwrap(),
        CompleteOutcome::NotUploaded(_)
    ));
    // Wrong hash never marks.
    assert_eq!(
        db.mark_uploaded(&d.id, &blob(Digest([2; 32]), 10), None, None, "uploads", 1)
            .unwrap()
            .0,
        MarkOutcome::NotFound
    );
    assert_eq!(
        db.mark_uploaded(&d.id, &blob(d.sha256, 10), None, None, "uploads", 1)
            .unwrap()
            .0,
        MarkOutcome::Marked
    );
    assert_eq!(
        db.mark_uploaded(&d.id, &blob(d.sha256, 10), None, None, "uploads", 2)
            .unwrap()
            .0,
        MarkOutcome::AlreadyStored
    );
    let CompleteOutcome::Completed(r) = db.complete(&d.id, 3).unwrap() else {
        panic!("not completed")
    };
    assert_eq!(r.status, Status::Completed);
    assert_eq!(r.completed_at, Some(3));
    // Idempotent: the first completion time stays.
    let CompleteOutcome::Completed(r) = db.complete(&d.id, 9).unwrap() else {
        panic!("not completed")
    };
    assert_eq!(r.completed_at, Some(3));
}

#[test]
fn dedupe_links_and_a_redeclaration_gets_the_stored_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let a = declared(7, 5);
    db.presign(&a, "uploads", 0, 900, true, None).unwrap();
    db.mark_uploaded(&a.id, &blob(a.sha256, 5), None, None, "uploads", 1)
        .unwrap();
    let b = declared(7, 5);
    assert!(matches!(
        db.presign(&b, "uploads", 2, 900, true, Some(5)).unwrap(),
        PresignOutcome::AlreadyStored
    ));
    assert_eq!(db.get(&b.id).unwrap().unwrap().status, Status::Uploaded);
    // Without dedupe the same content needs its own upload.
    let c = declared(7, 5);
    assert!(matches!(
        db.presign(&c, "uploads", 2, 900, false, None).unwrap(),
        PresignOutcome::NeedsUpload
    ));
    let mut other = a.clone();
    other.size = 6;
    match db.presign(&other, "uploads", 3, 900, true, None).unwrap() {
        // The stored record, for the API to word the refusal.
        PresignOutcome::Redeclared(rec) => assert_eq!((rec.id, rec.size), (a.id, 5)),
        o => panic!("{o:?}"),
    }
}

/// The damage mark of a blob (`None`: not marked).
fn damage_of(db: &SqliteIndex, sha: &Digest) -> Option<String> {
    db.read(|c| {
        Ok(c.query_row(
            "SELECT damaged FROM blobs WHERE sha256 = ?1",
            [sha.hex()],
            |r| r.get(0),
        )?)
    })
    .unwrap()
}

#[test]
fn dedupe_never_links_to_bytes_only_an_s3_object_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    // Another key's private object, in the store and inline.
    db.create_bucket_for("secret", Some("AKIAOTHER"), 0)
        .unwrap();
    let big = object("secret", "doc", 1);
    db.put_object(
        &big,
        &blob(big.sha256, 3),
        None,
        &WriteCondition::Always,
        "uploads",
    )
    .unwrap();
    let small = object("secret", "note", 2);
    db.put_object(
        &small,
        &blob(small.sha256, 3),
        Some(b"abc"),
        &WriteCondition::Always,
        "uploads",
    )
    .unwrap();
    for sha in [1, 2] {
        let d = declared(sha, 3);
        assert!(matches!(
            db.presign(&d, "uploads", 1, 900, true, Some(3)).unwrap(),
            PresignOutcome::NeedsUpload
        ));
        assert_eq!(db.get(&d.id).unwrap().unwrap().status, Status::Pending);
        assert!(db
            .get_object("uploads", &d.id.to_string())
            .unwrap()
            .is_none());
    }
    // Once a file of the upload API holds them, they are linked.
    let a = declared(1, 3);
    db.presign(&a, "uploads", 2, 900, true, Some(3)).unwrap();
    db.mark_uploaded(&a.id, &blob(a.sha256, 3), None, None, "uploads", 2)
        .unwrap();
    let b = declared(1, 3);
    assert!(matches!(
        db.presign(&b, "uploads", 3, 900, true, Some(3)).unwrap(),
        PresignOutcome::AlreadyStored
    ));
}

#[test]
fn only_intact_bytes_count_as_stored_and_a_verified_write_heals_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let a = declared(4, 100);
    db.presign(&a, "uploads", 0, 900, true, None).unwrap();
    db.mark_uploaded(&a.id, &blob(a.sha256, 100), None, None, "uploads", 1)
        .unwrap();
    let stored = |store_len| db.blob_intact(&a.sha256, 100, store_len).unwrap();
    assert!(stored(Some(100)));
    // The store's file is gone, or of another size: not stored.
    for store_len in [None, Some(99), Some(101)] {
        assert!(!stored(store_len));
        let b = declared(4, 100);
        assert!(matches!(
            db.presign(&b, "uploads", 2, 900, true, store_len).unwrap(),
            PresignOutcome::NeedsUpload
        ));
    }
    // Marked damaged (the start-up pass found it cut): not stored
    // either, whatever the store says now; the file's own id gets a
    // URL to send the bytes again, and stays uploaded meanwhile.
    db.mark_damaged(&a.sha256, "its file has 7 bytes, not 100")
        .unwrap();
    assert!(!stored(Some(100)));
    assert!(matches!(
        db.presign(&declared(4, 100), "uploads", 3, 900, true, Some(100))
            .unwrap(),
        PresignOutcome::NeedsUpload
    ));
    assert!(matches!(
        db.presign(&a, "uploads", 3, 900, true, Some(100)).unwrap(),
        PresignOutcome::NeedsUpload
    ));
    assert_eq!(db.get(&a.id).unwrap().unwrap().status, Status::Uploaded);
    // A copy (no md5: no byte written) and a part leave the mark.
    db.create_bucket("b", 0).unwrap();
    let mut copy = object("b", "copy", 4);
    copy.size = 100;
    let no_md5 = BlobInfo {
        md5: None,
        ..blob(a.sha256, 100)
    };
    db.put_object(&copy, &no_md5, None, &WriteCondition::Always, "uploads")
        .unwrap();
    assert!(damage_of(&db, &a.sha256).is_some());
    let upload = MultipartUpload {
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "k".into(),
        content_type: "x/y".into(),
        meta: ObjectMeta::default(),
        created_at: 0,
    };
    db.create_multipart(&upload).unwrap();
    let part = PartRecord {
        part_number: 1,
        sha256: a.sha256,
        size: 100,
        md5: [7; 16],
        last_modified: 1,
    };
    db.put_part("u1", &part, &blob(a.sha256, 100), None)
        .unwrap();
    assert!(damage_of(&db, &a.sha256).is_some());
    // The verified bytes again, through the file's URL: the mark goes
    // in the same write, and the bytes count as stored again.
    assert_eq!(
        db.mark_uploaded(&a.id, &blob(a.sha256, 100), None, None, "uploads", 4)
            .unwrap()
            .0,
        MarkOutcome::AlreadyStored
    );
    assert_eq!(damage_of(&db, &a.sha256), None);
    assert!(stored(Some(100)));
    // Through S3 PutObject (bytes received: md5 known) too.
    db.mark_damaged(&a.sha256, "missing").unwrap();
    let mut put = object("b", "put", 4);
    put.size = 100;
    db.put_object(
        &put,
        &blob(a.sha256, 100),
        None,
        &WriteCondition::Always,
        "uploads",
    )
    .unwrap();
    assert_eq!(damage_of(&db, &a.sha256), None);
    // Bytes kept inline in the index need no file in the store.
    let small = declared(5, 3);
    db.presign(&small, "uploads", 5, 900, true, None).unwrap();
    db.mark_uploaded(
        &small.id,
        &blob(small.sha256, 3),
        Some(b"xyz"),
        None,
        "uploads",
        5,
    )
    .unwrap();
    assert!(db.blob_intact(&small.sha256, 3, None).unwrap());
    assert!(matches!(
        db.presign(&declared(5, 3), "uploads", 6, 900, true, None)
            .unwrap(),
        PresignOutcome::AlreadyStored
    ));
}

#[test]
fn parts_sent_again_heal_a_stored_files_damaged_blob_and_keep_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let a = declared(6, 3);
    db.presign(&a, "uploads", 0, 900, true, None).unwrap();
    db.mark_uploaded(&a.id, &blob(a.sha256, 3), None, None, "uploads", 1)
        .unwrap();
    db.complete(&a.id, 2).unwrap();
    db.mark_damaged(&a.sha256, "its file is missing").unwrap();
    let upload = MultipartUpload {
        upload_id: "file-heal".into(),
        bucket: "uploads".into(),
        key: a.id.to_string(),
        content_type: "image/png".into(),
        meta: ObjectMeta::default(),
        created_at: 3,
    };
    db.create_multipart(&upload).unwrap();
    let part = PartRecord {
        part_number: 1,
        sha256: Digest([60; 32]),
        size: 3,
        md5: [7; 16],
        last_modified: 3,
    };
    db.put_part("file-heal", &part, &blob(part.sha256, 3), None)
        .unwrap();
    let FilePartsOutcome::Completed { record, released } = db
        .complete_file_parts(
            "file-heal",
            &[(1, part.sha256)],
            &a.id,
            &blob(a.sha256, 3),
            "uploads",
            4,
        )
        .unwrap()
    else {
        panic!("not completed")
    };
    assert_eq!(record.status, Status::Completed);
    assert_eq!(
        (record.uploaded_at, record.completed_at),
        (Some(1), Some(2))
    );
    assert_eq!(released, vec![part.sha256]);
    assert_eq!(damage_of(&db, &a.sha256), None);
    assert!(db.get_multipart("file-heal").unwrap().is_none());
    assert_eq!(
        db.get_object("uploads", &a.id.to_string())
            .unwrap()
            .unwrap()
            .sha256,
        a.sha256
    );
}

#[test]
fn an_object_an_s3_client_wrote_under_an_id_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    db.create_bucket("uploads", 0).unwrap();
    let s3_put = |d: &Declared, sha: u8| {
        let mut o = object("uploads", &d.id.to_string(), sha);
        o.size = 3;
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads",
        )
        .unwrap();
        o
    };
    // Written before any presign: the id is taken.
    let a = declared(1, 3);
    let theirs = s3_put(&a, 9);
    match db.presign(&a, "uploads", 1, 900, true, Some(3)).unwrap() {
        PresignOutcome::Conflict(why) => assert!(why.contains("S3"), "{why}"),
        o => panic!("{o:?}"),
    }
    assert!(db.get(&a.id).unwrap().is_none());
    // Nor does a self-contained URL make a row and take the key.
    assert_eq!(
        db.mark_uploaded(&a.id, &blob(a.sha256, 3), None, Some(&a), "uploads", 2)
            .unwrap()
            .0,
        MarkOutcome::Occupied
    );
    assert!(db.get(&a.id).unwrap().is_none());
    assert_eq!(
        db.get_object("uploads", &a.id.to_string()).unwrap(),
        Some(theirs)
    );

    // Written after the presign, before the PUT: the PUT records nothing.
    let b = declared(2, 3);
    db.presign(&b, "uploads", 3, 900, true, None).unwrap();
    let theirs = s3_put(&b, 8);
    assert_eq!(
        db.mark_uploaded(&b.id, &blob(b.sha256, 3), None, None, "uploads", 4)
            .unwrap()
            .0,
        MarkOutcome::Occupied
    );
    assert_eq!(db.get(&b.id).unwrap().unwrap().status, Status::Pending);
    assert_eq!(
        db.get_object("uploads", &b.id.to_string()).unwrap(),
        Some(theirs.clone())
    );
    assert!(matches!(
        db.presign(&b, "uploads", 5, 900, true, None).unwrap(),
        PresignOutcome::Conflict(_)
    ));
    // The start-up pass does not adopt bytes for it either.
    assert_eq!(
        db.claim_blob(&b.sha256, 3, "uploads", 6).unwrap(),
        BlobClaim::Unreferenced
    );
    assert_eq!(db.get(&b.id).unwrap().unwrap().status, Status::Pending);
    // Nor does a part-wise upload complete over it.
    let upload = MultipartUpload {
        upload_id: "file-1".into(),
        bucket: "uploads".into(),
        key: b.id.to_string(),
        content_type: "image/png".into(),
        meta: ObjectMeta::default(),
        created_at: 0,
    };
    db.create_multipart(&upload).unwrap();
    let part = PartRecord {
        part_number: 1,
        sha256: b.sha256,
        size: 3,
        md5: [7; 16],
        last_modified: 1,
    };
    db.put_part("file-1", &part, &blob(b.sha256, 3), None)
        .unwrap();
    assert!(matches!(
        db.complete_file_parts(
            "file-1",
            &[(1, b.sha256)],
            &b.id,
            &blob(b.sha256, 3),
            "uploads",
            7
        )
        .unwrap(),
        FilePartsOutcome::Occupied
    ));
    assert_eq!(db.get(&b.id).unwrap().unwrap().status, Status::Pending);
    assert_eq!(
        db.get_object("uploads", &b.id.to_string()).unwrap(),
        Some(theirs)
    );

    // A file's own object is no conflict: presign again is 200.
    let c = declared(3, 3);
    db.presign(&c, "uploads", 8, 900, true, None).unwrap();
    db.mark_uploaded(&c.id, &blob(c.sha256, 3), None, None, "uploads", 8)
        .unwrap();
    assert!(matches!(
        db.presign(&c, "uploads", 9, 900, true, Some(3)).unwrap(),
        PresignOutcome::AlreadyStored
    ));
    // An S3 write cannot replace it: the key is written once.
    let o = object("uploads", &c.id.to_string(), 7);
    assert_eq!(
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads"
        )
        .unwrap(),
        PutObjectOutcome::WrittenOnce
    );
    assert!(matches!(
        db.presign(&c, "uploads", 10, 900, true, Some(3)).unwrap(),
        PresignOutcome::AlreadyStored
    ));
    // Other bytes under its key all the same (written while the upload
    // bucket was configured under another name, or before keys were
    // written once) are no file's: presign refuses the id.
    db.put_object(
        &o,
        &blob(o.sha256, 3),
        None,
        &WriteCondition::Always,
        "elsewhere",
    )
    .unwrap();
    assert!(matches!(
        db.presign(&c, "uploads", 11, 900, true, Some(3)).unwrap(),
        PresignOutcome::Conflict(_)
    ));
}

#[test]
fn sweep_removes_only_expired_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let old = declared(1, 1);
    let fresh = declared(2, 1);
    let done = declared(3, 1);
    db.presign(&old, "uploads", 0, 100, true, None).unwrap();
    db.presign(&fresh, "uploads", 0, 10_000, true, None)
        .unwrap();
    db.presign(&done, "uploads", 0, 100, true, None).unwrap();
    db.mark_uploaded(&done.id, &blob(done.sha256, 1), None, None, "uploads", 1)
        .unwrap();
    assert_eq!(db.sweep_pending(5_000, &[]).unwrap(), 1);
    assert!(db.get(&old.id).unwrap().is_none());
    assert!(db.get(&fresh.id).unwrap().is_some());
    assert!(db.get(&done.id).unwrap().is_some());
    // An expired row whose bytes are arriving is kept.
    let busy = declared(4, 1);
    db.presign(&busy, "uploads", 0, 100, true, None).unwrap();
    assert_eq!(db.sweep_pending(5_000, &[busy.id]).unwrap(), 0);
    assert!(db.get(&busy.id).unwrap().is_some());
}

#[test]
fn tokens_are_unique_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let h = Digest([9; 32]);
    db.create_token("ci", &h, &["upload".into()], 0).unwrap();
    assert!(matches!(
        db.create_token("ci", &Digest([8; 32]), &[], 0),
        Err(DbError::NameTaken(_))
    ));
    assert_eq!(db.find_token(&h).unwrap().unwrap().scopes, vec!["upload"]);
    assert!(db.revoke_token("ci", 1).unwrap());
    assert!(db.find_token(&h).unwrap().is_none());
    assert!(!db.revoke_token("ci", 2).unwrap());
    assert_eq!(db.token_count().unwrap(), 1);
}

fn object(bucket: &str, key: &str, sha: u8) -> ObjectRecord {
    ObjectRecord {
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

#[test]
fn objects_live_in_buckets_and_release_their_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let o = object("b1", "a/ü b+c", 1);
    assert_eq!(
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads"
        )
        .unwrap(),
        PutObjectOutcome::NoSuchBucket
    );
    assert!(db.create_bucket("b1", 0).unwrap());
    assert!(!db.create_bucket("b1", 0).unwrap());
    assert_eq!(
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads"
        )
        .unwrap(),
        PutObjectOutcome::Stored { replaced: None }
    );
    assert_eq!(db.get_object("b1", "a/ü b+c").unwrap().unwrap(), o);
    // Overwrite with other bytes names the blob it replaced.
    let o2 = object("b1", "a/ü b+c", 2);
    assert_eq!(
        db.put_object(
            &o2,
            &blob(o2.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads"
        )
        .unwrap(),
        PutObjectOutcome::Stored {
            replaced: Some(o.sha256)
        }
    );
    assert!(db.release_blob(&o.sha256).unwrap());
    assert!(!db.release_blob(&o2.sha256).unwrap(), "still referenced");
    assert_eq!(
        db.delete_bucket("b1").unwrap(),
        DeleteBucketOutcome::NotEmpty
    );
    assert_eq!(db.delete_object("b1", "a/ü b+c").unwrap(), Some(o2.clone()));
    assert!(db.release_blob(&o2.sha256).unwrap());
    assert_eq!(
        db.delete_bucket("b1").unwrap(),
        DeleteBucketOutcome::Deleted
    );
    assert_eq!(
        db.delete_bucket("b1").unwrap(),
        DeleteBucketOutcome::NotFound
    );
}

#[test]
fn listing_is_in_utf8_byte_order_with_prefix_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    db.create_bucket("b", 0).unwrap();
    for (i, k) in ["b", "a/2", "a/1", "é", "Z", "a%"].iter().enumerate() {
        let o = object("b", k, i as u8);
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "uploads",
        )
        .unwrap();
    }
    let keys = |v: Vec<ObjectRecord>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(db.list_objects("b", "", "", 100).unwrap()),
        ["Z", "a%", "a/1", "a/2", "b", "é"]
    );
    assert_eq!(
        keys(db.list_objects("b", "a/", "", 100).unwrap()),
        ["a/1", "a/2"]
    );
    assert_eq!(
        keys(db.list_objects("b", "", "a/1", 2).unwrap()),
        ["a/2", "b"]
    );
}

#[test]
fn an_uploaded_file_is_visible_as_an_object_and_keeps_its_blob() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    let d = declared(4, 10);
    db.presign(&d, "uploads", 0, 900, true, None).unwrap();
    db.mark_uploaded(&d.id, &blob(d.sha256, 10), None, None, "uploads", 1)
        .unwrap();
    let o = db
        .get_object("uploads", &d.id.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(o.etag, hex::encode([7u8; 16]));
    assert_eq!(o.content_type, "image/png");
    // Deleting the object leaves the file's reference.
    db.delete_object("uploads", &d.id.to_string()).unwrap();
    assert!(!db.release_blob(&d.sha256).unwrap());
}

#[test]
fn a_files_key_is_written_once_whether_or_not_its_object_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    db.create_bucket("other", 0).unwrap();
    db.create_bucket("uploads", 0).unwrap();
    let put = |bucket: &str, key: &str, cond: &WriteCondition| {
        let o = object(bucket, key, 9);
        db.put_object(&o, &blob(o.sha256, 3), None, cond, "uploads")
            .unwrap()
    };
    let stored = |o: PutObjectOutcome| matches!(o, PutObjectOutcome::Stored { .. });
    // Pending: the key is not the file's yet (the upload API refuses
    // the file if an S3 client writes there first).
    let pending = declared(5, 3);
    db.presign(&pending, "uploads", 0, 900, true, None).unwrap();
    let pending_key = pending.id.to_string();
    assert!(stored(put(
        "uploads",
        &pending_key,
        &WriteCondition::Always
    )));
    let d = declared(4, 3);
    db.presign(&d, "uploads", 0, 900, true, None).unwrap();
    let key = d.id.to_string();
    db.mark_uploaded(&d.id, &blob(d.sha256, 3), None, None, "uploads", 1)
        .unwrap();
    let theirs = || db.get_object("uploads", &key).unwrap().unwrap().sha256;
    for cond in [
        WriteCondition::Always,
        WriteCondition::IfEtag(hex::encode([7u8; 16])),
    ] {
        assert_eq!(put("uploads", &key, &cond), PutObjectOutcome::WrittenOnce);
    }
    assert_eq!(theirs(), d.sha256);
    // Deleted through S3: still the file's key.
    db.delete_object("uploads", &key).unwrap();
    assert_eq!(
        put("uploads", &key, &WriteCondition::IfAbsent),
        PutObjectOutcome::WrittenOnce
    );
    assert!(db.get_object("uploads", &key).unwrap().is_none());
    // A multipart completion is refused alike, and its upload stays.
    let upload = MultipartUpload {
        upload_id: "u1".into(),
        bucket: "uploads".into(),
        key: key.clone(),
        content_type: "text/html".into(),
        meta: ObjectMeta::default(),
        created_at: 2,
    };
    assert!(db.create_multipart(&upload).unwrap());
    let part = PartRecord {
        part_number: 1,
        sha256: Digest([9; 32]),
        size: 3,
        md5: [1; 16],
        last_modified: 2,
    };
    db.put_part("u1", &part, &blob(part.sha256, 3), None)
        .unwrap();
    let o = object("uploads", &key, 9);
    assert_eq!(
        db.complete_multipart(
            "u1",
            &[(1, part.sha256)],
            &o,
            &blob(o.sha256, 3),
            &WriteCondition::Always,
            "uploads"
        )
        .unwrap(),
        CompleteMultipartOutcome::WrittenOnce
    );
    assert!(db.get_multipart("u1").unwrap().is_some());
    assert!(db.get_object("uploads", &key).unwrap().is_none());
    // The same key in another bucket, another spelling of the id, and
    // the upload bucket when it is not the files' are ordinary keys.
    assert!(stored(put("other", &key, &WriteCondition::Always)));
    assert!(stored(put(
        "uploads",
        &key.to_uppercase(),
        &WriteCondition::Always
    )));
    let o = object("uploads", &key, 9);
    assert!(stored(
        db.put_object(
            &o,
            &blob(o.sha256, 3),
            None,
            &WriteCondition::Always,
            "files"
        )
        .unwrap()
    ));
}

/// The bucket names a freshly opened index of `dir` holds.
fn bucket_names_after_reopen(dir: &Path) -> std::collections::HashSet<String> {
    let db = SqliteIndex::open(dir).unwrap();
    db.list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect()
}

/// Runs `f(db, thread, i)` for `per` values of `i` on each of
/// `threads` threads, all released at once.
fn concurrently(
    db: &std::sync::Arc<SqliteIndex>,
    threads: usize,
    per: usize,
    f: impl Fn(&SqliteIndex, usize, usize) + Send + Sync + Copy + 'static,
) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (db, start) = (db.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..per {
                    f(&db, t, i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn concurrent_commits_share_syncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let (c0, s0) = db.commit_stats().unwrap();
    let (threads, per) = (32, 10);
    concurrently(&db, threads, per, |db, t, i| {
        assert!(db.create_bucket(&format!("b-{t}-{i}"), 1).unwrap());
    });
    let (c1, s1) = db.commit_stats().unwrap();
    assert_eq!(c1 - c0, (threads * per) as u64);
    assert!(s1 - s0 >= 1, "a durable index syncs");
    assert!(
        s1 - s0 < c1 - c0,
        "{} syncs for {} concurrent commits: not grouped",
        s1 - s0,
        c1 - c0
    );
    drop(db);
    // Everything answered is there after reopening.
    let db = SqliteIndex::open(dir.path()).unwrap();
    assert_eq!(db.list_buckets().unwrap().len(), threads * per);
}

#[test]
fn batched_writes_share_transactions_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    let (c0, _) = db.commit_stats().unwrap();
    let (threads, per) = (32, 10);
    concurrently(&db, threads, per, |db, t, i| {
        let name = format!("b-{t}-{i}");
        let fail = (t + i) % 3 == 0;
        let r = db.write_batched(move |tx| {
            tx.cached_exec(
                "INSERT INTO buckets (name, created_at) VALUES (?1, 1)",
                [&name],
            )?;
            if fail {
                return Err(DbError::Corrupt("test: this write fails"));
            }
            Ok(name)
        });
        assert_eq!(r.is_err(), fail);
    });
    let (c1, _) = db.commit_stats().unwrap();
    let calls = (threads * per) as u64;
    assert!(
        c1 - c0 < calls,
        "{} transactions for {calls} writes",
        c1 - c0
    );
    // Exactly the writes that succeeded are there, after reopening too.
    drop(db);
    let names = bucket_names_after_reopen(dir.path());
    for t in 0..threads {
        for i in 0..per {
            let name = format!("b-{t}-{i}");
            assert_eq!(names.contains(&name), (t + i) % 3 != 0, "{name}");
        }
    }
}

#[test]
fn submitted_writes_run_on_the_writer_in_shared_durable_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(SqliteIndex::open(dir.path()).unwrap());
    db.create_token("taken", &Digest([6; 32]), &[], 1).unwrap();
    let (c0, _) = db.commit_stats().unwrap();
    let (done, results) = std::sync::mpsc::channel();
    let n = 300;
    for i in 0..n {
        let (index, done) = (db.clone(), done.clone());
        db.submit_write(Box::new(move || {
            // Every third job fails (a token name already taken); the
            // others' writes must not suffer for it.
            let r = if i % 3 == 0 {
                index.create_token("taken", &Digest([7; 32]), &[], 1)
            } else {
                index.create_bucket(&format!("s-{i}"), 1).map(|_| ())
            };
            // Half the jobs take their answer before the sync; it is
            // the same answer.
            let deliver: Delivery = Box::new(move |batch: Result<(), DbError>| {
                done.send((i, batch.and(r))).unwrap();
            });
            (deliver, i % 2 == 0)
        }));
    }
    let got: Vec<(usize, Result<(), DbError>)> = (0..n).map(|_| results.recv().unwrap()).collect();
    for (i, r) in &got {
        assert_eq!(r.is_err(), i % 3 == 0, "job {i}: {r:?}");
    }
    let (c1, _) = db.commit_stats().unwrap();
    assert!(c1 - c0 < n as u64, "{} transactions for {n} jobs", c1 - c0);
    drop(db);
    let names = bucket_names_after_reopen(dir.path());
    for i in 0..n {
        assert_eq!(
            names.contains(&format!("s-{i}")),
            i % 3 != 0,
            "bucket s-{i}"
        );
    }
}

#[test]
fn the_syncer_checkpoints_the_wal_without_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open(dir.path()).unwrap();
    for i in 0..300 {
        db.create_bucket(&format!("c-{i}"), 1).unwrap();
    }
    // Within a few checkpoint periods every write is in the database
    // file itself (300 small commits stay far below the writer's own
    // checkpoint mark, so this is the syncer's doing).
    // A copy of that file alone, without the WAL, shows what it holds.
    let copy = tempfile::tempdir().unwrap();
    let mut copied = false;
    for _ in 0..50 {
        std::thread::sleep(CHECKPOINT_EVERY / 2);
        std::fs::copy(dir.path().join(DB_FILE), copy.path().join(DB_FILE)).unwrap();
        // (Before the first checkpoint not even the schema is there.)
        let n: i64 = Connection::open(copy.path().join(DB_FILE))
            .unwrap()
            .query_row("SELECT count(*) FROM buckets", [], |r| r.get(0))
            .unwrap_or(0);
        if n == 300 {
            copied = true;
            break;
        }
    }
    assert!(copied, "the WAL was never checkpointed");
}

#[test]
fn relaxed_index_never_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteIndex::open_with(dir.path(), false).unwrap();
    assert!(db.create_bucket("b", 1).unwrap());
    assert!(db.commit_stats().is_none());
    assert!(db.bucket_exists("b").unwrap());
}

#[test]
fn the_index_file_is_its_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // New: created 0600, and SQLite's WAL follows it.
    let idx = SqliteIndex::open_with(dir.path(), false).unwrap();
    idx.create_token("t", &Digest([7; 32]), &["read".into()], 0)
        .unwrap();
    assert_eq!(mode(&dir.path().join(DB_FILE)), 0o600);
    assert_eq!(mode(&dir.path().join(format!("{DB_FILE}-wal"))), 0o600);
    drop(idx);
    // Existing and open to others: tightened.
    let db = dir.path().join(DB_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteIndex::open_with(dir.path(), false).unwrap();
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn reopening_keeps_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteIndex::open(dir.path()).unwrap());
    let db = SqliteIndex::open(dir.path()).unwrap();
    let v: i64 = db
        .read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
        .unwrap();
    assert_eq!(v, migrations::LATEST);
}

/// The contract of every index backend (`crate::index::contract`).
mod contract {
    fn index() -> Option<(tempfile::TempDir, std::sync::Arc<dyn super::Index>)> {
        let dir = tempfile::tempdir().unwrap();
        let idx = super::SqliteIndex::open(dir.path()).unwrap();
        Some((dir, std::sync::Arc::new(idx)))
    }

    crate::index::contract::contract_tests!(index());
}
