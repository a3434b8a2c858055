//! The contract every [`Index`] backend keeps, as one suite run on each
//! (SQLite here; PostgreSQL where a server is given): transactions that
//! commit or roll back whole, the row operations of [`super::Tx`], and
//! concurrent writers deciding one way.
//!
//! Each check takes `&dyn Index` and works on fresh names, so a backend
//! runs them all against one database.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Declared, Index, IndexError, Status};
use crate::store::Digest;

/// A declaration nobody else made.
fn declared(size: u64) -> Declared {
    let id = Uuid::new_v4();
    Declared {
        id,
        file_name: format!("{id}.bin"),
        content_type: "application/octet-stream".into(),
        size,
        sha256: Digest(Sha256::digest(id.as_bytes()).into()),
    }
}

/// A write body's rows are visible to the next transaction once it
/// answers; a body that fails leaves nothing behind.
pub async fn writes_commit_whole_or_not_at_all(index: Arc<dyn Index>) {
    let d = declared(10);
    let kept = d.clone();
    index
        .write(move |tx| {
            let d = kept.clone();
            Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
        })
        .await
        .unwrap();
    let id = d.id;
    let got = index
        .read(move |tx| Box::pin(async move { tx.get_file(&id).await }))
        .await
        .unwrap()
        .expect("the committed row");
    assert_eq!((got.id, got.size, got.status), (d.id, 10, Status::Pending));

    let undone = declared(20);
    let u = undone.clone();
    let r: Result<(), IndexError> = index
        .write(move |tx| {
            let d = u.clone();
            Box::pin(async move {
                tx.insert_file(&d, Status::Pending, 1, 2, None).await?;
                Err(IndexError::Backend("the body changed its mind".into()))
            })
        })
        .await;
    assert!(r.is_err());
    let id = undone.id;
    let none = index
        .read(move |tx| Box::pin(async move { tx.get_file(&id).await }))
        .await
        .unwrap();
    assert!(none.is_none(), "a failed body's insert was kept");
}
