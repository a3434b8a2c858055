//! Found in our own review: only this gateway's URLs speak for the upload
//! API. Any key with write on the upload bucket could sign a URL of its own
//! carrying `X-Stowage-*` and so declare a file (a record in the API's
//! listing, under a name of its choosing); and any key could put, list,
//! complete or abort the parts of the API's part-wise uploads (`file-…`),
//! breaking a field client's resumable upload. Both are refused now, and
//! nothing is recorded.

use super::*;
use crate::harness::curl_put;

#[test]
fn no_key_but_the_gateways_urls_declares_a_file() {
    let g = Gateway::start("", "");
    let bob = g.new_key("bob");
    g.cli(&["key", "allow", "bob", "uploads", "--write"]);
    let body = b"a forged declaration".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    let size = body.len().to_string();
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!("/uploads/{id}");
    let before = state(&g);
    let declaration = [
        ("X-Stowage-Sha256", sha.as_str()),
        ("X-Stowage-Size", size.as_str()),
        ("X-Stowage-Name", "invoice.html"),
    ];
    // Presigned by bob, SigV4.
    let url = g.v4_presigned(&bob, "PUT", &path, &declaration, 300);
    g.send("PUT", &url, &[], &body)
        .assert_s3_error(403, "AccessDenied");
    // Header-signed by bob, and by the configured key: the parameters
    // belong to query-signed URLs the presign API issues, nothing else.
    let query = format!("X-Stowage-Sha256={sha}&X-Stowage-Size={size}&X-Stowage-Name=invoice.html");
    for who in [&bob, &g.main] {
        g.v4(who, "PUT", &path, &query, &[], &body)
            .assert_s3_error(403, "AccessDenied");
        g.v2(who, "PUT", &path, &query, &[], &body)
            .assert_s3_error(403, "AccessDenied");
    }
    assert_eq!(state(&g), before);
    // Bob's plain writes to the bucket still work.
    assert_eq!(g.v4(&bob, "PUT", &path, "", &[], &body).status, 200);
}

#[test]
fn the_parts_of_the_apis_uploads_are_reached_only_by_its_part_urls() {
    let g = Gateway::start("", "");
    let bob = g.new_key("bob");
    g.cli(&["key", "allow", "bob", "uploads", "--write"]);
    let f = TestFile::new(PART + 1);
    let mut d = f.declaration();
    d["partSize"] = PART.into();
    let r = post(&g, "/upload/parts", &d);
    assert_eq!(r.status, 201, "{}", r.body);
    let data = r.json()["data"].clone();
    let upload_id = data["uploadId"].as_str().expect("an upload id").to_string();
    assert!(upload_id.starts_with("file-"), "{upload_id}");
    let path = format!("/uploads/{}", f.id);
    let before = state(&g);
    let part1 = format!("partNumber=1&uploadId={upload_id}");
    let only_id = format!("uploadId={upload_id}");
    let list = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
<ETag>\"x\"</ETag></Part></CompleteMultipartUpload>";
    for who in [&bob, &g.main] {
        g.v4(who, "PUT", &path, &part1, &[], &f.bytes[..PART])
            .assert_s3_error(404, "NoSuchUpload");
        g.v2(who, "PUT", &path, &part1, &[], &f.bytes[..PART])
            .assert_s3_error(404, "NoSuchUpload");
        let copy = [("x-amz-copy-source", "/uploads/anything")];
        g.v4(who, "PUT", &path, &part1, &copy, b"")
            .assert_s3_error(404, "NoSuchUpload");
        g.v4(who, "GET", &path, &only_id, &[], b"")
            .assert_s3_error(404, "NoSuchUpload");
        g.v4(who, "POST", &path, &only_id, &[], list)
            .assert_s3_error(404, "NoSuchUpload");
        g.v4(who, "DELETE", &path, &only_id, &[], b"")
            .assert_s3_error(404, "NoSuchUpload");
    }
    // A URL bob presigned, with the API's size parameter forged. (The
    // configured key signs the API's own URLs: one it presigns is one.)
    let forged = g.v4_presigned(
        &bob,
        "PUT",
        &path,
        &[
            ("partNumber", "1"),
            ("uploadId", &upload_id),
            ("X-Stowage-Size", &PART.to_string()),
        ],
        300,
    );
    g.send("PUT", &forged, &[], &f.bytes[..PART])
        .assert_s3_error(403, "AccessDenied");
    assert_eq!(state(&g), before);
    // The API's own part URLs still take their parts, and the file
    // completes.
    for (i, part) in data["parts"].as_array().expect("parts").iter().enumerate() {
        let url = part["url"].as_str().expect("a part URL");
        let bytes = &f.bytes[i * PART..((i + 1) * PART).min(f.bytes.len())];
        let (status, body) = curl_put(url, "application/octet-stream", bytes);
        assert_eq!(status, 200, "{body}");
    }
    let r = complete(&g, &f.id);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(download(&g, &f), f.bytes);
}
