//! Named locks that hold across every gateway sharing one index: the
//! storage service's mutual exclusion (a blob's publish-and-record against
//! its release, one completion of a file at a time, a sweep against a
//! PUT in flight).
//!
//! Each backend grants them through [`Index::lock`](super::Index::lock):
//! SQLite, whose index belongs to one gateway, from this process's table
//! ([`LocalLocks`]); PostgreSQL from the same table first (so the tasks
//! of one gateway exclude each other) and then from the server's advisory
//! locks (so gateways exclude each other), released when the guard drops.
//!
//! Names are exact in this process: two names never share a lock here, so
//! a task holding one name may take a name of another space without
//! deadlocking on itself. Must never: let a guard outlive its release (the
//! table forgets a name once no guard or waiter holds it), or block a
//! thread while waiting (waits are async).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::RwLock;

/// What a lock protects, by kind; one kind's names never meet another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockSpace {
    /// A blob's content (its digest): publishing and recording a
    /// reference, against deleting it unreferenced.
    Blob = 1,
    /// A file of the upload API being completed from its parts.
    Completion = 2,
    /// A file of the upload API whose bytes are arriving (taken shared by
    /// each PUT; the sweep of expired rows tries it exclusive).
    Arriving = 3,
    /// Background work one gateway at a time does (the sweep, the garbage
    /// collector): tried, never waited for; whoever holds it does the
    /// round, the others skip it.
    Housekeeping = 4,
    /// The gateway keeping its blobs in its own data dir: held from its
    /// start-up to its end, so that a second such gateway on a shared
    /// index is refused (blob rows would name files only one data dir
    /// has).
    LocalStore = 5,
}

/// One lock: a space and 16 bytes naming a thing in it (a digest's first
/// 16 bytes, a file id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockName {
    pub space: LockSpace,
    pub key: [u8; 16],
}

impl LockName {
    pub fn new(space: LockSpace, key: &[u8]) -> Self {
        let mut k = [0u8; 16];
        let n = key.len().min(16);
        k[..n].copy_from_slice(&key[..n]);
        LockName { space, key: k }
    }

    /// The two 32-bit keys of a PostgreSQL advisory lock: the space, and
    /// the name folded to 32 bits (two names folding alike only share a
    /// lock across gateways — contention, never a missed exclusion).
    pub fn advisory_keys(&self) -> (i32, i32) {
        // FNV-1a: every byte of the name counts, and names that differ
        // little (sequential ids) land far apart.
        let folded = self.key.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
        (self.space as i32, folded as i32)
    }
}

/// Whether a lock is taken alone or beside other shared holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Exclusive,
    Shared,
}

/// A held lock; dropping it releases it.
pub struct IndexLock {
    /// This process's guard (released after `remote`'s release is sent,
    /// in field order).
    _remote: Option<Box<dyn Send + Sync>>,
    _local: LocalGuard,
}

impl IndexLock {
    pub(super) fn new(local: LocalGuard, remote: Option<Box<dyn Send + Sync>>) -> Self {
        IndexLock {
            _remote: remote,
            _local: local,
        }
    }
}

impl std::fmt::Debug for IndexLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexLock")
    }
}

/// This process's table of locks, by exact name.
#[derive(Default)]
pub struct LocalLocks {
    table: Arc<Mutex<HashMap<LockName, Arc<RwLock<()>>>>>,
}

/// A lock of [`LocalLocks`], held; forgets the name when the last holder
/// or waiter is gone.
pub struct LocalGuard {
    held: Option<Held>,
    name: LockName,
    table: Arc<Mutex<HashMap<LockName, Arc<RwLock<()>>>>>,
}

/// A read or write guard of a name's lock, held for its drop.
type Held = Box<dyn Send + Sync>;

impl Drop for LocalGuard {
    fn drop(&mut self) {
        drop(self.held.take());
        if let Ok(mut t) = self.table.lock() {
            // Only the table's own reference left: nobody holds or awaits
            // this name.
            if t.get(&self.name).is_some_and(|l| Arc::strong_count(l) == 1) {
                t.remove(&self.name);
            }
        }
    }
}

impl LocalLocks {
    fn entry(&self, name: LockName) -> Arc<RwLock<()>> {
        let mut t = match self.table.lock() {
            Ok(t) => t,
            // A panic elsewhere while the table was locked leaves it
            // consistent (every change is one insert or remove).
            Err(poisoned) => poisoned.into_inner(),
        };
        t.entry(name).or_default().clone()
    }

