//! [`sign_request`]: the `Authorization` header of an outgoing request, checked against AWS's
//! generic SigV4 suite (`aws-sig-v4-test-suite/`, the same cases as [`super::aws_suite`]) and
//! round-tripped through this crate's own verifier ([`verify_header_auth`]).

use std::fs;

use time::macros::datetime;
use time::OffsetDateTime;

use super::aws_suite::{find_cases, parse_req, suite_dir, SKIP};
use crate::sigv4::canonical::{canonical_query, canonical_uri_from_raw, parse_query};
use crate::sigv4::encode::uri_encode;
use crate::sigv4::string_to_sign::{sha256_hex, UNSIGNED_PAYLOAD};
use crate::sigv4::{
    sign_request, verify_header_auth, AuthError, Credentials, PayloadMode, RequestParts,
    SignRequest, VerifyParams,
};

/// The suite's time, `20150830T123600Z`.
const SUITE_NOW: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);

fn suite_creds() -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
    }
}

/// Every case of the suite that applies to S3 (not in [`SKIP`]): our `Authorization` value is
/// the published one byte for byte, and our `x-amz-date` is the one the case sent. The case's
/// own `X-Amz-Date` header is left out of the input: signing adds it from the time.
#[test]
fn matches_the_aws_suite() {
    let mut cases = Vec::new();
    find_cases(&suite_dir(), &mut cases);
    cases.sort();
    assert_eq!(cases.len(), 31, "unexpected number of .req cases");
    let mut checked = 0;
    let mut problems = Vec::new();
    for case in &cases {
        let name = case.file_stem().unwrap().to_str().unwrap();
        if SKIP.iter().any(|(skipped, _, _)| *skipped == name) {
            continue;
        }
        let req = parse_req(&fs::read_to_string(case).unwrap());
        let sent_date: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n == "x-amz-date")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(sent_date, ["20150830T123600Z"], "{name}");
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .filter(|(n, _)| n != "x-amz-date")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let query = parse_query(&req.query).unwrap();
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let path = canonical_uri_from_raw(&req.path).unwrap();
        let hash = sha256_hex(req.body.as_bytes());
        let out = sign_request(
            &suite_creds(),
            &SignRequest {
                method: &req.method,
                canonical_path: &path,
                query: &query,
                headers: &headers,
                payload_hash: &hash,
                region: "us-east-1",
                service: "service",
                content_sha256_header: false,
            },
            SUITE_NOW,
        );
        let want = fs::read_to_string(case.with_extension("authz")).unwrap();
        if out.authorization != want.trim_end() {
            problems.push(format!(
                "{name}:\n ours {}\n want {}",
                out.authorization,
                want.trim_end()
            ));
        }
        assert_eq!(out.amz_date, "20150830T123600Z", "{name}");
        assert_eq!(out.content_sha256, None, "{name}");
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(checked, cases.len() - SKIP.len());
}

/// What an upstream request looks like: a PUT of an object whose key needs encoding.
struct Outgoing {
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Outgoing {
    fn new(key: &str) -> Self {
        Outgoing {
            path: uri_encode(&format!("/blobs/{key}"), false),
            query: vec![
                ("partNumber".into(), "3".into()),
                ("uploadId".into(), "a/b+c=".into()),
            ],
            headers: vec![
                ("Host".into(), "127.0.0.1:9000".into()),
                ("x-amz-checksum-crc32c".into(), "yZRlqg==".into()),
                ("content-md5".into(), "1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            ],
        }
    }

    /// Signs and returns what the server receives: the method, path, query as sent, and every
    /// header (lowercase names) including the ones signing added.
    fn sign(
        &self,
        creds: &Credentials,
        payload: &str,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        self.sign_for("garage", creds, payload, now)
    }

    /// [`Self::sign`] for `region`.
    fn sign_for(
        &self,
        region: &str,
        creds: &Credentials,
        payload: &str,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let q: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let h: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let auth = sign_request(
            creds,
            &SignRequest {
                method: "PUT",
                canonical_path: &self.path,
                query: &q,
                headers: &h,
                payload_hash: payload,
                region,
                service: "s3",
                content_sha256_header: true,
            },
            now,
        );
        let mut wire: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        wire.extend(auth.pairs().map(|(n, v)| (n.to_owned(), v.to_owned())));
        wire
    }

    fn raw_query(&self) -> String {
        canonical_query(&self.query)
    }
}

fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    creds: &Credentials,
    now: OffsetDateTime,
) -> Result<crate::sigv4::HeaderAuth, AuthError> {
    let secret = creds.secret_access_key.clone();
    let id = creds.access_key_id.clone();
    verify_header_auth(
        &RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        },
        move |k| (k == id).then(|| secret.clone()),
        &VerifyParams {
            region: "garage",
            service: "s3",
        },
        now,
    )
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "GK31c2f218a2e44f485b94239e".into(),
        secret_access_key: "b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835"
            .into(),
    }
}

