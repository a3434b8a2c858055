//! Small durable-filesystem helpers shared by the blob store and config.
//!
//! Owns the fsync discipline: a file is durable only after its data is
//! synced, and a create or rename only after its directory is synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::fslog::FsOp;

/// Free space on `dir`'s filesystem that an unprivileged writer may use
/// (f_bavail), which is what our writes get before ENOSPC.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// fsyncs a directory so that creates, renames and deletes in it survive a
/// power cut.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, fsyncing each parent whose
/// entries changed so the new directories themselves are durable.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    create_dir_all_durable_noted(dir, &|_| {})
}

/// [`create_dir_all_durable`], telling `note` each mkdir and directory
/// fsync it performs (see `store::fslog`).
pub fn create_dir_all_durable_noted(dir: &Path, note: &dyn Fn(FsOp)) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_durable_noted(parent, note)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            note(FsOp::MkDir(dir.to_path_buf()));
            if let Some(parent) = dir.parent() {
                fsync_dir(parent)?;
                note(FsOp::SyncDir(parent.to_path_buf()));
            }
            Ok(())
        }
        // Another writer made it first: equally good.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a new file readable only by its owner (mode 0600), durably:
/// written to a temp name, fsynced, renamed, directory fsynced.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    fsync_dir(dir)
}
