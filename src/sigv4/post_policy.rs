//! Browser-based uploads (S3 POST Object): the signature of a POST policy
//! and the policy's conditions.
//!
//! The string a form signs is its base64 `policy` field itself: with SigV4,
//! `hex(HMAC-SHA256(signing key, policy))` in `x-amz-signature`; with
//! SigV2, `base64(HMAC-SHA1(secret, policy))` in `signature`. The policy
//! (JSON) holds an expiration and conditions every form field must meet.
//!
//! Pure: form fields come in as (lowercase name, value) pairs, the clock as
//! a parameter. Signatures are compared in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::credential::Credential;
use super::error::AuthError;
use super::key::{signature, signing_key};
use super::v2::sign_v2;

/// Form fields no policy condition needs to name (S3's list): the
/// signature itself, the policy, the file, and `x-ignore-*`.
const EXEMPT: [&str; 5] = [
    "policy",
    "x-amz-signature",
    "signature",
    "awsaccesskeyid",
    "file",
];

/// A form's verified authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAuth {
    pub access_key_id: String,
    /// The policy, base64 as the form carried it.
    pub policy_b64: String,
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The access key a form claims to be signed with (SigV4: the first part
/// of its `x-amz-credential`; SigV2: its `AWSAccessKeyId`), read without
/// checking anything else: the key whose secret the caller looks up before
/// [`verify_post_signature`], which judges the form (and the claim).
pub fn post_key_id(fields: &[(String, String)]) -> Option<&str> {
    if field(fields, "x-amz-signature").is_some() {
        Credential::parse(field(fields, "x-amz-credential")?).map(|c| c.access_key_id)
    } else {
        field(fields, "awsaccesskeyid")
    }
}

/// Checks a form's signature (SigV4 if it has `x-amz-signature`, else
/// SigV2) against `secret_for(access key id)`.
pub fn verify_post_signature(
    fields: &[(String, String)],
    secret_for: impl Fn(&str) -> Option<String>,
    region: &str,
) -> Result<PostAuth, AuthError> {
    let signed = field(fields, "x-amz-signature").is_some() || field(fields, "signature").is_some();
    if !signed {
        // An unsigned form is an anonymous write: refused as S3 does.
        return Err(AuthError::AccessDenied(
            "Anonymous uploads are not allowed: sign the form's POST policy (x-amz-signature \
             with x-amz-credential, x-amz-algorithm and x-amz-date, or AWSAccessKeyId and \
             signature)"
                .into(),
        ));
    }
    let policy = field(fields, "policy").ok_or_else(|| {
        AuthError::InvalidArgument(
            "Bucket POST must contain a field named 'policy' (the base64 POST policy the form \
             signs)"
                .into(),
        )
    })?;
    if let Some(given) = field(fields, "x-amz-signature") {
        let algorithm = field(fields, "x-amz-algorithm").unwrap_or("");
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(AuthError::InvalidArgument(format!(
                "x-amz-algorithm must be AWS4-HMAC-SHA256, not '{algorithm}'"
            )));
        }
        let raw = field(fields, "x-amz-credential").ok_or_else(|| {
            AuthError::InvalidArgument(
                "Bucket POST must contain a field named 'x-amz-credential'".into(),
            )
        })?;
        let c = Credential::parse(raw)
            .filter(|c| c.service == "s3" && c.terminator == "aws4_request")
            .ok_or_else(|| {
                AuthError::InvalidArgument(format!(
                    "x-amz-credential '{raw}' is not <key id>/<yyyymmdd>/<region>/s3/aws4_request"
                ))
            })?;
        if c.region != region {
            return Err(AuthError::InvalidArgument(format!(
                "the region '{}' in x-amz-credential is wrong; expecting '{region}'",
                c.region
            )));
        }
        let secret = secret_for(c.access_key_id).ok_or(AuthError::InvalidAccessKeyId)?;
        let expected = signature(&signing_key(&secret, c.date, c.region, c.service), policy);
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        return Ok(PostAuth {
            access_key_id: c.access_key_id.to_string(),
            policy_b64: policy.to_string(),
        });
    }
    let (Some(key_id), Some(given)) = (field(fields, "awsaccesskeyid"), field(fields, "signature"))
    else {
        return Err(AuthError::AccessDenied(
            "Bucket POST must be signed: give x-amz-signature with x-amz-credential, \
             x-amz-algorithm and x-amz-date (SigV4), or AWSAccessKeyId and signature (SigV2)"
                .into(),
        ));
    };
    let secret = secret_for(key_id).ok_or(AuthError::InvalidAccessKeyId)?;
    let expected = sign_v2(&secret, policy);
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(AuthError::SignatureDoesNotMatch);
    }
    Ok(PostAuth {
        access_key_id: key_id.to_string(),
        policy_b64: policy.to_string(),
    })
}

