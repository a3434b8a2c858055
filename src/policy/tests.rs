use super::*;

const B: &str = "photos";

fn parse(json: &str) -> Result<Policy, PolicyError> {
    Policy::parse(json, B)
}

fn verdict(p: &Policy, who: Who<'_>, action: &str, key: Option<&str>, ctx: &Context) -> Decision {
    let resource = arn(B, key);
    p.evaluate(&Request {
        who,
        action,
        resource: &resource,
        context: ctx,
    })
}

const PUBLIC_READ: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
    "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::photos/public/*"]
  }]
}"#;

#[test]
fn an_allow_matches_its_principal_action_and_resource_only() {
    let p = parse(PUBLIC_READ).unwrap();
    let ctx = Context::new();
    let anon = Who::Anonymous;
    assert_eq!(
        verdict(&p, anon, "s3:GetObject", Some("public/a.png"), &ctx),
        Decision::Allow
    );
    assert_eq!(
        verdict(&p, Who::Key("AK1"), "s3:GetObject", Some("public/a"), &ctx),
        Decision::Allow
    );
    assert_eq!(
        verdict(&p, anon, "s3:GetObject", Some("private/a.png"), &ctx),
        Decision::NoOpinion
    );
    assert_eq!(
        verdict(&p, anon, "s3:PutObject", Some("public/a.png"), &ctx),
        Decision::NoOpinion
    );
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::NoOpinion
    );
    assert!(p.is_public());
}

#[test]
fn an_explicit_deny_wins_over_an_allow() {
    let p = parse(
        r#"{"Statement": [
          {"Effect": "Allow", "Principal": {"AWS": ["AKALICE", "arn:aws:iam::123456789012:user/AKBOB"]},
           "Action": "s3:*", "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
          {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject*",
           "Resource": "arn:aws:s3:::photos/keep/*"}
        ]}"#,
    )
    .unwrap();
    let ctx = Context::new();
    let alice = Who::Key("AKALICE");
    assert_eq!(
        verdict(&p, alice, "s3:DeleteObject", Some("tmp/x"), &ctx),
        Decision::Allow
    );
    assert_eq!(
        verdict(&p, alice, "s3:DeleteObject", Some("keep/x"), &ctx),
        Decision::Deny
    );
    assert_eq!(
        verdict(&p, alice, "s3:DeleteObjectVersion", Some("keep/x"), &ctx),
        Decision::Deny
    );
    assert_eq!(
        verdict(&p, Who::Key("AKBOB"), "s3:ListBucket", None, &ctx),
        Decision::Allow
    );
    assert_eq!(
        verdict(&p, Who::Key("AKEVE"), "s3:GetObject", Some("x"), &ctx),
        Decision::NoOpinion
    );
    assert_eq!(
        verdict(&p, Who::Anonymous, "s3:DeleteObject", Some("keep/x"), &ctx),
        Decision::Deny
    );
    assert!(!p.is_public());
    assert_eq!(p.named_keys(), vec!["AKALICE", "AKBOB"]);
}

#[test]
fn conditions_decide_with_the_request_context() {
    let p = parse(
        r#"{"Statement": [
          {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
           "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
           "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
          {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
           "Resource": "arn:aws:s3:::photos",
           "Condition": {"StringLike": {"s3:prefix": ["", "shared/*"]},
                         "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
        ]}"#,
    )
    .unwrap();
    let mut ctx = Context::new();
    ctx.set("aws:SecureTransport", "true")
        .set("aws:SourceIp", "10.1.2.3")
        .set("s3:prefix", "shared/2026/");
    let anon = Who::Anonymous;
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::Allow
    );
    ctx.set("s3:prefix", "private/");
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::NoOpinion
    );
    ctx.set("s3:prefix", "");
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::Allow
    );
    ctx.set("aws:SourceIp", "192.0.2.1");
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::NoOpinion
    );
    ctx.set("aws:SourceIp", "10.1.2.3")
        .set("aws:SecureTransport", "false");
    assert_eq!(
        verdict(&p, anon, "s3:ListBucket", None, &ctx),
        Decision::Deny
    );
    // An address range of a /8 pins who may use it: not public.
    assert!(!p.is_public());
}

#[test]
fn not_action_not_resource_and_not_principal() {
    let p = parse(
        r#"{"Statement": [
          {"Effect": "Deny", "NotPrincipal": {"AWS": "AKADMIN"}, "NotAction": "s3:Get*",
           "Resource": "arn:aws:s3:::photos/*"},
          {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
           "NotResource": "arn:aws:s3:::photos/secret/*"}
        ]}"#,
    )
    .unwrap();
    let ctx = Context::new();
    let anon = Who::Anonymous;
    assert_eq!(
        verdict(&p, anon, "s3:PutObject", Some("a"), &ctx),
        Decision::Deny
    );
    assert_eq!(
        verdict(&p, Who::Key("AKADMIN"), "s3:PutObject", Some("a"), &ctx),
        Decision::NoOpinion
    );
    assert_eq!(
        verdict(&p, anon, "s3:GetObject", Some("a"), &ctx),
        Decision::Allow
    );
    assert_eq!(
        verdict(&p, anon, "s3:GetObject", Some("secret/a"), &ctx),
        Decision::NoOpinion
    );
}

#[test]
fn malformed_policies_are_refused_with_aws_messages() {
    let cases: &[(&str, &str)] = &[
        ("[]", "first byte must be '{'"),
        ("{", "valid JSON"),
        (
            r#"{"Version": "2012-10-17"}"#,
            "Missing required field Statement",
        ),
        (r#"{"Statement": []}"#, "Missing required field Statement"),
        (
            r#"{"Statement": {"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Missing required field Effect",
        ),
        (
            r#"{"Statement": {"Effect": "Permit", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Invalid effect",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Missing required field Principal",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Invalid principal in policy",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Policy has invalid action",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ec2:*", "Resource": "arn:aws:s3:::photos/*"}}"#,
            "Policy has invalid action",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::videos/*"}}"#,
            "Policy has invalid resource",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#,
            "Policy has invalid resource",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::photos"}}"#,
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::photos"}}"#,
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*", "Condition": {"StringKindOf": {"s3:prefix": "a"}}}}"#,
            "Invalid Condition type",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*", "Extra": 1}}"#,
            "Unknown field Extra",
        ),
        (
            r#"{"Statement": [{"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}, {"Sid": "a", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}"#,
            "must be unique",
        ),
        (
            r#"{"Version": "2020-01-01", "Statement": []}"#,
            "Invalid policy version",
        ),
    ];
    for (json, message) in cases {
        let err = parse(json).expect_err(json);
        assert!(err.to_string().contains(message), "{json}: {err}");
    }
    let big = format!(
        r#"{{"Id": "{}", "Statement": {{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}}}}"#,
        "x".repeat(MAX_POLICY_BYTES)
    );
    assert!(parse(&big).unwrap_err().to_string().contains("at most"));
}

#[test]
fn wildcard_resources_name_buckets_objects_or_both() {
    for ok in [
        "arn:aws:s3:::photos*",
        "arn:aws:s3:::pho?os/*",
        "arn:aws:s3:::*",
    ] {
        let json = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Principal": "*", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "{ok}"}}}}"#
        );
        assert!(parse(&json).is_ok(), "{ok}");
    }
}
