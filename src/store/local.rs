//! Local-disk blob store: `blobs/<aa>/<bb>/<sha256 hex>` and `tmp/`.
//!
//! Paths are built only from a validated digest or a server-made temp name,
//! never from anything a client sent.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::fslog::{FsLog, FsOp};
use super::fsutil::{self, create_dir_all_durable, create_dir_all_durable_noted, fsync_dir};
use super::{
    blobs_of_pages, BlobList, BlobName, BlobReader, BlobStore, Digest, ListedBlob, StagedBlob,
    StoreError,
};

/// While a durable upload streams in, every this many bytes a background
/// fdatasync flushes what has arrived so far: the disk writes back while the
/// network receives, and the fsync at commit has little left to do.
const WRITEBACK_STEP: u64 = 32 << 20;

/// Staged bytes are written to disk in pieces of this size: large enough
/// that each blocking write moves a good amount of data, small enough that
/// hundreds of concurrent uploads stay within memory (one upload holds at
/// most twice this: our buffer and tokio's write in flight; at 1 MiB plus
/// tokio's default 2 MiB, 200 concurrent 64 MiB uploads peaked at 538 MiB
/// resident; at 256 KiB, 289 MiB).
const WRITE_BUFFER: usize = 256 << 10;

pub struct LocalStore {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Temp file names owned by uploads in progress, so the sweep never
    /// deletes a file that is still being written.
    live: Arc<Mutex<HashSet<String>>>,
    /// fsync data and directories on commit (`[storage] fsync`).
    durable: bool,
    /// Where each durability-relevant operation is reported (the
    /// power-loss test); `None` in production.
    log: Option<Arc<dyn FsLog>>,
}

/// Reports `op` to the log, if there is one.
fn note(log: &Option<Arc<dyn FsLog>>, op: impl FnOnce() -> FsOp) {
    if let Some(l) = log {
        l.record(op());
    }
}

impl LocalStore {
    /// Opens (creating if needed) the store under `data_dir` and removes
    /// temp files left by an earlier run: no upload can own them now. Only
    /// the gateway itself may call this (see [`Self::attach`]).
    pub fn open(data_dir: &Path, durable: bool) -> io::Result<Self> {
        let store = Self::attach(data_dir, durable)?;
        let removed = store.sweep_staging_sync()?;
        if removed > 0 {
            tracing::info!(removed, "removed temp files left by an earlier run");
        }
        Ok(store)
    }