/// One policy condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The field (lowercase, without `$`) equals the value.
    Eq(String, String),
    /// The field starts with the prefix.
    StartsWith(String, String),
    /// The file's size in bytes lies within (min, max).
    LengthRange(u64, u64),
}

/// A decoded POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub expiration: OffsetDateTime,
    pub conditions: Vec<Condition>,
}

/// Why a form does not meet its policy; rendered as S3 words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy itself is not a valid document.
    #[error("Invalid Policy: {0}")]
    Invalid(String),
    #[error("Invalid according to Policy: Policy expired.")]
    Expired,
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    ConditionFailed(String),
    #[error("Invalid according to Policy: Extra input fields: {0}")]
    ExtraFields(String),
}

/// A condition's operand: `$name` → `name` in lowercase.
fn operand(v: &serde_json::Value) -> Result<String, PolicyError> {
    v.as_str()
        .and_then(|s| s.strip_prefix('$'))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| PolicyError::Invalid(format!("{v} is not a field reference like \"$key\"")))
}

fn number(v: &serde_json::Value) -> Result<u64, PolicyError> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| PolicyError::Invalid(format!("{v} is not a size in bytes")))
}

/// Decodes a base64 policy document.
pub fn parse_policy(b64: &str) -> Result<Policy, PolicyError> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| PolicyError::Invalid("the policy is not valid base64".into()))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| PolicyError::Invalid(format!("the policy is not JSON: {e}")))?;
    let expiration = doc
        .get("expiration")
        .and_then(|v| v.as_str())
        .ok_or_else(|| PolicyError::Invalid("Policy missing expiration".into()))?;
    let expiration =
        OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                PolicyError::Invalid(format!(
                    "expiration '{expiration}' is not a time like 2026-11-26T12:00:00.000Z"
                ))
            },
        )?;
    let list = doc
        .get("conditions")
        .and_then(|v| v.as_array())
        .ok_or_else(|| PolicyError::Invalid("Policy missing conditions".into()))?;
    let mut conditions = Vec::new();
    for c in list {
        match c {
            serde_json::Value::Object(m) => {
                for (name, value) in m {
                    let value = value.as_str().ok_or_else(|| {
                        PolicyError::Invalid(format!("condition {c} must have a string value"))
                    })?;
                    conditions.push(Condition::Eq(name.to_ascii_lowercase(), value.to_string()));
                }
            }
            serde_json::Value::Array(a) => {
                let op = a
                    .first()
                    .and_then(|o| o.as_str())
                    .map(str::to_ascii_lowercase);
                match (op.as_deref(), a.len()) {
                    (Some("eq"), 3) => conditions.push(Condition::Eq(
                        operand(&a[1])?,
                        a[2].as_str().unwrap_or_default().to_string(),
                    )),
                    (Some("starts-with"), 3) => conditions.push(Condition::StartsWith(
                        operand(&a[1])?,
                        a[2].as_str().unwrap_or_default().to_string(),
                    )),
                    (Some("content-length-range"), 3) => {
                        conditions.push(Condition::LengthRange(number(&a[1])?, number(&a[2])?))
                    }
                    _ => {
                        return Err(PolicyError::Invalid(format!(
                            "condition {c} is not one of eq, starts-with, content-length-range"
                        )))
                    }
                }
            }
            _ => return Err(PolicyError::Invalid(format!("condition {c} is not valid"))),
        }
    }
    Ok(Policy {
        expiration,
        conditions,
    })
}

