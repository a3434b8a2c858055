//! The data dir's lock: `stowage serve` holds it for as long as it runs,
//! and a command that needs the gateway stopped (`stowage index migrate`)
//! holds it while it works — so neither starts while the other runs, and a
//! second gateway is refused a data dir one already serves (its per-blob
//! locks and uploads in flight are in its memory only).
//!
//! An exclusive `flock` on `stowage.lock` in the data dir, never waited
//! for: the kernel lets go of it when its process ends, however it ends,
//! so a crash leaves no stale lock behind. The file says who holds it
//! (for the message of whoever is refused); it is never deleted (a lock
//! file removed while someone opens it would lock nothing).
//!
//! The commands that may run beside a gateway (`verify`, `backup`,
//! `token`, `key`) never take it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "stowage.lock";

/// The data dir's lock, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it; `holder` is what it wrote, e.g.
    /// `pid 1234: stowage serve`.
    #[error("{} is in use by another Stowage process ({holder})", dir.display())]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DataDirLock {
    /// Takes the lock of the existing data dir `dir` for `what` (the
    /// command, written into the file), or says who holds it.
    pub fn acquire(dir: &Path, what: &str) -> Result<DataDirLock, LockError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not said who it is".to_string(),
                    h => h.to_string(),
                };
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        // Only the holder writes: who it is, for whoever is refused.
        file.set_len(0).map_err(io)?;
        writeln!(file, "pid {}: {what}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path(), "stowage serve").unwrap();
        // flock locks belong to the open file: a second open in this
        // process is refused as another process's would be.
        let e = DataDirLock::acquire(dir.path(), "stowage index migrate").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("pid {}: stowage serve", std::process::id())),
            "{msg}"
        );
        drop(held);
        let again = DataDirLock::acquire(dir.path(), "stowage index migrate").unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(
            text,
            format!("pid {}: stowage index migrate\n", std::process::id())
        );
        drop(again);
    }
}
