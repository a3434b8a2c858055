//! SigV2: the S3 documentation examples (`s3-sigv2-examples.json`), presign → verify round
//! trips, and the error codes and time rules.
//!
//! Owns: behavioural and known-answer tests of [`crate::sigv4::v2`].
//! Must never: use the wall clock, or compute a published signature with the code under test.

use time::{Duration, OffsetDateTime};

use super::{json_pairs, load_json};
use crate::sigv4::http_date::parse_http_date;
use crate::sigv4::v2::{canonicalized_amz_headers, canonicalized_resource, sign_v2};
use crate::sigv4::{
    presign_v2, verify_v2_header, verify_v2_query, AuthError, Credentials, PresignV2Params,
    RequestParts,
};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn secret_for(id: &str) -> Option<String> {
    (id == AKID).then(|| SECRET.to_owned())
}

struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    sts: String,
    signature: String,
}

fn cases(section: &str) -> Vec<Case> {
    let json = load_json("s3-sigv2-examples.json");
    assert_eq!(json["credentials"]["secretAccessKey"], SECRET);
    json[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().into(),
            method: c["method"].as_str().unwrap().into(),
            path: c["path"].as_str().unwrap().into(),
            query: c["query"].as_str().unwrap().into(),
            headers: json_pairs(&c["headers"]),
            sts: c["stringToSign"].as_str().unwrap().into(),
            signature: c["signature"].as_str().unwrap().into(),
        })
        .collect()
}

fn with_auth(c: &Case, sig: &str) -> Vec<(String, String)> {
    let mut h = c.headers.clone();
    h.push(("authorization".into(), format!("AWS {AKID}:{sig}")));
    h
}