impl Policy {
    /// Checks every condition against the form's `fields` (lowercase
    /// names; `bucket` is the bucket the form was posted to) at `now`, and
    /// that every field a condition must name is named. Returns the allowed
    /// file size range, `(0, u64::MAX)` without `content-length-range`.
    pub fn check(
        &self,
        fields: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<(u64, u64), PolicyError> {
        if now > self.expiration {
            return Err(PolicyError::Expired);
        }
        let mut range = (0, u64::MAX);
        for c in &self.conditions {
            match c {
                Condition::Eq(name, want) => {
                    if field(fields, name).unwrap_or("") != want {
                        return Err(PolicyError::ConditionFailed(format!(
                            "[\"eq\", \"${name}\", \"{want}\"]"
                        )));
                    }
                }
                Condition::StartsWith(name, prefix) => {
                    let value = field(fields, name).unwrap_or("");
                    // Content-Type may list several types; each must match.
                    let ok = if name == "content-type" {
                        value
                            .split(',')
                            .all(|v| v.trim().starts_with(prefix.as_str()))
                    } else {
                        value.starts_with(prefix.as_str())
                    };
                    if !ok {
                        return Err(PolicyError::ConditionFailed(format!(
                            "[\"starts-with\", \"${name}\", \"{prefix}\"]"
                        )));
                    }
                }
                Condition::LengthRange(min, max) => range = (*min, *max),
            }
        }
        let named = |n: &str| {
            self.conditions.iter().any(|c| match c {
                Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == n,
                Condition::LengthRange(..) => false,
            })
        };
        let extra: Vec<&str> = fields
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !EXEMPT.contains(n) && !n.starts_with("x-ignore-") && *n != "bucket")
            .filter(|n| !named(n))
            .collect();
        if !extra.is_empty() {
            return Err(PolicyError::ExtraFields(extra.join(", ")));
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect()
    }

    /// The policy of AWS's published SigV4 POST example, as its page gives it.
    const AWS_POLICY: &str = r#"{ "expiration": "2015-12-30T12:00:00.000Z",
  "conditions": [
    {"bucket": "sigv4examplebucket"},
    ["starts-with", "$key", "user/user1/"],
    {"acl": "public-read"},
    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
    ["starts-with", "$Content-Type", "image/"],
    {"x-amz-meta-uuid": "14365123651274"},
    {"x-amz-server-side-encryption": "AES256"},
    ["starts-with", "$x-amz-meta-tag", ""],

    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
    {"x-amz-date": "20151229T000000Z" }
  ]
}"#;

