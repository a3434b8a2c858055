//! The contract every [`BlobStore`] keeps, as one suite run on each
//! (today [`super::LocalStore`]; a backend adds one line, see
//! [`blob_store_contract_tests!`]):
//!
//! - staged bytes become visible only when committed, under the name the
//!   commit gives, and then exactly those bytes, whole or any range;
//! - committing one digest twice (one after the other, or at once) is
//!   fine: a store that names by content keeps one copy under the digest,
//!   a store of ids gives every commit a name of its own, never reused;
//! - a staged blob dropped without commit leaves nothing, not even
//!   something for the staging sweep, which leaves live stagings alone;
//! - a removed blob is gone (removing it again, or one never stored, is
//!   fine);
//! - `list()` yields every committed name once, with its size, however
//!   many there are and wherever the backend puts them;
//! - on a full disk the write fails with the error that says so
//!   ([`StoreError::is_disk_full`], which the API answers 507), and
//!   nothing of it is visible or left behind; the store goes on once
//!   there is room again.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

use super::{BlobName, BlobStore, Digest, StoreError};

/// One `#[tokio::test]` per check, on the store `$make` gives:
/// `Option<(guard, Arc<dyn BlobStore>)>`, `None` to skip (its maker says
/// why), the guard dropped after the check. `full: $full` gives, the same
/// way, a store on a disk small enough to fill (a few MiB); a store with
/// no disk of its own to fill (an upstream cluster) leaves it out.
macro_rules! blob_store_contract_tests {
    ($make:expr, full: $full:expr) => {
        $crate::store::contract::blob_store_contract_tests!($make);
        $crate::store::contract::blob_store_contract_tests!(@each $full;
            a_full_disk_fails_the_write_and_leaves_nothing,
        );
    };
    ($make:expr) => {
        $crate::store::contract::blob_store_contract_tests!(@each $make;
            a_staged_blob_is_visible_only_once_committed,
            committing_one_digest_twice_keeps_one_copy,
            a_staged_blob_dropped_without_commit_leaves_nothing,
            reads_return_the_exact_bytes_of_any_range,
            a_removed_blob_is_gone,
            the_list_yields_every_committed_blob_once,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((_guard, store)) = $make else { return };
                $crate::store::contract::$check(store).await;
            }
        )*
    };
}
pub(crate) use blob_store_contract_tests;

/// `len` bytes that differ from any other `seed`'s and do not compress.
fn bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut h: [u8; 32] = Sha256::digest(seed.to_be_bytes()).into();
    while out.len() < len {
        out.extend_from_slice(&h);
        h = Sha256::digest(h).into();
    }
    out.truncate(len);
    out
}

fn digest(data: &[u8]) -> Digest {
    Digest(Sha256::digest(data).into())
}

/// Stages `data` in pieces of `piece` bytes and commits it; the name the
/// store gave it. A store that names by content names it by its digest.
async fn commit(store: &Arc<dyn BlobStore>, data: &[u8], piece: usize) -> BlobName {
    let mut staged = store.stage().await.unwrap();
    for chunk in data.chunks(piece.max(1)) {
        staged.write(chunk).await.unwrap();
    }
    let d = digest(data);
    let name = staged.commit(&d).await.unwrap();
    if store.names_by_content() {
        assert_eq!(name, BlobName::Content(d));
    } else {
        assert!(matches!(name, BlobName::Id(_)), "{name:?}");
    }
    name
}

/// A name no store gave: of the kind this store gives.
fn never_stored(store: &Arc<dyn BlobStore>, seed: &[u8]) -> BlobName {
    if store.names_by_content() {
        BlobName::Content(digest(seed))
    } else {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed);
        BlobName::Id(id.simple().to_string())
    }
}

/// The whole blob (its `len` and bytes), or `None` if it is not there.
async fn read_all(store: &Arc<dyn BlobStore>, d: &BlobName) -> Option<(u64, Vec<u8>)> {
    read_range(store, d, 0, u64::MAX).await
}

async fn read_range(
    store: &Arc<dyn BlobStore>,
    d: &BlobName,
    start: u64,
    len: u64,
) -> Option<(u64, Vec<u8>)> {
    let mut r = store.open_range(d, start, len).await.unwrap()?;
    let mut out = Vec::new();
    while let Some(piece) = r.chunks.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    Some((r.len, out))
}

