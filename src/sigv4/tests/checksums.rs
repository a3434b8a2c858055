//! `x-amz-checksum-*` computations against published check values.
//!
//! Owns: known-answer tests of [`crate::sigv4::checksum`]: the values the brief and S3/botocore
//! use for "hello world", the CRC catalogue check values of "123456789", the iSCSI (RFC 3720)
//! CRC32C vector, the NVMe-spec CRC64 vectors (as in SPDK's and AWS CRT's tests), and the
//! streaming property (any split gives the same result).
//! Must never: derive an expected value from the code under test.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::sigv4::{ChecksumAlgorithm, Checksummer};

fn b64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut c = Checksummer::new(alg);
    c.update(data);
    c.finish()
}

fn be_hex(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut c = Checksummer::new(alg);
    c.update(data);
    hex::encode(c.finish_bytes())
}

#[test]
fn hello_world() {
    use ChecksumAlgorithm::*;
    // CRC32/CRC32C: the values botocore sends for b"hello world" (DUoRhQ== was captured from
    // botocore in botocore-vectors.json). SHA-1/SHA-256: FIPS digests of "hello world".
    assert_eq!(b64(Crc32, b"hello world"), "DUoRhQ==");
    assert_eq!(b64(Crc32c, b"hello world"), "yZRlqg==");
    assert_eq!(b64(Sha1, b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
    assert_eq!(
        b64(Sha256, b"hello world"),
        "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
    );
}

#[test]
fn crc_catalogue_check_values() {
    use ChecksumAlgorithm::*;
    // reveng CRC catalogue "check" = CRC of ASCII "123456789".
    assert_eq!(be_hex(Crc32, b"123456789"), "cbf43926");
    assert_eq!(be_hex(Crc32c, b"123456789"), "e3069283");
    assert_eq!(be_hex(Crc64Nvme, b"123456789"), "ae8b14860a799888");
    // RFC 3720 B.4: 32 bytes of zeros -> CRC32C aa36918a (little-endian in the RFC's table,
    // i.e. 0x8a9136aa).
    assert_eq!(be_hex(Crc32c, &[0u8; 32]), "8a9136aa");
    // NVMe command set spec vectors (SPDK test_crc64_nvme; AWS CRT aws-checksums).
    assert_eq!(be_hex(Crc64Nvme, &[0u8; 4096]), "6482d367eb22b64e");
    assert_eq!(be_hex(Crc64Nvme, &[0xffu8; 4096]), "c0ddba7302eca3ac");
    assert_eq!(be_hex(Crc64Nvme, &[0u8; 32]), "cf3473434d4ecf3b");
    assert_eq!(b64(Crc64Nvme, b""), "AAAAAAAAAAA=");
    assert_eq!(b64(Crc32, b""), "AAAAAA==");
}

#[test]
fn streaming_equals_one_shot() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    for alg in ChecksumAlgorithm::ALL {
        let whole = b64(alg, &data);
        for split in [1, 3, 64, 4096, 65_537] {
            let mut c = alg.checksummer();
            for piece in data.chunks(split) {
                c.update(piece);
            }
            assert_eq!(c.algorithm(), alg);
            assert_eq!(c.finish(), whole, "{alg:?} split {split}");
        }
        let decoded = STANDARD.decode(&whole).unwrap();
        assert_eq!(decoded.len(), alg.digest_len());
        assert!(alg.is_valid_value(&whole));
    }
}

#[test]
fn names() {
    use ChecksumAlgorithm::*;
    for alg in ChecksumAlgorithm::ALL {
        assert_eq!(
            ChecksumAlgorithm::from_header_name(alg.header_name()),
            Some(alg)
        );
        assert_eq!(ChecksumAlgorithm::from_name(alg.name()), Some(alg));
    }
    assert_eq!(
        ChecksumAlgorithm::from_header_name("X-Amz-Checksum-CRC32C"),
        Some(Crc32c)
    );
    assert_eq!(
        ChecksumAlgorithm::from_header_name("x-amz-checksum-crc64nvme"),
        Some(Crc64Nvme)
    );
    assert_eq!(ChecksumAlgorithm::from_name("crc32"), Some(Crc32));
    for bad in [
        "x-amz-checksum-md5",
        "x-amz-checksum-",
        "x-amz-checksum-type",
        "crc32",
        "x-amz-crc32",
    ] {
        assert_eq!(ChecksumAlgorithm::from_header_name(bad), None, "{bad}");
    }
    assert_eq!(ChecksumAlgorithm::from_name("MD5"), None);
    assert!(!Crc32.is_valid_value("DUoRhQ"));
    assert!(!Crc32.is_valid_value("DUoRhQ==="));
    assert!(!Crc32.is_valid_value("AAAAAAAAAAA="));
    assert!(!Sha256.is_valid_value("DUoRhQ=="));
    assert_eq!(
        format!("{:?}", Crc32.checksummer()),
        "Checksummer { algorithm: Crc32 }"
    );
}