    /// Opens (creating if needed) the store under `data_dir` without
    /// touching its temp files: for the maintenance commands, which may run
    /// beside a gateway whose uploads own them.
    pub fn attach(data_dir: &Path, durable: bool) -> io::Result<Self> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        create_dir_all_durable(&blobs)?;
        create_dir_all_durable(&tmp)?;
        Ok(LocalStore {
            blobs,
            tmp,
            live: Arc::new(Mutex::new(HashSet::new())),
            durable,
            log: None,
        })
    }

    /// Reports every durability-relevant operation from now on to `log`.
    pub fn with_log(mut self, log: Arc<dyn FsLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The path a digest is stored at.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.blobs.join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// The digest a name of this store is; `None` for an upstream id,
    /// which no file here holds (logged: the index and the configured
    /// store disagree).
    fn digest_of<'a>(&self, name: &'a BlobName) -> Option<&'a Digest> {
        match name {
            BlobName::Content(d) => Some(d),
            BlobName::Id(id) => {
                tracing::warn!(name = %id, "local disk holds no upstream blob");
                None
            }
        }
    }

    /// A stored blob's file, opened once, with its size; `None` if absent.
    async fn open_file(
        &self,
        name: &BlobName,
    ) -> Result<Option<(tokio::fs::File, u64)>, StoreError> {
        let Some(digest) = self.digest_of(name) else {
            return Ok(None);
        };
        let file = match tokio::fs::File::open(self.blob_path(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("opening a blob")(e)),
        };
        let len = file
            .metadata()
            .await
            .map_err(StoreError::io("reading blob metadata"))?
            .len();
        Ok(Some((file, len)))
    }

    fn sweep_staging_sync(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let owned = self.live.lock().map(|l| l.contains(&name)).unwrap_or(true);
            if !owned {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl BlobStore for LocalStore {
    fn names_by_content(&self) -> bool {
        true
    }

    fn free_space(&self) -> Result<Option<u64>, StoreError> {
        fsutil::free_space(&self.blobs)
            .map(Some)
            .map_err(StoreError::io("reading free space"))
    }

    async fn stage(&self) -> Result<Box<dyn StagedBlob>, StoreError> {
        let name = format!("{}.part", uuid::Uuid::new_v4().simple());
        // Registered before the file exists, so a concurrent sweep cannot
        // see the file unowned.
        if let Ok(mut live) = self.live.lock() {
            live.insert(name.clone());
        }
        let path = self.tmp.join(&name);
        let guard = TempGuard {
            path: path.clone(),
            name,
            live: self.live.clone(),
            armed: true,
            log: self.log.clone(),
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(StoreError::io("creating a temp file"))?;
        note(&self.log, || FsOp::Create(path.clone()));
        // tokio's file keeps up to this much of its own in flight to the
        // blocking write (2 MiB by default): with our buffer, this bounds
        // the memory of one upload, and so of hundreds at once.
        file.set_max_buf_size(WRITE_BUFFER);
        let sync_handle = Arc::new(
            file.try_clone()
                .await
                .map_err(StoreError::io("opening a temp file"))?
                .into_std()
                .await,
        );
        Ok(Box::new(LocalStaged {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            guard,
            blobs: self.blobs.clone(),
            durable: self.durable,
            sync_handle,
            unsynced: 0,
            flushing: None,
            log: self.log.clone(),
        }))
    }

    async fn open_range(
        &self,
        name: &BlobName,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StoreError> {
        let Some((file, whole)) = self.open_file(name).await? else {
            return Ok(None);
        };
        let file = Arc::new(file.into_std().await);
        let end = start.saturating_add(len).min(whole);
        Ok(Some(BlobReader {
            len: whole,
            chunks: Box::pin(FileChunks {
                file,
                pos: start.min(end),
                end,
                reading: None,
            }),
        }))
    }

    async fn stored_len(&self, name: &BlobName) -> Result<Option<u64>, StoreError> {
        let Some(digest) = self.digest_of(name) else {
            return Ok(None);
        };
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("looking up a blob")(e)),
        }
    }

    fn list(&self) -> BlobList {
        // One first-level directory (1/256 of the blobs) read at a time.
        let root = self.blobs.clone();
        let shards = futures_util::stream::iter(0..=255u8);
        blobs_of_pages(shards.then(move |a| {
            let dir = root.join(format!("{a:02x}"));
            async move {
                tokio::task::spawn_blocking(move || list_blobs(&dir))
                    .await
                    .map_err(|e| StoreError::io("listing blobs")(io::Error::other(e)))?
                    .map_err(StoreError::io("listing blobs"))
            }
        }))
    }

    async fn remove(&self, name: &BlobName) -> Result<(), StoreError> {
        let BlobName::Content(digest) = name else {
            return Err(StoreError::ForeignName(name.to_string()));
        };
        let path = self.blob_path(digest);
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    note(&log, || FsOp::Remove(path.clone()));
                    let dir = path.parent().unwrap_or(Path::new("."));
                    fsync_dir(dir)?;
                    note(&log, || FsOp::SyncDir(dir.to_path_buf()));
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| StoreError::io("removing a blob")(io::Error::other(e)))?
        .map_err(StoreError::io("removing a blob"))
    }

    async fn sweep_staging(&self) -> Result<usize, StoreError> {
        let me = LocalStore {
            blobs: self.blobs.clone(),
            tmp: self.tmp.clone(),
            live: self.live.clone(),
            durable: self.durable,
            log: self.log.clone(),
        };
        tokio::task::spawn_blocking(move || me.sweep_staging_sync())
            .await
            .map_err(|e| StoreError::io("sweeping temp files")(io::Error::other(e)))?
            .map_err(StoreError::io("sweeping temp files"))
    }

    async fn check(&self) -> Result<(), StoreError> {
        // Registered like an upload's temp file, so the sweep leaves it be;
        // written and synced, so a full or read-only disk shows.
        let name = format!(".health-{}", uuid::Uuid::new_v4().simple());
        if let Ok(mut live) = self.live.lock() {
            live.insert(name.clone());
        }
        let guard = TempGuard {
            path: self.tmp.join(&name),
            name,
            live: self.live.clone(),
            armed: true,
            log: None,
        };
        let path = guard.path.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut f = std::fs::File::create_new(&path)?;
            std::io::Write::write_all(&mut f, b"ok")?;
            f.sync_data()
        })
        .await
        .map_err(|e| StoreError::io("writing a health probe")(io::Error::other(e)))?
        .map_err(StoreError::io("writing a health probe"))?;
        drop(guard);
        Ok(())
    }
}

