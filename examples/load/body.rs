//! Deterministic request bodies: a 1 MiB pseudo-random block repeated, each MiB of an object
//! marked with the run nonce, the object's index and the MiB's number, so no two objects — and
//! no two MiB anywhere in a run — are equal: neither Stowage's dedupe of whole blobs nor a store
//! that dedupes fixed-size blocks (Garage hashes its 1 MiB blocks) can skip writing any of it.
//! A body is streamed without copying after its first MiB and never held in memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Size of the generator's repeated block: an object is made of such MiB, each marked.
pub const CHUNK: usize = 1024 * 1024;
/// Length of the mark at the start of each MiB: nonce, object index, MiB number.
const MARK: usize = 24;

/// The generator (see the module docs).
#[derive(Clone)]
pub struct Gen {
    pub block: Bytes,
    pub nonce: u64,
}

impl Gen {
    pub fn new() -> Self {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = Vec::with_capacity(CHUNK);
        while block.len() < CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        let nonce = u64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([7; 8]));
        Gen {
            block: Bytes::from(block),
            nonce,
        }
    }

    /// The mark that starts MiB `k` of object `idx`.
    fn mark(&self, idx: u64, k: u64) -> [u8; MARK] {
        let mut m = [0u8; MARK];
        m[..8].copy_from_slice(&self.nonce.to_le_bytes());
        m[8..16].copy_from_slice(&idx.to_le_bytes());
        m[16..].copy_from_slice(&k.to_le_bytes());
        m
    }

    /// Object `idx` of `size` bytes.
    pub fn body(&self, idx: u64, size: u64) -> GenBody {
        self.range(idx, 0, size)
    }

    /// Bytes `offset..offset + len` of object `idx` (`offset` a multiple of [`CHUNK`], as a
    /// part's is when the part size is whole MiB).
    pub fn range(&self, idx: u64, offset: u64, len: u64) -> GenBody {
        debug_assert_eq!(offset % CHUNK as u64, 0, "a range starts at a whole MiB");
        GenBody {
            gen: self.clone(),
            idx,
            pos: offset,
            end: offset + len,
            pending: None,
        }
    }

    /// SHA-256 of object `idx`, streaming the same bytes the body will send.
    pub fn sha256(&self, idx: u64, size: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut body = self.body(idx, size);
        while let Some(b) = body.next_bytes() {
            h.update(&b);
        }
        h.finalize().into()
    }
}

/// A generated object (or a range of one), streamed in frames of at most 1 MiB.
pub struct GenBody {
    gen: Gen,
    idx: u64,
    /// Where the next MiB starts (absolute in the object); always at a MiB boundary.
    pos: u64,
    end: u64,
    /// The rest of the MiB whose mark was just sent.
    pending: Option<Bytes>,
}

impl GenBody {
    pub fn len(&self) -> u64 {
        self.end - self.pos + self.pending.as_ref().map_or(0, |b| b.len() as u64)
    }

    fn next_bytes(&mut self) -> Option<Bytes> {
        if let Some(b) = self.pending.take() {
            return Some(b);
        }
        if self.pos >= self.end {
            return None;
        }
        let k = self.pos / CHUNK as u64;
        let n = (self.end - self.pos).min(CHUNK as u64) as usize;
        self.pos += n as u64;
        let mark = self.gen.mark(self.idx, k);
        let m = n.min(MARK);
        if k == 0 {
            // The first MiB (all of a small object): one copied frame, as a small PUT's
            // body is one buffer.
            let mut b = BytesMut::from(&self.gen.block[..n]);
            b[..m].copy_from_slice(&mark[..m]);
            return Some(b.freeze());
        }
        // Later MiB: the mark, then the shared block's rest (no copy).
        if n > MARK {
            self.pending = Some(self.gen.block.slice(MARK..n));
        }
        Some(Bytes::copy_from_slice(&mark[..m]))
    }
}

/// A request body: empty, one buffer, or a generated object.
pub enum ReqBody {
    Full(Option<Bytes>),
    Gen(GenBody),
}

impl ReqBody {
    pub fn empty() -> Self {
        ReqBody::Full(None)
    }
    pub fn len(&self) -> u64 {
        match self {
            ReqBody::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ReqBody::Gen(g) => g.len(),
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            ReqBody::Full(b) => b.take(),
            ReqBody::Gen(g) => g.next_bytes(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}
