//! Streaming computation of the `x-amz-checksum-*` values S3 verifies and returns.
//!
//! Owns: the algorithm names (`x-amz-checksum-<alg>` headers and trailers,
//! `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` values), and computing each
//! checksum incrementally into the text S3 prints: base64 of the big-endian digest bytes.
//! Must never: buffer the data (everything is incremental), do I/O, or decide what a mismatch
//! means for the request (the caller answers `BadDigest` / `InvalidRequest`).
//!
//! Crates: `crc32fast` (CRC-32/ISO-HDLC), `crc32c` (CRC-32/ISCSI, hardware-accelerated),
//! `crc64fast-nvme` (CRC-64/NVME), RustCrypto `sha1` and `sha2`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A checksum algorithm S3 accepts in `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (the zlib / Ethernet polynomial); botocore's default.
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in S3's documentation order.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// From a header or trailer name such as `x-amz-checksum-crc32` (any case).
    pub fn from_header_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let alg = lower.strip_prefix("x-amz-checksum-")?;
        Self::ALL.into_iter().find(|a| a.suffix() == alg)
    }

    /// From an algorithm value such as `CRC32` or `crc64nvme` (the
    /// `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` headers; any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        Self::ALL.into_iter().find(|a| a.suffix() == lower)
    }

    /// The header / trailer name, e.g. `x-amz-checksum-crc64nvme`.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm name as S3 prints it (`ChecksumAlgorithm` in XML), e.g. `CRC64NVME`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Digest length in bytes (4, 4, 8, 20, 32).
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Whether `value` is well-formed for this algorithm: canonical base64 of exactly
    /// [`Self::digest_len`] bytes. (S3 answers `InvalidRequest` for a malformed value and
    /// `BadDigest` for a well-formed one that does not match.)
    pub fn is_valid_value(self, value: &str) -> bool {
        STANDARD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == self.digest_len())
    }

    fn suffix(self) -> &'static str {
        &self.header_name()["x-amz-checksum-".len()..]
    }

    /// A fresh incremental computer for this algorithm.
    pub fn checksummer(self) -> Checksummer {
        Checksummer::new(self)
    }
}

/// Incremental checksum; [`Checksummer::finish`] gives the base64 text S3 uses.
#[derive(Clone)]
pub struct Checksummer {
    state: State,
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checksummer")
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

impl Checksummer {
    /// A fresh computer for `algorithm`.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => State::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(Sha256::new()),
        };
        Checksummer { state }
    }

    /// Which algorithm this computes.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            State::Crc32(_) => ChecksumAlgorithm::Crc32,
            State::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            State::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            State::Sha1(_) => ChecksumAlgorithm::Sha1,
            State::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    /// Adds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64Nvme(d) => d.write(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The digest bytes, big-endian for the CRCs.
    pub fn finish_bytes(self) -> Vec<u8> {
        match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Crc64Nvme(d) => d.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The checksum as S3 prints it: base64 of [`Self::finish_bytes`].
    pub fn finish(self) -> String {
        STANDARD.encode(self.finish_bytes())
    }
}
