//! Multipart checksums driven by real clients: boto3
//! (`tests/interop/versioning.py`, section `checksums`) and the AWS CLI.

use crate::interop::Interop;

/// CreateMultipartUpload's ChecksumAlgorithm and ChecksumType, per-part
/// CRC32s, composite and full-object checksums on completion, HEAD/GET
/// with ChecksumMode, ListParts and GetObjectAttributes, through boto3.
#[test]
fn boto3_multipart_checksums() {
    let t = Interop::start();
    t.python("versioning.py", &["checksums"]);
}

/// `aws s3 cp --checksum-algorithm CRC32` of a file large enough to go in
/// parts: the object answers `head-object --checksum-mode ENABLED` with
/// its composite CRC32 (`…-<parts>`), and `get-object-attributes` with
/// each part's.
#[test]
fn aws_cli_multipart_checksums() {
    let t = Interop::start();
    let bucket = "cli-sums";
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    let file = t.dir.path().join("big.bin");
    let data: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let target = format!("s3://{bucket}/big.bin");
    t.aws(&[
        "s3",
        "cp",
        file.to_str().unwrap(),
        &target,
        "--checksum-algorithm",
        "CRC32",
    ]);
    let head = t.s3api(&[
        "head-object",
        "--bucket",
        bucket,
        "--key",
        "big.bin",
        "--checksum-mode",
        "ENABLED",
    ]);
    let sum = head["ChecksumCRC32"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parts: usize = head["ETag"]
        .as_str()
        .and_then(|e| e.trim_matches('"').split_once('-'))
        .and_then(|(_, n)| n.parse().ok())
        .expect("a multipart ETag");
    assert!(sum.ends_with(&format!("-{parts}")), "{head}");
    assert_eq!(head["ChecksumType"], "COMPOSITE", "{head}");
    let attrs = t.s3api(&[
        "get-object-attributes",
        "--bucket",
        bucket,
        "--key",
        "big.bin",
        "--object-attributes",
        "Checksum",
        "ObjectParts",
    ]);
    assert_eq!(attrs["Checksum"]["ChecksumCRC32"], sum.as_str(), "{attrs}");
    let listed = attrs["ObjectParts"]["Parts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), parts, "{attrs}");
    assert!(
        listed.iter().all(|p| p["ChecksumCRC32"].is_string()),
        "{attrs}"
    );
    let back = t.dir.path().join("back.bin");
    t.aws(&["s3", "cp", &target, back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
}
