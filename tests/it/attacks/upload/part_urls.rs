//! Finding A: a part URL of the JSON API takes exactly the bytes of the
//! part it was issued for. Its size is signed into it; another
//! Content-Length is refused before the body is read, and nothing of it is
//! kept. Without this, an upload token could park S3's 5 GiB per part
//! (about 1024 × 5 GiB per file id, past `[upload] max_size`) for as long
//! as it kept asking for the parts again.

use super::*;
use crate::harness::{curl_put, split_url, with_param, without_param};

/// The name of the signed size in a part URL.
const SIZE: &str = "X-Stowage-Size";

/// Asks for the parts of `f` in pieces of [`PART`] with `token`; the plan.
fn plan(g: &Gateway, token: &str, f: &TestFile) -> Vec<Value> {
    let mut d = f.declaration();
    d["partSize"] = PART.into();
    let r = post_as(g, token, "/upload/parts", &d);
    assert_eq!(r.status, 201, "the parts must be asked for: {}", r.body);
    r.json()["data"]["parts"].as_array().expect("parts").clone()
}

fn url(part: &Value) -> String {
    part["url"].as_str().expect("a part URL").to_string()
}

/// PUTs `bytes` to a part URL (with curl, which reads an answer given
/// before the body is sent) and asserts the S3 refusal `code` (400); its
/// message.
fn refused(url: &str, bytes: &[u8], code: &str) -> String {
    let (status, body) = curl_put(url, "application/octet-stream", bytes);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    body
}

#[test]
fn a_part_url_takes_exactly_the_size_of_its_part() {
    let g = Gateway::start("", "");
    let token = upload_token(&g, "field");
    // 5 MiB + 1 in parts of 5 MiB: part 2 is one byte.
    let f = TestFile::new(PART + 1);
    let parts = plan(&g, &token, &f);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[1]["size"], 1);
    let (one, two) = (url(&parts[0]), url(&parts[1]));
    let before = state(&g);

    // The attack as reported: 64 MiB to the URL of the one-byte part.
    let flood = vec![0x5a; 64 << 20];
    let why = refused(&two, &flood, "EntityTooLarge");
    assert!(
        why.contains("part of 1 bytes") && why.contains("nothing was stored"),
        "{why}"
    );

    // Only announced, never sent: refused on the headers alone (were the
    // body awaited, this would get no answer).
    let (path, host) = split_url(&two);
    let raw = raw_request(
        g.addr,
        format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5368709120\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
        false,
    );
    Resp::from_raw(&raw).assert_s3_error(400, "EntityTooLarge");

    // Too short for part 1, or too long by a byte: refused alike.
    refused(&one, &f.bytes[..PART - 1], "IncompleteBody");
    refused(&one, &f.bytes, "EntityTooLarge");
    refused(&two, b"", "IncompleteBody");

    // The size is signed: raised, or dropped to fall back on S3's 5 GiB,
    // the URL no longer authenticates.
    let raised = with_param(&two, SIZE, "2");
    put(&raised, "application/octet-stream", b"xy").assert_s3_error(403, "SignatureDoesNotMatch");
    let dropped = without_param(&two, SIZE);
    put(&dropped, "application/octet-stream", b"xy").assert_s3_error(403, "SignatureDoesNotMatch");

    // Nothing of any of it was stored: no part, no blob, no file on disk.
    assert_eq!(state(&g), before);
    assert!(g
        .index_rows("SELECT upload_id FROM multipart_parts")
        .is_empty());

    // The parts as declared go through, and make the file.
    let r = put(&one, "application/octet-stream", &f.bytes[..PART]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(&two, "application/octet-stream", &f.bytes[PART..]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_as(
        &g,
        &token,
        "/upload/complete",
        &serde_json::json!({"id": f.id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(download(&g, &f), f.bytes);
}

/// Asking again with another `partSize` gives URLs for the new sizes; a
/// URL of the earlier plan still takes only the size it was issued for.
#[test]
fn each_plan_signs_its_own_part_sizes() {
    let g = Gateway::start("", "");
    let token = upload_token(&g, "field");
    let f = TestFile::new(2 * PART + 10);
    let small = plan(&g, &token, &f);
    assert_eq!(small.len(), 3);
    let mut d = f.declaration();
    d["partSize"] = (2 * PART).into();
    let r = post_as(&g, &token, "/upload/parts", &d);
    assert_eq!(r.status, 201, "{}", r.body);
    let large = r.json()["data"]["parts"].as_array().unwrap().clone();
    assert_eq!(large.len(), 2);
    assert_eq!(large[0]["size"], 2 * PART);

    // Part 1 of the first plan is 5 MiB: 10 MiB to it is refused.
    let before = state(&g);
    refused(&url(&small[0]), &f.bytes[..2 * PART], "EntityTooLarge");
    assert_eq!(state(&g), before);

    // The second plan's URLs take its sizes, and complete the file.
    for (i, p) in large.iter().enumerate() {
        let bytes = &f.bytes[i * 2 * PART..f.bytes.len().min((i + 1) * 2 * PART)];
        let r = put(&url(p), "application/octet-stream", bytes);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = post_as(
        &g,
        &token,
        "/upload/complete",
        &serde_json::json!({"id": f.id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(download(&g, &f), f.bytes);
}
