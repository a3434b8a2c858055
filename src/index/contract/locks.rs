//! Locks: an exclusive holder excludes everyone, shared holders only an
//! exclusive one, names are exact, and a waiter gets the lock once it is
//! released — among the tasks of one gateway and, where a backend is shared
//! (PostgreSQL, run through several gateways on one database), between
//! gateways.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::index::{Index, LockMode, LockName, LockSpace};

/// Tasks contending in [`locked_sections_never_overlap`].
const CONTENDERS: usize = 6;
/// Sections each contender runs.
const ROUNDS: usize = 3;

fn name(space: LockSpace, b: u8) -> LockName {
    LockName::new(space, &[b; 16])
}

/// Exclusive excludes both modes; shared admits shared; another name, or
/// the same bytes in another space, is its own lock; released is free.
pub async fn locks_exclude_and_share(index: Arc<dyn Index>) {
    use LockMode::{Exclusive, Shared};
    let a = name(LockSpace::Blob, 1);
    let held = index.lock(a, Exclusive).await.expect("a free lock");
    assert!(index.try_lock(a, Exclusive).await.unwrap().is_none());
    assert!(index.try_lock(a, Shared).await.unwrap().is_none());
    let other = index.try_lock(name(LockSpace::Blob, 2), Exclusive).await;
    assert!(other.unwrap().is_some(), "another name is free");
    let space = index
        .try_lock(name(LockSpace::Completion, 1), Exclusive)
        .await;
    assert!(
        space.unwrap().is_some(),
        "the same bytes in another space are free"
    );
    drop(held);
    // Released: a waiter gets it (the release may reach a server after
    // the guard is gone, so this waits rather than tries).
    let s1 = index.lock(a, Shared).await.expect("free again");
    let s2 = index.try_lock(a, Shared).await.unwrap();
    assert!(s2.is_some(), "shared beside shared");
    assert!(index.try_lock(a, Exclusive).await.unwrap().is_none());
    drop((s1, s2));
    let e = index
        .lock(a, Exclusive)
        .await
        .expect("free once both shared go");
    drop(e);
}

/// Contenders each run sections under one exclusive lock: no two sections
/// ever overlap, and every section runs.
pub async fn locked_sections_never_overlap(index: Arc<dyn Index>) {
    let inside = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let a = name(LockSpace::Arriving, 9);
    let mut tasks = Vec::new();
    for _ in 0..CONTENDERS {
        let (index, inside, done) = (index.clone(), inside.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let held = index.lock(a, LockMode::Exclusive).await.expect("the lock");
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                // Let the others run while this one holds the lock.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                drop(held);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a contender");
    }
    assert_eq!(done.load(Ordering::SeqCst), CONTENDERS * ROUNDS);
}
