//! Known answers from the Amazon S3 API reference (`s3-sigv4-examples.json`): header-auth
//! signatures, the presigned GET URL, and the chunked-upload seed and chunk signatures.
//!
//! Owns: checking our canonical/key/string-to-sign steps, `presign` and `verify_presigned`
//! against S3's published values.
//! Must never: recompute an expected value with the code under test.

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::sigv4::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, signed_headers_line,
};
use crate::sigv4::encode::uri_encode;
use crate::sigv4::string_to_sign::{
    chunk_string_to_sign, credential_scope, parse_amz_date, sha256_hex, string_to_sign,
    STREAMING_PAYLOAD,
};
use crate::sigv4::{
    presign, signing_key, verify_presigned, AuthError, Credentials, PresignParams, RequestParts,
    VerifyParams,
};

struct Examples {
    json: Value,
    creds: Credentials,
    region: String,
    service: String,
    amz_date: String,
}

fn load() -> Examples {
    let path = super::data_dir().join("s3-sigv4-examples.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    let c = &json["credentials"];
    let s = |k: &str| c[k].as_str().unwrap().to_owned();
    Examples {
        creds: Credentials {
            access_key_id: s("accessKeyId"),
            secret_access_key: s("secretAccessKey"),
        },
        region: s("region"),
        service: s("service"),
        amz_date: s("amzDate"),
        json,
    }
}

fn str_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn header_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Signs a header-authenticated request with the module's steps and returns the signature.
fn header_auth_signature(
    ex: &Examples,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let creq = canonical_request(
        method,
        &canonical_uri(path),
        &canonical_query(query),
        &canonical_headers(&signed, headers),
        signed_headers,
        payload_hash,
    );
    let day = &ex.amz_date[..8];
    let scope = credential_scope(day, &ex.region, &ex.service);
    let sts = string_to_sign(&ex.amz_date, &scope, &creq);
    let key = signing_key(&ex.creds.secret_access_key, day, &ex.region, &ex.service);
    crate::sigv4::key::signature(&key, &sts)
}

#[test]
fn header_auth_examples_match_published_signatures() {
    let ex = load();
    let cases = ex.json["headerAuth"].as_array().unwrap();
    assert!(
        cases.len() >= 4,
        "expected the four S3 header-auth examples"
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let path = case["path"].as_str().unwrap();
        if let Some(uri) = case.get("canonicalUri") {
            assert_eq!(canonical_uri(path), uri.as_str().unwrap(), "{name}: URI");
        }
        let headers = header_map(&case["headers"]);
        let signed = case["signedHeaders"].as_str().unwrap();
        // Every header in these examples is signed; the line is derived, not copied.
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            signed_headers_line(&names),
            signed,
            "{name}: signed headers"
        );
        let payload_hash = case["payloadHash"].as_str().unwrap();
        if let Some(body) = case.get("body") {
            let body = body.as_str().unwrap();
            assert_eq!(
                sha256_hex(body.as_bytes()),
                payload_hash,
                "{name}: body hash"
            );
        }
        let sig = header_auth_signature(
            &ex,
            case["method"].as_str().unwrap(),
            path,
            &str_pairs(&case["query"]),
            &headers,
            signed,
            payload_hash,
        );
        assert_eq!(
            sig,
            case["signature"].as_str().unwrap(),
            "{name}: signature"
        );
    }
}

