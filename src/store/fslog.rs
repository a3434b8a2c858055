//! The blob store's filesystem operations, as a log a test can replay.
//!
//! [`LocalStore`](super::LocalStore) reports each operation that matters
//! for durability — create, write, fdatasync, rename, directory fsync,
//! mkdir, remove — to an optional [`FsLog`] right after performing it. In
//! production there is none (nothing is recorded). The power-loss test
//! records the log of real uploads and replays every prefix of it through a
//! model of a filesystem that forgets, at a crash, every write not made
//! durable by an fsync of the file and every directory entry not made
//! durable by an fsync of its directory — and checks that no crash point
//! leaves a partial blob under a digest's name, or a committed row without
//! its whole blob.

use std::path::PathBuf;

/// One filesystem operation, as performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// A new, empty file.
    Create(PathBuf),
    /// `len` bytes appended to a file.
    Write { path: PathBuf, len: u64 },
    /// fdatasync of a file: its data so far is durable.
    SyncData(PathBuf),
    /// rename(2).
    Rename { from: PathBuf, to: PathBuf },
    /// fsync of a directory: its entries as they are now are durable.
    SyncDir(PathBuf),
    /// A new directory.
    MkDir(PathBuf),
    /// unlink(2).
    Remove(PathBuf),
    /// Not a filesystem operation: a mark the caller adds (e.g. "the row of
    /// this blob committed here"), kept in order with the others.
    Mark(String),
}

/// Receives the operations of a store.
pub trait FsLog: Send + Sync {
    fn record(&self, op: FsOp);
}

#[cfg(test)]
pub mod model {
    //! The crash model and the invariants checked at every crash point.

    use std::collections::{HashMap, HashSet};
    use std::path::{Path, PathBuf};

    use super::FsOp;

    /// A filesystem as the log has shaped it so far.
    #[derive(Default)]
    struct Fs {
        /// inode → (bytes written, bytes durable)
        inodes: Vec<(u64, u64)>,
        /// Names now, and names as a crash would find them.
        current: HashMap<PathBuf, usize>,
        durable: HashMap<PathBuf, usize>,
        dirs_current: HashSet<PathBuf>,
        dirs_durable: HashSet<PathBuf>,
    }

    impl Fs {
        fn apply(&mut self, op: &FsOp) {
            match op {
                FsOp::Create(p) => {
                    self.inodes.push((0, 0));
                    self.current.insert(p.clone(), self.inodes.len() - 1);
                }
                FsOp::Write { path, len } => {
                    if let Some(&i) = self.current.get(path) {
                        self.inodes[i].0 += len;
                    }
                }
                FsOp::SyncData(p) => {
                    if let Some(&i) = self.current.get(p) {
                        self.inodes[i].1 = self.inodes[i].0;
                    }
                }
                FsOp::Rename { from, to } => {
                    if let Some(i) = self.current.remove(from) {
                        self.current.insert(to.clone(), i);
                    }
                }
                FsOp::SyncDir(d) => {
                    self.durable.retain(|p, _| p.parent() != Some(d));
                    for (p, &i) in &self.current {
                        if p.parent() == Some(d) {
                            self.durable.insert(p.clone(), i);
                        }
                    }
                    self.dirs_durable.retain(|p| p.parent() != Some(d));
                    for p in &self.dirs_current {
                        if p.parent() == Some(d) {
                            self.dirs_durable.insert(p.clone());
                        }
                    }
                }
                FsOp::MkDir(d) => {
                    self.dirs_current.insert(d.clone());
                }
                FsOp::Remove(p) => {
                    self.current.remove(p);
                }
                FsOp::Mark(_) => {}
            }
        }

        /// What a crash now would leave under `root`: each surviving file's
        /// name and how many bytes of it survive. A directory the log never
        /// made existed before it began (and was durable).
        fn after_crash(&self, root: &Path) -> HashMap<PathBuf, u64> {
            let reachable = |p: &Path| {
                p.ancestors()
                    .skip(1)
                    .take_while(|a| *a != root && a.starts_with(root))
                    .all(|a| self.dirs_durable.contains(a) || !self.dirs_current.contains(a))
            };
            self.durable
                .iter()
                .filter(|(p, _)| reachable(p))
                .map(|(p, &i)| (p.clone(), self.inodes[i].1))
                .collect()
        }
    }

    /// Replays every prefix of `log` as a crash and returns what went
    /// wrong (empty: every crash point is safe). `sizes` gives each blob
    /// path's full size. A `Mark("commit <path>")` says the row of that
    /// blob committed there; from then on a crash must leave it whole, until
    /// a `Mark("release <path>")` (its last row deleted, before the file). At
    /// no point may a blob path survive with fewer bytes than its size.
    pub fn violations(
        log: &[FsOp],
        root: &Path,
        blobs: &Path,
        sizes: &HashMap<PathBuf, u64>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut fs = Fs::default();
        let mut committed: Vec<PathBuf> = Vec::new();
        for k in 0..=log.len() {
            if k > 0 {
                let op = &log[k - 1];
                fs.apply(op);
                if let FsOp::Mark(m) = op {
                    if let Some(p) = m.strip_prefix("commit ") {
                        committed.push(PathBuf::from(p));
                    }
                    if let Some(p) = m.strip_prefix("release ") {
                        committed.retain(|c| c != Path::new(p));
                    }
                }
            }
            let left = fs.after_crash(root);
            for (p, &n) in &left {
                if p.starts_with(blobs) {
                    let want = sizes.get(p).copied().unwrap_or(u64::MAX);
                    if n != want {
                        out.push(format!(
                            "crash after op {k}: {} survives with {n} of {want} bytes",
                            p.display()
                        ));
                    }
                }
            }
            for p in &committed {
                let want = sizes.get(p).copied().unwrap_or(u64::MAX);
                if left.get(p) != Some(&want) {
                    out.push(format!(
                        "crash after op {k}: committed blob {} is {}",
                        p.display(),
                        match left.get(p) {
                            None => "gone".to_string(),
                            Some(n) => format!("{n} of {want} bytes"),
                        }
                    ));
                }
            }
        }
        out
    }
}