/// A request we sign is one our verifier accepts, for a key with bytes that need encoding and
/// a query value holding `/`, `+` and `=`; every added header is signed.
#[test]
fn round_trips_through_our_verifier() {
    let now = datetime!(2025-03-04 05:06:07 UTC);
    let out = Outgoing::new("0f/3a b+c%d=é~.bin");
    for payload in [UNSIGNED_PAYLOAD.to_owned(), sha256_hex(b"the body")] {
        let wire = out.sign(&creds(), &payload, now);
        let ok = verify("PUT", &out.path, &out.raw_query(), &wire, &creds(), now)
            .unwrap_or_else(|e| panic!("{payload}: {e:?}"));
        assert_eq!(ok.access_key_id, creds().access_key_id);
        assert_eq!(
            ok.signed_headers,
            [
                "content-md5",
                "host",
                "x-amz-checksum-crc32c",
                "x-amz-content-sha256",
                "x-amz-date"
            ]
        );
        assert_eq!(ok.payload, PayloadMode::parse(&payload).unwrap());
    }
}

/// Each part of the request is covered: changing the method, path, query, a signed header,
/// the payload hash, the secret or the region breaks the signature.
#[test]
fn every_part_is_signed() {
    let now = datetime!(2025-03-04 05:06:07 UTC);
    let out = Outgoing::new("blob-1");
    let wire = out.sign(&creds(), UNSIGNED_PAYLOAD, now);
    let path = out.path.clone();
    let query = out.raw_query();
    let check = |method: &str, path: &str, query: &str, headers: &[(String, String)]| {
        verify(method, path, query, headers, &creds(), now)
    };
    assert!(check("PUT", &path, &query, &wire).is_ok());
    let denied = |r: Result<_, AuthError>| matches!(r, Err(AuthError::SignatureDoesNotMatch));
    assert!(denied(check("POST", &path, &query, &wire)));
    assert!(denied(check("PUT", "/blobs/blob-2", &query, &wire)));
    assert!(denied(check(
        "PUT",
        &path,
        "partNumber=4&uploadId=a%2Fb%2Bc%3D",
        &wire
    )));
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        wire.iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    if n == name {
                        value.to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    };
    assert!(denied(check(
        "PUT",
        &path,
        &query,
        &with("x-amz-checksum-crc32c", "AAAAAA==")
    )));
    assert!(denied(check(
        "PUT",
        &path,
        &query,
        &with("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")
    )));
    assert!(denied(check(
        "PUT",
        &path,
        &query,
        &with("x-amz-content-sha256", &sha256_hex(b"x"))
    )));
    let mut other = creds();
    other.secret_access_key.push('x');
    let forged = out.sign(&other, UNSIGNED_PAYLOAD, now);
    assert!(denied(check("PUT", &path, &query, &forged)));
    // The region is in the scope: a request signed for another one is refused by name.
    let wire2 = out.sign_for("us-east-1", &creds(), UNSIGNED_PAYLOAD, now);
    assert!(matches!(
        check("PUT", &path, &query, &wire2),
        Err(AuthError::HeaderRegionMismatch { .. })
    ));
}

/// The time is the one passed in: a request signed 16 minutes ago is refused as skewed, one
/// signed 14 minutes ago is accepted.
#[test]
fn the_time_is_the_one_passed_in() {
    let now = datetime!(2025-03-04 05:06:07 UTC);
    let out = Outgoing::new("blob-1");
    let minutes = |m: i64| now - time::Duration::minutes(m);
    let old = out.sign(&creds(), UNSIGNED_PAYLOAD, minutes(16));
    assert!(matches!(
        verify("PUT", &out.path, &out.raw_query(), &old, &creds(), now),
        Err(AuthError::RequestTimeTooSkewed)
    ));
    let recent = out.sign(&creds(), UNSIGNED_PAYLOAD, minutes(14));
    assert!(verify("PUT", &out.path, &out.raw_query(), &recent, &creds(), now).is_ok());
}
