//! Composite blobs: a row with no bytes of its own, made of segments (blobs
//! of bytes) in order. Recorded once per digest; a segment row keeps its
//! blob in use; deleting a composite gives its segments back; forgetting a
//! segment (its bytes are lost) forgets the composites made of it and what
//! names them; maintenance walks skip composites (they have no bytes).

use std::sync::Arc;

use super::rows::{blob, object};
use super::{read, write};
use crate::index::{BlobInfo, Index, Segment};

fn seg(b: &BlobInfo) -> Segment {
    Segment {
        sha256: b.sha256,
        size: b.size,
    }
}

/// Recorded once, read back in order, in use through its segments,
/// deleted with its segment rows.
pub async fn composites_keep_their_segments_in_order(index: Arc<dyn Index>) {
    let (a, b) = (blob(0x51, 6 << 20), blob(0x52, 10));
    let c = BlobInfo {
        sha256: blob(0x53, 0).sha256,
        size: a.size + b.size * 2,
        md5: None,
    };
    let first = write(&index, (a, b, c), |tx, (a, b, c)| {
        Box::pin(async move {
            tx.record_blob(&a, None, 1, true).await?;
            tx.record_blob(&b, Some(&[7u8; 10]), 1, true).await?;
            let segments = [seg(&a), seg(&b), seg(&b)];
            let first = tx.record_composite(&c, &segments, 2).await?;
            // Again, with other segments: the first stays as it was.
            let again = tx.record_composite(&c, &segments[..1], 3).await?;
            Ok((first, again))
        })
    })
    .await
    .unwrap();
    assert_eq!(first, (true, false));
    let (row, segments, used) = read(&index, (a, b, c), |tx, (a, b, c)| {
        Box::pin(async move {
            Ok((
                tx.get_blob(&c.sha256).await?,
                tx.segments(&c.sha256).await?,
                (
                    tx.blob_in_use(&a.sha256).await?,
                    tx.blob_in_use(&b.sha256).await?,
                ),
            ))
        })
    })
    .await
    .unwrap();
    let row = row.expect("the composite's row");
    assert!(row.composite && !row.inline && row.location.is_none());
    assert_eq!(row.info.size, c.size);
    assert_eq!(segments, vec![seg(&a), seg(&b), seg(&b)]);
    assert_eq!(used, (true, true), "a segment row keeps its blob");
    // Walks over blobs with bytes skip it; the stats count its bytes once.
    let (page, newest, missing) = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.blob_page(None, 100).await?,
                tx.newest_blobs(None, 100).await?,
                tx.blobs_missing_md5().await?,
            ))
        })
    })
    .await
    .unwrap();
    assert!(page.iter().all(|e| e.info.sha256 != c.sha256));
    assert!(newest.iter().all(|(_, _, e)| e.info.sha256 != c.sha256));
    assert!(
        !missing.contains(&c.sha256),
        "a composite has no MD5 to fill"
    );
    let bytes = read(&index, (), |tx, ()| {
        Box::pin(async move { tx.stats().await })
    })
    .await
    .unwrap()
    .3;
    assert_eq!(bytes, a.size + b.size);

    let deleted = write(&index, c, |tx, c| {
        Box::pin(async move { tx.delete_blob(&c.sha256, 0).await })
    })
    .await
    .unwrap();
    assert_eq!(deleted.segments, vec![a.sha256, b.sha256, b.sha256]);
    let left = read(&index, (a, c), |tx, (a, c)| {
        Box::pin(async move {
            Ok((
                tx.get_blob(&c.sha256).await?.is_some(),
                tx.segments(&c.sha256).await?.len(),
                tx.blob_in_use(&a.sha256).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(left, (false, 0, false));
}

/// A segment's bytes lost: forgetting it forgets the composite made of it
/// and the object naming that composite.
pub async fn forgetting_a_segment_forgets_its_composites(index: Arc<dyn Index>) {
    let (a, b) = (blob(0x61, 100), blob(0x62, 100));
    let c = BlobInfo {
        sha256: blob(0x63, 0).sha256,
        size: 200,
        md5: None,
    };
    write(&index, (a, b, c), |tx, (a, b, c)| {
        Box::pin(async move {
            tx.record_blob(&a, None, 1, true).await?;
            tx.record_blob(&b, None, 1, true).await?;
            tx.record_composite(&c, &[seg(&a), seg(&b)], 1).await?;
            tx.insert_bucket("comp", None, 1).await?;
            tx.put_object(&object("comp", "whole", c.sha256)).await?;
            Ok(())
        })
    })
    .await
    .unwrap();
    let forgotten = write(&index, b, |tx, b| {
        Box::pin(async move { tx.forget_blob(&b.sha256).await })
    })
    .await
    .unwrap();
    assert_eq!(forgotten, 1, "the object naming the composite");
    let left = read(&index, (a, b, c), |tx, (a, b, c)| {
        Box::pin(async move {
            Ok((
                tx.get_object("comp", "whole").await?.is_some(),
                tx.get_blob(&c.sha256).await?.is_some(),
                tx.get_blob(&b.sha256).await?.is_some(),
                tx.get_blob(&a.sha256).await?.is_some(),
                tx.blob_in_use(&a.sha256).await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(left, (false, false, false, true, false));
}
