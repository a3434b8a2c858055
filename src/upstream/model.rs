//! The values the S3 client's calls take and give: how a body's integrity
//! is proven in transit ([`Integrity`]), the receipt of an uploaded part
//! ([`Part`]), and listing entries ([`ObjectEntry`], [`PendingUpload`]).
//!
//! Plain data: no I/O, nothing that knows about HTTP.

use base64::Engine;
use time::OffsetDateTime;

/// How the store can tell a body was corrupted on the way: a digest of
/// the body sent ahead of it, which the store recomputes and checks before
/// it keeps anything (a mismatch is a 400 `BadDigest` / `InvalidDigest`,
/// and nothing is stored).
///
/// [`Integrity::Crc32c`] is what this client's own uploads use. Garage
/// 2.x checks `Content-MD5`, a signed `x-amz-content-sha256` and every
/// `x-amz-checksum-*` (crc32, crc32c, crc64nvme, sha1, sha256) on PutObject
/// and UploadPart alike (`garage_api_common::signature::checksum`,
/// `ExpectedChecksums` → `Checksums::verify`), so any of them lets it
/// refuse a corrupted part; CRC32C costs least CPU on our side, where a
/// part's digest is one more pass over its bytes (the blob's own SHA-256
/// and MD5 are of the whole body, not of a part): measured here, CRC32C
/// (SSE 4.2) 10.8 GB/s on one core, SHA-256 (SHA-NI) 1.3–1.8 GB/s, MD5
/// about 0.6 GB/s (BENCHMARKS.md: SHA-256 + MD5 447 MB/s). On Garage's
/// side it is as cheap: Garage computes each part's MD5 for its ETag
/// anyway and adds only the CRC, where a signed SHA-256 would add a
/// SHA-256 pass. CRC32C catches the burst errors of bytes damaged on the
/// way; it is no defence against a forger, which TLS and the signature
/// are. (Run against Garage 2.5.0: a part sent with another part's CRC32C
/// is refused with 400, `tests/it/upstream.rs`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Nothing beyond TCP's and TLS's own checks.
    None,
    /// `x-amz-checksum-crc32c`: the body's CRC32C (Castagnoli).
    Crc32c(u32),
    /// `Content-MD5`: the body's MD5.
    Md5([u8; 16]),
    /// The body's SHA-256 as the signed payload hash
    /// (`x-amz-content-sha256`).
    Sha256([u8; 32]),
}

impl Integrity {
    /// [`Integrity::Crc32c`] of `bytes`.
    pub fn crc32c_of(bytes: &[u8]) -> Integrity {
        Integrity::Crc32c(crc32c::crc32c(bytes))
    }

    /// The header proving it, if it travels in one, as (name, value).
    pub(super) fn header(&self) -> Option<(&'static str, String)> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match self {
            Integrity::Crc32c(c) => Some(("x-amz-checksum-crc32c", b64(&c.to_be_bytes()))),
            Integrity::Md5(m) => Some(("content-md5", b64(m))),
            Integrity::None | Integrity::Sha256(_) => None,
        }
    }

    /// The payload hash to sign: the SHA-256 when given, else
    /// `UNSIGNED-PAYLOAD`.
    pub(super) fn payload_hash(&self) -> String {
        match self {
            Integrity::Sha256(h) => hex::encode(h),
            _ => crate::sigv4::string_to_sign::UNSIGNED_PAYLOAD.to_owned(),
        }
    }
}

/// The receipt of an uploaded part, which completing the upload repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1..=10000.
    pub number: u32,
    /// The ETag the store gave, as it gave it (quotes included).
    pub etag: String,
    /// The part's CRC32C, when it was sent with one: an upload begun by
    /// [`super::Client::create_multipart`] declares CRC32C, and S3 then
    /// wants every part's checksum again in the completion.
    pub crc32c: Option<u32>,
}

impl Part {
    /// The CRC32C as S3 writes it (base64 of the big-endian bytes).
    pub(super) fn crc32c_b64(&self) -> Option<String> {
        self.crc32c
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c.to_be_bytes()))
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: OffsetDateTime,
}

/// A multipart upload begun and neither completed nor aborted (a crashed
/// gateway's leftovers, for the cleaner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_travel_as_s3_writes_them() {
        // RFC 3720's CRC32C check value: "123456789" → 0xE3069283.
        let i = Integrity::crc32c_of(b"123456789");
        assert_eq!(i, Integrity::Crc32c(0xE306_9283));
        assert_eq!(
            i.header(),
            Some(("x-amz-checksum-crc32c", "4waSgw==".to_owned()))
        );
        assert_eq!(i.payload_hash(), "UNSIGNED-PAYLOAD");
        // MD5 of the empty string.
        let md5: [u8; 16] = hex::decode("d41d8cd98f00b204e9800998ecf8427e")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            Integrity::Md5(md5).header(),
            Some(("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".to_owned()))
        );
        let sha = [0xab; 32];
        assert_eq!(Integrity::Sha256(sha).header(), None);
        assert_eq!(Integrity::Sha256(sha).payload_hash(), "ab".repeat(32));
        let p = Part {
            number: 1,
            etag: "\"x\"".into(),
            crc32c: Some(0xE306_9283),
        };
        assert_eq!(p.crc32c_b64().as_deref(), Some("4waSgw=="));
    }
}
