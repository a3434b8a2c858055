//! The contract every [`Index`] backend keeps, as one suite run on each
//! (SQLite always; PostgreSQL on the server `scripts/test` starts):
//! transactions that commit or roll back whole, every row operation of
//! [`super::Tx`] round-tripping (`rows`), concurrent writers deciding
//! one way, conditional writes of one key among them (`concurrency`), the
//! state transitions of files and multipart uploads (`lifecycle`), blobs
//! kept exactly while rows name them under concurrent writers
//! (`references`), listings that go on while rows come and go, in byte
//! order (`cursors`), a full disk (`full`), locks that exclude (`locks`),
//! write-once ids with their garbage (`garbage`), composite blobs
//! (`composite`), and the history of versioned keys (`versions`).
//!
//! Each check takes a fresh `Arc<dyn Index>` (an empty database); a
//! backend runs them all with [`contract_tests!`], one test each.

mod composite;
mod concurrency;
mod cursors;
mod full;
mod garbage;
mod lifecycle;
mod locks;
mod references;
mod rows;
mod versions;

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Declared, Index, IndexError, Status, Tx, TxFuture};
use crate::store::Digest;

pub use composite::*;
pub use concurrency::*;
pub use cursors::*;
pub use full::*;
pub use garbage::*;
pub use lifecycle::*;
pub use locks::*;
pub use references::*;
pub use rows::*;
pub use versions::*;

/// One `#[tokio::test]` per check of the contract, each on the index
/// `$make` gives: `Option<(guard, Arc<dyn Index>)>`, `None` to skip (the
/// backend's tests are switched off, which its maker says), the guard
/// dropped after the check. `full: $full` gives, the same way, an index on
/// a disk small enough to fill (see `full`).
macro_rules! contract_tests {
    ($make:expr, full: $full:expr) => {
        $crate::index::contract::contract_tests!($make);
        $crate::index::contract::contract_tests!(@each $full;
            a_full_disk_refuses_the_write_and_keeps_nothing_of_it,
        );
    };
    ($make:expr) => {
        $crate::index::contract::contract_tests!(@each $make;
            writes_commit_whole_or_not_at_all,
            files_round_trip,
            files_page_newest_first,
            blobs_round_trip_with_inline_bytes,
            newest_blobs_page_through_every_stored_blob,
            buckets_and_grants_round_trip,
            objects_list_in_byte_order,
            uploads_and_parts_round_trip,
            tokens_and_access_keys_round_trip,
            stats_count_rows,
            concurrent_inserts_decide_one_way,
            conflicting_updates_each_count_once,
            racing_creates_of_one_key_let_exactly_one_win,
            racing_replacements_of_one_etag_let_exactly_one_win,
            file_rows_follow_a_files_life,
            a_withdrawal_racing_an_upload_decides_one_way,
            upload_rows_follow_an_uploads_life,
            references_under_concurrency_keep_exactly_the_named_blobs,
            files_page_without_skips_or_repeats_while_rows_come_and_go,
            stored_blobs_page_without_skips_or_repeats_while_rows_come_and_go,
            objects_page_without_skips_or_repeats_while_keys_come_and_go,
            keys_sort_by_their_bytes_whatever_their_case_or_script,
            locks_exclude_and_share,
            locked_sections_never_overlap,
            write_once_ids_move_to_the_garbage_when_let_go,
            an_id_names_one_blob_only,
            composites_keep_their_segments_in_order,
            forgetting_a_segment_forgets_its_composites,
            versions_round_trip,
            versions_list_newest_first_under_each_key,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((_guard, index)) = $make else { return };
                $crate::index::contract::$check(index).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

/// Runs `f` as a write body on a clone of `v` each time it runs.
pub(crate) async fn write<T, R>(
    index: &Arc<dyn Index>,
    v: T,
    f: for<'t> fn(&'t mut dyn Tx, T) -> TxFuture<'t, R>,
) -> Result<R, IndexError>
where
    T: Clone + Send + 'static,
    R: Send + 'static,
{
    index.write(move |tx| f(tx, v.clone())).await
}

/// Runs `f` as a read body on a clone of `v`.
pub(crate) async fn read<T, R>(
    index: &Arc<dyn Index>,
    v: T,
    f: for<'t> fn(&'t mut dyn Tx, T) -> TxFuture<'t, R>,
) -> Result<R, IndexError>
where
    T: Clone + Send + 'static,
    R: Send + 'static,
{
    index.read(move |tx| f(tx, v.clone())).await
}

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
    write(&index, d.clone(), |tx, d| {
        Box::pin(async move { tx.insert_file(&d, Status::Pending, 1, 2, None).await })
    })
    .await
    .unwrap();
    let got = read(&index, d.id, |tx, id| {
        Box::pin(async move { tx.get_file(&id).await })
    })
    .await
    .unwrap()
    .expect("the committed row");
    assert_eq!((got.id, got.size, got.status), (d.id, 10, Status::Pending));

    // Several writes, then an error: none of them is kept.
    let undone = declared(20);
    let r: Result<(), IndexError> = write(&index, undone.clone(), |tx, d| {
        Box::pin(async move {
            tx.insert_file(&d, Status::Pending, 1, 2, None).await?;
            tx.insert_bucket("undone-bucket", None, 1).await?;
            tx.insert_token("undone", &d.sha256, &["read".into()], 1)
                .await?;
            Err(IndexError::Backend("the body changed its mind".into()))
        })
    })
    .await;
    assert!(matches!(r, Err(IndexError::Backend(_))), "{r:?}");
    let left = read(&index, undone.clone(), |tx, d| {
        Box::pin(async move {
            Ok((
                tx.get_file(&d.id).await?.is_some(),
                tx.get_bucket("undone-bucket").await?.is_some(),
                tx.token_count().await?,
            ))
        })
    })
    .await
    .unwrap();
    assert_eq!(left, (false, false, 0), "a failed body's writes were kept");
}
