//! The `*_key_id` functions read the key a request claims before it is verified (so the
//! caller can fetch that key's secret first): on every request, valid or not, they name the
//! key the verifier asks `secret_for` about, and verifying with a [`ClaimedSecret`] looked up
//! for that claim decides exactly as verifying with the secrets themselves.
//!
//! Owns: the agreement of each claim function with its verifier.
//! Must never: use the wall clock.

use std::cell::RefCell;

use time::macros::datetime;
use time::OffsetDateTime;

use crate::sigv4::post_policy::{post_key_id, verify_post_signature};
use crate::sigv4::{
    header_key_id, presign, presign_v2, presigned_key_id, v2_header_key_id, v2_query_key_id,
    verify_header_auth, verify_presigned, verify_v2_header, verify_v2_query, AuthError,
    ClaimedSecret, Credentials, PresignParams, PresignV2Params, RequestParts, VerifyParams,
};

const AKID: &str = "AKIDCLAIMED";
const SECRET: &str = "claimed/secret+value";
const NOW: OffsetDateTime = datetime!(2024-03-01 10:00:00 UTC);
const VP: VerifyParams<'static> = VerifyParams {
    region: "us-east-1",
    service: "s3",
};

fn secret_for(id: &str) -> Option<String> {
    (id == AKID).then(|| SECRET.to_owned())
}

fn creds(id: &str) -> Credentials {
    Credentials {
        access_key_id: id.into(),
        secret_access_key: SECRET.into(),
    }
}

/// The key a verifier asks `secret_for` about, if it gets that far.
fn asked<T>(verify: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> T) -> Option<String> {
    let asked = RefCell::new(None);
    let _ = verify(&|k: &str| {
        *asked.borrow_mut() = Some(k.to_owned());
        None
    });
    asked.into_inner()
}

/// What the caller looks up for a claim: the secret, if the claimed key has one.
fn looked_up(claim: Option<&str>) -> ClaimedSecret {
    match claim.and_then(|k| secret_for(k).map(|s| (k, s))) {
        Some((k, s)) => ClaimedSecret::known(k, s),
        None => ClaimedSecret::default(),
    }
}

/// The claim agrees with the verifier, and the looked-up secret decides as the secrets do.
fn agrees<T>(
    what: &str,
    claim: Option<&str>,
    verify: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, AuthError>,
) {
    if let Some(k) = asked(&verify) {
        assert_eq!(claim, Some(k.as_str()), "{what}");
    }
    let secret = looked_up(claim);
    let direct = verify(&secret_for).map(|_| ());
    let via_claim = verify(&|k: &str| secret.secret_for(k)).map(|_| ());
    assert_eq!(direct, via_claim, "{what}");
}

