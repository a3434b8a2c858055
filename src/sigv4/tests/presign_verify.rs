//! Presign → verify round trips, tampering, and the verifier's error order and messages.
//!
//! Owns: behavioural tests of `presign` and `verify_presigned` together, with an injected
//! clock.
//! Must never: depend on the wall clock or on test data files.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::sigv4::encode::uri_encode;
use crate::sigv4::{
    presign, verify_presigned, AuthError, Credentials, PresignParams, Presigned, RequestParts,
    VerifyParams, MAX_EXPIRES_SECS,
};

const AKID: &str = "AKIDSTOWAGE";
const SECRET: &str = "s3cr3t/Key+With=Odd&Chars";
const HOST: &str = "127.0.0.1:8080";
const REGION: &str = "us-east-1";
const PATH: &str = "/uploads/5f0c 1$ሴ~x";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const NOW: OffsetDateTime = datetime!(2024-03-01 10:00:00 UTC);

fn creds() -> Credentials {
    Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
    }
}

fn secret_for(id: &str) -> Option<String> {
    (id == AKID).then(|| SECRET.to_owned())
}

const VP: VerifyParams<'static> = VerifyParams {
    region: REGION,
    service: "s3",
};

/// A presigned PUT with a signed content-type and a signed extra query parameter.
fn presigned_put(expires_secs: u64, at: OffsetDateTime) -> String {
    presign(
        &creds(),
        &PresignParams {
            method: "PUT",
            host: HOST,
            path: PATH,
            region: REGION,
            service: "s3",
            expires_secs,
            extra_query: &[("X-Stowage-Sha256", SHA)],
            extra_signed_headers: &[("content-type", "image/png")],
        },
        at,
    )
}

fn headers(host: &str, content_type: &str) -> Vec<(String, String)> {
    vec![
        ("host".into(), host.into()),
        ("content-type".into(), content_type.into()),
        ("user-agent".into(), "unsigned/1.0".into()),
    ]
}

/// Verifies a request; `None` fields take the values the URL was signed for.
fn verify(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    now: OffsetDateTime,
) -> Result<Presigned, AuthError> {
    let req = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
    };
    verify_presigned(&req, secret_for, &VP, now)
}

fn wire_path() -> String {
    uri_encode(PATH, false)
}

fn ok_put(query: &str, now: OffsetDateTime) -> Result<Presigned, AuthError> {
    verify("PUT", &wire_path(), query, &headers(HOST, "image/png"), now)
}

/// Asserts the error and that its message leaks neither the secret nor a signature.
fn assert_err(result: Result<Presigned, AuthError>, expected: &AuthError, query: &str) {
    let err = result.expect_err("verification should fail");
    assert_eq!(&err, expected);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    let sig = query.rsplit_once("X-Amz-Signature=").map_or("", |(_, s)| s);
    if sig.len() >= 16 {
        assert!(!shown.contains(&sig[..16]), "{shown}");
    }
}

fn query_err(msg: &str) -> AuthError {
    AuthError::QueryParameters(msg.to_owned())
}

