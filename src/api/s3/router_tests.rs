//! The one parse, held to a model: whatever encoding a client picks for the
//! bucket, the key, the subresources and the copy source (any byte
//! percent-encoded, hex digits in either case, `+` literal or escaped),
//! the parsed request names exactly the bucket, key and source the client
//! meant, and the access authorization checks is on exactly those buckets —
//! the ones the handler acts on. A repeated parameter is refused.

use super::*;
use proptest::prelude::*;

/// Unreserved bytes (RFC 3986), which may be sent as they are.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// `s` as a client may put it on the wire: every byte that must be escaped
/// is, each other byte escaped or not as `choices` says, in upper or lower
/// hex. `keep` bytes (`/` in a key, `+` anywhere) may also stay literal.
fn wire(s: &str, keep: &[u8], choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        let c = choices.get(i % choices.len().max(1)).copied().unwrap_or(0);
        let may_stay = unreserved(b) || keep.contains(&b);
        if may_stay && c % 3 != 0 {
            out.push(b as char);
        } else if c % 2 == 0 {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn parts(method: &str, target: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(target);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).expect("a valid request").into_parts().0
}

/// A bucket name S3 accepts.
fn bucket() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]"
}

/// A key: any characters, `/`, `%`, `+`, `?`, `&`, `=` and non-ASCII among
/// them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9/%+?&=#;: ._~-]{1,24}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn choices() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..16)
}

proptest! {
    #![proptest_config(crate::testing::config(2000))]

    /// UploadPartCopy, the operation with the most to read: the bucket
    /// and key of the path, the upload id and part number, and the copy
    /// source with its version, each encoded any way.
    #[test]
    fn prop_parse_names_what_the_client_meant(
        (b, k, sb, sk) in (bucket(), key(), bucket(), key()),
        upload_id in "[ -~]{1,20}",
        part in 1u32..=10_000,
        (c1, c2, c3, c4, c5, c6) in (choices(), choices(), choices(), choices(), choices(), choices()),
        (slash, version, swap) in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let path = format!("/{}/{}", wire(&b, b"", &c1), wire(&k, b"/+", &c2));
        let id_param = format!("{}={}", wire("uploadId", b"", &c3), wire(&upload_id, b"+", &c4));
        let part_param = format!("{}={}", wire("partNumber", b"", &c5), wire(&part.to_string(), b"", &c5));
        let query = if swap {
            format!("{part_param}&{id_param}")
        } else {
            format!("{id_param}&{part_param}")
        };
        let source = format!(
            "{}{}/{}{}",
            if slash { "/" } else { "" },
            wire(&sb, b"", &c6),
            wire(&sk, b"/+", &c6),
            if version { "?versionId=null" } else { "" },
        );
        let p = parts("PUT", &format!("{path}?{query}"), &[("x-amz-copy-source", &source)]);
        let req = S3Request::parse(&p).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&req.bucket, &b);
        prop_assert_eq!(&req.key, &k);
        let endpoint = req.endpoint(&p);
        if k.len() > MAX_KEY_LEN || sk.len() > MAX_KEY_LEN {
            prop_assert!(matches!(endpoint, Err(ApiError::KeyTooLong)));
            return Ok(());
        }
        let expected_source = CopySource {
            bucket: sb.clone(),
            key: sk.clone(),
            version_id: version.then(|| "null".to_string()),
            conditions: Default::default(),
        };
        prop_assert_eq!(
            endpoint.as_ref().ok(),
            Some(&Endpoint::UploadPartCopy {
                upload_id: upload_id.clone(),
                part_number: part,
                source: expected_source.clone(),
            })
        );
        let endpoint = endpoint.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        // What authorization checks: write on the path's bucket, read on
        // the source's — the buckets the handler writes and reads.
        prop_assert_eq!(endpoint.access(), Some(Access::Write));
        prop_assert_eq!(endpoint.copy_source(), Some(&expected_source));
    }

    /// A parameter given twice, under any two spellings, is refused: there
    /// is no first or last one for two readers to disagree on.
    #[test]
    fn prop_repeated_parameters_are_refused(
        name in prop::sample::select(vec!["uploadId", "partNumber", "uploads", "prefix", "response-content-type"]),
        (c1, c2) in (choices(), choices()),
        (v1, v2) in ("[a-z0-9]{0,8}", "[a-z0-9]{0,8}"),
    ) {
        let target = format!("/bkt/key?{}={v1}&{}={v2}", wire(name, b"", &c1), wire(name, b"", &c2));
        let p = parts("GET", &target, &[]);
        prop_assert!(matches!(S3Request::parse(&p), Err(ApiError::InvalidArgument(_))));
    }

    /// However a subresource's name is spelled, it is that subresource:
    /// an anonymous reader never reaches uploads in progress, CORS or
    /// versions behind an escape, and `response-*` overrides are seen.
    #[test]
    fn prop_subresources_are_what_they_decode_to(
        which in 0usize..5,
        c in choices(),
    ) {
        let (name, target_of, expected) = [
            ("uploads", "/pub", Endpoint::ListMultipartUploads),
            ("cors", "/pub", Endpoint::GetBucketCors),
            ("versions", "/pub", Endpoint::ListObjectVersions),
            ("uploadId", "/pub/k", Endpoint::ListParts { upload_id: "u".into() }),
            ("response-content-type", "/pub/k", Endpoint::GetObject { overrides: true, version: None }),
        ][which].clone();
        let value = if name == "uploads" || name == "cors" || name == "versions" { "" } else { "u" };
        let target = format!("{target_of}?{}={value}", wire(name, b"", &c));
        let p = parts("GET", &target, &[]);
        let req = S3Request::parse(&p).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(req.presented, Presented::Nothing);
        let e = req.endpoint(&p).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&e, &expected);
        let overriding_get = Endpoint::GetObject { overrides: true, version: None };
        prop_assert!(!e.open_to_anonymous_readers() || e == overriding_get);
    }
}

