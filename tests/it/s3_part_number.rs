//! GetObject and HeadObject of one part (`partNumber`), as AWS answers
//! them: 206 with the part's bytes, its Content-Range and the object's
//! part count; part 1 of an object of one part is the whole object; a part
//! the object does not have is 416 `InvalidPartNumber`; `partNumber` and
//! `Range` together are 400 `InvalidRequest`. GetObjectAttributes lists
//! the parts' numbers and sizes a page at a time.

use crate::harness::*;
use crate::s3::{call, complete_xml, create_upload, post, put_obj, signed, upload_part};

const MIB: usize = 1 << 20;

#[test]
fn a_part_of_a_multipart_object_reads_alone_with_its_range_and_count() {
    let s = TestServer::start();
    let path = "/uploads/parts.bin";
    let sizes = [5 * MIB, 5 * MIB, 1000];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| vec![b'a' + i as u8; *n])
        .collect();
    let total: usize = sizes.iter().sum();
    let id = create_upload(&s, path);
    let etags: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| upload_part(&s, path, &id, i as u32 + 1, b))
        .collect();
    let listed: Vec<(u32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.as_str()))
        .collect();
    let r = post(&s, path, &[("uploadId", &id)], &complete_xml(&listed));
    assert_eq!(r.status, 200, "{}", r.body);

    // The whole object: no part count (AWS sends it with a part only).
    let (status, headers, body) = get(&signed(&s, "GET", path, &[]));
    assert_eq!((status, body.len()), (200, total));
    assert!(!headers.iter().any(|(k, _)| k == "x-amz-mp-parts-count"));

    let mut start = 0;
    for (i, part) in bodies.iter().enumerate() {
        let n = (i + 1).to_string();
        let (status, headers, body) = get(&signed(&s, "GET", path, &[("partNumber", &n)]));
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(status, 206, "part {n}");
        assert!(body == *part, "the bytes of part {n}");
        let end = start + part.len() - 1;
        assert_eq!(
            header("content-range"),
            format!("bytes {start}-{end}/{total}")
        );
        assert_eq!(header("x-amz-mp-parts-count"), "3");
        assert_eq!(
            header("etag"),
            r.body
                .split("<ETag>")
                .nth(1)
                .unwrap()
                .split("</ETag>")
                .next()
                .unwrap()
                .replace("&quot;", "\"")
        );
        start += part.len();
    }
    // HEAD of a part: its length, no body.
    let head = Resp::from(ureq::head(&signed(&s, "HEAD", path, &[("partNumber", "3")])).call());
    assert_eq!(head.status, 206);
    assert_eq!(head.header("content-length"), Some("1000"));

    // Refused: a part it does not have, a part number out of S3's range,
    // a Range beside it.
    call(&s, "GET", path, &[("partNumber", "4")]).assert_s3_error(416, "InvalidPartNumber");
    for bad in ["0", "10001", "two"] {
        call(&s, "GET", path, &[("partNumber", bad)]).assert_s3_error(400, "InvalidArgument");
    }
    let both = Resp::from(
        ureq::get(&signed(&s, "GET", path, &[("partNumber", "1")]))
            .set("Range", "bytes=0-9")
            .call(),
    );
    both.assert_s3_error(400, "InvalidRequest");

    // GetObjectAttributes pages through the parts' numbers and sizes.
    let attrs = |max: &str, marker: &str| {
        let headers = [
            ("x-amz-object-attributes", "ObjectParts"),
            ("x-amz-max-parts", max),
            ("x-amz-part-number-marker", marker),
        ];
        let url = crate::s3::signed_with(&s, "GET", path, &[("attributes", "")], &headers);
        let req = headers
            .iter()
            .fold(ureq::get(&url), |r, (n, v)| r.set(n, v));
        let r = Resp::from(req.call());
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let first = attrs("2", "0");
    assert!(first.contains("<PartsCount>3</PartsCount>"), "{first}");
    assert!(first.contains("<IsTruncated>true</IsTruncated>"), "{first}");
    assert!(
        first.contains("<NextPartNumberMarker>2</NextPartNumberMarker>"),
        "{first}"
    );
    assert_eq!(first.matches("<Part>").count(), 2, "{first}");
    assert!(first.contains(&format!(
        "<PartNumber>2</PartNumber><Size>{}</Size>",
        5 * MIB
    )));
    let rest = attrs("2", "2");
    assert!(rest.contains("<IsTruncated>false</IsTruncated>"), "{rest}");
    assert!(
        rest.contains("<PartNumber>3</PartNumber><Size>1000</Size>"),
        "{rest}"
    );
    assert_eq!(rest.matches("<Part>").count(), 1, "{rest}");
}

#[test]
fn part_one_of_an_object_of_one_part_is_all_of_it() {
    let s = TestServer::start();
    assert_eq!(
        put_obj(&s, "/uploads/one.txt", b"ten bytes!", &[]).status,
        200
    );
    let (status, headers, body) = get(&signed(
        &s,
        "GET",
        "/uploads/one.txt",
        &[("partNumber", "1")],
    ));
    assert_eq!((status, body.as_slice()), (206, &b"ten bytes!"[..]));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-range" && v == "bytes 0-9/10"));
    assert!(!headers.iter().any(|(k, _)| k == "x-amz-mp-parts-count"));
    call(&s, "GET", "/uploads/one.txt", &[("partNumber", "2")])
        .assert_s3_error(416, "InvalidPartNumber");
}