/// Replaces `param`'s value in a wire query (keeping the signature as it was).
fn with_param(query: &str, param: &str, value: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == param => format!("{k}={value}"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn without_param(query: &str, param: &str) -> String {
    query
        .split('&')
        .filter(|kv| kv.split('=').next() != Some(param))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn presign_output_shape() {
    let q = presigned_put(300, NOW);
    let keys: Vec<&str> = q
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Stowage-Sha256",
            "X-Amz-Signature"
        ]
    );
    assert!(q.contains("X-Amz-Credential=AKIDSTOWAGE%2F20240301%2Fus-east-1%2Fs3%2Faws4_request"));
    assert!(q.contains("X-Amz-Date=20240301T100000Z&X-Amz-Expires=300&"));
    assert!(q.contains("X-Amz-SignedHeaders=content-type%3Bhost&"));
    let sig = q.rsplit_once("X-Amz-Signature=").unwrap().1;
    assert_eq!(sig.len(), 64);
    assert!(sig
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Deterministic for the same inputs and clock.
    assert_eq!(q, presigned_put(300, NOW));
}

#[test]
fn round_trip() {
    let q = presigned_put(300, NOW);
    let ok = ok_put(&q, NOW).unwrap();
    assert_eq!(ok.access_key_id, AKID);
    assert_eq!(ok.signed_at, NOW);
    assert_eq!(ok.expires_at, NOW + Duration::seconds(300));
    assert_eq!(ok.signed_headers, ["content-type", "host"]);
    assert_eq!(ok.param("X-Stowage-Sha256"), Some(SHA));
    assert_eq!(ok.param("X-Amz-Signature"), None);
    assert_eq!(ok.query.len(), 6);
    assert_eq!(ok.query[0].0, "X-Amz-Algorithm");
}

#[test]
fn round_trip_tolerates_equivalent_wire_forms() {
    let q = presigned_put(300, NOW);
    // Unreserved-but-encoded and reserved-but-raw path bytes mean the same key.
    let alt_path = "/uploads/5f0c%201$%e1%88%b4%7Ex";
    let h = headers(HOST, "  image/png ");
    assert!(verify("PUT", alt_path, &q, &h, NOW).is_ok());
    // Parameter order on the wire does not matter.
    let mut parts: Vec<&str> = q.split('&').collect();
    parts.reverse();
    assert!(ok_put(&parts.join("&"), NOW).is_ok());
}

#[test]
fn payload_hash_param_round_trips() {
    let q = presign(
        &creds(),
        &PresignParams {
            method: "PUT",
            host: HOST,
            path: "/a",
            region: REGION,
            service: "s3",
            expires_secs: 60,
            extra_query: &[("X-Amz-Content-Sha256", SHA)],
            extra_signed_headers: &[],
        },
        NOW,
    );
    let h = vec![("host".to_owned(), HOST.to_owned())];
    assert!(verify("PUT", "/a", &q, &h, NOW).is_ok());
    let other = with_param(&q, "X-Amz-Content-Sha256", &"0".repeat(64));
    assert_err(
        verify("PUT", "/a", &other, &h, NOW),
        &AuthError::SignatureDoesNotMatch,
        &other,
    );
}

#[test]
fn tampering_with_any_signed_element_fails() {
    let q = presigned_put(300, NOW);
    let good = headers(HOST, "image/png");
    let mismatch = AuthError::SignatureDoesNotMatch;
    let path = wire_path();

    assert_err(verify("GET", &path, &q, &good, NOW), &mismatch, &q);
    assert_err(
        verify("PUT", "/uploads/other", &q, &good, NOW),
        &mismatch,
        &q,
    );
    assert_err(
        verify("PUT", &format!("{path}/"), &q, &good, NOW),
        &mismatch,
        &q,
    );
    let h = headers(HOST, "text/html");
    assert_err(verify("PUT", &path, &q, &h, NOW), &mismatch, &q);
    let h = headers("evil.example:8080", "image/png");
    assert_err(verify("PUT", &path, &q, &h, NOW), &mismatch, &q);
    let no_ct = vec![("host".to_owned(), HOST.to_owned())];
    assert_err(verify("PUT", &path, &q, &no_ct, NOW), &mismatch, &q);
    let twice = [good.clone(), vec![("content-type".into(), "x".into())]].concat();
    assert_err(verify("PUT", &path, &q, &twice, NOW), &mismatch, &q);

    for (param, value) in [
        ("X-Stowage-Sha256", "0".repeat(64)),
        ("X-Amz-Expires", "301".to_owned()),
        ("X-Amz-Date", "20240301T100001Z".to_owned()),
    ] {
        let t = with_param(&q, param, &value);
        assert_err(ok_put(&t, NOW), &mismatch, &t);
    }
    let t = without_param(&q, "X-Stowage-Sha256");
    assert_err(ok_put(&t, NOW), &mismatch, &t);
    let t = format!("extra=1&{q}");
    assert_err(ok_put(&t, NOW), &mismatch, &t);
    let t = with_param(&q, "X-Amz-SignedHeaders", "host");
    assert_err(ok_put(&t, NOW), &mismatch, &t);
}

#[test]
fn wrong_secret_or_malformed_signature_is_a_mismatch() {
    let wrong = presign(
        &Credentials {
            access_key_id: AKID.into(),
            secret_access_key: "not-the-secret".into(),
        },
        &PresignParams {
            method: "PUT",
            host: HOST,
            path: PATH,
            region: REGION,
            service: "s3",
            expires_secs: 300,
            extra_query: &[("X-Stowage-Sha256", SHA)],
            extra_signed_headers: &[("content-type", "image/png")],
        },
        NOW,
    );
    assert_err(
        ok_put(&wrong, NOW),
        &AuthError::SignatureDoesNotMatch,
        &wrong,
    );

    let q = presigned_put(300, NOW);
    let sig = q.rsplit_once("X-Amz-Signature=").unwrap().1;
    for bad in [
        String::new(),
        sig[..63].to_owned(),
        format!("{sig}0"),
        sig.to_ascii_uppercase(),
        "zz".repeat(32),
    ] {
        let t = with_param(&q, "X-Amz-Signature", &bad);
        assert_err(ok_put(&t, NOW), &AuthError::SignatureDoesNotMatch, &q);
    }
}

#[test]
fn missing_or_repeated_auth_params() {
    let q = presigned_put(300, NOW);
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ] {
        let t = without_param(&q, name);
        let msg = format!("Query-string authentication requires the {name} parameter");
        assert_err(ok_put(&t, NOW), &query_err(&msg), &q);

        let value = q
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap();
        let t = format!("{q}&{name}={value}");
        let err = ok_put(&t, NOW).unwrap_err();
        assert_eq!(
            (err.s3_code(), err.http_status()),
            ("AuthorizationQueryParametersError", 400)
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    assert_err(
        ok_put("", NOW),
        &query_err("Query-string authentication requires the X-Amz-Algorithm parameter"),
        "",
    );
    for bad in ["a=%zz", "a=%FF", "%4"] {
        let t = format!("{q}&{bad}");
        let err = ok_put(&t, NOW).unwrap_err();
        assert_eq!(err.s3_code(), "AuthorizationQueryParametersError", "{bad}");
    }
}

#[test]
fn malformed_auth_params_are_400_with_a_useful_message() {
    let q = presigned_put(300, NOW);
    let cases: &[(&str, &str, &str)] = &[
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1", "AWS4-HMAC-SHA256"),
        (
            "X-Amz-Credential",
            "AKIDSTOWAGE%2F20240301%2Fus-east-1%2Fs3",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            "AKIDSTOWAGE%2F20240301%2Fus-east-1%2Fs3%2Faws4_request%2Fx",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            "%2F20240301%2Fus-east-1%2Fs3%2Faws4_request",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            "AKIDSTOWAGE%2F2024031%2Fus-east-1%2Fs3%2Faws4_request",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            "AKIDSTOWAGE%2F20240301%2Fus-east-1%2Fs3%2Faws5_request",
            "mal-formed",
        ),
        (
            "X-Amz-Credential",
            "AKIDSTOWAGE%2F20240302%2Fus-east-1%2Fs3%2Faws4_request",
            "incorrect date",
        ),
        ("X-Amz-Date", "2024-03-01T10:00:00Z", "X-Amz-Date"),
        ("X-Amz-Date", "20240301T100000", "X-Amz-Date"),
        (
            "X-Amz-Expires",
            "0",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        (
            "X-Amz-Expires",
            "604801",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        (
            "X-Amz-Expires",
            "%2B5",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        (
            "X-Amz-Expires",
            "-1",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        (
            "X-Amz-Expires",
            "abc",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        (
            "X-Amz-Expires",
            "99999999999999999999999",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ),
        ("X-Amz-SignedHeaders", "content-type", "host"),
        ("X-Amz-SignedHeaders", "host%3Bcontent-type", "sorted"),
        ("X-Amz-SignedHeaders", "content-type%3BHost", "lowercase"),
        ("X-Amz-SignedHeaders", "host%3Bhost", "duplicates"),
        ("X-Amz-SignedHeaders", "%3Bhost", "lowercase"),
    ];
    for (param, value, needle) in cases {
        let t = with_param(&q, param, value);
        let err = ok_put(&t, NOW).unwrap_err();
        assert_eq!(
            (err.s3_code(), err.http_status()),
            ("AuthorizationQueryParametersError", 400),
            "{param}={value}: {err}"
        );
        assert!(err.to_string().contains(needle), "{param}={value}: {err}");
    }
    // Exact wording the brief fixes.
    let t = with_param(&q, "X-Amz-Expires", "0");
    assert_err(
        ok_put(&t, NOW),
        &query_err("X-Amz-Expires must be between 1 and 604800 seconds"),
        &t,
    );
}

#[test]
fn error_order_params_then_key_then_scope_then_signature() {
    let q = presigned_put(300, NOW);
    // Unknown key wins over a bad signature and a wrong region.
    let t = with_param(
        &q,
        "X-Amz-Credential",
        "NOPE%2F20240301%2Feu-west-1%2Fs3%2Faws4_request",
    );
    let t = with_param(&t, "X-Amz-Signature", "00");
    let err = ok_put(&t, NOW).unwrap_err();
    assert_eq!(err, AuthError::InvalidAccessKeyId);
    assert_eq!(
        (err.s3_code(), err.http_status()),
        ("InvalidAccessKeyId", 403)
    );
    assert_eq!(
        err.to_string(),
        "The AWS access key Id you provided does not exist in our records."
    );
    // A malformed parameter wins over an unknown key.
    let t2 = with_param(&t, "X-Amz-Expires", "0");
    assert_eq!(ok_put(&t2, NOW).unwrap_err().http_status(), 400);

    // Known key, wrong region / service: SignatureDoesNotMatch naming what we expect.
    let t = with_param(
        &q,
        "X-Amz-Credential",
        "AKIDSTOWAGE%2F20240301%2Feu-west-1%2Fs3%2Faws4_request",
    );
    let err = ok_put(&t, NOW).unwrap_err();
    assert_eq!(
        (err.s3_code(), err.http_status()),
        ("SignatureDoesNotMatch", 403)
    );
    assert!(err.to_string().contains(
        "the credential scope region 'eu-west-1' does not match this gateway's region 'us-east-1'"
    ));
    let t = with_param(
        &q,
        "X-Amz-Credential",
        "AKIDSTOWAGE%2F20240301%2Fus-east-1%2Fsqs%2Faws4_request",
    );
    let err = ok_put(&t, NOW).unwrap_err();
    assert_eq!(err.s3_code(), "SignatureDoesNotMatch");
    assert!(err.to_string().contains("'sqs'") && err.to_string().contains("'s3'"));

    let q2 = with_param(&q, "X-Stowage-Sha256", "x");
    let err = ok_put(&q2, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method."
    );
}

#[test]
fn expiry_and_skew_use_the_injected_clock() {
    let q = presigned_put(300, NOW);
    assert!(ok_put(&q, NOW + Duration::seconds(300)).is_ok());
    assert_err(
        ok_put(&q, NOW + Duration::seconds(301)),
        &AuthError::Expired,
        &q,
    );
    let err = ok_put(&q, NOW + Duration::days(1)).unwrap_err();
    assert_eq!(err.to_string(), "Request has expired");
    assert_eq!((err.s3_code(), err.http_status()), ("AccessDenied", 403));

    // Signed up to 15 minutes in our future is accepted; beyond that is skew.
    assert!(ok_put(&q, NOW - Duration::seconds(900)).is_ok());
    let err = ok_put(&q, NOW - Duration::seconds(901)).unwrap_err();
    assert_eq!(err, AuthError::RequestTimeTooSkewed);
    assert_eq!(
        (err.s3_code(), err.http_status()),
        ("RequestTimeTooSkewed", 403)
    );
    assert_eq!(
        err.to_string(),
        "The difference between the request time and the server's time is too large."
    );

    let long = presigned_put(MAX_EXPIRES_SECS, NOW);
    assert!(ok_put(&long, NOW + Duration::seconds(604_800)).is_ok());
    assert_eq!(
        ok_put(&long, NOW + Duration::seconds(604_801)),
        Err(AuthError::Expired)
    );
}

#[test]
fn time_checks_only_after_a_valid_signature() {
    let q = presigned_put(300, NOW);
    let forged = with_param(&q, "X-Stowage-Sha256", "forged");
    assert_err(
        ok_put(&forged, NOW + Duration::days(2)),
        &AuthError::SignatureDoesNotMatch,
        &forged,
    );
    assert_err(
        ok_put(&forged, NOW - Duration::days(2)),
        &AuthError::SignatureDoesNotMatch,
        &forged,
    );
}

#[test]
fn presign_clamps_expiry_into_the_verifiable_range() {
    let q = presigned_put(10 * MAX_EXPIRES_SECS, NOW);
    assert!(q.contains("X-Amz-Expires=604800&"));
    assert!(ok_put(&q, NOW).is_ok());
    let q = presigned_put(0, NOW);
    assert!(q.contains("X-Amz-Expires=1&"));
    assert!(ok_put(&q, NOW).is_ok());
}

#[test]
fn undecodable_path_is_invalid_uri() {
    let q = presigned_put(300, NOW);
    let h = headers(HOST, "image/png");
    for bad in ["/uploads/%zz", "/uploads/%C3%28"] {
        let err = verify("PUT", bad, &q, &h, NOW).unwrap_err();
        assert_eq!(err, AuthError::InvalidUri);
        assert_eq!((err.s3_code(), err.http_status()), ("InvalidURI", 400));
    }
}

#[test]
fn dates_across_midnight_and_offsets() {
    // `now` with a non-UTC offset still signs in UTC (here the UTC day is the previous one).
    let local = datetime!(2024-03-02 01:30:00 +02:00);
    let q = presigned_put(300, local);
    assert!(q.contains("X-Amz-Date=20240301T233000Z"));
    assert!(q.contains("%2F20240301%2F"));
    assert!(ok_put(&q, local).is_ok());
}

mod properties {
    //! Property tests (bounded fuzzing): any URL `presign` makes verifies, and
    //! whatever a client does to a URL's query string, the verifier answers
    //! with an error or with exactly the parameters that were signed.

    use proptest::prelude::*;

    use super::*;
    use crate::sigv4::canonical::{canonical_uri, parse_query};
    use crate::sigv4::verify::AUTH_PARAMS;

    /// A query-ish wire string: separators, escapes good and broken,
    /// `X-Amz-*` names.
    fn wire_query() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "((X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Content-Sha256))?[=&%0-9A-Za-z/;-]{0,12}){0,12}",
        ]
    }

    /// The decoded parameters of a wire query, signature excluded, sorted.
    fn signed_pairs(query: &str) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = parse_query(query)
            .expect("a query the verifier accepted parses")
            .into_iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .collect();
        p.sort();
        p
    }

    /// One edit of a wire query.
    #[derive(Debug, Clone)]
    enum Edit {
        Insert(usize, String),
        Delete(usize, usize),
        Replace(usize, char),
        DuplicateSegment(usize),
        DropSegment(usize),
        SwapSegments(usize, usize),
        Reencode(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), wire_query()).prop_map(|(i, s)| Edit::Insert(i, s)),
            (any::<usize>(), 1..8usize).prop_map(|(i, n)| Edit::Delete(i, n)),
            (any::<usize>(), any::<char>()).prop_map(|(i, c)| Edit::Replace(i, c)),
            any::<usize>().prop_map(Edit::DuplicateSegment),
            any::<usize>().prop_map(Edit::DropSegment),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::SwapSegments(i, j)),
            any::<usize>().prop_map(Edit::Reencode),
        ]
    }

    /// The char boundary at or before `i` (taken modulo the length).
    fn at(s: &str, i: usize) -> usize {
        let mut i = i % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    /// Applies `e` to a query (every index taken modulo its length, moved
    /// back to a char boundary).
    fn apply(query: &str, e: &Edit) -> String {
        let mut segs: Vec<String> = query.split('&').map(str::to_owned).collect();
        let n = segs.len();
        match e {
            Edit::Insert(i, s) => {
                let i = at(query, *i);
                format!("{}{s}{}", &query[..i], &query[i..])
            }
            Edit::Delete(i, k) => {
                let i = at(query, *i);
                let j = at(query, (i + k).min(query.len()));
                format!("{}{}", &query[..i], &query[j.max(i)..])
            }
            Edit::Replace(i, c) => {
                let i = at(query, *i);
                let next = query[i..].chars().next().map_or(i, |c| i + c.len_utf8());
                format!("{}{c}{}", &query[..i], &query[next..])
            }
            Edit::DuplicateSegment(i) => {
                let s = segs[i % n].clone();
                segs.push(s);
                segs.join("&")
            }
            Edit::DropSegment(i) => {
                segs.remove(i % n);
                segs.join("&")
            }
            Edit::SwapSegments(i, j) => {
                segs.swap(i % n, j % n);
                segs.join("&")
            }
            // The same bytes, every unreserved one written as an escape.
            Edit::Reencode(i) => {
                let s = &mut segs[i % n];
                *s = s
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            format!("%{b:02x}")
                        } else {
                            (b as char).to_string()
                        }
                    })
                    .collect();
                segs.join("&")
            }
        }
    }

    fn extra_header_name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,12}".prop_filter("host and the payload hash are the verifier's", |n| {
            n != "host" && n != "x-amz-content-sha256"
        })
    }

    proptest! {
        #![proptest_config(crate::testing::config(5000))]

        /// Random query strings: an error, never a panic, and never the
        /// secret in it.
        #[test]
        fn prop_verify_random_query(query in wire_query(), path in any::<String>()) {
            let err = verify("PUT", &path, &query, &headers(HOST, "image/png"), NOW)
                .expect_err("nothing unsigned verifies");
            let shown = format!("{err} {err:?}");
            prop_assert!(!shown.contains(SECRET), "{}", shown);
        }

        /// presign → verify: any path, method, extra parameters and signed
        /// headers; valid for exactly its window, and the verified request
        /// carries exactly the parameters signed.
        #[test]
        fn prop_presign_verify_round_trip(
            path in any::<String>(),
            method in prop::sample::select(vec!["GET", "PUT", "HEAD", "DELETE", "POST"]),
            extra_query in proptest::collection::vec(
                (any::<String>().prop_filter("not an auth param", |k| {
                    !AUTH_PARAMS.contains(&k.as_str()) && k != "X-Amz-Content-Sha256"
                }), any::<String>()),
                0..4,
            ),
            extra_headers in proptest::collection::vec((extra_header_name(), any::<String>()), 0..4),
            expires in 1..=MAX_EXPIRES_SECS,
            signed_offset in 0i64..86_400 * 365 * 30,
            elapsed in any::<u64>(),
        ) {
            let at = datetime!(2000-01-01 00:00:00 UTC) + Duration::seconds(signed_offset);
            let eq: Vec<(&str, &str)> =
                extra_query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let eh: Vec<(&str, &str)> =
                extra_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let q = presign(
                &creds(),
                &PresignParams {
                    method,
                    host: HOST,
                    path: &path,
                    region: REGION,
                    service: "s3",
                    expires_secs: expires,
                    extra_query: &eq,
                    extra_signed_headers: &eh,
                },
                at,
            );
            let mut sent = vec![("host".to_owned(), HOST.to_owned())];
            sent.extend(extra_headers.iter().cloned());
            sent.push(("user-agent".into(), "unsigned".into()));
            let wire_path = canonical_uri(&path);
            let within = at + Duration::seconds(i64::try_from(elapsed % (expires + 1)).unwrap_or(0));
            let ok = verify(method, &wire_path, &q, &sent, within)
                .map_err(|e| TestCaseError::fail(format!("{e:?} for {q}")))?;
            prop_assert_eq!(ok.signed_at, at);
            prop_assert_eq!(ok.expires_at, at + Duration::seconds(expires as i64));
            let mut got = ok.query.clone();
            got.sort();
            let mut want: Vec<(String, String)> = extra_query.clone();
            want.extend(
                signed_pairs(&q)
                    .into_iter()
                    .filter(|(k, _)| AUTH_PARAMS.contains(&k.as_str())),
            );
            want.sort();
            prop_assert_eq!(got, want);
            let late = at + Duration::seconds(expires as i64 + 1);
            prop_assert_eq!(
                verify(method, &wire_path, &q, &sent, late).unwrap_err(),
                AuthError::Expired
            );
        }

        /// Edits of a valid URL's query: an error, or (for an edit that
        /// changes only the wire form: order, escapes of unreserved bytes)
        /// the very parameters that were signed.
        #[test]
        fn prop_edited_presigned_query(edits in proptest::collection::vec(edit(), 1..4)) {
            let q = presigned_put(300, NOW);
            let mut edited = q.clone();
            for e in &edits {
                edited = apply(&edited, e);
            }
            match ok_put(&edited, NOW) {
                Ok(p) => {
                    let mut got = p.query.clone();
                    got.sort();
                    prop_assert_eq!(got, signed_pairs(&q));
                    prop_assert_eq!(signed_pairs(&edited), signed_pairs(&q));
                }
                Err(err) => {
                    let shown = format!("{err} {err:?}");
            prop_assert!(!shown.contains(SECRET), "{}", shown);
                }
            }
        }
    }
}
