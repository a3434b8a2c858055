//! A small filesystem of its own for a test, so that a write fills it for
//! real and the kernel answers ENOSPC: a tmpfs of a few MiB mounted in a
//! temp dir, unmounted when dropped. Mounting needs root (as CI runs, and
//! as the integration suite's `disk_full` test needs too). Where it is not
//! possible the test fails saying so, unless `STOWAGE_SKIP_MOUNT_TESTS=1`
//! says to skip such tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Skips tests that mount a filesystem, when set to `1`.
pub const SKIP_VAR: &str = "STOWAGE_SKIP_MOUNT_TESTS";

/// A mounted tmpfs; unmounted (and its temp dir removed) on drop.
pub struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `bytes`, its root owned by `owner` (uid, gid; root if
    /// `None`) with mode 0700; `None` when it cannot be mounted and
    /// [`SKIP_VAR`] says to skip. The temp dir around it is open to all,
    /// so another user (a database server) can reach an owner's root.
    pub fn mount(bytes: u64, owner: Option<(u32, u32)>) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("a temp dir open to all");
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).expect("a mount point");
        let mut options = format!("size={bytes},mode=0700");
        if let Some((uid, gid)) = owner {
            options.push_str(&format!(",uid={uid},gid={gid}"));
        }
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Tmpfs { path, _dir: dir });
        }
        skip_or_fail("cannot mount a tmpfs here (it needs root)")
    }

    /// The root of the mounted filesystem.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a file open elsewhere): detach it now, gone
            // when the last user lets go.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// `None` if [`SKIP_VAR`] says to skip tests that mount a filesystem
/// (saying so on stderr); otherwise fails the test, saying `why`.
pub fn skip_or_fail<T>(why: &str) -> Option<T> {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        eprintln!("SKIPPED: {why} ({SKIP_VAR}=1)");
        return None;
    }
    panic!(
        "{why}: this test fills a small filesystem of its own for real; run it as root \
         (as CI does), or set {SKIP_VAR}=1 to skip it"
    );
}
