//! Bucket policies and PublicAccessBlock driven by real clients: boto3
//! (`tests/interop/versioning.py`, section `policy`) and the AWS CLI.

use crate::interop::{second_key, Interop};

/// Bucket policies and PublicAccessBlock through boto3, with a second key
/// made with `stowage key create` as the policy's principal.
#[test]
fn boto3_policies() {
    let t = Interop::start();
    let (id, secret) = second_key(&t);
    t.python_with(
        "versioning.py",
        &["policy"],
        &[("STOWAGE_KEY2_ID", &id), ("STOWAGE_KEY2_SECRET", &secret)],
    );
}

/// The AWS CLI's policy commands: put-bucket-policy from a file,
/// get-bucket-policy, get-bucket-policy-status, put/get/delete of the
/// PublicAccessBlock, and the refusal of a public policy under it.
#[test]
fn aws_cli_policies() {
    let t = Interop::start();
    let bucket = "cli-policy";
    t.aws(&["s3", "mb", &format!("s3://{bucket}")]);
    let file = t.dir.path().join("policy.json");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]
    });
    std::fs::write(&file, policy.to_string()).unwrap();
    let from_file = format!("file://{}", file.display());
    t.aws(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        bucket,
        "--policy",
        &from_file,
    ]);
    let got = t.s3api(&["get-bucket-policy", "--bucket", bucket]);
    let text = got["Policy"].as_str().unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed, policy);
    let status = t.s3api(&["get-bucket-policy-status", "--bucket", bucket]);
    assert_eq!(status["PolicyStatus"]["IsPublic"], true, "{status}");
    t.aws(&[
        "s3api",
        "put-public-access-block",
        "--bucket",
        bucket,
        "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ]);
    let pab = t.s3api(&["get-public-access-block", "--bucket", bucket]);
    assert_eq!(
        pab["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], true,
        "{pab}"
    );
    let refused = t.aws_output(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        bucket,
        "--policy",
        &from_file,
    ]);
    assert!(!refused.status.success());
    let stderr = &refused.stderr;
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    t.aws(&["s3api", "delete-bucket-policy", "--bucket", bucket]);
    t.aws(&["s3api", "delete-public-access-block", "--bucket", bucket]);
    let gone = t.aws_output(&["s3api", "get-bucket-policy", "--bucket", bucket]);
    assert!(
        gone.stderr.contains("NoSuchBucketPolicy"),
        "{}",
        gone.stderr
    );
}