#[test]
fn a_copy_source_is_decoded_before_it_is_split() {
    let p = parts(
        "PUT",
        "/mine/stolen",
        &[("x-amz-copy-source", "private-a%2Fsecret.txt")],
    );
    let req = S3Request::parse(&p).unwrap();
    let e = req.endpoint(&p).unwrap();
    assert_eq!(
        e.copy_source(),
        Some(&CopySource {
            bucket: "private-a".into(),
            key: "secret.txt".into(),
            version_id: None,
            conditions: Default::default(),
        })
    );
}

#[test]
fn unimplemented_subresources_and_unknown_write_parameters_are_refused() {
    for (method, target) in [
        ("PUT", "/b/k?restore"),
        ("POST", "/b/k?select&select-type=2"),
        ("DELETE", "/b?encryption"),
        ("DELETE", "/b?ownershipControls"),
        ("PUT", "/b/k?torrent"),
        ("PUT", "/b?website"),
        ("DELETE", "/b?replication"),
        ("PUT", "/b/k?some-future-thing"),
        ("POST", "/b/k?renameObject"),
        ("GET", "/b?%72eplication"),
    ] {
        let p = parts(method, target, &[]);
        let e = S3Request::parse(&p).unwrap().endpoint(&p);
        assert!(
            matches!(e, Err(ApiError::NotImplemented(_))),
            "{method} {target}: {e:?}"
        );
    }
    // What SDKs send on writes is still served.
    for (method, target, expected) in [
        ("PUT", "/b/k?x-id=PutObject", Endpoint::PutObject),
        (
            "DELETE",
            "/b/k?versionId=null",
            Endpoint::DeleteObject {
                version: Some("null".into()),
            },
        ),
        ("POST", "/b?delete=", Endpoint::DeleteObjects),
        ("POST", "/b/k?uploads", Endpoint::CreateMultipartUpload),
    ] {
        let p = parts(method, target, &[]);
        let e = S3Request::parse(&p).unwrap().endpoint(&p).unwrap();
        assert_eq!(e, expected, "{method} {target}");
    }
}

#[test]
fn a_version_is_parsed_once_where_an_operation_names_one() {
    let id = "0123456789abcdef0123456789abcdef";
    for (method, target, expected) in [
        (
            "GET",
            format!("/b/k?versionId={id}"),
            Endpoint::GetObject {
                overrides: false,
                version: Some(id.into()),
            },
        ),
        (
            "HEAD",
            "/b/k?version%49d=null".to_string(),
            Endpoint::HeadObject {
                version: Some("null".into()),
            },
        ),
        (
            "PUT",
            format!("/b/k?tagging&versionId={id}"),
            Endpoint::PutObjectTagging {
                version: Some(id.into()),
            },
        ),
        (
            "PUT",
            "/b?versioning".to_string(),
            Endpoint::PutBucketVersioning,
        ),
        (
            "GET",
            "/b?versioning".to_string(),
            Endpoint::GetBucketVersioning,
        ),
    ] {
        let p = parts(method, &target, &[]);
        let e = S3Request::parse(&p).unwrap().endpoint(&p).unwrap();
        assert_eq!(e, expected, "{method} {target}");
    }
    // A malformed id names no version (400, not 404); a write or a bucket
    // request names none at all.
    for (method, target) in [
        ("GET", "/b/k?versionId=3"),
        ("GET", "/b/k?versionId="),
        ("DELETE", "/b/k?versionId=NULL"),
        ("PUT", "/b/k?versionId=null"),
        ("POST", "/b/k?uploads&versionId=null"),
        ("GET", "/b?versionId=null"),
    ] {
        let p = parts(method, target, &[]);
        let e = S3Request::parse(&p).unwrap().endpoint(&p);
        assert!(
            matches!(e, Err(ApiError::InvalidArgument(_))),
            "{method} {target}: {e:?}"
        );
    }
    // A copy source's version, decoded with it.
    let p = parts(
        "PUT",
        "/b/dst",
        &[("x-amz-copy-source", &format!("/b/a%3Fb?versionId={id}"))],
    );
    let e = S3Request::parse(&p).unwrap().endpoint(&p).unwrap();
    assert_eq!(
        e.copy_source()
            .map(|s| (s.key.as_str(), s.version_id.as_deref())),
        Some(("a?b", Some(id)))
    );
    let p = parts(
        "PUT",
        "/b/dst",
        &[("x-amz-copy-source", "/b/a?versionId=1")],
    );
    let e = S3Request::parse(&p).unwrap().endpoint(&p);
    assert!(matches!(e, Err(ApiError::InvalidArgument(_))), "{e:?}");
}

#[test]
fn credentials_are_read_from_the_decoded_query() {
    let cases = [
        ("/b/k?X-Amz-Signature=x", Presented::V4Query),
        ("/b/k?X-%41mz-Signature=x", Presented::V4Query),
        ("/b/k?%41WSAccessKeyId=x", Presented::V2Query),
        ("/b/k?prefix=X-Amz-", Presented::Nothing),
    ];
    for (target, expected) in cases {
        let p = parts("GET", target, &[]);
        assert_eq!(
            S3Request::parse(&p).unwrap().presented,
            expected,
            "{target}"
        );
    }
}

#[test]
fn every_subresource_sigv2_signs_is_known_to_the_router() {
    for name in crate::sigv4::v2::SUBRESOURCES {
        assert!(
            S3_SUBRESOURCES.contains(name)
                || IMPLEMENTED_SUBRESOURCES.contains(name)
                || name.starts_with("response-"),
            "{name}"
        );
    }
}
