//! Blobs under write-once ids (an upstream store) and the garbage of ids
//! no row refers to any more: an id is recorded beside its digest, moves
//! to the garbage when its row is deleted or a newer copy replaces it (in
//! that same transaction, so no crash loses it), is due after its grace,
//! and one id is never recorded for two blobs.

use std::sync::Arc;

use super::rows::blob;
use super::{read, write};
use crate::index::{Index, IndexError};

/// The garbage due at `now`, in due order.
async fn due(index: &Arc<dyn Index>, now: i64) -> Vec<String> {
    read(index, now, |tx, now| {
        Box::pin(async move { tx.due_garbage(now, 100).await })
    })
    .await
    .unwrap()
}

/// An id recorded for a blob, replaced by a newer copy's, then the row
/// deleted: each id lands in the garbage with its due time, exactly once;
/// the location reads back; `location_known` sees both tables.
pub async fn write_once_ids_move_to_the_garbage_when_let_go(index: Arc<dyn Index>) {
    let b = blob(40, 1000);
    write(&index, b, |tx, b| {
        Box::pin(async move {
            tx.record_blob(&b, None, 1, true).await?;
            tx.set_blob_location(&b.sha256, "id-one", 500).await
        })
    })
    .await
    .unwrap();
    let row = read(&index, b.sha256, |tx, d| {
        Box::pin(async move { tx.get_blob(&d).await })
    })
    .await
    .unwrap()
    .expect("the row");
    assert_eq!(row.location.as_deref(), Some("id-one"));
    assert!(
        due(&index, i64::MAX).await.is_empty(),
        "a first id is garbage"
    );

    // The same id again changes nothing; a newer copy's id replaces it.
    write(&index, b, |tx, b| {
        Box::pin(async move {
            tx.set_blob_location(&b.sha256, "id-one", 600).await?;
            tx.set_blob_location(&b.sha256, "id-two", 700).await
        })
    })
    .await
    .unwrap();
    assert!(due(&index, 699).await.is_empty(), "due before its time");
    assert_eq!(due(&index, 700).await, vec!["id-one".to_string()]);

    // The row deleted: its id is garbage, in the same write.
    let moved = write(&index, b.sha256, |tx, d| {
        Box::pin(async move { tx.delete_blob(&d, 900).await })
    })
    .await
    .unwrap();
    assert_eq!(moved.location.as_deref(), Some("id-two"));
    assert_eq!(due(&index, 800).await, vec!["id-one".to_string()]);
    assert_eq!(
        due(&index, 900).await,
        vec!["id-one".to_string(), "id-two".to_string()]
    );
    let known = read(&index, (), |tx, ()| {
        Box::pin(async move {
            Ok((
                tx.location_known("id-one").await?,
                tx.location_known("id-two").await?,
                tx.location_known("id-three").await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(known, (true, true, false));

    // Collected: gone from the garbage, unknown.
    write(&index, (), |tx, ()| {
        Box::pin(async move { tx.drop_garbage("id-one").await })
    })
    .await
    .unwrap();
    assert_eq!(due(&index, i64::MAX).await, vec!["id-two".to_string()]);

    // A row with no id (bytes named by their digest) leaves no garbage.
    let c = blob(41, 10);
    let moved = write(&index, c, |tx, c| {
        Box::pin(async move {
            tx.record_blob(&c, None, 1, true).await?;
            tx.delete_blob(&c.sha256, 5).await
        })
    })
    .await
    .unwrap();
    assert_eq!(moved.location, None);
    assert_eq!(due(&index, i64::MAX).await, vec!["id-two".to_string()]);
}

/// One id is never recorded for two blobs; a location for a blob with no
/// row is refused; both refusals keep nothing of their write.
pub async fn an_id_names_one_blob_only(index: Arc<dyn Index>) {
    let (a, b) = (blob(42, 100), blob(43, 100));
    write(&index, (a, b), |tx, (a, b)| {
        Box::pin(async move {
            tx.record_blob(&a, None, 1, true).await?;
            tx.record_blob(&b, None, 1, true).await?;
            tx.set_blob_location(&a.sha256, "shared", 10).await
        })
    })
    .await
    .unwrap();
    let r = write(&index, b, |tx, b| {
        Box::pin(async move {
            tx.add_garbage("left-behind", 1).await?;
            tx.set_blob_location(&b.sha256, "shared", 10).await
        })
    })
    .await;
    assert!(r.is_err(), "one id recorded for two blobs");
    let r = write(&index, blob(44, 1), |tx, c| {
        Box::pin(async move { tx.set_blob_location(&c.sha256, "nowhere", 10).await })
    })
    .await;
    assert!(matches!(r, Err(IndexError::Corrupt(_))), "{r:?}");
    assert!(
        due(&index, i64::MAX).await.is_empty(),
        "a refused write kept garbage"
    );
    let row = read(&index, b.sha256, |tx, d| {
        Box::pin(async move { tx.get_blob(&d).await })
    })
    .await
    .unwrap()
    .expect("the row");
    assert_eq!(row.location, None);
}