    fn aws_form(policy_b64: &str, signature: &str) -> Vec<(String, String)> {
        f(&[
            ("key", "user/user1/photo.jpg"),
            ("acl", "public-read"),
            (
                "success_action_redirect",
                "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
            ),
            ("Content-Type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("x-amz-server-side-encryption", "AES256"),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            ),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Date", "20151229T000000Z"),
            ("x-amz-meta-tag", ""),
            ("Policy", policy_b64),
            ("X-Amz-Signature", signature),
            ("bucket", "sigv4examplebucket"),
        ])
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn secret_for(k: &str) -> Option<String> {
        (k == "AKIAIOSFODNN7EXAMPLE").then(|| SECRET.to_string())
    }

    #[test]
    fn the_aws_example_form_verifies_and_meets_its_policy() {
        let b64 = STANDARD.encode(AWS_POLICY);
        let sig = signature(&signing_key(SECRET, "20151229", "us-east-1", "s3"), &b64);
        let form = aws_form(&b64, &sig);
        let auth = verify_post_signature(&form, secret_for, "us-east-1").unwrap();
        assert_eq!(auth.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        let policy = parse_policy(&auth.policy_b64).unwrap();
        assert_eq!(policy.conditions.len(), 11);
        let before = time::macros::datetime!(2015-12-30 11:59 UTC);
        assert_eq!(policy.check(&form, before), Ok((0, u64::MAX)));
        let after = time::macros::datetime!(2015-12-30 12:01 UTC);
        assert_eq!(policy.check(&form, after), Err(PolicyError::Expired));
    }

    #[test]
    fn a_third_party_sigv4_vector_verifies() {
        // From the npm package s3-post-policy's README: an independent
        // implementation's output for the same example key.
        let b64 = "eyJleHBpcmF0aW9uIjoiMjAxMy0wOC0wNlQxMjowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W3siYWNsIjoicHVibGljLXJlYWQifSxbInN0YXJ0cy13aXRoIiwiJENvbnRlbnQtVHlwZSIsImltYWdlLyJdLFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXNlci91c2VyMS8iXSxbInN0YXJ0cy13aXRoIiwiJHgtYW16LW1ldGEtdGFnIiwiIl0seyJ4LWFtei1tZXRhLXV1aWQiOiIxNDM2NTEyMzY1MTI3NCJ9LHsiYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LHsieC1hbXotYWxnb3JpdGhtIjoiQVdTNC1ITUFDLVNIQTI1NiJ9LHsieC1hbXotY3JlZGVudGlhbCI6IkFLSUFJT1NGT0ROTjdFWEFNUExFLzIwMTMwODA2L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QifSx7IngtYW16LWRhdGUiOiIyMDEzMDgwNlQxMjAwMDBaIn1dfQ==";
        let form = f(&[
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20130806/us-east-1/s3/aws4_request",
            ),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("policy", b64),
            (
                "x-amz-signature",
                "5bc8a7be4a6fc6445b94d0f4096f8cf3dfa00303529f8a68ea7dc0c23bb83cd9",
            ),
        ]);
        verify_post_signature(&form, secret_for, "us-east-1").unwrap();
    }

    #[test]
    fn wrong_signatures_keys_and_regions_are_refused() {
        let b64 = STANDARD.encode(AWS_POLICY);
        let sig = signature(&signing_key(SECRET, "20151229", "us-east-1", "s3"), &b64);
        let mut form = aws_form(&b64, &sig);
        assert!(matches!(
            verify_post_signature(&form, secret_for, "eu-west-1"),
            Err(AuthError::InvalidArgument(_))
        ));
        assert_eq!(
            verify_post_signature(&form, |_| None, "us-east-1"),
            Err(AuthError::InvalidAccessKeyId)
        );
        // A policy changed after signing.
        let other = STANDARD.encode(AWS_POLICY.replace("user1", "user2"));
        form.iter_mut()
            .filter(|(n, _)| n == "policy")
            .for_each(|(_, v)| *v = other.clone());
        assert_eq!(
            verify_post_signature(&form, secret_for, "us-east-1"),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn sigv2_forms_verify() {
        let b64 = STANDARD.encode(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#);
        let sig = sign_v2(SECRET, &b64);
        let form = f(&[
            ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
            ("policy", &b64),
            ("signature", &sig),
        ]);
        verify_post_signature(&form, secret_for, "us-east-1").unwrap();
        let bad = f(&[
            ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
            ("policy", &b64),
            ("signature", "AAAA"),
        ]);
        assert_eq!(
            verify_post_signature(&bad, secret_for, "us-east-1"),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn each_condition_is_enforced_and_unnamed_fields_are_refused() {
        let policy = parse_policy(&STANDARD.encode(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[
                {"bucket":"b"},["eq","$key","a/b"],["starts-with","$Content-Type","image/"],
                ["content-length-range",10,"2000"]]}"#,
        ))
        .unwrap();
        let now = time::macros::datetime!(2026-11-26 12:00 UTC);
        let good = f(&[
            ("bucket", "b"),
            ("key", "a/b"),
            ("content-type", "image/png"),
            ("policy", "p"),
        ]);
        assert_eq!(policy.check(&good, now), Ok((10, 2000)));
        for (field, value, needle) in [
            ("bucket", "c", "$bucket"),
            ("key", "a/c", "$key"),
            ("content-type", "text/plain", "$content-type"),
        ] {
            let mut form = good.clone();
            form.iter_mut()
                .filter(|(n, _)| n == field)
                .for_each(|(_, v)| *v = value.into());
            let e = policy.check(&form, now).unwrap_err();
            assert!(matches!(e, PolicyError::ConditionFailed(_)), "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
        let mut extra = good.clone();
        extra.push(("x-amz-meta-sneaky".into(), "1".into()));
        assert_eq!(
            policy.check(&extra, now),
            Err(PolicyError::ExtraFields("x-amz-meta-sneaky".into()))
        );
        // x-ignore-* fields need no condition.
        let mut ignored = good.clone();
        ignored.push(("x-ignore-submit".into(), "Upload".into()));
        assert!(policy.check(&ignored, now).is_ok());
        for bad in ["not base64!", "bm90IGpzb24=", "e30="] {
            assert!(
                matches!(parse_policy(bad), Err(PolicyError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