/// The example presigned URL from the Amazon S3 API reference.
const PUBLISHED_URL: &str = "https://examplebucket.s3.amazonaws.com/test.txt\
    ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_get_example_reproduced_and_verified() {
    let ex = load();
    let case = &ex.json["queryAuth"][0];
    let host = case["host"].as_str().unwrap();
    let path = case["path"].as_str().unwrap();
    let method = case["method"].as_str().unwrap();
    let published_sig = case["signature"].as_str().unwrap();
    let params = str_pairs(&case["query"]);
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(case["payloadHash"], "UNSIGNED-PAYLOAD");
    assert_eq!(param("X-Amz-SignedHeaders"), "host");

    // The URL exactly as published on the S3 "query parameters" example page; the JSON holds
    // its parts, which must agree with it.
    assert!(PUBLISHED_URL.ends_with(&format!("&X-Amz-Signature={published_sig}")));
    let from_json = params
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        format!("https://{host}{path}?{from_json}&X-Amz-Signature={published_sig}"),
        PUBLISHED_URL
    );
    let published_query = PUBLISHED_URL.split_once('?').unwrap().1;

    let signed_at = parse_amz_date(param("X-Amz-Date")).unwrap();
    let expires: u64 = param("X-Amz-Expires").parse().unwrap();
    let query = presign(
        &ex.creds,
        &PresignParams {
            method,
            host,
            path,
            region: &ex.region,
            service: &ex.service,
            expires_secs: expires,
            extra_query: &[],
            extra_signed_headers: &[],
        },
        signed_at,
    );
    assert_eq!(format!("https://{host}{path}?{query}"), PUBLISHED_URL);

    let headers = vec![("host".to_owned(), host.to_owned())];
    let req = RequestParts {
        method,
        raw_path: path,
        raw_query: published_query,
        headers: &headers,
    };
    let secret_for =
        |id: &str| (id == ex.creds.access_key_id).then(|| ex.creds.secret_access_key.clone());
    let vp = VerifyParams {
        region: &ex.region,
        service: &ex.service,
    };
    let inside = signed_at + Duration::hours(1);
    let ok = verify_presigned(&req, secret_for, &vp, inside).unwrap();
    assert_eq!(ok.access_key_id, ex.creds.access_key_id);
    assert_eq!(ok.signed_at, signed_at);
    assert_eq!(ok.expires_at, signed_at + Duration::seconds(86_400));
    assert_eq!(ok.signed_headers, ["host"]);
    assert_eq!(ok.param("X-Amz-Expires"), Some("86400"));
    assert_eq!(ok.param("X-Amz-Signature"), None);

    let last_valid = signed_at + Duration::seconds(86_400);
    assert!(verify_presigned(&req, secret_for, &vp, last_valid).is_ok());
    let after = last_valid + Duration::seconds(1);
    assert_eq!(
        verify_presigned(&req, secret_for, &vp, after),
        Err(AuthError::Expired)
    );
    let later: OffsetDateTime = signed_at + Duration::days(30);
    let err = verify_presigned(&req, secret_for, &vp, later).unwrap_err();
    assert_eq!((err.s3_code(), err.http_status()), ("AccessDenied", 403));
}

#[test]
fn chunked_upload_seed_and_chunk_signatures() {
    let ex = load();
    let case = &ex.json["chunkedUpload"];
    let headers = header_map(&case["headers"]);
    let signed = case["signedHeaders"].as_str().unwrap();
    assert_eq!(
        case["headers"]["x-amz-content-sha256"].as_str(),
        Some(STREAMING_PAYLOAD)
    );
    let seed = header_auth_signature(
        &ex,
        case["method"].as_str().unwrap(),
        case["path"].as_str().unwrap(),
        &[],
        &headers,
        signed,
        STREAMING_PAYLOAD,
    );
    assert_eq!(seed, case["seedSignature"].as_str().unwrap());

    let day = &ex.amz_date[..8];
    let scope = credential_scope(day, &ex.region, &ex.service);
    let key = signing_key(&ex.creds.secret_access_key, day, &ex.region, &ex.service);
    let mut previous = seed;
    let chunks = case["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    for chunk in chunks {
        let size = usize::try_from(chunk["size"].as_u64().unwrap()).unwrap();
        // Every chunk in the example is made of 'a' bytes (the last one is empty).
        let data = vec![b'a'; size];
        let sts = chunk_string_to_sign(&ex.amz_date, &scope, &previous, &sha256_hex(&data));
        let sig = crate::sigv4::key::signature(&key, &sts);
        assert_eq!(sig, chunk["signature"].as_str().unwrap(), "chunk of {size}");
        previous = sig;
    }
}