fn request_time(c: &Case) -> OffsetDateTime {
    let get = |n: &str| {
        c.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    parse_http_date(get("x-amz-date").or(get("date")).unwrap()).unwrap()
}

#[test]
fn documented_header_examples() {
    let all = cases("headerAuth");
    assert_eq!(all.len(), 9);
    for c in &all {
        // The published StringToSign gives the published signature (HMAC-SHA1 + base64).
        assert_eq!(sign_v2(SECRET, &c.sts), c.signature, "{}: sign", c.name);
        let headers = with_auth(c, &c.signature);
        let req = RequestParts {
            method: &c.method,
            raw_path: &c.path,
            raw_query: &c.query,
            headers: &headers,
        };
        let t = request_time(c);
        let ok =
            verify_v2_header(&req, secret_for, t).unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
        assert_eq!(ok.access_key_id, AKID);
        assert_eq!(ok.signed_at, Some(t));
        assert!(verify_v2_header(&req, secret_for, t + Duration::minutes(15)).is_ok());
        assert!(verify_v2_header(&req, secret_for, t - Duration::minutes(15)).is_ok());
        for off in [Duration::minutes(16), Duration::minutes(-16)] {
            assert_eq!(
                verify_v2_header(&req, secret_for, t + off),
                Err(AuthError::RequestTimeTooSkewed),
                "{}",
                c.name
            );
        }
        // Any signed part changed.
        let tampered = RequestParts {
            method: "POST",
            ..req
        };
        assert_eq!(
            verify_v2_header(&tampered, secret_for, t),
            Err(AuthError::SignatureDoesNotMatch),
            "{}",
            c.name
        );
        let tampered = RequestParts {
            raw_path: "/other",
            ..req
        };
        assert_eq!(
            verify_v2_header(&tampered, secret_for, t),
            Err(AuthError::SignatureDoesNotMatch),
            "{}",
            c.name
        );
    }
}

#[test]
fn canonicalization_pieces() {
    assert_eq!(
        canonicalized_resource("/johnsmith/", "acl").unwrap(),
        "/johnsmith/?acl"
    );
    assert_eq!(
        canonicalized_resource(
            "/b/k",
            "prefix=x&versionId=v%201&acl&uploadId=&response-content-type=text%2Fplain&max-keys=2"
        )
        .unwrap(),
        "/b/k?acl&response-content-type=text/plain&uploadId=&versionId=v 1"
    );
    assert_eq!(canonicalized_resource("", "").unwrap(), "/");
    assert_eq!(
        canonicalized_resource("/a%2Fb", "").unwrap(),
        "/a%2Fb",
        "path taken literally"
    );
    assert!(canonicalized_resource("/b", "versionId=%zz").is_err());
    let amz = canonicalized_amz_headers(&[
        ("X-Amz-Meta-ReviewedBy", "joe"),
        ("content-type", "x"),
        ("x-amz-acl", " public-read "),
        ("x-amz-meta-reviewedby", "jane"),
        ("X-Amz-Meta-Folded", "a\r\n  b"),
    ]);
    assert_eq!(
        amz,
        "x-amz-acl:public-read\nx-amz-meta-folded:a b\nx-amz-meta-reviewedby:joe,jane\n"
    );
}

#[test]
fn documented_query_example() {
    let c = &cases("queryAuth")[0];
    assert_eq!(sign_v2(SECRET, &c.sts), c.signature);
    let req = RequestParts {
        method: &c.method,
        raw_path: &c.path,
        raw_query: &c.query,
        headers: &c.headers,
    };
    let expires = OffsetDateTime::from_unix_timestamp(1_175_139_620).unwrap();
    let ok = verify_v2_query(&req, secret_for, expires - Duration::hours(1)).unwrap();
    assert_eq!(ok.access_key_id, AKID);
    assert_eq!(ok.expires_at, Some(expires));
    assert!(
        verify_v2_query(&req, secret_for, expires).is_ok(),
        "valid through the Expires second"
    );
    let err = verify_v2_query(&req, secret_for, expires + Duration::seconds(1)).unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert_eq!(
        (err.s3_code(), err.http_status(), err.to_string().as_str()),
        ("AccessDenied", 403, "Request has expired")
    );
    // A bad signature is reported as such even when also expired.
    let bad = c.query.replace("NpgCjnDzrM", "NpgCjnDzrN");
    let req_bad = RequestParts {
        raw_query: &bad,
        ..req
    };
    assert_eq!(
        verify_v2_query(&req_bad, secret_for, expires + Duration::days(9)),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn query_parameter_errors() {
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let path = "/b/k";
    let run = |q: &str| {
        verify_v2_query(
            &RequestParts {
                method: "GET",
                raw_path: path,
                raw_query: q,
                headers: &[],
            },
            secret_for,
            now,
        )
    };
    for q in [
        "",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1700000100",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x",
        "Expires=1700000100&Signature=x",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1700000100&Signature=x",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=-1&Signature=x",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=soon&Signature=x",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=99999999999999999999&Signature=x",
    ] {
        let err = run(q).unwrap_err();
        assert_eq!((err.s3_code(), err.http_status()), ("AccessDenied", 403), "{q}: {err:?}");
    }
    assert_eq!(
        run("AWSAccessKeyId=NOPE&Expires=1700000100&Signature=x"),
        Err(AuthError::InvalidAccessKeyId)
    );
    assert_eq!(
        run("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1700000100&Signature=not%20base64"),
        Err(AuthError::SignatureDoesNotMatch)
    );
    assert_eq!(
        run("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1700000100&Signature=%zz"),
        Err(AuthError::InvalidUri)
    );
}

#[test]
fn header_errors() {
    let now = parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000").unwrap();
    let run = |headers: &[(&str, &str)]| {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        verify_v2_header(
            &RequestParts {
                method: "GET",
                raw_path: "/johnsmith/photos/puppy.jpg",
                raw_query: "",
                headers: &headers,
            },
            secret_for,
            now,
        )
    };
    let date = ("date", "Tue, 27 Mar 2007 19:36:42 +0000");
    for auth in [
        "AWS",
        "AWS :sig",
        "AWS AKIAIOSFODNN7EXAMPLE",
        "AWS AKIAIOSFODNN7EXAMPLE:",
        "Bearer x",
        "AWS4-HMAC-SHA256 x",
    ] {
        let err = run(&[date, ("authorization", auth)]).unwrap_err();
        assert_eq!(
            (err.s3_code(), err.http_status()),
            ("InvalidArgument", 400),
            "{auth}"
        );
    }
    let good = (
        "authorization",
        "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    );
    assert!(run(&[date, good]).is_ok());
    assert_eq!(
        run(&[good]).unwrap_err().s3_code(),
        "AccessDenied",
        "no date"
    );
    assert_eq!(
        run(&[("date", "yesterday"), good]).unwrap_err().s3_code(),
        "AccessDenied"
    );
    assert_eq!(
        run(&[
            date,
            ("authorization", "AWS NOPE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
        ]),
        Err(AuthError::InvalidAccessKeyId)
    );
    // GMT instead of +0000 is a different string to sign.
    assert_eq!(
        run(&[("date", "Tue, 27 Mar 2007 19:36:42 GMT"), good]),
        Err(AuthError::SignatureDoesNotMatch)
    );
    // An unsigned x-amz-* header changes the string to sign.
    assert_eq!(
        run(&[date, good, ("x-amz-meta-a", "b")]),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn presign_v2_round_trip() {
    let creds = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
    };
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let expires = 1_700_000_600;
    let path = "/bkt/dir/a%20b%2B%E1%88%B4.txt";
    let query = presign_v2(
        &creds,
        &PresignV2Params {
            method: "PUT",
            raw_path: path,
            query: &[("uploadId", "u 1"), ("partNumber", "3"), ("ignored", "x")],
            content_type: Some("image/png"),
            amz_headers: &[("x-amz-meta-owner", "Jane Doe")],
            expires_unix: expires,
        },
    );
    let verify = |method: &str, q: &str, headers: &[(String, String)], at: OffsetDateTime| {
        verify_v2_query(
            &RequestParts {
                method,
                raw_path: path,
                raw_query: q,
                headers,
            },
            secret_for,
            at,
        )
    };
    let ok = verify("PUT", &query, &[], now).unwrap();
    assert_eq!(ok.access_key_id, AKID);
    // The client may also send the signed headers themselves.
    let sent = vec![
        ("content-type".to_owned(), "image/png".to_owned()),
        ("x-amz-meta-owner".to_owned(), "Jane Doe".to_owned()),
    ];
    assert!(verify("PUT", &query, &sent, now).is_ok());
    // A different Content-Type than signed fails.
    let other = vec![("content-type".to_owned(), "text/plain".to_owned())];
    assert_eq!(
        verify("PUT", &query, &other, now),
        Err(AuthError::SignatureDoesNotMatch)
    );
    // Method, subresource and expiry are all covered.
    assert_eq!(
        verify("GET", &query, &[], now),
        Err(AuthError::SignatureDoesNotMatch)
    );
    let other_part = query.replace("partNumber=3", "partNumber=4");
    assert_eq!(
        verify("PUT", &other_part, &[], now),
        Err(AuthError::SignatureDoesNotMatch)
    );
    let other_expiry = query.replace("Expires=1700000600", "Expires=1700000601");
    assert_eq!(
        verify("PUT", &other_expiry, &[], now),
        Err(AuthError::SignatureDoesNotMatch)
    );
    // Non-subresource parameters are not signed (S3 rule).
    let other_ignored = query.replace("ignored=x", "ignored=y");
    assert!(verify("PUT", &other_ignored, &[], now).is_ok());
    let after = OffsetDateTime::from_unix_timestamp(expires + 1).unwrap();
    assert_eq!(verify("PUT", &query, &[], after), Err(AuthError::Expired));
    // Wrong secret.
    let wrong = Credentials {
        secret_access_key: "nope".into(),
        ..creds
    };
    let forged = presign_v2(
        &wrong,
        &PresignV2Params {
            method: "GET",
            raw_path: path,
            query: &[],
            content_type: None,
            amz_headers: &[],
            expires_unix: expires,
        },
    );
    assert_eq!(
        verify("GET", &forged, &[], now),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

/// Issue 13, finding 10: a SigV2 URL lives at most as long as SigV4 allows (7 days, plus the
/// clock skew a client may have), however far ahead it puts `Expires`; the refusal comes only
/// once the signature is proven, and says what the limit is.
#[test]
fn query_expires_is_capped_at_seven_days() {
    let creds = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
    };
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let path = "/bkt/key";
    let signed = |expires_unix: i64| {
        presign_v2(
            &creds,
            &PresignV2Params {
                method: "PUT",
                raw_path: path,
                query: &[],
                content_type: None,
                amz_headers: &[],
                expires_unix,
            },
        )
    };
    let verify = |q: &str| {
        verify_v2_query(
            &RequestParts {
                method: "PUT",
                raw_path: path,
                raw_query: q,
                headers: &[],
            },
            secret_for,
            now,
        )
    };
    let week = 604_800;
    let skew = 900;
    // Exactly 7 days, and 7 days signed by a clock up to 15 minutes fast: accepted.
    assert!(verify(&signed(now.unix_timestamp() + week)).is_ok());
    assert!(verify(&signed(now.unix_timestamp() + week + skew)).is_ok());
    // One second more, a year, a century: refused as S3 refuses a too-long SigV4 URL.
    for ahead in [week + skew + 1, 365 * 86_400, 100 * 365 * 86_400] {
        let err = verify(&signed(now.unix_timestamp() + ahead)).unwrap_err();
        assert_eq!(
            (err.s3_code(), err.http_status()),
            ("AccessDenied", 403),
            "{ahead}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("at most 7 days"), "{msg}");
        assert!(msg.contains(&format!("{ahead} seconds from now")), "{msg}");
    }
    // A forged signature on such a URL is reported as forged, not as too long.
    let forged =
        signed(now.unix_timestamp() + 100 * 365 * 86_400).replace("Signature=", "Signature=A");
    assert_eq!(verify(&forged), Err(AuthError::SignatureDoesNotMatch));
}
