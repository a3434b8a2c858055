//! Composite blobs: an object put together from parts is the list of its
//! parts' blobs (its segments), in order — S3's CompleteMultipartUpload
//! and the upload API's part-wise completion record that list and write
//! no byte again. Here: where a blob's bytes are (its own, inline, in the
//! store, or its segments'), reading a composite as one stream, and the
//! digest that names a composite whose bytes were never hashed whole.
//!
//! Must never copy a segment's bytes into a new blob, and never let a
//! segment go while a composite names it (the index counts a segment row
//! as a reference).

use sha2::{Digest as _, Sha256};

use super::{inline_reader, Storage, StorageError, INLINE_BLOB_MAX};
use crate::index::{ObjectRecord, Segment};
use crate::store::{BlobName, BlobReader, Digest};

/// Where a blob's bytes are.
pub(crate) enum Place {
    /// In the index (a small blob).
    Inline,
    /// In the blob store, under this name.
    Store(BlobName),
    /// Nowhere of its own: its segments, in order.
    Segments(Vec<Located>),
    /// No row says, and the store names nothing by digest.
    Nowhere,
}

/// A segment and where its bytes are (a segment is always a blob of
/// bytes, never a composite).
pub(crate) struct Located {
    pub segment: Segment,
    /// `None`: inline in the index.
    pub name: Option<BlobName>,
}

/// The digest that names a composite of `segments` whose bytes were never
/// hashed whole (an S3 multipart object): SHA-256 over a tag and each
/// segment's digest and size. It cannot be any content's digest short of
/// a SHA-256 collision, and the same parts in the same order name the same
/// composite.
pub fn composite_digest(segments: &[Segment]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"stowage composite v1\n");
    for s in segments {
        h.update(s.sha256.0);
        h.update(s.size.to_be_bytes());
    }
    Digest(h.finalize().into())
}

/// Pieces in flight between the task reading a composite's segments and
/// the response sending them.
const READ_AHEAD: usize = 4;

/// Where a part of an object lies (see [`Storage::part_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartPlace {
    /// Its bytes are `len` from `start` of the object's; `count`: the
    /// object's parts, `None` for an object of one part (not multipart).
    At {
        start: u64,
        len: u64,
        count: Option<u32>,
    },
    /// The object has no such part.
    NoSuchPart,
    /// The object is multipart, but where its parts begin was not kept.
    Unknown,
}

impl Storage {
    /// Where the bytes of blob `digest` are (one index read).
    pub(crate) async fn place(&self, digest: &Digest) -> Result<Place, StorageError> {
        let d = *digest;
        let by_content = self.store.names_by_content();
        let found = self
            .index
            .read(move |tx| {
                Box::pin(async move {
                    let Some(row) = tx.get_blob(&d).await? else {
                        return Ok(None);
                    };
                    let mut segments = Vec::new();
                    if row.composite {
                        for s in tx.segments(&d).await? {
                            let seg = tx.get_blob(&s.sha256).await?;
                            segments.push((s, seg));
                        }
                    }
                    Ok(Some((row, segments)))
                })
            })
            .await?;
        let name_of = |digest: Digest, location: Option<String>| match location {
            Some(id) => Some(BlobName::Id(id)),
            None if by_content => Some(BlobName::Content(digest)),
            None => None,
        };
        Ok(match found {
            None if by_content => Place::Store(BlobName::Content(d)),
            None => Place::Nowhere,
            Some((row, segments)) if row.composite => Place::Segments(
                segments
                    .into_iter()
                    .map(|(segment, row)| Located {
                        name: match row {
                            Some(r) if r.inline => None,
                            Some(r) => name_of(segment.sha256, r.location),
                            None => name_of(segment.sha256, None),
                        },
                        segment,
                    })
                    .collect(),
            ),
            Some((row, _)) if row.inline => Place::Inline,
            Some((row, _)) => match name_of(d, row.location) {
                Some(name) => Place::Store(name),
                None => Place::Nowhere,
            },
        })
    }

    /// Where part `n` (counted from 1) of object `obj` lies, as GetObject's
    /// and HeadObject's `partNumber` reads it: a multipart object's part
    /// is a segment of its composite blob; an object of one part is part 1.
    pub async fn part_of(&self, obj: &ObjectRecord, n: u32) -> Result<PartPlace, StorageError> {
        let Some(count) = obj.meta.parts else {
            return Ok(match n {
                1 => PartPlace::At {
                    start: 0,
                    len: obj.size,
                    count: None,
                },
                _ => PartPlace::NoSuchPart,
            });
        };
        if n == 0 || n > count {
            return Ok(PartPlace::NoSuchPart);
        }
        let Some(sizes) = self.part_sizes(obj).await? else {
            return Ok(PartPlace::Unknown);
        };
        let i = (n - 1) as usize;
        Ok(PartPlace::At {
            start: sizes[..i].iter().sum(),
            len: sizes[i],
            count: Some(count),
        })
    }

