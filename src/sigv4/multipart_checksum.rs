//! The checksum of an object put together from parts, as S3 computes it
//! on CompleteMultipartUpload from its parts' checksums (never from the
//! bytes again):
//! - **composite** (`COMPOSITE`): the algorithm over the concatenated
//!   binary part checksums, printed with `-<number of parts>`;
//! - **full object** (`FULL_OBJECT`, CRCs only): the CRC of the whole
//!   object, combined from the parts' CRCs and sizes (zlib's
//!   `crc32_combine`, for any reflected CRC whose initial value and final
//!   xor are all ones: CRC-32, CRC-32C, CRC-64/NVME).
//!
//! Must never read object bytes, or accept a part checksum that is not
//! the algorithm's length (the caller gets `None`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::checksum::ChecksumAlgorithm;

/// Whether S3 computes a full-object checksum for `alg` (the CRCs).
pub fn supports_full_object(alg: ChecksumAlgorithm) -> bool {
    reflected_poly(alg).is_some()
}

/// Whether S3 computes a composite checksum for `alg` (all but
/// CRC-64/NVME).
pub fn supports_composite(alg: ChecksumAlgorithm) -> bool {
    alg != ChecksumAlgorithm::Crc64Nvme
}

/// The composite checksum of parts whose checksums are `parts` (base64).
pub fn composite(alg: ChecksumAlgorithm, parts: &[String]) -> Option<String> {
    let mut c = alg.checksummer();
    for p in parts {
        c.update(&decode(alg, p)?);
    }
    Some(format!("{}-{}", c.finish(), parts.len()))
}

/// The full-object CRC of parts with these checksums (base64) and sizes.
pub fn full_object(alg: ChecksumAlgorithm, parts: &[(String, u64)]) -> Option<String> {
    let (poly, width) = reflected_poly(alg)?;
    let mut crc: Option<u64> = None;
    for (value, size) in parts {
        let bytes = decode(alg, value)?;
        let mut part = 0u64;
        for b in &bytes {
            part = (part << 8) | u64::from(*b);
        }
        crc = Some(match crc {
            None => part,
            Some(acc) => combine(acc, part, *size, poly, width),
        });
    }
    // No part at all: the CRC of nothing.
    let crc = crc.unwrap_or(0);
    let bytes = crc.to_be_bytes();
    Some(STANDARD.encode(&bytes[8 - width / 8..]))
}

fn decode(alg: ChecksumAlgorithm, value: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(value)
        .ok()
        .filter(|b| b.len() == alg.digest_len())
}

/// The reflected polynomial and width of a CRC algorithm.
fn reflected_poly(alg: ChecksumAlgorithm) -> Option<(u64, usize)> {
    match alg {
        ChecksumAlgorithm::Crc32 => Some((0xEDB8_8320, 32)),
        ChecksumAlgorithm::Crc32c => Some((0x82F6_3B78, 32)),
        ChecksumAlgorithm::Crc64Nvme => Some((0x9A6C_9329_AC4B_C9B5, 64)),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

/// The CRC of A followed by B, from CRC(A), CRC(B) and B's length.
fn combine(crc1: u64, crc2: u64, len2: u64, poly: u64, width: usize) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    // `odd`: the operator for one zero bit; squared for two, four, …
    let mut odd = vec![0u64; width];
    let mut even = vec![0u64; width];
    odd[0] = poly;
    let mut row = 1u64;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    square(&mut even, &odd); // two zero bits
    square(&mut odd, &even); // four zero bits
    let (mut crc1, mut len2) = (crc1, len2);
    loop {
        // Each round applies len2's next bit, in bytes (8 zero bits, …).
        square(&mut even, &odd);
        if len2 & 1 != 0 {
            crc1 = times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

fn times(mat: &[u64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn square(out: &mut [u64], mat: &[u64]) {
    for (n, slot) in out.iter_mut().enumerate() {
        *slot = times(mat, mat[n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = alg.checksummer();
        c.update(data);
        c.finish()
    }

    #[test]
    fn full_object_crcs_combine_to_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            for cuts in [
                vec![0, 100_000],
                vec![0, 1, 5000, 5001, 99_999, 100_000],
                vec![0, 0, 100_000],
            ] {
                let parts: Vec<(String, u64)> = cuts
                    .windows(2)
                    .map(|w| (sum(alg, &data[w[0]..w[1]]), (w[1] - w[0]) as u64))
                    .collect();
                assert_eq!(
                    full_object(alg, &parts),
                    Some(sum(alg, &data)),
                    "{alg:?} {cuts:?}"
                );
            }
        }
        assert_eq!(full_object(ChecksumAlgorithm::Sha256, &[]), None);
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        // AWS's documented example shape: "<base64>-<parts>".
        let a = sum(ChecksumAlgorithm::Crc32, b"hello ");
        let b = sum(ChecksumAlgorithm::Crc32, b"world");
        let mut raw = STANDARD.decode(&a).unwrap();
        raw.extend(STANDARD.decode(&b).unwrap());
        let want = format!("{}-2", sum(ChecksumAlgorithm::Crc32, &raw));
        assert_eq!(composite(ChecksumAlgorithm::Crc32, &[a, b]), Some(want));
        assert_eq!(composite(ChecksumAlgorithm::Crc32, &["bad".into()]), None);
        assert!(!supports_composite(ChecksumAlgorithm::Crc64Nvme));
        assert!(!supports_full_object(ChecksumAlgorithm::Sha1));
    }
}
