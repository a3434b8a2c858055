//! The upload API against the bytes and objects of others (issue 13,
//! findings 5, 6 and 9): dedupe must not hand a declarer bytes it never
//! sent (another key's private object), "already stored" must never be said
//! of a damaged or missing blob (and a verified upload heals one), and an
//! upload token must never replace an object an S3 client wrote.
//!
//! And the other way round (our own review, findings A–C), each in a module
//! of its own: a part URL takes exactly its part's size (`part_urls`), an
//! upload-only token learns nothing of a file it did not send
//! (`upload_scope`), and an S3 write never replaces a file of the upload
//! API (`write_once`). This file holds the helpers they share.

mod own_urls;
mod part_urls;
mod upload_scope;
mod write_once;

use serde_json::Value;

use super::*;
use crate::harness::{get, put, TestFile};

const API: &str = "/api/inspect/v1/file";

/// POSTs JSON to the upload API with the fixture's token.
fn post(g: &Gateway, path: &str, body: &Value) -> Resp {
    post_as(g, &g.token, path, body)
}

/// POSTs JSON to the upload API with `token`.
fn post_as(g: &Gateway, token: &str, path: &str, body: &Value) -> Resp {
    Resp::from(
        ureq::post(&format!("{}{API}{path}", g.served.base))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
    )
}

/// A token made by `stowage token create --scopes upload`: it may send
/// files, not read them.
fn upload_token(g: &Gateway, name: &str) -> String {
    let out = g.cli(&["token", "create", "--name", name, "--scopes", "upload"]);
    let token = out.lines().last().unwrap_or("").trim().to_string();
    assert!(token.starts_with("stw_"), "no token printed: {out}");
    token
}

/// Everything the index and the store hold, as text: what a refused
/// request must leave exactly as it was.
fn state(g: &Gateway) -> Vec<Vec<String>> {
    let on_disk = g.stored_blobs();
    vec![
        g.index_rows(
            "SELECT id || ' ' || file_name || ' ' || content_type || ' ' || size || ' ' || \
             sha256 || ' ' || status || ' ' || coalesce(CAST(completed_at AS TEXT), '-') FROM files",
        ),
        g.index_rows(
            "SELECT bucket || '/' || key || ' ' || sha256 || ' ' || size || ' ' || etag || \
             ' ' || content_type || ' ' || meta || ' ' || last_modified FROM objects",
        ),
        g.index_rows("SELECT bucket || '/' || key || ' ' || upload_id FROM multipart_uploads"),
        g.index_rows(
            "SELECT upload_id || ' ' || part_number || ' ' || sha256 || ' ' || size \
             FROM multipart_parts",
        ),
        g.index_rows("SELECT sha256 || ' ' || size FROM blobs"),
        on_disk,
    ]
}

fn presign(g: &Gateway, f: &TestFile) -> Resp {
    post(g, "/upload/presigned", &f.declaration())
}

/// Presign of `f` that must hand out a URL (201): the client is to send
/// the bytes.
fn presign_url(g: &Gateway, f: &TestFile) -> String {
    let r = presign(g, f);
    assert_eq!(r.status, 201, "presign must ask for the bytes: {}", r.body);
    r.json()["data"]["presignedURL"]
        .as_str()
        .expect("a presigned URL")
        .to_string()
}

fn complete(g: &Gateway, id: &str) -> Resp {
    post(g, "/upload/complete", &serde_json::json!({ "id": id }))
}