    /// The sizes of a multipart object's parts, in order (its composite
    /// blob's segments); `None` for an object of one part, or one stored
    /// before composite blobs (or healed into one whole blob), which kept
    /// no boundaries.
    pub async fn part_sizes(&self, obj: &ObjectRecord) -> Result<Option<Vec<u64>>, StorageError> {
        let Some(count) = obj.meta.parts else {
            return Ok(None);
        };
        let d = obj.sha256;
        let segments = self
            .index
            .read(move |tx| {
                Box::pin(async move {
                    match tx.get_blob(&d).await? {
                        Some(row) if row.composite => Ok(Some(tx.segments(&d).await?)),
                        _ => Ok(None),
                    }
                })
            })
            .await?;
        Ok(segments
            .filter(|s| s.len() == count as usize)
            .map(|s| s.iter().map(|seg| seg.size).collect()))
    }

    /// Where a blob's own bytes are in the store: its digest, in a store
    /// that names by content; else the id its row records. `None`: none
    /// of its own (inline bytes, a composite, or no row).
    pub async fn locate(&self, digest: &Digest) -> Result<Option<BlobName>, StorageError> {
        Ok(match self.place(digest).await? {
            Place::Store(name) => Some(name),
            _ => None,
        })
    }

    /// Opens the whole of a blob's bytes, wherever they are; `None` if
    /// they are nowhere.
    pub async fn open_stored(&self, digest: &Digest) -> Result<Option<BlobReader>, StorageError> {
        self.open_placed(digest, 0, u64::MAX).await
    }

    /// Opens `len` bytes from `start` of a stored blob of `size` bytes,
    /// wherever its bytes are: inline in the index (small blobs, looked up
    /// there first), in the blob store, or in its segments. `None` if none
    /// has it.
    pub async fn open_blob(
        &self,
        digest: &Digest,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StorageError> {
        let d = *digest;
        if size <= INLINE_BLOB_MAX {
            let data = self
                .index
                .read(move |tx| Box::pin(async move { tx.blob_data(&d).await }))
                .await?;
            if let Some(data) = data {
                return Ok(Some(inline_reader(data.into(), start, len)));
            }
        }
        self.open_placed(digest, start, len).await
    }

    /// Opens `len` bytes from `start` of blob `digest`, wherever they are;
    /// `None` if they are nowhere (a composite whose segment is gone
    /// fails while it is read).
    pub(crate) async fn open_placed(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<Option<BlobReader>, StorageError> {
        match self.place(digest).await? {
            Place::Inline => Ok(self
                .blob_data(digest)
                .await?
                .map(|data| inline_reader(data.into(), start, len))),
            Place::Store(name) => Ok(self.store.open_range(&name, start, len).await?),
            Place::Segments(segments) => Ok(Some(self.read_segments(segments, start, len))),
            Place::Nowhere => Ok(None),
        }
    }

    /// The bytes of `segments` from `start`, `len` of them, as one
    /// stream: a task opens each segment it needs in turn (never two at
    /// once) and hands its pieces over, a few ahead of the reader.
    fn read_segments(&self, segments: Vec<Located>, start: u64, len: u64) -> BlobReader {
        let total: u64 = segments.iter().map(|s| s.segment.size).sum();
        let end = start.saturating_add(len).min(total);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
        let (index, store) = (self.index.clone(), self.store.clone());
        tokio::spawn(async move {
            let mut at = 0u64;
            for s in segments {
                let (from, to) = (at, at + s.segment.size);
                at = to;
                if to <= start || from >= end {
                    continue;
                }
                let (a, b) = (start.max(from) - from, end.min(to) - from);
                let opened = match &s.name {
                    None => {
                        let d = s.segment.sha256;
                        index
                            .read(move |tx| Box::pin(async move { tx.blob_data(&d).await }))
                            .await
                            .map(|data| data.map(|data| inline_reader(data.into(), a, b - a)))
                            .map_err(std::io::Error::other)
                    }
                    Some(name) => store
                        .open_range(name, a, b - a)
                        .await
                        .map_err(std::io::Error::other),
                };
                let mut reader = match opened {
                    Ok(Some(r)) if r.len == s.segment.size => r,
                    Ok(found) => {
                        let why = match found {
                            Some(r) => format!("has {} bytes, not {}", r.len, s.segment.size),
                            None => "is missing".into(),
                        };
                        let e = std::io::Error::other(format!(
                            "segment {} of a composite blob {why}",
                            s.segment.sha256.hex()
                        ));
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                while let Some(piece) = futures_util::StreamExt::next(&mut reader.chunks).await {
                    let failed = piece.is_err();
                    // The reader went away: stop reading.
                    if tx.send(piece).await.is_err() || failed {
                        return;
                    }
                }
            }
        });
        BlobReader {
            len: total,
            chunks: Box::pin(tokio_stream_of(rx)),
        }
    }

    /// The size of blob `digest`'s bytes where they are kept (a look, no
    /// byte read): the store's file, or for a composite the sum of its
    /// segments' when every one is there whole; `None` if any is not
    /// (inline bytes count as there).
    pub async fn stored_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self.place(digest).await? {
            Place::Store(name) => Ok(self.store.stored_len(&name).await?),
            Place::Inline | Place::Nowhere => Ok(None),
            Place::Segments(segments) => {
                let mut total = 0u64;
                for s in segments {
                    let len = match &s.name {
                        None => Some(s.segment.size),
                        Some(name) => self.store.stored_len(name).await?,
                    };
                    if len != Some(s.segment.size) {
                        return Ok(None);
                    }
                    total += s.segment.size;
                }
                Ok(Some(total))
            }
        }
    }
}

/// A receiver as a stream (tokio's `Receiver` is `Send + Sync`; the
/// stream borrows nothing).
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
