//! A full disk: the write that does not fit is answered
//! [`IndexError::DiskFull`] — not a generic fault — and nothing of its
//! body is kept; what was committed before stays whole and readable; and
//! bodies running beside it are answered for what they did (kept and
//! answered, or refused as full and not kept), never failed for its sake.
//!
//! The check takes an index whose disk is small (each backend says how it
//! makes one: SQLite a page limit, PostgreSQL its tables on a small
//! tmpfs) and fills it for real.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{read, write};
use crate::index::{BlobInfo, Declared, Index, IndexError, ObjectMeta, ObjectRecord, Status};
use crate::store::Digest;

/// Bytes of each filler blob.
const FILLER: usize = 16 << 10;
/// Bodies written before the disk is expected to be full, at most.
const MOST: u32 = 2000;

/// `FILLER` bytes no compression shrinks, different for each `n`.
fn filler(n: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILLER + 32);
    let mut h: [u8; 32] = Sha256::digest(n.to_be_bytes()).into();
    while out.len() < FILLER {
        out.extend_from_slice(&h);
        h = Sha256::digest(h).into();
    }
    out.truncate(FILLER);
    out
}

fn info(n: u32) -> BlobInfo {
    BlobInfo {
        sha256: Digest(Sha256::digest(filler(n)).into()),
        size: FILLER as u64,
        md5: None,
    }
}

fn file_of(n: u32) -> Declared {
    Declared {
        id: Uuid::from_u128(u128::from(n) + 1),
        file_name: format!("{n}.bin"),
        content_type: "application/octet-stream".into(),
        size: FILLER as u64,
        sha256: info(n).sha256,
    }
}

fn object(n: u32) -> ObjectRecord {
    ObjectRecord {
        version_id: crate::index::NULL_VERSION.into(),
        bucket: "full".into(),
        key: format!("o{n}"),
        sha256: info(n).sha256,
        size: FILLER as u64,
        etag: String::new(),
        content_type: "application/octet-stream".into(),
        meta: ObjectMeta::default(),
        last_modified: 1,
    }
}

/// One body of several rows around a filler blob: a file row first, the
/// blob with its bytes inline, then its object.
async fn store(index: &Arc<dyn Index>, n: u32) -> Result<(), IndexError> {
    write(index, n, |tx, n| {
        Box::pin(async move {
            tx.insert_file(&file_of(n), Status::Uploaded, 1, 2, Some(1))
                .await?;
            tx.record_blob(&info(n), Some(&filler(n)), 1, false).await?;
            tx.put_object(&object(n)).await?;
            Ok(())
        })
    })
    .await
}

/// What the index holds of body `n`: (file row, blob bytes, object).
async fn rows_of(index: &Arc<dyn Index>, n: u32) -> (bool, Option<Vec<u8>>, bool) {
    read(index, n, |tx, n| {
        Box::pin(async move {
            Ok((
                tx.get_file(&file_of(n).id).await?.is_some(),
                tx.blob_data(&info(n).sha256).await?,
                tx.get_object("full", &format!("o{n}")).await?.is_some(),
            ))
        })
    })
    .await
    .unwrap()
}

/// Fills the index body by body until one is refused; that one is
/// `DiskFull` and left nothing, the others are whole. Then a body that
/// cannot fit runs beside deletes: it is refused as full, and each delete
/// is answered for what it did.
pub async fn a_full_disk_refuses_the_write_and_keeps_nothing_of_it(index: Arc<dyn Index>) {
    write(&index, (), |tx, ()| {
        Box::pin(async move { tx.insert_bucket("full", None, 1).await.map(drop) })
    })
    .await
    .unwrap();
    let mut stored = 0;
    let err = loop {
        assert!(
            stored < MOST,
            "{MOST} bodies of 16 KiB fit: this disk is not small"
        );
        match store(&index, stored).await {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, IndexError::DiskFull), "not DiskFull: {err:?}");
    assert!(stored > 0, "nothing fit: the check proves little");
    eprintln!("{stored} bodies of 16 KiB fit before the disk was full");
    assert_eq!(
        rows_of(&index, stored).await,
        (false, None, false),
        "the refused body left rows"
    );
    for n in 0..stored {
        assert_eq!(
            rows_of(&index, n).await,
            (true, Some(filler(n)), true),
            "body {n}, committed before the disk filled"
        );
    }

    // A body too big to fit, beside deletes of objects.
    let big = {
        let index = index.clone();
        tokio::spawn(async move {
            write(&index, (), |tx, ()| {
                Box::pin(async move {
                    tx.insert_bucket("full-big", None, 1).await?;
                    for n in MOST..MOST + 8 {
                        tx.record_blob(&info(n), Some(&filler(n)), 1, false).await?;
                    }
                    Ok(())
                })
            })
            .await
        })
    };
    let deletes: Vec<_> = (0..stored.min(6))
        .map(|n| {
            let index = index.clone();
            tokio::spawn(async move {
                let r = write(&index, n, |tx, n| {
                    Box::pin(async move { tx.delete_object("full", &format!("o{n}")).await })
                })
                .await;
                (n, r)
            })
        })
        .collect();
    let big = big.await.expect("the big body");
    assert!(matches!(big, Err(IndexError::DiskFull)), "{big:?}");
    let kept = read(&index, (), |tx, ()| {
        Box::pin(async move {
            let mut kept = tx.get_bucket("full-big").await?.is_some();
            for n in MOST..MOST + 8 {
                kept |= tx.get_blob(&info(n).sha256).await?.is_some();
            }
            Ok(kept)
        })
    })
    .await
    .unwrap();
    assert!(!kept, "the refused big body left rows");
    for d in deletes {
        let (n, r) = d.await.expect("a delete");
        let (_, _, there) = rows_of(&index, n).await;
        match r {
            Ok(Some(o)) => {
                assert_eq!(o.key, format!("o{n}"));
                assert!(!there, "object {n} answered deleted and still there");
            }
            Err(IndexError::DiskFull) => assert!(there, "object {n} refused and gone"),
            other => panic!("delete of object {n}: {other:?}"),
        }
    }
}