/// The file's metadata as the API shows it.
fn file(g: &Gateway, id: &str) -> Value {
    let r = Resp::from(
        ureq::get(&format!("{}{API}/{id}", g.served.base))
            .set("Authorization", &format!("Bearer {}", g.token))
            .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"].clone()
}

/// Completes `f` (its bytes stored) and downloads it through the URL the
/// API hands out.
fn download(g: &Gateway, f: &TestFile) -> Vec<u8> {
    let c = complete(g, &f.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let url = c.json()["data"]["downloadURL"]
        .as_str()
        .expect("a download URL")
        .to_string();
    let (status, _, body) = get(&url);
    assert_eq!(status, 200, "download of {}", f.id);
    body
}

/// Uploads and completes `f` through the API.
fn store(g: &Gateway, f: &TestFile) {
    let url = presign_url(g, f);
    let r = put(&url, &f.content_type, &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(download(g, f), f.bytes);
}

/// The damage mark of blob `hex` in the index ("" when unmarked).
fn damage(g: &Gateway, hex: &str) -> String {
    let rows = g.index_rows(&format!(
        "SELECT coalesce(damaged, '') FROM blobs WHERE sha256 = '{hex}'"
    ));
    assert_eq!(rows.len(), 1, "blob {hex} has no row");
    rows[0].clone()
}

/// Stops the gateway and starts it again on the same data dir, as an
/// operator's restart would (the start-up pass runs, and marks recent
/// blobs whose files are missing or cut). The address changes.
fn restart(g: &mut Gateway) {
    let _ = g.served.child.kill();
    let _ = g.served.child.wait();
    g.served = Served::start(&g.config);
    g.host = g.served.base.trim_start_matches("http://").to_string();
    g.addr = g.host.parse().expect("host:port");
}

/// The status of file `id` in the index, if it has a row.
fn status_row(g: &Gateway, id: &str) -> Vec<String> {
    g.index_rows(&format!("SELECT status FROM files WHERE id = '{id}'"))
}

/// Finding 5: whoever knows a private object's SHA-256 and size, and holds
/// an upload token, must not get its bytes (nor learn that they exist).
#[test]
fn dedupe_never_hands_over_bytes_of_another_keys_private_bucket() {
    let g = Gateway::start("", "");
    let owner = g.new_key("owner");
    assert_eq!(g.v4(&owner, "PUT", "/vault", "", &[], b"").status, 200);
    // Small bytes are kept inline in the index, larger ones as files.
    for len in [3_000, 200_000] {
        let secret = TestFile::new(len);
        let key = format!("/vault/{len}.bin");
        let r = g.v4(&owner, "PUT", &key, "", &[], &secret.bytes);
        assert_eq!(r.status, 200, "{}", r.body);

        // The same declaration under a new id: a URL (201) to send the
        // bytes, exactly as for bytes nobody stored (no existence oracle).
        let r = presign(&g, &secret);
        assert_eq!(r.status, 201, "the private bytes were linked: {}", r.body);
        assert!(r.json()["data"]["presignedURL"].is_string());
        assert_eq!(presign(&g, &TestFile::new(len)).status, 201);

        // Completing without sending them is refused, and nothing of them
        // is reachable through the upload API or its bucket.
        complete(&g, &secret.id).assert_json_error(409, "Conflict");
        let meta = file(&g, &secret.id);
        assert_eq!(meta["status"], "pending");
        assert!(meta.get("downloadURL").is_none_or(Value::is_null), "{meta}");
        g.v4(
            &g.main,
            "GET",
            &format!("/uploads/{}", secret.id),
            "",
            &[],
            b"",
        )
        .assert_s3_error(404, "NoSuchKey");
        assert_eq!(status_row(&g, &secret.id), ["pending"]);
        assert!(g
            .index_rows(&format!(
                "SELECT key FROM objects WHERE bucket = 'uploads' AND key = '{}'",
                secret.id
            ))
            .is_empty());

        // The URL takes only the bytes themselves (which the declarer then
        // has anyway): other bytes of that size are refused.
        let url = presign_url(&g, &secret);
        let mut wrong = secret.bytes.clone();
        wrong[0] ^= 1;
        put(&url, &secret.content_type, &wrong).assert_s3_error(400, "BadDigest");
        assert_eq!(status_row(&g, &secret.id), ["pending"]);

        // The owner's object is untouched, and still theirs alone.
        let r = g.v4(&owner, "GET", &key, "", &[], b"");
        assert_eq!(r.status, 200);
        assert!(r.body == String::from_utf8_lossy(&secret.bytes), "changed");
        let stranger = g.new_key(&format!("stranger-{len}"));
        g.v4(&stranger, "GET", &key, "", &[], b"")
            .assert_s3_error(403, "AccessDenied");
    }
    // Dedupe still links to bytes a file of the upload API holds.
    let shared = TestFile::new(200_000);
    store(&g, &shared);
    let mut twin = shared.clone();
    twin.id = uuid::Uuid::new_v4().to_string();
    assert_eq!(presign(&g, &twin).status, 200);
    assert_eq!(download(&g, &twin), shared.bytes);
}

/// Finding 6: a blob cut short on disk (found and marked by the start-up
/// pass) is not "already stored" — neither for a new id nor for the file's
/// own — and a verified upload of its bytes replaces it.
#[test]
fn a_damaged_blob_is_never_stored_and_a_verified_upload_heals_it() {
    let mut g = Gateway::start_single("", "");
    let f = TestFile::new(300_000);
    store(&g, &f);
    let hex = hex::encode(f.sha256());
    let path = g.blob_file(&hex);
    // What a disk that lied about a flush can leave after a power cut.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1000)
        .unwrap();
    restart(&mut g);
    assert!(
        damage(&g, &hex).contains("1000 bytes"),
        "{}",
        damage(&g, &hex)
    );

    // A new id declaring those bytes must send them.
    let mut twin = f.clone();
    twin.id = uuid::Uuid::new_v4().to_string();
    let twin_url = presign_url(&g, &twin);
    complete(&g, &twin.id).assert_json_error(409, "Conflict");
    // The file's own id gets a URL too; it stays uploaded meanwhile.
    let url = presign_url(&g, &f);
    assert_eq!(file(&g, &f.id)["status"], "completed");

    // Sending them heals the blob: the whole bytes, the mark gone.
    let r = put(&url, &f.content_type, &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(std::fs::read(&path).unwrap(), f.bytes);
    assert_eq!(damage(&g, &hex), "");
    assert_eq!(download(&g, &f), f.bytes);
    // Intact again: the twin's PUT is answered as stored, and a third id
    // is linked to the bytes at once.
    assert_eq!(put(&twin_url, &f.content_type, &f.bytes).status, 200);
    assert_eq!(download(&g, &twin), f.bytes);
    let mut third = f.clone();
    third.id = uuid::Uuid::new_v4().to_string();
    assert_eq!(presign(&g, &third).status, 200);
    assert_eq!(download(&g, &third), f.bytes);
}

/// Finding 6, unmarked: a blob file deleted while the gateway runs. A new
/// id must send the bytes, and a URL issued before the loss (whose PUT
/// would otherwise be answered from the row, unread) takes them and heals
/// the blob.
#[test]
fn a_missing_blob_is_never_stored_and_its_old_url_heals_it() {
    let g = Gateway::start_single("", "");
    let f = TestFile::new(300_000);
    let url = presign_url(&g, &f);
    assert_eq!(put(&url, &f.content_type, &f.bytes).status, 200);
    let hex = hex::encode(f.sha256());
    let path = g.blob_file(&hex);
    std::fs::remove_file(&path).unwrap();

    let mut twin = f.clone();
    twin.id = uuid::Uuid::new_v4().to_string();
    presign_url(&g, &twin);
    assert_eq!(status_row(&g, &twin.id), ["pending"]);

    let r = put(&url, &f.content_type, &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(std::fs::read(&path).unwrap(), f.bytes);
    assert_eq!(download(&g, &f), f.bytes);
}

/// Finding 6 through S3: PutObject of the same bytes goes through the same
/// store commit, so it heals a blob the start-up pass marked, and one whose
/// damage no size check can see (a flipped bit).
#[test]
fn an_s3_put_of_the_same_bytes_heals_a_damaged_blob() {
    let mut g = Gateway::start_single("", "");
    let f = TestFile::new(300_000);
    store(&g, &f);
    let hex = hex::encode(f.sha256());
    let path = g.blob_file(&hex);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(7)
        .unwrap();
    restart(&mut g);
    assert!(!damage(&g, &hex).is_empty());

    assert_eq!(g.v4(&g.main, "PUT", "/mine", "", &[], b"").status, 200);
    let r = g.v4(&g.main, "PUT", "/mine/copy.bin", "", &[], &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(std::fs::read(&path).unwrap(), f.bytes);
    assert_eq!(damage(&g, &hex), "");
    assert_eq!(download(&g, &f), f.bytes);

    // Same size, one bit flipped: nothing marks it, the next verified
    // write of those bytes still replaces it.
    let mut flipped = f.bytes.clone();
    flipped[150_000] ^= 0x10;
    std::fs::write(&path, &flipped).unwrap();
    let r = g.v4(&g.main, "PUT", "/mine/again.bin", "", &[], &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(std::fs::read(&path).unwrap(), f.bytes);
    assert_eq!(download(&g, &f), f.bytes);
}

/// S3's smallest part but the last.
const PART: usize = 5 * 1024 * 1024;

/// Asks for the parts of `f` in pieces of [`PART`], PUTs each, and returns
/// the answer to complete.
fn send_in_parts(g: &Gateway, f: &TestFile) -> Resp {
    let mut d = f.declaration();
    d["partSize"] = PART.into();
    let r = post(g, "/upload/parts", &d);
    assert_eq!(r.status, 201, "the parts must be asked for: {}", r.body);
    for (i, part) in r.json()["data"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .enumerate()
    {
        assert!(part["hash"].is_null(), "{part}");
        let bytes = &f.bytes[i * PART..f.bytes.len().min((i + 1) * PART)];
        let r = Resp::from(ureq::put(part["url"].as_str().unwrap()).send_bytes(bytes));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    complete(g, &f.id)
}

/// Finding 6 for the part-wise upload: a file completed from parts is the
/// composite of its parts' blobs; one of them lost (the start-up pass
/// marks it), the file is asked for again, and the part sent again heals
/// it: its bytes are back, the mark gone, the file whole.
#[test]
fn a_damaged_blob_sent_again_in_parts_is_healed() {
    let mut g = Gateway::start_single("", "");
    let f = TestFile::new(PART + 400_000);
    assert_eq!(send_in_parts(&g, &f).status, 200);
    let hex = hex::encode(f.sha256());
    assert!(
        !g.blob_file(&hex).exists(),
        "the parts were copied into a whole file"
    );
    let first = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&f.bytes[..PART]));
    let lost = g.blob_file(&first);
    std::fs::remove_file(&lost).unwrap();
    restart(&mut g);
    assert!(
        damage(&g, &first).contains("missing"),
        "{}",
        damage(&g, &first)
    );

    let r = send_in_parts(&g, &f);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["status"], "completed");
    assert_eq!(std::fs::read(&lost).unwrap(), f.bytes[..PART]);
    assert_eq!(damage(&g, &first), "");
    assert_eq!(download(&g, &f), f.bytes);
    // The upload and its parts are gone with the completion.
    assert!(g
        .index_rows("SELECT upload_id FROM multipart_uploads")
        .is_empty());
}

/// Finding 9: an object an S3 client wrote under `uploads/<uuid>` is never
/// replaced through the upload API — whether it was there before the
/// presign (409 at presign) or came after it (409 at the PUT, decided when
/// the file would be recorded; for a large body before it is read).
#[test]
fn an_upload_token_never_replaces_an_object_an_s3_client_wrote() {
    let g = Gateway::start("", "");
    let object = |id: &str| {
        let r = g.v4(&g.main, "GET", &format!("/uploads/{id}"), "", &[], b"");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };

    // Before the presign.
    let f = TestFile::new(2_000);
    let r = g.v4(
        &g.main,
        "PUT",
        &format!("/uploads/{}", f.id),
        "",
        &[],
        b"theirs",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let why = presign(&g, &f).assert_json_error(409, "Conflict");
    assert!(why.contains("S3") && why.contains("new id"), "{why}");
    let mut parts = f.declaration();
    parts["partSize"] = PART.into();
    post(&g, "/upload/parts", &parts).assert_json_error(409, "Conflict");
    assert_eq!(object(&f.id), "theirs");
    assert!(status_row(&g, &f.id).is_empty());

    // After the presign: a small body (recorded inline) and a large one.
    for len in [2_000, 300_000] {
        let f = TestFile::new(len);
        let url = presign_url(&g, &f);
        let r = g.v4(
            &g.main,
            "PUT",
            &format!("/uploads/{}", f.id),
            "",
            &[],
            b"later",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let why = put(&url, &f.content_type, &f.bytes).assert_s3_error(409, "OperationAborted");
        assert!(why.contains("new id"), "{why}");
        assert_eq!(object(&f.id), "later");
        assert_eq!(status_row(&g, &f.id), ["pending"]);
        complete(&g, &f.id).assert_json_error(409, "Conflict");
        presign(&g, &f).assert_json_error(409, "Conflict");
        // Its bytes were not kept for it.
        let hex = hex::encode(f.sha256());
        assert!(g
            .index_rows(&format!("SELECT sha256 FROM blobs WHERE sha256 = '{hex}'"))
            .is_empty());
        assert!(!g.has_blob_bytes(&hex));
    }
}

/// Finding 9 for the part-wise upload: an object written under the id
/// after its parts arrived stays, and the file is not completed over it.
#[test]
fn a_part_wise_upload_never_completes_over_an_object_an_s3_client_wrote() {
    let g = Gateway::start("", "");
    let f = TestFile::new(100_000);
    let mut d = f.declaration();
    d["partSize"] = PART.into();
    let r = post(&g, "/upload/parts", &d);
    assert_eq!(r.status, 201, "{}", r.body);
    let part = r.json()["data"]["parts"][0].clone();
    let r = Resp::from(ureq::put(part["url"].as_str().unwrap()).send_bytes(&f.bytes));
    assert_eq!(r.status, 200, "{}", r.body);

    let r = g.v4(
        &g.main,
        "PUT",
        &format!("/uploads/{}", f.id),
        "",
        &[],
        b"theirs",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let why = complete(&g, &f.id).assert_json_error(409, "Conflict");
    assert!(why.contains("S3"), "{why}");
    let r = g.v4(&g.main, "GET", &format!("/uploads/{}", f.id), "", &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "theirs"));
    assert_eq!(status_row(&g, &f.id), ["pending"]);
}

/// Finding 5 for parts: a multipart upload an S3 client opened on
/// `uploads/<uuid>` is not offered to whoever declares that id — neither
/// the hashes of its parts nor, at completion, its bytes.
#[test]
fn the_parts_of_an_s3_clients_upload_are_never_offered_to_a_declarer() {
    let g = Gateway::start("", "");
    let f = TestFile::new(100_000);
    let path = format!("/uploads/{}", f.id);
    let r = g.v4(&g.main, "POST", &path, "uploads", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let upload_id = r
        .body
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("an upload id")
        .to_string();
    let q = format!("partNumber=1&uploadId={upload_id}");
    let r = g.v4(&g.main, "PUT", &path, &q, &[], &f.bytes);
    assert_eq!(r.status, 200, "{}", r.body);

    let mut d = f.declaration();
    d["partSize"] = PART.into();
    let r = post(&g, "/upload/parts", &d);
    assert_eq!(r.status, 201, "{}", r.body);
    let data = r.json()["data"].clone();
    assert_ne!(data["uploadId"], upload_id.as_str());
    assert!(data["parts"][0]["hash"].is_null(), "{data}");
    // Completing does not take the S3 client's part for the file.
    complete(&g, &f.id).assert_json_error(409, "Conflict");
    assert_eq!(status_row(&g, &f.id), ["pending"]);
    // Their upload is still theirs, with its part.
    let r = g.v4(
        &g.main,
        "GET",
        &path,
        &format!("uploadId={upload_id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<PartNumber>1</PartNumber>"), "{}", r.body);
}