/// Every name `list()` yields, with its size and how many times it
/// yielded each.
async fn listed(store: &Arc<dyn BlobStore>) -> BTreeMap<String, (u64, usize)> {
    let mut out: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    let mut list = store.list();
    while let Some(item) = list.next().await {
        let b = item.unwrap();
        out.entry(b.name.to_string()).or_insert((b.len, 0)).1 += 1;
    }
    out
}

/// How long a listing may lag a removal. Garage lists an object for a
/// moment after its DELETE answered (its listing is eventually
/// consistent; lookups are not): a store's list must catch up, but need
/// not at once.
const LIST_LAG: std::time::Duration = std::time::Duration::from_secs(15);

/// `listed(store)` once it equals `want`, or as it is when [`LIST_LAG`]
/// has passed.
async fn listed_settled(
    store: &Arc<dyn BlobStore>,
    want: &BTreeMap<String, (u64, usize)>,
) -> BTreeMap<String, (u64, usize)> {
    let deadline = std::time::Instant::now() + LIST_LAG;
    loop {
        let got = listed(store).await;
        if got == *want || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether the store shows `d` anywhere: its size, an open, the list (a
/// listing that lags a removal is waited for, [`LIST_LAG`] at most).
async fn visible(store: &Arc<dyn BlobStore>, d: &BlobName) -> bool {
    let len = store.stored_len(d).await.unwrap();
    let opened = store.open(d).await.unwrap().is_some();
    let deadline = std::time::Instant::now() + LIST_LAG;
    let in_list = loop {
        let in_list = listed(store).await.contains_key(&d.to_string());
        if in_list == opened || std::time::Instant::now() > deadline {
            break in_list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        (len.is_some(), opened),
        (in_list, in_list),
        "stored_len, open and list() disagree about {d:?}"
    );
    in_list
}

/// Staged bytes are nowhere to be seen until committed; then they are
/// there under the name the commit gave, exactly, and nowhere else.
pub async fn a_staged_blob_is_visible_only_once_committed(store: Arc<dyn BlobStore>) {
    store.check().await.unwrap();
    // Larger than a backend's buffers, written in uneven pieces.
    let data = bytes(1, 700_001);
    let d = digest(&data);
    let mut staged = store.stage().await.unwrap();
    for chunk in data.chunks(65_537) {
        staged.write(chunk).await.unwrap();
    }
    if store.names_by_content() {
        assert!(
            !visible(&store, &BlobName::Content(d)).await,
            "visible before its commit"
        );
    }
    assert!(listed(&store).await.is_empty());
    let d = staged.commit(&d).await.unwrap();
    assert!(visible(&store, &d).await);
    assert_eq!(store.stored_len(&d).await.unwrap(), Some(700_001));
    assert_eq!(read_all(&store, &d).await, Some((700_001, data)));
    assert_eq!(
        listed(&store).await.into_iter().collect::<Vec<_>>(),
        vec![(d.to_string(), (700_001, 1))]
    );
    // No other name shows.
    assert!(!visible(&store, &never_stored(&store, b"other")).await);
    // An empty blob is a blob.
    let empty = commit(&store, b"", 1).await;
    assert_eq!(read_all(&store, &empty).await, Some((0, Vec::new())));
    assert_eq!(store.stored_len(&empty).await.unwrap(), Some(0));
    assert_eq!(store.sweep_staging().await.unwrap(), 0, "staging left over");
}

/// The same digest committed again, after the first and at the same time
/// as others: every commit succeeds. A store that names by content keeps
/// one copy under the digest; a store of ids gives six names, all
/// different, each whole.
pub async fn committing_one_digest_twice_keeps_one_copy(store: Arc<dyn BlobStore>) {
    let data = bytes(2, 300_000);
    let mut names = vec![commit(&store, &data, 100_000).await];
    names.push(commit(&store, &data, 7_000).await);
    let racers = (0..4).map(|_| {
        let (store, data) = (store.clone(), data.clone());
        tokio::spawn(async move { commit(&store, &data, 50_000).await })
    });
    for r in futures_util::future::join_all(racers).await {
        names.push(r.expect("a committer"));
    }
    let distinct: std::collections::BTreeSet<String> =
        names.iter().map(|n| n.to_string()).collect();
    let want: BTreeMap<String, (u64, usize)> =
        distinct.iter().map(|n| (n.clone(), (300_000, 1))).collect();
    if store.names_by_content() {
        assert_eq!(distinct.len(), 1);
    } else {
        assert_eq!(distinct.len(), 6, "a name was given twice");
    }
    assert_eq!(listed(&store).await, want);
    for d in &names {
        assert_eq!(read_all(&store, d).await, Some((300_000, data.clone())));
    }
    assert_eq!(store.sweep_staging().await.unwrap(), 0, "staging left over");
}

/// A staged blob dropped half-written, or whole but uncommitted, leaves
/// nothing: not visible, nothing for the sweep. A sweep while a staging is
/// being written leaves it alone: it still commits.
pub async fn a_staged_blob_dropped_without_commit_leaves_nothing(store: Arc<dyn BlobStore>) {
    let data = bytes(3, 400_000);
    let d = digest(&data);
    let mut half = store.stage().await.unwrap();
    half.write(&data[..200_000]).await.unwrap();
    drop(half);
    let mut whole = store.stage().await.unwrap();
    whole.write(&data).await.unwrap();
    drop(whole);
    assert!(listed(&store).await.is_empty());
    assert!(!visible(&store, &never_stored(&store, &data)).await);
    assert_eq!(store.sweep_staging().await.unwrap(), 0, "staging left over");

    let mut live = store.stage().await.unwrap();
    live.write(&data[..100_000]).await.unwrap();
    assert_eq!(
        store.sweep_staging().await.unwrap(),
        0,
        "a live staging swept"
    );
    live.write(&data[100_000..]).await.unwrap();
    let name = live.commit(&d).await.unwrap();
    assert_eq!(read_all(&store, &name).await, Some((400_000, data)));
    assert_eq!(store.sweep_staging().await.unwrap(), 0);
}

/// Reads give the exact bytes: the whole blob, and any range — empty, one
/// byte, across the backend's pieces, to the end, past the end — with
/// `len` always the whole blob's size.
pub async fn reads_return_the_exact_bytes_of_any_range(store: Arc<dyn BlobStore>) {
    // Over two MiB, so that a reader of 1 MiB pieces crosses pieces.
    let size: usize = (2 << 20) + 12_345;
    let data = bytes(4, size);
    let d = commit(&store, &data, 1 << 20).await;
    let whole = size as u64;
    let mib = 1u64 << 20;
    let ranges = [
        (0, whole),
        (0, 0),
        (0, 1),
        (5, 10),
        (mib - 1, 2),
        (mib - 3, mib + 7),
        (whole - 1, 1),
        (whole - 10, 100),
        (whole, 5),
        (whole + 100, 5),
        (17, u64::MAX),
    ];
    for (start, len) in ranges {
        let from = (start.min(whole)) as usize;
        let to = (start.saturating_add(len).min(whole)) as usize;
        let got = read_range(&store, &d, start, len).await;
        assert_eq!(
            got,
            Some((whole, data[from..to].to_vec())),
            "range {start}+{len}"
        );
    }
    assert_eq!(read_all(&store, &d).await, Some((whole, data)));
    let nope = never_stored(&store, b"nope");
    assert!(read_range(&store, &nope, 0, 1).await.is_none());
}

/// A removed blob is gone from every look; removing it again, or a
/// digest never stored, is fine; the others stay.
pub async fn a_removed_blob_is_gone(store: Arc<dyn BlobStore>) {
    let (a, b) = (bytes(5, 1000), bytes(6, 2000));
    let (da, db) = (commit(&store, &a, 300).await, commit(&store, &b, 300).await);
    store.remove(&da).await.unwrap();
    assert!(!visible(&store, &da).await);
    store.remove(&da).await.unwrap();
    store
        .remove(&never_stored(&store, b"never stored"))
        .await
        .unwrap();
    assert_eq!(read_all(&store, &db).await, Some((2000, b)));
    let want: BTreeMap<_, _> = [(db.to_string(), (2000, 1))].into();
    assert_eq!(listed_settled(&store, &want).await, want);
    // Committed again after its removal: back (under a new name, in a
    // store of ids; the removed one stays gone).
    let again = commit(&store, &a, 1000).await;
    assert_eq!(read_all(&store, &again).await, Some((1000, a)));
    if !store.names_by_content() {
        assert_ne!(again, da);
        assert!(!visible(&store, &da).await);
    }
}

/// Blobs in the list's checks.
const MANY: u32 = 300;

/// Three hundred blobs, committed a few at a time: the list yields each
/// once with its size, and nothing else; then, some removed, the rest.
pub async fn the_list_yields_every_committed_blob_once(store: Arc<dyn BlobStore>) {
    assert!(listed(&store).await.is_empty(), "a new store lists blobs");
    let mut want = BTreeMap::new();
    let mut names = Vec::new();
    for batch in (0..MANY).collect::<Vec<_>>().chunks(10) {
        let commits = batch.iter().map(|&n| {
            let store = store.clone();
            tokio::spawn(async move {
                let data = bytes(1000 + n, (n as usize * 37) % 3000);
                (commit(&store, &data, 512).await, data.len() as u64)
            })
        });
        for c in futures_util::future::join_all(commits).await {
            let (d, len) = c.expect("a commit");
            want.insert(d.to_string(), (len, 1));
            names.push(d);
        }
    }
    // Spread the way a backend may file them: over many first bytes, and
    // under one first byte over several second ones.
    let mut by_first: BTreeMap<&[u8], std::collections::BTreeSet<u8>> = BTreeMap::new();
    for d in want.keys() {
        by_first
            .entry(&d.as_bytes()[..2])
            .or_default()
            .insert(d.as_bytes()[2]);
    }
    assert!(by_first.len() > 100 && by_first.values().any(|s| s.len() > 1));
    assert_eq!(want.len(), MANY as usize);
    assert_eq!(listed(&store).await, want);
    for d in names.iter().step_by(3) {
        store.remove(d).await.unwrap();
        want.remove(&d.to_string());
    }
    assert_eq!(listed_settled(&store, &want).await, want);
}

/// Pieces a full-disk write is sent in.
const PIECE: usize = 64 << 10;
/// Bytes written before the disk is expected to be full, at most.
const MOST: usize = 256 << 20;

/// Fills the disk with one blob (a smaller one committed first): the
/// write or its commit fails with the disk-full error, and nothing of it
/// is visible or left for the sweep; the blob before is whole; once the
/// failed staging is dropped there is room again, and a blob that fits is
/// committed.
pub async fn a_full_disk_fails_the_write_and_leaves_nothing(store: Arc<dyn BlobStore>) {
    let before = bytes(7, 300_000);
    let db = commit(&store, &before, PIECE).await;
    let free = store.free_space().unwrap();
    let mut staged = store.stage().await.unwrap();
    let mut written = 0usize;
    let mut failed: Option<StoreError> = None;
    let mut hasher = Sha256::new();
    while written < MOST {
        let piece = bytes(written as u32, PIECE);
        if let Err(e) = staged.write(&piece).await {
            failed = Some(e);
            break;
        }
        hasher.update(&piece);
        written += PIECE;
    }
    let d = Digest(hasher.finalize().into());
    let listed_before = listed(&store).await;
    let err = match failed {
        Some(e) => {
            drop(staged);
            e
        }
        None => staged
            .commit(&d)
            .await
            .expect_err("a write bigger than the disk was committed"),
    };
    assert!(err.is_disk_full(), "not the disk-full error: {err:?}");
    if let Some(free) = free {
        assert!(
            written as u64 >= free.saturating_sub(PIECE as u64 * 2),
            "failed after {written} bytes with {free} free"
        );
    }
    assert_eq!(
        listed(&store).await,
        listed_before,
        "a failed write is visible"
    );
    if store.names_by_content() {
        assert!(!visible(&store, &BlobName::Content(d)).await);
    }
    assert_eq!(store.sweep_staging().await.unwrap(), 0, "staging left over");
    assert_eq!(read_all(&store, &db).await, Some((300_000, before)));
    if let (Some(then), Some(now)) = (free, store.free_space().unwrap()) {
        assert!(
            now + (PIECE as u64) >= then,
            "the failed write's space was not given back: {then} free before, {now} after"
        );
    }
    // Room again: the store goes on.
    store.check().await.unwrap();
    let after = bytes(8, 200_000);
    let da = commit(&store, &after, PIECE).await;
    assert_eq!(read_all(&store, &da).await, Some((200_000, after)));
}
