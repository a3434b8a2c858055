//! [`PartBuffer`]: cutting a written body into upload parts of one size.
//!
//! A full buffer is handed out only when a byte beyond it arrives, so a
//! body of at most one part is never cut at all (it goes as one PUT), and
//! the last part — whatever is left at the end — is never empty unless the
//! whole body is.
//!
//! Pure: no I/O. Must never: hold more than one part (a full part leaves
//! before a byte of the next is taken, so its sender can first wait for
//! the part before it), or grow its memory
//! past the part size (it grows as bytes come, so a small body costs only
//! its own size).

use bytes::Bytes;

/// What [`PartBuffer::take`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Took this many bytes from the front.
    Took(usize),
    /// Took nothing: here is the full part; the buffer is empty now.
    Part(Bytes),
}

pub struct PartBuffer {
    size: usize,
    buf: Vec<u8>,
}

impl PartBuffer {
    /// A buffer cutting parts of `size` bytes (at least 1).
    pub fn new(size: usize) -> PartBuffer {
        PartBuffer {
            size: size.max(1),
            buf: Vec::new(),
        }
    }

    /// One step of taking `data`: when the buffer is full and `data` is
    /// not empty, the full part is handed out and nothing taken (the
    /// caller sends it, then calls again); otherwise as many bytes as fit
    /// are taken from the front of `data`.
    pub fn take(&mut self, data: &[u8]) -> Step {
        if data.is_empty() {
            return Step::Took(0);
        }
        if self.buf.len() == self.size {
            return Step::Part(Bytes::from(std::mem::take(&mut self.buf)));
        }
        let n = data.len().min(self.size - self.buf.len());
        if self.buf.capacity() < self.buf.len() + n {
            // Doubling, capped at one part: never more than a part's room.
            let want = (self.buf.capacity() * 2)
                .max(self.buf.len() + n)
                .max(64 << 10)
                .min(self.size);
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(&data[..n]);
        Step::Took(n)
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Everything held, leaving the buffer empty: the last part (or the
    /// whole body, if no part was cut).
    pub fn take_rest(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Writes `writes` through a buffer of `size`; the parts cut, and the
    /// rest.
    fn cut(size: usize, writes: &[Vec<u8>]) -> (Vec<Bytes>, Bytes) {
        let mut b = PartBuffer::new(size);
        let mut parts = Vec::new();
        for w in writes {
            let mut data = &w[..];
            while !data.is_empty() {
                match b.take(data) {
                    Step::Took(n) => {
                        assert!(n > 0, "no progress");
                        data = &data[n..];
                    }
                    Step::Part(p) => {
                        assert!(b.is_empty(), "a part handed out, the buffer still full");
                        parts.push(p);
                    }
                }
                assert!(b.len() <= size);
                assert!(b.buf.capacity() <= size.max(64 << 10));
            }
        }
        (parts, b.take_rest())
    }

    #[test]
    fn a_body_of_one_part_is_never_cut() {
        let (parts, rest) = cut(4, &[vec![1, 2], vec![3, 4]]);
        assert!(parts.is_empty());
        assert_eq!(&rest[..], [1, 2, 3, 4]);
        let (parts, rest) = cut(4, &[]);
        assert!(parts.is_empty() && rest.is_empty());
    }

    #[test]
    fn one_byte_more_cuts_the_first_part() {
        let (parts, rest) = cut(4, &[vec![1, 2, 3, 4], vec![5]]);
        assert_eq!(parts, [Bytes::from_static(&[1, 2, 3, 4])]);
        assert_eq!(&rest[..], [5]);
        // A write spanning several parts is cut as it goes.
        let (parts, rest) = cut(3, &[(1..=10).collect()]);
        assert_eq!(
            parts,
            [
                Bytes::from_static(&[1, 2, 3]),
                Bytes::from_static(&[4, 5, 6]),
                Bytes::from_static(&[7, 8, 9])
            ]
        );
        assert_eq!(&rest[..], [10]);
    }

    #[test]
    fn memory_grows_with_the_body_up_to_one_part() {
        let mut b = PartBuffer::new(8 << 20);
        b.take(&[7; 1000]);
        assert!(b.buf.capacity() <= 64 << 10, "{}", b.buf.capacity());
        // Filled to exactly one part: room for one part, not a byte more.
        let rest = vec![1u8; (8 << 20) - 1000];
        let mut data = &rest[..];
        while !data.is_empty() {
            let Step::Took(n) = b.take(data) else {
                panic!("cut before a byte beyond the part arrived");
            };
            data = &data[n..];
            assert!(b.buf.capacity() <= 8 << 20);
        }
        assert_eq!(b.len(), 8 << 20);
        assert_eq!(b.buf.capacity(), 8 << 20);
    }

    proptest! {
        #![proptest_config(crate::testing::config(2000))]

        /// Whatever the writes: the parts and the rest are the body in
        /// order, every part is exactly the size, and the rest is 1..=size
        /// bytes (0 only for an empty body).
        #[test]
        fn prop_parts_reassemble_the_body(
            size in 1usize..50,
            writes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..12),
        ) {
            let (parts, rest) = cut(size, &writes);
            let body: Vec<u8> = writes.concat();
            let mut again: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
            again.extend_from_slice(&rest);
            prop_assert_eq!(&again, &body);
            prop_assert!(parts.iter().all(|p| p.len() == size));
            prop_assert_eq!(rest.is_empty(), body.is_empty());
            prop_assert!(rest.len() <= size);
        }
    }
}