/// Walks `blobs/aa/bb/<hex>`; anything not shaped like a blob is left alone
/// (and logged), never deleted.
/// The blobs under one first-level directory `blobs/aa` (none if it does
/// not exist).
fn list_blobs(shard: &Path) -> io::Result<Vec<ListedBlob>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(shard) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for b in entries {
        let b = b?;
        if !b.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(b.path())? {
            let f = f?;
            let name = f.file_name();
            match name.to_str().and_then(Digest::from_hex) {
                Some(d) if f.file_type()?.is_file() => {
                    let meta = f.metadata()?;
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs() as i64);
                    out.push(ListedBlob {
                        name: BlobName::Content(d),
                        len: meta.len(),
                        modified,
                    })
                }
                _ => tracing::warn!(path = %f.path().display(), "unexpected file in blobs/"),
            }
        }
    }
    Ok(out)
}

/// Deletes the temp file unless disarmed by a successful commit, and always
/// releases the name from the live set. This is what makes an interrupted or
/// rejected upload leave nothing behind.
struct TempGuard {
    path: PathBuf,
    name: String,
    live: Arc<Mutex<HashSet<String>>>,
    armed: bool,
    log: Option<Arc<dyn FsLog>>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            match std::fs::remove_file(&self.path) {
                Ok(()) => note(&self.log, || FsOp::Remove(self.path.clone())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "could not remove an abandoned temp file"),
            }
        }
        if let Ok(mut live) = self.live.lock() {
            live.remove(&self.name);
        }
    }
}

struct LocalStaged {
    file: BufWriter<tokio::fs::File>,
    guard: TempGuard,
    blobs: PathBuf,
    durable: bool,
    /// The same open file, for background fdatasyncs.
    sync_handle: Arc<std::fs::File>,
    /// Bytes written since the last background flush began.
    unsynced: u64,
    /// The background flush in progress, if any. Its error is reported at
    /// commit: the kernel reports a write-back error to one fsync only.
    flushing: Option<tokio::task::JoinHandle<io::Result<()>>>,
    log: Option<Arc<dyn FsLog>>,
}