    fn guard(&self, name: LockName, held: Held) -> LocalGuard {
        LocalGuard {
            held: Some(held),
            name,
            table: self.table.clone(),
        }
    }

    /// Waits for `name` in `mode`.
    pub async fn lock(&self, name: LockName, mode: LockMode) -> LocalGuard {
        let l = self.entry(name);
        let held = match mode {
            LockMode::Exclusive => Box::new(l.write_owned().await) as Held,
            LockMode::Shared => Box::new(l.read_owned().await) as Held,
        };
        self.guard(name, held)
    }

    /// `name` in `mode` if nobody holds it against that mode now.
    pub fn try_lock(&self, name: LockName, mode: LockMode) -> Option<LocalGuard> {
        let l = self.entry(name);
        let held = match mode {
            LockMode::Exclusive => l.try_write_owned().ok().map(|g| Box::new(g) as Held),
            LockMode::Shared => l.try_read_owned().ok().map(|g| Box::new(g) as Held),
        };
        match held {
            Some(h) => Some(self.guard(name, h)),
            None => {
                // Forget the entry made for this try if nobody else has it
                // (the failed try gave its reference back).
                drop(self.guard_for_cleanup(name));
                None
            }
        }
    }

    /// A guard holding nothing, whose drop forgets an unused name.
    fn guard_for_cleanup(&self, name: LockName) -> LocalGuard {
        LocalGuard {
            held: None,
            name,
            table: self.table.clone(),
        }
    }

    /// Names in the table (for tests: a released name is forgotten).
    #[cfg(test)]
    pub fn names(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(space: LockSpace, b: u8) -> LockName {
        LockName::new(space, &[b; 16])
    }

    #[tokio::test]
    async fn exclusive_excludes_shared_shares_and_names_are_exact() {
        let locks = LocalLocks::default();
        let a = name(LockSpace::Blob, 1);
        let held = locks.lock(a, LockMode::Exclusive).await;
        assert!(locks.try_lock(a, LockMode::Shared).is_none());
        assert!(locks.try_lock(a, LockMode::Exclusive).is_none());
        // Another name, or the same bytes in another space, is free.
        assert!(locks
            .try_lock(name(LockSpace::Blob, 2), LockMode::Exclusive)
            .is_some());
        assert!(locks
            .try_lock(name(LockSpace::Completion, 1), LockMode::Exclusive)
            .is_some());
        drop(held);
        let s1 = locks.try_lock(a, LockMode::Shared).expect("free again");
        let s2 = locks.try_lock(a, LockMode::Shared).expect("shared twice");
        assert!(locks.try_lock(a, LockMode::Exclusive).is_none());
        drop((s1, s2));
        assert!(locks.try_lock(a, LockMode::Exclusive).is_some());
        // Every name released is forgotten: the table does not grow.
        assert_eq!(locks.names(), 0);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let locks = Arc::new(LocalLocks::default());
        let a = name(LockSpace::Arriving, 7);
        let held = locks.lock(a, LockMode::Shared).await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { l2.lock(a, LockMode::Exclusive).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        let g = waiter.await.expect("the waiter ran");
        assert!(locks.try_lock(a, LockMode::Shared).is_none());
        drop(g);
        assert_eq!(locks.names(), 0);
    }

    #[test]
    fn advisory_keys_keep_spaces_apart_and_names_distinct() {
        let k = [9u8; 16];
        let blob = LockName::new(LockSpace::Blob, &k).advisory_keys();
        let comp = LockName::new(LockSpace::Completion, &k).advisory_keys();
        assert_eq!(blob.1, comp.1);
        assert_ne!(blob.0, comp.0);
        // Names of repeated bytes, or differing in one byte, do not fold
        // to one key.
        let keys: std::collections::HashSet<i32> = (0..=255u8)
            .map(|b| LockName::new(LockSpace::Blob, &[b; 16]).advisory_keys().1)
            .chain((0..=255u8).map(|b| {
                let mut k = [0u8; 16];
                k[15] = b;
                LockName::new(LockSpace::Blob, &k).advisory_keys().1
            }))
            .collect();
        assert!(keys.len() > 500, "{} distinct of 512", keys.len());
    }
}