fn req<'a>(query: &'a str, headers: &'a [(String, String)]) -> RequestParts<'a> {
    RequestParts {
        method: "PUT",
        raw_path: "/b/k",
        raw_query: query,
        headers,
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn presigned_claims_agree_with_the_verifier() {
    let signed = |id: &str| {
        presign(
            &creds(id),
            &PresignParams {
                method: "PUT",
                host: "h",
                path: "/b/k",
                region: "us-east-1",
                service: "s3",
                expires_secs: 600,
                extra_query: &[],
                extra_signed_headers: &[],
            },
            NOW,
        )
    };
    let good = signed(AKID);
    let other = signed("AKIDOTHER");
    let cred = format!("X-Amz-Credential={AKID}%2F20240301%2Fus-east-1%2Fs3%2Faws4_request");
    let cases = [
        good.clone(),
        other,
        format!("{good}&{cred}"),
        good.replace("aws4_request", "aws5_request"),
        good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        good.replace(&format!("X-Amz-Credential={AKID}"), "X-Amz-Credential="),
        good.replace("X-Amz-Credential", "X-Amz-Cred"),
        format!("{good}&%zz"),
        String::new(),
    ];
    let headers = h(&[("host", "h")]);
    for q in &cases {
        let r = req(q, &headers);
        let claim = presigned_key_id(&r);
        agrees(q, claim.as_deref(), |s| verify_presigned(&r, s, &VP, NOW));
    }
    assert_eq!(
        presigned_key_id(&req(&good, &headers)).as_deref(),
        Some(AKID)
    );
}

#[test]
fn header_claims_agree_with_the_verifier() {
    let auth = |id: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={id}/20240301/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
            "0".repeat(64)
        )
    };
    let base = [
        ("host", "h"),
        ("x-amz-date", "20240301T100000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let with = |a: &[&str]| {
        let mut v = h(&base);
        v.extend(
            a.iter()
                .map(|a| ("authorization".to_string(), a.to_string())),
        );
        v
    };
    let good = auth(AKID);
    let cases = [
        with(&[&good]),
        with(&[&auth("AKIDOTHER")]),
        with(&[&good, &good]),
        with(&[&good.replace("Credential=", "Credentials=")]),
        with(&[&good.replace("/20240301/", "/2024030/")]),
        with(&[&good.replace("/s3/", "/ec2/")]),
        with(&[&good.replace("us-east-1", "eu-west-1")]),
        with(&[]),
    ];
    for headers in &cases {
        let r = req("", headers);
        agrees(&format!("{headers:?}"), header_key_id(&r), |s| {
            verify_header_auth(&r, s, &VP, NOW)
        });
    }
    assert_eq!(header_key_id(&req("", &cases[0])), Some(AKID));
}

#[test]
fn v2_claims_agree_with_the_verifier() {
    let expires = NOW.unix_timestamp() + 600;
    let signed = |id: &str| {
        presign_v2(
            &creds(id),
            &PresignV2Params {
                method: "PUT",
                raw_path: "/b/k",
                query: &[],
                content_type: None,
                amz_headers: &[],
                expires_unix: expires,
            },
        )
    };
    let good = signed(AKID);
    let queries = [
        good.clone(),
        signed("AKIDOTHER"),
        format!("{good}&AWSAccessKeyId={AKID}"),
        good.replace("AWSAccessKeyId", "AWSAccessKey"),
        good.replace("Expires=", "Expires=x"),
        String::new(),
    ];
    let headers = h(&[("host", "h")]);
    for q in &queries {
        let r = req(q, &headers);
        let claim = v2_query_key_id(&r);
        agrees(q, claim.as_deref(), |s| verify_v2_query(&r, s, NOW));
    }
    assert_eq!(
        v2_query_key_id(&req(&good, &headers)).as_deref(),
        Some(AKID)
    );

    let date = ("date", "Fri, 01 Mar 2024 10:00:00 GMT");
    let header_cases = [
        h(&[date, ("authorization", &format!("AWS {AKID}:c2lnbmF0dXJl"))]),
        h(&[date, ("authorization", "AWS AKIDOTHER:c2lnbmF0dXJl")]),
        h(&[date, ("authorization", &format!("AWS {AKID}:"))]),
        h(&[date, ("authorization", &format!("AWS  {AKID}:x"))]),
        h(&[("authorization", &format!("AWS {AKID}:x"))]),
        h(&[
            date,
            ("authorization", &format!("AWS {AKID}:x")),
            ("authorization", &format!("AWS {AKID}:x")),
        ]),
    ];
    for headers in &header_cases {
        let r = req("", headers);
        agrees(&format!("{headers:?}"), v2_header_key_id(&r), |s| {
            verify_v2_header(&r, s, NOW)
        });
    }
    assert_eq!(v2_header_key_id(&req("", &header_cases[0])), Some(AKID));
}

#[test]
fn form_claims_agree_with_the_verifier() {
    let cred = format!("{AKID}/20240301/us-east-1/s3/aws4_request");
    let v4 = [
        ("x-amz-credential", cred.as_str()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("policy", "e30="),
        ("x-amz-signature", "00"),
    ];
    let v2 = [
        ("awsaccesskeyid", AKID),
        ("policy", "e30="),
        ("signature", "AA=="),
    ];
    let forms = [
        h(&v4),
        h(&v2),
        h(&v4[..3]),
        h(&v4[1..]),
        h(&[v4[0], v4[1], v4[2], v4[3], v2[0]]),
        h(&[v2[0], v2[1]]),
        h(&[("awsaccesskeyid", "AKIDOTHER"), v2[1], v2[2]]),
    ];
    for form in &forms {
        agrees(&format!("{form:?}"), post_key_id(form), |s| {
            verify_post_signature(form, s, "us-east-1")
        });
    }
    assert_eq!(post_key_id(&forms[0]), Some(AKID));
    assert_eq!(post_key_id(&forms[1]), Some(AKID));
}

#[test]
fn a_claimed_secret_answers_for_its_own_key_only() {
    let s = ClaimedSecret::known(AKID, SECRET.into());
    assert_eq!(s.secret_for(AKID).as_deref(), Some(SECRET));
    assert_eq!(s.secret_for("AKIDOTHER"), None);
    assert_eq!(ClaimedSecret::default().secret_for(AKID), None);
    assert_eq!(ClaimedSecret::default().secret_for(""), None);
}