impl LocalStaged {
    /// Waits for the background flush in progress and surfaces its error.
    async fn finish_flush(&mut self) -> Result<(), StoreError> {
        if let Some(h) = self.flushing.take() {
            h.await
                .map_err(|e| StoreError::io("syncing a temp file")(io::Error::other(e)))?
                .map_err(StoreError::io("syncing a temp file"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl StagedBlob for LocalStaged {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(StoreError::io("writing a temp file"))?;
        // The background syncs below are not reported: they only shorten
        // the final one, and durability never rests on them.
        note(&self.log, || FsOp::Write {
            path: self.guard.path.clone(),
            len: chunk.len() as u64,
        });
        self.unsynced += chunk.len() as u64;
        let idle = self.flushing.as_ref().is_none_or(|h| h.is_finished());
        if self.durable && self.unsynced >= WRITEBACK_STEP && idle {
            self.finish_flush().await?;
            let file = self.sync_handle.clone();
            self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
            self.unsynced = 0;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>, digest: &Digest) -> Result<BlobName, StoreError> {
        self.file
            .flush()
            .await
            .map_err(StoreError::io("flushing a temp file"))?;
        self.finish_flush().await?;
        // 1. The bytes are durable before they get a name anyone can see.
        if self.durable {
            self.file
                .get_ref()
                .sync_data()
                .await
                .map_err(StoreError::io("syncing a temp file"))?;
            note(&self.log, || FsOp::SyncData(self.guard.path.clone()));
        }
        let durable = self.durable;
        let hex = digest.hex();
        let dir = self.blobs.join(&hex[0..2]).join(&hex[2..4]);
        let target = dir.join(&hex);
        let tmp = self.guard.path.clone();
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            create_dir_all_durable_noted(&dir, &|op| note(&log, || op))?;
            // 2. Atomic publish, 3. made durable by syncing the directory.
            // A file already under the name is replaced, never kept: these
            // bytes are verified, while that file may be damaged (cut
            // short, flipped bits, written by a crash) in ways only a full
            // read could tell. So a verified upload heals it, and a reader
            // sees the old file or the new one, never a mix (an open reader
            // keeps reading the file it opened).
            std::fs::rename(&tmp, &target)?;
            note(&log, || FsOp::Rename {
                from: tmp.clone(),
                to: target.clone(),
            });
            if durable {
                fsync_dir(&dir)?;
                note(&log, || FsOp::SyncDir(dir.clone()));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::io("publishing a blob")(io::Error::other(e)))?
        .map_err(StoreError::io("publishing a blob"))?;
        // The temp file is the blob now: nothing left to remove.
        self.guard.armed = false;
        Ok(BlobName::Content(*digest))
    }
}

/// Bytes read from a blob per piece of a read.
const READ_CHUNK: u64 = 1 << 20;

/// A blob read as a stream of 1 MiB pieces, each read by `pread` on the
/// blocking pool, with the next piece read while the caller sends the one
/// before (the disk or page-cache copy overlaps the socket write, so a
/// large GET runs on both cores). No thread is held between pieces, so a
/// slow reader costs one buffered piece, not a blocked thread.
struct FileChunks {
    file: Arc<std::fs::File>,
    /// Where the next piece to be started begins.
    pos: u64,
    /// Where the read ends (exclusive).
    end: u64,
    /// The piece being read, if one is.
    reading: Option<tokio::task::JoinHandle<io::Result<bytes::Bytes>>>,
}

impl FileChunks {
    fn start_next(&mut self) {
        if self.pos >= self.end {
            return;
        }
        let (file, at) = (self.file.clone(), self.pos);
        let n = (self.end - at).min(READ_CHUNK) as usize;
        self.pos += n as u64;
        self.reading = Some(tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; n];
            let mut got = 0;
            while got < n {
                match file.read_at(&mut buf[got..], at + got as u64) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            Ok(bytes::Bytes::from(buf))
        }));
    }
}

impl futures_util::Stream for FileChunks {
    type Item = io::Result<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        if self.reading.is_none() {
            self.start_next();
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let done = match std::pin::Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.reading = None;
        match done {
            Err(e) => Poll::Ready(Some(Err(io::Error::other(e)))),
            Ok(Err(e)) => {
                self.pos = self.end;
                Poll::Ready(Some(Err(e)))
            }
            // The file is shorter than the range: it ends here.
            Ok(Ok(piece)) if piece.is_empty() => {
                self.pos = self.end;
                Poll::Ready(None)
            }
            Ok(Ok(piece)) => {
                self.start_next();
                Poll::Ready(Some(Ok(piece)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;

    async fn commit(store: &LocalStore, bytes: &[u8]) -> Digest {
        let mut staged = store.stage().await.unwrap();
        staged.write(bytes).await.unwrap();
        let digest = Digest(Sha256::digest(bytes).into());
        staged.commit(&digest).await.unwrap();
        digest
    }

    #[tokio::test]
    async fn a_verified_commit_replaces_a_damaged_or_missing_blob_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path(), true).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let digest = commit(&store, &bytes).await;
        let path = store.blob_path(&digest);
        let name = BlobName::Content(digest);

        // Cut short, as a disk that lied about a flush could leave it.
        std::fs::write(&path, &bytes[..1000]).unwrap();
        assert_eq!(store.stored_len(&name).await.unwrap(), Some(1000));
        commit(&store, &bytes).await;
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // Same size, one bit flipped: no size check can see it.
        let mut flipped = bytes.clone();
        flipped[5] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        commit(&store, &bytes).await;
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // Gone.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.stored_len(&name).await.unwrap(), None);
        commit(&store, &bytes).await;
        assert_eq!(store.stored_len(&name).await.unwrap(), Some(100_000));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // Nothing is left in the staging area.
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}

/// The contract of every blob store (`super::contract`), on local disk:
/// in a temp dir, and on a tmpfs of 2 MiB for the full disk.
#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use super::LocalStore;
    use crate::store::tmpfs::Tmpfs;
    use crate::store::BlobStore;

    fn store() -> Option<(tempfile::TempDir, Arc<dyn BlobStore>)> {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path(), true).unwrap();
        Some((dir, Arc::new(store)))
    }

    fn full_store() -> Option<(Tmpfs, Arc<dyn BlobStore>)> {
        let fs = Tmpfs::mount(2 << 20, None)?;
        let store = LocalStore::open(fs.path(), true).unwrap();
        Some((fs, Arc::new(store)))
    }

    crate::store::contract::blob_store_contract_tests!(store(), full: full_store());
}
